//! `offchain up`: the built binary starts a JD, nodes and the adapter in one process; the
//! state file has the contract's exact shape, the JD (through the `offchain` client) sees
//! every node connected with its labels, node APIs need their tokens, the adapter answers,
//! SIGTERM stops everything with exit 0, and a persistent data directory keeps keys and ids.
//! End to end: a webhook job with a bridge task proposed by label through the client is
//! approved on every node and each node's run gives the adapter's price × 100; `offchain
//! demo` does the same flow (and reads each run back through the JD's `GetJobRuns`), exit 0.

use std::collections::BTreeSet;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use offchain::helpers;
use offchain::proto::job::{GetProposalRequest, ProposalStatus};
use offchain::proto::node::ListNodesRequest;
use offchain::selector::parse_selectors;
use offchain::{Provider, RemoteConfig, RemoteProvider};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_offchain");
/// Generous: the machine is shared; `up` itself is ready in well under a second.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Kills `up` when a test fails before stopping it.
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Up {
    fn start(args: &[&str], state_file: &Path) -> Up {
        let child = Command::new(BIN)
            .arg("up")
            .args(args)
            .arg("--state-file")
            .arg(state_file)
            .env_remove("API_URL")
            .env_remove("API_KEY")
            .env("RUST_LOG", "off")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Up(child)
    }

    /// Waits for the state file (written once every node is connected) and parses it.
    async fn state(&mut self, path: &Path) -> Value {
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(path) {
                return serde_json::from_str(&text).unwrap();
            }
            if let Some(status) = self.0.try_wait().unwrap() {
                panic!("offchain up exited before it was ready: {status}");
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "no state file after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM and waits for the exit; returns the status and everything on stdout.
    async fn terminate(&mut self) -> (ExitStatus, String) {
        let pid = self.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "still running 60 s after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let mut stdout = String::new();
        if let Some(mut out) = self.0.stdout.take() {
            out.read_to_string(&mut stdout).unwrap();
        }
        (status, stdout)
    }
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

/// The URL of the node's `coin-market` bridge, read through its API with its token.
async fn bridge_url(node: &Value) -> String {
    let url = format!(
        "{}/v2/bridge_types/coin-market",
        node["api"].as_str().unwrap()
    );
    let answer = reqwest::Client::new()
        .get(&url)
        .bearer_auth(node["api_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200, "{url}");
    let bridge: Value = answer.json().await.unwrap();
    bridge["url"].as_str().unwrap().to_owned()
}

fn address(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_a_connected_network_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.json");
    let mut up = Up::start(&["--ephemeral", "--nodes", "3"], &state_file);
    let state = up.state(&state_file).await;

    // The exact shape of the contract.
    assert_eq!(keys(&state), BTreeSet::from(["jd", "nodes", "adapters"]));
    let jd = &state["jd"];
    assert_eq!(
        keys(jd),
        BTreeSet::from(["grpc", "node_listen", "csa_public_key"])
    );
    let grpc = jd["grpc"].as_str().unwrap();
    assert!(grpc.starts_with("http://127.0.0.1:"), "{grpc}");
    let node_listen = jd["node_listen"].as_str().unwrap();
    assert!(node_listen.starts_with("127.0.0.1:"), "{node_listen}");
    assert_eq!(jd["csa_public_key"].as_str().unwrap().len(), 64);
    let nodes = state["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    for (i, node) in nodes.iter().enumerate() {
        let name = format!("node-{}", i + 1);
        assert_eq!(
            keys(node),
            BTreeSet::from(["name", "id", "api", "api_token", "csa_public_key", "labels"])
        );
        assert_eq!(node["name"], name.as_str());
        assert!(node["id"].as_str().unwrap().starts_with("node_"), "{node}");
        assert!(
            node["api"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:")
        );
        assert_eq!(node["api_token"].as_str().unwrap().len(), 64);
        assert_eq!(node["csa_public_key"].as_str().unwrap().len(), 64);
        assert_eq!(node["labels"], json!({"env": "local", "node": name}));
    }
    let adapters = state["adapters"].as_array().unwrap();
    assert_eq!(adapters.len(), 1);
    assert_eq!(
        keys(&adapters[0]),
        BTreeSet::from(["name", "url", "bridge"])
    );
    assert_eq!(adapters[0]["name"], "coin-market");
    assert_eq!(adapters[0]["bridge"], "coin-market");
    let adapter_url = adapters[0]["url"].as_str().unwrap();

    // The JD, through the client library: every node connected, with its labels.
    let client = RemoteProvider::new(RemoteConfig::new(grpc))
        .unwrap()
        .initialize()
        .await
        .unwrap();
    let listed = client
        .list_nodes(ListNodesRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.nodes.len(), 3);
    for node in nodes {
        let seen = listed
            .nodes
            .iter()
            .find(|n| n.id == node["id"].as_str().unwrap())
            .unwrap_or_else(|| panic!("the JD does not know {node}"));
        assert!(seen.is_connected, "{} is not connected", seen.name);
        assert_eq!(seen.public_key, node["csa_public_key"].as_str().unwrap());
        let labels: BTreeSet<(&str, Option<&str>)> = seen
            .labels
            .iter()
            .map(|l| (l.key.as_str(), l.value.as_deref()))
            .collect();
        assert_eq!(
            labels,
            BTreeSet::from([("env", Some("local")), ("node", node["name"].as_str())])
        );
    }

    // Each node's API answers its token only.
    let http = reqwest::Client::new();
    for node in nodes {
        let url = format!("{}/v2/proposals", node["api"].as_str().unwrap());
        let token = node["api_token"].as_str().unwrap();
        let with = http.get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(with.status().as_u16(), 200, "{url} with its token");
        let without = http.get(&url).send().await.unwrap();
        assert_eq!(without.status().as_u16(), 401, "{url} without a token");
        let wrong = http.get(&url).bearer_auth("wrong").send().await.unwrap();
        assert_eq!(wrong.status().as_u16(), 401, "{url} with a wrong token");
        // Every node knows the adapter as the bridge the example job names.
        assert_eq!(bridge_url(node).await, adapter_url);
    }

    // The adapter answers with the mock provider's price.
    let answer: Value = http
        .post(adapter_url)
        .json(&json!({"data": {"coin": "ETH", "market": "USD"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["result"], json!(3012.55), "{answer}");

    let (status, stdout) = up.terminate().await;
    assert_eq!(status.code(), Some(0), "exit after SIGTERM");
    assert!(stdout.contains("ready in "), "{stdout}");
    assert!(stdout.contains("jobs propose"), "{stdout}");
    let mut ports = vec![
        address(grpc),
        node_listen.parse().unwrap(),
        address(adapter_url),
    ];
    ports.extend(nodes.iter().map(|n| address(n["api"].as_str().unwrap())));
    for addr in ports {
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
            "{addr} still accepts connections after exit"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_the_same_data_dir_keeps_keys_ids_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data = data_dir.to_str().unwrap();
    let first_file = dir.path().join("first.json");
    let mut up = Up::start(&["--nodes", "2", "--data-dir", data], &first_file);
    let first = up.state(&first_file).await;
    assert_eq!(up.terminate().await.0.code(), Some(0));

    let second_file = dir.path().join("second.json");
    let mut up = Up::start(&["--nodes", "2", "--data-dir", data], &second_file);
    let second = up.state(&second_file).await;

    // The example job `up` wrote runs against its adapter: the mock price × 100.
    let adapter = second["adapters"][0]["url"].as_str().unwrap();
    // The adapter has a new port; each node's bridge follows it.
    for node in second["nodes"].as_array().unwrap() {
        assert_eq!(bridge_url(node).await, adapter);
    }
    let run = Command::new(BIN)
        .args(["job", "run", "--format", "json", "--bridge"])
        .arg(format!("coin-market={adapter}"))
        .arg(data_dir.join("example-job.toml"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let run: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(run["state"], "completed", "{run}");
    assert_eq!(run["outputs"], json!(["301255"]), "{run}");

    assert_eq!(up.terminate().await.0.code(), Some(0));

    assert_eq!(
        first["jd"]["csa_public_key"],
        second["jd"]["csa_public_key"]
    );
    for field in ["name", "id", "csa_public_key", "api_token"] {
        let values = |state: &Value| -> Vec<Value> {
            state["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n[field].clone())
                .collect()
        };
        assert_eq!(values(&first), values(&second), "{field}");
    }
    assert!(data_dir.join("jd.db").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for secret in [
            "jd-csa-secret",
            "nodes/node-1/api-token",
            "nodes/node-1/password",
        ] {
            let mode = std::fs::metadata(data_dir.join(secret))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{secret}");
        }
    }
}

/// A webhook job with a bridge task, as an operator would write one (not `up`'s example).
const E2E_JOB_ID: &str = "2f1e0d9c-8b7a-4c6d-9e5f-4a3b2c1d0e9f";
const E2E_JOB: &str = r#"type = "webhook"
schemaVersion = 1
name = "e2e-eth-usd"
externalJobID = "2f1e0d9c-8b7a-4c6d-9e5f-4a3b2c1d0e9f"
observationSource = """
    fetch [type=bridge name="coin-market" requestData=<{"data": {"coin": "ETH", "market": "USD"}}>]
    parse [type=jsonparse path="data,result"]
    scale [type=multiply times=100]
    fetch -> parse -> scale
"""
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_proposed_by_label_is_approved_and_runs_on_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.json");
    let mut up = Up::start(&["--ephemeral", "--nodes", "3"], &state_file);
    let state = up.state(&state_file).await;
    let nodes = state["nodes"].as_array().unwrap();
    let client = RemoteProvider::new(RemoteConfig::new(state["jd"]["grpc"].as_str().unwrap()))
        .unwrap()
        .initialize()
        .await
        .unwrap();

    // Proposed to every node by label, through the client library.
    let selectors = parse_selectors("env=local").unwrap();
    let outcomes = helpers::propose_to_matching(client.as_ref(), E2E_JOB, &[], selectors)
        .await
        .unwrap();
    let mut proposed: Vec<&str> = outcomes.iter().map(|o| o.node_id.as_str()).collect();
    proposed.sort_unstable();
    let mut expected: Vec<&str> = nodes.iter().map(|n| n["id"].as_str().unwrap()).collect();
    expected.sort_unstable();
    assert_eq!(proposed, expected);

    // Every proposal becomes APPROVED (policy auto).
    for outcome in &outcomes {
        let id = outcome.result.as_ref().unwrap().id.clone();
        let started = Instant::now();
        loop {
            let proposal = client
                .get_proposal(GetProposalRequest { id: id.clone() })
                .await
                .unwrap()
                .proposal
                .unwrap();
            match proposal.status() {
                ProposalStatus::Approved => break,
                ProposalStatus::Proposed | ProposalStatus::Pending => {}
                other => panic!("{}: {other:?}", outcome.node_id),
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "{} not approved after 60 s",
                outcome.node_id
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    // The adapter's price, asked directly; each node's run must give it × 100.
    let http = reqwest::Client::new();
    let adapter: Value = http
        .post(state["adapters"][0]["url"].as_str().unwrap())
        .json(&json!({"data": {"coin": "ETH", "market": "USD"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let price = adapter["result"].as_f64().unwrap();
    for node in nodes {
        let runs = format!(
            "{}/v2/jobs/{E2E_JOB_ID}/runs",
            node["api"].as_str().unwrap()
        );
        let token = node["api_token"].as_str().unwrap();
        let answer = http.post(&runs).bearer_auth(token).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 200, "{runs}");
        let run: Value = answer.json().await.unwrap();
        assert_eq!(run["state"], "completed", "{run}");
        let output: f64 = run["outputs"][0].as_str().unwrap().parse().unwrap();
        assert!(
            (output - price * 100.0).abs() < 1e-6,
            "{}: {output} is not {price} × 100",
            node["name"]
        );
        // The node keeps the run: its runs API lists it.
        let listed: Value = http
            .get(&runs)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed["runs"][0]["id"], run["id"], "{listed}");
        assert_eq!(listed["runs"][0]["outputs"], run["outputs"], "{listed}");
    }
    assert_eq!(up.terminate().await.0.code(), Some(0));
}

#[test]
fn demo_runs_the_whole_flow_prints_every_step_and_exits_0() {
    let demo = Command::new(BIN)
        .args(["demo", "--nodes", "3"])
        .env_remove("API_URL")
        .env_remove("API_KEY")
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&demo.stdout);
    assert!(
        demo.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    for step in [
        "1. network",
        "2. proposed",
        "3. approved on 3/3",
        "4. ",
        "5. ",
        "6. network stopped",
    ] {
        assert!(stdout.contains(step), "no step {step:?}:\n{stdout}");
    }
    // One row per node: the run completed with the mock price × 100, and the JD read the
    // same run back over the node's link (GetJobRuns).
    for node in ["node-1", "node-2", "node-3"] {
        let row = stdout
            .lines()
            .find(|line| line.starts_with(node))
            .unwrap_or_else(|| panic!("no row for {node}:\n{stdout}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[2..5], ["completed", "301255", "301255"], "{row}");
        assert_eq!(cells[5..], ["run", "1", "completed"], "{row}");
    }
}
