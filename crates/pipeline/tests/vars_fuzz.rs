//! Property tests for variable resolution (issue 11, item 4): any key path over any request
//! body resolves to a value or a precise `VarError`, never panics; and a path built from a
//! value's own keys always resolves. Deterministic: a fixed seed, no persistence files.

use offchain_pipeline::value::{Value, VarError, Vars};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

const SEGMENTS: &[&str] = &[
    "jobRun",
    "requestBody",
    "meta",
    "jobSpec",
    "name",
    "databaseID",
    "ds",
    "a",
    "b",
    "0",
    "1",
    "-1",
    "+1",
    "01",
    "18446744073709551616",
    "",
    " ",
    "é",
    "bad",
    "k",
    "n",
];

const BODY_PARTS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"a\"",
    "\"b\"",
    "\"k\"",
    "\"n\"",
    "0",
    "1",
    "-1",
    "1e999",
    "18446744073709551616",
    "null",
    "true",
    "\"x\"",
    "\"\\ud800\"",
    " ",
];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x7a25),
        ..ProptestConfig::default()
    }
}

fn vars(body: &str) -> Vars {
    let mut vars = Vars::new();
    vars.set_job_spec(7, uuid_nil(), "job", Some("1"));
    vars.set_webhook_run(body, Value::Null);
    vars.set_output("ds", Value::List(vec![Value::Int(1), Value::string("s")]));
    vars.set_error("bad", "boom");
    vars
}

fn uuid_nil() -> uuid::Uuid {
    uuid::Uuid::nil()
}

/// A path from known segments joined by dots (and stray dots), or any text at all.
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(proptest::sample::select(SEGMENTS), 0..6)
            .prop_map(|segments| segments.join(".")),
        any::<String>(),
    ]
}

fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(proptest::sample::select(BODY_PARTS), 0..20)
            .prop_map(|parts| parts.concat()),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_path_resolves_or_fails_precisely(body in body(), path in path()) {
        let vars = vars(&body);
        match vars.get(&path) {
            Ok(_) => prop_assert!(!path.trim().is_empty()),
            Err(error) => {
                prop_assert!(!error.to_string().is_empty());
                match error {
                    VarError::WrongKeypath => prop_assert!(
                        path.trim().split('.').any(str::is_empty)
                    ),
                    VarError::NotFound { path: named, .. }
                    | VarError::IndexOutOfRange { path: named, .. } => {
                        prop_assert_eq!(named, path.trim());
                    }
                    VarError::NotContainer { .. } => {}
                }
            }
        }
    }

    /// Every request-body path made from the body's own keys resolves.
    #[test]
    fn paths_into_a_json_body_resolve(key in "[a-z]{1,4}", index in 0usize..3) {
        let body = format!(r#"{{"{key}": [0, {{"v": 1}}, 2]}}"#);
        let vars = vars(&body);
        let path = format!("jobRun.requestBody.{key}.{index}");
        prop_assert!(vars.get(&path).is_ok(), "{path}");
    }
}
