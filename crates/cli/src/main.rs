//! `offchain`: run a Job Distributor (JD), operate it from the command line, and manage
//! the nodes that link to it.
//!
//! - `offchain jd serve` starts a JD server (SQLite by default, PostgreSQL by URL, or a
//!   throw-away in-memory one with `--dev`) and runs until SIGINT/SIGTERM.
//! - `offchain jd nodes|jobs|proposals|csa …` call a running JD through the `offchain`
//!   client library and print aligned tables or, with `--format json`, the protobuf JSON
//!   mapping of the answer.
//! - `offchain node keys` creates a node's keys (if absent) and prints what to register at
//!   the JD.
//! - `offchain up` runs the whole network in one process: a JD, N nodes linked to it and
//!   the coin-market adapter, until SIGINT/SIGTERM; `offchain demo` starts the same
//!   network, proposes the example job, runs it on every node, prints each step and stops.
//! - `offchain job validate` checks job spec files with the node's own parser, offline;
//!   `offchain job run` runs a spec's pipeline once against real adapters and URLs.
//!
//! This binary only parses arguments, calls the library and prints. Every failure ends as
//! one `error: …` line on stderr, with exit code 2 for bad input (as clap uses for usage
//! errors) and 1 for everything else; an invalid job spec is reported as
//! `FILE:LINE:COL: message` lines (exit 2). `job run` also exits 1 for an errored run and 3
//! for a suspended one (its output says why), 130 when interrupted.

mod args;
mod client;
mod commands;
mod job;
mod job_run;
mod node;
mod node_bridges;
mod node_jobs;
mod node_proposals;
mod output;
mod serve;
mod up;

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use args::{Cli, Command, JdCommand, NodeCommand};

/// Input that cannot work whatever the JD says (bad selector, endpoint, address): exit 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The command already printed what went wrong (positioned spec errors, say): exit with
/// this code and print nothing more.
#[derive(Debug)]
pub struct Reported(pub u8);

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reported; exit code {}", self.0)
    }
}

impl std::error::Error for Reported {}

fn main() -> ExitCode {
    // Before anything can touch TLS: rustls panics when it has to pick a provider itself.
    offchain::install_crypto_provider();
    let cli = Cli::parse();
    init_tracing(&cli);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return report(anyhow::anyhow!("cannot start the async runtime: {error}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report(error),
    }
}

async fn run(cli: Cli) -> Result<()> {
    let command = match cli.command {
        Command::Jd(command) => command,
        Command::Node(NodeCommand::Keys(args)) => return node::keys(args).await,
        Command::Node(NodeCommand::Run(args)) => return node::run(args).await,
        Command::Node(NodeCommand::Proposals { api, command }) => {
            return node::proposals(api, command).await;
        }
        Command::Node(NodeCommand::Bridges { api, command }) => {
            return node_bridges::bridges(api, command).await;
        }
        Command::Node(NodeCommand::Jobs { api, command }) => {
            return node_jobs::jobs(api, command).await;
        }
        Command::Node(NodeCommand::Runs {
            api,
            job,
            run,
            limit,
            cursor,
        }) => return node_jobs::runs(api, job, run, limit, cursor).await,
        Command::Job(command) => return job::run(command).await,
        Command::Up(args) => return up::run(args).await,
        Command::Demo(args) => return up::demo::run(args).await,
    };
    match command {
        JdCommand::Serve(args) => serve::run(args).await,
        JdCommand::HashToken { token } => serve::hash_token(&token),
        JdCommand::Nodes { client, command } => {
            let (jd, out) = commands::connect(&client).await?;
            commands::nodes::run(&jd, &out, command).await
        }
        JdCommand::Jobs { client, command } => {
            // A spec to propose is read and checked before connecting: a bad one needs no JD.
            let spec = commands::jobs::spec_to_propose(&command)?;
            let (jd, out) = commands::connect(&client).await?;
            if let Some(spec) = spec {
                return commands::jobs::propose(&jd, &out, command, &spec).await;
            }
            commands::jobs::run(&jd, &out, command).await
        }
        JdCommand::Proposals { client, command } => {
            let (jd, out) = commands::connect(&client).await?;
            commands::proposals::run(&jd, &out, command).await
        }
        JdCommand::Csa { client, command } => {
            let (jd, out) = commands::connect(&client).await?;
            commands::csa::run(&jd, &out, command).await
        }
    }
}

/// Logs go to stderr so stdout stays the answer. The servers (JD and node) are chatty by
/// default; client commands only log problems unless RUST_LOG says otherwise.
fn init_tracing(cli: &Cli) {
    let default = match &cli.command {
        Command::Jd(JdCommand::Serve(_)) | Command::Node(NodeCommand::Run(_)) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr);
    // A second subscriber cannot be installed; the first one stays, which is fine.
    let _ = match cli.log_format {
        args::LogFormat::Text => logs.with_ansi(io::stderr().is_terminal()).try_init(),
        args::LogFormat::Json => logs.json().try_init(),
    };
}

/// Prints `error` as one line and picks the exit code.
fn report(error: anyhow::Error) -> ExitCode {
    // A closed stdout (`offchain … | head`) is the reader's choice, not a failure.
    let broken_pipe = error
        .downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe);
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    if let Some(Reported(code)) = error.downcast_ref::<Reported>() {
        return ExitCode::from(*code);
    }
    let text = one_line(&chain(&error));
    let _ = writeln!(io::stderr(), "error: {text}");
    if error.is::<UsageError>() {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

/// `error: cause: cause`, skipping causes the message already quotes (several library
/// errors print their source themselves and also return it from `source()`).
fn chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

/// Multi-line messages (from a server or a parser) folded onto one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_not_repeated() {
        let io = io::Error::new(io::ErrorKind::AddrInUse, "in use");
        let error = anyhow::Error::new(io).context("cannot listen: in use");
        assert_eq!(chain(&error), "cannot listen: in use");
        let error = anyhow::anyhow!("root").context("outer");
        assert_eq!(chain(&error), "outer: root");
    }

    #[test]
    fn errors_fold_onto_one_line() {
        assert_eq!(one_line("a\n  b\n\nc "), "a b c");
    }
}
