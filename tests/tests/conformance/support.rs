//! The harness of the conformance suite: a fresh JD per test on each backend, and the small
//! helpers the cases share.

// The deprecated `uuid` form of the job requests is part of what is tested.
#![allow(deprecated)]

use std::fmt::Debug;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use offchain::proto::job::{
    DeleteJobRequest, GetJobRequest, GetProposalRequest, Job, ListJobsRequest,
    ListProposalsRequest, Proposal, ProposeJobRequest, RevokeJobRequest, UpdateJobRequest,
    delete_job_request, get_job_request, list_jobs_request, list_proposals_request,
    revoke_job_request, update_job_request,
};
use offchain::proto::label::{Label, Selector, SelectorOp};
use offchain::proto::node::{ListNodesRequest, Node, RegisterNodeRequest, list_nodes_request};
use offchain::{Client, EmbeddedConfig, EmbeddedProvider, MemoryProvider, Provider};
use offchain_jd::JobDistributor;
use tonic::{Code, Status};

/// Where the JD under test runs.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    /// `MemoryProvider`: the services called directly over in-memory SQLite.
    Memory,
    /// `EmbeddedProvider` over gRPC, in-memory SQLite.
    Sqlite,
    /// `EmbeddedProvider` over gRPC, PostgreSQL at `OFFCHAIN_TEST_POSTGRES_URL`, one fresh
    /// schema per test.
    Postgres,
}

/// The environment variable naming the PostgreSQL database of the `postgres::` tests.
pub const POSTGRES_URL_VAR: &str = "OFFCHAIN_TEST_POSTGRES_URL";

/// What a case gets: the client under test, and the JD behind it for setting up state no
/// operator RPC can create (chain configs reported by nodes). Derefs to the client.
pub struct Ctx {
    pub client: Arc<dyn Client>,
    pub jd: Option<JobDistributor>,
}

impl Deref for Ctx {
    type Target = dyn Client;

    fn deref(&self) -> &Self::Target {
        self.client.as_ref()
    }
}

/// The PostgreSQL URL for the Postgres cases, or `None` (after printing a skip note) when
/// none is configured. Under CI (`CI` set) PostgreSQL is expected, so a missing URL fails
/// the test instead of skipping it silently.
pub fn postgres_url() -> Option<String> {
    match expected_service_url(
        std::env::var(POSTGRES_URL_VAR).ok(),
        std::env::var_os("CI").is_some(),
    ) {
        Ok(Some(url)) => Some(url),
        Ok(None) => {
            eprintln!("skipping: {POSTGRES_URL_VAR} not set");
            None
        }
        Err(()) => panic!(
            "CI is set, so PostgreSQL is expected, but {POSTGRES_URL_VAR} is not set \
             (.ci/run sets it)"
        ),
    }
}

/// Decides whether a suite that needs a service runs (`Ok(Some(url))`), skips
/// (`Ok(None)`), or fails because CI expects the service (`Err`).
pub fn expected_service_url(url: Option<String>, ci: bool) -> Result<Option<String>, ()> {
    match url.filter(|u| !u.trim().is_empty()) {
        Some(url) => Ok(Some(url)),
        None if ci => Err(()),
        None => Ok(None),
    }
}

/// Runs `case` against a fresh JD on `backend`.
pub async fn run<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    match backend {
        Backend::Memory => {
            let provider = MemoryProvider::new();
            let client = provider.initialize().await.expect("in-memory JD starts");
            let jd = provider.jd().cloned();
            case(Ctx { client, jd }).await;
        }
        Backend::Sqlite => run_embedded(EmbeddedConfig::default(), case).await,
        Backend::Postgres => {
            let Some(base_url) = postgres_url() else {
                return;
            };
            let schema = PostgresSchema::create(&base_url).await;
            let config = EmbeddedConfig {
                database_url: schema.url.clone(),
                ..EmbeddedConfig::default()
            };
            run_embedded(config, case).await;
            // Only reached when the case passed: a failed case leaves its schema behind for
            // inspection (its name is printed above the failure).
            schema.drop().await;
        }
    }
}

async fn run_embedded<F, Fut>(config: EmbeddedConfig, case: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    let provider = EmbeddedProvider::with_config(config);
    let client = provider.initialize().await.expect("embedded JD starts");
    let jd = provider.jd().cloned();
    case(Ctx { client, jd }).await;
    // The server stops with the provider, after the case.
    drop(provider);
}

/// A schema of its own in the test database, so each test starts empty.
struct PostgresSchema {
    admin: sqlx::PgPool,
    name: String,
    url: String,
}

impl PostgresSchema {
    async fn create(base_url: &str) -> Self {
        let admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(base_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_URL_VAR}: {e}"));
        let name = format!("t_{}", unique_suffix());
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&admin)
            .await
            .expect("create test schema");
        eprintln!("postgres schema: {name}");
        let separator = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{separator}options=-c%20search_path%3D{name}");
        PostgresSchema { admin, name, url }
    }

    async fn drop(self) {
        let statement = format!("DROP SCHEMA {} CASCADE", self.name);
        if let Err(e) = sqlx::query(&statement).execute(&self.admin).await {
            eprintln!("could not drop schema {}: {e}", self.name);
        }
        self.admin.close().await;
    }
}

/// Lower-case, identifier-safe and unique within this machine for practical purposes.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{:x}_{:x}_{:x}", nanos, std::process::id(), next())
}

fn next() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

// --- values ---------------------------------------------------------------------------------

/// A fresh, valid ed25519 public key in hex (unique within the process).
pub fn public_key() -> String {
    format!("{:064x}", next())
}

/// A UUID made from `n` (distinct `n`, distinct UUID).
pub fn uuid(n: u32) -> String {
    format!("{n:08x}-1b2c-4d3e-8f40-{:012x}", u64::from(n) * 7919)
}

/// A minimal valid job spec whose `externalJobID` is `uuid`.
pub fn spec(uuid: &str) -> String {
    format!(
        "type = \"webhook\"\nschemaVersion = 1\nname = \"conformance\"\nexternalJobID = \"{uuid}\"\n"
    )
}

/// `key=value`.
pub fn label(key: &str, value: &str) -> Label {
    Label::new(key, value)
}

/// A bare `key`.
pub fn flag(key: &str) -> Label {
    Label::flag(key)
}

/// A selector on `key`.
pub fn selector(key: &str, op: SelectorOp, value: Option<&str>) -> Selector {
    Selector {
        key: key.into(),
        op: op as i32,
        value: value.map(Into::into),
    }
}

/// Whether `text` has the shape of a UUID (hyphenated or 32 bare hex digits).
pub fn looks_like_uuid(text: &str) -> bool {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// Asserts that `id` is `<prefix>_<opaque>` and not UUID-shaped.
#[track_caller]
pub fn assert_server_id(id: &str, prefix: &str) {
    let rest = id
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .unwrap_or_else(|| panic!("{id:?} does not start with {prefix}_"));
    assert!(!rest.is_empty(), "{id:?} has nothing after its prefix");
    assert!(
        !looks_like_uuid(id) && !looks_like_uuid(rest),
        "{id:?} looks like a UUID"
    );
}

// --- status assertions ----------------------------------------------------------------------

/// Asserts that `result` failed with `code` and a message containing `needle`; returns the
/// status.
#[track_caller]
pub fn assert_status<T: Debug>(result: Result<T, Status>, code: Code, needle: &str) -> Status {
    match result {
        Ok(value) => panic!("expected {code:?} containing {needle:?}, got Ok({value:?})"),
        Err(status) => {
            assert_eq!(
                status.code(),
                code,
                "wrong code (message {:?})",
                status.message()
            );
            assert!(
                status.message().contains(needle),
                "message {:?} does not contain {needle:?}",
                status.message()
            );
            assert!(
                !status.message().trim().is_empty(),
                "{code:?} without a message"
            );
            status
        }
    }
}

// --- nodes ----------------------------------------------------------------------------------

/// Registers an enabled node with a fresh key.
pub async fn register_node(client: &Ctx, name: &str, labels: Vec<Label>) -> Node {
    client
        .register_node(RegisterNodeRequest {
            name: name.into(),
            public_key: public_key(),
            labels,
        })
        .await
        .unwrap_or_else(|s| panic!("register {name}: {s}"))
        .node
        .expect("RegisterNode returns the node")
}

/// Registers `count` unlabelled nodes; their ids in registration order.
pub async fn register_nodes(client: &Ctx, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        ids.push(register_node(client, &format!("node-{i}"), vec![]).await.id);
    }
    ids
}

/// `ListNodes` with `filter`, everything on one page: the ids in answer order.
pub async fn node_ids(client: &Ctx, filter: list_nodes_request::Filter) -> Vec<String> {
    let response = client
        .list_nodes(ListNodesRequest {
            filter: Some(filter),
            page_size: 0,
            page: 0,
        })
        .await
        .unwrap();
    assert_eq!(
        response.total_count as usize,
        response.nodes.len(),
        "total_count without paging"
    );
    response.nodes.into_iter().map(|n| n.id).collect()
}

/// The ids of the nodes whose labels match all `selectors`.
pub async fn nodes_selected(client: &Ctx, selectors: Vec<Selector>) -> Vec<String> {
    node_ids(
        client,
        list_nodes_request::Filter {
            selectors,
            ..Default::default()
        },
    )
    .await
}

// --- jobs -----------------------------------------------------------------------------------

/// Proposes `spec` to `node_id` with `labels`; the new proposal.
pub async fn propose_labelled(
    client: &Ctx,
    node_id: &str,
    spec: &str,
    labels: Vec<Label>,
) -> Proposal {
    client
        .propose_job(ProposeJobRequest {
            node_id: node_id.into(),
            spec: spec.into(),
            labels,
        })
        .await
        .unwrap_or_else(|s| panic!("propose to {node_id}: {s}"))
        .proposal
        .expect("ProposeJob returns the proposal")
}

/// Proposes `spec` to `node_id` without labels.
pub async fn propose(client: &Ctx, node_id: &str, spec: &str) -> Proposal {
    propose_labelled(client, node_id, spec, vec![]).await
}

/// GetJob by id.
pub async fn get_job(client: &Ctx, id: &str) -> Job {
    client
        .get_job(Ref::Id(id).into())
        .await
        .unwrap_or_else(|s| panic!("get job {id}: {s}"))
        .job
        .expect("GetJob returns the job")
}

/// GetProposal by id.
pub async fn get_proposal(client: &Ctx, id: &str) -> Proposal {
    client
        .get_proposal(GetProposalRequest { id: id.into() })
        .await
        .unwrap_or_else(|s| panic!("get proposal {id}: {s}"))
        .proposal
        .expect("GetProposal returns the proposal")
}

/// `ListJobs` with `filter`: the ids in answer order.
pub async fn job_ids(client: &Ctx, filter: list_jobs_request::Filter) -> Vec<String> {
    list_jobs(client, filter)
        .await
        .into_iter()
        .map(|j| j.id)
        .collect()
}

/// `ListJobs` with `filter`.
pub async fn list_jobs(client: &Ctx, filter: list_jobs_request::Filter) -> Vec<Job> {
    client
        .list_jobs(ListJobsRequest {
            filter: Some(filter),
        })
        .await
        .unwrap()
        .jobs
}

/// `ListProposals` filtered by `ids` and `job_ids`: the ids in answer order.
pub async fn proposal_ids(client: &Ctx, ids: &[&str], job_ids: &[&str]) -> Vec<String> {
    let filter = list_proposals_request::Filter {
        ids: ids.iter().map(|s| s.to_string()).collect(),
        job_ids: job_ids.iter().map(|s| s.to_string()).collect(),
    };
    client
        .list_proposals(ListProposalsRequest {
            filter: Some(filter),
        })
        .await
        .unwrap()
        .proposals
        .into_iter()
        .map(|p| p.id)
        .collect()
}

/// Owned copies of `ids`, for filters.
pub fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// How GetJob, RevokeJob, DeleteJob and UpdateJob name their job (`id_oneof`).
#[derive(Debug, Clone, Copy)]
pub enum Ref<'a> {
    /// The job id.
    Id(&'a str),
    /// The deprecated spec-uuid form.
    Uuid(&'a str),
    /// Nothing set.
    Unset,
}

macro_rules! ref_into_request {
    ($($request:ident => $oneof:ident),* $(,)?) => {$(
        impl From<Ref<'_>> for $request {
            #[allow(clippy::needless_update)]
            fn from(reference: Ref<'_>) -> Self {
                use $oneof::IdOneof;
                $request {
                    id_oneof: match reference {
                        Ref::Id(id) => Some(IdOneof::Id(id.into())),
                        Ref::Uuid(uuid) => Some(IdOneof::Uuid(uuid.into())),
                        Ref::Unset => None,
                    },
                    ..Default::default()
                }
            }
        }
    )*};
}

ref_into_request!(
    GetJobRequest => get_job_request,
    RevokeJobRequest => revoke_job_request,
    DeleteJobRequest => delete_job_request,
    UpdateJobRequest => update_job_request,
);

/// The four job RPCs that take a job reference.
#[derive(Debug, Clone, Copy)]
pub enum JobRpc {
    Get,
    Revoke,
    Delete,
    Update,
}

impl JobRpc {
    pub const ALL: [JobRpc; 4] = [JobRpc::Get, JobRpc::Revoke, JobRpc::Delete, JobRpc::Update];

    /// Calls the RPC on `reference` (UpdateJob with a new label so it changes something);
    /// the id of the job it acted on.
    pub async fn call(self, client: &Ctx, reference: Ref<'_>) -> Result<String, Status> {
        Ok(match self {
            JobRpc::Get => client.get_job(reference.into()).await?.job.unwrap().id,
            JobRpc::Revoke => {
                let proposal = client.revoke_job(reference.into()).await?.proposal.unwrap();
                proposal.job_id
            }
            JobRpc::Delete => client.delete_job(reference.into()).await?.job.unwrap().id,
            JobRpc::Update => {
                let request = UpdateJobRequest {
                    labels: vec![label("updated", "yes")],
                    ..reference.into()
                };
                client.update_job(request).await?.job.unwrap().id
            }
        })
    }
}

/// Microseconds of an optional timestamp; panics when absent.
#[track_caller]
pub fn micros(ts: &Option<offchain::proto::Timestamp>) -> i64 {
    let ts = ts.as_ref().expect("timestamp is set");
    ts.seconds * 1_000_000 + i64::from(ts.nanos) / 1_000
}

/// Asserts that `items` are sorted by `(created_at, id)`.
#[track_caller]
pub fn assert_creation_order<'a>(items: impl IntoIterator<Item = (i64, &'a str)>) {
    let keys: Vec<(i64, &str)> = items.into_iter().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "not in (created_at, id) order");
}
