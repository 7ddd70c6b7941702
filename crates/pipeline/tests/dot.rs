//! The DOT side of parsing: statement forms, attribute decoding, graph checks, order.

use offchain_pipeline::{Pipeline, TaskType};

fn parse(dot: &str) -> Pipeline {
    Pipeline::parse(dot).unwrap_or_else(|e| panic!("{e}\n{dot}"))
}

fn names(p: &Pipeline) -> Vec<&str> {
    p.tasks.iter().map(|t| t.name.as_str()).collect()
}

fn value<'a>(p: &'a Pipeline, task: &str, key: &str) -> &'a str {
    let (_, t) = p.task(task).unwrap_or_else(|| panic!("no task {task}"));
    &t.attr(key)
        .unwrap_or_else(|| panic!("no {key} on {task}"))
        .value
}

/// `(line, column, message)` of the error.
fn error(dot: &str) -> (u32, u32, String) {
    match Pipeline::parse(dot) {
        Ok(p) => panic!("accepted: {:?}", names(&p)),
        Err(e) => (e.line, e.column, e.message),
    }
}

#[test]
fn bridge_md_example_parses_to_three_chained_tasks() {
    let p = parse(
        r#"
fetch [type="bridge" name="coin-market" requestData="{\"id\": $(jobSpec.externalJobID), \"data\": {\"coin\": \"ETH\", \"market\": \"USD\"}}"]
parse [type="jsonparse" path="data,result" data="$(fetch)"]
scale [type="multiply" input="$(parse)" times=100]
fetch -> parse -> scale
"#,
    );
    assert_eq!(names(&p), ["fetch", "parse", "scale"]);
    assert_eq!(
        value(&p, "fetch", "requestData"),
        r#"{"id": $(jobSpec.externalJobID), "data": {"coin": "ETH", "market": "USD"}}"#
    );
    assert_eq!(p.tasks[0].task_type, TaskType::Bridge);
    assert_eq!(p.tasks[1].inputs, [0]);
    assert_eq!(p.tasks[2].inputs, [1]);
    // `$(fetch)` duplicates the explicit edge: no implicit dependency on top.
    assert!(p.tasks[1].implicit_deps.is_empty());
    assert_eq!(p.terminals(), [2]);
    assert_eq!(value(&p, "scale", "times"), "100");
}

#[test]
fn every_attribute_form_decodes_as_the_reference_does() {
    let p = parse(concat!(
        "t [type=lowercase input=bare]\n",
        "n [type=multiply times=-1.5 input=.5]\n",
        "e [type=multiply times=1e18 input=2.5E-3]\n",
        "q [type=lowercase input=\"a\\\"b\\\\c\\n\\t\\u00e9\\x41\\101\"]\n",
        "h [type=lowercase input=<{\"a\": [1, 2]}>]\n",
        "qh [type=lowercase input=\"<{\\\"a\\\": 1}>\"]\n",
        "bad [type=lowercase input=\"\\d\"]\n",
        "nested [type=lowercase input=<<b>x</b>>]\n",
        "spaced [type=lowercase input=\"  <x>  \"]\n",
        "cont [type=lowercase input=\"ab\\\ncd\"]\n",
        "u [type=lowercase input=héllo]\n",
        "multi [type=lowercase input=\"line1\nline2\"]\n",
    ));
    assert_eq!(value(&p, "t", "input"), "bare");
    assert_eq!(value(&p, "n", "times"), "-1.5");
    assert_eq!(value(&p, "n", "input"), ".5");
    assert_eq!(value(&p, "e", "times"), "1e18");
    assert_eq!(value(&p, "e", "input"), "2.5E-3");
    assert_eq!(value(&p, "q", "input"), "a\"b\\c\n\téAA");
    assert_eq!(value(&p, "h", "input"), r#"{"a": [1, 2]}"#);
    // Quirk: a quoted `"<…>"` keeps its quotes and is not unescaped.
    assert_eq!(value(&p, "qh", "input"), r#""<{\"a\": 1}>""#);
    // Quirk: an escape Go does not know keeps the value verbatim, quotes included.
    assert_eq!(value(&p, "bad", "input"), r#""\d""#);
    assert_eq!(value(&p, "nested", "input"), "<<b>x</b>>");
    assert_eq!(value(&p, "spaced", "input"), "x");
    assert_eq!(value(&p, "cont", "input"), "abcd");
    assert_eq!(value(&p, "u", "input"), "héllo");
    // Quirk: a raw newline inside quotes cannot be unquoted by Go: kept verbatim.
    assert_eq!(value(&p, "multi", "input"), "\"line1\nline2\"");
}

#[test]
fn heredoc_style_json_keeps_its_lines() {
    let p = parse(
        "fetch [type=bridge name=\"x\" requestData=<{\n  \"data\": {\n    \"coin\": $(jobRun.requestBody),\n    \"list\": [ $(a), $(b) ]\n  }\n}>]\na [type=memo value=1]\nb [type=memo value=2]\n",
    );
    assert_eq!(
        value(&p, "fetch", "requestData"),
        "{\n  \"data\": {\n    \"coin\": $(jobRun.requestBody),\n    \"list\": [ $(a), $(b) ]\n  }\n}"
    );
    let (fetch, task) = p.task("fetch").unwrap();
    assert_eq!(task.implicit_deps.len(), 2);
    assert_eq!(
        fetch,
        2,
        "implicit edges order a and b before fetch: {:?}",
        names(&p)
    );
    assert!(task.inputs.is_empty(), "implicit edges give no inputs");
    assert_eq!(p.terminals(), [2]);
}

#[test]
fn statement_forms() {
    let p = parse(
        r#"
// line comment
# hash comment
/* block
   comment */
digraph G {
  node [shape=box]; edge [color=red]; graph [rankdir=LR]; rankdir=LR
  a [type=memo value=1] b [type=memo value=2]; c [type=sum][allowedFaults=1, index=0; tags="x"]
  subgraph s { d [type=lowercase input=x] }
  {a b} -> c [label="edge attrs ignored"]
  c:port -> {d} ; c -- d
  A1 [type=any]
  d -> A1 -> e
  e [type=memo value=3]
}
"#,
    );
    assert_eq!(names(&p), ["a", "b", "c", "d", "A1", "e"]);
    let (c, task) = p.task("c").unwrap();
    assert_eq!(task.inputs, [0, 1]);
    assert_eq!(task.attr("allowedFaults").unwrap().value, "1");
    assert_eq!(task.common.index, 0);
    assert_eq!(p.tasks[3].inputs, [c], "repeated edges collapse");
    assert_eq!(p.terminals(), [5]);
}

#[test]
fn keys_match_case_insensitively_and_type_is_lower_cased() {
    let p = parse("m [type=MULTIPLY Times=2 INPUT=3 Index=1 failearly=true]");
    let t = &p.tasks[0];
    assert_eq!(t.task_type, TaskType::Multiply);
    assert_eq!(t.attr("times").unwrap().value, "2");
    assert_eq!(t.attr("input").unwrap().value, "3");
    assert_eq!(t.common.index, 1);
    assert!(t.common.fail_early);
}

#[test]
fn every_task_type_of_the_issue_is_known_with_its_parameters() {
    let dot = "\
h [type=http method=POST url=\"http://x\" requestData=<{}> headers=<[\"a\",\"b\"]> allowUnrestrictedNetworkAccess=true]
br [type=bridge name=b requestData=<{}> includeInputAtKey=k async=true cacheTTL=\"10s\" headers=<[]>]
j [type=jsonparse data=\"$(h)\" path=\"a,b\" separator=\",\" lax=true]
mu [type=multiply input=1 times=2]
di [type=divide input=1 divisor=3 precision=2]
su [type=sum values=<[1,2]> allowedFaults=0]
me [type=mean values=<[1,2]> allowedFaults=0 precision=2]
md [type=median values=<[1,2]> allowedFaults=0 lax=true]
mo [type=mode values=<[1,2]> allowedFaults=0]
an [type=any]
lt [type=lessthan left=1 right=2]
le [type=length input=abc]
lo [type=lowercase input=ABC]
up [type=uppercase input=abc]
lk [type=lookup key=a]
co [type=conditional data=true]
mg [type=merge left=<{}> right=<{}>]
mm [type=memo value=1]
he [type=hexencode input=1]
hd [type=hexdecode input=\"0x01\"]
be [type=base64encode input=a]
bd [type=base64decode input=\"YQ==\"]
br -> an
";
    let p = parse(dot);
    assert_eq!(p.tasks.len(), 22);
}

#[test]
fn common_attributes_are_parsed() {
    let p = parse(
        r#"t [type=http url="http://x" index="0x10" timeout="1m30s" retries=3 minBackoff="300ms" maxBackoff="1s" failEarly=T streamID=7 tags="{}"]"#,
    );
    let c = &p.tasks[0].common;
    assert_eq!(c.index, 16);
    assert_eq!(c.timeout, Some(std::time::Duration::from_secs(90)));
    assert_eq!(c.retries, 3);
    assert_eq!(c.min_backoff, Some(std::time::Duration::from_millis(300)));
    assert_eq!(c.max_backoff, Some(std::time::Duration::from_secs(1)));
    assert!(c.fail_early);
    assert!(
        p.tasks[0].attrs.iter().all(|a| a.key == "url"),
        "common attributes are not task parameters"
    );
}

#[test]
fn topological_order_follows_the_reference_rule() {
    // (T) the reference's own graph keeps its listed order.
    let p = parse(
        r#"
ds1 [type=bridge name=voter_turnout];
ds1_parse [type=jsonparse path="one,two"];
ds1_multiply [type=multiply times=1.23];
ds2 [type=http method=GET url="https://chain.link/voter_turnout/USA-2020" requestData=<{"hi": "hello"}>];
ds2_parse [type=jsonparse path="three,four"];
ds2_multiply [type=multiply times=4.56];
ds1 -> ds1_parse -> ds1_multiply -> answer1;
ds2 -> ds2_parse -> ds2_multiply -> answer1;
answer1 [type=median index=0];
answer2 [type=bridge name=election_winner index=1];
"#,
    );
    assert_eq!(
        names(&p),
        [
            "ds1",
            "ds1_parse",
            "ds1_multiply",
            "ds2",
            "ds2_parse",
            "ds2_multiply",
            "answer1",
            "answer2"
        ]
    );
    assert_eq!(p.tasks[6].inputs, [2, 5]);
    assert_eq!(p.terminals(), [6, 7]);

    // A task mentioned later but needed earlier moves up; the rest keep mention order.
    let p = parse("a [type=any] b [type=any] c [type=any]\na -> b\nc -> b");
    assert_eq!(names(&p), ["a", "c", "b"]);
    // Declared downstream-first.
    let p = parse("b [type=any] a [type=any] a -> b");
    assert_eq!(names(&p), ["a", "b"]);
    // Implicit edges order too.
    let p = parse("x [type=memo value=\"$(y)\"] y [type=memo value=1]");
    assert_eq!(names(&p), ["y", "x"]);
    assert_eq!(
        p.terminals(),
        [1],
        "a task referenced by $(y) is not terminal"
    );
}

#[test]
fn inputs_are_ordered_by_index_then_position_and_terminals_by_index() {
    let p = parse(
        "a [type=memo value=1 index=2] b [type=memo value=2] c [type=memo value=3 index=1]\nm [type=sum]\na -> m; b -> m; c -> m\nz [type=any index=0] y [type=any]",
    );
    let (_, m) = p.task("m").unwrap();
    let order: Vec<&str> = m.inputs.iter().map(|&i| p.tasks[i].name.as_str()).collect();
    assert_eq!(order, ["b", "c", "a"]);
    let terminals: Vec<&str> = p
        .terminals()
        .iter()
        .map(|&i| p.tasks[i].name.as_str())
        .collect();
    assert_eq!(terminals, ["m", "y", "z"]);
}

#[test]
fn implicit_edges_follow_the_reference_pattern() {
    let p = parse(
        "a [type=memo value=1]\nb [type=memo value=\"x $( a.b.0 ) y\"]\nc [type=memo value=\"$(my-task) $(c) $(jobSpec.name)\"]",
    );
    assert_eq!(p.task("b").unwrap().1.implicit_deps, [0]);
    let (_, c) = p.task("c").unwrap();
    assert!(
        c.implicit_deps.is_empty(),
        "self references, dashes and run variables make no edge"
    );
    // Free-text tags may mention anything; run variables are known without a task.
    parse(
        "t [type=any tags=\"$(nope)\"]\nu [type=memo value=<[$(jobRun.meta), $(jobSpec.name), $(jobRun.requestBody.a.0)]>]",
    );
}

#[test]
fn errors_are_positioned_and_say_what_was_expected() {
    let cases: &[(&str, (u32, u32), &str)] = &[
        ("a [type=any]\na -> b", (2, 6), "edge to undeclared task b"),
        (
            "a [type=any]\na -> a",
            (2, 6),
            "self edge a -> a is not allowed",
        ),
        (
            "a [type=any]\n  a [type=any]",
            (2, 3),
            "duplicate declaration of task a",
        ),
        ("input [type=any]", (1, 1), "'input' is a reserved keyword"),
        (
            "jobRun [type=any]",
            (1, 1),
            "'jobRun' is a reserved keyword",
        ),
        (
            "x [type=ethtx]",
            (1, 9),
            "unknown task type \"ethtx\" for task x (expected one of any, ",
        ),
        ("x [value=1]", (1, 1), "task x has no type attribute"),
        (
            "x [type=multiply tiems=2]",
            (1, 18),
            "unknown attribute \"tiems\" for multiply task x (known: input, times, index, timeout",
        ),
        (
            "x [type=multiply times=1 Times=2]",
            (1, 26),
            "attribute times given twice",
        ),
        (
            "x [type=any timeout=10s]",
            (1, 21),
            "bare value 10s is not a DOT number or name: quote it (\"10s\")",
        ),
        (
            "x [type=any timeout=\"10\"]",
            (1, 21),
            "task x: invalid timeout \"10\": missing unit",
        ),
        (
            "x [type=any retries=\"-1\"]",
            (1, 21),
            "task x: invalid retries",
        ),
        (
            "x [type=any index=\"-1\"]",
            (1, 19),
            "result sorting indexes should start with 0",
        ),
        (
            "x [type=any failEarly=maybe]",
            (1, 23),
            "task x: invalid failEarly",
        ),
        (
            "x [type=multiply times=abc]",
            (1, 24),
            "task x: times: \"abc\": expected a decimal number",
        ),
        (
            "x [type=memo value=hi]",
            (1, 20),
            "task x: value: \"hi\": expected a JSON value",
        ),
        (
            "x [type=bridge name=b cacheTTL=\"5\"]",
            (1, 32),
            "task x: cacheTTL: \"5\": expected a Go duration",
        ),
        (
            "x [type=any index=1]\ny [type=any index=1]",
            (2, 19),
            "duplicate sorting indexes detected",
        ),
        (
            "a [type=memo value=\"$(b)\"]\nb [type=memo value=\"$(a)\"]",
            (1, 21),
            "cycle detected: a -> b -> a",
        ),
        (
            "a [type=memo value=\"x $(fetc.data) y\"]",
            (1, 23),
            "unknown variable $(fetc.data): no task named \"fetc\"",
        ),
        (
            "a [type=memo value=<{\"k\":\n  $( b )}>]",
            (2, 3),
            "unknown variable $( b ): no task named \"b\"",
        ),
        (
            "a [type=any] b [type=any]\na -> b -> a",
            (2, 11),
            "cycle detected: a -> b -> a",
        ),
        (
            "x [type=any",
            (1, 12),
            "expected an attribute name or ], found end of text",
        ),
        (
            "x [type any]",
            (1, 9),
            "expected = after attribute type, found \"any\"",
        ),
        ("x [type=]", (1, 9), "expected a value after =, found \"]\""),
        (
            "x [type=any] ]",
            (1, 14),
            "expected a task name, an edge, or a statement, found \"]\"",
        ),
        ("x [type=\"any]", (1, 9), "unterminated quoted string"),
        ("x [type=<any]", (1, 9), "unterminated <…> value"),
        ("x [type=any] /* open", (1, 14), "unterminated /* comment"),
        ("x [type=any] @", (1, 14), "unexpected character '@'"),
        (
            "digraph { x [type=any] } y",
            (1, 26),
            "expected nothing after the graph's closing }",
        ),
        (
            "digraph { x [type=any]",
            (1, 23),
            "expected } to close the block, found end of text",
        ),
        (
            "x [type=any] node",
            (1, 18),
            "expected [ after node/edge/graph",
        ),
        (
            "a -> ",
            (1, 6),
            "expected a task name or { after the edge operator",
        ),
        ("a", (1, 1), "task a has no attributes"),
        ("   \n\t ", (1, 1), "empty pipeline"),
        ("// only\n# comments\n/* here */", (1, 1), "empty pipeline"),
        ("digraph {}", (1, 1), "empty pipeline"),
        ("node [a=b]", (1, 1), "empty pipeline"),
        ("x [type=any]\nµ -> x", (2, 1), "edge to undeclared task µ"),
        (
            "x [type=any] é [type=any]\n\tz -> é",
            (2, 2),
            "edge to undeclared task z",
        ),
    ];
    for (dot, (line, column), message) in cases {
        let (l, c, m) = error(dot);
        assert!(
            m.contains(message),
            "{dot:?}: message {m:?} lacks {message:?}"
        );
        assert_eq!((l, c), (*line, *column), "{dot:?}: {m}");
    }
}

#[test]
fn display_is_line_colon_column_colon_message() {
    let e = Pipeline::parse("a [type=any]\na -> b").unwrap_err();
    assert_eq!(e.to_string(), "2:6: edge to undeclared task b");
}

/// Regression: 200 000 nested `{` overflowed the parser's stack and aborted the process.
#[test]
fn deeply_nested_blocks_are_refused_with_a_position() {
    let depth = 200_000;
    let dot = format!("{}a [type=any]{}", "{".repeat(depth), "}".repeat(depth));
    let (line, column, message) = error(&dot);
    assert_eq!((line, column), (1, 65), "{message}");
    assert!(
        message.contains("blocks nested deeper than 64"),
        "{message}"
    );

    // 64 levels are fine.
    let dot = format!("{}a [type=any]{}", "{".repeat(64), "}".repeat(64));
    assert_eq!(names(&parse(&dot)), ["a"]);
}

/// An error quotes at most a short prefix of a huge value or token, so one bad spec cannot
/// make a megabyte-long error line.
#[test]
fn errors_quote_huge_values_briefly() {
    let huge = "x".repeat(100_000);
    for dot in [
        format!("a [type=multiply times=\"{huge}\"]"),
        format!("a [type=any index=\"{huge}\"]"),
        format!("a [type=any] \"{huge}\" -> -> a"),
        format!("a [type=any] -> \"{huge}\""),
        format!("\"{huge}\" [type=any]\n\"{huge}\" [type=any]"),
        format!("\"{huge}\" [type=nope]"),
        format!("a [type=any {huge}=1]"),
        format!("a [type=any]\nb [type=any]\na -> b -> \"{huge}\""),
    ] {
        let (_, _, message) = error(&dot);
        assert!(
            message.len() < 300,
            "{} bytes: {}",
            message.len(),
            &message[..300]
        );
    }
}
