//! `offchain jd proposals …`
//!
//! Besides the reference `Proposal`, both commands ask the JD's delivery extension
//! (`offchain.jd.v1`) for the node's error text and refusals; a JD without it (an existing
//! one answers `UNIMPLEMENTED`) gets the reference fields only.

use anyhow::Result;
use offchain::ClientResult;
use offchain::proto::delivery::{
    GetProposalDeliveryRequest, ListProposalDeliveriesRequest, ListProposalDeliveriesResponse,
};
use offchain::proto::job::{GetProposalRequest, ListProposalsRequest, list_proposals_request};
use tonic::Code;

use crate::args::ProposalsCommand;
use crate::client::Jd;
use crate::output::{self, Printer};

/// Most proposal ids the JD takes in one `ListProposalDeliveries`.
const DELIVERY_IDS_PER_CALL: usize = 1_000;

/// Runs one proposals subcommand.
pub async fn run(jd: &Jd, out: &Printer, command: ProposalsCommand) -> Result<()> {
    let client = jd.client();
    match command {
        ProposalsCommand::List { jobs, ids } => {
            let request = ListProposalsRequest {
                filter: Some(list_proposals_request::Filter { ids, job_ids: jobs }),
            };
            let response = jd.call(client.list_proposals(request)).await?;
            let ids: Vec<String> = response.proposals.iter().map(|p| p.id.clone()).collect();
            let deliveries = deliveries(jd, ids).await;
            let shown = deliveries.as_ref().map(|d| d.deliveries.as_slice());
            out.print_with(&response, deliveries.as_ref(), |r| {
                output::proposals(&r.proposals, shown)
            })
        }
        ProposalsCommand::Get { id } => {
            let response = jd
                .call(client.get_proposal(GetProposalRequest { id: id.clone() }))
                .await?;
            let request = GetProposalDeliveryRequest { proposal_id: id };
            let delivery = extension(jd, client.get_proposal_delivery(request).await);
            let shown = delivery.as_ref().and_then(|d| d.delivery.as_ref());
            out.print_with(&response, delivery.as_ref(), |r| {
                output::proposal(r.proposal.as_ref(), shown)
            })
        }
    }
}

/// The deliveries of proposals `ids`, asked in calls of at most
/// [`DELIVERY_IDS_PER_CALL`] ids; `None` when the JD has no delivery extension.
async fn deliveries(jd: &Jd, ids: Vec<String>) -> Option<ListProposalDeliveriesResponse> {
    let mut all = ListProposalDeliveriesResponse::default();
    for chunk in ids.chunks(DELIVERY_IDS_PER_CALL) {
        let request = ListProposalDeliveriesRequest {
            proposal_ids: chunk.to_vec(),
            job_id: String::new(),
        };
        let answer = jd.client().list_proposal_deliveries(request).await;
        all.deliveries.extend(extension(jd, answer)?.deliveries);
    }
    Some(all)
}

/// The extension's answer; `None` without a note when the JD does not implement it, and
/// with a note on stderr when it failed otherwise (the reference answer is still printed).
fn extension<T>(jd: &Jd, answer: ClientResult<T>) -> Option<T> {
    match answer {
        Ok(answer) => Some(answer),
        Err(status) if status.code() == Code::Unimplemented => None,
        Err(status) => {
            output::note(&format!(
                "note: no delivery details: {}",
                jd.describe(&status)
            ));
            None
        }
    }
}
