//! `offchain node bridges …` against a running `offchain node run`: create (tokens from a
//! variable or a file, never the command line), list, show, delete, and the failures.

use std::path::Path;
use std::process::Command;

use serde_json::json;

mod node_support;
mod support;
use node_support::node_run;
use support::Run;

const BIN: &str = env!("CARGO_BIN_EXE_offchain");

fn bridges(format: &str, api: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let output = Command::new(BIN)
        .args(["node", "bridges", "--api", api, "--format", format])
        .args(args)
        .env_remove("OFFCHAIN_NODE_API_TOKEN")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn json_run(api: &str, args: &[&str]) -> Run {
    bridges("json", api, args, &[])
}

/// The outgoing token the node stored for `name`, as the job runner would read it.
async fn stored_outgoing_token(dir: &Path, name: &str) -> String {
    use offchain_pipeline::run::BridgeLookup;
    let store = offchain_node::Store::open(&dir.join("data")).await.unwrap();
    let registry = offchain_node::bridges::Registry::load(store.clone())
        .await
        .unwrap();
    let token = registry.bridge(name).unwrap().outgoing_token;
    store.close().await;
    token
}

#[tokio::test]
async fn the_cli_creates_lists_shows_and_deletes_bridges_on_a_running_node() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, api) = node_run(dir.path());
    assert_eq!(json_run(&api, &["list"]).ok().json(), json!([]));

    // From a variable: the token is sent to the node, not printed back.
    let created = bridges(
        "json",
        &api,
        &[
            "create",
            "Coin-Market",
            "http://127.0.0.1:8080/",
            "--outgoing-token-env",
            "MY_ADAPTER_TOKEN",
            "--confirmations",
            "2",
            "--minimum-contract-payment",
            "10",
        ],
        &[("MY_ADAPTER_TOKEN", "out-from-env")],
    );
    let created = created.ok().json();
    let incoming = created["incomingToken"].as_str().unwrap().to_owned();
    assert_eq!(incoming.len(), 64);
    assert_eq!(created["hasOutgoingToken"], true);
    assert_eq!(created["confirmations"], 2);
    assert_eq!(created["minimumContractPayment"], "10");
    assert!(!created.to_string().contains("out-from-env"));
    assert_eq!(
        stored_outgoing_token(dir.path(), "coin-market").await,
        "out-from-env"
    );

    // From a file (its first line), in table format: the incoming token and a warning.
    let file = dir.path().join("token");
    std::fs::write(&file, "out-from-file\nignored\n").unwrap();
    let table = bridges(
        "table",
        &api,
        &[
            "create",
            "feed",
            "https://feed.test/",
            "--outgoing-token-file",
            file.to_str().unwrap(),
        ],
        &[],
    );
    table.ok();
    assert!(table.stdout.contains("incoming token:"), "{table:#?}");
    assert!(table.stderr.contains("only this once"), "{table:#?}");
    assert_eq!(
        stored_outgoing_token(dir.path(), "feed").await,
        "out-from-file"
    );

    // List and show never carry a token.
    let list = json_run(&api, &["list"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["name"], "Coin-Market");
    assert!(!list.to_string().contains(&incoming) && !list.to_string().contains("incomingToken"));
    let shown = json_run(&api, &["show", "COIN-MARKET"]).ok().json();
    assert_eq!(shown, list[0]);
    let listed = bridges("table", &api, &["list"], &[]);
    let lines: Vec<&str> = listed.ok().stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{listed:#?}");
    assert!(lines[0].starts_with("NAME "), "{listed:#?}");
    assert!(lines[1].starts_with("Coin-Market "), "{listed:#?}");

    // Failures: duplicate and unknown are the node's answers (exit 1); bad input is 2.
    json_run(&api, &["create", "coin-market", "http://x.test/"]).fails(1, "400");
    json_run(&api, &["create", "x", "ftp://x.test/"]).fails(1, "422");
    json_run(&api, &["show", "missing"]).fails(1, "404");
    json_run(&api, &["show", "../v2/proposals"]).fails(2, "invalid bridge name");
    json_run(
        &api,
        &[
            "create",
            "y",
            "http://y.test/",
            "--outgoing-token-env",
            "UNSET_VAR_XYZ",
        ],
    )
    .fails(2, "UNSET_VAR_XYZ is not set");

    let deleted = json_run(&api, &["delete", "feed"]).ok().json();
    assert_eq!(deleted["name"], "feed");
    json_run(&api, &["delete", "feed"]).fails(1, "404");
    assert_eq!(
        json_run(&api, &["list"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
