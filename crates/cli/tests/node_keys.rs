//! `offchain node keys`: the built binary creates the node's keys from a `node.toml`, prints
//! the same keys on later runs, and refuses wrong passwords and bad configuration with one
//! line.

use std::fs;
use std::path::Path;
use std::process::Command;

mod support;
use support::Run;

const BIN: &str = env!("CARGO_BIN_EXE_offchain");
const JD_KEY: &str = "1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

/// Runs `offchain node keys --config CONFIG ARGS` in `cwd`, with `password` (if any) in
/// `OFFCHAIN_NODE_PASSWORD`.
fn keys(cwd: &Path, config: &Path, args: &[&str], password: Option<&str>) -> Run {
    let mut command = Command::new(BIN);
    command
        .current_dir(cwd)
        .args(["node", "keys", "--config"])
        .arg(config)
        .args(args)
        .env_remove("OFFCHAIN_NODE_PASSWORD")
        .env_remove("RUST_LOG");
    if let Some(password) = password {
        command.env("OFFCHAIN_NODE_PASSWORD", password);
    }
    let output = command.output().expect("the binary runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A `node.toml` with a relative data_dir, in its own directory.
fn node_toml(dir: &Path, jd_key: &str) -> std::path::PathBuf {
    let path = dir.join("node.toml");
    let text = format!(
        "name = \"node-1\"\ndata_dir = \"data\"\n\n[[job_distributors]]\n\
         uri = \"127.0.0.1:8080\"\npublic_key = \"{jd_key}\"\n"
    );
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn keys_are_created_once_and_printed_the_same_on_later_runs() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let config = node_toml(dir.path(), JD_KEY);

    let first = keys(
        elsewhere.path(),
        &config,
        &["--format", "json"],
        Some("pw 1"),
    );
    let json = first.ok().json();
    let object = json.as_object().unwrap();
    assert_eq!(object.len(), 2, "exactly two fields: {json}");
    let csa = object["csa_public_key"].as_str().unwrap();
    let peer_id = object["p2p_peer_id"].as_str().unwrap();
    assert!(
        csa.len() == 64 && csa.chars().all(|c| c.is_ascii_hexdigit()),
        "{csa}"
    );
    assert!(peer_id.starts_with("p2p_12D3KooW"), "{peer_id}");
    // data_dir is relative to the config file, not to where the command ran.
    assert!(dir.path().join("data/keystore.json").is_file());
    assert!(!elsewhere.path().join("data").exists());

    let again = keys(dir.path(), &config, &[], Some("pw 1"));
    let lines: Vec<&str> = again.ok().stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{again:#?}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["csa_public_key", csa]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["p2p_peer_id", peer_id]
    );
}

#[test]
fn a_password_file_works_and_a_wrong_password_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = node_toml(dir.path(), JD_KEY);
    let password_file = dir.path().join("password");
    fs::write(&password_file, "from a file\n").unwrap();
    let file_arg = password_file.to_str().unwrap();

    let created = keys(dir.path(), &config, &["--password-file", file_arg], None);
    created.ok();
    // The file's line, not its line break, is the password.
    keys(dir.path(), &config, &[], Some("from a file")).ok();

    let wrong = keys(dir.path(), &config, &[], Some("not it"));
    wrong.fails(1, "the node password does not open the keystore at");
    assert!(wrong.stderr.contains("keystore.json"), "{wrong:#?}");
    assert!(
        !wrong.stderr.contains("not it"),
        "the password leaked: {wrong:#?}"
    );
    assert!(wrong.stdout.is_empty());
}

#[test]
fn a_missing_password_says_how_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = node_toml(dir.path(), JD_KEY);
    let run = keys(dir.path(), &config, &[], None);
    run.fails(2, "set OFFCHAIN_NODE_PASSWORD or pass --password-file");
    assert!(
        !dir.path().join("data").exists(),
        "no keys without a password"
    );
    keys(dir.path(), &config, &[], Some("")).fails(2, "OFFCHAIN_NODE_PASSWORD");
}

#[test]
fn a_bad_config_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = node_toml(dir.path(), "not hex");
    let run = keys(dir.path(), &config, &[], Some("pw"));
    run.fails(
        2,
        "node.toml:6:14: job_distributors[0].public_key: expected 64 hex characters",
    );
    let missing = keys(dir.path(), &dir.path().join("absent.toml"), &[], Some("pw"));
    missing.fails(2, "absent.toml");
}
