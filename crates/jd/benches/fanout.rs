//! Fan-out benchmark: N simulated nodes linked to one JD, one `BatchProposeJob` to all of
//! them, time until every proposal is ACKNOWLEDGED; and the JD's resident memory per idle
//! link.
//!
//! ```text
//! cargo bench -p offchain-jd --bench fanout
//! FANOUT_NODES=1000 cargo bench -p offchain-jd --bench fanout
//! ```
//!
//! The JD runs in a child process (this binary again, with `FANOUT_ROLE=jd`), so its
//! sockets and the nodes' count against different open-file limits and its memory is its
//! own. Each round gets a fresh JD over a fresh SQLite file in a temp dir, or over
//! `FANOUT_DATABASE_URL` (e.g. PostgreSQL) when set. Environment:
//!
//! - `FANOUT_NODES`: comma-separated node counts, default `1000,10000`;
//! - `FANOUT_DIAL_CONCURRENCY`: dials in flight at once, default 256;
//! - `FANOUT_SETTLE_MS`: pause before the idle memory reading, default 2000.

#[path = "fanout/harness.rs"]
mod harness;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use harness::{BenchResult, JdEndpoints, Round};

const ROLE_VAR: &str = "FANOUT_ROLE";
const DATABASE_VAR: &str = "FANOUT_DATABASE_URL";

fn main() -> BenchResult<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    harness::raise_fd_limit()?;
    if std::env::var(ROLE_VAR).as_deref() == Ok("jd") {
        let url = std::env::var(DATABASE_VAR)?;
        return runtime.block_on(serve_jd(&url));
    }
    let counts = env_list("FANOUT_NODES", &[1_000, 10_000])?;
    let dial_concurrency = env_number("FANOUT_DIAL_CONCURRENCY", 256)?;
    let settle = Duration::from_millis(env_number("FANOUT_SETTLE_MS", 2_000)? as u64);
    let mut rows = Vec::new();
    for nodes in counts {
        let dir = tempfile::tempdir()?;
        let url = match std::env::var(DATABASE_VAR) {
            Ok(url) => url,
            Err(_) => format!("sqlite:{}", dir.path().join("jd.db").display()),
        };
        let mut jd = JdProcess::spawn(&url)?;
        let round = Round {
            nodes,
            dial_concurrency,
            settle,
        };
        eprintln!("fanout: {nodes} nodes…");
        let figures = runtime.block_on(harness::run(jd.endpoints, round));
        jd.stop();
        let figures = figures?;
        if figures.acknowledged_count != nodes {
            return Err(format!(
                "{} of {nodes} proposals acknowledged",
                figures.acknowledged_count
            )
            .into());
        }
        eprint!("{}", harness::table(std::slice::from_ref(&figures)));
        rows.push(figures);
    }
    print!("{}", harness::table(&rows));
    Ok(())
}

/// The child's side: serves a JD, prints `grpc=ADDR node=ADDR` and runs until its stdin
/// closes (the parent finished or died).
async fn serve_jd(url: &str) -> BenchResult<()> {
    let server = harness::serve_jd(url).await?;
    let node = server.node_addr().ok_or("no node listener")?;
    println!("grpc={} node={node}", server.local_addr());
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await?;
    server.shutdown().await?;
    Ok(())
}

/// The JD child process.
struct JdProcess {
    child: Child,
    endpoints: JdEndpoints,
}

impl JdProcess {
    fn spawn(url: &str) -> BenchResult<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .env(ROLE_VAR, "jd")
            .env(DATABASE_VAR, url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let mut grpc = None;
        let mut node = None;
        for part in line.split_whitespace() {
            match part.split_once('=') {
                Some(("grpc", addr)) => grpc = Some(addr.parse()?),
                Some(("node", addr)) => node = Some(addr.parse()?),
                _ => {}
            }
        }
        let (Some(grpc), Some(node)) = (grpc, node) else {
            let _ = child.kill();
            return Err(format!("the JD child said {line:?}").into());
        };
        let endpoints = JdEndpoints {
            grpc,
            node,
            pid: child.id(),
        };
        Ok(Self { child, endpoints })
    }

    /// Closes the child's stdin and waits for it to stop.
    fn stop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for JdProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

fn env_number(name: &str, default: usize) -> BenchResult<usize> {
    match std::env::var(name) {
        Ok(value) => Ok(value.trim().parse()?),
        Err(_) => Ok(default),
    }
}

fn env_list(name: &str, default: &[usize]) -> BenchResult<Vec<usize>> {
    match std::env::var(name) {
        Ok(value) => value
            .split(',')
            .map(|part| Ok(part.trim().replace('_', "").parse()?))
            .collect(),
        Err(_) => Ok(default.to_vec()),
    }
}
