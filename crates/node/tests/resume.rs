//! Async bridge tasks over real HTTP (issue 10, item 3; bridge.md §4): a local axum
//! "adapter" answers `{"pending": true}`, the webhook run suspends, and the adapter's PATCH
//! (current or classic form) resumes it — across a node restart too — or the sweep fails it
//! once the task's timeout passed.

mod common;

use std::path::Path;
use std::time::Instant;

use axum::Json;
use axum::routing::post;
use common::{Call, FakeJd, LIMIT, key};
use offchain_node::api::ApiToken;
use offchain_node::{Keystore, Node, NodeConfig, NodePassword};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const JD: u8 = 1;
const ID: &str = "5d1c2a9e-8b7d-4e6f-9a1b-2c3d4e5f6a7b";
const UNKNOWN: &str = "7b8c4a43-5b1e-4d4a-9c2a-000000000000";
const TOKEN: &str = "node-api-token";

fn password() -> NodePassword {
    NodePassword::new("correct horse battery staple".to_owned()).unwrap()
}

/// An async bridge whose answer flows through jsonparse → multiply; `extra` goes into the
/// bridge task's attributes.
fn spec(extra: &str) -> String {
    r#"type = "webhook"
schemaVersion = 1
name = "async-price"
externalJobID = "JOB_UUID"
observationSource = """
fetch [type="bridge" name="slow" async=true EXTRA requestData=<{"coin": $(jobRun.requestBody.coin)}>]
parse [type="jsonparse" path="data,result" data="$(fetch)"]
scale [type="multiply" input="$(parse)" times=100]
fetch -> parse -> scale
"""
"#
    .replace("JOB_UUID", ID)
    .replace("EXTRA", extra)
}

/// The adapter: answers every request `{"pending": true}` and hands its body to the test.
async fn adapter() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/",
        post(move |Json(body): Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                Json(json!({"pending": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, rx)
}

struct Running {
    node: Node,
    _jd: FakeJd,
    base: String,
    http: reqwest::Client,
    config: NodeConfig,
    adapter: mpsc::UnboundedReceiver<Value>,
    /// The bridge's incoming token.
    incoming: String,
    _dir: tempfile::TempDir,
}

async fn start_node(config: &NodeConfig) -> Node {
    Node::start(config, &password(), ApiToken::new(TOKEN))
        .await
        .unwrap()
}

/// A node with bridge `slow` to the adapter and the job of `spec(extra)` approved.
async fn start(extra: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let keystore = Keystore::open_or_create(dir.path(), &password()).unwrap();
    let node_key = offchain_wsrpc::keys::PublicKey::from_bytes(keystore.csa_public_key());
    let mut jd = FakeJd::start(JD, &[node_key]).await;
    let config = config(dir.path(), &jd);
    let node = start_node(&config).await;
    // Approving needs the link up.
    assert!(matches!(jd.next_call().await, Call::UpdateNode(_)));
    let _link = jd.next_link().await;
    let (adapter, rx) = adapter().await;
    let mut running = Running {
        base: format!("http://{}", node.api_address()),
        node,
        _jd: jd,
        http: reqwest::Client::new(),
        config,
        adapter: rx,
        incoming: String::new(),
        _dir: dir,
    };
    let (status, bridge) = running
        .call(
            running.http.post(running.url("/v2/bridge_types")),
            Some(json!({"name": "slow", "url": adapter})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bridge}");
    running.incoming = bridge["incomingToken"].as_str().unwrap().to_owned();
    let jd = key(JD).to_hex();
    running
        .node
        .store()
        .receive(&jd, ID, 1, &spec(extra))
        .await
        .unwrap();
    let approve = running
        .http
        .post(running.url(&format!("/v2/proposals/{ID}/approve")));
    assert_eq!(running.call(approve, None).await.0, StatusCode::OK);
    running
}

/// Port 0 in `listen`: the restarted node binds a new port, and its `responseURL`s follow.
fn config(dir: &Path, jd: &FakeJd) -> NodeConfig {
    NodeConfig::parse(&format!(
        "name = \"node-a\"\ndata_dir = {:?}\n\n[[job_distributors]]\nuri = \"{}\"\n\
         public_key = \"{}\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n",
        dir.to_str().unwrap(),
        jd.address,
        key(JD).to_hex()
    ))
    .unwrap()
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let request = request.bearer_auth(TOKEN);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Triggers a run; answers the run (suspended) and the `responseURL` the adapter got.
    async fn suspend(&mut self) -> (Value, String) {
        let trigger = self.http.post(self.url(&format!("/v2/jobs/{ID}/runs")));
        let (status, run) = self.call(trigger.body(r#"{"coin": "ETH"}"#), None).await;
        assert_eq!(status, StatusCode::OK, "{run}");
        assert_eq!(run["state"], "suspended", "{run}");
        let request = tokio::time::timeout(LIMIT, self.adapter.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(request["coin"], "ETH");
        let url = request["responseURL"].as_str().unwrap().to_owned();
        (run, url)
    }

    /// `PATCH url` with `body` (raw text) and bearer `token`, as an adapter sends it.
    async fn patch(&self, url: &str, token: Option<&str>, body: &str) -> (StatusCode, String) {
        let mut request = self
            .http
            .patch(url)
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn run(&self, id: &str) -> Value {
        let get = self.http.get(self.url(&format!("/v2/jobs/{ID}/runs/{id}")));
        let (status, run) = self.call(get, None).await;
        assert_eq!(status, StatusCode::OK, "{run}");
        run
    }
}

#[tokio::test]
async fn a_value_resumes_the_run_through_jsonparse_and_multiply_once() {
    let mut running = start("").await;
    let (run, url) = running.suspend().await;
    let run_id = run["id"].as_str().unwrap();
    let prefix = format!("{}/v2/resume/", running.base);
    assert!(url.starts_with(&prefix), "{url}");
    let task_uuid = &url[prefix.len()..];
    assert!(uuid::Uuid::try_parse(task_uuid).is_ok());
    assert_eq!(running.run(run_id).await["finished_at"], Value::Null);

    // Refusals leave it suspended: no token, a wrong one, the API token, bad bodies.
    let value = r#"{"value": {"data": {"result": 3012.55}}}"#;
    assert_eq!(
        running.patch(&url, None, value).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        running.patch(&url, Some("wrong"), value).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        running.patch(&url, Some(TOKEN), value).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The incoming token of another bridge is not the one of the bridge the task called.
    let (status, other) = running
        .call(
            running.http.post(running.url("/v2/bridge_types")),
            Some(json!({"name": "other", "url": "http://127.0.0.1:9/"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let other = other["incomingToken"].as_str().unwrap();
    assert_eq!(
        running.patch(&url, Some(other), value).await.0,
        StatusCode::UNAUTHORIZED
    );
    let incoming = running.incoming.clone();
    for bad in [
        "{not json",
        "[1]",
        r#"{"value": 1, "error": "x"}"#,
        r#"{"other": 1}"#,
        r#"{"error": 7}"#,
    ] {
        assert_eq!(
            running.patch(&url, Some(&incoming), bad).await.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    let huge = format!(r#"{{"value": "{}"}}"#, "x".repeat(40 * 1024));
    assert_eq!(
        running.patch(&url, Some(&incoming), &huge).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let bad_uuid = format!("{prefix}not-a-uuid");
    assert_eq!(
        running.patch(&bad_uuid, Some(&incoming), value).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let unknown = format!("{prefix}{UNKNOWN}");
    assert_eq!(
        running.patch(&unknown, Some(&incoming), value).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(running.run(run_id).await["state"], "suspended");

    let (status, body) = running.patch(&url, Some(&incoming), value).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "");
    let run = running.run(run_id).await;
    assert_eq!(run["state"], "completed", "{run}");
    assert_eq!(run["outputs"], json!(["301255"]));
    assert!(run["finished_at"].is_string());

    // Answered once: a second PATCH finds nothing, and the run is unchanged.
    let again = r#"{"error": "late"}"#;
    assert_eq!(
        running.patch(&url, Some(&incoming), again).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(running.run(run_id).await["state"], "completed");
}

#[tokio::test]
async fn an_error_fails_the_run() {
    let mut running = start("").await;
    let (run, url) = running.suspend().await;
    let incoming = running.incoming.clone();
    let (status, _) = running
        .patch(&url, Some(&incoming), r#"{"error": "provider down"}"#)
        .await;
    assert_eq!(status, StatusCode::OK);
    let run = running.run(run["id"].as_str().unwrap()).await;
    assert_eq!(run["state"], "errored", "{run}");
    assert_eq!(run["tasks"][0]["error"], "provider down");
}

#[tokio::test]
async fn the_classic_form_resumes_by_run_id_and_pending_keeps_waiting() {
    let mut running = start("").await;
    let (run, _) = running.suspend().await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    let url = running.url(&format!("/v2/runs/{run_id}"));
    let incoming = running.incoming.clone();
    let answer = r#"{"jobRunID": "1", "data": {"result": 2}, "statusCode": 200}"#;

    assert_eq!(
        running.patch(&url, None, answer).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        running.patch(&url, Some("wrong"), answer).await.0,
        StatusCode::UNAUTHORIZED
    );
    let unknown = running.url(&format!("/v2/runs/{UNKNOWN}"));
    assert_eq!(
        running.patch(&unknown, Some(&incoming), answer).await.0,
        StatusCode::NOT_FOUND
    );
    for bad in ["{", r#"{"data": 5}"#, r#"{"pending": "yes"}"#] {
        assert_eq!(
            running.patch(&url, Some(&incoming), bad).await.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }

    let (status, body) = running
        .patch(&url, Some(&incoming), r#"{"pending": true}"#)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"id": run_id})
    );
    assert_eq!(running.run(&run_id).await["state"], "suspended");

    let (status, body) = running.patch(&url, Some(&incoming), answer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"id": run_id})
    );
    let run = running.run(&run_id).await;
    assert_eq!(run["state"], "completed", "{run}");
    assert_eq!(run["outputs"], json!(["200"]));

    // Not waiting any more.
    assert_eq!(
        running.patch(&url, Some(&incoming), answer).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn a_suspended_run_survives_a_node_restart() {
    let mut running = start("").await;
    let (run, url) = running.suspend().await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    let task_uuid = url.rsplit('/').next().unwrap().to_owned();

    running.node.shutdown().await;
    // Port 0: the restarted node listens elsewhere; the task keeps its uuid.
    running.node = start_node(&running.config).await;
    running.base = format!("http://{}", running.node.api_address());
    assert_eq!(running.run(&run_id).await["state"], "suspended");

    let url = running.url(&format!("/v2/resume/{task_uuid}"));
    let incoming = running.incoming.clone();
    let (status, _) = running
        .patch(
            &url,
            Some(&incoming),
            r#"{"value": {"data": {"result": 1.5}}}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let run = running.run(&run_id).await;
    assert_eq!(run["state"], "completed", "{run}");
    assert_eq!(run["outputs"], json!(["150"]));
}

#[tokio::test]
async fn the_sweep_fails_a_run_past_its_task_timeout() {
    let mut running = start(r#"timeout="1s""#).await;
    let (run, url) = running.suspend().await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    // The sweep runs every second: poll until it failed the run (bounded).
    let started = Instant::now();
    let run = loop {
        let run = running.run(&run_id).await;
        if run["state"] != "suspended" {
            break run;
        }
        assert!(started.elapsed() < LIMIT, "still suspended after {LIMIT:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(run["state"], "errored", "{run}");
    assert_eq!(run["tasks"][0]["error"], offchain_node::jobs::TIMED_OUT);
    // A late answer finds nothing.
    let incoming = running.incoming.clone();
    assert_eq!(
        running
            .patch(&url, Some(&incoming), r#"{"value": 1}"#)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn of_two_racing_patches_exactly_one_resumes() {
    let mut running = start("").await;
    let (run, url) = running.suspend().await;
    let incoming = running.incoming.clone();
    let (a, b) = tokio::join!(
        running.patch(
            &url,
            Some(&incoming),
            r#"{"value": {"data": {"result": 1}}}"#
        ),
        running.patch(
            &url,
            Some(&incoming),
            r#"{"value": {"data": {"result": 2}}}"#
        ),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::NOT_FOUND]);
    let run = running.run(run["id"].as_str().unwrap()).await;
    assert_eq!(run["state"], "completed");
    let expected = if a.0 == StatusCode::OK { "100" } else { "200" };
    assert_eq!(run["outputs"], json!([expected]));
}
