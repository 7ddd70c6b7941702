//! `api.node.v1.NodeService`.

use std::collections::HashSet;

use offchain_proto::node::node_service_server::NodeService;
use offchain_proto::node::*;
use offchain_proto::timestamp_from_micros;
use tonic::{Request, Response, Status};

use super::limits::{self, MAX_ID_BYTES, MAX_NAME_BYTES, filter_values};
use super::{JobDistributor, required, shown};
use crate::error::{ApiError, ApiResult};
use crate::ids::{node_id, now_micros};
use crate::store::NodeChanges;
use crate::store::StoreError;

/// Lower-cases a hex ed25519 public key, refusing anything else.
fn normalize_public_key(key: &str) -> ApiResult<String> {
    let key = key.trim();
    if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(key.to_ascii_lowercase())
    } else {
        Err(ApiError::InvalidArgument(format!(
            "public_key must be 64 hex characters (an ed25519 key), got {}",
            shown(key)
        )))
    }
}

fn duplicate_key(public_key: &str) -> impl FnOnce(StoreError) -> ApiError + '_ {
    move |error| match error {
        StoreError::Conflict => ApiError::AlreadyExists(format!(
            "a node with public key {public_key} is already registered"
        )),
        other => other.into(),
    }
}

impl JobDistributor {
    async fn register_node_impl(&self, request: RegisterNodeRequest) -> ApiResult<Node> {
        let name = required(request.name.trim(), "name", MAX_NAME_BYTES)?.to_string();
        let public_key = normalize_public_key(&request.public_key)?;
        limits::labels(&request.labels)?;
        let now = Some(timestamp_from_micros(now_micros()));
        let node = Node {
            id: node_id(),
            name,
            public_key: public_key.clone(),
            is_enabled: true,
            is_connected: false,
            labels: request.labels,
            created_at: now,
            updated_at: now,
            ..Default::default()
        };
        self.inner
            .store
            .insert_node(&node)
            .await
            .map_err(duplicate_key(&public_key))?;
        self.inner.links.node_changed(None, &node);
        tracing::info!(node_id = %node.id, name = %node.name, "registered node");
        Ok(node)
    }

    async fn get_node_impl(&self, request: GetNodeRequest) -> ApiResult<Node> {
        let key = request
            .public_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty());
        let id = limits::text(request.id.trim(), "id", MAX_ID_BYTES)?;
        if let Some(key) = key {
            limits::text(key, "public_key", MAX_ID_BYTES)?;
        }
        let nodes = self.inner.nodes.current(&self.inner.store).await?;
        let found = match (id.is_empty(), key) {
            (false, Some(_)) => {
                return Err(ApiError::InvalidArgument(
                    "give either id or public_key, not both".into(),
                ));
            }
            (true, None) => {
                return Err(ApiError::InvalidArgument(
                    "id or public_key must be provided".into(),
                ));
            }
            (false, None) => nodes.by_id(id),
            (true, Some(key)) => nodes.by_public_key(&key.to_ascii_lowercase()),
        };
        found
            .cloned()
            .map(|node| self.with_connection(node))
            .ok_or_else(|| match key {
                Some(key) => ApiError::NotFound(format!("no node with public key {key}")),
                None => ApiError::NotFound(format!("node {id} not found")),
            })
    }

    async fn change_node(&self, id: &str, changes: NodeChanges) -> ApiResult<Node> {
        let id = required(id, "id", MAX_ID_BYTES)?;
        let key = changes.public_key.clone().unwrap_or_default();
        // The key before a key change, whose link must go when the key does.
        let previous_key = match changes.public_key {
            Some(_) => self.inner.store.node(id).await?.map(|node| node.public_key),
            None => None,
        };
        let node = self
            .inner
            .store
            .update_node(id, changes, now_micros())
            .await
            .map_err(duplicate_key(&key))?
            .ok_or_else(|| ApiError::NotFound(format!("node {id} not found")))?;
        self.inner
            .links
            .node_changed(previous_key.as_deref(), &node);
        Ok(self.with_connection(node))
    }

    async fn update_node_impl(&self, request: UpdateNodeRequest) -> ApiResult<Node> {
        limits::labels(&request.labels)?;
        let public_key = match request.public_key.trim() {
            "" => None,
            key => Some(normalize_public_key(key)?),
        };
        let name = limits::text(request.name.trim(), "name", MAX_NAME_BYTES)?;
        let name = Some(name.to_string()).filter(|n| !n.is_empty());
        let labels = Some(request.labels).filter(|l| !l.is_empty());
        let changes = NodeChanges {
            name,
            public_key,
            labels,
            is_enabled: None,
        };
        self.change_node(&request.id, changes).await
    }

    async fn list_nodes_impl(&self, request: ListNodesRequest) -> ApiResult<ListNodesResponse> {
        if request.page_size < 0 || request.page < 0 {
            return Err(ApiError::InvalidArgument(
                "page and page_size must not be negative".into(),
            ));
        }
        let filter = request.filter.unwrap_or_default();
        let enabled = match EnableState::try_from(filter.enabled) {
            Ok(EnableState::Unspecified) => None,
            Ok(EnableState::Enabled) => Some(true),
            Ok(EnableState::Disabled) => Some(false),
            Err(_) => {
                return Err(ApiError::InvalidArgument(format!(
                    "unknown enabled filter {}",
                    filter.enabled
                )));
            }
        };
        filter_values(&filter.ids, "ids")?;
        filter_values(&filter.public_keys, "public_keys")?;
        limits::selectors(&filter.selectors)?;
        let ids: HashSet<&str> = filter.ids.iter().map(String::as_str).collect();
        let keys: HashSet<String> = filter
            .public_keys
            .iter()
            .map(|k| k.trim().to_ascii_lowercase())
            .collect();
        let snapshot = self.inner.nodes.current(&self.inner.store).await?;
        let matching = snapshot.select(&filter.selectors).filter(|node| {
            (ids.is_empty() || ids.contains(node.id.as_str()))
                && (keys.is_empty() || keys.contains(&node.public_key))
                && enabled.is_none_or(|e| node.is_enabled == e)
        });
        let (skip, take) = match request.page_size {
            0 => (0, usize::MAX),
            size => {
                let page = request.page.max(1) as usize;
                ((page - 1).saturating_mul(size as usize), size as usize)
            }
        };
        let mut total = 0usize;
        let mut nodes = Vec::new();
        for node in matching {
            if total >= skip && nodes.len() < take {
                nodes.push(self.with_connection(node.clone()));
            }
            total += 1;
        }
        Ok(ListNodesResponse {
            nodes,
            total_count: i32::try_from(total).unwrap_or(i32::MAX),
        })
    }
}

#[tonic::async_trait]
impl NodeService for JobDistributor {
    async fn disable_node(
        &self,
        request: Request<DisableNodeRequest>,
    ) -> Result<Response<DisableNodeResponse>, Status> {
        let changes = NodeChanges {
            is_enabled: Some(false),
            ..Default::default()
        };
        let node = self.change_node(&request.into_inner().id, changes).await?;
        Ok(Response::new(DisableNodeResponse { node: Some(node) }))
    }

    async fn enable_node(
        &self,
        request: Request<EnableNodeRequest>,
    ) -> Result<Response<EnableNodeResponse>, Status> {
        let changes = NodeChanges {
            is_enabled: Some(true),
            ..Default::default()
        };
        let node = self.change_node(&request.into_inner().id, changes).await?;
        Ok(Response::new(EnableNodeResponse { node: Some(node) }))
    }

    async fn get_node(
        &self,
        request: Request<GetNodeRequest>,
    ) -> Result<Response<GetNodeResponse>, Status> {
        let node = self.get_node_impl(request.into_inner()).await?;
        Ok(Response::new(GetNodeResponse { node: Some(node) }))
    }

    async fn list_nodes(
        &self,
        request: Request<ListNodesRequest>,
    ) -> Result<Response<ListNodesResponse>, Status> {
        Ok(Response::new(
            self.list_nodes_impl(request.into_inner()).await?,
        ))
    }

    async fn list_node_chain_configs(
        &self,
        request: Request<ListNodeChainConfigsRequest>,
    ) -> Result<Response<ListNodeChainConfigsResponse>, Status> {
        let node_ids = request.into_inner().filter.unwrap_or_default().node_ids;
        filter_values(&node_ids, "node_ids")?;
        let chain_configs = self
            .inner
            .store
            .chain_configs(&node_ids)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(ListNodeChainConfigsResponse {
            chain_configs,
        }))
    }

    async fn register_node(
        &self,
        request: Request<RegisterNodeRequest>,
    ) -> Result<Response<RegisterNodeResponse>, Status> {
        let node = self.register_node_impl(request.into_inner()).await?;
        Ok(Response::new(RegisterNodeResponse { node: Some(node) }))
    }

    async fn update_node(
        &self,
        request: Request<UpdateNodeRequest>,
    ) -> Result<Response<UpdateNodeResponse>, Status> {
        let node = self.update_node_impl(request.into_inner()).await?;
        Ok(Response::new(UpdateNodeResponse { node: Some(node) }))
    }
}
