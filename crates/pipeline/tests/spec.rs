//! Whole spec files: TOML keys and types, DOT errors positioned in the file.

use std::time::Duration;

use offchain_pipeline::{JobSpec, JobType, Schedule};

fn parse(text: &str) -> JobSpec {
    JobSpec::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn error(text: &str) -> (u32, u32, String) {
    match JobSpec::parse(text) {
        Ok(s) => panic!("accepted: {s:?}"),
        Err(e) => (e.line, e.column, e.message),
    }
}

fn assert_error(text: &str, line: u32, column: u32, message: &str) {
    let (l, c, m) = error(text);
    assert!(
        m.contains(message),
        "{text:?}: message {m:?} lacks {message:?}"
    );
    assert_eq!((l, c), (line, column), "{text:?}: {m}");
}

const HEAD: &str = "type = \"webhook\"\nschemaVersion = 1\n";

#[test]
fn bridge_md_webhook_spec_with_literal_string() {
    let spec = parse(
        r#"type = "webhook"
schemaVersion = 1
name = "eth-usd"
externalJobID = "0EEC7E1D-D0D2-476C-A1A8-72DFB6633F46"
maxTaskDuration = "10s"
observationSource = '''
fetch [type="bridge" name="coin-market" requestData="{\"id\": $(jobSpec.externalJobID), \"data\": {\"coin\": \"ETH\", \"market\": \"USD\"}}"]
parse [type="jsonparse" path="data,result" data="$(fetch)"]
scale [type="multiply" input="$(parse)" times=100]
fetch -> parse -> scale
'''
"#,
    );
    assert_eq!(spec.job_type, JobType::Webhook);
    assert_eq!(spec.name, "eth-usd");
    assert_eq!(
        spec.external_job_id.map(|u| u.to_string()).as_deref(),
        Some("0eec7e1d-d0d2-476c-a1a8-72dfb6633f46")
    );
    assert_eq!(spec.max_task_duration, Some(Duration::from_secs(10)));
    assert_eq!(spec.pipeline.tasks.len(), 3);
    let fetch = &spec.pipeline.tasks[0];
    assert_eq!((fetch.at.line, fetch.at.column), (7, 1));
    let times = spec.pipeline.tasks[2].attr("times").unwrap();
    assert_eq!((times.at.line, times.at.column), (9, 47));
}

#[test]
fn basic_multi_line_string_needs_toml_escapes_for_dot_quotes() {
    let spec = parse(&format!(
        "{HEAD}observationSource = \"\"\"\nfetch [type=bridge name=x requestData=\"{{\\\\\\\"a\\\\\\\": 1}}\"]\n\"\"\"\n"
    ));
    assert_eq!(
        spec.pipeline.tasks[0].attr("requestData").unwrap().value,
        r#"{"a": 1}"#
    );
}

#[test]
fn cron_spec_with_every_form_of_schedule() {
    for (schedule, expected) in [
        (
            "CRON_TZ=UTC 0 */5 * * * *",
            Schedule::Cron {
                zone: "UTC".into(),
                expression: "0 */5 * * * *".into(),
            },
        ),
        (
            "CRON_TZ=UTC @hourly",
            Schedule::Cron {
                zone: "UTC".into(),
                expression: "@hourly".into(),
            },
        ),
        ("@every 10s", Schedule::Every(Duration::from_secs(10))),
    ] {
        let spec = parse(&format!(
            "type = \"cron\"\nschemaVersion = 1\nschedule = \"{schedule}\"\nevmChainID = \"1\"\nobservationSource = \"a [type=any]\"\n"
        ));
        assert_eq!(spec.job_type, JobType::Cron);
        assert_eq!(spec.schedule, Some(expected));
    }
}

#[test]
fn uuid_forms_are_normalised() {
    for form in [
        "0eec7e1d-d0d2-476c-a1a8-72dfb6633f46",
        "0EEC7E1DD0D2476CA1A872DFB6633F46",
        "{0eec7e1d-d0d2-476c-a1a8-72dfb6633f46}",
        "urn:uuid:0eec7e1d-d0d2-476c-a1a8-72dfb6633f46",
    ] {
        let spec = parse(&format!(
            "{HEAD}externalJobID = \"{form}\"\nobservationSource = \"a [type=any]\"\n"
        ));
        assert_eq!(
            spec.external_job_id.unwrap().to_string(),
            "0eec7e1d-d0d2-476c-a1a8-72dfb6633f46"
        );
    }
}

#[test]
fn known_but_irrelevant_keys_and_initiators_are_accepted() {
    let spec = parse(&format!(
        "{HEAD}gasLimit = 100\nforwardingAllowed = true\nstreamID = 3\nmaxTaskDuration = \"0s\"\nexternalInitiators = [{{ name = \"ei\", spec = '{{\"a\": 1}}' }}]\nobservationSource = \"a [type=any]\"\n"
    ));
    assert_eq!(spec.external_initiators.len(), 1);
    assert_eq!(spec.external_initiators[0].spec, r#"{"a": 1}"#);
    assert_eq!(spec.max_task_duration, None);
}

#[test]
fn dot_errors_are_counted_from_the_file() {
    // Literal string: exact.
    assert_error(
        &format!("{HEAD}observationSource = '''\na [type=any]\n  a -> b\n'''\n"),
        5,
        8,
        "edge to undeclared task b",
    );
    // Basic single-line string with escapes before the error: exact through the escapes.
    assert_error(
        &format!(
            "{HEAD}observationSource = \"a [type=lowercase input=\\\"\\u00e9\\\"]\\nb -> a\"\n"
        ),
        3,
        59,
        "edge to undeclared task b",
    );
    // Multi-line basic string with a line-ending backslash.
    assert_error(
        &format!(
            "{HEAD}observationSource = \"\"\"\na [type=any] \\\n    b [type=http url=\"x\" \\\n bogus=1]\n\"\"\"\n"
        ),
        6,
        2,
        "unknown attribute \"bogus\" for http task b",
    );
    // Error on the first character after the opening quotes, same line.
    assert_error(
        &format!("{HEAD}observationSource = \"]\"\n"),
        3,
        22,
        "expected a task name",
    );
}

#[test]
fn toml_and_key_errors_are_positioned() {
    assert_error(
        "type = \"webhook\nschemaVersion = 1\n",
        1,
        16,
        "invalid TOML",
    );
    assert_error(
        &format!("{HEAD}bogus = 1\nobservationSource = \"a [type=any]\"\n"),
        3,
        1,
        "unknown key \"bogus\" (known keys: type,",
    );
    assert_error(
        &format!("{HEAD}[extra]\nx = 1\n"),
        3,
        2,
        "unknown key \"extra\"",
    );
    assert_error(
        "type = \"directrequest\"\nschemaVersion = 1\n",
        1,
        8,
        "invalid job type \"directrequest\"",
    );
    assert_error("type = 1\n", 1, 8, "type must be a string");
    assert_error(
        "schemaVersion = 1\nobservationSource = \"a [type=any]\"\n",
        1,
        1,
        "missing key type",
    );
    assert_error(
        "type = \"webhook\"\nobservationSource = \"a [type=any]\"\n",
        1,
        1,
        "invalid schema version",
    );
    assert_error(
        "type = \"webhook\"\nschemaVersion = 2\n",
        2,
        17,
        "invalid schema version",
    );
    assert_error(HEAD, 1, 1, "pipeline spec not specified");
    assert_error(
        &format!("{HEAD}observationSource = \"\"\n"),
        3,
        22,
        "empty pipeline",
    );
    assert_error(
        &format!("{HEAD}externalJobID = \"nope\"\n"),
        3,
        17,
        "invalid externalJobID \"nope\"",
    );
    assert_error(
        &format!("{HEAD}maxTaskDuration = \"5\"\n"),
        3,
        19,
        "maxTaskDuration: missing unit",
    );
    assert_error(
        &format!("{HEAD}schedule = \"@every 1s\"\nobservationSource = \"a [type=any]\"\n"),
        3,
        12,
        "schedule is only for cron jobs",
    );
    assert_error(
        &format!("{HEAD}observationSource = \"a [type=bridge name=x requestData=<{{}}>]\"\n"),
        3,
        56,
        "'<{}>' syntax is not supported. Please use \"{}\" instead",
    );
    assert_error(
        &format!("{HEAD}externalInitiators = [{{ name = \"ei\", spec = 'nope' }}]\n"),
        3,
        45,
        "externalInitiators spec is not JSON",
    );
}

#[test]
fn cron_schedule_errors_point_into_the_schedule() {
    let cron = |schedule: &str| {
        format!(
            "type = \"cron\"\nschemaVersion = 1\nobservationSource = \"a [type=any]\"\nschedule = \"{schedule}\"\n"
        )
    };
    assert_error(
        &cron("CRON_TZ=UTC 0 * * * *"),
        4,
        25,
        "expected 6 cron fields",
    );
    assert_error(
        &cron("CRON_TZ=UTC"),
        4,
        24,
        "expected a space and the schedule after the CRON_TZ zone",
    );
    assert_error(
        &cron("CRON_TZ=Nowhere 0 * * * * *"),
        4,
        21,
        "unknown time zone \"Nowhere\"",
    );
    assert_error(
        &cron("0 0 * * * *"),
        4,
        13,
        "cron schedule must specify a time zone using CRON_TZ",
    );
    assert_error(&cron("@every 10"), 4, 20, "@every: missing unit");
    assert_error(
        "type = \"cron\"\nschemaVersion = 1\nobservationSource = \"a [type=any]\"\n",
        1,
        1,
        "cron job needs a schedule",
    );
}
