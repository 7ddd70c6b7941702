//! bridge.md §1 ("current node" row): the body a node POSTs to a bridge.

use offchain_bridge::protocol::AdapterRequest;
use offchain_bridge::request::{RequestExtras, build_request_body, resume_url};
use serde_json::{Map, Value, json};

fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn built(request_data: Value, extras: RequestExtras<'_>) -> Value {
    Value::Object(build_request_body(map(request_data), &extras))
}

const RESUME: &str = "http://node:6688/v2/resume/6b0e9a0e-8f0b-4a4e-9d5c-5e1f1c7f6c11";

#[test]
fn request_data_is_sent_verbatim() {
    let data = json!({"id": "7", "data": {"coin": "ETH", "market": "USD"}, "extra": [1, null]});
    assert_eq!(built(data.clone(), RequestExtras::default()), data);
    assert_eq!(built(json!({}), RequestExtras::default()), json!({}));
}

#[test]
fn meta_is_added_only_when_it_is_an_object() {
    let data = json!({"data": {"coin": "ETH"}});
    let cron = json!({});
    let with_meta = |meta: &Value| {
        built(
            data.clone(),
            RequestExtras {
                meta: Some(meta),
                ..Default::default()
            },
        )
    };
    assert_eq!(
        with_meta(&cron),
        json!({"data": {"coin": "ETH"}, "meta": {}})
    );
    let oracle = json!({"oracleRequest": {"requestId": "0x01"}});
    assert_eq!(with_meta(&oracle)["meta"], oracle);
    // A webhook run's meta is null: nothing is added. Other kinds are not maps either.
    for not_a_map in [json!(null), json!("m"), json!([1]), json!(5)] {
        assert_eq!(with_meta(&not_a_map), data, "{not_a_map}");
    }
    // The run's meta replaces a `meta` written in requestData.
    let own = built(
        json!({"meta": "mine"}),
        RequestExtras {
            meta: Some(&cron),
            ..Default::default()
        },
    );
    assert_eq!(own, json!({"meta": {}}));
}

#[test]
fn the_first_input_goes_under_include_input_at_key_exactly() {
    let input = json!("467.85");
    let with_key = |key| {
        built(
            json!({"data": {"coin": "ETH"}}),
            RequestExtras {
                include_input: Some((key, &input)),
                ..Default::default()
            },
        )
    };
    assert_eq!(
        with_key("input"),
        json!({"data": {"coin": "ETH"}, "input": "467.85"})
    );
    // Dots are part of the key, not a path.
    assert_eq!(with_key("data.price")["data.price"], input);
    assert_eq!(with_key("data.price")["data"], json!({"coin": "ETH"}));
    // The key replaces a key of requestData; an empty key adds nothing.
    assert_eq!(with_key("data"), json!({"data": "467.85"}));
    assert_eq!(with_key(""), json!({"data": {"coin": "ETH"}}));
}

#[test]
fn response_url_is_added_for_async_tasks_and_wins() {
    let body = built(
        json!({"id": "7", "data": {}, "responseURL": "http://elsewhere/"}),
        RequestExtras {
            response_url: Some(RESUME),
            ..Default::default()
        },
    );
    assert_eq!(body, json!({"id": "7", "data": {}, "responseURL": RESUME}));
}

#[test]
fn later_extras_replace_earlier_ones() {
    let meta = json!({"m": 1});
    let input = json!(5);
    let body = built(
        json!({}),
        RequestExtras {
            meta: Some(&meta),
            include_input: Some(("meta", &input)),
            response_url: None,
        },
    );
    assert_eq!(body, json!({"meta": 5}), "the input replaces meta");
    let body = built(
        json!({}),
        RequestExtras {
            meta: None,
            include_input: Some(("responseURL", &input)),
            response_url: Some(RESUME),
        },
    );
    assert_eq!(
        body,
        json!({"responseURL": RESUME}),
        "responseURL replaces the input"
    );
}

#[test]
fn resume_urls() {
    let id = "6b0e9a0e-8f0b-4a4e-9d5c-5e1f1c7f6c11";
    assert_eq!(resume_url("http://node:6688", id), RESUME);
    assert_eq!(resume_url("http://node:6688/", id), RESUME);
    assert_eq!(
        resume_url("https://node.example/base/", id),
        format!("https://node.example/base/v2/resume/{id}")
    );
}

/// What the node sends is what the adapter framework reads.
#[test]
fn a_built_body_parses_as_an_adapter_request() {
    let meta = json!({"oracleRequest": {"requestId": "0x01"}});
    let body = built(
        json!({"id": "c0ffee", "data": {"coin": "ETH", "market": "USD"}}),
        RequestExtras {
            meta: Some(&meta),
            include_input: None,
            response_url: Some(RESUME),
        },
    );
    let request: AdapterRequest = serde_json::from_value(body).expect("parses");
    assert_eq!(request.job_run_id(), "c0ffee");
    assert_eq!(request.data["coin"], "ETH");
    assert_eq!(request.meta, Some(meta));
    assert_eq!(request.response_url.as_deref(), Some(RESUME));
}
