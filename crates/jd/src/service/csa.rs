//! `api.csa.v1.CSAService`.

use offchain_proto::csa::csa_service_server::CsaService;
use offchain_proto::csa::{
    GetKeypairRequest, GetKeypairResponse, ListKeypairsRequest, ListKeypairsResponse,
};
use tonic::{Request, Response, Status};

use super::JobDistributor;

#[tonic::async_trait]
impl CsaService for JobDistributor {
    async fn get_keypair(
        &self,
        _request: Request<GetKeypairRequest>,
    ) -> Result<Response<GetKeypairResponse>, Status> {
        Ok(Response::new(GetKeypairResponse {
            keypair: Some(self.inner.csa.active()),
        }))
    }

    async fn list_keypairs(
        &self,
        _request: Request<ListKeypairsRequest>,
    ) -> Result<Response<ListKeypairsResponse>, Status> {
        Ok(Response::new(ListKeypairsResponse {
            keypairs: self.inner.csa.all().to_vec(),
        }))
    }
}
