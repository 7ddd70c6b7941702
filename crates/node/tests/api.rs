//! The node's approval HTTP API in process: a [`Node`] started from a `node.toml`, linked to
//! a fake JD over real TCP + TLS, driven over HTTP with reqwest.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::{Call, FakeJd, key};
use offchain_node::api::{self, ApiToken};
use offchain_node::jobs::{Jobs, no_bridges};
use offchain_node::{Keystore, Node, NodeConfig, NodePassword};
use offchain_wsrpc::keys::PublicKey;
use serde_json::{Value, json};
use tower::ServiceExt;

const JD: u8 = 1;
const ID: &str = "0eec7e1d-d0d2-476c-a1a8-72dfb6633f46";
const UNKNOWN: &str = "7b8c4a43-5b1e-4d4a-9c2a-000000000000";

fn spec(note: &str) -> String {
    format!("type = \"webhook\"\nexternalJobID = \"{ID}\"\nname = \"{note}\"\n")
}

fn password() -> NodePassword {
    NodePassword::new("correct horse battery staple".to_owned()).unwrap()
}

struct Running {
    node: Node,
    jd: FakeJd,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A node linked to a fake JD, its link up; `token` protects its API.
async fn start(token: Option<&str>) -> Running {
    let dir = tempfile::tempdir().unwrap();
    // The node's key must be known to the JD before the node dials it.
    let keystore = Keystore::open_or_create(dir.path(), &password()).unwrap();
    let node_key = PublicKey::from_bytes(keystore.csa_public_key());
    let mut jd = FakeJd::start(JD, &[node_key]).await;
    let config = NodeConfig::parse(&format!(
        "name = \"node-a\"\ndata_dir = {:?}\n\n[[job_distributors]]\nuri = \"{}\"\n\
         public_key = \"{}\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n",
        dir.path().to_str().unwrap(),
        jd.address,
        key(JD).to_hex()
    ))
    .unwrap();
    let node = Node::start(&config, &password(), token.and_then(ApiToken::new))
        .await
        .unwrap();
    assert_eq!(node.csa_public_key(), keystore.csa_public_key_hex());
    assert!(matches!(jd.next_call().await, Call::UpdateNode(_)));
    Running {
        base: format!("http://{}", node.api_address()),
        node,
        jd,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Running {
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).send().await;
        answer(response.unwrap()).await
    }

    async fn post(&self, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.unwrap()).await
    }

    async fn propose(&self, version: i64, note: &str) {
        let jd = key(JD).to_hex();
        self.node
            .store()
            .receive(&jd, ID, version, &spec(note))
            .await
            .unwrap();
    }
}

async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn list_show_approve_reject_cancel_over_http() {
    let mut running = start(None).await;
    let jd = key(JD).to_hex();
    assert_eq!(
        running.get("/v2/proposals").await,
        (StatusCode::OK, json!([]))
    );

    running.propose(1, "first").await;
    let (status, list) = running.get("/v2/proposals").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list,
        json!([{"uuid": ID, "jd": jd, "state": "pending", "version": 1}])
    );
    let (status, shown) = running.get(&format!("/v2/proposals/{ID}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        shown,
        json!({"uuid": ID, "jd": jd, "state": "pending",
               "versions": [{"version": 1, "state": "pending", "spec": spec("first")}]})
    );

    // Approve: ApprovedJob reaches the JD, the proposal is approved.
    let (status, approved) = running
        .post(
            &format!("/v2/proposals/{ID}/approve"),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["state"], "approved");
    assert_eq!(
        running.jd.next_call().await,
        Call::ApprovedJob(ID.to_owned(), 1)
    );

    // Approving again is an invalid transition.
    let (status, error) = running
        .post(&format!("/v2/proposals/{ID}/approve"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        error["error"].as_str().unwrap().contains("cannot approve"),
        "{error}"
    );

    // Cancel the active job: CancelledJob reaches the JD.
    let (status, cancelled) = running
        .post(&format!("/v2/proposals/{ID}/cancel"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(
        running.jd.next_call().await,
        Call::CancelledJob(ID.to_owned(), 1)
    );

    // A new version, rejected: RejectedJob reaches the JD.
    running.propose(2, "second").await;
    let (status, rejected) = running
        .post(&format!("/v2/proposals/{ID}/reject"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["versions"][1]["state"], "rejected");
    assert_eq!(
        running.jd.next_call().await,
        Call::RejectedJob(ID.to_owned(), 2)
    );

    // Unknown and malformed ids.
    let (status, error) = running.get(&format!("/v2/proposals/{UNKNOWN}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error["error"].as_str().unwrap().contains("not found"));
    let (status, _) = running
        .post(&format!("/v2/proposals/{UNKNOWN}/approve"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = running.get("/v2/proposals/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    running.node.shutdown().await;
}

#[tokio::test]
async fn an_approval_the_jd_refuses_is_undone_with_its_answer() {
    let mut running = start(None).await;
    running
        .jd
        .answers
        .refuse_approvals
        .store(true, Ordering::SeqCst);
    running.propose(1, "first").await;

    let (status, error) = running
        .post(&format!("/v2/proposals/{ID}/approve"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{error}");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("the JD did not take the approval")
    );
    assert!(matches!(
        running.jd.next_call().await,
        Call::ApprovedJob(..)
    ));
    let (_, shown) = running.get(&format!("/v2/proposals/{ID}")).await;
    assert_eq!(shown["state"], "pending", "the approval is undone");

    running.node.shutdown().await;
}

#[tokio::test]
async fn a_token_is_required_when_configured() {
    let running = start(Some("s3cret-token")).await;
    let url = format!("{}/v2/proposals", running.base);

    let none = running.http.get(&url).send().await.unwrap();
    assert_eq!(none.status().as_u16(), 401);
    let body: Value = none.json().await.unwrap();
    assert!(body["error"].is_string());
    let wrong = running
        .http
        .get(&url)
        .bearer_auth("s3cret-tokeN")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let right = running
        .http
        .get(&url)
        .bearer_auth("s3cret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status().as_u16(), 200);

    running.node.shutdown().await;
}

#[tokio::test]
async fn without_a_token_only_loopback_callers_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = offchain_node::Store::open(dir.path()).await.unwrap();
    let bridges = offchain_node::bridges::Registry::load(store.clone())
        .await
        .unwrap();
    let jobs = Jobs::new(store.clone(), no_bridges(), "http://127.0.0.1:1".to_owned()).unwrap();
    let router = api::router(
        store.clone(),
        HashMap::new(),
        bridges.clone(),
        None,
        jobs.clone(),
    );
    let call = |peer: &str| {
        let mut request = Request::get("/v2/proposals").body(Body::empty()).unwrap();
        let peer: SocketAddr = peer.parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    };
    assert_eq!(
        call("192.0.2.7:4000").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(call("[::1]:4000").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        call("127.0.0.1:4000").await.unwrap().status(),
        StatusCode::OK
    );

    // With a token, a remote caller holding it is served.
    let router = api::router(store, HashMap::new(), bridges, ApiToken::new("t"), jobs);
    let mut request = Request::get("/v2/proposals")
        .header("authorization", "Bearer t")
        .body(Body::empty())
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo("192.0.2.7:4000".parse::<SocketAddr>().unwrap()));
    assert_eq!(
        router.oneshot(request).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused() {
    let running = start(None).await;
    running.propose(1, "first").await;
    let url = format!("{}/v2/proposals/{ID}/approve", running.base);
    let huge = running
        .http
        .post(&url)
        .body(vec![b' '; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status().as_u16(), 413);
    let (status, error) = running
        .post(
            &format!("/v2/proposals/{ID}/approve"),
            Some(json!({"version": "one"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["error"].as_str().unwrap().starts_with("invalid body"));
    running.node.shutdown().await;
}
