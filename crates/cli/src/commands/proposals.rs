//! `offchain jd proposals …`

use anyhow::Result;
use offchain::proto::job::{GetProposalRequest, ListProposalsRequest, list_proposals_request};

use crate::args::ProposalsCommand;
use crate::client::Jd;
use crate::output::{self, Printer};

/// Runs one proposals subcommand.
pub async fn run(jd: &Jd, out: &Printer, command: ProposalsCommand) -> Result<()> {
    let client = jd.client();
    match command {
        ProposalsCommand::List { jobs, ids } => {
            let request = ListProposalsRequest {
                filter: Some(list_proposals_request::Filter { ids, job_ids: jobs }),
            };
            let response = jd.call(client.list_proposals(request)).await?;
            out.print(&response, |r| output::proposals(&r.proposals))
        }
        ProposalsCommand::Get { id } => {
            let response = jd
                .call(client.get_proposal(GetProposalRequest { id }))
                .await?;
            out.print(&response, |r| output::proposal(r.proposal.as_ref()))
        }
    }
}
