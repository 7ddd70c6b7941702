//! Calls over a link: both directions, concurrency, deadlines, errors.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{link_pair, within};
use offchain_proto::cfm::{ProposeJobRequest, ProposeJobResponse};
use offchain_wsrpc::rpc::{CallError, Link, LinkConfig, LinkEnd, Router};

const LONG: Duration = Duration::from_secs(10);

#[tokio::test]
async fn calls_go_both_ways_on_one_link() {
    let (jd, node) = link_pair(LinkConfig::jd(), LinkConfig::node()).await;
    let from_jd = jd.call("ProposeJob", Bytes::from_static(b"\0to node"), LONG);
    let from_node = node.call("UpdateNode", Bytes::from_static(b"\0to jd"), LONG);
    let (from_jd, from_node) = tokio::join!(from_jd, from_node);
    assert_eq!(from_jd.unwrap().as_ref(), b"\0to node");
    assert_eq!(from_node.unwrap().as_ref(), b"\0to jd");
}

#[tokio::test]
async fn a_hundred_concurrent_calls_answered_out_of_order_are_matched_by_id() {
    let (jd, node) = link_pair(LinkConfig::jd(), LinkConfig::node()).await;
    // Call n sleeps (100 - n) × 10 ms on the peer, so the answers come back in reverse.
    let calls = (0u8..100).map(|n| {
        let jd = jd.clone();
        async move {
            let payload = Bytes::from(vec![100 - n, n]);
            let answer = jd.call("Echo", payload.clone(), LONG).await;
            (payload, answer, Instant::now())
        }
    });
    let results = within("100 calls", futures_util::future::join_all(calls)).await;
    for (payload, answer, _) in &results {
        assert_eq!(answer.as_ref().unwrap(), payload);
    }
    // The last call was answered first: the answers really came out of order.
    assert!(results[99].2 < results[0].2);
    drop(node);
}

#[tokio::test]
async fn a_call_past_its_deadline_times_out_with_the_existing_message() {
    let (jd, _node) = link_pair(LinkConfig::jd(), LinkConfig::node()).await;
    let started = Instant::now();
    // The peer sleeps 2.5 s before answering.
    let error = jd
        .call(
            "Echo",
            Bytes::from_static(&[250]),
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
    assert_eq!(error, CallError::Timeout);
    assert_eq!(error.to_string(), "call timeout: context deadline exceeded");
    assert!(started.elapsed() < Duration::from_secs(2));
    // The link is still usable.
    assert_eq!(
        jd.call("Echo", Bytes::from_static(b"\0ok"), LONG)
            .await
            .unwrap()
            .as_ref(),
        b"\0ok"
    );
}

#[tokio::test]
async fn an_error_answer_is_a_remote_error() {
    let (jd, _node) = link_pair(LinkConfig::jd(), LinkConfig::node()).await;
    let error = jd.call("Fail", Bytes::new(), LONG).await.unwrap_err();
    assert_eq!(error, CallError::Remote("refused".into()));
}

/// A node-side service answering `ProposeJob` only.
fn node_router() -> Router {
    Router::new().method("ProposeJob", |request: ProposeJobRequest| async move {
        Ok(ProposeJobResponse { id: request.id })
    })
}

async fn router_pair() -> (Link, Link) {
    let (server, client) = common::ws_pair(&LinkConfig::jd(), &LinkConfig::node()).await;
    let jd = Link::spawn(server, LinkConfig::jd(), Arc::new(common::Echo));
    let node = Link::spawn(client, LinkConfig::node(), Arc::new(node_router()));
    (jd, node)
}

#[tokio::test]
async fn typed_calls_through_a_router() {
    let (jd, _node) = router_pair().await;
    let request = ProposeJobRequest {
        id: "0eec7e1d-d0d2-476c-a1a8-72dfb6633f46".into(),
        spec: "type = \"webhook\"".into(),
        multiaddrs: vec![],
        version: 1,
    };
    let answer: ProposeJobResponse = jd.call_message("ProposeJob", &request, LONG).await.unwrap();
    assert_eq!(answer.id, request.id);
}

#[tokio::test]
async fn an_unknown_method_or_undecodable_payload_is_answered_with_an_error_string() {
    let (jd, _node) = router_pair().await;
    let unknown = jd.call("DropTables", Bytes::new(), LONG).await.unwrap_err();
    assert_eq!(
        unknown,
        CallError::Remote(r#"unknown method "DropTables""#.into())
    );

    let undecodable = jd
        .call("ProposeJob", Bytes::from_static(b"\xff\xff\xff"), LONG)
        .await
        .unwrap_err();
    let CallError::Remote(message) = undecodable else {
        panic!("{undecodable:?}");
    };
    assert!(
        message.starts_with("ProposeJob: undecodable request"),
        "{message}"
    );
}

#[tokio::test]
async fn calls_fail_as_not_ready_once_the_link_is_gone() {
    let (jd, node) = link_pair(LinkConfig::jd(), LinkConfig::node()).await;
    // A call in flight when the peer closes fails at once, not at its deadline.
    let in_flight = tokio::spawn({
        let jd = jd.clone();
        async move { jd.call("Echo", Bytes::from_static(&[250]), LONG).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await; // let the request reach the node
    node.close();
    let started = Instant::now();
    assert_eq!(
        within("the pending call to fail", in_flight).await.unwrap(),
        Err(CallError::NotReady)
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        within("the JD side to end", jd.ended()).await,
        LinkEnd::ClosedByPeer { code: Some(1000) }
    );
    let after = jd.call("Echo", Bytes::new(), LONG).await.unwrap_err();
    assert_eq!(after, CallError::NotReady);
    assert_eq!(after.to_string(), "connection is not ready");
}

/// Panics on every request.
struct Panics;

#[async_trait::async_trait]
impl offchain_wsrpc::rpc::Service for Panics {
    async fn handle(&self, _method: &str, _payload: Bytes) -> Result<Bytes, String> {
        panic!("a bug in a handler");
    }
}

#[tokio::test]
async fn a_panicking_handler_answers_an_error_and_the_link_stays_up() {
    let (server, client) = common::ws_pair(&LinkConfig::jd(), &LinkConfig::node()).await;
    let jd = Link::spawn(server, LinkConfig::jd(), Arc::new(common::Echo));
    let node = Link::spawn(client, LinkConfig::node(), Arc::new(Panics));
    let error = jd.call("ProposeJob", Bytes::new(), LONG).await.unwrap_err();
    assert_eq!(error, CallError::Remote("internal error".into()));
    assert_eq!(node.end(), None);
    assert_eq!(
        node.call("Echo", Bytes::from_static(b"\0up"), LONG)
            .await
            .unwrap()
            .as_ref(),
        b"\0up"
    );
}
