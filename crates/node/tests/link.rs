//! The node's link to a JD over real TCP + TLS on 127.0.0.1, against a fake JD
//! (`common::FakeJd`): `UpdateNode` on every link, `NodeService` answered from the store,
//! the auto policy's `ApprovedJob`, redialing and its reported errors.

mod common;

use std::time::Duration;

use common::{Call, FakeJd, LIMIT, identity, key};
use offchain_node::config::ApprovalPolicy;
use offchain_node::jobs::{Jobs, no_bridges};
use offchain_node::link::{
    JdLink, JdLinkSettings, LinkState, LinkTimers, NodeFacts, STORE_FAILURE,
};
use offchain_node::{NodeConfig, PeerId, State, Store};
use offchain_proto::cfm;
use offchain_wsrpc::backoff::BackoffConfig;
use offchain_wsrpc::dial::RedialConfig;
use offchain_wsrpc::rpc::{CallError, Link};
use tokio::sync::watch;

const JD: u8 = 1;
const NODE: u8 = 2;
const ID: &str = "0eec7e1d-d0d2-476c-a1a8-72dfb6633f46";

fn spec(job_type: &str, note: &str) -> String {
    format!("type = \"{job_type}\"\nexternalJobID = \"{ID}\"\nname = \"{note}\"\n")
}

fn short_backoff() -> BackoffConfig {
    BackoffConfig {
        initial: Duration::from_millis(20),
        factor: 1.6,
        jitter: 0.0,
        max: Duration::from_millis(200),
    }
}

fn facts(name: &str) -> NodeFacts {
    let config = NodeConfig::parse(&format!(
        "name = \"{name}\"\ndata_dir = \"data\"\n\n[[job_distributors]]\nuri = \"jd:8080\"\n\
         public_key = \"{}\"\n\n[[chains]]\nid = \"11155111\"\ntype = \"evm\"\n\
         account_address = \"0xabc\"\n[chains.ocr2_config]\nenabled = true\nplugins = {{ median = true }}\n",
        key(JD).to_hex()
    ))
    .unwrap();
    NodeFacts::with_peer_id(&config, PeerId::from_ed25519([7; 32]))
}

/// A node linked (or trying to link) to `jd` expecting the JD key of `jd_seed`.
struct Node {
    link: JdLink,
    store: Store,
    facts: watch::Sender<NodeFacts>,
    _dir: tempfile::TempDir,
}

async fn start_node(jd: &FakeJd, jd_seed: u8, node_seed: u8, policy: ApprovalPolicy) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let (facts_tx, facts_rx) = watch::channel(facts("node-a"));
    let link = JdLink::start(JdLinkSettings {
        node_name: "node-a".into(),
        uri: jd.address.clone(),
        jd_key: key(jd_seed),
        identity: identity(node_seed),
        policy,
        store: store.clone(),
        jobs: Jobs::new(store.clone(), no_bridges(), "http://127.0.0.1:1".to_owned()).unwrap(),
        facts: facts_rx,
        timers: LinkTimers {
            redial: RedialConfig {
                backoff: short_backoff(),
                stable_after: Duration::from_secs(10),
            },
            update_backoff: short_backoff(),
            ..LinkTimers::default()
        },
    })
    .unwrap();
    Node {
        link,
        store,
        facts: facts_tx,
        _dir: dir,
    }
}

/// Waits for the node's `UpdateNode`, skipping nothing: the next call must be one.
async fn next_update(jd: &mut FakeJd) -> cfm::UpdateNodeRequest {
    match jd.next_call().await {
        Call::UpdateNode(request) => *request,
        other => panic!("expected UpdateNode, got {other:?}"),
    }
}

/// A linked node and the JD's side of its link, after its facts were reported.
async fn linked(policy: ApprovalPolicy) -> (FakeJd, Node, Link) {
    let mut jd = FakeJd::start(JD, &[key(NODE)]).await;
    let node = start_node(&jd, JD, NODE, policy).await;
    let link = jd.next_link().await;
    next_update(&mut jd).await;
    (jd, node, link)
}

async fn propose(
    link: &Link,
    spec: &str,
    version: i64,
) -> Result<cfm::ProposeJobResponse, CallError> {
    let request = cfm::ProposeJobRequest {
        id: ID.to_owned(),
        spec: spec.to_owned(),
        multiaddrs: vec![],
        version,
    };
    link.call_message("ProposeJob", &request, LIMIT).await
}

async fn state_of(store: &Store) -> (State, i64) {
    let list = store.list().await.unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    (list[0].state, list[0].version)
}

async fn wait_for_state(node: &Node, wanted: impl Fn(&LinkState) -> bool) -> LinkState {
    let mut state = node.link.handle().watch_state();
    let seen = tokio::time::timeout(LIMIT, state.wait_for(|state| wanted(state)))
        .await
        .expect("the state in time")
        .expect("the link task runs");
    seen.clone()
}

#[tokio::test]
async fn the_node_reports_its_facts_and_retries_until_the_jd_accepts_them() {
    let mut jd = FakeJd::start(JD, &[key(NODE)]).await;
    // First a failed call, then an answer with chain config errors, then success.
    jd.answers
        .update_node_failures
        .store(1, std::sync::atomic::Ordering::SeqCst);
    jd.answers
        .update_node_config_errors
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let node = start_node(&jd, JD, NODE, ApprovalPolicy::Manual).await;
    let _link = jd.next_link().await;

    let first = next_update(&mut jd).await;
    assert_eq!(first.nop_friendly_name, "node-a");
    assert_eq!(first.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(first.chain_configs.len(), 1);
    let chain = &first.chain_configs[0];
    assert_eq!(chain.chain.as_ref().unwrap().id, "11155111");
    assert_eq!(
        chain.chain.as_ref().unwrap().r#type,
        cfm::ChainType::Evm as i32
    );
    assert_eq!(chain.account_address, "0xabc");
    let ocr2 = chain.ocr2_config.as_ref().unwrap();
    assert!(ocr2.enabled && ocr2.plugins.unwrap().median);
    let peer_id = PeerId::from_ed25519([7; 32]);
    assert_eq!(
        first.p2p_key_bundles,
        [cfm::P2pKeyBundle {
            peer_id: peer_id.to_string(),
            public_key: hex::encode([7; 32]),
        }]
    );
    assert_eq!(first.workflow_key, None);
    // Retried after the failure and after the chain config errors, with the same facts.
    assert_eq!(next_update(&mut jd).await, first);
    assert_eq!(next_update(&mut jd).await, first);
    assert!(node.link.handle().state().up);

    // A change of facts is reported on the live link.
    node.facts.send_replace(facts("node-b"));
    assert_eq!(next_update(&mut jd).await.nop_friendly_name, "node-b");
}

#[tokio::test]
async fn proposals_are_stored_and_answered_by_the_rules() {
    let (_jd, node, link) = linked(ApprovalPolicy::Manual).await;

    let answer = propose(&link, &spec("webhook", "one"), 1).await.unwrap();
    assert_eq!(answer.id, ID);
    assert_eq!(state_of(&node.store).await, (State::Pending, 1));
    // A redelivery is answered OK.
    propose(&link, &spec("webhook", "one"), 1).await.unwrap();

    let refused = propose(&link, &spec("directrequest", "x"), 2)
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        CallError::Remote(
            "job type \"directrequest\" is not supported by this node (supported: webhook, cron)"
                .into()
        )
    );
    let conflict = propose(&link, &spec("webhook", "other"), 1)
        .await
        .unwrap_err();
    assert_eq!(
        conflict,
        CallError::Remote(
            "version conflict: version 1 was already received with a different spec".into()
        )
    );
    assert_eq!(state_of(&node.store).await, (State::Pending, 1));

    let runs: cfm::GetJobRunsResponse = link
        .call_message(
            "GetJobRuns",
            &cfm::GetJobRunsRequest {
                id: ID.into(),
                limit: 10,
            },
            LIMIT,
        )
        .await
        .unwrap();
    assert!(runs.runs.is_empty());

    let revoked: cfm::RevokeJobResponse = link
        .call_message("RevokeJob", &cfm::RevokeJobRequest { id: ID.into() }, LIMIT)
        .await
        .unwrap();
    assert_eq!(revoked.id, ID);
    assert_eq!(state_of(&node.store).await, (State::Revoked, 1));

    let unknown = "5a0b3c4d-1e2f-4a5b-8c6d-7e8f9a0b1c2d";
    let error = link
        .call_message::<_, cfm::RevokeJobResponse>(
            "RevokeJob",
            &cfm::RevokeJobRequest { id: unknown.into() },
            LIMIT,
        )
        .await
        .unwrap_err();
    assert_eq!(
        error,
        CallError::Remote(format!("proposal {unknown} not found"))
    );

    let deleted: cfm::DeleteJobResponse = link
        .call_message("DeleteJob", &cfm::DeleteJobRequest { id: ID.into() }, LIMIT)
        .await
        .unwrap();
    assert_eq!(deleted.id, ID);
    assert_eq!(state_of(&node.store).await.0, State::Deleted);
}

#[tokio::test]
async fn the_auto_policy_approves_and_tells_the_jd() {
    let (mut jd, node, link) = linked(ApprovalPolicy::Auto).await;
    propose(&link, &spec("cron", "one"), 1).await.unwrap();
    assert_eq!(jd.next_call().await, Call::ApprovedJob(ID.into(), 1));
    assert_eq!(state_of(&node.store).await, (State::Approved, 1));
}

#[tokio::test]
async fn an_approval_the_jd_refuses_is_undone() {
    let (mut jd, node, link) = linked(ApprovalPolicy::Auto).await;
    jd.answers
        .refuse_approvals
        .store(true, std::sync::atomic::Ordering::SeqCst);
    propose(&link, &spec("cron", "one"), 1).await.unwrap();
    assert_eq!(jd.next_call().await, Call::ApprovedJob(ID.into(), 1));
    // The undo follows the JD's answer: wait for it.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while state_of(&node.store).await != (State::Pending, 1) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the approval was not undone"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn decisions_reach_the_jd_on_the_live_link() {
    let (mut jd, node, _link) = linked(ApprovalPolicy::Manual).await;
    let handle = node.link.handle().clone();
    handle.rejected_job(ID, 3).await.unwrap();
    assert_eq!(jd.next_call().await, Call::RejectedJob(ID.into(), 3));
    handle.cancelled_job(ID, 4).await.unwrap();
    assert_eq!(jd.next_call().await, Call::CancelledJob(ID.into(), 4));
}

#[tokio::test]
async fn a_store_failure_is_answered_without_its_details() {
    let (_jd, node, link) = linked(ApprovalPolicy::Manual).await;
    node.store.close().await;
    let error = propose(&link, &spec("webhook", "one"), 1)
        .await
        .unwrap_err();
    assert_eq!(error, CallError::Remote(STORE_FAILURE.into()));
}

#[tokio::test]
async fn a_jd_with_another_key_is_refused_and_redialed() {
    let jd = FakeJd::start(9, &[key(NODE)]).await;
    let node = start_node(&jd, JD, NODE, ApprovalPolicy::Manual).await;
    let mut state = node.link.handle().watch_state();
    for attempt in 0..3 {
        tokio::time::timeout(LIMIT, state.changed())
            .await
            .unwrap_or_else(|_| panic!("attempt {attempt} in time"))
            .unwrap();
        let seen = state.borrow_and_update().clone();
        assert_eq!(
            seen,
            LinkState {
                up: false,
                last_error: Some("the server's key is not the configured JD key".into()),
            }
        );
    }
    assert_eq!(
        node.link.handle().approved_job(ID, 1).await,
        Err(CallError::NotConnected)
    );
    assert_eq!(CallError::NotConnected.to_string(), "client not connected");
}

#[tokio::test]
async fn a_jd_that_refuses_the_node_key_is_reported_so() {
    let jd = FakeJd::start(JD, &[key(3)]).await;
    let node = start_node(&jd, JD, NODE, ApprovalPolicy::Manual).await;
    let state = wait_for_state(&node, |state| state.last_error.is_some()).await;
    assert_eq!(
        state.last_error.as_deref(),
        Some("the JD refused this node's key")
    );
    assert!(!state.up);
}

#[tokio::test]
async fn a_dropped_link_is_redialed_and_the_facts_reported_again() {
    let (mut jd, node, link) = linked(ApprovalPolicy::Manual).await;
    link.close();
    let again = jd.next_link().await;
    assert_eq!(next_update(&mut jd).await.nop_friendly_name, "node-a");
    assert!(again.end().is_none());
    wait_for_state(&node, |state| state.up).await;
    // The new link serves proposals.
    propose(&again, &spec("webhook", "one"), 1).await.unwrap();
    assert_eq!(state_of(&node.store).await, (State::Pending, 1));
}

#[tokio::test]
async fn decisions_the_jd_was_not_told_are_sent_on_the_next_link() {
    let (mut jd, node, link) = linked(ApprovalPolicy::Manual).await;
    propose(&link, &spec("webhook", "one"), 1).await.unwrap();
    // Decided without telling the JD, as when the link is down at that moment.
    let jd_key = key(JD).to_hex();
    let rejected = node.store.reject(&jd_key, ID, None).await.unwrap();
    assert_eq!(node.store.untold(&jd_key).await.unwrap(), [rejected]);

    link.close();
    let _again = jd.next_link().await;
    // `UpdateNode` and the decision go out side by side.
    let calls = [jd.next_call().await, jd.next_call().await];
    assert!(
        calls.contains(&Call::RejectedJob(ID.to_owned(), 1)),
        "{calls:?}"
    );
    // Forgotten once the JD answered it.
    tokio::time::timeout(LIMIT, async {
        while !node.store.untold(&jd_key).await.unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("forgotten in time");
}
