//! The coin-market adapter against a mock provider.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use offchain_adapter::testing::{MockUpstream, TestAdapter, test_config};
use serde_json::json;

/// What the provider saw: the query string and the `API_KEY` header of each call.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A provider that knows ETH and BTC, wants `API_KEY: secret`, and is down for `coin=DOWN`.
async fn provider(seen: Seen) -> MockUpstream {
    let api = get(move |uri: Uri, headers: HeaderMap| {
        let seen = seen.clone();
        async move {
            let query = uri.query().unwrap_or("").to_owned();
            let key = headers
                .get("API_KEY")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if let Ok(mut seen) = seen.lock() {
                seen.push((query.clone(), key.clone()));
            }
            if key.as_deref() != Some("secret") {
                let body = json!({"error": "invalid API key"});
                return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
            }
            let body = match query.as_str() {
                "coin=ETH&market=USD" => json!({"coin": "ETH", "market": "USD", "price": 467.85}),
                "coin=BTC&market=EUR" => json!({"coin": "BTC", "market": "EUR", "price": 61000}),
                "coin=NOPRICE&market=USD" => json!({"coin": "NOPRICE"}),
                _ => {
                    let body = json!({"message": "The endpoint is under maintenance."});
                    return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
                }
            };
            axum::Json(body).into_response()
        }
    });
    MockUpstream::start(Router::new().route("/api", api)).await
}

async fn start(api_key: &str) -> (MockUpstream, Seen, TestAdapter) {
    let seen = Seen::default();
    let upstream = provider(seen.clone()).await;
    let config = test_config(&[("API_URL", upstream.url()), ("API_KEY", api_key)]);
    let adapter = coin_market_adapter::adapter(&config).expect("adapter config is complete");
    let ea = TestAdapter::start(adapter, config).await;
    (upstream, seen, ea)
}

#[tokio::test]
async fn answers_the_price_with_the_provider_payload() {
    let (_upstream, seen, ea) = start("secret").await;
    let r = ea
        .request(json!({"id": "278c97ff", "data": {"coin": "ETH", "market": "USD"}}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["jobRunID"], "278c97ff");
    assert_eq!(r.body["result"], 467.85);
    assert_eq!(
        r.body["data"],
        json!({"coin": "ETH", "market": "USD", "price": 467.85, "result": 467.85})
    );
    let seen = seen.lock().expect("not poisoned").clone();
    assert_eq!(
        seen,
        vec![("coin=ETH&market=USD".to_owned(), Some("secret".to_owned()))]
    );
}

#[tokio::test]
async fn parameter_aliases_and_endpoint_alias() {
    let (upstream, _seen, ea) = start("secret").await;
    for body in [
        json!({"data": {"base": "BTC", "quote": "EUR"}}),
        json!({"data": {"from": "BTC", "to": "EUR"}}),
        json!({"endpoint": "crypto", "data": {"from": "BTC", "quote": "EUR"}}),
    ] {
        let r = ea.request(body.clone()).await;
        assert_eq!(r.status, 200, "{body}: {:?}", r.body);
        assert_eq!(r.body["result"], 61000);
    }
    assert_eq!(upstream.hits(), 1, "aliases share one cache entry");
}

#[tokio::test]
async fn symbols_in_any_case_share_one_cache_entry_and_one_upstream_call() {
    let (upstream, seen, ea) = start("secret").await;
    for data in [
        json!({"coin": "eth", "market": "usd"}),
        json!({"coin": "ETH", "market": "USD"}),
        json!({"base": "Eth", "quote": "uSd"}),
    ] {
        let r = ea.request(json!({"data": data.clone()})).await;
        assert_eq!(r.status, 200, "{data}: {:?}", r.body);
        assert_eq!(r.body["result"], 467.85);
    }
    assert_eq!(upstream.hits(), 1, "one cache entry for every spelling");
    let seen = seen.lock().expect("not poisoned").clone();
    assert_eq!(
        seen[0].0, "coin=ETH&market=USD",
        "the provider gets upper case"
    );
}

#[tokio::test]
async fn missing_parameter_is_named() {
    let (upstream, _seen, ea) = start("secret").await;
    let r = ea.request(json!({"data": {"coin": "ETH"}})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["statusCode"], 400);
    assert_eq!(
        r.body["error"]["message"],
        "missing required parameter `market`"
    );
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn provider_errors_are_502_with_provider_status_code() {
    let (_upstream, _seen, ea) = start("wrong").await;
    let r = ea
        .request(json!({"data": {"coin": "ETH", "market": "USD"}}))
        .await;
    assert_eq!(r.status, 502);
    assert_eq!(r.body["providerStatusCode"], 401);
    assert_eq!(r.body["error"]["name"], "AdapterDataProviderError");
    assert_eq!(r.body["error"]["message"], "invalid API key");

    let (_upstream, _seen, ea) = start("secret").await;
    let r = ea
        .request(json!({"data": {"coin": "DOWN", "market": "USD"}}))
        .await;
    assert_eq!(r.status, 502);
    assert_eq!(r.body["providerStatusCode"], 503);
    assert_eq!(
        r.body["error"]["message"],
        "The endpoint is under maintenance."
    );

    let r = ea
        .request(json!({"data": {"coin": "NOPRICE", "market": "USD"}}))
        .await;
    assert_eq!(r.status, 502);
    assert_eq!(r.body["statusCode"], 502);
    assert_eq!(
        r.body["error"]["message"],
        "data provider answer has no `price`"
    );
}

#[test]
fn api_url_and_api_key_are_required() {
    let missing_url = test_config(&[("API_KEY", "k")]);
    let error = coin_market_adapter::adapter(&missing_url)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        error.as_deref(),
        Some("environment variable API_URL is required but not set")
    );
    let missing_key = test_config(&[("API_URL", "http://127.0.0.1:1")]);
    let error = coin_market_adapter::adapter(&missing_key)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        error.as_deref(),
        Some("environment variable API_KEY is required but not set")
    );
}

/// The real binary: a missing variable stops start-up with its name; SIGTERM stops it cleanly.
mod binary {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    const BIN: &str = env!("CARGO_BIN_EXE_coin-market-adapter");

    #[test]
    fn missing_api_key_stops_start_up() {
        let output = Command::new(BIN)
            .env_clear()
            .env("API_URL", "http://127.0.0.1:1")
            .output()
            .expect("binary runs");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("API_KEY"), "{stderr}");
    }

    #[test]
    fn bad_port_stops_start_up() {
        let output = Command::new(BIN)
            .env_clear()
            .env("API_URL", "http://127.0.0.1:1")
            .env("API_KEY", "k")
            .env("EA_PORT", "http")
            .output()
            .expect("binary runs");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("EA_PORT"), "{stderr}");
    }

    #[test]
    fn bad_metrics_port_stops_start_up() {
        let output = Command::new(BIN)
            .env_clear()
            .env("API_URL", "http://127.0.0.1:1")
            .env("API_KEY", "k")
            .env("EA_PORT", "0")
            .env("METRICS_PORT", "ninety")
            .output()
            .expect("binary runs");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("METRICS_PORT"), "{stderr}");
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port()
    }

    /// Starts the binary on `port` with `vars`, waits until it listens, and returns it.
    fn start(port: u16, vars: &[(&str, String)]) -> std::process::Child {
        let mut command = Command::new(BIN);
        command
            .env_clear()
            .env("API_URL", "http://127.0.0.1:1")
            .env("API_KEY", "k")
            .env("EA_HOST", "127.0.0.1")
            .env("EA_PORT", port.to_string())
            .stdout(Stdio::null());
        for (name, value) in vars {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("binary starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("adapter did not start listening");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    /// `GET path` over a plain TCP socket; returns the status line and the body.
    fn get(port: u16, path: &str) -> std::io::Result<(String, String)> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.lines().next().unwrap_or_default().to_owned();
        Ok((status, body.to_owned()))
    }

    #[test]
    fn metrics_are_served_on_their_own_port() {
        let (port, metrics_port) = (free_port(), free_port());
        let mut child = start(port, &[("METRICS_PORT", metrics_port.to_string())]);
        let scraped = get(metrics_port, "/metrics");
        let on_adapter_port = get(port, "/metrics");
        let _ = child.kill();
        let _ = child.wait();
        let (status, body) = scraped.expect("metrics port answers");
        assert!(status.contains(" 200 "), "{status}");
        assert!(body.contains("# TYPE ea_requests_total counter"), "{body}");
        assert!(body.contains(r#"adapter="coin-market""#), "{body}");
        let (status, _) = on_adapter_port.expect("adapter port answers");
        assert!(
            status.contains(" 404 "),
            "/metrics is not on EA_PORT: {status}"
        );
    }

    #[test]
    fn metrics_can_be_disabled() {
        let (port, metrics_port) = (free_port(), free_port());
        let mut child = start(
            port,
            &[
                ("METRICS_ENABLED", "false".to_owned()),
                ("METRICS_PORT", metrics_port.to_string()),
            ],
        );
        let scraped = get(metrics_port, "/metrics");
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            scraped.is_err(),
            "nothing may listen on METRICS_PORT: {scraped:?}"
        );
    }

    /// Threads of a running process, from `/proc/<pid>/status`.
    #[cfg(target_os = "linux")]
    fn thread_count(pid: u32) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("Threads:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("Threads line")
    }

    /// `EA_THREADS` decides how many threads serve: one by default, more on request.
    #[cfg(target_os = "linux")]
    #[test]
    fn ea_threads_sets_the_serving_threads() {
        let mut counts = Vec::new();
        for threads in [None, Some("4")] {
            let port = free_port();
            let mut vars = vec![("METRICS_PORT", "0".to_owned())];
            if let Some(threads) = threads {
                vars.push(("EA_THREADS", threads.to_owned()));
            }
            let mut child = start(port, &vars);
            let health = get(port, "/health");
            counts.push(thread_count(child.id()));
            let _ = child.kill();
            let _ = child.wait();
            let (status, _) = health.expect("adapter answers");
            assert!(status.contains(" 200 "), "{status}");
        }
        assert_eq!(counts[0], 1, "the default serves on the main thread alone");
        assert!(counts[1] >= 5, "main thread and four workers: {counts:?}");
    }

    #[test]
    fn unreachable_redis_stops_start_up() {
        // A port bound and released: nothing listens there.
        let port = free_port();
        let output = Command::new(BIN)
            .env_clear()
            .env("API_URL", "http://127.0.0.1:1")
            .env("API_KEY", "k")
            .env("EA_PORT", "0")
            .env("METRICS_PORT", "0")
            .env("CACHE_TYPE", "redis")
            .env("CACHE_REDIS_URL", format!("redis://127.0.0.1:{port}"))
            .output()
            .expect("binary runs");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("CACHE_REDIS_URL"), "{stderr}");
    }

    #[cfg(unix)]
    #[test]
    fn sigterm_shuts_down_gracefully() {
        // A free metrics port, so parallel runs never fight over the default 9080.
        let mut child = start(free_port(), &[("METRICS_PORT", "0".to_owned())]);
        terminate(&child);
        wait_for_clean_exit(&mut child, "adapter did not stop on SIGTERM");
    }

    /// Sends SIGTERM to `child`.
    #[cfg(unix)]
    fn terminate(child: &std::process::Child) {
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
    }

    /// Waits up to 10 s for `child` to exit with success; fails with `timeout_message`.
    #[cfg(unix)]
    fn wait_for_clean_exit(child: &mut std::process::Child, timeout_message: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().expect("child status") {
                assert!(status.success(), "exit status {status}");
                break;
            }
            assert!(Instant::now() < deadline, "{timeout_message}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A `pending` answer is still PATCHed to the node when SIGTERM arrives meanwhile.
    #[cfg(unix)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigterm_waits_for_async_answers() {
        use axum::{Json, Router, routing::get};
        use offchain_adapter::testing::{MockUpstream, NodeReceiver};
        use serde_json::json;

        let provider = MockUpstream::start(Router::new().route(
            "/api",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(800)).await;
                Json(json!({"price": 1.5}))
            }),
        ))
        .await;
        let mut node = NodeReceiver::start().await;
        let port = free_port();
        let vars = [
            ("API_URL", provider.url().to_owned()),
            ("METRICS_PORT", "0".to_owned()),
            ("ASYNC_AFTER_MS", "100".to_owned()),
            ("ASYNC_ALLOWED_ORIGINS", node.origin().to_owned()),
        ];
        // `start` waits on blocking sockets; the runtime's other worker serves the mocks.
        let mut child = tokio::task::block_in_place(|| start(port, &vars));
        let url = node.url("/v2/resume/6b0e9a0e-8f0b-4a4e-9d5c-5e1f1c7f6c11");
        let body =
            json!({"id": "a1", "data": {"coin": "ETH", "market": "USD"}, "responseURL": url});
        let answer: serde_json::Value = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}"))
            .json(&body)
            .send()
            .await
            .expect("adapter answers")
            .json()
            .await
            .expect("JSON answer");
        assert_eq!(answer["pending"], true, "{answer}");

        terminate(&child);
        let patch = node.next_patch(Duration::from_secs(5)).await;
        assert_eq!(patch.body["value"]["result"], 1.5, "{:?}", patch.body);
        tokio::task::block_in_place(|| {
            wait_for_clean_exit(&mut child, "adapter did not stop after delivering")
        });
    }
}
