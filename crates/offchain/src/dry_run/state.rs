//! The checks that need the JD's state, made with reads through the inner client: the node
//! exists and is enabled, the public key is free, the job exists.

use std::collections::HashMap;

use offchain_proto::job::{GetJobRequest, ProposeJobFailure, get_job_request};
use offchain_proto::node::{GetNodeRequest, ListNodesRequest, Node, list_nodes_request};
use tonic::{Code, Status};

use super::{DryRunClient, checks};

impl DryRunClient {
    /// The node, refusing a missing one (`NOT_FOUND`) as the JD does.
    pub(super) async fn existing_node(&self, id: &str) -> Result<Node, Status> {
        checks::required(id, "id", crate::limits::MAX_ID_BYTES)?;
        let request = GetNodeRequest {
            id: id.to_string(),
            public_key: None,
        };
        self.inner
            .get_node(request)
            .await?
            .node
            .ok_or_else(|| Status::not_found(format!("node {id} not found")))
    }

    /// Refuses a node a proposal cannot go to: missing (`NOT_FOUND`) or disabled
    /// (`FAILED_PRECONDITION`).
    pub(super) async fn proposable_node(&self, id: &str) -> Result<(), Status> {
        let node = self.existing_node(id).await?;
        if node.is_enabled {
            Ok(())
        } else {
            Err(disabled(id))
        }
    }

    /// Refuses a public key another node has (`ALREADY_EXISTS`).
    pub(super) async fn key_free(
        &self,
        public_key: &str,
        own_id: Option<&str>,
    ) -> Result<(), Status> {
        let key = public_key.trim().to_ascii_lowercase();
        let request = GetNodeRequest {
            id: String::new(),
            public_key: Some(key.clone()),
        };
        match self.inner.get_node(request).await {
            Ok(found)
                if found
                    .node
                    .as_ref()
                    .is_some_and(|n| Some(n.id.as_str()) != own_id) =>
            {
                Err(Status::already_exists(format!(
                    "a node with public key {key} is already registered"
                )))
            }
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::NotFound => Ok(()),
            Err(status) => Err(status),
        }
    }

    /// Refuses a job reference the JD cannot resolve, with the JD's own answer to `GetJob`.
    pub(super) async fn existing_job(
        &self,
        id: Option<get_job_request::IdOneof>,
    ) -> Result<(), Status> {
        self.inner
            .get_job(GetJobRequest { id_oneof: id })
            .await
            .map(drop)
    }

    /// Which of `ids` a proposal can go to, and why not for the others, in one read.
    pub(super) async fn batch_outcomes(
        &self,
        ids: Vec<String>,
    ) -> Result<(Vec<String>, HashMap<String, ProposeJobFailure>), Status> {
        let filter = list_nodes_request::Filter {
            ids: ids.clone(),
            ..Default::default()
        };
        let request = ListNodesRequest {
            filter: Some(filter),
            ..Default::default()
        };
        let enabled: HashMap<String, bool> = self
            .inner
            .list_nodes(request)
            .await?
            .nodes
            .into_iter()
            .map(|n| (n.id, n.is_enabled))
            .collect();
        let mut proposable = Vec::new();
        let mut failed = HashMap::new();
        for id in ids {
            let refusal = match enabled.get(&id) {
                Some(true) => {
                    proposable.push(id);
                    continue;
                }
                Some(false) => disabled(&id),
                None => Status::not_found(format!("node {id} not found")),
            };
            failed.insert(id, failure(&refusal));
        }
        Ok((proposable, failed))
    }
}

pub(super) fn disabled(node_id: &str) -> Status {
    Status::failed_precondition(format!("node {node_id} is disabled"))
}

/// A per-node failure of a batch, worded as the JD words it.
pub(super) fn failure(status: &Status) -> ProposeJobFailure {
    ProposeJobFailure {
        error_message: status.message().to_string(),
    }
}
