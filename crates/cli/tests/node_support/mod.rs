//! A running `offchain node run` for the suites that drive the node through the CLI.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_offchain");
/// The key of a JD that is never there (`127.0.0.1:9`): the node keeps redialing.
pub const JD_KEY: &str = "1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

/// Kills the node when the test ends, however it ends. Holds its stdout open: the node
/// would fail writing to a closed pipe.
pub struct Running(pub Child, #[allow(dead_code)] pub BufReader<ChildStdout>);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `offchain node run` on a free port; returns it and its API URL.
pub fn node_run(dir: &Path) -> (Running, String) {
    let config = dir.join("node.toml");
    // The JD is not there: the node keeps redialing, the API still serves.
    std::fs::write(
        &config,
        format!(
            "name = \"node-1\"\ndata_dir = \"data\"\n\n[[job_distributors]]\n\
             uri = \"127.0.0.1:9\"\npublic_key = \"{JD_KEY}\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["node", "run", "--config"])
        .arg(&config)
        .env("OFFCHAIN_NODE_PASSWORD", "pw")
        .env_remove("OFFCHAIN_NODE_API_TOKEN")
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no API address in {first:?}"))
        .to_owned();
    (Running(child, stdout), url)
}
