//! `offchain node …`: the node agent's commands.

use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result};
use offchain_node::api::ApiToken;
use offchain_node::{Keystore, Node, NodeConfig, NodePassword};

use crate::UsageError;
use crate::args::{Format, NodeKeysArgs, NodeRunArgs};
use crate::serve::shutdown_signal;

pub use crate::node_proposals::proposals;

/// Where the node password comes from when no password file is given.
const PASSWORD_ENV: &str = "OFFCHAIN_NODE_PASSWORD";

/// `offchain node keys`: opens (or creates) the keystore and prints its public half.
pub async fn keys(args: NodeKeysArgs) -> Result<()> {
    let config = NodeConfig::load(&args.config).map_err(|e| UsageError(e.to_string()))?;
    let password = node_password(args.password_file.as_deref())?;
    // Deriving the sealing key is deliberately slow: keep it off the async workers.
    let keystore =
        tokio::task::spawn_blocking(move || Keystore::open_or_create(&config.data_dir, &password))
            .await
            .context("the keystore task failed")??;
    let csa_public_key = keystore.csa_public_key_hex();
    let p2p_peer_id = keystore.p2p_peer_id().to_string();
    let text = match args.format {
        Format::Json => {
            let object = serde_json::json!({
                "csa_public_key": csa_public_key,
                "p2p_peer_id": p2p_peer_id,
            });
            serde_json::to_string_pretty(&object)?
        }
        Format::Table => {
            format!("csa_public_key  {csa_public_key}\np2p_peer_id     {p2p_peer_id}")
        }
    };
    writeln!(io::stdout().lock(), "{text}")?;
    Ok(())
}

/// `offchain node run`: starts the node, prints what an operator needs, serves until
/// SIGINT or SIGTERM.
pub async fn run(args: NodeRunArgs) -> Result<()> {
    let config = NodeConfig::load(&args.config).map_err(|e| UsageError(e.to_string()))?;
    let password = node_password(args.password_file.as_deref())?;
    let token = ApiToken::from_env();
    let has_token = token.is_some();
    // Listen for signals before announcing the address, like `jd serve`.
    let shutdown = shutdown_signal()?;
    let node = Node::start(&config, &password, token).await?;
    let access = if has_token {
        "bearer token"
    } else {
        "loopback only"
    };
    let text = format!(
        "node {} api http://{} ({access})\ncsa_public_key  {}\np2p_peer_id     {}",
        config.name.as_str(),
        node.api_address(),
        node.csa_public_key(),
        node.p2p_peer_id(),
    );
    writeln!(io::stdout().lock(), "{text}")?;
    shutdown.await;
    node.shutdown().await;
    Ok(())
}

/// The password from `password_file`, else from `OFFCHAIN_NODE_PASSWORD`.
fn node_password(password_file: Option<&Path>) -> Result<NodePassword> {
    let how = format!("set {PASSWORD_ENV} or pass --password-file FILE");
    if let Some(path) = password_file {
        return NodePassword::read_file(path)
            .map_err(|error| UsageError(format!("{error}: {how}")).into());
    }
    let Some(value) = std::env::var_os(PASSWORD_ENV) else {
        return Err(UsageError(format!("no node password: {how}")).into());
    };
    let value = value
        .into_string()
        .map_err(|_| UsageError(format!("{PASSWORD_ENV} is not valid UTF-8: {how}")))?;
    NodePassword::new(value)
        .map_err(|_| UsageError(format!("{PASSWORD_ENV} is empty: {how}")).into())
}
