//! The pure tasks through their public entry point, with the examples of
//! `shared/spec/pipeline.md` §3–4 (those pinned by reference tests first) and edge cases.

use std::collections::BTreeMap;

use offchain_pipeline::tasks::{FixedPick, PureTask, TaskError};
use offchain_pipeline::value::render::to_json;
use offchain_pipeline::value::{Decimal, Value, Vars};

fn run_with(
    task: &str,
    attrs: &[(&str, &str)],
    vars: &Vars,
    inputs: &[Value],
) -> Result<Value, TaskError> {
    let attrs: BTreeMap<String, String> = attrs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let task = PureTask::from_type(task).expect("known task");
    let resolver = offchain_pipeline::value::Resolver::new(&attrs, vars, inputs);
    task.run(&resolver, &FixedPick(1))
}

fn run(task: &str, attrs: &[(&str, &str)], inputs: &[Value]) -> Result<Value, TaskError> {
    run_with(task, attrs, &Vars::new(), inputs)
}

/// The rendered output (§3.3), or the error text.
fn shown(result: Result<Value, TaskError>) -> String {
    match result {
        Ok(v) => to_json(&v),
        Err(e) => format!("ERR {e}"),
    }
}

fn dec(s: &str) -> Value {
    Value::Decimal(Decimal::parse(s).unwrap())
}

fn err(s: &str) -> Value {
    Value::Error(s.into())
}

#[test]
fn divide_examples() {
    let d = |a: &[(&str, &str)]| shown(run("divide", a, &[]));
    assert_eq!(
        d(&[("input", "12345.67"), ("divisor", "1e18")]),
        r#""0.0000000000000123""#
    );
    assert_eq!(
        d(&[("input", "200"), ("divisor", "6"), ("precision", "18")]),
        r#""33.333333333333333333""#
    );
    assert_eq!(
        d(&[
            ("input", "12345.67"),
            ("divisor", "1000"),
            ("precision", "-1")
        ]),
        r#""10""#
    );
    assert_eq!(
        d(&[("input", "2"), ("divisor", "3")]),
        r#""0.6666666666666667""#
    );
    assert_eq!(
        d(&[("input", "-2"), ("divisor", "3")]),
        r#""-0.6666666666666667""#
    );
    assert_eq!(
        d(&[("input", "1"), ("divisor", "0.0")]),
        "ERR divide by zero"
    );
    assert_eq!(d(&[("input", "1")]), "ERR divisor: parameter is empty");
    assert_eq!(
        shown(run(
            "divide",
            &[("divisor", "2")],
            &[Value::Int(1), err("x")]
        )),
        "ERR task inputs: too many errors"
    );
}

#[test]
fn multiply_is_exact_for_huge_factors() {
    assert_eq!(
        shown(run(
            "multiply",
            &[("times", "1e18")],
            &[Value::Float(12345.678)]
        )),
        r#""12345678000000000000000""#
    );
    assert_eq!(
        shown(run(
            "multiply",
            &[("Times", "1000000000000000000")],
            &[Value::string("-0.5")]
        )),
        r#""-500000000000000000""#,
        "attribute names match case-insensitively"
    );
    assert_eq!(
        shown(run("multiply", &[("times", "abc")], &[Value::Int(1)])),
        "ERR times: can't convert abc to decimal: bad input for task"
    );
    assert_eq!(
        shown(run(
            "multiply",
            &[("times", "2")],
            &[Value::Int(1), Value::Int(2)]
        )),
        "ERR task inputs: min: 0 max: 1 (got 2): wrong number of task inputs"
    );
}

#[test]
fn floats_sum_exactly_through_their_shortest_text() {
    assert_eq!(
        shown(run("sum", &[("values", "[0.1, 0.2]")], &[])),
        r#""0.3""#
    );
    assert_eq!(
        shown(run(
            "sum",
            &[],
            &[Value::Float(0.1), Value::Float(0.2), dec("-0.3")]
        )),
        r#""0""#
    );
    assert_eq!(
        shown(run(
            "sum",
            &[("values", r#"[1, "2.5", 18446744073709551616]"#)],
            &[]
        )),
        r#""18446744073709551619.5""#
    );
}

#[test]
fn mean_examples() {
    let inputs = [dec("1.234"), dec("2.345"), dec("3.456"), dec("4.567")];
    assert_eq!(
        shown(run("mean", &[("precision", "2")], &inputs)),
        r#""2.9""#
    );
    assert_eq!(shown(run("mean", &[], &inputs)), r#""2.9005""#);
    assert_eq!(
        shown(run("mean", &[], &[Value::Int(1), Value::Int(2)])),
        r#""1.5""#
    );
    assert_eq!(
        shown(run(
            "mean",
            &[],
            &[Value::Int(1), Value::Int(1), Value::Int(2)]
        )),
        r#""1.3333333333333333""#
    );
}

#[test]
fn median_examples() {
    assert_eq!(
        shown(run("median", &[], &[dec("3"), dec("1.50"), dec("2")])),
        r#""2""#
    );
    assert_eq!(
        shown(run(
            "median",
            &[],
            &[dec("3"), dec("1.50"), dec("9"), dec("2")]
        )),
        r#""2.5""#
    );
    assert_eq!(
        shown(run("median", &[], &[dec("2.90"), dec("1"), dec("5")])),
        r#""2.9""#,
        "the middle element as given"
    );
    assert_eq!(
        shown(run("median", &[], &[Value::Int(1), Value::Int(2)])),
        r#""1.5""#
    );
    assert_eq!(
        shown(run("median", &[], &[Value::Int(1), Value::Int(4)])),
        r#""2.5""#
    );
    assert_eq!(
        shown(run(
            "median",
            &[],
            &[Value::Int(1), Value::Int(2), Value::Int(3), Value::Int(5)]
        )),
        r#""2.5""#
    );
    assert_eq!(
        shown(run("median", &[], &[Value::Int(-1), Value::Int(-2)])),
        r#""-1.5""#
    );
}

#[test]
fn median_lax_drops_nulls_and_may_return_null() {
    let values = [Value::Null, Value::Int(4), Value::Null, Value::Int(2)];
    assert_eq!(shown(run("median", &[("lax", "true")], &values)), r#""3""#);
    assert_eq!(
        shown(run("median", &[], &values)),
        "ERR values: type <nil> cannot be converted to decimal.Decimal: bad input for task"
    );
    assert_eq!(
        shown(run(
            "median",
            &[("lax", "true")],
            &[Value::Null, Value::Null]
        )),
        "null"
    );
    assert_eq!(
        shown(run("median", &[("lax", "true"), ("values", "[]")], &[])),
        "null"
    );
    assert_eq!(
        shown(run("median", &[("values", "[]")], &[])),
        "ERR no values to medianize: wrong number of task inputs"
    );
}

#[test]
fn aggregates_tolerate_faults_up_to_the_allowed_number() {
    // §6.3: one source failed, the median of the others still succeeds.
    let inputs = [dec("10"), err("ds3 failed"), dec("20")];
    assert_eq!(shown(run("median", &[], &inputs)), r#""15""#);
    assert_eq!(shown(run("sum", &[], &inputs)), r#""30""#);
    assert_eq!(
        shown(run("median", &[("allowedFaults", "0")], &inputs)),
        "ERR Number of faulty inputs 1 to median task > number allowed faults 0: too many errors"
    );
    let mostly_bad = [err("a"), err("b"), dec("1")];
    assert_eq!(
        shown(run("mean", &[], &mostly_bad)),
        r#""1""#,
        "n-1 = 2 faults allowed"
    );
    let all_bad = [err("a"), err("b")];
    assert_eq!(
        shown(run("sum", &[], &all_bad)),
        "ERR Number of faulty inputs 2 to sum task > number allowed faults 1: too many errors"
    );
    assert_eq!(
        shown(run("sum", &[("allowedFaults", "5")], &all_bad)),
        "ERR values: wrong number of task inputs"
    );
    assert_eq!(
        shown(run("mode", &[], &[])),
        "ERR Number of faulty inputs 0 to mode task > number allowed faults -1: too many errors",
        "quirk: no entries with allowedFaults unset"
    );
    assert_eq!(
        shown(run("median", &[], &[])),
        "ERR no values to medianize: wrong number of task inputs"
    );
    assert_eq!(
        shown(run("sum", &[("allowedFaults", "x")], &[Value::Int(1)])),
        "ERR allowedFaults: strconv.ParseUint: parsing \"x\": invalid syntax: bad input for task"
    );
    assert_eq!(
        shown(run("sum", &[], &[Value::Int(1), Value::Bool(true)])),
        "ERR values: type bool cannot be converted to decimal.Decimal: bad input for task"
    );
}

#[test]
fn aggregate_values_from_variables() {
    let mut vars = Vars::new();
    vars.set_output("a", dec("1"));
    vars.set_output("b", Value::Float(2.5));
    vars.set_error("c", "boom");
    vars.set_output("list", Value::List(vec![Value::Int(4), Value::Int(6)]));
    let sum = |values: &str| {
        shown(run_with(
            "sum",
            &[("values", values)],
            &vars,
            &[Value::Int(100)],
        ))
    };
    assert_eq!(sum("[ $(a), $(b) ]"), r#""3.5""#);
    assert_eq!(
        sum("[ $(a), $(b), $(c) ]"),
        r#""3.5""#,
        "J keeps error markers for aggregates"
    );
    assert_eq!(sum("$(list)"), r#""10""#);
    assert_eq!(sum("$(c)"), "ERR values: VarExpr: boom: too many errors");
    assert_eq!(
        sum(r#"["$(a)"]"#),
        "ERR values: while unmarshalling JSON: variable $(a) cannot stand inside a JSON string \
         or key; context: [\"$(a)\"]: bad input for task"
    );
}

#[test]
fn mode_counts_by_canonical_text() {
    let same = [
        dec("1.234"),
        Value::Float(1.234),
        Value::string("1.234"),
        Value::Int(2),
    ];
    assert_eq!(
        shown(run("mode", &[], &same)),
        r#"{"occurrences":3,"results":["1.234"]}"#
    );
    let out = run("mode", &[], &same).unwrap();
    let Value::Map(map) = out else {
        panic!("mode gives a map")
    };
    assert_eq!(
        map["results"],
        Value::List(vec![Value::string("1.234")]),
        "the representative is the last input that reached the top count"
    );
}

#[test]
fn mode_ties_in_the_order_they_reached_the_top() {
    let values = [
        Value::Int(1),
        Value::Int(2),
        Value::Int(2),
        Value::Int(1),
        Value::Int(3),
    ];
    assert_eq!(
        shown(run("mode", &[], &values)),
        r#"{"occurrences":2,"results":[2,1]}"#
    );
    let all_once = [Value::string("b"), Value::string("a")];
    assert_eq!(
        shown(run("mode", &[], &all_once)),
        r#"{"occurrences":1,"results":["b","a"]}"#
    );
    let mixed = [
        Value::Bool(true),
        Value::string("true"),
        Value::Null,
        err("x"),
    ];
    assert_eq!(
        shown(run("mode", &[], &mixed)),
        r#"{"occurrences":2,"results":["true"]}"#
    );
}

#[test]
fn any_picks_among_non_errored_inputs() {
    assert_eq!(
        shown(run("any", &[], &[err("a"), Value::Int(1), Value::Int(2)])),
        "2",
        "FixedPick(1) picks the second good input"
    );
    assert_eq!(shown(run("any", &[], &[Value::Int(7)])), "7");
    assert_eq!(
        shown(run("any", &[], &[])),
        "ERR AnyTask requires at least 1 input: wrong number of task inputs"
    );
    assert_eq!(
        shown(run("any", &[], &[err("a")])),
        "ERR There were zero non-errored inputs: bad input for task"
    );
}

#[test]
fn lessthan_and_length_and_case() {
    assert_eq!(
        shown(run(
            "lessthan",
            &[("left", "1"), ("right", "1.0000001")],
            &[]
        )),
        "true"
    );
    assert_eq!(
        shown(run("lessthan", &[("right", "-5")], &[Value::Int(-5)])),
        "false"
    );
    assert_eq!(
        shown(run("length", &[], &[Value::string("héllo")])),
        r#""6""#
    );
    assert_eq!(
        shown(run("length", &[], &[Value::string("0xabcd")])),
        r#""2""#
    );
    assert_eq!(shown(run("length", &[], &[Value::Null])), r#""0""#);
    assert_eq!(shown(run("length", &[("input", "abc")], &[])), r#""3""#);
    assert_eq!(
        shown(run("lowercase", &[("input", "ÀB İ")], &[])),
        r#""àb i""#
    );
    assert_eq!(
        shown(run("uppercase", &[], &[Value::string("straße")])),
        r#""STRAßE""#
    );
    assert_eq!(
        shown(run("uppercase", &[], &[Value::Int(1)])),
        "ERR input: expected string, got int64: bad input for task"
    );
    assert_eq!(
        shown(run("lowercase", &[], &[])),
        "ERR input: index out of range"
    );
}

#[test]
fn hexencode_cases() {
    let h = |a: &[(&str, &str)], i: &[Value]| shown(run("hexencode", a, i));
    assert_eq!(h(&[("input", "0xff")], &[]), r#""0x30786666""#);
    assert_eq!(h(&[("input", "256")], &[]), r#""0x323536""#);
    assert_eq!(h(&[], &[Value::Int(0)]), r#""0x0""#);
    assert_eq!(h(&[], &[dec("256")]), r#""0x100""#);
    assert_eq!(h(&[], &[dec("2.56e2")]), r#""0x100""#);
    assert_eq!(h(&[], &[Value::string("")]), r#""""#);
    assert_eq!(h(&[], &[Value::Bytes(vec![])]), r#""""#);
    assert_eq!(h(&[], &[Value::Bytes(vec![0, 255])]), r#""0x00ff""#);
    assert_eq!(h(&[], &[dec("1.5")]), "ERR decimal input");
    assert_eq!(h(&[], &[Value::Int(-1)]), "ERR negative integer");
    assert_eq!(
        h(&[], &[Value::Bool(true)]),
        "ERR input: type bool cannot be converted to decimal.Decimal: bad input for task"
    );
}

#[test]
fn hexdecode_cases() {
    let h = |i: &str| shown(run("hexdecode", &[("input", i)], &[]));
    assert_eq!(h("0xDEad"), r#""0xdead""#);
    assert_eq!(h("0X00"), r#""0x00""#);
    assert_eq!(h("0x"), r#""0x""#);
    assert_eq!(h("dead"), "ERR hex string must have prefix 0x");
    assert_eq!(
        h("0xabc"),
        "ERR failed to decode hex string: encoding/hex: odd length hex string"
    );
    assert_eq!(
        h("0xzz"),
        "ERR failed to decode hex string: encoding/hex: invalid byte: U+007A 'z'"
    );
}

#[test]
fn base64_cases() {
    assert_eq!(
        shown(run("base64encode", &[("input", "hello")], &[])),
        r#""aGVsbG8=""#
    );
    assert_eq!(
        shown(run("base64encode", &[], &[Value::Bytes(vec![0xff])])),
        r#""/w==""#
    );
    assert_eq!(
        shown(run("base64encode", &[], &[Value::string("")])),
        r#""""#
    );
    assert!(shown(run("base64encode", &[], &[Value::Int(1)])).starts_with("ERR input: "));
    assert!(shown(run("base64encode", &[], &[Value::Bool(true)])).starts_with("ERR input: "));
    assert_eq!(
        shown(run("base64decode", &[("input", "aGVs\r\nbG8=")], &[])),
        r#""0x68656c6c6f""#
    );
    assert_eq!(
        shown(run("base64decode", &[], &[Value::string("")])),
        r#""0x""#
    );
    assert_eq!(
        shown(run("base64decode", &[("input", "aGVsbG8")], &[])),
        "ERR failed to decode base64 string: illegal base64 data at input byte 4"
    );
    assert!(
        shown(run("base64decode", &[("input", "a*==")], &[]))
            .starts_with("ERR failed to decode base64 string")
    );
}

#[test]
fn lookup_cases() {
    let map = Value::Map(
        [
            ("a".to_owned(), Value::Int(1)),
            ("".to_owned(), Value::Bool(true)),
        ]
        .into(),
    );
    assert_eq!(
        shown(run("lookup", &[("key", "a")], std::slice::from_ref(&map))),
        "1"
    );
    assert_eq!(
        shown(run("lookup", &[("key", "zz")], std::slice::from_ref(&map))),
        "null"
    );
    assert_eq!(
        shown(run("lookup", &[], std::slice::from_ref(&map))),
        "true",
        "key defaults to \"\""
    );
    assert_eq!(
        shown(run("lookup", &[("key", "a")], &[Value::string("{}")])),
        "ERR unexpected input type: string"
    );
    assert_eq!(
        shown(run("lookup", &[("key", "a")], &[])),
        "ERR task inputs: min: 1 max: 1 (got 0): wrong number of task inputs"
    );
}

#[test]
fn conditional_cases() {
    let mut vars = Vars::new();
    vars.set_output("yes", Value::Bool(true));
    vars.set_output("no", Value::string("false"));
    let c = |a: &[(&str, &str)], i: &[Value]| shown(run_with("conditional", a, &vars, i));
    assert_eq!(c(&[("data", "$(yes)")], &[]), "true");
    assert_eq!(
        c(&[("data", "$(no)")], &[]),
        "ERR conditional was not satisfied"
    );
    assert_eq!(c(&[], &[Value::string("T")]), "true");
    assert_eq!(
        c(&[], &[Value::Bool(false)]),
        "ERR conditional was not satisfied"
    );
    assert_eq!(
        c(&[("data", "true")], &[]),
        "ERR data: index out of range",
        "literal ignored"
    );
}

#[test]
fn merge_cases() {
    let mut vars = Vars::new();
    vars.set_output("m", Value::Map([("x".to_owned(), dec("1.5"))].into()));
    let m = |a: &[(&str, &str)], i: &[Value]| shown(run_with("merge", a, &vars, i));
    assert_eq!(
        m(
            &[
                ("left", r#"{"a": 1, "b": 2}"#),
                ("right", r#"{"b": null, "c": 3}"#)
            ],
            &[]
        ),
        r#"{"a":1,"b":null,"c":3}"#
    );
    assert_eq!(
        m(
            &[("right", r#"{"n": 12345678901234567890}"#)],
            &[Value::string(r#"{"big": 12345678901234567890}"#)]
        ),
        r#"{"big":12345678901234567000,"n":12345678901234567890}"#,
        "a left side taken from input text has every number as f64"
    );
    assert_eq!(
        m(&[("left", "$(m)"), ("right", r#"{"y": $(m)}"#)], &[]),
        r#"{"x":"1.5","y":{"x":"1.5"}}"#
    );
    assert_eq!(
        m(&[("left", "{}")], &[]),
        "ERR right-side: parameter is empty"
    );
    assert_eq!(
        m(&[("right", "{}")], &[]),
        "ERR left-side: index out of range"
    );
    assert!(m(&[("left", "[1]"), ("right", "{}")], &[]).starts_with("ERR left-side: "));
}

#[test]
fn memo_cases() {
    assert_eq!(shown(run("memo", &[("value", "10")], &[])), r#""10""#);
    assert_eq!(shown(run("memo", &[("value", r#""hi""#)], &[])), r#""hi""#);
    assert_eq!(
        shown(run("memo", &[("value", "hi")], &[])),
        "ERR value: while unmarshalling JSON: invalid character 'h' looking for beginning of \
         value; context: hi: bad input for task"
    );
    assert_eq!(
        shown(run("memo", &[("value", r#"{"a": 17}"#)], &[])),
        r#"{"a":17}"#
    );
    assert_eq!(shown(run("memo", &[], &[Value::Int(17)])), r#""17""#);
    let mut vars = Vars::new();
    vars.set_output("x", Value::List(vec![Value::Int(1)]));
    assert_eq!(
        shown(run_with("memo", &[("value", "$(x)")], &vars, &[])),
        "[1]",
        "project: a whole `$(x)` in a J-only parameter is x's value"
    );
}

#[test]
fn jsonparse_with_variables_and_interpolation() {
    let mut vars = Vars::new();
    vars.set_webhook_run(r#"{"asset": "ETH", "n": 2}"#, Value::Null);
    vars.set_output("doc", Value::string(r#"{"ETH": {"usd": 3000.5}}"#));
    assert_eq!(
        shown(run_with(
            "jsonparse",
            &[
                ("data", "$(doc)"),
                ("path", "$(jobRun.requestBody.asset),usd ")
            ],
            &vars,
            &[]
        )),
        "ERR could not resolve path [\"ETH\",\"usd \"] in {\"ETH\": {\"usd\": 3000.5}}: keypath not found",
        "path segments are not trimmed"
    );
    assert_eq!(
        shown(run_with(
            "jsonparse",
            &[
                ("data", "$(doc)"),
                ("path", "$(jobRun.requestBody.asset),usd")
            ],
            &vars,
            &[]
        )),
        "3000.5"
    );
    assert_eq!(
        shown(run_with(
            "multiply",
            &[("input", "$(jobRun.requestBody.n)"), ("times", "3")],
            &vars,
            &[]
        )),
        r#""6""#
    );
}

#[test]
fn every_task_is_known_by_name_with_its_attributes() {
    for task in PureTask::all() {
        assert_eq!(PureTask::from_type(task.type_name()), Some(task));
        assert_eq!(
            PureTask::from_type(&task.type_name().to_uppercase()),
            Some(task)
        );
    }
    assert_eq!(PureTask::from_type("http"), None);
    assert_eq!(
        PureTask::from_type("divide").unwrap().attributes(),
        ["input", "divisor", "precision"]
    );
    assert!(
        PureTask::from_type("median")
            .unwrap()
            .tolerates_errored_inputs()
    );
    assert!(
        !PureTask::from_type("divide")
            .unwrap()
            .tolerates_errored_inputs()
    );
    assert_eq!(
        PureTask::all().count(),
        offchain_pipeline::TaskType::ALL.len() - 2
    );
}
