//! Property tests: any PATCH body gives a `Resumption` or a typed error with a message,
//! never a panic (issue 11, item 4). Deterministic: a fixed seed, no persistence files.

use offchain_bridge::{ResumeBodyError, Resumption, parse_classic_callback, parse_resume_body};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"value\"",
    "\"error\"",
    "\"data\"",
    "\"status\"",
    "\"pending\"",
    "\"statusCode\"",
    "\"result\"",
    "\"errored\"",
    "\"success\"",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "200",
    "500",
    "1e999",
    "-0",
    "18446744073709551616",
    "\"\\ud800\"",
    "\"\\u0000\"",
    "\"name\"",
    "\"message\"",
    "\"providerStatusCode\"",
    " ",
    "\"",
    "\\",
    "é",
];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5eed_b41d),
        ..ProptestConfig::default()
    }
}

/// Raw bytes, or JSON-like token soup that reaches past the JSON syntax check.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..96),
        proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..24)
            .prop_map(|parts| format!("{{{}", parts.concat()).into_bytes()),
    ]
}

fn check(result: Result<Resumption, ResumeBodyError>) -> Result<(), TestCaseError> {
    if let Err(error) = result {
        prop_assert!(!error.to_string().is_empty(), "{error:?} has no message");
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn resume_bodies_parse_or_fail_with_a_message(body in body()) {
        let result = parse_resume_body(&body);
        // The resume form never keeps a run waiting.
        prop_assert!(!matches!(result, Ok(Resumption::Pending)));
        check(result)?;
    }

    #[test]
    fn classic_callbacks_parse_or_fail_with_a_message(body in body()) {
        check(parse_classic_callback(&body))?;
    }
}
