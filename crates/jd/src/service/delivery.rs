//! `offchain.jd.v1.ProposalDeliveryService`: our extension serving what the reference
//! `Proposal` has no field for — the node's error text of a FAILED proposal and the node's
//! refusal of a forwarded revoke/delete (`store/delivery_report.rs`).

use offchain_proto::delivery::proposal_delivery_service_server::ProposalDeliveryService;
use offchain_proto::delivery::{
    GetProposalDeliveryRequest, GetProposalDeliveryResponse, ListProposalDeliveriesRequest,
    ListProposalDeliveriesResponse,
};
use tonic::{Request, Response, Status};

use super::limits::{MAX_ID_BYTES, at_most, filter_values};
use super::{JobDistributor, required};
use crate::error::ApiError;

/// Most proposal ids one `ListProposalDeliveries` may name: a page of a proposals listing,
/// not a bulk export.
pub const MAX_DELIVERY_IDS: usize = 1_000;

#[tonic::async_trait]
impl ProposalDeliveryService for JobDistributor {
    async fn get_proposal_delivery(
        &self,
        request: Request<GetProposalDeliveryRequest>,
    ) -> Result<Response<GetProposalDeliveryResponse>, Status> {
        let request = request.into_inner();
        let id = required(&request.proposal_id, "proposal_id", MAX_ID_BYTES)?;
        let ids = [id.to_owned()];
        let delivery = self
            .store()
            .proposal_deliveries(&ids)
            .await
            .map_err(ApiError::from)?
            .pop()
            .ok_or_else(|| ApiError::NotFound(format!("proposal {id} not found")))?;
        Ok(Response::new(GetProposalDeliveryResponse {
            delivery: Some(delivery),
        }))
    }

    async fn list_proposal_deliveries(
        &self,
        request: Request<ListProposalDeliveriesRequest>,
    ) -> Result<Response<ListProposalDeliveriesResponse>, Status> {
        let request = request.into_inner();
        let by_ids = !request.proposal_ids.is_empty();
        let by_job = !request.job_id.is_empty();
        let deliveries = match (by_ids, by_job) {
            (true, true) | (false, false) => {
                return Err(ApiError::InvalidArgument(
                    "give exactly one of proposal_ids and job_id".into(),
                )
                .into());
            }
            (false, true) => {
                let job_id = required(&request.job_id, "job_id", MAX_ID_BYTES)?;
                self.store()
                    .job_deliveries(job_id)
                    .await
                    .map_err(ApiError::from)?
                    .ok_or_else(|| ApiError::NotFound(format!("job {job_id} not found")))?
            }
            (true, false) => {
                at_most(
                    "proposal_ids",
                    request.proposal_ids.len(),
                    "values",
                    MAX_DELIVERY_IDS,
                )?;
                filter_values(&request.proposal_ids, "proposal_ids")?;
                if let Some(empty) = request.proposal_ids.iter().find(|id| id.trim().is_empty()) {
                    return Err(ApiError::InvalidArgument(format!(
                        "proposal_ids: {} is not a proposal id",
                        super::shown(empty)
                    ))
                    .into());
                }
                self.store()
                    .proposal_deliveries(&request.proposal_ids)
                    .await
                    .map_err(ApiError::from)?
            }
        };
        Ok(Response::new(ListProposalDeliveriesResponse { deliveries }))
    }
}
