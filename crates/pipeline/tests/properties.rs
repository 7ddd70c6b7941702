//! Property tests: decimal text round-trips, JSON rendering is stable, and no task panics on
//! arbitrary values, attributes and inputs. Bounded case counts keep the whole file fast.

use std::collections::BTreeMap;

use num_bigint::BigInt;
use offchain_pipeline::tasks::{FixedPick, PureTask};
use offchain_pipeline::value::json::{Numbers, parse_first, parse_whole};
use offchain_pipeline::value::render::{to_body_json, to_json};
use offchain_pipeline::value::{Decimal, Resolver, Value, Vars};
use proptest::prelude::*;

fn decimal() -> impl Strategy<Value = Decimal> {
    (any::<i128>(), -40i64..40)
        .prop_map(|(m, e)| Decimal::new(BigInt::from(m), e).expect("small exponent"))
}

const INTERESTING: &[&str] = &[
    "",
    " ",
    "0",
    "1",
    "-2.5",
    "1e18",
    "1e99999",
    "-1e-99999",
    "0.1",
    "abc",
    "0x",
    "0xff",
    "0xzz",
    "true",
    "false",
    "null",
    "{\"a\":1}",
    "[1,2]",
    "[$(x), $(y)]",
    "{\"k\": $(x)}",
    "$(x)",
    "$(y)",
    "$(x.a)",
    "$(x.0)",
    "$(nope)",
    "$(x)$(y)",
    "\"$(x)\"",
    "a,b",
    "99999",
    "-99999",
    "2147483648",
    "aGVsbG8=",
    "[",
    "{\"a\":",
    "\u{130}ß",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(INTERESTING).prop_map(str::to_owned),
        "[ -~]{0,16}",
        "\\PC{0,8}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<u128>().prop_map(|u| Value::BigInt(BigInt::from(u))),
        any::<f64>().prop_map(Value::Float),
        text().prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
        decimal().prop_map(Value::Decimal),
        "[a-z]{0,5}".prop_map(Value::Error),
        any::<u128>().prop_map(|u| Value::Uuid(uuid::Uuid::from_u128(u))),
    ];
    scalar.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::btree_map("[a-c0-9]{0,2}", inner.clone(), 0..4).prop_map(Value::Map),
            inner.prop_map(|v| Value::Memo(Box::new(v))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn decimal_text_round_trips(d in decimal()) {
        let text = d.to_string();
        let back = Decimal::parse(&text).expect("rendered text parses");
        prop_assert_eq!(&back, &d);
        prop_assert_eq!(back.to_string(), text.clone());
        prop_assert!(!text.contains('e'));
        prop_assert!(!text.contains('.') || !text.ends_with('0'));
    }

    #[test]
    fn decimal_grammar_texts_parse_and_keep_their_value(
        text in "[+-]?[0-9]{0,25}(\\.[0-9]{0,25})?([eE][+-]?[0-9]{1,3})?"
    ) {
        if let Ok(d) = Decimal::parse(&text) {
            let again = Decimal::parse(&d.to_string()).expect("rendered text parses");
            prop_assert_eq!(again, d);
        } else {
            // Only texts without any digit before the exponent are outside the grammar.
            let body = text.split(['e', 'E']).next().unwrap_or("");
            prop_assert!(!body.bytes().any(|b| b.is_ascii_digit()), "{} refused", text);
        }
    }

    #[test]
    fn floats_become_their_shortest_decimal(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        let d = Decimal::from_f64(f).expect("finite");
        prop_assert_eq!(d.to_string().parse::<f64>().expect("decimal text is a float"), f);
    }

    #[test]
    fn json_parsing_never_panics_and_rendering_is_stable(text in text()) {
        if let Ok(v) = parse_first(&text, Numbers::Exact) {
            let shown = to_json(&v);
            let reparsed = parse_whole(&shown, Numbers::Exact).expect("rendered JSON parses");
            // One round may turn a float -0 (shown `-0`) into the integer 0; after that the
            // rendering is a fixed point.
            let once = to_json(&reparsed);
            let twice = to_json(&parse_whole(&once, Numbers::Exact).expect("parses again"));
            prop_assert_eq!(twice, once);
        }
        let _ = parse_whole(&text, Numbers::Floats);
    }

    #[test]
    fn rendering_any_value_gives_json(v in value()) {
        let shown = to_json(&v);
        prop_assert!(parse_whole(&shown, Numbers::Exact).is_ok(), "{}", shown);
        if let Ok(body) = to_body_json(&v) {
            prop_assert!(parse_whole(&body, Numbers::Exact).is_ok(), "{}", body);
        }
    }

    #[test]
    fn no_task_panics(
        task in prop::sample::select(PureTask::all().collect::<Vec<_>>()),
        attr_values in prop::collection::vec(prop::option::of(text()), 4),
        inputs in prop::collection::vec(value(), 0..4),
        x in value(),
        y in value(),
    ) {
        let attrs: BTreeMap<String, String> = task
            .attributes()
            .iter()
            .zip(attr_values)
            .filter_map(|(name, v)| v.map(|v| ((*name).to_owned(), v)))
            .collect();
        let mut vars = Vars::new();
        vars.set_webhook_run("{\"a\": [1]}", Value::Null);
        vars.set_output("x", x);
        vars.set_output("y", y);
        let resolver = Resolver::new(&attrs, &vars, &inputs);
        match task.run(&resolver, &FixedPick(3)) {
            Ok(out) => prop_assert!(parse_whole(&to_json(&out), Numbers::Exact).is_ok()),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
