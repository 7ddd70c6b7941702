//! The `http` and `bridge` tasks against an in-memory HTTP fake: request bodies and headers,
//! every answer shape of bridge.md §3, the last-good cache, and the `http` error texts.

mod support;

use std::time::Duration;

use offchain_pipeline::run::{RunStatus, Trigger};
use serde_json::{Value as Json, json};
use support::*;

fn body_json(http: &FakeHttp, url: &str) -> Json {
    serde_json::from_str(&http.last_to(url).body.expect("a body")).expect("JSON body")
}

#[tokio::test(start_paused = true)]
async fn bridge_request_carries_data_meta_input_token_and_headers() {
    let http = FakeHttp::new(|_, _| ok(r#"{"data": {"result": 1}}"#));
    let dot = r#"
        m [type=memo value=<{"x": 1}>]
        fetch [type=bridge name=coin includeInputAtKey="prev" headers=<["X-Extra", "yes"]>
               requestData=<{"id": $(jobSpec.externalJobID), "data": {"coin": "ETH", "n": $(m.x)}}>]
        m -> fetch
    "#;
    let w = World::default();
    let result = w.run(dot, &http, cron()).await;
    assert_eq!(result.state, RunStatus::Completed);
    assert_eq!(
        body_json(&http, "http://coin.bridge/"),
        json!({
            "id": "00000000-0000-0000-0000-000000000000",
            "data": {"coin": "ETH", "n": 1},
            "meta": {},
            "prev": {"x": 1},
        })
    );
    let request = http.last_to("http://coin.bridge/");
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.headers,
        [
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("X-Extra".to_owned(), "yes".to_owned()),
            ("Authorization".to_owned(), "Bearer tok-coin".to_owned()),
        ]
    );
    assert!(
        !format!("{request:?}").contains("tok-coin"),
        "token never in Debug"
    );
    assert_eq!(shown(&result), [r#""{\"data\": {\"result\": 1}}""#]);

    // A webhook run has meta null: nothing added; no requestData sends `{}`.
    w.run("b [type=bridge name=a]", &http, webhook("")).await;
    assert_eq!(body_json(&http, "http://a.bridge/"), json!({}));
    let mut with_meta = webhook("");
    with_meta.trigger = Trigger::Webhook {
        request_body: String::new(),
        meta: json!({"oracle": "x"}),
    };
    w.run("b [type=bridge name=a]", &http, with_meta).await;
    assert_eq!(
        body_json(&http, "http://a.bridge/"),
        json!({"meta": {"oracle": "x"}})
    );
}

#[tokio::test(start_paused = true)]
async fn bridge_answers_are_judged_as_bridge_md_says() {
    let big = format!(r#"{{"data": "{}"}}"#, "x".repeat(40_000));
    let cases: Vec<(&str, Reply, bool, &str)> = vec![
        (
            "value",
            ok(r#"{"data": {"result": 1}, "statusCode": 200}"#),
            false,
            r#"{"data": {"result": 1}, "statusCode": 200}"#,
        ),
        (
            "HTTP 200 with statusCode 500",
            ok(r#"{"statusCode": 500, "error": {"name": "AdapterError", "message": "boom"}}"#),
            false,
            "ERR got error from http://coin.bridge/: (status code 500) AdapterError: boom",
        ),
        (
            "HTTP 500",
            status(500, r#"{"error": "boom"}"#),
            false,
            "ERR got error from http://coin.bridge/: (status code 500) boom",
        ),
        (
            "HTTP 404",
            status(404, r#"{"errorMessage": "no such"}"#),
            false,
            "ERR got error from http://coin.bridge/: (status code 404) no such",
        ),
        (
            "HTTP 502 text",
            status(502, "bad gateway"),
            false,
            "ERR got error from http://coin.bridge/: (status code 502) bad gateway",
        ),
        (
            "provider status",
            ok(
                r#"{"statusCode": 200, "providerStatusCode": 429, "error": {"message": "slow down"}}"#,
            ),
            false,
            "ERR got error from http://coin.bridge/: (status code 429) slow down",
        ),
        (
            "error beside statusCode 200",
            ok(r#"{"statusCode": 200, "error": {"message": "hidden"}}"#),
            false,
            "ERR got error from http://coin.bridge/: (status code 500) hidden",
        ),
        (
            "HTTP 201 without statusCode",
            status(201, "{}"),
            false,
            "ERR got error from http://coin.bridge/: (status code 201) {}",
        ),
        (
            "pending, not async",
            ok(r#"{"pending": true}"#),
            false,
            r#"{"pending": true}"#,
        ),
        (
            "pending, async",
            ok(r#"{"pending": true}"#),
            true,
            "SUSPENDED",
        ),
        (
            "pending header, async",
            ok("{}").header("x-chainlink-pending", "1"),
            true,
            "SUSPENDED",
        ),
        (
            "transport",
            transport("connection refused"),
            false,
            "ERR error making http request: connection refused",
        ),
        (
            "oversize",
            ok(&big),
            false,
            "ERR got error from http://coin.bridge/: response body exceeds 32768 bytes",
        ),
    ];
    for (what, reply, is_async, expected) in cases {
        let reply = std::sync::Mutex::new(Some(reply));
        let http = FakeHttp::new(move |_, _| {
            reply
                .lock()
                .unwrap()
                .take()
                .unwrap_or_else(|| status(599, ""))
        });
        let dot = format!("f [type=bridge name=coin async={is_async}]");
        let result = World::default().run(&dot, &http, webhook("")).await;
        let got = match result.state {
            RunStatus::Suspended => "SUSPENDED".to_owned(),
            _ => match &result.errors[0] {
                Some(e) => format!("ERR {e}"),
                None => match &result.outputs[0] {
                    Some(offchain_pipeline::value::Value::String(s)) => s.clone(),
                    other => format!("{other:?}"),
                },
            },
        };
        assert_eq!(got, expected, "{what}");
    }
}

#[tokio::test(start_paused = true)]
async fn cache_ttl_serves_the_last_good_answer_on_failure() {
    let good = r#"{"data": {"result": 7}}"#;
    // Call 0 answers; later calls fail.
    let http = FakeHttp::new(move |_, n| {
        if n == 0 {
            ok(good)
        } else {
            status(500, r#"{"error": "down"}"#)
        }
    });
    let w = World::default();
    let dot = r#"f [type=bridge name=coin cacheTTL="30s" requestData=<{"data": {"coin": "ETH"}}>]"#;
    assert_eq!(
        shown(&w.run(dot, &http, webhook("")).await),
        [format!("{good:?}")]
    );
    tokio::time::advance(Duration::from_secs(29)).await;
    let cached = w.run(dot, &http, webhook("")).await;
    assert_eq!(cached.state, RunStatus::Completed);
    assert_eq!(shown(&cached), [format!("{good:?}")]);
    assert_eq!(
        http.calls_to("http://coin.bridge/"),
        2,
        "the bridge is still asked first"
    );
    // Another request body is another entry.
    let other =
        r#"f [type=bridge name=coin cacheTTL="30s" requestData=<{"data": {"coin": "BTC"}}>]"#;
    assert_eq!(
        w.run(other, &http, webhook("")).await.state,
        RunStatus::Errored
    );
    // Too old.
    tokio::time::advance(Duration::from_secs(2)).await;
    let stale = w.run(dot, &http, webhook("")).await;
    assert_eq!(
        shown(&stale),
        ["ERR got error from http://coin.bridge/: (status code 500) down"]
    );
    // Without cacheTTL (node default 0) there is no fallback.
    let w2 = World::default();
    w2.run("f [type=bridge name=coin]", &http, webhook(""))
        .await;
    let http2 = FakeHttp::new(move |_, n| {
        if n == 0 {
            ok(good)
        } else {
            transport("refused")
        }
    });
    w2.run("f [type=bridge name=coin]", &http2, webhook(""))
        .await;
    let uncached = w2
        .run("f [type=bridge name=coin]", &http2, webhook(""))
        .await;
    assert_eq!(shown(&uncached), ["ERR error making http request: refused"]);
}

#[tokio::test(start_paused = true)]
async fn an_error_sent_with_http_200_is_never_cached() {
    let http = FakeHttp::new(|_, n| match n {
        0 => ok(r#"{"statusCode": 500, "error": {"message": "boom"}, "data": {"result": 1}}"#),
        _ => transport("refused"),
    });
    let w = World::default();
    let dot = r#"f [type=bridge name=coin cacheTTL="1h"]"#;
    assert_eq!(
        w.run(dot, &http, webhook("")).await.state,
        RunStatus::Errored
    );
    let second = w.run(dot, &http, webhook("")).await;
    assert_eq!(shown(&second), ["ERR error making http request: refused"]);
}

#[tokio::test(start_paused = true)]
async fn unknown_bridge_and_failed_inputs() {
    let http = FakeHttp::new(|_, _| ok("{}"));
    let w = World::default();
    let result = w.run("f [type=bridge name=nope]", &http, webhook("")).await;
    assert_eq!(
        shown(&result),
        ["ERR could not find bridge with name 'nope'"]
    );
    let result = w
        .run(
            r#"bad [type=hexdecode input="zz"]
               f [type=bridge name=coin]
               bad -> f"#,
            &http,
            webhook(""),
        )
        .await;
    assert_eq!(shown(&result), ["ERR task inputs: too many errors"]);
    assert_eq!(http.calls.lock().unwrap().len(), 0);
}

#[tokio::test(start_paused = true)]
async fn http_task_sends_what_the_spec_says() {
    let http = FakeHttp::new(|_, _| ok(r#"{"price": 1}"#));
    let dot = r#"
        p [type=memo value=<1.5>]
        get [type=http method=POST url="http://api.example/q?x=$(jobRun.requestBody.k)"
             requestData=<{"p": $(p), "s": "t"}> headers=<["X-Key", "v"]>]
        p -> get
    "#;
    let result = World::default()
        .run(dot, &http, webhook(r#"{"k": "ETH"}"#))
        .await;
    assert_eq!(shown(&result), [r#""{\"price\": 1}""#]);
    let request = http.last_to("http://api.example/q?x=ETH");
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.body.as_deref(),
        Some(r#"{"p":"1.5","s":"t"}"#),
        "decimals go out as strings"
    );
    assert_eq!(request.headers[1], ("X-Key".to_owned(), "v".to_owned()));
    assert!(
        request.restricted,
        "a URL built from variables is restricted by default"
    );
    assert_eq!(request.timeout, Some(Duration::from_secs(15)));

    // No requestData → no body; a literal URL is unrestricted by default.
    World::default()
        .run(r#"g [type=http url="http://plain/"]"#, &http, webhook(""))
        .await;
    let plain = http.last_to("http://plain/");
    assert_eq!(
        (plain.method.as_str(), plain.body, plain.restricted),
        ("GET", None, false)
    );
}

#[tokio::test(start_paused = true)]
async fn http_task_error_texts() {
    let big = "y".repeat(40_000);
    let http = FakeHttp::new(move |req, _| match req.url.as_str() {
        "http://err/" => status(400, r#"{"error": "bad request", "errorMessage": "other"}"#),
        "http://msg/" => status(422, r#"{"errorMessage": "unprocessable"}"#),
        "http://big/" => ok(&big),
        "http://down/" => transport("dial tcp: connection refused"),
        _ => ok("fine"),
    });
    let w = World::default();
    let one = |dot: String, body: &'static str| {
        let (w, http) = (&w, &http);
        async move { shown(&w.run(&dot, http, webhook(body)).await).remove(0) }
    };
    assert_eq!(
        one(r#"a [type=http url="http://err/"]"#.into(), "").await,
        "ERR got error from http://err/: (status code 400) bad request"
    );
    assert_eq!(
        one(r#"a [type=http url="http://msg/"]"#.into(), "").await,
        "ERR got error from http://msg/: (status code 422) unprocessable"
    );
    assert_eq!(
        one(r#"a [type=http url="http://down/"]"#.into(), "").await,
        "ERR error making http request: dial tcp: connection refused"
    );
    assert_eq!(
        one(r#"a [type=http url="ftp://files/"]"#.into(), "").await,
        r#"ERR error making http request: Get "ftp://files/": unsupported protocol scheme "ftp""#
    );
    assert_eq!(
        one(
            r#"a [type=http url="$(jobRun.requestBody)"]"#.into(),
            "not a url"
        )
        .await,
        r#"ERR url: parse "not a url": invalid URI for request: bad input for task"#
    );
    assert_eq!(
        one(r#"a [type=http method=POST]"#.into(), "").await,
        "ERR url: parameter is empty"
    );
    assert_eq!(
        one(
            r#"a [type=http url="http://ok/" headers="$(jobRun.requestBody)"]"#.into(),
            r#"["A"]"#
        )
        .await,
        "ERR headers must have an even number of elements"
    );
    // Private addresses: refused when the URL comes from a variable, unless allowed.
    assert_eq!(
        one(
            r#"a [type=http url="$(jobRun.requestBody)"]"#.into(),
            "http://127.0.0.1:9/x"
        )
        .await,
        "ERR error making http request: Get \"http://127.0.0.1:9/x\": disallowed IP 127.0.0.1. \
         Connections to local/private and multicast networks are disabled by default for security reasons"
    );
    assert_eq!(
        one(
            r#"a [type=http url="$(jobRun.requestBody)" allowUnrestrictedNetworkAccess=true]"#
                .into(),
            "http://10.0.0.1/"
        )
        .await,
        r#""fine""#
    );
    assert_eq!(
        one(r#"a [type=http url="http://[::1]/"]"#.into(), "").await,
        r#""fine""#
    );
    // Quirk: a long body is cut at 32768 bytes, silently.
    assert_eq!(
        one(r#"a [type=http url="http://big/"]"#.into(), "")
            .await
            .len(),
        32768 + 2
    );
}
