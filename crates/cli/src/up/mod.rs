//! `offchain up`: the whole network in one process — an embedded JD on SQLite, N nodes
//! linked to it (approval policy `auto`, labels `env=local`, `node=<name>`), and the
//! coin-market adapter with a mock data provider. It only wires library pieces together:
//!
//! - [`network`]: starts the JD, the nodes and the adapter, waits until every node is
//!   connected, and stops them again;
//! - [`adapter`]: the adapter and its mock provider on 127.0.0.1;
//! - [`report`]: the printed table and commands, the `--state-file` JSON;
//! - [`demo`]: `offchain demo`, the same network driven through the whole flow once;
//! - [`files`]: the secrets kept in the data directory (0600) and atomic writes.
//!
//! Kept in `--data-dir` across restarts: the JD's database and CSA secret, each node's
//! keystore, store, password (a generated 256-bit secret, so the keystore is sealed with
//! one PBKDF2 round and N nodes open fast) and API token. `--ephemeral` keeps all of it in
//! a temporary directory removed on exit, and the JD's database in memory.

mod adapter;
pub mod demo;
mod files;
mod network;
mod report;

use std::time::Instant;

use anyhow::{Context, Result};

use crate::args::UpArgs;
use crate::output::write_stdout;
use crate::serve::shutdown_signal;

/// Starts the network, prints how to reach it, and runs until SIGINT or SIGTERM.
pub async fn run(args: UpArgs) -> Result<()> {
    let started = Instant::now();
    // Signals are caught from the start: a stop during start-up still stops cleanly.
    let shutdown = shutdown_signal()?;
    tokio::pin!(shutdown);

    if let Some(path) = &args.state_file {
        files::remove_if_present(path)?;
    }
    // `--ephemeral` data lives in a temporary directory, removed when this is dropped.
    let temporary = if args.ephemeral {
        Some(tempfile::Builder::new().prefix("offchain-up-").tempdir()?)
    } else {
        None
    };
    let data_dir = match &temporary {
        Some(dir) => dir.path().to_owned(),
        None => std::path::absolute(&args.data_dir)
            .with_context(|| format!("bad --data-dir {}", args.data_dir.display()))?,
    };
    let options = network::Options {
        nodes: args.nodes,
        data_dir: data_dir.clone(),
        ephemeral: args.ephemeral,
        jd_grpc_port: args.jd_grpc_port.unwrap_or(0),
        jd_node_port: args.jd_node_port.unwrap_or(0),
        api_port_base: args.api_port_base,
    };
    let network = tokio::select! {
        network = network::start(&options) => network?,
        () = &mut shutdown => return Ok(()),
    };
    let ready = started.elapsed();

    let example = data_dir.join("example-job.toml");
    let state = report::State::of(&network);
    let written =
        files::write_atomic(&example, report::example_job().as_bytes()).and_then(|()| match &args
            .state_file
        {
            Some(path) => files::write_atomic(path, &serde_json::to_vec_pretty(&state)?),
            None => Ok(()),
        });
    if let Err(error) = written {
        network.shutdown().await?;
        return Err(error);
    }
    tracing::info!(
        ready_ms = ready.as_millis(),
        nodes = state.nodes.len(),
        "ready"
    );
    write_stdout(&report::render(
        &state,
        network.adapter.is_mock(),
        &example,
        ready,
    ))?;

    shutdown.await;
    network.shutdown().await?;
    drop(temporary);
    Ok(())
}
