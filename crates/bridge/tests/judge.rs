//! bridge.md §3: every answer shape a node meets, judged as the spec says.

use offchain_bridge::judge::{BridgeError, BridgeResponse, MAX_RESPONSE_BYTES, Verdict, judge};
use offchain_bridge::protocol::{AdapterResponse, ErrorBody, Timestamps};
use serde_json::{Map, json};

const URL: &str = "http://ea:8080/";

fn judged_with(status: u16, header: Option<&str>, body: &[u8], is_async: bool) -> Verdict {
    judge(
        &BridgeResponse {
            url: URL,
            status,
            pending_header: header,
            body,
        },
        is_async,
    )
}

fn judged(status: u16, body: &str) -> Verdict {
    judged_with(status, None, body.as_bytes(), false)
}

fn error(verdict: Verdict) -> BridgeError {
    match verdict {
        Verdict::Error(error) => {
            assert!(!Verdict::Error(error.clone()).cacheable());
            error
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Asserts an error with exactly this text and retry flag.
fn assert_error(verdict: Verdict, message: &str, retryable: bool) {
    let error = error(verdict);
    assert_eq!(error.message, message);
    assert_eq!(error.retryable, retryable, "retryable for {message:?}");
}

fn assert_value(verdict: Verdict, body: &str) {
    assert!(verdict.cacheable(), "a value is cacheable");
    assert_eq!(verdict, Verdict::Value(body.to_owned()));
}

#[test]
fn a_full_success_is_the_raw_body() {
    let body = r#"{"jobRunID": "278c97ff", "data": {"symbol": "ETH-USD", "result": 467.85},
 "result": 467.85, "statusCode": 200, "status": "completed", "error": null, "pending": false,
 "timestamps": {"providerDataRequestedUnixMs": 1700000000000, "providerDataReceivedUnixMs": 1700000000042},
 "meta": {}}"#;
    assert_value(judged(200, body), body);
    assert_value(judged_with(200, None, body.as_bytes(), true), body);
}

#[test]
fn data_result_and_top_level_result_are_both_just_bodies() {
    // The judge never extracts `result`: downstream `jsonparse` picks `data,result` or `result`.
    for body in [
        r#"{"data": {"result": 5}}"#,
        r#"{"result": 5}"#,
        r#"{"data": {"result": 5}, "result": 6, "statusCode": 200}"#,
        r#"{"data": {"price": 5}}"#,
        r#"{"jobRunID": "1", "data": {"result": "0x01"}, "statusCode": 200, "error": null}"#,
    ] {
        assert_value(judged(200, body), body);
    }
}

#[test]
fn an_error_body_with_http_200_and_status_code_500_is_an_uncacheable_error() {
    let body = r#"{"jobRunID": "1", "data": {}, "status": "errored", "statusCode": 500,
        "error": {"name": "AdapterError", "message": "boom"}, "pending": false}"#;
    let verdict = judged(200, body);
    assert!(!verdict.cacheable());
    assert_error(
        verdict,
        "got error from http://ea:8080/: (status code 500) AdapterError: boom",
        true,
    );
}

#[test]
fn the_body_status_code_overrides_http_200() {
    let cases = [
        (
            r#"{"statusCode": 400, "error": {"name": "AdapterInputError", "message": "missing coin"}}"#,
            "(status code 400) AdapterInputError: missing coin",
            false,
        ),
        (
            r#"{"statusCode": 504, "error": "timed out"}"#,
            "(status code 504) timed out",
            true,
        ),
        (
            r#"{"statusCode": 429, "errorMessage": "slow down"}"#,
            "(status code 429) slow down",
            false,
        ),
        // No message anywhere: the raw body, as for an HTTP error.
        (
            r#"{"statusCode": 503}"#,
            r#"(status code 503) {"statusCode": 503}"#,
            true,
        ),
        // An error object with only one of its two fields.
        (
            r#"{"statusCode": 502, "error": {"message": "upstream down"}}"#,
            "(status code 502) upstream down",
            true,
        ),
        (
            r#"{"statusCode": 502, "error": {"name": "AdapterDataProviderError"}}"#,
            "(status code 502) AdapterDataProviderError",
            true,
        ),
        (
            r#"{"statusCode": -1}"#,
            r#"(status code -1) {"statusCode": -1}"#,
            false,
        ),
    ];
    for (body, tail, retryable) in cases {
        assert_error(
            judged(200, body),
            &format!("got error from {URL}: {tail}"),
            retryable,
        );
    }
}

#[test]
fn provider_status_code_counts_when_status_code_is_200() {
    let body = r#"{"statusCode": 200, "providerStatusCode": 503, "data": {"result": 1}}"#;
    assert_error(
        judged(200, body),
        &format!("got error from {URL}: (status code 503) {body}"),
        true,
    );
    let body = r#"{"statusCode": 200, "providerStatusCode": 404, "error": "no such coin"}"#;
    assert_error(
        judged(200, body),
        &format!("got error from {URL}: (status code 404) no such coin"),
        false,
    );
    let ok = r#"{"statusCode": 200, "providerStatusCode": 200, "result": 1}"#;
    assert_value(judged(200, ok), ok);
    // providerStatusCode alone (without statusCode) is not read: the HTTP status decides.
    let alone = r#"{"providerStatusCode": 503, "result": 1}"#;
    assert_value(judged(200, alone), alone);
}

#[test]
fn a_non_null_error_with_status_code_200_is_a_500() {
    for (body, detail) in [
        (r#"{"statusCode": 200, "error": "boom"}"#, "boom".to_owned()),
        (
            r#"{"statusCode": 200, "error": {"name": "N", "message": "M"}}"#,
            "N: M".to_owned(),
        ),
        (
            r#"{"statusCode": 200, "error": {}}"#,
            r#"{"statusCode": 200, "error": {}}"#.to_owned(),
        ),
        (
            r#"{"statusCode": 200, "error": false}"#,
            r#"{"statusCode": 200, "error": false}"#.to_owned(),
        ),
    ] {
        assert_error(
            judged(200, body),
            &format!("got error from {URL}: (status code 500) {detail}"),
            true,
        );
    }
    // `error` without `statusCode` is not looked at: nodes treat it as a success (which is
    // why adapters must never send errors with HTTP 200).
    let body = r#"{"error": "boom", "result": 1}"#;
    assert_value(judged(200, body), body);
}

#[test]
fn http_errors_use_error_then_error_message_then_error_dot_message_then_the_body() {
    let cases = [
        (404, r#"{"error": "not found"}"#, "not found"),
        (400, r#"{"errorMessage": "bad input"}"#, "bad input"),
        (
            429,
            r#"{"error": "", "errorMessage": "slow down"}"#,
            "slow down",
        ),
        (
            502,
            r#"{"jobRunID": "1", "data": {}, "status": "errored", "statusCode": 502,
 "providerStatusCode": 503,
 "error": {"name": "AdapterDataProviderError", "message": "The endpoint is under maintenance."},
 "pending": false}"#,
            // Item 2 reads `error.message` alone; the name is item 3's.
            "The endpoint is under maintenance.",
        ),
        (
            500,
            r#"{"error": "first", "errorMessage": "second"}"#,
            "first",
        ),
        (500, "Internal Server Error", "Internal Server Error"),
        (503, "", ""),
        (500, "[1, 2]", "[1, 2]"),
        (401, r#"{"error": 7}"#, r#"{"error": 7}"#),
    ];
    for (status, body, detail) in cases {
        assert_error(
            judged(status, body),
            &format!("got error from {URL}: (status code {status}) {detail}"),
            status >= 500,
        );
    }
}

#[test]
fn http_error_statuses_win_over_a_body_that_claims_success() {
    let body = r#"{"statusCode": 200, "result": 1, "pending": true}"#;
    assert_error(
        judged_with(500, Some("true"), body.as_bytes(), true),
        &format!("got error from {URL}: (status code 500) {body}"),
        true,
    );
    assert_error(
        judged(499, body),
        &format!("got error from {URL}: (status code 499) {body}"),
        false,
    );
}

#[test]
fn without_status_code_the_http_status_decides() {
    for status in [201, 202, 204, 304] {
        assert_error(
            judged(status, r#"{"result": 1}"#),
            &format!("got error from {URL}: (status code {status}) {{\"result\": 1}}"),
            false,
        );
    }
    // With a body `statusCode` of 200, a 2xx HTTP status is fine.
    let body = r#"{"statusCode": 200, "result": 1}"#;
    assert_value(judged(202, body), body);
}

#[test]
fn status_fields_of_the_wrong_type_count_as_absent() {
    for body in [
        r#"{"statusCode": "500", "result": 1}"#,
        r#"{"statusCode": 500.5, "result": 1}"#,
        r#"{"statusCode": null, "error": "x"}"#,
        r#"{"statusCode": 200, "providerStatusCode": "503"}"#,
    ] {
        assert_value(judged(200, body), body);
    }
}

#[test]
fn pending_by_body_or_by_header_suspends_only_async_tasks() {
    let pending = r#"{"jobRunID": "1", "data": {}, "pending": true, "statusCode": 200}"#;
    let by_body = judged_with(200, None, pending.as_bytes(), true);
    assert_eq!(by_body, Verdict::Pending);
    assert!(!by_body.cacheable());
    assert_value(judged_with(200, None, pending.as_bytes(), false), pending);

    // The header counts whatever its value and whatever the body (even a non-JSON one).
    for (header, body) in [
        ("true", r#"{"result": 1}"#),
        ("false", r#"{"result": 1}"#),
        ("", "accepted"),
        ("true", ""),
    ] {
        assert_eq!(
            judged_with(200, Some(header), body.as_bytes(), true),
            Verdict::Pending,
            "header {header:?}, body {body:?}"
        );
        assert_value(judged_with(200, Some(header), body.as_bytes(), false), body);
    }
}

#[test]
fn only_a_boolean_true_pending_counts() {
    for body in [
        r#"{"pending": "true"}"#,
        r#"{"pending": 1}"#,
        r#"{"pending": false}"#,
        r#"{"data": {"pending": true}}"#,
        r#"[{"pending": true}]"#,
    ] {
        assert_value(judged_with(200, None, body.as_bytes(), true), body);
    }
}

#[test]
fn a_pending_answer_that_is_an_error_is_an_error() {
    let body = r#"{"pending": true, "statusCode": 500, "error": {"name": "E", "message": "m"}}"#;
    assert_error(
        judged_with(200, Some("true"), body.as_bytes(), true),
        &format!("got error from {URL}: (status code 500) E: m"),
        true,
    );
}

#[test]
fn non_json_empty_and_non_object_bodies_are_values() {
    for body in [
        "467.85",
        "plain text",
        "",
        "[1, 2, 3]",
        "\"s\"",
        "null",
        "{\"a\": ",
    ] {
        assert_value(judged(200, body), body);
    }
}

#[test]
fn invalid_utf8_is_replaced_not_refused() {
    let verdict = judged_with(200, None, b"{\"result\": \"\xff\"}", false);
    assert_value(verdict, "{\"result\": \"\u{fffd}\"}");
}

#[test]
fn bodies_over_the_bound_are_errors() {
    let at_bound = format!("\"{}\"", "x".repeat(MAX_RESPONSE_BYTES - 2));
    assert_eq!(at_bound.len(), MAX_RESPONSE_BYTES);
    assert_value(judged(200, &at_bound), &at_bound);

    let over = "x".repeat(MAX_RESPONSE_BYTES + 1);
    assert_error(
        judged(200, &over),
        &format!("got error from {URL}: response body exceeds 32768 bytes"),
        false,
    );
    assert_error(
        judged_with(200, Some("true"), over.as_bytes(), true),
        &format!("got error from {URL}: response body exceeds 32768 bytes"),
        false,
    );
    // A 5xx stays retryable even when its body cannot be read.
    assert_error(
        judged(503, &over),
        &format!("got error from {URL}: (status code 503) response body exceeds 32768 bytes"),
        true,
    );
}

#[test]
fn transport_errors_and_timeouts_are_retryable() {
    let refused = BridgeError::transport("connection refused");
    assert_eq!(
        refused.to_string(),
        "error making http request: connection refused"
    );
    assert!(refused.retryable);
    let late = BridgeError::timed_out();
    assert_eq!(late.to_string(), "http request timed out or interrupted");
    assert!(late.retryable);
    assert!(!Verdict::Error(late).cacheable());
}

/// What the adapter framework (the server side) sends is judged as the spec intends: the
/// two sides of the protocol agree.
#[test]
fn answers_built_from_the_protocol_types_are_judged_as_intended() {
    let success = AdapterResponse::success(
        "7".into(),
        json!(467.85),
        Map::new(),
        Timestamps::default(),
        json!({}),
    );
    let body = serde_json::to_vec(&success).expect("serializes");
    let verdict = judged_with(success.status_code(), None, &body, true);
    assert_eq!(
        verdict,
        Verdict::Value(String::from_utf8(body).expect("UTF-8"))
    );

    let errored = AdapterResponse::errored(
        "7".into(),
        502,
        Some(503),
        ErrorBody {
            name: "AdapterDataProviderError".into(),
            message: "maintenance".into(),
        },
    );
    let body = serde_json::to_vec(&errored).expect("serializes");
    assert_error(
        judged_with(errored.status_code(), None, &body, false),
        &format!("got error from {URL}: (status code 502) maintenance"),
        true,
    );
    // The same body arriving with HTTP 200 (a broken proxy) is still an error, by item 3.
    assert_error(
        judged_with(200, None, &body, false),
        &format!("got error from {URL}: (status code 502) AdapterDataProviderError: maintenance"),
        true,
    );

    let pending = AdapterResponse::pending("7".into());
    let body = serde_json::to_vec(&pending).expect("serializes");
    assert_eq!(
        judged_with(pending.status_code(), None, &body, true),
        Verdict::Pending
    );
}

/// Seeded mutations of answer bodies: the judge always gives a verdict, an HTTP error status
/// always gives an error, and only values are cacheable.
#[test]
fn mutated_bodies_never_panic_and_keep_the_invariants() {
    let seeds: [&[u8]; 4] = [
        br#"{"jobRunID":"1","data":{"result":1},"result":1,"statusCode":200,"error":null}"#,
        br#"{"statusCode":502,"providerStatusCode":503,"error":{"name":"N","message":"M"}}"#,
        br#"{"pending":true,"statusCode":200}"#,
        br#"{"error":"x","errorMessage":"y"}"#,
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..4000 {
        let mut body = seeds[round % seeds.len()].to_vec();
        for _ in 0..(next() % 4) {
            let at = (next() as usize) % (body.len() + 1);
            match next() % 3 {
                0 if at < body.len() => {
                    body.remove(at);
                }
                1 => body.insert(at, (next() % 256) as u8),
                _ => body.insert(at, b"{}[]\":,0-"[(next() % 9) as usize]),
            }
        }
        let status = [200, 201, 400, 404, 500, 502][(next() % 6) as usize];
        let verdict = judged_with(status, None, &body, next() % 2 == 0);
        if status >= 400 {
            assert!(matches!(verdict, Verdict::Error(_)), "{verdict:?}");
        }
        assert_eq!(verdict.cacheable(), matches!(verdict, Verdict::Value(_)));
    }
}

/// serde_json gives up past 128 nested levels; a deep `data` must not hide the error beside
/// it (which would make it a cacheable value).
#[test]
fn deep_nesting_does_not_hide_an_error() {
    let deep = format!("{}{}", "[".repeat(2000), "]".repeat(2000));
    let body = format!(r#"{{"statusCode": 500, "error": "boom", "data": {deep}}}"#);
    assert_error(
        judged(200, &body),
        &format!("got error from {URL}: (status code 500) boom"),
        true,
    );
    let body = format!(r#"{{"statusCode": 200, "error": {{"deep": {deep}}}}}"#);
    assert_error(
        judged(200, &body),
        &format!("got error from {URL}: (status code 500) {body}"),
        true,
    );
    let body = format!(r#"{{"pending": true, "data": {deep}}}"#);
    assert_eq!(
        judged_with(200, None, body.as_bytes(), true),
        Verdict::Pending
    );
    let body = format!(r#"{{"statusCode": 200, "data": {deep}}}"#);
    assert_value(judged(200, &body), &body);
}
