//! Property tests for label selectors (issue 11, item 4): any text parses or fails with a
//! message naming the input, never panics; what parses survives a format/parse round trip,
//! passes `validate_selector`, and the JD's matcher takes any selector, even malformed.
//! Deterministic: a fixed seed, no persistence files.

use offchain::proto::label::{Label, Selector};
use offchain::selector::{format_selectors, parse_label, parse_selectors, validate_selector};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

const FRAGMENTS: &[&str] = &[
    "env", "prod", "k", "v", "=", "==", "!=", "!", "in", "notin", " in ", " notin ", "(", ")", ",",
    " ", "\t", "é", "🦀", "a.b/c", "-", "_", "\u{0}", "\u{2028}",
];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x005e_1ec7),
        ..ProptestConfig::default()
    }
}

/// Arbitrary strings, or selector-like token soup that reaches past the tokenizer.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..16)
            .prop_map(|parts| parts.concat()),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn selectors_parse_or_fail_with_a_message(input in text()) {
        match parse_selectors(&input) {
            Ok(selectors) => {
                for selector in &selectors {
                    prop_assert!(validate_selector(selector).is_ok(), "{selector:?}");
                }
                let again = parse_selectors(&format_selectors(&selectors));
                prop_assert_eq!(again.as_ref().ok(), Some(&selectors));
            }
            Err(error) => {
                prop_assert!(!error.reason.is_empty());
                prop_assert_eq!(&error.input, &input);
            }
        }
    }

    #[test]
    fn labels_parse_or_fail_with_a_message(input in text()) {
        if let Err(error) = parse_label(&input) {
            prop_assert!(!error.reason.is_empty());
        }
    }

    /// The JD receives selectors as protobuf, so any key, operator number and value.
    #[test]
    fn the_jd_matches_any_selector(
        key in text(),
        op in any::<i32>(),
        value in proptest::option::of(text()),
        label_value in proptest::option::of(text()),
    ) {
        let labels = vec![Label { key: key.clone(), value: label_value }];
        let selector = Selector { key, op: op % 8, value };
        // Only "no panic" is checked here; the semantics have unit tests in the JD.
        let _ = offchain_jd::selector::matches(&labels, &selector);
        if validate_selector(&selector).is_err() {
            // A selector the client refuses must not match everything by accident.
            prop_assert!(!offchain_jd::selector::matches(&[], &selector)
                || selector.op == offchain::proto::label::SelectorOp::NotExist as i32);
        }
    }
}
