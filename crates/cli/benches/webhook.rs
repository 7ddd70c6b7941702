//! Webhook runs per second on one node: `offchain up --ephemeral --nodes 1` (the built
//! binary: an embedded JD, one node with its SQLite store, the coin-market adapter with
//! its mock provider), the example job `bridge → jsonparse → multiply` proposed through
//! the client and auto-approved, then `RUNS` webhook triggers from `CLIENTS` concurrent
//! HTTP clients. Every run is persisted by the node before it answers; the adapter serves
//! repeated requests from its cache. Prints runs/s and p50/p99/max latency; every answer
//! must be `completed` with the mock price × 100, or the bench fails.
//!
//! `cargo bench -p offchain-cli --bench webhook` (env `WEBHOOK_RUNS`, `WEBHOOK_CLIENTS`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use offchain::helpers;
use offchain::proto::job::{GetProposalRequest, ProposalStatus};
use offchain::selector::parse_selectors;
use offchain::{Provider, RemoteConfig, RemoteProvider};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_offchain");
const LIMIT: Duration = Duration::from_secs(60);
const WARMUP: usize = 200;

struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn var(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn state(up: &mut Up, path: &Path) -> Value {
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return serde_json::from_str(&text).unwrap();
        }
        assert!(up.0.try_wait().unwrap().is_none(), "offchain up exited");
        assert!(started.elapsed() < LIMIT, "offchain up not ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Triggers `count` runs from `clients` tasks; returns each run's latency.
async fn fire(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    count: usize,
    clients: usize,
) -> Vec<Duration> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (http, url, token, next) =
            (http.clone(), url.to_owned(), token.to_owned(), next.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let sent = Instant::now();
                let run: Value = http
                    .post(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                latencies.push(sent.elapsed());
                assert_eq!(run["state"], "completed", "{run}");
                assert_eq!(run["outputs"][0], "301255", "{run}");
            }
            latencies
        });
    }
    let mut all = Vec::with_capacity(count);
    while let Some(latencies) = tasks.join_next().await {
        all.extend(latencies.unwrap());
    }
    all
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    offchain::install_crypto_provider();
    let runs = var("WEBHOOK_RUNS", 20_000);
    let clients = var("WEBHOOK_CLIENTS", 32);
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.json");
    let mut up = Up(Command::new(BIN)
        .args(["up", "--ephemeral", "--nodes", "1", "--state-file"])
        .arg(&state_file)
        .env_remove("API_URL")
        .env_remove("API_KEY")
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let state = state(&mut up, &state_file).await;
    let node = &state["nodes"][0];
    let client = RemoteProvider::new(RemoteConfig::new(state["jd"]["grpc"].as_str().unwrap()))
        .unwrap()
        .initialize()
        .await
        .unwrap();
    let outcomes = helpers::propose_to_matching(
        client.as_ref(),
        EXAMPLE,
        &[],
        parse_selectors("env=local").unwrap(),
    )
    .await
    .unwrap();
    let proposal = outcomes[0].result.as_ref().unwrap().id.clone();
    let started = Instant::now();
    loop {
        let status = client
            .get_proposal(GetProposalRequest {
                id: proposal.clone(),
            })
            .await
            .unwrap()
            .proposal
            .unwrap()
            .status();
        if status == ProposalStatus::Approved {
            break;
        }
        assert!(started.elapsed() < LIMIT, "not approved: {status:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let url = format!(
        "{}/v2/jobs/{EXAMPLE_ID}/runs",
        node["api"].as_str().unwrap()
    );
    let token = node["api_token"].as_str().unwrap();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    fire(&http, &url, token, WARMUP, clients).await;
    let started = Instant::now();
    let mut latencies = fire(&http, &url, token, runs, clients).await;
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    println!(
        "webhook bridge→jsonparse→multiply, 1 node, {runs} runs, {clients} clients: \
         {:.0} runs/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        runs as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3,
    );
    // The node kept them: its runs API pages through its SQLite table.
    let listed: Value = http
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!listed["runs"].as_array().unwrap().is_empty(), "{listed}");
}

// `up`'s example job (the binary's modules are not importable from a bench); `up`'s own
// tests check its spec.
const EXAMPLE_ID: &str = "7d3c2b1a-5e4f-4a6b-8c7d-9e0f1a2b3c4d";
const EXAMPLE: &str = r#"type = "webhook"
schemaVersion = 1
name = "eth-usd-x100"
externalJobID = "7d3c2b1a-5e4f-4a6b-8c7d-9e0f1a2b3c4d"
observationSource = """
    price [type=bridge name="coin-market" requestData=<{"data": {"coin": "ETH", "market": "USD"}}>]
    parse [type=jsonparse path="data,result"]
    scale [type=multiply times=100]
    price -> parse -> scale
"""
"#;
