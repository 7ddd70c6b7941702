//! `offchain jd serve` and `offchain jd hash-token`.

use std::io::Read;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;

use anyhow::{Context, Result, bail};
use offchain_jd::auth::{self, TokenHashes};
use offchain_jd::server::{self, ServeOptions, ServerConfig, TlsFiles};

use crate::UsageError;
use crate::args::ServeArgs;
use crate::output::write_stdout;

/// Where a JD keeps its state when no database is configured.
pub const DEFAULT_DATABASE_URL: &str = "sqlite:./offchain-data/jd.db";

const SECRET_VAR: &str = "CSA_KEY_ENCRYPTION_SECRET";
const HASHES_VAR: &str = "JD_AUTH_TOKEN_HASHES";

/// Starts the JD, prints where it listens and its CSA public key, and serves until SIGINT
/// or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<()> {
    // Everything that can be wrong with the configuration is checked before the database
    // is touched, so a mistake never leaves a half-created data directory behind.
    let (listen, loopback) = listen_address(&args.grpc_listen)?;
    let auth = token_hashes(&args)?;
    if auth.is_none() && !loopback && !args.insecure_no_auth {
        return Err(UsageError(format!(
            "refusing to serve the operator API on {listen} without auth: add operator tokens \
             (--auth-token-hashes-file FILE or JD_AUTH_TOKEN_HASHES, see `offchain jd \
             hash-token`), listen on a loopback address, or pass --insecure-no-auth"
        ))
        .into());
    }
    let (database_url, csa_secret) = if args.dev {
        if args.database_url.is_some() {
            tracing::warn!("--dev ignores --database-url / DATABASE_URL");
        }
        tracing::warn!(
            "--dev: in-memory database and a throw-away CSA key; nothing is kept when the JD stops"
        );
        (
            offchain_jd::store::SQLITE_MEMORY_URL.to_string(),
            offchain_jd::csa::throwaway_secret(),
        )
    } else {
        let secret = csa_secret()?;
        let url = args
            .database_url
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        create_sqlite_directory(&url)?;
        // Only SQLite URLs are logged: a PostgreSQL URL may carry a password.
        if url.starts_with("sqlite:") {
            tracing::info!(database = %url, "using SQLite");
        } else {
            tracing::info!("using PostgreSQL");
        }
        (url, secret)
    };
    // Listen for signals before announcing the address, so a supervisor that stops the JD
    // right after reading it gets a graceful shutdown rather than the default kill.
    let shutdown = shutdown_signal()?;
    let config = ServerConfig {
        listen,
        database_url,
        csa_secret,
        auth: auth.clone(),
    };
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    let scheme = if tls.is_some() { "https://" } else { "" };
    let options = ServeOptions {
        tls,
        request_timeout: args.request_timeout,
        max_concurrent_requests: args.max_concurrent_requests as usize,
        node_listen: Some(args.node_listen),
        node_health_listen: args.node_health_listen,
        ..ServeOptions::default()
    };
    tracing::info!(
        request_timeout = ?options.request_timeout,
        max_concurrent_requests = options.max_concurrent_requests,
        "limits"
    );
    let server = server::start_with(config, options).await?;
    match &auth {
        Some(hashes) => tracing::info!(tokens = hashes.len(), "operator calls need a token"),
        None if loopback => tracing::info!(
            "operator auth is off: only this machine can reach {} (see \
             --auth-token-hashes-file)",
            server.local_addr()
        ),
        None => tracing::warn!(
            "--insecure-no-auth: anyone who can reach {} can operate this JD (see \
             --auth-token-hashes-file)",
            server.local_addr()
        ),
    }
    let node_health = match server.node_health_addr() {
        Some(addr) => format!(", health on http://{addr}/healthz"),
        None => String::new(),
    };
    write_stdout(&format!(
        "listening on {scheme}{}\nCSA public key: {}\nnode listener on {}{node_health}",
        server.local_addr(),
        server.jd().csa_keys().public_key_hex(),
        server
            .node_addr()
            .map_or_else(|| "(none)".to_owned(), |addr| addr.to_string()),
    ))?;
    server.run_until(shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// `HOST:PORT`, where HOST may be a name such as `localhost`: the address to bind, and
/// whether HOST is loopback only (127.0.0.0/8 or ::1; a name only when every address it
/// resolves to is).
fn listen_address(text: &str) -> Result<(SocketAddr, bool)> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok((addr, is_loopback(addr.ip())));
    }
    let bad = || {
        UsageError(format!(
            "invalid listen address {text:?} (--grpc-listen / JD_GRPC_LISTEN): \
             expected HOST:PORT such as 127.0.0.1:14231"
        ))
    };
    let addrs: Vec<SocketAddr> = text.to_socket_addrs().map_err(|_| bad())?.collect();
    let first = *addrs.first().ok_or_else(bad)?;
    Ok((first, addrs.iter().all(|a| is_loopback(a.ip()))))
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

fn csa_secret() -> Result<String> {
    match std::env::var(SECRET_VAR) {
        Ok(secret) if !secret.trim().is_empty() => Ok(secret),
        Ok(_) => bail!(
            "{SECRET_VAR} is empty: set it to a long random string (it seals the JD's CSA \
             private key), or use --dev for a throw-away JD"
        ),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{SECRET_VAR} is not valid UTF-8"),
        Err(std::env::VarError::NotPresent) => bail!(
            "{SECRET_VAR} is not set: the JD seals its CSA private key with it; set it to a \
             long random string, or use --dev for a throw-away JD"
        ),
    }
}

fn token_hashes(args: &ServeArgs) -> Result<Option<TokenHashes>> {
    let list = std::env::var(HASHES_VAR)
        .ok()
        .filter(|l| !l.trim().is_empty());
    match (&args.auth_token_hashes_file, list) {
        (Some(_), Some(_)) => Err(UsageError(format!(
            "both --auth-token-hashes-file (JD_AUTH_TOKEN_HASHES_FILE) and {HASHES_VAR} are \
             set; use one"
        ))
        .into()),
        (Some(path), None) => Ok(Some(TokenHashes::from_file(path)?)),
        (None, Some(list)) => Ok(Some(TokenHashes::from_list(&list, HASHES_VAR)?)),
        (None, None) => Ok(None),
    }
}

/// SQLite creates a missing file but not its directory.
fn create_sqlite_directory(url: &str) -> Result<()> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Ok(());
    };
    if rest.contains(":memory:") || rest.contains("mode=memory") {
        return Ok(());
    }
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    match Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the database directory {}", dir.display())),
        _ => Ok(()),
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
#[cfg(unix)]
pub(crate) fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    })
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
pub(crate) fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            // Without a working handler, never stop on our own rather than stop at once.
            std::future::pending::<()>().await;
        }
    })
}

/// Prints the hash of `token` (read from stdin when it is `-`).
pub fn hash_token(token: &str) -> Result<()> {
    let token = if token == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the token from standard input")?;
        text.trim_end_matches(['\r', '\n']).to_string()
    } else {
        token.to_string()
    };
    if token.is_empty() {
        return Err(UsageError("the token is empty".into()).into());
    }
    write_stdout(&auth::hash_token(&token))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_accept_ips_and_names() {
        assert_eq!(
            listen_address("127.0.0.1:0").unwrap().0,
            "127.0.0.1:0".parse::<SocketAddr>().unwrap()
        );
        assert!(listen_address("[::1]:14231").is_ok());
        assert!(listen_address("localhost:14231").is_ok());
        let err = listen_address("nonsense").unwrap_err();
        assert!(err.is::<UsageError>());
        assert!(err.to_string().contains("\"nonsense\""), "{err}");
        assert!(listen_address("127.0.0.1:99999").is_err());
    }

    #[test]
    fn only_loopback_addresses_count_as_loopback() {
        for local in [
            "127.0.0.1:1",
            "127.8.9.10:1",
            "[::1]:1",
            "[::ffff:127.0.0.1]:1",
            "localhost:1",
        ] {
            assert!(listen_address(local).unwrap().1, "{local}");
        }
        for public in ["0.0.0.0:1", "[::]:1", "10.0.0.1:1", "[2001:db8::1]:1"] {
            assert!(!listen_address(public).unwrap().1, "{public}");
        }
    }

    #[test]
    fn sqlite_file_urls_get_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a/b/jd.db");
        create_sqlite_directory(&format!("sqlite:{}?mode=rwc", db.display())).unwrap();
        assert!(dir.path().join("a/b").is_dir());
        create_sqlite_directory(&format!(
            "sqlite://{}",
            dir.path().join("c/jd.db").display()
        ))
        .unwrap();
        assert!(dir.path().join("c").is_dir());
        create_sqlite_directory("sqlite::memory:").unwrap();
        create_sqlite_directory("postgres://u@h/db").unwrap();
    }
}
