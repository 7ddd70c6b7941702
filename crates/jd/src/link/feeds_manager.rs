//! `FeedsManager`, the service the JD exposes to each node over its link
//! (`node-link.md`, "Services"): `Healthcheck` and `UpdateNode`.
//!
//! `UpdateNode` stores the node's version, P2P key bundles, workflow key, operator name and
//! chain configs. A chain config is refused (an entry in `chain_config_errors`, keyed by
//! its chain id as reported, and not stored) when its chain id is empty or its chain type
//! is unspecified or unknown: the operator API could not tell such configs apart.
//!
//! `ApprovedJob`, `RejectedJob` and `CancelledJob` move the proposal of (uuid, node,
//! version) along `jd-behaviour.md`'s status graph — approved from proposed, pending or
//! cancelled; rejected from proposed or pending; cancelled from approved — setting
//! `response_received_at`. The same answer twice is accepted (a retry); an unknown
//! uuid/version or a move the graph does not allow gets an error string.

use offchain_proto::{cfm, node};
use offchain_wsrpc::rpc::Router;
use prost::Message;

use crate::JobDistributor;
use crate::ids::now_micros;
use crate::service::shown;
use crate::store::{AnswerOutcome, NodeReport};
use offchain_proto::job::ProposalStatus::{self, Approved, Cancelled, Pending, Proposed, Rejected};
use offchain_wsrpc::accept::BoxFuture;

/// Most chain configs one `UpdateNode` may carry.
pub(crate) const MAX_CHAIN_CONFIGS: usize = 1_000;
/// Most P2P key bundles one `UpdateNode` may carry.
pub(crate) const MAX_P2P_KEY_BUNDLES: usize = 100;
/// Longest version, workflow key or operator name stored.
pub(crate) const MAX_REPORTED_TEXT: usize = 1_024;

/// The service for the link of node `node_id`.
pub(super) fn router(jd: JobDistributor, node_id: String) -> Router {
    Router::new()
        .method("Healthcheck", |_: cfm::HealthcheckRequest| async {
            Ok(cfm::HealthcheckResponse {})
        })
        .method("UpdateNode", {
            let (jd, node_id) = (jd.clone(), node_id.clone());
            move |request: cfm::UpdateNodeRequest| {
                let (jd, node_id) = (jd.clone(), node_id.clone());
                async move { update_node(&jd, &node_id, request).await }
            }
        })
        .method(
            "ApprovedJob",
            answer::<_, cfm::ApprovedJobResponse>(
                &jd,
                &node_id,
                Approved,
                |r: cfm::ApprovedJobRequest| (r.uuid, r.version),
            ),
        )
        .method(
            "RejectedJob",
            answer::<_, cfm::RejectedJobResponse>(
                &jd,
                &node_id,
                Rejected,
                |r: cfm::RejectedJobRequest| (r.uuid, r.version),
            ),
        )
        .method(
            "CancelledJob",
            answer::<_, cfm::CancelledJobResponse>(
                &jd,
                &node_id,
                Cancelled,
                |r: cfm::CancelledJobRequest| (r.uuid, r.version),
            ),
        )
}

/// A handler for one of the node's answers to a proposal: `parts` takes the job's uuid and
/// the proposal's revision out of the request; the response is the empty message.
fn answer<Req, Resp>(
    jd: &JobDistributor,
    node_id: &str,
    status: ProposalStatus,
    parts: fn(Req) -> (String, i64),
) -> impl Fn(Req) -> BoxFuture<'static, Result<Resp, String>> + Send + Sync + 'static
where
    Req: Send + 'static,
    Resp: Default + Send + 'static,
{
    let (jd, node_id) = (jd.clone(), node_id.to_owned());
    move |request: Req| {
        let (jd, node_id) = (jd.clone(), node_id.clone());
        let (uuid, version) = parts(request);
        Box::pin(async move {
            Answer {
                uuid,
                version,
                status,
            }
            .apply(&jd, &node_id)
            .await
            .map(|()| Resp::default())
        })
    }
}

/// A node's answer to one proposal: the job's uuid, the proposal's revision and the status
/// the node gave it.
struct Answer {
    uuid: String,
    version: i64,
    status: ProposalStatus,
}

impl Answer {
    async fn apply(self, jd: &JobDistributor, node_id: &str) -> Result<(), String> {
        let Answer {
            uuid,
            version,
            status,
        } = self;
        let from: &[ProposalStatus] = match status {
            Approved => &[Proposed, Pending, Cancelled],
            Rejected => &[Proposed, Pending],
            Cancelled => &[Approved],
            _ => &[],
        };
        let unknown = || {
            format!(
                "no proposal for job {} version {version} on this node",
                shown(&uuid)
            )
        };
        let Some(canonical) = crate::spec::canonical_uuid(&uuid) else {
            return Err(unknown());
        };
        let outcome = jd
            .store()
            .answer_proposal(node_id, &canonical, version, status, from, now_micros())
            .await
            .map_err(|error| {
                tracing::warn!(%error, node_id, "storing a node's answer failed");
                "the JD could not store the answer: try again".to_owned()
            })?;
        match outcome {
            AnswerOutcome::Applied => {
                tracing::info!(node_id, job = %canonical, version, status = status.as_str_name(), "node answered a proposal");
                Ok(())
            }
            AnswerOutcome::Unknown => Err(unknown()),
            AnswerOutcome::NotAllowed(current) => Err(format!(
                "job {canonical} version {version} is {}: it cannot become {}",
                current.as_str_name(),
                status.as_str_name()
            )),
        }
    }
}

async fn update_node(
    jd: &JobDistributor,
    node_id: &str,
    request: cfm::UpdateNodeRequest,
) -> Result<cfm::UpdateNodeResponse, String> {
    if request.chain_configs.len() > MAX_CHAIN_CONFIGS {
        return Err(format!("more than {MAX_CHAIN_CONFIGS} chain configs"));
    }
    if request.p2p_key_bundles.len() > MAX_P2P_KEY_BUNDLES {
        return Err(format!("more than {MAX_P2P_KEY_BUNDLES} p2p key bundles"));
    }
    let texts = [
        request.version.as_str(),
        request.nop_friendly_name.as_str(),
        request.workflow_key.as_deref().unwrap_or_default(),
    ];
    if texts.iter().any(|text| text.len() > MAX_REPORTED_TEXT) {
        return Err(format!(
            "version, workflow_key and nop_friendly_name are limited to {MAX_REPORTED_TEXT} bytes"
        ));
    }
    let mut chain_config_errors = std::collections::HashMap::new();
    let mut accepted = Vec::with_capacity(request.chain_configs.len());
    for config in &request.chain_configs {
        match acceptable(config) {
            Ok(()) => accepted.push(to_operator_chain_config(config, node_id)?),
            Err(message) => {
                let chain_id = config
                    .chain
                    .as_ref()
                    .map(|c| c.id.clone())
                    .unwrap_or_default();
                chain_config_errors.insert(chain_id, cfm::ChainConfigError { message });
            }
        }
    }
    let report = NodeReport {
        version: request.version,
        workflow_key: request.workflow_key,
        nop_friendly_name: request.nop_friendly_name,
        p2p_key_bundles: request
            .p2p_key_bundles
            .into_iter()
            .map(|bundle| node::P2pKeyBundle {
                peer_id: bundle.peer_id,
                public_key: bundle.public_key,
            })
            .collect(),
    };
    let store = jd.store();
    let unavailable = |error: crate::store::StoreError| {
        tracing::warn!(%error, node_id, "storing a node's UpdateNode failed");
        "the JD could not store the update: try again".to_owned()
    };
    if !store
        .record_node_report(node_id, &report, now_micros())
        .await
        .map_err(unavailable)?
    {
        return Err("this node is no longer registered".to_owned());
    }
    store
        .replace_chain_configs(node_id, &accepted)
        .await
        .map_err(unavailable)?;
    Ok(cfm::UpdateNodeResponse {
        chain_config_errors,
    })
}

/// Why the JD cannot accept `config`, if it cannot.
fn acceptable(config: &cfm::ChainConfig) -> Result<(), String> {
    let Some(chain) = &config.chain else {
        return Err("no chain".to_owned());
    };
    if chain.id.trim().is_empty() {
        return Err("empty chain id".to_owned());
    }
    match cfm::ChainType::try_from(chain.r#type) {
        Ok(cfm::ChainType::Unspecified) => Err("unspecified chain type".to_owned()),
        Ok(_) => Ok(()),
        Err(_) => Err(format!("unknown chain type {}", chain.r#type)),
    }
}

/// The operator API's `ChainConfig` has the node link's fields 1–7 with the same numbers
/// and types, plus `node_id`: re-decoding the encoded message carries every field over.
fn to_operator_chain_config(
    config: &cfm::ChainConfig,
    node_id: &str,
) -> Result<node::ChainConfig, String> {
    let mut converted = node::ChainConfig::decode(config.encode_to_vec().as_slice())
        .map_err(|error| format!("chain config: {error}"))?;
    converted.node_id = node_id.to_owned();
    Ok(converted)
}
