//! Jobs and their proposals.
//!
//! A job is one spec uuid on one node (`UNIQUE (uuid, node_id)`); each proposal is one
//! revision of it (`jobs.latest_revision` is the newest). New proposals are written by
//! [`Store::propose`](super::propose).

use std::collections::HashMap;

use offchain_proto::job::{Job, Proposal, ProposalStatus};
use offchain_proto::label::Label;
use offchain_proto::timestamp_from_micros;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{CHUNK, Store, StoreResult, labels, placeholders};

const JOB_COLUMNS: &str =
    "id, uuid, node_id, labels, rollback_policy_id, created_at, updated_at, deleted_at";
const PROPOSAL_COLUMNS: &str = "id, job_id, revision, status, delivery_status, spec, created_at, \
     updated_at, acked_at, response_received_at";

/// What [`Store::revoke_latest`] did.
#[derive(Debug)]
pub enum RevokeOutcome {
    /// The latest proposal is now revoked.
    Revoked(Proposal),
    /// The latest proposal is in a status that cannot be revoked.
    NotRevocable(ProposalStatus),
    /// No job has that id.
    NoJob,
}

/// Conditions of [`Store::list_jobs`], ANDed; an empty list is no constraint.
#[derive(Debug, Default)]
pub struct JobFilter<'a> {
    /// Job ids.
    pub ids: &'a [String],
    /// Node ids.
    pub node_ids: &'a [String],
    /// Spec uuids.
    pub uuids: &'a [String],
    /// Whether soft-deleted jobs are included.
    pub include_deleted: bool,
}

/// A `WHERE` clause made of `column IN (…)` lists, with its bind values.
#[derive(Default)]
struct InFilter {
    clauses: Vec<String>,
    binds: Vec<String>,
}

impl InFilter {
    fn any_of(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let list = placeholders(self.binds.len() + 1, values.len());
        self.clauses.push(format!("{column} IN ({list})"));
        self.binds.extend(values.iter().cloned());
    }

    fn raw(&mut self, clause: &str) {
        self.clauses.push(clause.to_string());
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    async fn fetch(&self, sql: &str, store: &Store) -> StoreResult<Vec<AnyRow>> {
        let mut query = sqlx::query(sql);
        for value in &self.binds {
            query = query.bind(value);
        }
        Ok(query.fetch_all(&mut *store.conn().await?).await?)
    }
}

impl Store {
    /// One job by id (deleted or not), with its proposal ids.
    pub async fn job(&self, id: &str) -> StoreResult<Option<Job>> {
        let ids = [id.to_string()];
        let filter = JobFilter {
            ids: &ids,
            include_deleted: true,
            ..Default::default()
        };
        Ok(self.list_jobs(&filter).await?.pop())
    }

    /// Jobs matching `filter`, in creation order, with their proposal ids.
    pub async fn list_jobs(&self, filter: &JobFilter<'_>) -> StoreResult<Vec<Job>> {
        let mut conditions = InFilter::default();
        conditions.any_of("id", filter.ids);
        conditions.any_of("node_id", filter.node_ids);
        conditions.any_of("uuid", filter.uuids);
        if !filter.include_deleted {
            conditions.raw("deleted_at IS NULL");
        }
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs{} ORDER BY created_at, id",
            conditions.sql()
        );
        let rows = conditions.fetch(&sql, self).await?;
        let mut jobs = rows
            .iter()
            .map(job_from_row)
            .collect::<StoreResult<Vec<Job>>>()?;
        self.attach_proposal_ids(&mut jobs).await?;
        Ok(jobs)
    }

    async fn attach_proposal_ids(&self, jobs: &mut [Job]) -> StoreResult<()> {
        let mut index: HashMap<String, usize> = HashMap::with_capacity(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            index.insert(job.id.clone(), i);
        }
        let ids: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT job_id, id FROM proposals WHERE job_id IN ({}) ORDER BY job_id, revision",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&mut *self.conn().await?).await? {
                let job_id: String = row.try_get(0)?;
                if let Some(&i) = index.get(&job_id) {
                    jobs[i].proposal_ids.push(row.try_get(1)?);
                }
            }
        }
        Ok(())
    }

    /// Replaces the labels (when given) and rollback policy (when given) of job `id`.
    pub async fn update_job(
        &self,
        id: &str,
        labels: Option<&[Label]>,
        rollback_policy_id: Option<i64>,
        now: i64,
    ) -> StoreResult<Option<Job>> {
        let done = sqlx::query(
            "UPDATE jobs SET labels = COALESCE($2, labels), \
             rollback_policy_id = COALESCE($3, rollback_policy_id), updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(labels.map(labels::encode))
        .bind(rollback_policy_id)
        .bind(now)
        .execute(&mut *self.conn().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.job(id).await
    }

    /// Soft-deletes job `id`; a second delete keeps the first `deleted_at`.
    pub async fn delete_job(&self, id: &str, now: i64) -> StoreResult<Option<Job>> {
        let done = sqlx::query(
            "UPDATE jobs SET deleted_at = COALESCE(deleted_at, $2), updated_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *self.conn().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.job(id).await
    }

    /// Revokes the latest proposal of job `job_id` if it is `PROPOSED` or `CANCELLED`.
    pub async fn revoke_latest(&self, job_id: &str, now: i64) -> StoreResult<RevokeOutcome> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        let sql = format!(
            "UPDATE proposals SET status = $2, updated_at = $3 \
             WHERE job_id = $1 AND revision = (SELECT latest_revision FROM jobs WHERE id = $1) \
             AND status IN ($4, $5) RETURNING {PROPOSAL_COLUMNS}"
        );
        let revoked = sqlx::query(&sql)
            .bind(job_id)
            .bind(ProposalStatus::Revoked as i64)
            .bind(now)
            .bind(ProposalStatus::Proposed as i64)
            .bind(ProposalStatus::Cancelled as i64)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = revoked {
            let proposal = proposal_from_row(&row)?;
            tx.commit().await?;
            return Ok(RevokeOutcome::Revoked(proposal));
        }
        let sql = "SELECT p.status FROM jobs j JOIN proposals p \
                   ON p.job_id = j.id AND p.revision = j.latest_revision WHERE j.id = $1";
        let current = sqlx::query(sql)
            .bind(job_id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.rollback().await?;
        Ok(match current {
            None => RevokeOutcome::NoJob,
            Some(row) => RevokeOutcome::NotRevocable(
                ProposalStatus::try_from(row.try_get::<i64, _>(0)? as i32).unwrap_or_default(),
            ),
        })
    }

    /// One proposal by id.
    pub async fn proposal(&self, id: &str) -> StoreResult<Option<Proposal>> {
        let ids = [id.to_string()];
        Ok(self.list_proposals(&ids, &[]).await?.pop())
    }

    /// Proposals with the given ids and job ids (ANDed; empty is no constraint).
    pub async fn list_proposals(
        &self,
        ids: &[String],
        job_ids: &[String],
    ) -> StoreResult<Vec<Proposal>> {
        let mut conditions = InFilter::default();
        conditions.any_of("id", ids);
        conditions.any_of("job_id", job_ids);
        let sql = format!(
            "SELECT {PROPOSAL_COLUMNS} FROM proposals{} ORDER BY created_at, id",
            conditions.sql()
        );
        let rows = conditions.fetch(&sql, self).await?;
        rows.iter().map(proposal_from_row).collect()
    }
}

fn job_from_row(row: &AnyRow) -> StoreResult<Job> {
    Ok(Job {
        id: row.try_get("id")?,
        uuid: row.try_get("uuid")?,
        node_id: row.try_get("node_id")?,
        proposal_ids: Vec::new(),
        created_at: Some(timestamp_from_micros(row.try_get("created_at")?)),
        updated_at: Some(timestamp_from_micros(row.try_get("updated_at")?)),
        deleted_at: row
            .try_get::<Option<i64>, _>("deleted_at")?
            .map(timestamp_from_micros),
        labels: labels::decode(&row.try_get::<String, _>("labels")?)?,
        rollback_policy_id: row.try_get("rollback_policy_id")?,
    })
}

fn proposal_from_row(row: &AnyRow) -> StoreResult<Proposal> {
    let optional_time = |column: &str| -> StoreResult<_> {
        Ok(row
            .try_get::<Option<i64>, _>(column)?
            .map(timestamp_from_micros))
    };
    Ok(Proposal {
        id: row.try_get("id")?,
        revision: row.try_get("revision")?,
        status: row.try_get::<i64, _>("status")? as i32,
        delivery_status: row.try_get::<i64, _>("delivery_status")? as i32,
        spec: row.try_get("spec")?,
        job_id: row.try_get("job_id")?,
        created_at: Some(timestamp_from_micros(row.try_get("created_at")?)),
        updated_at: Some(timestamp_from_micros(row.try_get("updated_at")?)),
        acked_at: optional_time("acked_at")?,
        response_received_at: optional_time("response_received_at")?,
    })
}
