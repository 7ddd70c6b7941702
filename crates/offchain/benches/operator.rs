//! Operator-path benchmark: what deployment scripts feel when they talk to a JD.
//!
//! Run with `cargo bench -p offchain --features embedded --bench operator`.
//!
//! Everything runs over loopback against an embedded JD (a real gRPC server in this
//! process) with a file-backed SQLite database in a temporary directory, which is the honest
//! embedded setup (an in-memory database would hide the cost of durable commits). When
//! `OFFCHAIN_BENCH_POSTGRES_URL` (or `OFFCHAIN_TEST_POSTGRES_URL`) is set, the sustained
//! proposal rate is also measured on PostgreSQL, in a fresh schema that is dropped again.
//!
//! Figures:
//! 1. empty unary RPC (`GetKeypair`) round trip, p50/p99: the floor of every call;
//! 2. `ListNodes` over 10 000 nodes with two selectors and `page_size = 100`, p50/p99;
//! 3. `BatchProposeJob` of one spec to 1 000 nodes, median time per batch;
//! 4. sustained `ProposeJob` from 32 concurrent clients (own connection each), per second;
//! 5. `EmbeddedProvider::new().initialize()` until the first answered call, median.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use offchain::proto::csa::GetKeypairRequest;
use offchain::proto::job::job_service_server::JobService;
use offchain::proto::job::{BatchProposeJobRequest, ProposeJobRequest};
use offchain::proto::label::{Label, Selector, SelectorOp};
use offchain::proto::node::node_service_server::NodeService;
use offchain::proto::node::{ListNodesRequest, RegisterNodeRequest, list_nodes_request};
use offchain::{Client, EmbeddedConfig, EmbeddedProvider, Provider, RemoteConfig, RemoteProvider};

const NODES: usize = 10_000;
const EMPTY_RPC_CALLS: usize = 3_000;
const LIST_CALLS: usize = 300;
const BATCH_NODES: usize = 1_000;
const BATCH_REPETITIONS: usize = 7;
const CLIENTS: usize = 32;
const SUSTAINED_FOR: Duration = Duration::from_secs(3);
const STARTUPS: usize = 10;

const LIST_RATIO_TARGET: f64 = 5.0;
const BATCH_TARGET: Duration = Duration::from_millis(100);
const PROPOSALS_PER_SECOND_TARGET: f64 = 3_000.0;
const STARTUP_TARGET: Duration = Duration::from_millis(100);

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> BenchResult<()> {
    // `cargo bench` passes `--bench`; a filter argument is not supported, everything runs.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

/// One line of the final table.
struct Row {
    what: String,
    figure: String,
    target: String,
    verdict: &'static str,
}

impl Row {
    fn new(what: impl Into<String>, figure: impl Into<String>) -> Self {
        Row {
            what: what.into(),
            figure: figure.into(),
            target: "-".into(),
            verdict: "",
        }
    }

    fn target(mut self, target: impl Into<String>, met: bool) -> Self {
        self.target = target.into();
        self.verdict = if met { "ok" } else { "MISSED" };
        self
    }
}

/// Sorted samples with percentile lookups.
struct Samples(Vec<Duration>);

impl Samples {
    fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Samples(samples)
    }

    fn percentile(&self, p: usize) -> Duration {
        let index = (self.0.len() * p / 100).min(self.0.len() - 1);
        self.0[index]
    }

    fn p50(&self) -> Duration {
        self.percentile(50)
    }

    fn p99(&self) -> Duration {
        self.percentile(99)
    }
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// A fresh, valid UUID for each `n`.
fn uuid(run: u32, n: u64) -> String {
    format!("{run:08x}-0000-4000-8000-{n:012x}")
}

fn spec(uuid: &str) -> String {
    format!(
        "type = \"directrequest\"\nschemaVersion = 1\nname = \"bench\"\n\
         externalJobID = \"{uuid}\"\nobservationSource = \"\"\"\nds [type=http];\n\"\"\"\n"
    )
}

fn labels_of(i: usize) -> Vec<Label> {
    let mut labels = vec![
        Label::new("env", ["prod", "test", "dev"][i % 3]),
        Label::new("region", ["eu", "us", "ap"][(i / 3) % 3]),
        Label::new("nop", format!("nop-{}", i % 17)),
    ];
    if i.is_multiple_of(10) {
        labels.push(Label::flag("bootstrap"));
    }
    labels
}

/// Registers `count` nodes from `CLIENTS` concurrent tasks; returns their ids in order.
async fn register_nodes(
    client: &Arc<dyn Client>,
    count: usize,
    key_offset: usize,
) -> BenchResult<Vec<String>> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = client.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= count {
                    break;
                }
                let request = RegisterNodeRequest {
                    name: format!("node-{i}"),
                    public_key: format!("{:064x}", key_offset + i),
                    labels: labels_of(i),
                };
                let node = client
                    .register_node(request)
                    .await?
                    .node
                    .unwrap_or_default();
                ids.push((i, node.id));
            }
            Ok::<_, tonic::Status>(ids)
        }));
    }
    let mut ids = Vec::with_capacity(count);
    for task in tasks {
        ids.extend(task.await??);
    }
    ids.sort();
    Ok(ids.into_iter().map(|(_, id)| id).collect())
}

async fn empty_rpc(client: &Arc<dyn Client>) -> BenchResult<Samples> {
    for _ in 0..200 {
        client.get_keypair(GetKeypairRequest {}).await?;
    }
    let mut samples = Vec::with_capacity(EMPTY_RPC_CALLS);
    for _ in 0..EMPTY_RPC_CALLS {
        let started = Instant::now();
        client.get_keypair(GetKeypairRequest {}).await?;
        samples.push(started.elapsed());
    }
    Ok(Samples::new(samples))
}

fn list_request(page: i32) -> ListNodesRequest {
    ListNodesRequest {
        filter: Some(list_nodes_request::Filter {
            selectors: vec![
                Selector {
                    key: "env".into(),
                    op: SelectorOp::Eq as i32,
                    value: Some("prod".into()),
                },
                Selector {
                    key: "region".into(),
                    op: SelectorOp::In as i32,
                    value: Some("eu,us".into()),
                },
            ],
            ..Default::default()
        }),
        page_size: 100,
        page,
    }
}

async fn list_nodes(client: &Arc<dyn Client>) -> BenchResult<(Samples, i32)> {
    let request = list_request;
    // The first call after the registrations loads the node snapshot; not part of the
    // steady state being measured.
    let mut total = 0;
    for page in 1..=20 {
        let response = client.list_nodes(request(page)).await?;
        total = response.total_count;
    }
    let mut samples = Vec::with_capacity(LIST_CALLS);
    for i in 0..LIST_CALLS {
        let started = Instant::now();
        let response = client.list_nodes(request(1 + (i % 5) as i32)).await?;
        samples.push(started.elapsed());
        if response.nodes.len() != 100 {
            return Err(format!("expected a full page, got {}", response.nodes.len()).into());
        }
    }
    Ok((Samples::new(samples), total))
}

async fn batch_propose(client: &Arc<dyn Client>, node_ids: &[String]) -> BenchResult<Samples> {
    let mut samples = Vec::with_capacity(BATCH_REPETITIONS);
    for rep in 0..BATCH_REPETITIONS {
        let request = BatchProposeJobRequest {
            node_ids: node_ids.to_vec(),
            spec: spec(&uuid(0xba7c, rep as u64)),
            labels: vec![Label::new("bench", "batch")],
        };
        let started = Instant::now();
        let response = client.batch_propose_job(request).await?;
        samples.push(started.elapsed());
        if response.success_responses.len() != node_ids.len() {
            return Err(format!(
                "batch: {} succeeded, {} failed",
                response.success_responses.len(),
                response.failed_responses.len()
            )
            .into());
        }
    }
    Ok(Samples::new(samples))
}

/// Proposals per second from `CLIENTS` tasks, each with its own connection, each proposal a
/// fresh job (new uuid) on one of `node_ids`; also the per-call latency.
async fn sustained_propose(
    endpoint: &str,
    node_ids: &[String],
    run: u32,
) -> BenchResult<(f64, Samples)> {
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let provider = RemoteProvider::new(RemoteConfig::new(endpoint))?;
        let client = provider.initialize().await?;
        client.get_keypair(GetKeypairRequest {}).await?;
        clients.push(client);
    }
    let node_ids: Arc<[String]> = node_ids.into();
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + SUSTAINED_FOR;
    let mut tasks = Vec::with_capacity(CLIENTS);
    for client in clients {
        let node_ids = node_ids.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let request = ProposeJobRequest {
                    node_id: node_ids[n as usize % node_ids.len()].clone(),
                    spec: spec(&uuid(run, n)),
                    labels: vec![],
                };
                let call = Instant::now();
                client.propose_job(request).await?;
                latencies.push(call.elapsed());
            }
            Ok::<_, tonic::Status>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    Ok((
        latencies.len() as f64 / elapsed.as_secs_f64(),
        Samples::new(latencies),
    ))
}

/// The same load as [`sustained_propose`], calling the JD's service directly.
async fn sustained_propose_in_process(
    jd: &offchain_jd::JobDistributor,
    node_ids: &[String],
    run: u32,
) -> BenchResult<(f64, Samples)> {
    let node_ids: Arc<[String]> = node_ids.into();
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + SUSTAINED_FOR;
    let mut tasks = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let jd = jd.clone();
        let node_ids = node_ids.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let request = ProposeJobRequest {
                    node_id: node_ids[n as usize % node_ids.len()].clone(),
                    spec: spec(&uuid(run, n)),
                    labels: vec![],
                };
                let call = Instant::now();
                JobService::propose_job(&jd, tonic::Request::new(request)).await?;
                latencies.push(call.elapsed());
            }
            Ok::<_, tonic::Status>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    Ok((
        latencies.len() as f64 / elapsed.as_secs_f64(),
        Samples::new(latencies),
    ))
}

async fn startup(config: impl Fn() -> EmbeddedConfig) -> BenchResult<Samples> {
    let mut samples = Vec::with_capacity(STARTUPS);
    for _ in 0..STARTUPS {
        let started = Instant::now();
        let provider = EmbeddedProvider::with_config(config());
        let client = provider.initialize().await?;
        client.get_keypair(GetKeypairRequest {}).await?;
        samples.push(started.elapsed());
        drop(client);
        drop(provider);
    }
    Ok(Samples::new(samples))
}

fn postgres_url() -> Option<String> {
    ["OFFCHAIN_BENCH_POSTGRES_URL", "OFFCHAIN_TEST_POSTGRES_URL"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
}

/// Creates a fresh schema and returns (schema, URL that uses it).
async fn fresh_postgres_schema(url: &str) -> BenchResult<(String, String)> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let schema = format!("offchain_bench_{nanos}");
    let pool = sqlx::PgPool::connect(url).await?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    Ok((schema, scoped))
}

async fn drop_postgres_schema(url: &str, schema: &str) -> BenchResult<()> {
    let pool = sqlx::PgPool::connect(url).await?;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(())
}

async fn postgres_rows(url: &str, rows: &mut Vec<Row>) -> BenchResult<()> {
    let (schema, scoped) = fresh_postgres_schema(url).await?;
    let outcome = async {
        let provider = EmbeddedProvider::with_config(EmbeddedConfig {
            database_url: scoped.clone(),
            ..Default::default()
        });
        let client = provider.initialize().await?;
        let endpoint = provider.endpoint().ok_or("embedded JD has no endpoint")?;
        let node_ids = register_nodes(&client, 1_000, 0).await?;
        let (rate, latency) = sustained_propose(&endpoint, &node_ids, 0xb0b).await?;
        // The target is set for the embedded default (SQLite); this row is for comparison.
        rows.push(Row::new(
            format!("ProposeJob, {CLIENTS} clients, PostgreSQL"),
            format!(
                "{rate:.0}/s (p50 {}, p99 {})",
                ms(latency.p50()),
                ms(latency.p99())
            ),
        ));
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    }
    .await;
    drop_postgres_schema(url, &schema).await?;
    outcome
}

async fn run() -> BenchResult<()> {
    let bench_started = Instant::now();
    let dir = tempfile::tempdir()?;
    let database_url = format!("sqlite:{}", dir.path().join("jd.db").display());
    let mut rows = Vec::new();

    let provider = EmbeddedProvider::with_config(EmbeddedConfig {
        database_url: database_url.clone(),
        ..Default::default()
    });
    let client = provider.initialize().await?;
    let endpoint = provider.endpoint().ok_or("embedded JD has no endpoint")?;
    eprintln!("embedded JD at {endpoint}, database {database_url}");

    // 1. The floor.
    eprintln!("[1/5] empty unary RPC ({EMPTY_RPC_CALLS} calls)…");
    let empty = empty_rpc(&client).await?;
    rows.push(Row::new(
        "GetKeypair round trip (empty RPC) p50 / p99",
        format!("{} / {}", us(empty.p50()), us(empty.p99())),
    ));

    // Setup for 2-4: the node population.
    eprintln!("      registering {NODES} nodes ({CLIENTS} concurrent clients)…");
    let started = Instant::now();
    let node_ids = register_nodes(&client, NODES, 0).await?;
    let registration = started.elapsed();
    rows.push(Row::new(
        format!("RegisterNode x {NODES} (setup, {CLIENTS} concurrent)"),
        format!(
            "{} ({:.0}/s)",
            ms(registration),
            NODES as f64 / registration.as_secs_f64()
        ),
    ));

    // 2. Selecting among many nodes.
    eprintln!("[2/5] ListNodes over {NODES} nodes ({LIST_CALLS} calls)…");
    let (list, matches) = list_nodes(&client).await?;
    let ratio = list.p50().as_secs_f64() / empty.p50().as_secs_f64();
    rows.push(Row::new(
        format!("ListNodes, 2 selectors ({matches} of {NODES} match), page 100: p50 / p99"),
        format!("{} / {}", us(list.p50()), us(list.p99())),
    ));
    rows.push(
        Row::new("  ListNodes p50 / empty RPC p50", format!("{ratio:.1}x")).target(
            format!("≤ {LIST_RATIO_TARGET:.0}x"),
            ratio <= LIST_RATIO_TARGET,
        ),
    );

    // Where the time goes: the same call without the network, and its one database query.
    let jd = provider.jd().ok_or("embedded JD not started")?;
    let mut local = Vec::with_capacity(LIST_CALLS);
    let mut generation = Vec::with_capacity(LIST_CALLS);
    for i in 0..LIST_CALLS {
        let started = Instant::now();
        NodeService::list_nodes(jd, tonic::Request::new(list_request(1 + (i % 5) as i32))).await?;
        local.push(started.elapsed());
        let started = Instant::now();
        jd.store().nodes_generation().await?;
        generation.push(started.elapsed());
    }
    let (local, generation) = (Samples::new(local), Samples::new(generation));
    rows.push(Row::new(
        "  of which in-process (no gRPC) p50 / p99",
        format!("{} / {}", us(local.p50()), us(local.p99())),
    ));
    rows.push(Row::new(
        "  of which snapshot freshness query p50 / p99",
        format!("{} / {}", us(generation.p50()), us(generation.p99())),
    ));

    // 3. One spec to many nodes.
    eprintln!("[3/5] BatchProposeJob to {BATCH_NODES} nodes (x{BATCH_REPETITIONS})…");
    let batch = batch_propose(&client, &node_ids[..BATCH_NODES]).await?;
    rows.push(
        Row::new(
            format!("BatchProposeJob to {BATCH_NODES} nodes, median (max)"),
            format!("{} ({})", ms(batch.p50()), ms(batch.0[batch.0.len() - 1])),
        )
        .target(
            format!("≤ {}", ms(BATCH_TARGET)),
            batch.p50() <= BATCH_TARGET,
        ),
    );

    // 4. Many clients proposing at once.
    eprintln!(
        "[4/5] ProposeJob from {CLIENTS} clients for {} s (SQLite file)…",
        SUSTAINED_FOR.as_secs()
    );
    let (rate, latency) = sustained_propose(&endpoint, &node_ids, 0x5e1f).await?;
    rows.push(
        Row::new(
            format!("ProposeJob, {CLIENTS} clients, SQLite file"),
            format!(
                "{rate:.0}/s (p50 {}, p99 {})",
                ms(latency.p50()),
                ms(latency.p99())
            ),
        )
        .target(
            format!("≥ {PROPOSALS_PER_SECOND_TARGET:.0}/s"),
            rate >= PROPOSALS_PER_SECOND_TARGET,
        ),
    );
    let jd = provider.jd().ok_or("embedded JD not started")?.clone();
    let (rate, latency) = sustained_propose_in_process(&jd, &node_ids, 0x10ca1).await?;
    rows.push(Row::new(
        format!("  same, in-process (no gRPC), {CLIENTS} tasks"),
        format!(
            "{rate:.0}/s (p50 {}, p99 {})",
            ms(latency.p50()),
            ms(latency.p99())
        ),
    ));
    drop(client);
    drop(provider);

    match postgres_url() {
        Some(url) => {
            eprintln!("      … and on PostgreSQL");
            postgres_rows(&url, &mut rows).await?;
        }
        None => rows.push(Row::new(
            format!("ProposeJob, {CLIENTS} clients, PostgreSQL"),
            "skipped (set OFFCHAIN_TEST_POSTGRES_URL)",
        )),
    }

    // 5. Start-up of the embedded provider.
    eprintln!("[5/5] embedded start-up (x{STARTUPS})…");
    let memory = startup(EmbeddedConfig::default).await?;
    rows.push(
        Row::new(
            "EmbeddedProvider::new() to first answer, median (max)",
            format!(
                "{} ({})",
                ms(memory.p50()),
                ms(memory.0[memory.0.len() - 1])
            ),
        )
        .target(
            format!("≤ {}", ms(STARTUP_TARGET)),
            memory.p50() <= STARTUP_TARGET,
        ),
    );
    let counter = AtomicU64::new(0);
    let file = startup(|| EmbeddedConfig {
        database_url: format!(
            "sqlite:{}",
            dir.path()
                .join(format!(
                    "start-{}.db",
                    counter.fetch_add(1, Ordering::Relaxed)
                ))
                .display()
        ),
        ..Default::default()
    })
    .await?;
    rows.push(Row::new(
        "  same, fresh SQLite file, median (max)",
        format!("{} ({})", ms(file.p50()), ms(file.0[file.0.len() - 1])),
    ));

    print_table(&rows, bench_started.elapsed());
    Ok(())
}

fn print_table(rows: &[Row], took: Duration) {
    let width = |f: fn(&Row) -> &str, title: &str| {
        rows.iter()
            .map(|r| f(r).chars().count())
            .chain([title.chars().count()])
            .max()
            .unwrap_or(0)
    };
    let w1 = width(|r| &r.what, "measurement");
    let w2 = width(|r| &r.figure, "figure");
    let w3 = width(|r| &r.target, "target");
    println!();
    println!(
        "offchain operator benchmark ({} cores, loopback, release build)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<w1$}  {:<w2$}  {:<w3$}  ",
        "measurement", "figure", "target"
    );
    println!("{}", "-".repeat(w1 + w2 + w3 + 12));
    for row in rows {
        println!(
            "{:<w1$}  {:<w2$}  {:<w3$}  {}",
            row.what, row.figure, row.target, row.verdict
        );
    }
    println!("(whole run: {:.1} s)", took.as_secs_f64());
}
