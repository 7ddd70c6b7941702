//! Storing proposals: the JD's hot write path.
//!
//! Per `(spec uuid, node)` an upsert creates the job at revision 1 or bumps the revision of
//! the existing one (undeleting it), in the same statement checking that the node exists and
//! is enabled; then the proposal rows are inserted. On PostgreSQL the upsert takes the job's
//! row lock, so concurrent proposals for one job get distinct revisions; the rows are
//! upserted in (uuid, node id) order in every call, so calls that overlap cannot deadlock.
//!
//! On SQLite all writes go through one connection, so concurrent `ProposeJob` calls would
//! queue for it one transaction each, and each statement is a round trip to the
//! connection's thread. Instead they are committed in groups: a call queues its proposals;
//! whoever gets the connection next writes everything queued by then in one transaction of
//! a few multi-row statements and one synced commit, and every caller gets its own
//! outcomes. Each call's proposals are still committed together or not at all, revisions
//! for one job follow the queue order, and a call whose caller has gone before its group
//! starts is not written.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError};

use offchain_proto::job::{Proposal, ProposalDeliveryStatus, ProposalStatus};
use offchain_proto::label::Label;
use offchain_proto::timestamp_from_micros;
use sqlx::{Any, AnyConnection, Connection, Row, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

use super::{CHUNK, Db, Store, StoreError, StoreResult, labels, placeholders};

/// Rows per upsert and insert statement (five parameters each). Larger statements save
/// little: SQLite looks up each `$N` parameter's name in a list, so binding a statement
/// costs time quadratic in its parameter count (at 500 rows, binding took longer than the
/// writes).
const ROWS: usize = 100;

/// One spec proposed to several nodes.
#[derive(Debug)]
pub struct NewProposals<'a> {
    /// The spec's `externalJobID`.
    pub uuid: &'a str,
    /// The spec text, stored verbatim.
    pub spec: &'a str,
    /// Labels for jobs created by this call.
    pub labels: &'a [Label],
    /// Target nodes, without duplicates.
    pub node_ids: &'a [String],
    /// Creation time, microseconds.
    pub now: i64,
}

/// What happened for one node of a [`Store::propose`] call.
#[derive(Debug)]
pub enum ProposalOutcome {
    /// A proposal was stored.
    Proposed(Proposal),
    /// No node has that id.
    UnknownNode,
    /// The node is disabled.
    DisabledNode,
}

/// Outcomes of one call, in the order of its `node_ids`.
type Outcomes = Vec<(String, ProposalOutcome)>;

impl Store {
    /// Stores one proposal per eligible node, atomically; the outcomes come in the order of
    /// `new.node_ids`.
    ///
    /// Per node: an existing job for `(uuid, node)` gets its next revision (and is undeleted
    /// if it was soft-deleted); otherwise a job is created with `labels` and revision 1.
    pub async fn propose(&self, new: NewProposals<'_>) -> StoreResult<Outcomes> {
        match &self.db {
            Db::Pool(_) => {
                let mut conn = self.conn().await?;
                let mut tx = conn.begin().await?;
                let mut outcomes = write_proposals(&mut tx, &[new]).await?;
                tx.commit().await?;
                Ok(outcomes.pop().unwrap_or_default())
            }
            Db::Single { conn, proposals } => {
                propose_grouped(conn, proposals, OwnedProposals::from(new)).await
            }
        }
    }
}

/// Proposals waiting for the SQLite connection.
pub(super) type ProposalQueue = Arc<std::sync::Mutex<Vec<Queued>>>;

/// One queued call and where its outcomes go.
pub(super) struct Queued {
    new: OwnedProposals,
    reply: oneshot::Sender<StoreResult<Outcomes>>,
}

/// [`NewProposals`] that can wait in the queue.
struct OwnedProposals {
    uuid: String,
    spec: String,
    labels: Vec<Label>,
    node_ids: Vec<String>,
    now: i64,
}

impl From<NewProposals<'_>> for OwnedProposals {
    fn from(new: NewProposals<'_>) -> Self {
        OwnedProposals {
            uuid: new.uuid.to_string(),
            spec: new.spec.to_string(),
            labels: new.labels.to_vec(),
            node_ids: new.node_ids.to_vec(),
            now: new.now,
        }
    }
}

impl OwnedProposals {
    fn borrow(&self) -> NewProposals<'_> {
        NewProposals {
            uuid: &self.uuid,
            spec: &self.spec,
            labels: &self.labels,
            node_ids: &self.node_ids,
            now: self.now,
        }
    }
}

async fn propose_grouped(
    conn: &Arc<Mutex<Option<AnyConnection>>>,
    queue: &ProposalQueue,
    new: OwnedProposals,
) -> StoreResult<Outcomes> {
    let (reply, mut outcome) = oneshot::channel();
    queue
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Queued { new, reply });
    tokio::select! {
        biased;
        // An earlier group took this call along.
        done = &mut outcome => return done.unwrap_or_else(|_| Err(group_lost())),
        guard = conn.clone().lock_owned() => {
            let group = std::mem::take(&mut *queue.lock().unwrap_or_else(PoisonError::into_inner));
            // The group is written by a task of its own, so that this caller going away
            // cannot cut short the transaction that the other callers wait for.
            if !group.is_empty() {
                tokio::spawn(write_group(guard, group));
            }
        }
    }
    outcome.await.unwrap_or_else(|_| Err(group_lost()))
}

pub(super) fn group_lost() -> StoreError {
    StoreError::Database(sqlx::Error::WorkerCrashed)
}

/// Writes `group` in one transaction and answers every caller in it.
async fn write_group(mut conn: OwnedMutexGuard<Option<AnyConnection>>, group: Vec<Queued>) {
    let group: Vec<Queued> = group.into_iter().filter(|q| !q.reply.is_closed()).collect();
    if group.is_empty() {
        return;
    }
    let result = match conn.as_mut() {
        None => Err(StoreError::Database(sqlx::Error::PoolClosed)),
        Some(conn) => {
            let items: Vec<NewProposals<'_>> = group.iter().map(|q| q.new.borrow()).collect();
            write_in_transaction(conn, &items).await
        }
    };
    match result {
        Ok(outcomes) => {
            for (queued, outcomes) in group.into_iter().zip(outcomes) {
                let _ = queued.reply.send(Ok(outcomes));
            }
        }
        Err(error) => {
            for queued in group {
                let _ = queued.reply.send(Err(error.for_peer()));
            }
        }
    }
}

async fn write_in_transaction(
    conn: &mut AnyConnection,
    items: &[NewProposals<'_>],
) -> StoreResult<Vec<Outcomes>> {
    let mut tx = conn.begin().await?;
    let outcomes = write_proposals(&mut tx, items).await?;
    tx.commit().await?;
    Ok(outcomes)
}

impl StoreError {
    /// The same failure for each caller of a group (the driver's error is not `Clone`).
    pub(super) fn for_peer(&self) -> StoreError {
        match self {
            StoreError::Conflict => StoreError::Conflict,
            StoreError::Contention(code) => StoreError::Contention(code.clone()),
            StoreError::Corrupt(what) => StoreError::Corrupt(what.clone()),
            StoreError::Database(sqlx::Error::PoolTimedOut) => {
                StoreError::Database(sqlx::Error::PoolTimedOut)
            }
            StoreError::Database(sqlx::Error::Io(io)) => StoreError::Database(sqlx::Error::Io(
                std::io::Error::new(io.kind(), io.to_string()),
            )),
            other => StoreError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

/// One `(job, node)` row to write: index of its call, and the node.
struct Target<'a> {
    item: usize,
    node_id: &'a str,
}

/// Writes the proposals of `items` in `tx`; the outcomes of each item in the order of its
/// `node_ids`.
async fn write_proposals(
    tx: &mut Transaction<'_, Any>,
    items: &[NewProposals<'_>],
) -> StoreResult<Vec<Outcomes>> {
    let labels: Vec<String> = items.iter().map(|i| labels::encode(i.labels)).collect();
    let mut proposed: Vec<HashMap<&str, Proposal>> = items
        .iter()
        .map(|i| HashMap::with_capacity(i.node_ids.len()))
        .collect();
    // Rounds of consecutive items in which no `(uuid, node)` repeats, so that one upsert
    // never touches a job twice; a repeat (the same spec proposed to the same node by two
    // queued calls) starts a new round, which gets the next revision.
    let mut start = 0;
    while start < items.len() {
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        let mut targets = Vec::new();
        let mut end = start;
        while end < items.len() {
            let item = &items[end];
            let nodes: Vec<&str> = unique(item.node_ids);
            if end > start && nodes.iter().any(|n| seen.contains(&(item.uuid, *n))) {
                break;
            }
            seen.extend(nodes.iter().map(|n| (item.uuid, *n)));
            targets.extend(
                nodes
                    .into_iter()
                    .map(|node_id| Target { item: end, node_id }),
            );
            end += 1;
        }
        // Rows are locked in one global order, (uuid, node id), in every call: two calls
        // that overlap then wait for each other instead of deadlocking (PostgreSQL).
        targets.sort_unstable_by(|a, b| {
            (items[a.item].uuid, a.node_id).cmp(&(items[b.item].uuid, b.node_id))
        });
        for chunk in targets.chunks(ROWS) {
            let jobs = upsert_jobs(tx, items, &labels, chunk).await?;
            for (item, node_id, proposal) in insert_proposals(tx, items, chunk, &jobs).await? {
                proposed[item].insert(node_id, proposal);
            }
        }
        start = end;
    }

    // Nodes without a job row were unknown or disabled when the upsert ran.
    let skipped: Vec<String> = items
        .iter()
        .zip(&proposed)
        .flat_map(|(item, done)| {
            item.node_ids
                .iter()
                .filter(|n| !done.contains_key(n.as_str()))
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .cloned()
        .collect();
    let states = if skipped.is_empty() {
        HashMap::new()
    } else {
        node_states(tx, &skipped).await?
    };
    Ok(items
        .iter()
        .zip(proposed)
        .map(|(item, mut done)| {
            item.node_ids
                .iter()
                .map(|id| {
                    let outcome = match done.remove(id.as_str()) {
                        Some(proposal) => ProposalOutcome::Proposed(proposal),
                        None if !states.contains_key(id.as_str()) => ProposalOutcome::UnknownNode,
                        // Disabled when the upsert ran (PostgreSQL may already see it
                        // enabled again; the proposal was still refused at that point).
                        None => ProposalOutcome::DisabledNode,
                    };
                    (id.clone(), outcome)
                })
                .collect()
        })
        .collect())
}

/// `ids` without repeats, in order.
fn unique(ids: &[String]) -> Vec<&str> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.iter()
        .map(String::as_str)
        .filter(|id| seen.insert(*id))
        .collect()
}

/// `node id → enabled` for those of `node_ids` that exist.
async fn node_states(
    tx: &mut Transaction<'_, Any>,
    node_ids: &[String],
) -> StoreResult<HashMap<String, bool>> {
    let mut states = HashMap::with_capacity(node_ids.len());
    for chunk in node_ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT id, is_enabled FROM nodes WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(&mut **tx).await? {
            states.insert(row.try_get(0)?, row.try_get::<i64, _>(1)? != 0);
        }
    }
    Ok(states)
}

/// Creates the missing jobs of `targets` (in their order) at revision 1 and bumps the revision of the
/// existing ones (undeleting them), for the nodes that exist and are enabled:
/// `(uuid, node_id) → (job_id, revision)` per such target.
async fn upsert_jobs(
    tx: &mut Transaction<'_, Any>,
    items: &[NewProposals<'_>],
    labels: &[String],
    targets: &[Target<'_>],
) -> StoreResult<HashMap<(String, String), (String, i64)>> {
    // (job id, uuid, node id, labels, now) per row, then the row's position as a literal.
    // A values list has the column names column1… on both databases. The rows are upserted
    // (and locked) in the order of `targets` whatever plan the join gets: `ORDER BY` the
    // position, an integer, so no collation can reorder it. SQLite needs the WHERE to tell
    // the upsert clause from a join constraint.
    let rows: Vec<String> = (0..targets.len())
        .map(|i| {
            let p = 5 * i;
            format!(
                "(${}, ${}, ${}, ${}, ${}, {i})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO jobs (id, uuid, node_id, labels, latest_revision, created_at, updated_at) \
         SELECT v.column1, v.column2, v.column3, v.column4, 1, v.column5, v.column5 \
         FROM (VALUES {}) AS v JOIN nodes n ON n.id = v.column3 WHERE n.is_enabled <> 0 \
         ORDER BY v.column6 ON CONFLICT (uuid, node_id) DO UPDATE SET latest_revision = jobs.latest_revision + 1, \
         updated_at = excluded.updated_at, deleted_at = NULL \
         RETURNING uuid, node_id, id, latest_revision",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for target in targets {
        let item = &items[target.item];
        query = query
            .bind(crate::ids::job_id())
            .bind(item.uuid)
            .bind(target.node_id)
            .bind(&labels[target.item])
            .bind(item.now);
    }
    let mut jobs = HashMap::with_capacity(targets.len());
    for row in query.fetch_all(&mut **tx).await? {
        jobs.insert(
            (row.try_get(0)?, row.try_get(1)?),
            (row.try_get(2)?, row.try_get(3)?),
        );
    }
    Ok(jobs)
}

/// Inserts one proposal per target that got a job: `(item, node id, proposal)`.
async fn insert_proposals<'n>(
    tx: &mut Transaction<'_, Any>,
    items: &[NewProposals<'_>],
    targets: &[Target<'n>],
    jobs: &HashMap<(String, String), (String, i64)>,
) -> StoreResult<Vec<(usize, &'n str, Proposal)>> {
    let status = ProposalStatus::Proposed;
    let delivery = ProposalDeliveryStatus::Unspecified;
    let mut proposals = Vec::with_capacity(jobs.len());
    for target in targets {
        let item = &items[target.item];
        let key = (item.uuid.to_string(), target.node_id.to_string());
        if let Some((job_id, revision)) = jobs.get(&key) {
            let at = Some(timestamp_from_micros(item.now));
            let proposal = Proposal {
                id: crate::ids::proposal_id(),
                revision: *revision,
                status: status as i32,
                delivery_status: delivery as i32,
                spec: item.spec.to_string(),
                job_id: job_id.clone(),
                created_at: at,
                updated_at: at,
                acked_at: None,
                response_received_at: None,
            };
            proposals.push((target.item, target.node_id, proposal));
        }
    }
    if proposals.is_empty() {
        return Ok(proposals);
    }
    // $1 status, $2 delivery status; then (id, job id, revision, spec, now) per row.
    let rows: Vec<String> = (0..proposals.len())
        .map(|i| {
            let p = 2 + 5 * i;
            format!(
                "(${}, ${}, ${}, $1, $2, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 5
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO proposals (id, job_id, revision, status, delivery_status, spec, created_at, \
         updated_at) VALUES {}",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(status as i64).bind(delivery as i64);
    for (item, _, proposal) in &proposals {
        query = query
            .bind(&proposal.id)
            .bind(&proposal.job_id)
            .bind(proposal.revision)
            .bind(items[*item].spec)
            .bind(items[*item].now);
    }
    query.execute(&mut **tx).await?;
    Ok(proposals)
}

#[cfg(test)]
mod tests {
    use offchain_proto::node::Node;

    use super::*;

    async fn store_with_nodes(enabled: &[bool]) -> (Store, Vec<String>) {
        let store = Store::open(super::super::SQLITE_MEMORY_URL).await.unwrap();
        let mut ids = Vec::new();
        for (i, is_enabled) in enabled.iter().enumerate() {
            let node = Node {
                id: format!("node_{i}"),
                name: format!("n{i}"),
                public_key: format!("{i:064x}"),
                is_enabled: *is_enabled,
                created_at: Some(timestamp_from_micros(1)),
                updated_at: Some(timestamp_from_micros(1)),
                ..Default::default()
            };
            store.insert_node(&node).await.unwrap();
            ids.push(node.id);
        }
        (store, ids)
    }

    async fn propose(store: &Store, uuid: &str, nodes: &[String]) -> Outcomes {
        let spec = format!("externalJobID = \"{uuid}\"");
        store
            .propose(NewProposals {
                uuid,
                spec: &spec,
                labels: &[],
                node_ids: nodes,
                now: 7,
            })
            .await
            .unwrap()
    }

    fn proposal(outcome: &ProposalOutcome) -> &Proposal {
        match outcome {
            ProposalOutcome::Proposed(p) => p,
            other => panic!("expected a proposal, got {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_calls_for_one_job_get_distinct_revisions() {
        let (store, nodes) = store_with_nodes(&[true, true]).await;
        let uuid = "00000000-0000-4000-8000-000000000001";
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let store = store.clone();
                // Half of the calls also target a second node, so that groups mix shapes.
                let targets = if i % 2 == 0 {
                    vec![nodes[0].clone()]
                } else {
                    nodes.clone()
                };
                tokio::spawn(async move { propose(&store, uuid, &targets).await })
            })
            .collect();
        let mut first_node_revisions = Vec::new();
        let mut job_ids = HashSet::new();
        for task in tasks {
            let outcomes = task.await.unwrap();
            assert_eq!(outcomes[0].0, nodes[0], "outcomes follow node_ids");
            let p = proposal(&outcomes[0].1);
            first_node_revisions.push(p.revision);
            job_ids.insert(p.job_id.clone());
        }
        first_node_revisions.sort();
        assert_eq!(first_node_revisions, (1..=40).collect::<Vec<i64>>());
        assert_eq!(job_ids.len(), 1, "one job per (uuid, node)");

        let stored = store.list_proposals(&[], &[]).await.unwrap();
        assert_eq!(stored.len(), 60);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_call_in_a_group_gets_its_own_outcomes() {
        let (store, nodes) = store_with_nodes(&[true, false, true]).await;
        let tasks: Vec<_> = (0..24u32)
            .map(|i| {
                let store = store.clone();
                let targets = vec![
                    nodes[(i % 2) as usize].clone(),
                    "node_missing".to_string(),
                    nodes[2].clone(),
                ];
                tokio::spawn(async move {
                    let uuid = format!("00000000-0000-4000-8000-{i:012}");
                    (i, propose(&store, &uuid, &targets).await)
                })
            })
            .collect();
        for task in tasks {
            let (i, outcomes) = task.await.unwrap();
            let uuid = format!("00000000-0000-4000-8000-{i:012}");
            assert_eq!(outcomes.len(), 3);
            assert_eq!(outcomes[1].0, "node_missing");
            assert!(matches!(outcomes[1].1, ProposalOutcome::UnknownNode));
            match i % 2 {
                1 => assert!(matches!(outcomes[0].1, ProposalOutcome::DisabledNode)),
                _ => {
                    let p = proposal(&outcomes[0].1);
                    assert_eq!(p.revision, 1);
                    assert!(p.spec.contains(&uuid), "each call keeps its own spec");
                }
            }
            let last = proposal(&outcomes[2].1);
            assert!(last.spec.contains(&uuid));
            let job = store.job(&last.job_id).await.unwrap().unwrap();
            assert_eq!(
                (job.uuid.as_str(), job.node_id.as_str()),
                (uuid.as_str(), nodes[2].as_str())
            );
            assert_eq!(job.proposal_ids.len(), 1);
        }
    }
}
