//! bridge.md §4: the PATCH bodies that finish a suspended task, both routes.

use offchain_bridge::protocol::{AdapterResponse, ErrorBody, Timestamps};
use offchain_bridge::resume::{
    MAX_RESUME_BODY_BYTES, ResumeBodyError, Resumption, parse_classic_callback, parse_resume_body,
};
use serde_json::{Map, json};

fn resume(body: &str) -> Result<Resumption, ResumeBodyError> {
    parse_resume_body(body.as_bytes())
}

fn classic(body: &str) -> Result<Resumption, ResumeBodyError> {
    parse_classic_callback(body.as_bytes())
}

fn value(text: &str) -> Result<Resumption, ResumeBodyError> {
    Ok(Resumption::Value(text.to_owned()))
}

fn failed(message: &str) -> Result<Resumption, ResumeBodyError> {
    Ok(Resumption::Error(message.to_owned()))
}

#[test]
fn a_value_is_kept_as_its_exact_json_text() {
    assert_eq!(resume(r#"{"value": 5}"#), value("5"));
    assert_eq!(resume(r#"{"value": "x"}"#), value(r#""x""#));
    assert_eq!(resume(r#"{"value": null}"#), value("null"));
    // Digits, spacing and key order survive: no number goes through f64.
    assert_eq!(
        resume(r#"{"value": {"b": 1.10, "a": 123456789012345678901234567890}}"#),
        value(r#"{"b": 1.10, "a": 123456789012345678901234567890}"#)
    );
    assert_eq!(
        resume(r#"{"value": [0.1, 1e18], "other": true}"#),
        value("[0.1, 1e18]")
    );
}

#[test]
fn an_error_is_its_message() {
    assert_eq!(resume(r#"{"error": "boom"}"#), failed("boom"));
    assert_eq!(resume(r#"{"error": ""}"#), failed(""));
    assert_eq!(
        resume(r#"{"error": "a \"quoted\" \u00e9"}"#),
        failed("a \"quoted\" é")
    );
    // `"error": null` is no error (reference behaviour), so the value decides.
    assert_eq!(resume(r#"{"error": null, "value": 1}"#), value("1"));
}

#[test]
fn exactly_one_of_value_and_error() {
    assert_eq!(
        resume(r#"{"value": 1, "error": "boom"}"#),
        Err(ResumeBodyError::BothValueAndError)
    );
    assert_eq!(
        resume(r#"{"value": null, "error": "boom"}"#),
        Err(ResumeBodyError::BothValueAndError)
    );
    for neither in ["{}", r#"{"error": null}"#, r#"{"data": {"result": 1}}"#] {
        assert_eq!(
            resume(neither),
            Err(ResumeBodyError::NeitherValueNorError),
            "{neither}"
        );
    }
}

#[test]
fn an_error_must_be_a_string() {
    for body in [
        r#"{"error": 5}"#,
        r#"{"error": {"message": "m"}}"#,
        r#"{"error": true}"#,
    ] {
        let refused = resume(body);
        assert_eq!(
            refused,
            Err(ResumeBodyError::WrongType {
                key: "error",
                expected: "a string"
            }),
            "{body}"
        );
    }
    assert_eq!(
        resume(r#"{"error": 5}"#).map_err(|e| e.to_string()),
        Err("\"error\" must be a string".to_owned())
    );
}

#[test]
fn malformed_bodies_are_precise_errors() {
    for bad in [
        "",
        "{\"value\": ",
        "{\"value\": 1} trailing",
        "{value: 1}",
        "\u{1}",
    ] {
        let Err(ResumeBodyError::InvalidJson(why)) = resume(bad) else {
            panic!("{bad:?} must be invalid JSON");
        };
        assert!(why.contains("line 1 column"), "{why}");
        let Err(ResumeBodyError::InvalidJson(_)) = classic(bad) else {
            panic!("{bad:?} must be invalid JSON for the classic route too");
        };
    }
    for not_object in ["[1]", "\"value\"", "null", "5"] {
        assert_eq!(resume(not_object), Err(ResumeBodyError::NotAnObject));
        assert_eq!(classic(not_object), Err(ResumeBodyError::NotAnObject));
    }
    assert_eq!(
        parse_resume_body(b"{\"value\": \"\xff\"}")
            .map_err(|e| matches!(e, ResumeBodyError::InvalidJson(_))),
        Err(true),
        "invalid UTF-8 is bad JSON"
    );
    assert_eq!(
        ResumeBodyError::NotAnObject.to_string(),
        "body must be a JSON object"
    );
}

#[test]
fn bodies_over_the_bound_are_refused_before_parsing() {
    let filler = "x".repeat(MAX_RESUME_BODY_BYTES - r#"{"value": ""}"#.len());
    let at_bound = format!(r#"{{"value": "{filler}"}}"#);
    assert_eq!(at_bound.len(), MAX_RESUME_BODY_BYTES);
    assert!(matches!(resume(&at_bound), Ok(Resumption::Value(_))));
    let over = format!(r#"{{"value": "{filler}x"}}"#);
    assert_eq!(resume(&over), Err(ResumeBodyError::TooLarge));
    assert_eq!(classic(&over), Err(ResumeBodyError::TooLarge));
    assert_eq!(
        ResumeBodyError::TooLarge.to_string(),
        "body exceeds 32768 bytes"
    );
}

/// The adapter framework's resume form: `{"value": <success response>}` or
/// `{"error": "<name>: <message>"}`.
#[test]
fn the_adapter_frameworks_resume_bodies() {
    let success = AdapterResponse::success(
        "7".into(),
        json!(467.85),
        Map::new(),
        Timestamps::default(),
        json!({}),
    );
    let body = serde_json::to_string(&json!({ "value": success })).expect("serializes");
    let Ok(Resumption::Value(output)) = resume(&body) else {
        panic!("a success value resumes");
    };
    let output: serde_json::Value = serde_json::from_str(&output).expect("JSON text");
    assert_eq!(output["data"]["result"], json!(467.85));
    assert_eq!(output["result"], json!(467.85));
    assert_eq!(
        resume(r#"{"error": "AdapterDataProviderError: maintenance"}"#),
        failed("AdapterDataProviderError: maintenance")
    );
}

#[test]
fn a_classic_success_is_the_whole_body() {
    let body = r#"{"jobRunID": "7", "data": {"result": 467.85}, "result": 467.85,
        "statusCode": 200, "status": "completed", "error": null, "pending": false}"#;
    assert_eq!(classic(body), value(body));
    let minimal = r#"{"data": {"result": 1}}"#;
    assert_eq!(classic(minimal), value(minimal));
    let nulls = r#"{"data": null, "status": null, "pending": null}"#;
    assert_eq!(classic(nulls), value(nulls));
}

#[test]
fn classic_pending_keeps_waiting() {
    let pending = serde_json::to_string(&AdapterResponse::pending("7".into())).expect("JSON");
    assert_eq!(classic(&pending), Ok(Resumption::Pending));
    assert_eq!(
        classic(r#"{"pending": false, "data": {}}"#),
        value(r#"{"pending": false, "data": {}}"#)
    );
}

#[test]
fn classic_errors() {
    let errored = AdapterResponse::errored(
        "7".into(),
        502,
        Some(503),
        ErrorBody {
            name: "AdapterDataProviderError".into(),
            message: "maintenance".into(),
        },
    );
    let body = serde_json::to_string(&errored).expect("JSON");
    assert_eq!(
        classic(&body),
        failed("AdapterDataProviderError: maintenance")
    );

    let cases = [
        (r#"{"status": "errored", "error": "boom"}"#, "boom"),
        (r#"{"error": {"message": "m"}, "pending": false}"#, "m"),
        (
            r#"{"status": "errored", "errorMessage": "legacy"}"#,
            "legacy",
        ),
        (r#"{"status": "errored"}"#, "adapter answered with an error"),
        (
            r#"{"statusCode": 504}"#,
            "adapter answered with status code 504",
        ),
        (
            r#"{"statusCode": 200, "providerStatusCode": 503, "data": {}}"#,
            "adapter answered with status code 503",
        ),
        (
            r#"{"statusCode": 200, "error": {}}"#,
            "adapter answered with status code 500",
        ),
        // An error ends the wait even when the body also says pending.
        (r#"{"error": "boom", "pending": true}"#, "boom"),
    ];
    for (body, message) in cases {
        assert_eq!(classic(body), failed(message), "{body}");
    }
}

#[test]
fn classic_fields_are_typed() {
    for (body, key, expected) in [
        (r#"{"pending": "yes"}"#, "pending", "a boolean"),
        (r#"{"data": [1]}"#, "data", "an object"),
        (r#"{"status": 1}"#, "status", "a string"),
    ] {
        assert_eq!(
            classic(body),
            Err(ResumeBodyError::WrongType { key, expected }),
            "{body}"
        );
    }
    assert_eq!(
        classic(r#"{"data": 5}"#).map_err(|e| e.to_string()),
        Err("\"data\" must be an object".to_owned())
    );
}

#[test]
fn deep_values_are_kept_and_deep_data_does_not_hide_an_error() {
    let deep = format!("{}{}", "[".repeat(2000), "]".repeat(2000));
    assert_eq!(resume(&format!(r#"{{"value": {deep}}}"#)), value(&deep));
    let success = format!(r#"{{"data": {{"deep": {deep}}}, "statusCode": 200}}"#);
    assert_eq!(classic(&success), value(&success));
    let errored = format!(r#"{{"data": {{"deep": {deep}}}, "statusCode": 502, "error": "down"}}"#);
    assert_eq!(classic(&errored), failed("down"));
}
