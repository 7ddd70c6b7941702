//! `offchain job run` end to end: the built binary runs specs against the real coin-market
//! adapter (in-process, against a mock provider) and local servers; exit codes, the exact
//! JSON shape, the table, and how `--request-body`, `--meta` and bridge tokens get through.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use offchain_adapter::testing::{MockUpstream, TestAdapter, test_config};
use serde_json::{Value, json};

mod support;
use support::Run;

const BIN: &str = env!("CARGO_BIN_EXE_offchain");

/// Runs the binary off the test's runtime, which serves the adapter and the mocks meanwhile.
async fn offchain(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(BIN)
            .args(&args)
            .env_remove("RUST_LOG")
            .env_remove("OFFCHAIN_BRIDGE_TOKEN_REC")
            .envs(envs)
            .output()
            .unwrap();
        Run {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    })
    .await
    .unwrap()
}

fn write(dir: &Path, text: &str) -> String {
    let path = dir.join("spec.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn webhook(dot: &str) -> String {
    format!(
        "type = \"webhook\"\nschemaVersion = 1\nname = \"try\"\nobservationSource = \"\"\"\n{dot}\n\"\"\"\n"
    )
}

/// The coin-market provider: ETH/USD is 467.85, anything else is under maintenance (503).
async fn provider() -> MockUpstream {
    let api = get(|uri: Uri| async move {
        match uri.query() {
            Some("coin=ETH&market=USD") => {
                axum::Json(json!({"coin": "ETH", "market": "USD", "price": 467.85})).into_response()
            }
            _ => (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"message": "under maintenance"})),
            )
                .into_response(),
        }
    });
    MockUpstream::start(Router::new().route("/api", api)).await
}

async fn coin_market(upstream: &MockUpstream) -> TestAdapter {
    let config = test_config(&[("API_URL", upstream.url()), ("API_KEY", "k")]);
    let adapter = coin_market_adapter::adapter(&config).expect("complete adapter config");
    TestAdapter::start(adapter, config).await
}

const PRICE: &str = r#"
    price [type=bridge name="coin-market" requestData=<{"data": {"coin": "ETH", "market": "USD"}}>]
    parse [type=jsonparse path="data,result"]
    scale [type=multiply times=100]
    price -> parse -> scale
"#;

/// `duration_ms` of every task, replaced by 0 once checked to be a number.
fn without_durations(mut run: Value) -> Value {
    for task in run["tasks"].as_array_mut().expect("tasks") {
        assert!(task["duration_ms"].is_u64(), "{task}");
        task["duration_ms"] = json!(0);
    }
    run
}

#[tokio::test(flavor = "multi_thread")]
async fn bridge_jsonparse_multiply_against_coin_market() {
    let upstream = provider().await;
    let ea = coin_market(&upstream).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = write(dir.path(), &webhook(PRICE));
    let bridge = format!("coin-market={}", ea.url());

    let out = offchain(
        &["job", "run", &spec, "--bridge", &bridge, "--format", "json"],
        &[],
    )
    .await;
    out.ok();
    assert_eq!(out.stderr, "");
    let answer = ea_answer(&out.json()["tasks"][0]["output"]);
    assert_eq!(answer["result"], 467.85);
    assert_eq!(
        without_durations(out.json()),
        json!({
            "state": "completed",
            "outputs": ["46785"],
            "errors": [null],
            "tasks": [
                {"name": "price", "type": "bridge", "output": out.json()["tasks"][0]["output"],
                 "error": null, "duration_ms": 0},
                {"name": "parse", "type": "jsonparse", "output": 467.85, "error": null,
                 "duration_ms": 0},
                {"name": "scale", "type": "multiply", "output": "46785", "error": null,
                 "duration_ms": 0},
            ],
        })
    );

    let out = offchain(&["job", "run", &spec, "--bridge", &bridge], &[]).await;
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("TASK "), "{out:#?}");
    assert!(lines[1].starts_with("price ") && lines[1].contains("bridge"));
    assert!(lines[2].contains("jsonparse") && lines[2].contains("467.85"));
    assert!(lines[3].contains("multiply") && lines[3].contains(r#""46785""#));
    assert_eq!(&lines[4..], ["", "run completed", r#"scale: "46785""#]);
    assert_eq!(
        upstream.hits(),
        1,
        "the second run was an adapter cache hit"
    );
}

/// A bridge task's output is the adapter's body as a JSON string.
fn ea_answer(output: &Value) -> Value {
    serde_json::from_str(output.as_str().expect("a string output")).expect("the adapter's JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn http_task_against_a_local_server_adds_exactly() {
    let server = MockUpstream::start(Router::new().route(
        "/q",
        get(|| async { r#"{"a": 0.1, "b": 0.2, "big": 123456789012345678901234567890}"# }),
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dot = format!(
        r#"
        fetch [type=http method=GET url="{}/q"]
        a [type=jsonparse path="a"]
        b [type=jsonparse path="b"]
        total [type=sum values=<[ $(a), $(b) ]> index=0]
        big [type=jsonparse path="big" index=1]
        fetch -> a
        fetch -> b
        fetch -> big
        a -> total
        b -> total
        "#,
        server.url()
    );
    let spec = write(dir.path(), &webhook(&dot));
    let out = offchain(&["job", "run", &spec, "--format", "json"], &[]).await;
    out.ok();
    let run = out.json();
    assert_eq!(run["state"], "completed");
    assert_eq!(run["errors"], json!([null, null]));
    // The big integer passes through digit for digit (no float on the way to stdout).
    assert!(
        out.stdout
            .contains("\"0.3\",\n    123456789012345678901234567890\n"),
        "{out:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_errored_run_exits_one_with_the_terminal_error() {
    let upstream = provider().await;
    let ea = coin_market(&upstream).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = write(dir.path(), &webhook(&PRICE.replace("ETH", "DOWN")));
    let bridge = format!("coin-market={}", ea.url());

    let out = offchain(
        &["job", "run", &spec, "--bridge", &bridge, "--format", "json"],
        &[],
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:#?}");
    let run = out.json();
    assert_eq!(run["state"], "errored");
    assert_eq!(run["outputs"], json!([null]));
    // `scale` never ran for itself: its input failed, and that is its error.
    let terminal = run["errors"][0].as_str().expect("a terminal error");
    assert_eq!(run["tasks"][2]["error"], terminal);
    let bridge_error = run["tasks"][0]["error"].as_str().expect("bridge error");
    // The adapter turns the provider's 503 into a 502 with the provider's message.
    assert!(
        bridge_error.ends_with("(status code 502) under maintenance"),
        "{bridge_error}"
    );

    let out = offchain(&["job", "run", &spec, "--bridge", &bridge], &[]).await;
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stdout.contains("\nrun errored\nscale: error: "),
        "{out:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_async_bridge_exits_three() {
    let adapter = MockUpstream::start(
        Router::new().route("/", post(|| async { axum::Json(json!({"pending": true})) })),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dot = r#"
        slow [type=bridge name=slow async=true]
        parse [type=jsonparse path="x"]
        slow -> parse
    "#;
    let spec = write(dir.path(), &webhook(dot));
    let bridge = format!("slow={}/", adapter.url());
    let out = offchain(
        &["job", "run", &spec, "--bridge", &bridge, "--format", "json"],
        &[],
    )
    .await;
    assert_eq!(out.code, Some(3), "{out:#?}");
    let run = without_durations(out.json());
    assert_eq!(run["state"], "suspended");
    assert_eq!(
        run["tasks"],
        json!([{"name": "slow", "type": "bridge", "output": null, "error": null,
                "duration_ms": 0}])
    );

    let out = offchain(&["job", "run", &spec, "--bridge", &bridge], &[]).await;
    assert_eq!(out.code, Some(3), "{out:#?}");
    assert!(out.stdout.contains("(pending)") && out.stdout.contains("\nrun suspended\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_specs_and_flags_exit_two_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = webhook("    price [type=bridge name=x]\n    price -> prase");
    let spec = write(dir.path(), &bad);
    let out = offchain(&["job", "run", &spec, "--format", "json"], &[]).await;
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!("{spec}:6:14: edge to undeclared task prase\n")
    );

    // A bridge without `--bridge` is named on stderr; stdout stays the JSON answer.
    let unbridged = write(dir.path(), &webhook(PRICE));
    let out = offchain(&["job", "run", &unbridged, "--format", "json"], &[]).await;
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert_eq!(
        out.stderr,
        "note: no --bridge coin-market=URL given; its tasks will fail\n"
    );
    assert_eq!(
        out.json()["tasks"][0]["error"],
        "could not find bridge with name 'coin-market'"
    );

    let good = write(dir.path(), &webhook("m [type=memo value=1]"));
    for (args, needle) in [
        (vec!["--meta", "[1]"], "--meta must be a JSON object"),
        (vec!["--meta", "{"], "--meta is not JSON"),
        (
            vec!["--bridge", "x=ftp://h"],
            "the URL must be http or https",
        ),
        (vec!["--bridge", "x"], "expected NAME=URL"),
    ] {
        let mut all = vec!["job", "run", good.as_str()];
        all.extend(args);
        offchain(&all, &[]).await.fails(2, needle);
    }
    let cron = dir.path().join("cron.toml");
    std::fs::write(
        &cron,
        "type = \"cron\"\nschemaVersion = 1\nschedule = \"@every 1m\"\n\
         observationSource = \"m [type=memo value=1]\"\n",
    )
    .unwrap();
    let cron = cron.display().to_string();
    offchain(&["job", "run", &cron, "--request-body", "x"], &[])
        .await
        .fails(2, "this is a cron spec");
    // Cron runs take the cron variables: `jobRun.meta` is `{}`.
    let meta = write(
        dir.path(),
        "type = \"cron\"\nschemaVersion = 1\nschedule = \"@every 1m\"\n\
         observationSource = \"m [type=memo value=<$(jobRun.meta)>]\"\n",
    );
    let out = offchain(&["job", "run", &meta, "--format", "json"], &[]).await;
    out.ok();
    assert_eq!(out.json()["outputs"], json!([{}]));
}

#[tokio::test(flavor = "multi_thread")]
async fn request_body_json_is_reachable_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let dot = r#"
        raw [type=memo value=<$(jobRun.requestBody)> index=0]
        scaled [type=multiply input="$(jobRun.requestBody.data.prices.1)" times=2 index=1]
    "#;
    let spec = write(dir.path(), &webhook(dot));
    let body = r#"{"data": {"prices": ["1", "2.25"]}}"#;
    let out = offchain(
        &[
            "job",
            "run",
            &spec,
            "--request-body",
            body,
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    out.ok();
    // The plain variable stays the raw string; the path reaches into it.
    assert_eq!(out.json()["outputs"], json!([body, "4.5"]));
}

/// What the recording bridge got: bodies and `Authorization` headers.
type Seen = Arc<Mutex<Vec<(Value, Option<String>)>>>;

#[tokio::test(flavor = "multi_thread")]
async fn meta_and_the_token_reach_the_bridge() {
    let seen = Seen::default();
    let record = seen.clone();
    let bridge = post(move |headers: HeaderMap, body: axum::Json<Value>| {
        let record = record.clone();
        async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            record.lock().unwrap().push((body.0, auth));
            axum::Json(json!({"data": {"result": 1}}))
        }
    });
    let server = MockUpstream::start(Router::new().route("/", bridge)).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        &webhook(r#"b [type=bridge name=rec requestData=<{"data": {"x": 1}}>]"#),
    );
    let flag = format!("rec={}/", server.url());
    let out = offchain(
        &[
            "job",
            "run",
            &spec,
            "--bridge",
            &flag,
            "--meta",
            r#"{"oracle": {"round": 7}}"#,
        ],
        &[("OFFCHAIN_BRIDGE_TOKEN_REC", "s3cret")],
    )
    .await;
    out.ok();
    assert!(!out.stdout.contains("s3cret") && !out.stderr.contains("s3cret"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [(
            json!({"data": {"x": 1}, "meta": {"oracle": {"round": 7}}}),
            Some("Bearer s3cret".to_owned())
        )]
    );
}
