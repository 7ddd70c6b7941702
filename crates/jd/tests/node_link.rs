//! The JD's node link over real TCP + TLS: nodes (simulated with the wsrpc dialer and a
//! node-side link) connect with their CSA keys, report themselves with `UpdateNode`, and
//! lose their link when disabled or re-keyed.
//!
//! Each test runs against SQLite and, when `OFFCHAIN_TEST_POSTGRES_URL` is set, against a
//! PostgreSQL schema of its own (without it the PostgreSQL half prints a note and is
//! skipped; with `CI` set it fails).

mod support;

use offchain_proto::cfm;
use offchain_proto::node::node_service_server::NodeService;
use offchain_proto::node::{self as api};
use offchain_wsrpc::rpc::LinkEnd;
use support::{CALL, JOB_UUID, Jd, LIMIT, backends, identity, proposal, propose};
use tonic::Request;

/// The first read of a refused node fails (TLS 1.3 sends the alert after the handshake).
async fn assert_refused(jd: &Jd, node: u8) {
    match jd.dial(node).await {
        Err(_) => {}
        Ok(link) => {
            let end = tokio::time::timeout(LIMIT, link.ended())
                .await
                .expect("refused in time");
            assert!(
                matches!(end, LinkEnd::Transport(_)),
                "unexpected end {end:?}"
            );
        }
    }
}

#[tokio::test]
async fn enabled_nodes_connect_and_disabled_ones_are_dropped() {
    for (url, schema) in backends().await {
        let jd = Jd::start(url, schema).await;
        let node = jd.register(1).await;
        assert!(!jd.get(&node.id).await.is_connected);

        let link = jd.dial(1).await.expect("a registered node links up");
        jd.wait_connected(&node.id, true).await;
        let _: cfm::HealthcheckResponse = link
            .call_message("Healthcheck", &cfm::HealthcheckRequest {}, CALL)
            .await
            .expect("Healthcheck answers");

        // An unregistered key is refused.
        assert_refused(&jd, 2).await;

        // Disabling closes the link at once; the key is refused until re-enabled.
        jd.set_enabled(&node.id, false).await;
        let end = tokio::time::timeout(LIMIT, link.ended())
            .await
            .expect("closed in time");
        assert!(
            matches!(end, LinkEnd::ClosedByPeer { .. }),
            "unexpected end {end:?}"
        );
        jd.wait_connected(&node.id, false).await;
        assert_refused(&jd, 1).await;

        jd.set_enabled(&node.id, true).await;
        let _again = jd.dial(1).await.expect("a re-enabled node links up");
        jd.wait_connected(&node.id, true).await;
    }
}

#[tokio::test]
async fn a_key_change_drops_the_old_keys_link() {
    for (url, schema) in backends().await {
        let jd = Jd::start(url, schema).await;
        let node = jd.register(1).await;
        let old = jd.dial(1).await.expect("links up");
        jd.wait_connected(&node.id, true).await;

        jd.jd
            .update_node(Request::new(api::UpdateNodeRequest {
                id: node.id.clone(),
                public_key: identity(3).public_key().to_hex(),
                ..Default::default()
            }))
            .await
            .expect("key changed");
        let end = tokio::time::timeout(LIMIT, old.ended())
            .await
            .expect("closed in time");
        assert!(
            matches!(end, LinkEnd::ClosedByPeer { .. }),
            "unexpected end {end:?}"
        );
        assert_refused(&jd, 1).await;
        let _new = jd.dial(3).await.expect("the new key links up");
        jd.wait_connected(&node.id, true).await;
    }
}

fn chain_config(id: &str, chain_type: cfm::ChainType, account: &str) -> cfm::ChainConfig {
    cfm::ChainConfig {
        chain: Some(cfm::Chain {
            id: id.to_owned(),
            r#type: chain_type.into(),
        }),
        account_address: account.to_owned(),
        admin_address: "0xadmin".to_owned(),
        ..Default::default()
    }
}

#[tokio::test]
async fn update_node_from_the_node_is_stored_and_served() {
    for (url, schema) in backends().await {
        let jd = Jd::start(url, schema).await;
        let node = jd.register(1).await;
        let link = jd.dial(1).await.expect("links up");
        let request = cfm::UpdateNodeRequest {
            version: "2.19.0".to_owned(),
            workflow_key: Some("wf-key".to_owned()),
            nop_friendly_name: "Acme".to_owned(),
            p2p_key_bundles: vec![cfm::P2pKeyBundle {
                peer_id: "p2p_12D3KooWabc".to_owned(),
                public_key: "ab".repeat(32),
            }],
            chain_configs: vec![
                chain_config("1", cfm::ChainType::Evm, "0xaccount"),
                chain_config("", cfm::ChainType::Evm, "0xnoid"),
                chain_config("7", cfm::ChainType::Unspecified, "0xnotype"),
            ],
            ..Default::default()
        };
        let answer: cfm::UpdateNodeResponse = link
            .call_message("UpdateNode", &request, CALL)
            .await
            .expect("UpdateNode answers");
        let mut refused: Vec<(&str, &str)> = answer
            .chain_config_errors
            .iter()
            .map(|(chain, error)| (chain.as_str(), error.message.as_str()))
            .collect();
        refused.sort_unstable();
        assert_eq!(
            refused,
            [("", "empty chain id"), ("7", "unspecified chain type")]
        );

        let stored = jd.get(&node.id).await;
        assert_eq!(stored.version, "2.19.0");
        assert_eq!(stored.workflow_key.as_deref(), Some("wf-key"));
        assert_eq!(stored.nop_friendly_name, "Acme");
        assert_eq!(stored.p2p_key_bundles.len(), 1);
        assert_eq!(stored.p2p_key_bundles[0].peer_id, "p2p_12D3KooWabc");
        assert_eq!(jd.listed(&node.id).await.version, "2.19.0");

        let configs = jd
            .jd
            .list_node_chain_configs(Request::new(api::ListNodeChainConfigsRequest {
                filter: Some(api::list_node_chain_configs_request::Filter {
                    node_ids: vec![node.id.clone()],
                }),
            }))
            .await
            .expect("listed")
            .into_inner()
            .chain_configs;
        assert_eq!(configs.len(), 1, "only the acceptable config: {configs:?}");
        assert_eq!(configs[0].node_id, node.id);
        assert_eq!(configs[0].account_address, "0xaccount");
        assert_eq!(configs[0].admin_address, "0xadmin");
        assert_eq!(configs[0].chain.as_ref().unwrap().id, "1");
    }
}

#[tokio::test]
async fn the_nodes_answers_set_the_proposal_status() {
    use offchain_proto::job::ProposalStatus;
    for (url, schema) in backends().await {
        let jd = Jd::start(url, schema).await;
        let node = jd.register(1).await;
        let link = jd.dial(1).await.expect("links up");
        let id = propose(&jd, &node.id).await;
        assert_eq!(proposal(&jd, &id).await.response_received_at, None);

        let approved: Result<cfm::ApprovedJobResponse, _> = link
            .call_message(
                "ApprovedJob",
                &cfm::ApprovedJobRequest {
                    uuid: JOB_UUID.to_uppercase(),
                    version: 1,
                },
                CALL,
            )
            .await;
        approved.expect("ApprovedJob answers OK");
        let stored = proposal(&jd, &id).await;
        assert_eq!(stored.status, ProposalStatus::Approved as i32);
        assert!(stored.response_received_at.is_some());

        // A rejection of an approved proposal is refused; a cancellation is applied.
        let rejected: Result<cfm::RejectedJobResponse, _> = link
            .call_message(
                "RejectedJob",
                &cfm::RejectedJobRequest {
                    uuid: JOB_UUID.to_owned(),
                    version: 1,
                },
                CALL,
            )
            .await;
        assert!(rejected.is_err(), "{rejected:?}");
        let cancelled: Result<cfm::CancelledJobResponse, _> = link
            .call_message(
                "CancelledJob",
                &cfm::CancelledJobRequest {
                    uuid: JOB_UUID.to_owned(),
                    version: 1,
                },
                CALL,
            )
            .await;
        cancelled.expect("CancelledJob answers OK");
        assert_eq!(
            proposal(&jd, &id).await.status,
            ProposalStatus::Cancelled as i32
        );

        // Unknown revision and unknown uuid get an error string.
        for (uuid, version) in [
            (JOB_UUID, 2),
            ("5f0d8d1e-8a43-4f43-9d1c-1d2f6b6c2a77", 1),
            ("nope", 1),
        ] {
            let answer: Result<cfm::ApprovedJobResponse, _> = link
                .call_message(
                    "ApprovedJob",
                    &cfm::ApprovedJobRequest {
                        uuid: uuid.to_owned(),
                        version,
                    },
                    CALL,
                )
                .await;
            let error = answer
                .expect_err("an unknown proposal is refused")
                .to_string();
            assert!(error.contains("no proposal"), "{uuid} {version}: {error}");
        }
        assert_eq!(
            proposal(&jd, &id).await.status,
            ProposalStatus::Cancelled as i32
        );
    }
}

#[tokio::test]
async fn a_silent_old_link_is_replaced_when_the_node_reconnects() {
    for (url, schema) in backends().await {
        let jd = Jd::start(url, schema).await;
        let node = jd.register(1).await;
        let _silent = jd.dial_raw(1).await.expect("links up");
        jd.wait_connected(&node.id, true).await;
        // The old link does not answer the JD's probe ping within 2 s: the reconnect wins.
        let fresh = jd
            .dial(1)
            .await
            .expect("the reconnect replaces the silent link");
        let _: cfm::HealthcheckResponse = fresh
            .call_message("Healthcheck", &cfm::HealthcheckRequest {}, CALL)
            .await
            .expect("the new link serves calls");
        jd.wait_connected(&node.id, true).await;
        assert_eq!(jd.jd.links().connected_count(), 1);
    }
}

#[tokio::test]
async fn job_runs_asks_the_nodes_link_and_passes_its_answer_or_refusal() {
    use offchain_jd::link::JobRunsError;
    use offchain_wsrpc::rpc::{CallError, Router};
    for (url, schema) in backends().await {
        let jd = Jd::start(url, schema).await;
        let node = jd.register(1).await;
        assert_eq!(
            jd.jd.job_runs(&node.id, JOB_UUID, 5).await,
            Err(JobRunsError::NotConnected(node.id.clone()))
        );

        let service =
            Router::new().method("GetJobRuns", |request: cfm::GetJobRunsRequest| async move {
                if request.id != JOB_UUID {
                    return Err(format!("no job {}", request.id));
                }
                let run = |run_id| cfm::JobRunSummary {
                    run_id,
                    state: "completed".into(),
                    ..Default::default()
                };
                Ok(cfm::GetJobRunsResponse {
                    runs: (1..=i64::from(request.limit)).rev().map(run).collect(),
                })
            });
        let _link = jd.dial_with(1, service).await.expect("links up");
        jd.wait_connected(&node.id, true).await;

        let runs = jd.jd.job_runs(&node.id, JOB_UUID, 2).await.unwrap();
        let ids: Vec<i64> = runs.iter().map(|run| run.run_id).collect();
        assert_eq!(ids, [2, 1]);
        assert_eq!(runs[0].state, "completed");
        assert_eq!(
            jd.jd.job_runs(&node.id, "other", 2).await,
            Err(JobRunsError::Call {
                node_id: node.id.clone(),
                source: CallError::Remote("no job other".into()),
            })
        );
    }
}
