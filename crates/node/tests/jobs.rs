//! Jobs on the node over real HTTP: a [`Node`] linked to a fake JD, a local axum "adapter"
//! reached by an `http` task, webhook and cron runs, the runs API and `GetJobRuns`.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::StatusCode;
use axum::routing::post;
use chrono::{DateTime, Utc};
use common::{Call, FakeJd, LIMIT, key};
use offchain_node::api::ApiToken;
use offchain_node::{Keystore, Node, NodeConfig, NodePassword};
use offchain_proto::cfm;
use offchain_wsrpc::keys::PublicKey;
use offchain_wsrpc::rpc::Link;
use serde_json::{Value, json};
use tokio::sync::Mutex;

const JD: u8 = 1;
const ID: &str = "3f0c2a9e-8b7d-4e6f-9a1b-2c3d4e5f6a7b";
const UNKNOWN: &str = "7b8c4a43-5b1e-4d4a-9c2a-000000000000";
const TOKEN: &str = "node-api-token";

fn password() -> NodePassword {
    NodePassword::new("correct horse battery staple".to_owned()).unwrap()
}

/// A webhook job: the coin from the request body goes to the adapter; its price × 100.
fn webhook_spec(adapter: &str) -> String {
    r#"type = "webhook"
schemaVersion = 1
name = "price"
externalJobID = "JOB_UUID"
observationSource = """
fetch [type="http" method=POST url="ADAPTER/price" allowUnrestrictedNetworkAccess=true requestData=<{"coin": $(jobRun.requestBody.coin)}>]
parse [type="jsonparse" path="data,result" data="$(fetch)"]
scale [type="multiply" input="$(parse)" times=100]
fetch -> parse -> scale
"""
"#
    .replace("JOB_UUID", ID)
    .replace("ADAPTER", adapter)
}

fn cron_spec() -> String {
    r#"type = "cron"
schemaVersion = 1
name = "tick"
externalJobID = "JOB_UUID"
schedule = "@every 1s"
observationSource = """
one [type="memo" value=1]
"""
"#
    .replace("JOB_UUID", ID)
}

/// The adapter: `{"coin": "ETH"}` → 3012.55, anything else → 500. Records the coins asked.
async fn adapter() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let app = axum::Router::new().route(
        "/price",
        post(move |Json(body): Json<Value>| {
            let seen = recorded.clone();
            async move {
                let coin = body["coin"].as_str().unwrap_or("").to_owned();
                seen.lock().await.push(coin.clone());
                if coin == "ETH" {
                    (StatusCode::OK, Json(json!({"data": {"result": 3012.55}})))
                } else {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Json(json!({"error": "unknown coin"})),
                    )
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, seen)
}

struct Running {
    node: Node,
    jd: FakeJd,
    link: Link,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    start_with("").await
}

/// A node whose `node.toml` ends with `extra`.
async fn start_with(extra: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let keystore = Keystore::open_or_create(dir.path(), &password()).unwrap();
    let node_key = PublicKey::from_bytes(keystore.csa_public_key());
    let mut jd = FakeJd::start(JD, &[node_key]).await;
    let config = NodeConfig::parse(&format!(
        "name = \"node-a\"\ndata_dir = {:?}\n\n[[job_distributors]]\nuri = \"{}\"\n\
         public_key = \"{}\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n{extra}",
        dir.path().to_str().unwrap(),
        jd.address,
        key(JD).to_hex()
    ))
    .unwrap();
    let node = Node::start(&config, &password(), ApiToken::new(TOKEN))
        .await
        .unwrap();
    assert!(matches!(jd.next_call().await, Call::UpdateNode(_)));
    let link = jd.next_link().await;
    Running {
        base: format!("http://{}", node.api_address()),
        node,
        jd,
        link,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Running {
    async fn call(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.bearer_auth(TOKEN).send().await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn trigger(&self, id: &str, body: &str) -> (StatusCode, Value) {
        let url = format!("{}/v2/jobs/{id}/runs", self.base);
        self.call(self.http.post(url).body(body.to_owned())).await
    }

    /// Proposes `spec` as version `version` and approves it over the API.
    async fn approve(&mut self, version: i64, spec: &str) -> StatusCode {
        let jd = key(JD).to_hex();
        self.node
            .store()
            .receive(&jd, ID, version, spec)
            .await
            .unwrap();
        let url = format!("{}/v2/proposals/{ID}/approve", self.base);
        self.call(self.http.post(url)).await.0
    }

    async fn runs(&self) -> Vec<Value> {
        let (status, page) = self.get(&format!("/v2/jobs/{ID}/runs?limit=1000")).await;
        assert_eq!(status, StatusCode::OK);
        page["runs"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn webhook_runs_with_a_body_are_stored_and_served_newest_first() {
    let (adapter, seen) = adapter().await;
    let mut running = start().await;
    assert_eq!(
        running.approve(1, &webhook_spec(&adapter)).await,
        StatusCode::OK
    );
    assert_eq!(
        running.jd.next_call().await,
        Call::ApprovedJob(ID.into(), 1)
    );
    assert_eq!(
        running.get("/v2/jobs").await,
        (
            StatusCode::OK,
            json!([{"uuid": ID, "name": "price", "type": "webhook", "version": 1, "state": "active"}])
        )
    );

    let (status, first) = running.trigger(ID, r#"{"coin": "ETH"}"#).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["state"], "completed");
    assert_eq!(first["outputs"], json!(["301255"]));
    assert_eq!(first["errors"], json!([null]));
    assert_eq!(seen.lock().await.as_slice(), ["ETH"]);

    // An errored run is still 200, with the adapter's failure as the final error.
    let (status, second) = running.trigger(ID, r#"{"coin": "DOGE"}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["state"], "errored");
    assert_eq!(second["outputs"], json!([null]));
    assert!(second["errors"][0].is_string(), "{second}");
    let (_, third) = running.trigger(ID, r#"{"coin": "ETH"}"#).await;

    // Newest first, two per page, then the rest.
    let (status, page) = running.get(&format!("/v2/jobs/{ID}/runs?limit=2")).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&Value> = page["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(ids, [&third["id"], &second["id"]]);
    let cursor = page["next"].as_str().expect("a next page").to_owned();
    let (status, rest) = running
        .get(&format!("/v2/jobs/{ID}/runs?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rest["runs"].as_array().unwrap().len(), 1);
    assert_eq!(rest["runs"][0]["id"], first["id"]);
    assert_eq!(rest["next"], Value::Null);
    let (status, _) = running
        .get(&format!("/v2/jobs/{ID}/runs?cursor=nonsense"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // One run by id, with its tasks.
    let run_id = first["id"].as_str().unwrap();
    let (status, run) = running.get(&format!("/v2/jobs/{ID}/runs/{run_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run["state"], "completed");
    assert_eq!(run["outputs"], json!(["301255"]));
    let tasks: Vec<(&str, &str)> = run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        tasks,
        [
            ("fetch", "http"),
            ("parse", "jsonparse"),
            ("scale", "multiply")
        ]
    );
    assert_eq!(run["tasks"][2]["output"], "301255");
    assert!(run["tasks"][0]["duration_ms"].is_u64());
    let created: DateTime<Utc> = run["created_at"].as_str().unwrap().parse().unwrap();
    let finished: DateTime<Utc> = run["finished_at"].as_str().unwrap().parse().unwrap();
    assert!(created <= finished);
    let (status, _) = running.get(&format!("/v2/jobs/{ID}/runs/{UNKNOWN}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // GetJobRuns over the link answers from the same table, newest first.
    let answer: cfm::GetJobRunsResponse = running
        .link
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
    let states: Vec<&str> = answer.runs.iter().map(|r| r.state.as_str()).collect();
    assert_eq!(states, ["completed", "errored", "completed"]);
    assert!(answer.runs[0].run_id > answer.runs[2].run_id);
    assert!(answer.runs[1].finished_at.is_some());
    assert_eq!(answer.runs[1].fatal_errors.len(), 1);
    assert!(answer.runs[0].fatal_errors.is_empty());
}

#[tokio::test]
async fn webhook_refusals_and_auth() {
    let (adapter, _) = adapter().await;
    let mut running = start().await;
    assert_eq!(
        running.approve(1, &webhook_spec(&adapter)).await,
        StatusCode::OK
    );

    // No token, a wrong one: 401 on every job route.
    let url = format!("{}/v2/jobs/{ID}/runs", running.base);
    let none = running.http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(none.status().as_u16(), 401);
    let wrong = running
        .http
        .get(&url)
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let list = running
        .http
        .get(format!("{}/v2/jobs", running.base))
        .send()
        .await;
    assert_eq!(list.unwrap().status().as_u16(), 401);

    assert_eq!(
        running.trigger(UNKNOWN, "{}").await,
        (
            StatusCode::NOT_FOUND,
            json!({"error": "job does not exist"})
        )
    );
    assert_eq!(
        running.trigger("not-a-uuid", "{}").await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "bad job ID"})
        )
    );
    let (status, _) = running.get(&format!("/v2/jobs/{UNKNOWN}/runs")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bodies up to 32 KiB are taken (the decisions' 4 KiB limit does not apply); more is not.
    let big = format!(r#"{{"coin": "ETH", "pad": "{}"}}"#, "x".repeat(30_000));
    let (status, run) = running.trigger(ID, &big).await;
    assert_eq!(
        (status, &run["state"]),
        (StatusCode::OK, &json!("completed"))
    );
    let (status, _) = running.trigger(ID, &"x".repeat(33_000)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_refused_approval_leaves_no_job_a_newer_version_replaces_it_delete_stops_it() {
    let (adapter, _) = adapter().await;
    let mut running = start().await;
    running
        .jd
        .answers
        .refuse_approvals
        .store(true, Ordering::SeqCst);
    assert_eq!(
        running.approve(1, &webhook_spec(&adapter)).await,
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(running.get("/v2/jobs").await, (StatusCode::OK, json!([])));
    assert_eq!(running.trigger(ID, "{}").await.0, StatusCode::NOT_FOUND);

    running
        .jd
        .answers
        .refuse_approvals
        .store(false, Ordering::SeqCst);
    assert_eq!(
        running.approve(2, &webhook_spec(&adapter)).await,
        StatusCode::OK
    );
    assert_eq!(running.get("/v2/jobs").await.1[0]["version"], 2);
    let spec = webhook_spec(&adapter).replace("name = \"price\"", "name = \"price-v3\"");
    assert_eq!(running.approve(3, &spec).await, StatusCode::OK);
    let (_, jobs) = running.get("/v2/jobs").await;
    assert_eq!(
        (&jobs[0]["version"], &jobs[0]["name"]),
        (&json!(3), &json!("price-v3"))
    );
    assert_eq!(jobs.as_array().unwrap().len(), 1);

    // The JD deletes the proposal: its job stops.
    let deleted: cfm::DeleteJobResponse = running
        .link
        .call_message("DeleteJob", &cfm::DeleteJobRequest { id: ID.into() }, LIMIT)
        .await
        .unwrap();
    assert_eq!(deleted.id, ID);
    assert_eq!(running.get("/v2/jobs").await, (StatusCode::OK, json!([])));
    assert_eq!(running.trigger(ID, "{}").await.0, StatusCode::NOT_FOUND);
    // Its runs stay readable.
    assert_eq!(
        running.get(&format!("/v2/jobs/{ID}/runs")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn cron_runs_on_its_schedule_and_cancel_stops_it() {
    let mut running = start().await;
    assert_eq!(running.approve(1, &cron_spec()).await, StatusCode::OK);
    let deadline = Instant::now() + LIMIT;
    let runs = loop {
        let runs = running.runs().await;
        if runs.len() >= 2 {
            break runs;
        }
        assert!(
            Instant::now() < deadline,
            "two cron runs within {LIMIT:?}: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(runs.iter().all(|r| r["state"] == "completed"), "{runs:?}");
    assert_eq!(runs[0]["outputs"], json!(["1"]));
    // A cron job is not triggered by the webhook.
    assert_eq!(running.trigger(ID, "").await.0, StatusCode::NOT_FOUND);

    let url = format!("{}/v2/proposals/{ID}/cancel", running.base);
    assert_eq!(running.call(running.http.post(url)).await.0, StatusCode::OK);
    let cancelled_at = Utc::now();
    assert_eq!(running.get("/v2/jobs").await, (StatusCode::OK, json!([])));
    // Two periods later no run has started since the cancel (a run already going may end).
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    for run in running.runs().await {
        let created: DateTime<Utc> = run["created_at"].as_str().unwrap().parse().unwrap();
        assert!(
            created < cancelled_at,
            "a run started after the cancel: {run}"
        );
    }
}

#[tokio::test]
async fn approved_jobs_start_again_with_the_node() {
    let (adapter, _) = adapter().await;
    let mut running = start().await;
    assert_eq!(
        running.approve(1, &webhook_spec(&adapter)).await,
        StatusCode::OK
    );
    let (_, jobs) = running.get("/v2/jobs").await;
    let Running { node, jd, _dir, .. } = running;
    node.shutdown().await;

    let config = NodeConfig::parse(&format!(
        "name = \"node-a\"\ndata_dir = {:?}\n\n[[job_distributors]]\nuri = \"{}\"\n\
         public_key = \"{}\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n",
        _dir.path().to_str().unwrap(),
        jd.address,
        key(JD).to_hex()
    ))
    .unwrap();
    let node = Node::start(&config, &password(), ApiToken::new(TOKEN))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{}", node.api_address());
    let listed: Value = http
        .get(format!("{base}/v2/jobs"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, jobs);
    let run: Value = http
        .post(format!("{base}/v2/jobs/{ID}/runs"))
        .bearer_auth(TOKEN)
        .body(r#"{"coin": "ETH"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["outputs"], json!(["301255"]));
}

#[tokio::test]
async fn under_the_auto_policy_the_job_runs_before_the_jd_is_told() {
    let (adapter, _) = adapter().await;
    let mut running = start_with("\n[approval]\npolicy = \"auto\"\n").await;
    running
        .jd
        .answers
        .hold_approvals
        .store(true, Ordering::SeqCst);
    let request = cfm::ProposeJobRequest {
        id: ID.into(),
        spec: webhook_spec(&adapter),
        multiaddrs: vec![],
        version: 1,
    };
    let _: cfm::ProposeJobResponse = running
        .link
        .call_message("ProposeJob", &request, LIMIT)
        .await
        .unwrap();
    // The JD holds its answer to ApprovedJob: the job must already run.
    assert_eq!(
        running.jd.next_call().await,
        Call::ApprovedJob(ID.into(), 1)
    );
    let (status, run) = running.trigger(ID, r#"{"coin": "ETH"}"#).await;
    assert_eq!(
        (status, &run["outputs"]),
        (StatusCode::OK, &json!(["301255"]))
    );
    running.jd.answers.release_approvals.notify_one();
}
