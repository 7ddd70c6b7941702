//! The fan-out benchmark's core, shared by `benches/fanout.rs` (JD in a child process,
//! N = 1 000 and 10 000) and `tests/fanout.rs` (JD in the test process, N = 20).
//!
//! Simulated nodes are as light as a node can be: a wsrpc dial and one shared [`Router`]
//! answering `ProposeJob` OK. Everything at the JD goes through its real interfaces: nodes
//! are registered and the proposal made over the operator gRPC API, the nodes dial its
//! node listener.

// Each target uses only part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use offchain_jd::server::{RunningServer, ServeOptions};
use offchain_proto::cfm;
use offchain_proto::csa::GetKeypairRequest;
use offchain_proto::csa::csa_service_client::CsaServiceClient;
use offchain_proto::job::job_service_client::JobServiceClient;
use offchain_proto::job::list_proposals_request::Filter;
use offchain_proto::job::{BatchProposeJobRequest, ListProposalsRequest, ProposalDeliveryStatus};
use offchain_proto::label::Label;
use offchain_proto::node::node_service_client::NodeServiceClient;
use offchain_proto::node::{ListNodesRequest, RegisterNodeRequest};
use offchain_wsrpc::dial::{self, DialConfig};
use offchain_wsrpc::keys::PublicKey;
use offchain_wsrpc::rpc::{Link, LinkConfig, Router, Service};
use offchain_wsrpc::tls::{self, Identity};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tonic::transport::Channel;

pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Largest gRPC message the bench accepts (`ListNodes` and `BatchProposeJob` answers for
/// 10 000 nodes are a few MB; tonic's default limit is 4 MB).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// How long any phase may take before the bench gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(300);
/// Concurrent `RegisterNode` calls.
const REGISTER_CONCURRENCY: usize = 64;

/// Where the JD under test listens, and its process (for its resident memory).
#[derive(Debug, Clone, Copy)]
pub struct JdEndpoints {
    pub grpc: SocketAddr,
    pub node: SocketAddr,
    pub pid: u32,
}

/// How to run one round.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    /// Simulated nodes.
    pub nodes: usize,
    /// Dials in flight at once (the JD handshakes at most 1 024 at once).
    pub dial_concurrency: usize,
    /// Pause between the last link coming up and the idle memory reading.
    pub settle: Duration,
}

/// What one round measured.
#[derive(Debug, Clone)]
pub struct Figures {
    pub nodes: usize,
    /// Registering every node over gRPC.
    pub register: Duration,
    /// From the first dial to the last dial returning a link.
    pub dial: Duration,
    /// From the first dial to every node `is_connected` in `ListNodes`.
    pub connected: Duration,
    /// JD resident memory before any link and with every link idle, KiB.
    pub rss_before_kib: u64,
    pub rss_idle_kib: u64,
    /// The `BatchProposeJob` call itself.
    pub batch_call: Duration,
    /// From the call to the last node answering `ProposeJob`.
    pub answered: Duration,
    /// From the call to every proposal ACKNOWLEDGED in `ListProposals` (including that
    /// poll, see `last_poll`).
    pub acknowledged: Duration,
    /// From the call to the latest `acked_at` the JD stored (same machine, same clock).
    pub last_acked_at: Duration,
    /// How long the last `ListProposals` poll took.
    pub last_poll: Duration,
    /// Proposals ACKNOWLEDGED at the end.
    pub acknowledged_count: usize,
    /// `ProposeJob` calls the nodes answered.
    pub answers: usize,
}

impl Figures {
    /// JD resident memory per idle link, KiB.
    pub fn kib_per_link(&self) -> f64 {
        self.rss_idle_kib.saturating_sub(self.rss_before_kib) as f64 / self.nodes.max(1) as f64
    }
}

/// Seals the JD's CSA key. One fixed value, so that the rounds of one run (and later runs)
/// can share a `FANOUT_DATABASE_URL`: a throw-away secret would not open the key a
/// previous round sealed.
const CSA_SECRET: &str = "offchain fan-out benchmark: not a secret";

/// Serves a JD on `database_url` with its operator API and node listener on ephemeral
/// loopback ports.
pub async fn serve_jd(database_url: &str) -> BenchResult<RunningServer> {
    let jd = offchain_jd::JobDistributor::open(database_url, CSA_SECRET).await?;
    let loopback: SocketAddr = "127.0.0.1:0".parse()?;
    let options = ServeOptions {
        node_listen: Some(loopback),
        ..ServeOptions::default()
    };
    Ok(offchain_jd::server::serve_with(jd, loopback, None, options).await?)
}

/// Resident memory of process `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> BenchResult<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .ok_or("no VmRSS line")?;
    let kib = line
        .split_whitespace()
        .nth(1)
        .ok_or("empty VmRSS line")?
        .parse()?;
    Ok(kib)
}

/// Raises this process's soft open-file limit to its hard limit (each link is a socket).
pub fn raise_fd_limit() -> BenchResult<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
    }
    Ok(limit.rlim_cur)
}

/// The simulated nodes' one service: answers every `ProposeJob` OK and counts the answers.
struct Answers {
    count: AtomicUsize,
    seen: watch::Sender<usize>,
}

fn node_service(answers: Arc<Answers>) -> Router {
    Router::new().method("ProposeJob", move |request: cfm::ProposeJobRequest| {
        let n = answers.count.fetch_add(1, Ordering::Relaxed) + 1;
        answers.seen.send_replace(n);
        async move { Ok(cfm::ProposeJobResponse { id: request.id }) }
    })
}

/// An identity per node, unique to this run (`nonce`), so rounds can share a database.
fn identity(nonce: &[u8; 16], index: usize) -> BenchResult<Identity> {
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(nonce);
    seed[16..24].copy_from_slice(&(index as u64).to_le_bytes());
    Ok(Identity::from_seed(&seed)?)
}

/// 16 random-enough bytes: the run's nonce (ULIDs carry 80 random bits and the time).
fn nonce() -> [u8; 16] {
    ulid::Ulid::new().to_bytes()
}

/// Runs one round against the JD at `jd`: registers `round.nodes` nodes, links them up,
/// reads the JD's memory, proposes one job to all of them and waits until every proposal
/// is ACKNOWLEDGED.
pub async fn run(jd: JdEndpoints, round: Round) -> BenchResult<Figures> {
    let n = round.nodes;
    let channel = Channel::from_shared(format!("http://{}", jd.grpc))?
        .connect()
        .await?;
    let mut nodes_api = NodeServiceClient::new(channel.clone())
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let mut jobs_api = JobServiceClient::new(channel.clone())
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let jd_key = CsaServiceClient::new(channel)
        .get_keypair(GetKeypairRequest {})
        .await?
        .into_inner()
        .keypair
        .ok_or("GetKeypair answered no key")?
        .public_key;
    let jd_key = PublicKey::from_hex(&jd_key).map_err(|_| "the JD's key is not hex")?;

    let nonce = nonce();
    let tag = hex::encode(&nonce[10..]);
    let identities = (0..n)
        .map(|i| identity(&nonce, i))
        .collect::<BenchResult<Vec<_>>>()?;

    // Register every node.
    let started = Instant::now();
    let node_ids = register(&nodes_api, &identities, &tag).await?;
    let register = started.elapsed();

    // Link every node up.
    let rss_before_kib = rss_kib(jd.pid)?;
    let answers = Arc::new(Answers {
        count: AtomicUsize::new(0),
        seen: watch::Sender::new(0),
    });
    let service: Arc<dyn Service> = Arc::new(node_service(answers.clone()));
    let started = Instant::now();
    let links = dial_all(jd, jd_key, identities, service, round.dial_concurrency).await?;
    let dial = started.elapsed();
    wait_connected(&mut nodes_api, &tag, n).await?;
    let connected = started.elapsed();
    tokio::time::sleep(round.settle).await;
    let rss_idle_kib = rss_kib(jd.pid)?;

    // One proposal to every node.
    let uuid = uuid::Builder::from_random_bytes(nonce).into_uuid();
    let spec = format!("type = \"webhook\"\nschemaVersion = 1\nexternalJobID = \"{uuid}\"\n");
    let mut seen = answers.seen.subscribe();
    let called_at = SystemTime::now();
    let started = Instant::now();
    let response = jobs_api
        .batch_propose_job(BatchProposeJobRequest {
            node_ids,
            spec,
            labels: Vec::new(),
        })
        .await?
        .into_inner();
    let batch_call = started.elapsed();
    if !response.failed_responses.is_empty() {
        return Err(format!("{} proposals failed", response.failed_responses.len()).into());
    }
    let proposal_ids: Vec<String> = response
        .success_responses
        .into_values()
        .filter_map(|success| success.proposal.map(|proposal| proposal.id))
        .collect();
    tokio::time::timeout(PHASE_LIMIT, seen.wait_for(|count| *count >= n))
        .await
        .map_err(|_| "the nodes were not all asked in time")??;
    let answered = started.elapsed();
    let polled = wait_acknowledged(&mut jobs_api, &proposal_ids).await?;
    let acknowledged = started.elapsed();
    let last_acked_at = polled
        .last_acked_at
        .duration_since(called_at)
        .unwrap_or_default();

    for link in &links {
        link.close();
    }
    Ok(Figures {
        nodes: n,
        register,
        dial,
        connected,
        rss_before_kib,
        rss_idle_kib,
        batch_call,
        answered,
        acknowledged,
        last_acked_at,
        last_poll: polled.took,
        acknowledged_count: polled.acknowledged,
        answers: answers.count.load(Ordering::Relaxed),
    })
}

/// Registers one node per identity (named `fanout-<tag>-<i>`, labelled `fanout=<tag>`),
/// a few calls at a time; returns their ids in order.
async fn register(
    api: &NodeServiceClient<Channel>,
    identities: &[Identity],
    tag: &str,
) -> BenchResult<Vec<String>> {
    let permits = Arc::new(Semaphore::new(REGISTER_CONCURRENCY));
    let mut calls = JoinSet::new();
    for (i, identity) in identities.iter().enumerate() {
        let permit = permits.clone().acquire_owned().await?;
        let mut api = api.clone();
        let request = RegisterNodeRequest {
            name: format!("fanout-{tag}-{i}"),
            public_key: identity.public_key().to_hex(),
            labels: vec![Label {
                key: "fanout".into(),
                value: Some(tag.to_owned()),
            }],
        };
        calls.spawn(async move {
            let node = api.register_node(request).await?.into_inner().node;
            drop(permit);
            let node = node.ok_or("RegisterNode answered no node")?;
            BenchResult::Ok((i, node.id))
        });
    }
    let mut ids = vec![String::new(); identities.len()];
    while let Some(done) = calls.join_next().await {
        let (i, id) = done??;
        ids[i] = id;
    }
    Ok(ids)
}

/// Dials the JD once per identity, at most `concurrency` at once, each link served by
/// `service`.
async fn dial_all(
    jd: JdEndpoints,
    jd_key: PublicKey,
    identities: Vec<Identity>,
    service: Arc<dyn Service>,
    concurrency: usize,
) -> BenchResult<Vec<Link>> {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let address = jd.node.to_string();
    let config = Arc::new(DialConfig::default());
    let mut dials = JoinSet::new();
    for identity in identities {
        let permit = permits.clone().acquire_owned().await?;
        let tls = tls::client_config(&identity, jd_key)?;
        let (address, config, service) = (address.clone(), config.clone(), service.clone());
        dials.spawn(async move {
            let ws = dial::dial(&address, tls, &config).await;
            drop(permit);
            BenchResult::Ok(Link::spawn(ws?, LinkConfig::node(), service))
        });
    }
    let mut links = Vec::with_capacity(dials.len());
    while let Some(done) = dials.join_next().await {
        links.push(done??);
    }
    Ok(links)
}

/// Polls `ListNodes` until the `n` nodes labelled `fanout=<tag>` are all connected.
async fn wait_connected(
    api: &mut NodeServiceClient<Channel>,
    tag: &str,
    n: usize,
) -> BenchResult<()> {
    let deadline = Instant::now() + PHASE_LIMIT;
    loop {
        let nodes = api
            .list_nodes(ListNodesRequest::default())
            .await?
            .into_inner()
            .nodes;
        let connected = nodes
            .iter()
            .filter(|node| node.is_connected && node.name.starts_with(&format!("fanout-{tag}-")))
            .count();
        if connected >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("only {connected} of {n} nodes connected in time").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the last `ListProposals` poll saw.
struct Polled {
    acknowledged: usize,
    last_acked_at: SystemTime,
    took: Duration,
}

/// Polls `ListProposals` until every one of `ids` is ACKNOWLEDGED.
async fn wait_acknowledged(
    api: &mut JobServiceClient<Channel>,
    ids: &[String],
) -> BenchResult<Polled> {
    let deadline = Instant::now() + PHASE_LIMIT;
    loop {
        let started = Instant::now();
        let proposals = api
            .list_proposals(ListProposalsRequest {
                filter: Some(Filter {
                    ids: ids.to_vec(),
                    job_ids: Vec::new(),
                }),
            })
            .await?
            .into_inner()
            .proposals;
        let took = started.elapsed();
        let acked: Vec<_> = proposals
            .iter()
            .filter(|p| p.delivery_status == ProposalDeliveryStatus::Acknowledged as i32)
            .collect();
        if acked.len() >= ids.len() {
            let last_acked_at = acked
                .iter()
                .filter_map(|p| p.acked_at)
                .map(|at| {
                    SystemTime::UNIX_EPOCH
                        + Duration::new(at.seconds.max(0) as u64, at.nanos.max(0) as u32)
                })
                .max()
                .unwrap_or(SystemTime::UNIX_EPOCH);
            return Ok(Polled {
                acknowledged: acked.len(),
                last_acked_at,
                took,
            });
        }
        if Instant::now() > deadline {
            return Err(
                format!("only {} of {} acknowledged in time", acked.len(), ids.len()).into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The figures as a small table, one row per round, with the targets beside them.
pub fn table(rows: &[Figures]) -> String {
    let mut out = String::from(
        "nodes  register   connected  batch call  answered   last acked_at  ACKNOWLEDGED (poll)    JD RSS idle  KiB/link\n",
    );
    for f in rows {
        out.push_str(&format!(
            "{:<6} {:<10} {:<10} {:<11} {:<10} {:<14} {:<22} {:<12} {:.1}\n",
            f.nodes,
            secs(f.register),
            secs(f.connected),
            secs(f.batch_call),
            secs(f.answered),
            secs(f.last_acked_at),
            format!("{} ({})", secs(f.acknowledged), secs(f.last_poll)),
            format!("{} MiB", f.rss_idle_kib / 1024),
            f.kib_per_link(),
        ));
    }
    out.push_str(
        "targets: 1 000 nodes ACKNOWLEDGED <= 2 s, 10 000 <= 10 s (stretch 5 s); \
         <= 64 KiB per idle link (stretch 32)\n",
    );
    out
}

fn secs(duration: Duration) -> String {
    format!("{:.3} s", duration.as_secs_f64())
}
