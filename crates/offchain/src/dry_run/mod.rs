//! A [`Client`] wrapper that reads for real and only pretends to write.
//!
//! Before pretending, it checks each write as the JD would — request shape, sizes, spec,
//! labels (`checks`), and the JD's state through reads: the node exists and is enabled, the
//! job exists, the public key is free — and answers a refusal with the JD's status code.

mod checks;
mod state;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use offchain_proto::csa::*;
use offchain_proto::delivery::{
    GetProposalDeliveryRequest, GetProposalDeliveryResponse, ListProposalDeliveriesRequest,
    ListProposalDeliveriesResponse,
};
use offchain_proto::job::*;
use offchain_proto::node::*;
use tonic::Status;

use crate::client::{Client, ClientResult};
use crate::limits;
use state::failure;

/// A write the dry-run client did not send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedWrite {
    /// The RPC, e.g. `ProposeJob`.
    pub method: &'static str,
    /// What it would have done, e.g. `node node_01… spec uuid 3f…`.
    pub summary: String,
}

/// Passes reads to the inner client; checks each write as the JD would and answers what the
/// JD would refuse with the JD's status code; logs and records the writes it would accept
/// and answers each with a simulated response built from the request, without touching the
/// JD.
///
/// Simulated objects carry the id `dry-run` where the JD would have made one. What needs
/// the JD's state is checked with reads through the inner client (node exists and is
/// enabled, job exists, public key free); whether a job's latest proposal can be revoked is
/// not checked. Selectors of `ListNodes`/`ListJobs` are checked too
/// ([`validate_selector`](crate::selector::validate_selector)): the JD would accept a
/// malformed one and match nothing.
#[derive(Debug)]
pub struct DryRunClient {
    inner: Arc<dyn Client>,
    /// Shared with the clients [`Client::with_options`] makes from this one.
    skipped: Arc<Mutex<Vec<SkippedWrite>>>,
}

/// The id given to objects the dry-run client pretends to create.
pub const DRY_RUN_ID: &str = "dry-run";

impl DryRunClient {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Client>) -> Self {
        DryRunClient {
            inner,
            skipped: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The writes skipped so far, oldest first.
    pub fn skipped_writes(&self) -> Vec<SkippedWrite> {
        match self.skipped.lock() {
            Ok(list) => list.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn skip(&self, method: &'static str, summary: String) {
        tracing::info!(target: "offchain::dry_run", method, %summary, "dry run: not sent");
        let write = SkippedWrite { method, summary };
        match self.skipped.lock() {
            Ok(mut list) => list.push(write),
            Err(poisoned) => poisoned.into_inner().push(write),
        }
    }
}

fn simulated_proposal(job_id: &str, spec: &str, status: ProposalStatus) -> Proposal {
    Proposal {
        id: DRY_RUN_ID.into(),
        status: status as i32,
        spec: spec.into(),
        job_id: job_id.into(),
        ..Default::default()
    }
}

#[allow(deprecated)] // the deprecated uuid form is shown like the id form
fn job_ref(id: &Option<get_job_request::IdOneof>) -> String {
    match id {
        Some(get_job_request::IdOneof::Id(id)) => id.clone(),
        Some(get_job_request::IdOneof::Uuid(uuid)) => format!("uuid {uuid}"),
        None => String::new(),
    }
}

/// Maps the `id_oneof` of the write requests onto GetJob's, which has the same shape.
macro_rules! as_get_ref {
    ($oneof:expr, $module:ident) => {{
        #[allow(deprecated)]
        let converted = $oneof.clone().map(|o| match o {
            $module::IdOneof::Id(id) => get_job_request::IdOneof::Id(id),
            $module::IdOneof::Uuid(uuid) => get_job_request::IdOneof::Uuid(uuid),
        });
        converted
    }};
}

#[async_trait]
impl Client for DryRunClient {
    fn with_options(&self, options: crate::CallOptions) -> Arc<dyn Client> {
        Arc::new(DryRunClient {
            inner: self.inner.with_options(options),
            skipped: self.skipped.clone(),
        })
    }

    async fn get_job(&self, request: GetJobRequest) -> ClientResult<GetJobResponse> {
        self.inner.get_job(request).await
    }
    async fn get_proposal(&self, request: GetProposalRequest) -> ClientResult<GetProposalResponse> {
        self.inner.get_proposal(request).await
    }
    async fn list_jobs(&self, request: ListJobsRequest) -> ClientResult<ListJobsResponse> {
        if let Some(filter) = &request.filter {
            checks::selectors(&filter.selectors)?;
        }
        self.inner.list_jobs(request).await
    }
    async fn list_proposals(
        &self,
        request: ListProposalsRequest,
    ) -> ClientResult<ListProposalsResponse> {
        self.inner.list_proposals(request).await
    }

    async fn propose_job(&self, request: ProposeJobRequest) -> ClientResult<ProposeJobResponse> {
        checks::required(&request.node_id, "node_id", limits::MAX_ID_BYTES)?;
        checks::spec_and_labels(&request.spec, &request.labels)?;
        self.proposable_node(&request.node_id).await?;
        self.skip("ProposeJob", format!("node {}", request.node_id));
        let proposal = simulated_proposal(DRY_RUN_ID, &request.spec, ProposalStatus::Proposed);
        Ok(ProposeJobResponse {
            proposal: Some(proposal),
        })
    }

    async fn batch_propose_job(
        &self,
        request: BatchProposeJobRequest,
    ) -> ClientResult<BatchProposeJobResponse> {
        if request.node_ids.is_empty() {
            return Err(Status::invalid_argument("node_ids must not be empty"));
        }
        limits::check_batch(request.node_ids.len(), request.spec.len())?;
        checks::spec_and_labels(&request.spec, &request.labels)?;
        // As the JD: a blank id fails alone, a repeated id is answered once.
        let mut failed_responses = HashMap::new();
        let mut seen = HashSet::with_capacity(request.node_ids.len());
        let mut ids = Vec::with_capacity(request.node_ids.len());
        for id in &request.node_ids {
            if let Err(refusal) = checks::required(id, "node id", limits::MAX_ID_BYTES) {
                failed_responses.insert(id.clone(), failure(&refusal));
            } else if seen.insert(id.as_str()) {
                ids.push(id.clone());
            }
        }
        let (proposable, refused) = self.batch_outcomes(ids).await?;
        failed_responses.extend(refused);
        self.skip(
            "BatchProposeJob",
            format!("nodes {}", request.node_ids.join(",")),
        );
        let proposal = simulated_proposal(DRY_RUN_ID, &request.spec, ProposalStatus::Proposed);
        let success_responses = proposable
            .into_iter()
            .map(|id| {
                let response = ProposeJobResponse {
                    proposal: Some(proposal.clone()),
                };
                (id, response)
            })
            .collect();
        Ok(BatchProposeJobResponse {
            success_responses,
            failed_responses,
        })
    }

    async fn revoke_job(&self, request: RevokeJobRequest) -> ClientResult<RevokeJobResponse> {
        let reference = as_get_ref!(request.id_oneof, revoke_job_request);
        self.existing_job(reference.clone()).await?;
        let job = job_ref(&reference);
        self.skip("RevokeJob", format!("job {job}"));
        Ok(RevokeJobResponse {
            proposal: Some(simulated_proposal(&job, "", ProposalStatus::Revoked)),
        })
    }

    async fn delete_job(&self, request: DeleteJobRequest) -> ClientResult<DeleteJobResponse> {
        let reference = as_get_ref!(request.id_oneof, delete_job_request);
        self.existing_job(reference.clone()).await?;
        let job = job_ref(&reference);
        self.skip("DeleteJob", format!("job {job}"));
        Ok(DeleteJobResponse {
            job: Some(Job {
                id: job,
                ..Default::default()
            }),
        })
    }

    async fn update_job(&self, request: UpdateJobRequest) -> ClientResult<UpdateJobResponse> {
        limits::check_labels(&request.labels)?;
        let reference = as_get_ref!(request.id_oneof, update_job_request);
        self.existing_job(reference.clone()).await?;
        let job = job_ref(&reference);
        self.skip("UpdateJob", format!("job {job}"));
        let job = Job {
            id: job,
            labels: request.labels,
            rollback_policy_id: request.rollback_policy_id,
            ..Default::default()
        };
        Ok(UpdateJobResponse { job: Some(job) })
    }

    async fn disable_node(&self, request: DisableNodeRequest) -> ClientResult<DisableNodeResponse> {
        let node = self.existing_node(&request.id).await?;
        self.skip("DisableNode", format!("node {}", request.id));
        Ok(DisableNodeResponse {
            node: Some(Node {
                is_enabled: false,
                ..node
            }),
        })
    }

    async fn enable_node(&self, request: EnableNodeRequest) -> ClientResult<EnableNodeResponse> {
        let node = self.existing_node(&request.id).await?;
        self.skip("EnableNode", format!("node {}", request.id));
        Ok(EnableNodeResponse {
            node: Some(Node {
                is_enabled: true,
                ..node
            }),
        })
    }

    async fn get_node(&self, request: GetNodeRequest) -> ClientResult<GetNodeResponse> {
        self.inner.get_node(request).await
    }
    async fn list_nodes(&self, request: ListNodesRequest) -> ClientResult<ListNodesResponse> {
        if let Some(filter) = &request.filter {
            checks::selectors(&filter.selectors)?;
        }
        self.inner.list_nodes(request).await
    }
    async fn list_node_chain_configs(
        &self,
        request: ListNodeChainConfigsRequest,
    ) -> ClientResult<ListNodeChainConfigsResponse> {
        self.inner.list_node_chain_configs(request).await
    }

    async fn register_node(
        &self,
        request: RegisterNodeRequest,
    ) -> ClientResult<RegisterNodeResponse> {
        checks::name(&request.name)?;
        checks::public_key(&request.public_key)?;
        limits::check_labels(&request.labels)?;
        self.key_free(&request.public_key, None).await?;
        self.skip(
            "RegisterNode",
            format!("name {} key {}", request.name, request.public_key),
        );
        let node = Node {
            id: DRY_RUN_ID.into(),
            name: request.name.trim().to_string(),
            public_key: request.public_key.trim().to_ascii_lowercase(),
            is_enabled: true,
            labels: request.labels,
            ..Default::default()
        };
        Ok(RegisterNodeResponse { node: Some(node) })
    }

    async fn update_node(&self, request: UpdateNodeRequest) -> ClientResult<UpdateNodeResponse> {
        limits::check_labels(&request.labels)?;
        let changes_key = !request.public_key.trim().is_empty();
        if changes_key {
            checks::public_key(&request.public_key)?;
        }
        limits::check_name(request.name.trim())?;
        let node = self.existing_node(&request.id).await?;
        if changes_key {
            self.key_free(&request.public_key, Some(&request.id))
                .await?;
        }
        self.skip("UpdateNode", format!("node {}", request.id));
        // What the JD would store: empty fields keep their values.
        let node = Node {
            name: Some(request.name.trim().to_string())
                .filter(|n| !n.is_empty())
                .unwrap_or(node.name),
            public_key: Some(request.public_key.trim().to_ascii_lowercase())
                .filter(|k| !k.is_empty())
                .unwrap_or(node.public_key),
            labels: Some(request.labels)
                .filter(|l| !l.is_empty())
                .unwrap_or(node.labels),
            ..node
        };
        Ok(UpdateNodeResponse { node: Some(node) })
    }

    async fn get_keypair(&self, request: GetKeypairRequest) -> ClientResult<GetKeypairResponse> {
        self.inner.get_keypair(request).await
    }
    async fn list_keypairs(
        &self,
        request: ListKeypairsRequest,
    ) -> ClientResult<ListKeypairsResponse> {
        self.inner.list_keypairs(request).await
    }

    // Reads: answered for real. (Proposals the dry run only pretended to make are unknown
    // to the JD, which answers NOT_FOUND for them.)
    async fn get_proposal_delivery(
        &self,
        request: GetProposalDeliveryRequest,
    ) -> ClientResult<GetProposalDeliveryResponse> {
        self.inner.get_proposal_delivery(request).await
    }
    async fn list_proposal_deliveries(
        &self,
        request: ListProposalDeliveriesRequest,
    ) -> ClientResult<ListProposalDeliveriesResponse> {
        self.inner.list_proposal_deliveries(request).await
    }
}
