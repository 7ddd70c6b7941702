//! End-to-end tests of the `offchain` binary: each test starts its own JD (embedded in the
//! test process, or `offchain jd serve` as a child) on an ephemeral port and runs the built
//! binary against it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use offchain::proto::job::{ListJobsRequest, ProposeJobRequest};
use offchain::proto::label::Label;
use offchain::proto::node::{
    Chain, ChainConfig, ChainType, DisableNodeRequest, Node, RegisterNodeRequest,
};
use offchain::{Client, EmbeddedProvider, Provider};
use serde_json::Value;

mod support;
use support::Run;

const BIN: &str = env!("CARGO_BIN_EXE_offchain");
/// Generous: the machine is shared with other builds.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A spec that passes the check `jobs propose` makes before sending.
const SPEC: &str = r#"
type = "webhook"
schemaVersion = 1
externalJobID = "0b5b2c2e-6e5a-4f0c-9c55-8b7e1f7b3a11"
observationSource = """
    price [type=bridge name="coin-market" requestData=<{"data": {"base": "ETH"}}>]
    parse [type=jsonparse path="data,result"]
    price -> parse
"""
"#;

/// A command for the binary with none of the caller's JD settings leaking in.
fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for var in [
        "JD_GRPC",
        "JD_TOKEN",
        "JD_GRPC_LISTEN",
        "DATABASE_URL",
        "CSA_KEY_ENCRYPTION_SECRET",
        "JD_AUTH_TOKEN_HASHES",
        "JD_AUTH_TOKEN_HASHES_FILE",
        "JD_REQUEST_TIMEOUT",
        "JD_TLS_CERT",
        "JD_TLS_KEY",
        "JD_MAX_CONCURRENT_REQUESTS",
        "JD_NODE_HEALTH_LISTEN",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    // Every JD these tests start listens for nodes on a free port, never the default 8080.
    command.env("JD_NODE_LISTEN", "127.0.0.1:0");
    command
}

/// Reads a pipe to the end on its own thread, so a full pipe never blocks the child.
fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// Waits for `child` up to `timeout`, killing it when it overstays.
fn wait(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("offchain did not finish within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the binary to completion (blocking), with `stdin` as its standard input.
fn run_blocking(mut command: Command, stdin: Option<String>) -> Run {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn offchain");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).unwrap();
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait(&mut child, COMMAND_TIMEOUT);
    Run {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Runs the binary off the async runtime, which keeps serving the embedded JD meanwhile.
async fn run(command: Command) -> Run {
    tokio::task::spawn_blocking(move || run_blocking(command, None))
        .await
        .unwrap()
}

/// An embedded JD and a client to set up state with.
struct Jd {
    provider: EmbeddedProvider,
    client: Arc<dyn Client>,
    endpoint: String,
}

impl Jd {
    async fn start() -> Jd {
        let provider = EmbeddedProvider::new();
        let client = provider.initialize().await.unwrap();
        let endpoint = provider.endpoint().unwrap();
        Jd {
            provider,
            client,
            endpoint,
        }
    }

    /// `offchain jd <args> --endpoint <this JD>`, unless `args` name an endpoint themselves.
    async fn offchain(&self, args: &[&str]) -> Run {
        let mut command = command(&["jd"]);
        command.args(args);
        if !args.contains(&"--endpoint") {
            command.args(["--endpoint", &self.endpoint]);
        }
        run(command).await
    }

    async fn register(&self, name: &str, key: u8, labels: Vec<Label>) -> Node {
        let request = RegisterNodeRequest {
            name: name.into(),
            public_key: format!("{key:02x}").repeat(32),
            labels,
        };
        self.client
            .register_node(request)
            .await
            .unwrap()
            .node
            .unwrap()
    }

    /// node-a (env=prod, bootstrap), node-b (env=test), node-c (env=prod).
    async fn three_nodes(&self) -> [Node; 3] {
        [
            self.register(
                "node-a",
                0xaa,
                vec![Label::new("env", "prod"), Label::flag("bootstrap")],
            )
            .await,
            self.register("node-b", 0xbb, vec![Label::new("env", "test")])
                .await,
            self.register("node-c", 0xcc, vec![Label::new("env", "prod")])
                .await,
        ]
    }
}

fn ids(json: &Value, list: &str) -> Vec<String> {
    json[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} array in {json}"))
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect()
}

fn write_spec(dir: &Path, text: &str) -> String {
    let path = dir.join("job.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_list_prints_an_aligned_table() {
    let jd = Jd::start().await;
    let nodes = jd.three_nodes().await;

    let out = jd.offchain(&["nodes", "list"]).await;
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "header and three rows: {out:#?}");
    let header = lines[0];
    assert!(header.starts_with("ID "), "{header}");
    for title in ["NAME", "PUBLIC KEY", "ENABLED", "LABELS", "CREATED"] {
        assert!(header.contains(title), "{title} missing from {header}");
    }
    let name_col = header.find("NAME").unwrap();
    let labels_col = header.find("LABELS").unwrap();
    for (row, node) in lines[1..].iter().zip(&nodes) {
        assert!(row.starts_with(&node.id), "{row}");
        assert_eq!(row.find(&node.name), Some(name_col), "{out:#?}");
        assert!(row.contains(&node.public_key), "{row}");
        assert!(!row.ends_with(' '), "trailing spaces: {row:?}");
    }
    assert_eq!(lines[1].find("env=prod,bootstrap"), Some(labels_col));
    assert_eq!(lines[2].find("env=test"), Some(labels_col));
    // RFC 3339 UTC to the second.
    let created = lines[1].split_whitespace().last().unwrap();
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "{created}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_list_json_follows_the_protobuf_mapping() {
    let jd = Jd::start().await;
    let nodes = jd.three_nodes().await;
    jd.client
        .disable_node(DisableNodeRequest {
            id: nodes[1].id.clone(),
        })
        .await
        .unwrap();

    let out = jd.offchain(&["nodes", "list", "--format", "json"]).await;
    let json = out.ok().json();
    assert_eq!(json["totalCount"], 3, "{json}");
    let listed = json["nodes"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0]["id"], nodes[0].id.as_str());
    assert_eq!(listed[0]["name"], "node-a");
    assert_eq!(listed[0]["publicKey"], "aa".repeat(32));
    assert_eq!(listed[0]["isEnabled"], true);
    // Default values are written out, so `false` is there to read.
    assert_eq!(listed[1]["isEnabled"], false);
    assert_eq!(listed[0]["isConnected"], false);
    assert_eq!(
        listed[0]["labels"],
        serde_json::json!([{"key": "env", "value": "prod"}, {"key": "bootstrap"}])
    );
    assert!(listed[0]["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(listed[0].get("is_enabled").is_none(), "proto names leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_and_state_filter_nodes() {
    let jd = Jd::start().await;
    let [a, b, c] = jd.three_nodes().await;
    jd.client
        .disable_node(DisableNodeRequest { id: c.id.clone() })
        .await
        .unwrap();

    let cases: [(&[&str], Vec<&str>); 7] = [
        (&["-l", "env=prod,!bootstrap"], vec![&c.id]),
        (&["-l", "env in (prod,test)"], vec![&a.id, &b.id, &c.id]),
        (&["-l", "bootstrap"], vec![&a.id]),
        (&["-l", "env!=prod"], vec![&b.id]),
        (&["-l", "env=prod", "-l", "!bootstrap"], vec![&c.id]),
        (&["--disabled"], vec![&c.id]),
        (&["-l", "env=prod", "--enabled"], vec![&a.id]),
    ];
    for (filter, expected) in cases {
        let mut args = vec!["nodes", "list", "--format", "json"];
        args.extend_from_slice(filter);
        let json = jd.offchain(&args).await.ok().json();
        assert_eq!(ids(&json, "nodes"), expected, "{filter:?}");
    }

    // Paging: total_count counts every match; the table says what is left out.
    let out = jd
        .offchain(&["nodes", "list", "--page-size", "2", "--page", "2"])
        .await;
    out.ok();
    assert_eq!(out.stdout.lines().count(), 2, "{out:#?}");
    assert!(out.stdout.contains(&c.id), "{out:#?}");
    assert!(out.stderr.contains("showing 1 of 3"), "{out:#?}");

    let out = jd.offchain(&["nodes", "list", "-l", "env=none"]).await;
    out.ok();
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("no nodes found"), "{out:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propose_by_selector_prints_each_nodes_outcome() {
    let jd = Jd::start().await;
    let [a, _, c] = jd.three_nodes().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), SPEC);

    let args = [
        "jobs", "propose", "--spec", &spec, "-l", "env=prod", "--label", "team=a",
    ];
    let out = jd.offchain(&args).await;
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out:#?}");
    assert!(lines[0].starts_with("NODE") && lines[0].contains("RESULT"));
    let result_col = lines[0].find("RESULT").unwrap();
    for (row, (node, name)) in lines[1..].iter().zip([(&a, "node-a"), (&c, "node-c")]) {
        assert!(row.starts_with(&node.id) && row.contains(name), "{row}");
        assert_eq!(row.find("proposed prop_"), Some(result_col), "{out:#?}");
        assert!(row.ends_with("(revision 1)"), "{row}");
    }

    let jobs = jd
        .client
        .list_jobs(ListJobsRequest::default())
        .await
        .unwrap()
        .jobs;
    assert_eq!(jobs.len(), 2);
    assert!(
        jobs.iter()
            .all(|j| j.labels == vec![Label::new("team", "a")])
    );

    // The same spec again is a new revision of the same jobs; JSON is the batch response.
    let mut again = args.to_vec();
    again.extend(["--format", "json"]);
    let json = jd.offchain(&again).await.ok().json();
    let successes = json["successResponses"].as_object().unwrap();
    assert_eq!(successes.len(), 2, "{json}");
    assert_eq!(successes[&a.id]["proposal"]["revision"], "2");
    assert_eq!(
        successes[&a.id]["proposal"]["status"],
        "PROPOSAL_STATUS_PROPOSED"
    );
    assert_eq!(json["failedResponses"], serde_json::json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propose_to_named_nodes_reports_failures_and_exits_non_zero() {
    let jd = Jd::start().await;
    let [a, b, _] = jd.three_nodes().await;
    jd.client
        .disable_node(DisableNodeRequest { id: b.id.clone() })
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), SPEC);

    let out = jd
        .offchain(&[
            "jobs",
            "propose",
            "--spec",
            &spec,
            "--node",
            &a.id,
            "--node",
            &b.id,
            "--node",
            "node_missing",
            "--node",
            &a.id,
        ])
        .await;
    out.fails(1, "the proposal failed on 2 of 3 nodes");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "one row per distinct node: {out:#?}");
    assert!(lines[1].starts_with(&a.id) && lines[1].contains("proposed prop_"));
    assert!(lines[2].starts_with(&b.id) && lines[2].contains("node-b"));
    assert!(
        lines[2].contains("failed:") && lines[2].contains("disabled"),
        "{out:#?}"
    );
    assert!(lines[3].starts_with("node_missing") && lines[3].contains("not found"));

    // A selector matching nothing proposes nothing and says so.
    jd.offchain(&["jobs", "propose", "--spec", &spec, "-l", "env=staging"])
        .await
        .fails(1, "no enabled node matches the selector \"env=staging\"");
    // A spec without externalJobID is valid for a node (one is assigned on creation), so it
    // passes the local check; the JD needs one and fails the whole call with its reason.
    let bad = write_spec(
        dir.path(),
        "type = \"webhook\"\nschemaVersion = 1\nobservationSource = \"a [type=any]\"\n",
    );
    jd.offchain(&["jobs", "propose", "--spec", &bad, "--node", &a.id])
        .await
        .fails(1, "INVALID_ARGUMENT: invalid spec: missing externalJobID");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gives_one_clear_error_line() {
    let jd = Jd::start().await;
    jd.three_nodes().await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml").display().to_string();

    jd.offchain(&["nodes", "list", "-l", "env in (prod"])
        .await
        .fails(2, "bad selector \"env in (prod\": unclosed '('");
    jd.offchain(&[
        "nodes",
        "register",
        "--name",
        "x",
        "--public-key",
        "ab",
        "--label",
        "=v",
    ])
    .await
    .fails(2, "bad label \"=v\"");
    jd.offchain(&["jobs", "propose", "--spec", &missing, "-l", "env=prod"])
        .await
        .fails(1, &format!("cannot read spec file {missing}"));
    jd.offchain(&["nodes", "get", "node_x"])
        .await
        .fails(1, "NOT_FOUND: node node_x not found");
    jd.offchain(&["jobs", "revoke", "job_x"])
        .await
        .fails(1, "NOT_FOUND");
    jd.offchain(&["nodes", "register", "--name", "x", "--public-key", "zz"])
        .await
        .fails(1, "INVALID_ARGUMENT: public_key must be 64 hex characters");

    let unreachable = jd
        .offchain(&["nodes", "list", "--endpoint", "http://127.0.0.1:1"])
        .await;
    unreachable.fails(1, "cannot reach the JD at http://127.0.0.1:1");
    jd.offchain(&["nodes", "list", "--endpoint", "localhost:14231"])
        .await
        .fails(2, "invalid JD endpoint \"localhost:14231\": missing scheme");
    jd.offchain(&["csa", "get", "--endpoint", "ftp://127.0.0.1:1"])
        .await
        .fails(2, "unsupported scheme");

    // The endpoint also comes from JD_GRPC.
    let mut env_endpoint = command(&["jd", "csa", "get"]);
    env_endpoint.env("JD_GRPC", "http://127.0.0.1:1");
    run(env_endpoint)
        .await
        .fails(1, "cannot reach the JD at http://127.0.0.1:1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_are_registered_changed_and_toggled_from_the_command_line() {
    let jd = Jd::start().await;
    let key = "ab".repeat(32);
    let json = jd
        .offchain(&[
            "nodes",
            "register",
            "--name",
            "n1",
            "--public-key",
            &key,
            "--label",
            "env=prod",
            "--label",
            "bootstrap",
            "--format",
            "json",
        ])
        .await
        .ok()
        .json();
    let id = json["node"]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("node_"), "{json}");
    assert_eq!(json["node"]["isEnabled"], true);

    let out = jd
        .offchain(&[
            "nodes", "update", &id, "--name", "n2", "--label", "env=test",
        ])
        .await;
    out.ok();
    assert!(
        out.stdout.contains("n2") && out.stdout.contains("env=test"),
        "{out:#?}"
    );

    let out = jd.offchain(&["nodes", "get", "--public-key", &key]).await;
    out.ok();
    let row = out.stdout.lines().nth(1).unwrap();
    assert!(row.starts_with(&id) && row.contains("n2"), "{out:#?}");
    assert!(!row.contains("bootstrap"), "labels were replaced: {row}");

    let json = jd
        .offchain(&["nodes", "disable", &id, "--format", "json"])
        .await
        .ok()
        .json();
    assert_eq!(json["node"]["isEnabled"], false);
    let json = jd
        .offchain(&["nodes", "enable", &id, "--format", "json"])
        .await
        .ok()
        .json();
    assert_eq!(json["node"]["isEnabled"], true);
    jd.offchain(&["nodes", "register", "--name", "dup", "--public-key", &key])
        .await
        .fails(1, "ALREADY_EXISTS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_and_proposals_can_be_inspected_and_managed() {
    let jd = Jd::start().await;
    let [a, ..] = jd.three_nodes().await;
    let proposal = jd
        .client
        .propose_job(ProposeJobRequest {
            node_id: a.id.clone(),
            spec: SPEC.into(),
            labels: vec![Label::new("team", "a")],
        })
        .await
        .unwrap()
        .proposal
        .unwrap();
    let job_id = proposal.job_id.clone();

    let out = jd.offchain(&["jobs", "list", "-l", "team=a"]).await;
    out.ok();
    assert_eq!(out.stdout.lines().count(), 2, "{out:#?}");
    assert!(out.stdout.contains(&job_id) && out.stdout.contains("0b5b2c2e-"));

    let json = jd
        .offchain(&["jobs", "get", &job_id, "--format", "json"])
        .await
        .ok()
        .json();
    assert_eq!(json["job"]["nodeId"], a.id.as_str());
    assert_eq!(json["job"]["proposalIds"][0], proposal.id.as_str());

    let json = jd
        .offchain(&[
            "jobs",
            "update",
            &job_id,
            "--label",
            "team=b",
            "--rollback-policy-id",
            "3",
            "--format",
            "json",
        ])
        .await
        .ok()
        .json();
    // int64 is a string in the protobuf JSON mapping.
    assert_eq!(json["job"]["rollbackPolicyId"], "3");
    assert_eq!(json["job"]["labels"][0]["value"], "b");

    let out = jd.offchain(&["proposals", "list", "--job", &job_id]).await;
    out.ok();
    assert!(
        out.stdout.lines().nth(1).unwrap().contains("PROPOSED"),
        "{out:#?}"
    );
    let out = jd.offchain(&["proposals", "get", &proposal.id]).await;
    out.ok();
    assert!(
        out.stdout.contains("externalJobID"),
        "spec is shown: {out:#?}"
    );

    let out = jd.offchain(&["jobs", "revoke", &job_id]).await;
    out.ok();
    assert!(out.stdout.contains("REVOKED"), "{out:#?}");
    jd.offchain(&["jobs", "revoke", &job_id])
        .await
        .fails(1, "FAILED_PRECONDITION: job cannot be revoked");

    jd.offchain(&["jobs", "delete", &job_id]).await.ok();
    let out = jd.offchain(&["jobs", "list"]).await;
    out.ok();
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("no jobs found"), "{out:#?}");
    let json = jd
        .offchain(&["jobs", "list", "--include-deleted", "--format", "json"])
        .await
        .ok()
        .json();
    assert_eq!(ids(&json, "jobs"), vec![job_id.clone()]);
    assert!(json["jobs"][0]["deletedAt"].is_string(), "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_configs_and_csa_keys_are_listed() {
    let jd = Jd::start().await;
    let [a, b, _] = jd.three_nodes().await;
    let config = ChainConfig {
        chain: Some(Chain {
            id: "11155111".into(),
            r#type: ChainType::Evm as i32,
        }),
        account_address: "0xabc".into(),
        node_id: a.id.clone(),
        ..Default::default()
    };
    let store = jd.provider.jd().unwrap().store();
    store.replace_chain_configs(&a.id, &[config]).await.unwrap();

    let out = jd
        .offchain(&["nodes", "chain-configs", "--node", &a.id])
        .await;
    out.ok();
    let row = out.stdout.lines().nth(1).unwrap_or_default();
    assert!(row.starts_with(&a.id), "{out:#?}");
    assert!(row.contains("11155111") && row.contains("EVM") && row.contains("0xabc"));
    let json = jd
        .offchain(&[
            "nodes",
            "chain-configs",
            "--node",
            &b.id,
            "--format",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(json, serde_json::json!({"chainConfigs": []}));

    let key = offchain::helpers::jd_public_key(jd.client.as_ref())
        .await
        .unwrap();
    let out = jd.offchain(&["csa", "get"]).await;
    out.ok();
    assert!(
        out.stdout.lines().nth(1).unwrap().contains(&key),
        "{out:#?}"
    );
    let json = jd
        .offchain(&["csa", "list", "--format", "json"])
        .await
        .ok()
        .json();
    assert_eq!(json["keypairs"][0]["publicKey"], key.as_str());
    assert_eq!(json["keypairs"][0]["id"], "1");
}

#[test]
fn hash_token_matches_the_servers_hash_and_reads_stdin() {
    let expected = offchain_jd::auth::hash_token("s3cret");
    let out = run_blocking(command(&["jd", "hash-token", "s3cret"]), None);
    out.ok();
    assert_eq!(out.stdout, format!("{expected}\n"));
    let out = run_blocking(command(&["jd", "hash-token", "-"]), Some("s3cret\n".into()));
    out.ok();
    assert_eq!(out.stdout.trim(), expected);
    run_blocking(command(&["jd", "hash-token", "-"]), Some(String::new()))
        .fails(2, "the token is empty");
}

#[test]
fn serve_refuses_to_start_without_the_csa_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = command(&["jd", "serve", "--grpc-listen", "127.0.0.1:0"]);
    serve.current_dir(dir.path());
    let out = run_blocking(serve, None);
    assert_eq!(out.code, Some(1), "{out:#?}");
    let error = out.stderr.lines().last().unwrap_or_default();
    assert!(
        error.starts_with("error: CSA_KEY_ENCRYPTION_SECRET is not set"),
        "{out:#?}"
    );
    assert!(
        !dir.path().join("offchain-data").exists(),
        "nothing is created before the configuration is complete"
    );

    let mut bad_listen = command(&["jd", "serve", "--dev", "--grpc-listen", "nowhere"]);
    bad_listen.current_dir(dir.path());
    run_blocking(bad_listen, None).fails(2, "invalid listen address \"nowhere\"");
}

/// A running `offchain jd serve` child and what it printed on start.
struct Served {
    child: Child,
    addr: String,
    public_key: String,
    /// The third start-up line after `node listener on `.
    node_listener: String,
    stderr: Option<thread::JoinHandle<String>>,
}

impl Served {
    fn start(mut serve: Command) -> Served {
        serve
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = serve.spawn().expect("spawn offchain jd serve");
        let stderr = drain(child.stderr.take());
        let stdout = child.stdout.take().unwrap();
        // Read the two start-up lines on a thread so a silent server cannot hang the test.
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut take = || lines.next().and_then(Result::ok).unwrap_or_default();
            let _ = tx.send((take(), take(), take()));
        });
        let Ok((listening, key, nodes)) = rx.recv_timeout(COMMAND_TIMEOUT) else {
            let _ = child.kill();
            panic!("serve printed nothing within {COMMAND_TIMEOUT:?}");
        };
        let Some(addr) = listening
            .strip_prefix("listening on ")
            .map(|a| a.strip_prefix("https://").unwrap_or(a))
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "unexpected first line {listening:?}: {}",
                stderr.join().unwrap()
            );
        };
        assert!(!addr.ends_with(":0"), "the real port is printed: {addr}");
        let public_key = key
            .strip_prefix("CSA public key: ")
            .unwrap_or_else(|| panic!("unexpected second line {key:?}"))
            .to_string();
        let node_listener = nodes
            .strip_prefix("node listener on ")
            .unwrap_or_else(|| panic!("unexpected third line {nodes:?}"))
            .to_string();
        Served {
            addr: addr.to_string(),
            child,
            public_key,
            node_listener,
            stderr: Some(stderr),
        }
    }

    fn client(&self, args: &[&str]) -> Command {
        let mut command = command(&["jd"]);
        command
            .args(args)
            .args(["--endpoint", &format!("http://{}", self.addr)]);
        command
    }

    /// Sends SIGTERM and returns the exit status and everything logged.
    fn terminate(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(kill.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let status = wait(&mut self.child, Duration::from_secs(20));
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (status, stderr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Only when a test failed before terminate(): do not leave a server behind.
        if self.stderr.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `offchain jd serve --dev` on a free loopback port, plus `extra`.
fn dev_serve(extra: &[&str]) -> Command {
    let mut serve = command(&["jd", "serve", "--dev", "--grpc-listen", "127.0.0.1:0"]);
    serve.args(extra);
    serve
}

/// Starts `serve`, checks that it answers `nodes list` and stops cleanly on SIGTERM;
/// everything it logged.
fn answers_then_stops(serve: Command) -> String {
    let served = Served::start(serve);
    run_blocking(served.client(&["nodes", "list"]), None).ok();
    let (status, stderr) = served.terminate();
    assert!(status.success(), "{stderr}");
    stderr
}

#[test]
fn serve_names_the_node_listener_and_serves_node_healthz() {
    let served = Served::start(dev_serve(&["--node-health-listen", "127.0.0.1:0"]));
    let (node_addr, health) = served
        .node_listener
        .split_once(", health on ")
        .unwrap_or_else(|| panic!("no health address in {:?}", served.node_listener));
    assert!(
        node_addr.starts_with("127.0.0.1:") && !node_addr.ends_with(":0"),
        "{node_addr}"
    );
    std::net::TcpStream::connect(node_addr).expect("the node listener accepts connections");
    let health = health
        .strip_prefix("http://")
        .and_then(|h| h.strip_suffix("/healthz"))
        .unwrap_or_else(|| panic!("unexpected health URL {health:?}"));
    let mut stream = std::net::TcpStream::connect(health).expect("health answers");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: jd\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (status, stderr) = served.terminate();
    assert!(status.success(), "{stderr}");

    // Without the flag there is no health endpoint; the node listener defaults to 0.0.0.0:8080.
    let help = run_blocking(command(&["jd", "serve", "--help"]), None);
    assert!(help.stdout.contains("JD_NODE_LISTEN"), "{help:#?}");
    assert!(help.stdout.contains("[default: 0.0.0.0:8080]"), "{help:#?}");
    assert!(help.stdout.contains("JD_NODE_HEALTH_LISTEN"), "{help:#?}");
}

#[test]
fn serve_dev_answers_on_the_printed_port_and_stops_on_sigterm() {
    let token_hash = offchain_jd::auth::hash_token("op-token");
    let mut serve = command(&["jd", "serve", "--dev", "--grpc-listen", "127.0.0.1:0"]);
    serve.env("JD_AUTH_TOKEN_HASHES", &token_hash);
    let served = Served::start(serve);
    assert_eq!(served.public_key.len(), 64, "{}", served.public_key);

    run_blocking(served.client(&["nodes", "list"]), None)
        .fails(1, "UNAUTHENTICATED: missing authorization");
    let out = run_blocking(
        served.client(&["nodes", "list", "--format", "json", "--token", "op-token"]),
        None,
    );
    assert_eq!(out.ok().json()["totalCount"], 0);
    let mut with_env_token = served.client(&["csa", "get"]);
    with_env_token.env("JD_TOKEN", "op-token");
    let out = run_blocking(with_env_token, None);
    assert!(out.ok().stdout.contains(&served.public_key), "{out:#?}");

    let (status, stderr) = served.terminate();
    assert!(
        status.success(),
        "graceful shutdown exits 0: {status:?}\n{stderr}"
    );
    assert!(
        stderr.contains("nothing is kept"),
        "dev mode says so: {stderr}"
    );
    assert!(stderr.contains("SIGTERM"), "{stderr}");
}

#[test]
fn serve_keeps_its_csa_key_in_the_default_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let serve = || {
        let mut serve = command(&["jd", "serve"]);
        serve
            .current_dir(dir.path())
            .env("JD_GRPC_LISTEN", "127.0.0.1:0")
            .env("CSA_KEY_ENCRYPTION_SECRET", "a long test secret");
        serve
    };

    let first = Served::start(serve());
    let key = first.public_key.clone();
    let out = run_blocking(
        first.client(&[
            "nodes",
            "register",
            "--name",
            "kept",
            "--public-key",
            &"01".repeat(32),
        ]),
        None,
    );
    out.ok();
    let (status, stderr) = first.terminate();
    assert!(status.success(), "{stderr}");
    assert!(dir.path().join("offchain-data/jd.db").is_file());

    let second = Served::start(serve());
    assert_eq!(second.public_key, key, "the sealed key is reused");
    let out = run_blocking(second.client(&["nodes", "list"]), None);
    assert!(out.ok().stdout.contains("kept"), "{out:#?}");
    let (status, stderr) = second.terminate();
    assert!(status.success(), "{stderr}");

    let mut wrong = serve();
    wrong.env("CSA_KEY_ENCRYPTION_SECRET", "another secret");
    let out = run_blocking(wrong, None);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stderr
            .lines()
            .last()
            .unwrap_or_default()
            .contains("cannot be decrypted"),
        "{out:#?}"
    );
}

#[test]
fn serve_listens_on_loopback_by_default() {
    let out = run_blocking(command(&["jd", "serve", "--help"]), None);
    assert!(
        out.ok().stdout.contains("[default: 127.0.0.1:14231]"),
        "{out:#?}"
    );
}

#[test]
fn serve_refuses_an_open_operator_api_on_a_non_loopback_address() {
    for listen in ["0.0.0.0:0", "[::]:0"] {
        for dev in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let mut serve = command(&["jd", "serve", "--grpc-listen", listen]);
            if dev {
                serve.arg("--dev");
            }
            serve
                .current_dir(dir.path())
                .env("CSA_KEY_ENCRYPTION_SECRET", "a long test secret");
            let out = run_blocking(serve, None);
            out.fails(2, "--insecure-no-auth");
            assert!(out.stderr.contains("--auth-token-hashes-file"), "{out:#?}");
            assert!(
                !dir.path().join("offchain-data").exists(),
                "refused before the database is touched"
            );
        }
    }

    // Tokens make a public address fine; --insecure-no-auth does too, with a warning.
    let mut with_tokens = command(&["jd", "serve", "--dev", "--grpc-listen", "0.0.0.0:0"]);
    with_tokens.env("JD_AUTH_TOKEN_HASHES", offchain_jd::auth::hash_token("t"));
    let (status, stderr) = Served::start(with_tokens).terminate();
    assert!(status.success(), "{stderr}");
    let open = command(&[
        "jd",
        "serve",
        "--dev",
        "--grpc-listen",
        "0.0.0.0:0",
        "--insecure-no-auth",
    ]);
    let stderr = answers_then_stops(open);
    assert!(
        stderr.contains("WARN") && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );
}

#[test]
fn serve_takes_its_limits_from_flags_and_environment() {
    let mut serve = dev_serve(&["--request-timeout", "1500ms"]);
    serve.env("JD_MAX_CONCURRENT_REQUESTS", "7");
    let stderr = answers_then_stops(serve);
    assert!(
        stderr.contains("request_timeout=1.5s") && stderr.contains("max_concurrent_requests=7"),
        "{stderr}"
    );

    for (flag, value) in [
        ("--request-timeout", "0"),
        ("--request-timeout", "soon"),
        ("--max-concurrent-requests", "0"),
    ] {
        let out = run_blocking(dev_serve(&[flag, value]), None);
        assert_eq!(out.code, Some(2), "{flag} {value}: {out:#?}");
        assert!(out.stderr.contains(flag), "{out:#?}");
    }
}

/// A CA and a `localhost` certificate signed by it, written as PEM files into `dir`:
/// (ca, cert, key).
fn tls_files(dir: &Path) -> [String; 3] {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let files = ["ca.pem", "cert.pem", "key.pem"].map(|n| dir.join(n).display().to_string());
    for (path, pem) in files
        .iter()
        .zip([ca.pem(), cert.pem(), key.serialize_pem()])
    {
        std::fs::write(path, pem).unwrap();
    }
    files
}

#[test]
fn serve_speaks_tls_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let [ca, cert, key] = tls_files(dir.path());
    let mut serve = dev_serve(&["--tls-cert", &cert]);
    serve.env("JD_TLS_KEY", &key);
    let served = Served::start(serve);
    let port = served.addr.rsplit(':').next().unwrap().to_string();
    let endpoint = format!("https://localhost:{port}");
    let out = run_blocking(
        command(&[
            "jd",
            "csa",
            "get",
            "--endpoint",
            &endpoint,
            "--ca-cert",
            &ca,
        ]),
        None,
    );
    assert!(out.ok().stdout.contains(&served.public_key), "{out:#?}");
    // Plaintext is not answered; neither is TLS without trusting the CA.
    let plaintext = format!("http://{}", served.addr);
    let out = run_blocking(
        command(&["jd", "csa", "get", "--endpoint", &plaintext]),
        None,
    );
    assert_eq!(out.code, Some(1), "{out:#?}");
    let out = run_blocking(
        command(&["jd", "csa", "get", "--endpoint", &endpoint]),
        None,
    );
    assert_eq!(out.code, Some(1), "{out:#?}");
    let (status, stderr) = served.terminate();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("tls=true"), "{stderr}");

    let missing = dir.path().join("missing.pem").display().to_string();
    let out = run_blocking(
        dev_serve(&["--tls-cert", &cert, "--tls-key", &missing]),
        None,
    );
    assert_eq!(out.code, Some(1), "{out:#?}");
    let error = out.stderr.lines().last().unwrap_or_default();
    assert!(
        error.starts_with("error: cannot read TLS key") && error.contains(&missing),
        "{out:#?}"
    );
}

#[test]
fn serve_writes_json_logs_when_asked() {
    let serve = command(&[
        "jd",
        "serve",
        "--dev",
        "--grpc-listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
    ]);
    let served = Served::start(serve);
    let (status, stderr) = served.terminate();
    assert!(status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "serve logs something");
    for line in lines {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(event["level"].is_string(), "{line}");
    }
}

/// A node's refusal, longer than the proposals table shows (60 characters).
const NODE_ERROR: &str =
    "unsupported job type \"directrequest\": this node runs webhook and cron jobs only";

impl Jd {
    /// Proposes [`SPEC`] to `node`, then records what a node link would: the node refused
    /// the proposal (FAILED with [`NODE_ERROR`]) and, when `refuse_revoke`, a revoke.
    async fn failed_proposal(
        &self,
        node: &Node,
        refuse_revoke: bool,
    ) -> offchain::proto::job::Proposal {
        use offchain::proto::job::ProposalDeliveryStatus;
        let proposal = self
            .client
            .propose_job(ProposeJobRequest {
                node_id: node.id.clone(),
                spec: SPEC.into(),
                labels: Vec::new(),
            })
            .await
            .unwrap()
            .proposal
            .unwrap();
        let store = self.provider.jd().unwrap().store();
        let now = 1_700_000_000_000_000;
        store
            .set_delivery(
                &proposal.id,
                ProposalDeliveryStatus::Failed,
                Some(NODE_ERROR),
                now,
            )
            .await
            .unwrap();
        if refuse_revoke {
            let uuid = "0b5b2c2e-6e5a-4f0c-9c55-8b7e1f7b3a11";
            store
                .record_node_refusal(&node.id, uuid, "RevokeJob", "job is approved", now)
                .await
                .unwrap();
        }
        proposal
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_get_shows_the_nodes_error_and_refusal() {
    let jd = Jd::start().await;
    let [a, ..] = jd.three_nodes().await;
    let proposal = jd.failed_proposal(&a, true).await;

    let out = jd.offchain(&["proposals", "get", &proposal.id]).await;
    out.ok();
    let field = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} line: {out:#?}"))
            .to_owned()
    };
    assert!(field("status").ends_with("PROPOSED"), "{out:#?}");
    assert!(field("delivery").ends_with("FAILED"), "{out:#?}");
    assert!(field("delivery error").ends_with(NODE_ERROR), "{out:#?}");
    assert!(
        field("node refusal")
            .ends_with("RevokeJob refused at 2023-11-14T22:13:20Z: job is approved"),
        "{out:#?}"
    );

    let json = jd
        .offchain(&["proposals", "get", &proposal.id, "--format", "json"])
        .await
        .ok()
        .json();
    assert_eq!(json["proposal"]["id"], proposal.id.as_str());
    assert_eq!(
        json["proposal"]["deliveryStatus"],
        "PROPOSAL_DELIVERY_STATUS_FAILED"
    );
    let delivery = &json["delivery"];
    assert_eq!(delivery["proposalId"], proposal.id.as_str());
    assert_eq!(
        delivery["deliveryStatus"],
        "PROPOSAL_DELIVERY_STATUS_FAILED"
    );
    assert_eq!(delivery["deliveryError"], NODE_ERROR);
    assert_eq!(delivery["nodeRefusal"]["method"], "RevokeJob");
    assert_eq!(delivery["nodeRefusal"]["error"], "job is approved");
    assert_eq!(delivery["nodeRefusal"]["refusedAt"], "2023-11-14T22:13:20Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_list_shows_a_short_error_column_and_the_full_error_in_json() {
    let jd = Jd::start().await;
    let [a, b, _] = jd.three_nodes().await;
    let failed = jd.failed_proposal(&a, false).await;
    let fine = jd
        .client
        .propose_job(ProposeJobRequest {
            node_id: b.id.clone(),
            spec: SPEC.into(),
            labels: Vec::new(),
        })
        .await
        .unwrap()
        .proposal
        .unwrap();

    let out = jd.offchain(&["proposals", "list"]).await;
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out:#?}");
    assert!(lines[0].ends_with("ERROR"), "{out:#?}");
    let row = |id: &str| *lines.iter().find(|l| l.starts_with(id)).unwrap();
    let error_col = lines[0].find("ERROR").unwrap();
    let failed_row = row(&failed.id);
    assert!(failed_row.contains("FAILED"), "{out:#?}");
    let shown = &failed_row[error_col..];
    assert!(
        NODE_ERROR.starts_with(shown.trim_end_matches('…')),
        "{shown}"
    );
    assert_eq!(shown.chars().count(), 60, "cut to 60 characters: {shown}");
    assert!(row(&fine.id).ends_with(" -"), "{out:#?}");

    let json = jd
        .offchain(&["proposals", "list", "--format", "json"])
        .await
        .ok()
        .json();
    assert_eq!(
        ids(&json, "proposals"),
        vec![failed.id.clone(), fine.id.clone()]
    );
    let deliveries = json["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "{json}");
    assert_eq!(deliveries[0]["proposalId"], failed.id.as_str());
    assert_eq!(deliveries[0]["deliveryError"], NODE_ERROR, "whole in JSON");
    assert!(deliveries[1].get("deliveryError").is_none(), "{json}");
}

/// Serves the reference services of an embedded JD without the delivery extension, as an
/// existing JD does; returns its endpoint.
async fn jd_without_extension(jd: &Jd) -> String {
    let services = offchain_jd::server::operator_services(jd.provider.jd().unwrap());
    let incoming = tonic::transport::server::TcpIncoming::bind(([127, 0, 0, 1], 0).into()).unwrap();
    let address = incoming.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(services.job)
            .add_service(services.node)
            .add_service(services.csa)
            .serve_with_incoming(incoming),
    );
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_work_against_a_jd_without_the_delivery_extension() {
    let jd = Jd::start().await;
    let [a, ..] = jd.three_nodes().await;
    let proposal = jd.failed_proposal(&a, true).await;
    let endpoint = jd_without_extension(&jd).await;

    let out = jd
        .offchain(&["proposals", "get", &proposal.id, "--endpoint", &endpoint])
        .await;
    out.ok();
    assert!(out.stdout.contains("FAILED"), "{out:#?}");
    assert!(!out.stdout.contains("delivery error"), "{out:#?}");
    assert!(!out.stdout.contains("node refusal"), "{out:#?}");
    assert_eq!(out.stderr, "", "UNIMPLEMENTED is not worth a note");
    let json = jd
        .offchain(&[
            "proposals",
            "get",
            &proposal.id,
            "--endpoint",
            &endpoint,
            "--format",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(json["proposal"]["id"], proposal.id.as_str());
    assert!(json.get("delivery").is_none(), "{json}");

    let out = jd
        .offchain(&["proposals", "list", "--endpoint", &endpoint])
        .await;
    out.ok();
    assert!(!out.stdout.contains("ERROR"), "{out:#?}");
    assert!(out.stdout.contains(&proposal.id), "{out:#?}");
    let json = jd
        .offchain(&[
            "proposals",
            "list",
            "--endpoint",
            &endpoint,
            "--format",
            "json",
        ])
        .await
        .ok()
        .json();
    assert!(json.get("deliveries").is_none(), "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_list_shows_the_version_nodes_report() {
    let jd = Jd::start().await;
    let [a, b, _] = jd.three_nodes().await;
    let report = offchain_jd::store::NodeReport {
        version: "2.19.0@abc123".into(),
        ..Default::default()
    };
    let store = jd.provider.jd().unwrap().store();
    assert!(store.record_node_report(&a.id, &report, 1).await.unwrap());

    let out = jd.offchain(&["nodes", "list"]).await;
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let version_col = lines[0].find("VERSION").expect("a VERSION column");
    let row = |id: &str| *lines.iter().find(|l| l.starts_with(id)).unwrap();
    assert_eq!(
        row(&a.id).find("2.19.0@abc123"),
        Some(version_col),
        "{out:#?}"
    );
    assert_eq!(
        row(&b.id)[version_col..].chars().next(),
        Some('-'),
        "{out:#?}"
    );

    let json = jd
        .offchain(&["nodes", "list", "--format", "json"])
        .await
        .ok()
        .json();
    assert_eq!(json["nodes"][0]["version"], "2.19.0@abc123");
    assert_eq!(json["nodes"][1]["version"], "");
}
