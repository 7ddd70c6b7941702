//! The runner over real HTTP ([`ReqwestClient`], feature `reqwest`): the `bridge` task against
//! the real coin-market adapter (started in-process against a mock provider), and the `http`
//! task against a local server — redirects, the body bound, restricted mode.

use std::collections::HashMap;

use axum::Router;
use axum::response::Redirect;
use axum::routing::get;
use offchain_adapter::testing::{MockUpstream, TestAdapter, test_config};
use offchain_pipeline::Pipeline;
use offchain_pipeline::run::http_client::ReqwestClient;
use offchain_pipeline::run::{
    Bridge, Env, JobVars, NoCache, RunConfig, RunInput, RunResult, RunStatus, Runner, TokioClock,
    Trigger,
};
use offchain_pipeline::tasks::StdRandom;
use serde_json::json;

/// A provider knowing ETH/USD only, wanting `API_KEY: secret` (as coin-market's own tests).
async fn provider() -> MockUpstream {
    let api = get(|headers: axum::http::HeaderMap| async move {
        if headers.get("API_KEY").and_then(|v| v.to_str().ok()) != Some("secret") {
            return axum::Json(json!({"error": "invalid API key"}));
        }
        axum::Json(json!({"coin": "ETH", "market": "USD", "price": 467.85}))
    });
    MockUpstream::start(Router::new().route("/api", api)).await
}

async fn coin_market(upstream: &MockUpstream) -> TestAdapter {
    let config = test_config(&[("API_URL", upstream.url()), ("API_KEY", "secret")]);
    let adapter = coin_market_adapter::adapter(&config).expect("complete adapter config");
    TestAdapter::start(adapter, config).await
}

async fn run(dot: &str, bridges: &HashMap<String, Bridge>) -> RunResult {
    let pipeline = Pipeline::parse(dot).expect("valid pipeline");
    let http = ReqwestClient::new().expect("client");
    let config = RunConfig::default();
    let env = Env {
        http: &http,
        bridges,
        cache: &NoCache,
        clock: &TokioClock,
        random: &StdRandom,
        config: &config,
    };
    let input = RunInput {
        run_id: "1".into(),
        job: JobVars {
            database_id: 1,
            external_job_id: Default::default(),
            name: "real".into(),
            evm_chain_id: None,
        },
        trigger: Trigger::Cron,
    };
    Runner::new(&pipeline).run(input, &env).await
}

fn outputs(result: &RunResult) -> Vec<Option<String>> {
    result.tasks.iter().map(|t| t.output.clone()).collect()
}

#[tokio::test]
async fn bridge_to_the_real_coin_market_adapter_scales_exactly() {
    let upstream = provider().await;
    let ea = coin_market(&upstream).await;
    let bridges = HashMap::from([(
        "coin-market".to_owned(),
        Bridge {
            url: ea.url().to_owned(),
            outgoing_token: String::new(),
        },
    )]);
    let dot = r#"
        price [type=bridge name="coin-market" requestData=<{"data": {"from": "eth", "to": "usd"}}>]
        parse [type=jsonparse path="data,result"]
        cents [type=multiply times=100]
        wei [type=multiply times=1e18]
        price -> parse -> cents
        parse -> wei
    "#;
    let result = run(dot, &bridges).await;
    assert_eq!(result.state, RunStatus::Completed, "{result:#?}");
    let shown = outputs(&result);
    assert_eq!(shown[1].as_deref(), Some("467.85"));
    let finals: Vec<&str> = shown[2..].iter().flatten().map(String::as_str).collect();
    assert_eq!(finals, [r#""46785""#, r#""467850000000000000000""#]);
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn adapter_errors_fail_the_bridge_task() {
    let upstream = provider().await;
    let ea = coin_market(&upstream).await;
    let bridges = HashMap::from([(
        "cm".to_owned(),
        Bridge {
            url: ea.url().to_owned(),
            outgoing_token: String::new(),
        },
    )]);
    // No `market`: the adapter answers 400 with an error body.
    let dot = r#"price [type=bridge name=cm requestData=<{"data": {"coin": "ETH"}}>]"#;
    let result = run(dot, &bridges).await;
    assert_eq!(result.state, RunStatus::Errored);
    let error = result.errors[0].as_deref().unwrap_or_default();
    assert!(
        error.contains("missing required parameter `market`"),
        "{error}"
    );
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn http_follows_redirects_and_bounds_the_body() {
    let server = MockUpstream::start(
        Router::new()
            .route("/old", get(|| async { Redirect::temporary("/new") }))
            .route("/new", get(|| async { r#"{"v": 1}"# }))
            .route("/huge", get(|| async { "x".repeat(1 << 20) })),
    )
    .await;
    let dot = format!(
        r#"
        a [type=http method=GET url="{0}/old"]
        b [type=http method=GET url="{0}/huge"]
        "#,
        server.url()
    );
    let result = run(&dot, &HashMap::new()).await;
    assert_eq!(result.state, RunStatus::Completed, "{result:#?}");
    assert_eq!(result.tasks[0].output.as_deref(), Some(r#""{\"v\": 1}""#));
    // 32 KiB of `x` in quotes: the rest of the megabyte was cut off.
    let huge = result.tasks[1].output.as_deref().unwrap_or_default();
    assert_eq!(huge.len(), 32 * 1024 + 2);
}

#[tokio::test]
async fn restricted_requests_refuse_names_resolving_to_loopback() {
    let server = MockUpstream::start(Router::new().route("/", get(|| async { "hi" }))).await;
    let port = server.addr().port();
    // A URL from a variable is restricted by default; `localhost` is checked once resolved.
    let dot = format!(
        r#"
        u [type=memo value=<"http://localhost:{port}/">]
        a [type=http method=GET url="$(u)"]
        b [type=http method=GET url="$(u)" allowUnrestrictedNetworkAccess=true]
        u -> a
        u -> b
        "#
    );
    let result = run(&dot, &HashMap::new()).await;
    let a = result.tasks.iter().find(|t| t.name == "a").expect("a ran");
    let error = a.error.as_deref().unwrap_or_default();
    assert!(error.contains("disallowed IP"), "{error}");
    assert!(!error.contains("localhost"), "no URL in the text: {error}");
    let b = result.tasks.iter().find(|t| t.name == "b").expect("b ran");
    assert_eq!(b.output.as_deref(), Some(r#""hi""#));
    assert_eq!(
        server.hits(),
        1,
        "only the unrestricted request got through"
    );
}
