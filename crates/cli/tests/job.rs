//! `offchain job validate` and the check `offchain jd jobs propose` makes before sending:
//! run the built binary on spec files in a temp dir; no JD or node is involved.

use std::path::Path;
use std::process::Command;

mod support;
use support::Run;

const BIN: &str = env!("CARGO_BIN_EXE_offchain");

const WEBHOOK: &str = r#"type = "webhook"
schemaVersion = 1
name = "eth-usd"
externalJobID = "0b5b2c2e-6e5a-4f0c-9c55-8b7e1f7b3a11"
observationSource = """
    price [type=bridge name="coin-market" requestData=<{"data": {"base": "ETH", "quote": "USD"}}>]
    parse [type=jsonparse path="data,result"]
    scale [type=multiply times=100]
    price -> parse -> scale
"""
"#;

const CRON: &str = r#"type = "cron"
schemaVersion = 1
schedule = "CRON_TZ=UTC 0 */5 * * * *"
observationSource = "fetch [type=http method=GET url=\"https://example.invalid\"]"
"#;

/// The DOT error is on line 6 of the file, not line 2 of the graph.
const UNDECLARED: &str = r#"type = "webhook"
schemaVersion = 1
observationSource = """
    price [type=bridge name="coin-market"]
    parse [type=jsonparse path="data,result"]
    price -> prase
"""
"#;

const UNKNOWN_KEY: &str = "type = \"webhook\"\nschemaVersion = 1\nnmae = \"x\"\n";

fn offchain(args: &[&str]) -> Run {
    let output = Command::new(BIN)
        .args(args)
        .env_remove("JD_GRPC")
        .env_remove("JD_TOKEN")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn valid_specs_print_one_ok_line_each_and_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    let webhook = write(dir.path(), "webhook.toml", WEBHOOK);
    let cron = write(dir.path(), "cron.toml", CRON);

    let out = offchain(&["job", "validate", &webhook, &cron]);
    out.ok();
    assert_eq!(
        out.stdout,
        format!("{webhook}: ok (webhook, 3 tasks)\n{cron}: ok (cron, 1 task)\n")
    );
    assert_eq!(out.stderr, "");
}

#[test]
fn errors_are_positioned_in_the_file_and_exit_two() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.toml", WEBHOOK);
    let undeclared = write(dir.path(), "undeclared.toml", UNDECLARED);
    let unknown = write(dir.path(), "unknown.toml", UNKNOWN_KEY);

    // A bad file does not hide the files after it; the good one is still reported ok.
    let out = offchain(&["job", "validate", &undeclared, &good, &unknown]);
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert_eq!(out.stdout, format!("{good}: ok (webhook, 3 tasks)\n"));
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{undeclared}:6:14: edge to undeclared task prase"),
            format!(
                "{unknown}:3:1: unknown key \"nmae\" (known keys: type, schemaVersion, name, \
                 externalJobID, maxTaskDuration, observationSource, schedule, \
                 externalInitiators, gasLimit, forwardingAllowed, streamID, evmChainID)"
            ),
        ],
        "{out:#?}"
    );
}

#[test]
fn unreadable_and_oversized_files_are_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml").display().to_string();
    let huge = write(
        dir.path(),
        "huge.toml",
        &format!("# {}\n", "x".repeat(1024 * 1024)),
    );
    let binary = dir.path().join("binary.toml");
    std::fs::write(&binary, b"type = \"\xff\"\n").unwrap();
    let binary = binary.display().to_string();

    let out = offchain(&["job", "validate", &missing, &huge, &binary]);
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert_eq!(out.stdout, "");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{out:#?}");
    assert!(
        lines[0].starts_with(&format!("{missing}: cannot read: ")),
        "{out:#?}"
    );
    assert_eq!(
        lines[1],
        format!("{huge}: larger than the JD's spec limit of 1048576 bytes")
    );
    assert_eq!(
        lines[2],
        format!("{binary}: not UTF-8 text (invalid byte at offset 8)")
    );
}

#[test]
fn json_reports_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.toml", WEBHOOK);
    let bad = write(dir.path(), "bad.toml", UNDECLARED);
    let missing = dir.path().join("missing.toml").display().to_string();

    let out = offchain(&["job", "validate", "--format", "json", &good, &bad, &missing]);
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert_eq!(out.stderr, "");
    let json = out.json();
    assert_eq!(
        json[0],
        serde_json::json!({"file": good, "valid": true, "errors": []})
    );
    assert_eq!(
        json[1],
        serde_json::json!({"file": bad, "valid": false, "errors": [
            {"line": 6, "column": 14, "message": "edge to undeclared task prase"}
        ]})
    );
    assert_eq!(json[2]["valid"], false);
    assert_eq!(json[2]["errors"][0]["line"], serde_json::Value::Null);
    assert_eq!(json.as_array().unwrap().len(), 3);

    offchain(&["job", "validate", "--format", "json", &good]).ok();
}

#[test]
fn validate_needs_a_file() {
    let out = offchain(&["job", "validate"]);
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert!(out.stderr.contains("<FILE>"), "{out:#?}");
}

/// Port 1 on loopback refuses connections: any attempt to reach a JD fails with a
/// connection error, so seeing the spec error instead proves nothing was sent.
const UNREACHABLE: &str = "http://127.0.0.1:1";

#[test]
fn propose_refuses_an_invalid_spec_before_contacting_the_jd() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.toml", UNDECLARED);
    let propose = |extra: &[&str]| {
        let mut args = vec![
            "jd",
            "jobs",
            "propose",
            "--spec",
            &bad,
            "--node",
            "node_x",
            "--endpoint",
            UNREACHABLE,
        ];
        args.extend(extra);
        offchain(&args)
    };

    let out = propose(&[]);
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "{bad}:6:14: edge to undeclared task prase\n\
             error: invalid spec, nothing was proposed (--no-validate sends it unchecked)\n"
        )
    );

    // Unchecked, the same spec goes to the JD: here, the connection error.
    propose(&["--no-validate"]).fails(1, &format!("cannot reach the JD at {UNREACHABLE}"));
}

#[test]
fn propose_sends_a_valid_spec() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.toml", WEBHOOK);
    let out = offchain(&[
        "jd",
        "jobs",
        "propose",
        "--spec",
        &good,
        "--node",
        "node_x",
        "--endpoint",
        UNREACHABLE,
    ]);
    // Past the check, the JD is contacted.
    out.fails(1, &format!("cannot reach the JD at {UNREACHABLE}"));
}
