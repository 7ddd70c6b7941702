//! `api.job.v1.JobService`.

use std::collections::HashSet;

use offchain_proto::job::job_service_server::JobService;
use offchain_proto::job::*;
use tonic::{Request, Response, Status};

use super::limits::{self, MAX_ID_BYTES, filter_values};
use super::{JobDistributor, required, uuid_argument};
use crate::error::{ApiError, ApiResult};
use crate::ids::now_micros;
use crate::link::delivery;
use crate::selector::matches_all;
use crate::spec::external_job_id;
use crate::store::{JobFilter, NewProposals, ProposalOutcome, RevokeOutcome, Undelivered};

/// The `id_oneof` shared by GetJob, RevokeJob, DeleteJob and UpdateJob.
enum JobRef {
    Id(String),
    Uuid(String),
}

macro_rules! job_ref_from {
    ($($oneof:path),* $(,)?) => {$(
        // The deprecated uuid form is supported on purpose (see jd-behaviour.md).
        #[allow(deprecated)]
        impl From<$oneof> for JobRef {
            fn from(value: $oneof) -> Self {
                use $oneof as O;
                match value {
                    O::Id(id) => JobRef::Id(id),
                    O::Uuid(uuid) => JobRef::Uuid(uuid),
                }
            }
        }
    )*};
}

job_ref_from!(
    get_job_request::IdOneof,
    revoke_job_request::IdOneof,
    delete_job_request::IdOneof,
    update_job_request::IdOneof,
);

fn outcome_error(node_id: &str, outcome: ProposalOutcome) -> Result<Proposal, ApiError> {
    match outcome {
        ProposalOutcome::Proposed(proposal) => Ok(proposal),
        ProposalOutcome::UnknownNode => {
            Err(ApiError::NotFound(format!("node {node_id} not found")))
        }
        ProposalOutcome::DisabledNode => Err(ApiError::FailedPrecondition(format!(
            "node {node_id} is disabled"
        ))),
    }
}

impl JobDistributor {
    /// Resolves a job reference to a job id.
    async fn job_id_of(&self, reference: Option<JobRef>, empty_message: &str) -> ApiResult<String> {
        match reference {
            None => Err(ApiError::InvalidArgument("must provide id".into())),
            Some(JobRef::Id(id)) if id.trim().is_empty() => {
                Err(ApiError::InvalidArgument(empty_message.into()))
            }
            Some(JobRef::Id(id)) => Ok(limits::text(&id, "job id", MAX_ID_BYTES)?.to_string()),
            Some(JobRef::Uuid(uuid)) => {
                let uuid = uuid_argument(required(&uuid, "uuid", MAX_ID_BYTES)?, "uuid")?;
                let uuids = [uuid.clone()];
                // Deleted jobs count, as they do for ids: GetJob finds them and deleting
                // twice is allowed.
                let filter = JobFilter {
                    uuids: &uuids,
                    include_deleted: true,
                    ..Default::default()
                };
                let mut jobs = self.inner.store.list_jobs(&filter).await?;
                match jobs.len() {
                    0 => Err(ApiError::NotFound(format!("no job with uuid {uuid}"))),
                    1 => Ok(jobs.remove(0).id),
                    n => Err(ApiError::InvalidArgument(format!(
                        "uuid {uuid} matches {n} jobs (one per node); use the job id"
                    ))),
                }
            }
        }
    }

    async fn job_by_ref(&self, reference: Option<JobRef>) -> ApiResult<Job> {
        let id = self.job_id_of(reference, "must provide id").await?;
        self.inner
            .store
            .job(&id)
            .await?
            .ok_or_else(|| not_found(&id))
    }

    async fn propose(
        &self,
        spec: &str,
        labels: &[offchain_proto::label::Label],
        node_ids: &[String],
    ) -> ApiResult<Vec<(String, ProposalOutcome)>> {
        limits::spec(spec)?;
        limits::labels(labels)?;
        let uuid = external_job_id(spec)
            .map_err(|e| ApiError::InvalidArgument(format!("invalid spec: {e}")))?;
        let new = NewProposals {
            uuid: &uuid,
            spec,
            labels,
            node_ids,
            now: now_micros(),
        };
        let outcomes = self.inner.store.propose(new).await?;
        for (node_id, outcome) in &outcomes {
            if let ProposalOutcome::Proposed(proposal) = outcome {
                let undelivered = Undelivered {
                    proposal_id: proposal.id.clone(),
                    uuid: uuid.clone(),
                    spec: spec.to_owned(),
                    revision: proposal.revision,
                };
                delivery::push_if_linked(self, node_id, undelivered);
            }
        }
        Ok(outcomes)
    }

    async fn batch_propose_impl(
        &self,
        request: BatchProposeJobRequest,
    ) -> ApiResult<BatchProposeJobResponse> {
        if request.node_ids.is_empty() {
            return Err(ApiError::InvalidArgument(
                "node_ids must not be empty".into(),
            ));
        }
        limits::batch(request.node_ids.len(), &request.spec)?;
        let mut response = BatchProposeJobResponse::default();
        let mut seen = HashSet::with_capacity(request.node_ids.len());
        let mut node_ids = Vec::with_capacity(request.node_ids.len());
        for id in request.node_ids {
            if let Err(error) = required(&id, "node id", MAX_ID_BYTES) {
                let failure = ProposeJobFailure {
                    error_message: error.to_string(),
                };
                response.failed_responses.insert(id, failure);
            } else if seen.insert(id.clone()) {
                node_ids.push(id);
            }
        }
        for (node_id, outcome) in self
            .propose(&request.spec, &request.labels, &node_ids)
            .await?
        {
            match outcome_error(&node_id, outcome) {
                Ok(proposal) => {
                    let success = ProposeJobResponse {
                        proposal: Some(proposal),
                    };
                    response.success_responses.insert(node_id, success);
                }
                Err(error) => {
                    let failure = ProposeJobFailure {
                        error_message: error.to_string(),
                    };
                    response.failed_responses.insert(node_id, failure);
                }
            }
        }
        Ok(response)
    }

    async fn list_jobs_impl(&self, request: ListJobsRequest) -> ApiResult<Vec<Job>> {
        let filter = request.filter.unwrap_or_default();
        filter_values(&filter.ids, "ids")?;
        filter_values(&filter.node_ids, "node_ids")?;
        filter_values(&filter.uuids, "uuids")?;
        limits::selectors(&filter.selectors)?;
        let uuids = filter
            .uuids
            .iter()
            .map(|u| uuid_argument(u, "uuids"))
            .collect::<ApiResult<Vec<String>>>()?;
        let store_filter = JobFilter {
            ids: &filter.ids,
            node_ids: &filter.node_ids,
            uuids: &uuids,
            include_deleted: filter.include_deleted,
        };
        let mut jobs = self.inner.store.list_jobs(&store_filter).await?;
        jobs.retain(|job| matches_all(&job.labels, &filter.selectors));
        Ok(jobs)
    }

    async fn revoke_impl(&self, request: RevokeJobRequest) -> ApiResult<Proposal> {
        let id = self
            .job_id_of(request.id_oneof.map(Into::into), "job id must be provided")
            .await?;
        match self.inner.store.revoke_latest(&id, now_micros()).await? {
            RevokeOutcome::Revoked(proposal) => {
                tracing::info!(job_id = %id, proposal_id = %proposal.id, "revoked proposal");
                self.forward_revoke(&id).await;
                Ok(proposal)
            }
            RevokeOutcome::NoJob => Err(not_found(&id)),
            RevokeOutcome::NotRevocable(status) => Err(ApiError::FailedPrecondition(format!(
                "job cannot be revoked: its latest proposal is {}",
                status.as_str_name()
            ))),
        }
    }
}

impl JobDistributor {
    /// Tells job `job_id`'s node that the job was revoked.
    async fn forward_revoke(&self, job_id: &str) {
        match self.inner.store.job(job_id).await {
            Ok(Some(job)) => delivery::forward(self, &job.node_id, &job.uuid, false).await,
            Ok(None) => {}
            Err(error) => tracing::warn!(%job_id, %error, "cannot look up a job to forward"),
        }
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("job {id} not found"))
}

#[tonic::async_trait]
impl JobService for JobDistributor {
    async fn get_job(
        &self,
        request: Request<GetJobRequest>,
    ) -> Result<Response<GetJobResponse>, Status> {
        let job = self
            .job_by_ref(request.into_inner().id_oneof.map(Into::into))
            .await?;
        Ok(Response::new(GetJobResponse { job: Some(job) }))
    }

    async fn get_proposal(
        &self,
        request: Request<GetProposalRequest>,
    ) -> Result<Response<GetProposalResponse>, Status> {
        let request = request.into_inner();
        let id = required(&request.id, "proposal id", MAX_ID_BYTES)?;
        let proposal = self
            .inner
            .store
            .proposal(id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("proposal {id} not found")))?;
        Ok(Response::new(GetProposalResponse {
            proposal: Some(proposal),
        }))
    }

    async fn list_jobs(
        &self,
        request: Request<ListJobsRequest>,
    ) -> Result<Response<ListJobsResponse>, Status> {
        let jobs = self.list_jobs_impl(request.into_inner()).await?;
        Ok(Response::new(ListJobsResponse { jobs }))
    }

    async fn list_proposals(
        &self,
        request: Request<ListProposalsRequest>,
    ) -> Result<Response<ListProposalsResponse>, Status> {
        let filter = request.into_inner().filter.unwrap_or_default();
        filter_values(&filter.ids, "ids")?;
        filter_values(&filter.job_ids, "job_ids")?;
        let proposals = self
            .inner
            .store
            .list_proposals(&filter.ids, &filter.job_ids)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(ListProposalsResponse { proposals }))
    }

    async fn propose_job(
        &self,
        request: Request<ProposeJobRequest>,
    ) -> Result<Response<ProposeJobResponse>, Status> {
        let request = request.into_inner();
        let node_id = required(&request.node_id, "node_id", MAX_ID_BYTES)?.to_string();
        let mut outcomes = self
            .propose(
                &request.spec,
                &request.labels,
                std::slice::from_ref(&node_id),
            )
            .await?;
        let (_, outcome) = outcomes
            .pop()
            .ok_or_else(|| ApiError::NotFound(format!("node {node_id} not found")))?;
        let proposal = outcome_error(&node_id, outcome)?;
        tracing::info!(%node_id, job_id = %proposal.job_id, revision = proposal.revision, "proposed job");
        Ok(Response::new(ProposeJobResponse {
            proposal: Some(proposal),
        }))
    }

    async fn batch_propose_job(
        &self,
        request: Request<BatchProposeJobRequest>,
    ) -> Result<Response<BatchProposeJobResponse>, Status> {
        Ok(Response::new(
            self.batch_propose_impl(request.into_inner()).await?,
        ))
    }

    async fn revoke_job(
        &self,
        request: Request<RevokeJobRequest>,
    ) -> Result<Response<RevokeJobResponse>, Status> {
        let proposal = self.revoke_impl(request.into_inner()).await?;
        Ok(Response::new(RevokeJobResponse {
            proposal: Some(proposal),
        }))
    }

    async fn delete_job(
        &self,
        request: Request<DeleteJobRequest>,
    ) -> Result<Response<DeleteJobResponse>, Status> {
        let id = self
            .job_id_of(
                request.into_inner().id_oneof.map(Into::into),
                "must provide id",
            )
            .await?;
        let job = self
            .inner
            .store
            .delete_job(&id, now_micros())
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| not_found(&id))?;
        tracing::info!(job_id = %id, "deleted job");
        delivery::forward(self, &job.node_id, &job.uuid, true).await;
        Ok(Response::new(DeleteJobResponse { job: Some(job) }))
    }

    async fn update_job(
        &self,
        request: Request<UpdateJobRequest>,
    ) -> Result<Response<UpdateJobResponse>, Status> {
        let request = request.into_inner();
        limits::labels(&request.labels)?;
        let id = self
            .job_id_of(request.id_oneof.map(Into::into), "must provide id")
            .await?;
        let labels = Some(request.labels.as_slice()).filter(|l| !l.is_empty());
        let job = self
            .inner
            .store
            .update_job(&id, labels, request.rollback_policy_id, now_micros())
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| not_found(&id))?;
        Ok(Response::new(UpdateJobResponse { job: Some(job) }))
    }
}
