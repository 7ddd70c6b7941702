//! Property tests: random and mutated specs never panic, and every error lies in the file.

use offchain_pipeline::{JobSpec, Pipeline, SpecError};
use proptest::prelude::*;

const VALID: &str = r#"type = "webhook"
schemaVersion = 1
name = "eth-usd"
externalJobID = "0eec7e1d-d0d2-476c-a1a8-72dfb6633f46"
observationSource = """
fetch [type="bridge" name="coin-market" requestData=<{"data": {"coin": $(jobRun.requestBody.coin)}}> retries=3 timeout="10s"]
parse [type="jsonparse" path="data,result" data="$(fetch)" index=0]
scale [type="multiply" input="$(parse)" times=1e18]
/* comment */ fetch -> parse -> scale
"""
"#;

const FRAGMENTS: &[&str] = &[
    "a", "b", "fetch", "[", "]", "=", "type", "any", "memo", "value", "\"", "<", ">", "{", "}",
    "->", "--", ";", ",", ":", "\n", " ", "$(", ")", "\\", "#", "/*", "*/", "//", "1e18", "-", ".",
    "5", "digraph", "subgraph", "node", "strict", "é", "µ", "\t", "'", "index", "retries",
    "timeout", "\"10s\"", "\"0x1\"", "input", "jobRun", "type=any", "type=sum", "\r",
];

/// The error must point inside the text: an existing line, at most one past its end.
fn check_position(text: &str, result: Result<(), SpecError>) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        let lines: Vec<&str> = text.split('\n').collect();
        prop_assert!(
            e.line >= 1 && (e.line as usize) <= lines.len(),
            "line of {e} outside {} lines",
            lines.len()
        );
        let width = lines[e.line as usize - 1].chars().count();
        prop_assert!(
            e.column >= 1 && (e.column as usize) <= width + 1,
            "column of {e} outside width {width}"
        );
        prop_assert!(!e.message.is_empty());
    }
    Ok(())
}

fn dot_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..40).prop_map(|parts| parts.join(""))
}

fn in_spec(dot: &str, basic: bool) -> String {
    let (open, close) = if basic {
        ("\"\"\"", "\"\"\"")
    } else {
        ("'''", "'''")
    };
    format!("type = \"webhook\"\nschemaVersion = 1\nobservationSource = {open}\n{dot}\n{close}\n")
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(usize, char),
    Replace(usize, char),
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let len = chars.len().max(1);
        match *e {
            Edit::Delete(i) if !chars.is_empty() => {
                chars.remove(i % len);
            }
            Edit::Insert(i, c) => chars.insert(i % (chars.len() + 1), c),
            Edit::Replace(i, c) if !chars.is_empty() => chars[i % len] = c,
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn edit() -> impl Strategy<Value = Edit> {
    let ch = prop::sample::select(vec![
        '"', '\'', '\\', '[', ']', '{', '}', '<', '>', '=', '$', '(', ')', '\n', ' ', 'x', '0',
        '-', '#', '/', '*', 'é', '.', ',', ';',
    ]);
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), ch.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        (any::<usize>(), ch).prop_map(|(i, c)| Edit::Replace(i, c)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_dot_alone_is_ok_or_positioned(dot in dot_text()) {
        check_position(&dot, Pipeline::parse(&dot).map(|_| ()))?;
    }

    #[test]
    fn random_dot_in_a_spec_is_ok_or_positioned(dot in dot_text(), basic in any::<bool>()) {
        let text = in_spec(&dot, basic);
        check_position(&text, JobSpec::parse(&text).map(|_| ()))?;
    }

    #[test]
    fn mutated_specs_are_ok_or_positioned(edits in prop::collection::vec(edit(), 1..6)) {
        let text = apply(VALID, &edits);
        check_position(&text, JobSpec::parse(&text).map(|_| ()))?;
    }

    #[test]
    fn arbitrary_text_is_ok_or_positioned(text in "\\PC{0,200}") {
        check_position(&text, JobSpec::parse(&text).map(|_| ()))?;
    }
}

#[test]
fn the_unmutated_spec_parses() {
    let spec = JobSpec::parse(VALID).unwrap();
    assert_eq!(spec.pipeline.tasks.len(), 3);
}
