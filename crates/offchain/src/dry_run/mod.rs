//! A [`Client`] wrapper that reads for real and only pretends to write.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use offchain_proto::csa::*;
use offchain_proto::job::*;
use offchain_proto::node::*;

use crate::client::{Client, ClientResult};

/// A write the dry-run client did not send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedWrite {
    /// The RPC, e.g. `ProposeJob`.
    pub method: &'static str,
    /// What it would have done, e.g. `node node_01… spec uuid 3f…`.
    pub summary: String,
}

/// Passes reads to the inner client; logs writes, records them and answers each with a
/// simulated response built from the request, without touching the JD.
///
/// Simulated objects carry the id `dry-run` where the JD would have made one.
#[derive(Debug)]
pub struct DryRunClient {
    inner: Arc<dyn Client>,
    skipped: Mutex<Vec<SkippedWrite>>,
}

/// The id given to objects the dry-run client pretends to create.
pub const DRY_RUN_ID: &str = "dry-run";

impl DryRunClient {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Client>) -> Self {
        DryRunClient {
            inner,
            skipped: Mutex::new(Vec::new()),
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
    async fn get_job(&self, request: GetJobRequest) -> ClientResult<GetJobResponse> {
        self.inner.get_job(request).await
    }
    async fn get_proposal(&self, request: GetProposalRequest) -> ClientResult<GetProposalResponse> {
        self.inner.get_proposal(request).await
    }
    async fn list_jobs(&self, request: ListJobsRequest) -> ClientResult<ListJobsResponse> {
        self.inner.list_jobs(request).await
    }
    async fn list_proposals(
        &self,
        request: ListProposalsRequest,
    ) -> ClientResult<ListProposalsResponse> {
        self.inner.list_proposals(request).await
    }

    async fn propose_job(&self, request: ProposeJobRequest) -> ClientResult<ProposeJobResponse> {
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
        self.skip(
            "BatchProposeJob",
            format!("nodes {}", request.node_ids.join(",")),
        );
        let proposal = simulated_proposal(DRY_RUN_ID, &request.spec, ProposalStatus::Proposed);
        let success_responses = request
            .node_ids
            .into_iter()
            .map(|id| {
                (
                    id,
                    ProposeJobResponse {
                        proposal: Some(proposal.clone()),
                    },
                )
            })
            .collect();
        Ok(BatchProposeJobResponse {
            success_responses,
            failed_responses: Default::default(),
        })
    }

    async fn revoke_job(&self, request: RevokeJobRequest) -> ClientResult<RevokeJobResponse> {
        let job = job_ref(&as_get_ref!(request.id_oneof, revoke_job_request));
        self.skip("RevokeJob", format!("job {job}"));
        Ok(RevokeJobResponse {
            proposal: Some(simulated_proposal(&job, "", ProposalStatus::Revoked)),
        })
    }

    async fn delete_job(&self, request: DeleteJobRequest) -> ClientResult<DeleteJobResponse> {
        let job = job_ref(&as_get_ref!(request.id_oneof, delete_job_request));
        self.skip("DeleteJob", format!("job {job}"));
        Ok(DeleteJobResponse {
            job: Some(Job {
                id: job,
                ..Default::default()
            }),
        })
    }

    async fn update_job(&self, request: UpdateJobRequest) -> ClientResult<UpdateJobResponse> {
        let job = job_ref(&as_get_ref!(request.id_oneof, update_job_request));
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
        self.skip("DisableNode", format!("node {}", request.id));
        Ok(DisableNodeResponse {
            node: Some(Node {
                id: request.id,
                is_enabled: false,
                ..Default::default()
            }),
        })
    }

    async fn enable_node(&self, request: EnableNodeRequest) -> ClientResult<EnableNodeResponse> {
        self.skip("EnableNode", format!("node {}", request.id));
        Ok(EnableNodeResponse {
            node: Some(Node {
                id: request.id,
                is_enabled: true,
                ..Default::default()
            }),
        })
    }

    async fn get_node(&self, request: GetNodeRequest) -> ClientResult<GetNodeResponse> {
        self.inner.get_node(request).await
    }
    async fn list_nodes(&self, request: ListNodesRequest) -> ClientResult<ListNodesResponse> {
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
        self.skip(
            "RegisterNode",
            format!("name {} key {}", request.name, request.public_key),
        );
        let node = Node {
            id: DRY_RUN_ID.into(),
            name: request.name,
            public_key: request.public_key,
            is_enabled: true,
            labels: request.labels,
            ..Default::default()
        };
        Ok(RegisterNodeResponse { node: Some(node) })
    }

    async fn update_node(&self, request: UpdateNodeRequest) -> ClientResult<UpdateNodeResponse> {
        self.skip("UpdateNode", format!("node {}", request.id));
        let node = Node {
            id: request.id,
            name: request.name,
            public_key: request.public_key,
            labels: request.labels,
            ..Default::default()
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
}
