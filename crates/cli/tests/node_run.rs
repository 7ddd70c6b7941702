//! `offchain node run`, `offchain node proposals …`, `node jobs …` and `node runs …`: the
//! built binary runs a node, the CLI drives its API, and the JSON output has the issue's
//! shapes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::json;

mod node_support;
mod support;
use node_support::{JD_KEY, Running, node_run};
use support::Run;

const BIN: &str = env!("CARGO_BIN_EXE_offchain");
const ID: &str = "0eec7e1d-d0d2-476c-a1a8-72dfb6633f46";

fn proposals(api: &str, args: &[&str]) -> Run {
    proposals_as("json", api, args)
}

fn proposals_as(format: &str, api: &str, args: &[&str]) -> Run {
    node_cli("proposals", format, api, args)
}

/// `offchain node COMMAND --api API --format FORMAT ARGS…`.
fn node_cli(command: &str, format: &str, api: &str, args: &[&str]) -> Run {
    let output = Command::new(BIN)
        .args(["node", command, "--api", api, "--format", format])
        .args(args)
        .env_remove("OFFCHAIN_NODE_API_TOKEN")
        .output()
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test]
async fn the_cli_lists_shows_and_decides_on_a_running_node() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, api) = node_run(dir.path());
    assert_eq!(proposals(&api, &["list"]).ok().json(), json!([]));

    // A proposal arrives (written to the node's store as the link would).
    let spec = format!("type = \"webhook\"\nexternalJobID = \"{ID}\"\n");
    let store = offchain_node::Store::open(&dir.path().join("data"))
        .await
        .unwrap();
    store.receive(JD_KEY, ID, 1, &spec).await.unwrap();

    assert_eq!(
        proposals(&api, &["list"]).ok().json(),
        json!([{"uuid": ID, "jd": JD_KEY, "state": "pending", "version": 1}])
    );
    // The table is laid out like the JD's: titles flush left, no padding before a column.
    let table = proposals_as("table", &api, &["list"]).ok().stdout.clone();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("UUID "), "{table}");
    assert!(lines[1].starts_with(ID), "{table}");
    assert_eq!(lines[0].find("JD"), lines[1].find(JD_KEY), "{table}");
    assert_eq!(lines[0].find("STATE"), lines[1].find("pending"), "{table}");

    let shown = json!({"uuid": ID, "jd": JD_KEY, "state": "pending",
                       "versions": [{"version": 1, "state": "pending", "spec": spec}]});
    assert_eq!(proposals(&api, &["show", ID]).ok().json(), shown);

    // The JD is unreachable: the approval is undone and the CLI exits 1 saying why.
    proposals(&api, &["approve", ID, "--version", "1"])
        .fails(1, "the JD did not take the approval");
    assert_eq!(proposals(&api, &["show", ID]).ok().json(), shown);

    let rejected = proposals(&api, &["reject", ID]).ok().json();
    assert_eq!(rejected["state"], "rejected");
    assert_eq!(rejected["versions"][0]["state"], "rejected");

    proposals(&api, &["show", "7b8c4a43-5b1e-4d4a-9c2a-000000000000"]).fails(1, "404");
    store.close().await;
}

#[tokio::test]
async fn the_cli_lists_jobs_runs_a_webhook_job_and_shows_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    // An approved proposal in the store before the node starts: its job starts with it.
    let spec = format!(
        "type = \"webhook\"\nschemaVersion = 1\nname = \"echo\"\nexternalJobID = \"{ID}\"\n\
         observationSource = \"\"\"\nparse [type=\"jsonparse\" path=\"n\" data=\"$(jobRun.requestBody)\"]\n\"\"\"\n"
    );
    let store = offchain_node::Store::open(&dir.path().join("data"))
        .await
        .unwrap();
    store.receive(JD_KEY, ID, 1, &spec).await.unwrap();
    store.approve(JD_KEY, ID, Some(1)).await.unwrap();
    store.close().await;
    let (_node, api) = node_run(dir.path());

    assert_eq!(
        node_cli("jobs", "json", &api, &["list"]).ok().json(),
        json!([{"uuid": ID, "name": "echo", "type": "webhook", "version": 1, "state": "active"}])
    );
    let run = node_cli("jobs", "json", &api, &["run", ID, "--body", r#"{"n": 7}"#])
        .ok()
        .json();
    assert_eq!(run["state"], "completed");
    assert_eq!(run["errors"], json!([null]));
    let id = run["id"].as_str().unwrap();
    // A body that is not JSON fails the run: exit 1, the run still shown.
    let failed = node_cli("jobs", "json", &api, &["run", ID, "--body", "nope"]);
    assert_eq!(failed.code, Some(1), "{failed:#?}");
    assert_eq!(failed.json()["state"], "errored");

    let page = node_cli("runs", "json", &api, &[ID]).ok().json();
    assert_eq!(page["runs"].as_array().unwrap().len(), 2);
    assert_eq!(page["runs"][1]["id"], id);
    assert_eq!(page["next"], json!(null));
    let one = node_cli("runs", "json", &api, &[ID, id]).ok().json();
    assert_eq!(one["tasks"][0]["name"], "parse");
    assert_eq!(one["outputs"], run["outputs"]);
    let table = node_cli("runs", "table", &api, &[ID, id])
        .ok()
        .stdout
        .clone();
    assert!(table.contains("state    completed"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("parse ")), "{table}");

    node_cli(
        "jobs",
        "json",
        &api,
        &["run", "7b8c4a43-5b1e-4d4a-9c2a-000000000000"],
    )
    .fails(1, "job does not exist");
}

/// Reads `stderr` line by line on a thread of its own; the lines arrive on the receiver.
fn stderr_lines(stderr: std::process::ChildStderr) -> std::sync::mpsc::Receiver<String> {
    let (lines, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// The first line from `lines` containing every one of `needles` (within 30 s).
fn line_with(lines: &std::sync::mpsc::Receiver<String>, needles: &[&str]) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if needles.iter().all(|n| line.contains(n)) => return line,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("no line with {needles:?} in {seen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_run_logs_link_up_and_down_naming_the_node_and_the_jd() {
    use offchain::proto::node::RegisterNodeRequest;
    use offchain::{Provider, RemoteConfig, RemoteProvider};
    use offchain_jd::server::{self, ServeOptions, ServerConfig};

    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: "sqlite::memory:".into(),
        csa_secret: offchain_jd::csa::throwaway_secret(),
        auth: None,
    };
    let options = ServeOptions {
        node_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..ServeOptions::default()
    };
    let jd = server::start_with(config, options).await.unwrap();
    let jd_uri = jd.node_addr().unwrap().to_string();
    let jd_key = jd.jd().csa_keys().public_key_hex();

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"alpha\"\ndata_dir = \"data\"\n\n[[job_distributors]]\n\
             uri = \"{jd_uri}\"\npublic_key = \"{jd_key}\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n"
        ),
    )
    .unwrap();
    let keys = Command::new(BIN)
        .args(["node", "keys", "--format", "json", "--config"])
        .arg(&config)
        .env("OFFCHAIN_NODE_PASSWORD", "pw")
        .output()
        .unwrap();
    let keys: serde_json::Value = serde_json::from_slice(&keys.stdout).unwrap();
    let client = RemoteProvider::new(RemoteConfig::new(format!("http://{}", jd.local_addr())))
        .unwrap()
        .initialize()
        .await
        .unwrap();
    client
        .register_node(RegisterNodeRequest {
            name: "alpha".into(),
            public_key: keys["csa_public_key"].as_str().unwrap().to_owned(),
            labels: Vec::new(),
        })
        .await
        .unwrap();

    let mut child = Command::new(BIN)
        .args(["node", "run", "--config"])
        .arg(&config)
        .env("OFFCHAIN_NODE_PASSWORD", "pw")
        .env_remove("OFFCHAIN_NODE_API_TOKEN")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(child.stderr.take().unwrap());
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let _node = Running(child, stdout);

    let jd_field = format!("jd={jd_uri}");
    let up = line_with(&lines, &["link up", "node=alpha", &jd_field]);
    assert!(up.contains("INFO"), "{up}");
    // The JD going away ends the link: one line says so, with why.
    jd.shutdown().await.unwrap();
    let down = line_with(&lines, &["link down", "node=alpha", &jd_field]);
    assert!(down.contains("reason="), "{down}");
}
