//! Delivery of proposals to nodes: which proposals of a node still have to be pushed, and
//! what the push did (`node-link.md`, "Behaviour").
//!
//! Delivery is driven by these rows, not by an in-memory queue, so a JD restart loses
//! nothing: every `PROPOSED` proposal of a live job that is neither ACKNOWLEDGED nor FAILED
//! is pushed again when its node connects (a DELIVERED one whose answer never came too).

use offchain_proto::job::{ProposalDeliveryStatus, ProposalStatus};
use sqlx::Row;

use super::{Store, StoreResult};

/// A proposal waiting to be pushed to its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    /// The proposal's id.
    pub proposal_id: String,
    /// The job's uuid (the `id` the node knows it by).
    pub uuid: String,
    /// The spec.
    pub spec: String,
    /// The revision (the `version` the node knows it by).
    pub revision: i64,
}

/// Longest node error text kept on a FAILED proposal.
pub const MAX_DELIVERY_ERROR: usize = 1_024;

impl Store {
    /// The proposals of node `node_id` created before `created_before` still to push,
    /// oldest first.
    pub async fn undelivered(
        &self,
        node_id: &str,
        created_before: i64,
    ) -> StoreResult<Vec<Undelivered>> {
        let mut conn = self.conn().await?;
        let rows = sqlx::query(
            "SELECT p.id, j.uuid, p.spec, p.revision FROM proposals p \
             JOIN jobs j ON p.job_id = j.id \
             WHERE j.node_id = $1 AND j.deleted_at IS NULL AND p.status = $2 \
             AND p.delivery_status NOT IN ($3, $4) AND p.created_at < $5 \
             ORDER BY p.created_at, p.id",
        )
        .bind(node_id)
        .bind(ProposalStatus::Proposed as i64)
        .bind(ProposalDeliveryStatus::Acknowledged as i64)
        .bind(ProposalDeliveryStatus::Failed as i64)
        .bind(created_before)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Undelivered {
                    proposal_id: row.try_get("id")?,
                    uuid: row.try_get("uuid")?,
                    spec: row.try_get("spec")?,
                    revision: row.try_get("revision")?,
                })
            })
            .collect()
    }

    /// Records what a push did: DELIVERED (sent), ACKNOWLEDGED (with `acked_at`) or FAILED
    /// with the node's `error` (cut to [`MAX_DELIVERY_ERROR`] bytes). An ACKNOWLEDGED or
    /// FAILED proposal keeps its status: a late or repeated push never moves it back.
    pub async fn set_delivery(
        &self,
        proposal_id: &str,
        status: ProposalDeliveryStatus,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        let acked_at = (status == ProposalDeliveryStatus::Acknowledged).then_some(now);
        let error = error.map(|text| cut(text, MAX_DELIVERY_ERROR));
        let mut conn = self.conn().await?;
        sqlx::query(
            "UPDATE proposals SET delivery_status = $2, delivery_error = $3, \
             acked_at = COALESCE($4, acked_at), updated_at = $5 \
             WHERE id = $1 AND delivery_status NOT IN ($6, $7)",
        )
        .bind(proposal_id)
        .bind(status as i64)
        .bind(error)
        .bind(acked_at)
        .bind(now)
        .bind(ProposalDeliveryStatus::Acknowledged as i64)
        .bind(ProposalDeliveryStatus::Failed as i64)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The node's error text of a FAILED proposal (`None` otherwise or when unknown).
    pub async fn delivery_error(&self, proposal_id: &str) -> StoreResult<Option<String>> {
        let mut conn = self.conn().await?;
        let row = sqlx::query("SELECT delivery_error FROM proposals WHERE id = $1")
            .bind(proposal_id)
            .fetch_optional(&mut *conn)
            .await?;
        Ok(match row {
            Some(row) => row.try_get("delivery_error")?,
            None => None,
        })
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
pub(super) fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A revoke or delete of job `uuid` the node has not answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingForward {
    /// The row's id, for [`Store::forward_answered`].
    pub id: String,
    /// The job's uuid.
    pub uuid: String,
    /// `true` for `DeleteJob`, `false` for `RevokeJob`.
    pub delete: bool,
}

impl Store {
    /// Records that node `node_id` is to be told job `uuid` was revoked or deleted; returns
    /// the row's id.
    pub async fn queue_forward(
        &self,
        node_id: &str,
        uuid: &str,
        delete: bool,
        now: i64,
    ) -> StoreResult<String> {
        let id = crate::ids::forward_id();
        let mut conn = self.conn().await?;
        sqlx::query(
            "INSERT INTO node_forwards (id, node_id, uuid, method, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(node_id)
        .bind(uuid)
        .bind(i64::from(delete))
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(id)
    }

    /// The unanswered forwards of node `node_id` queued before `created_before`, oldest
    /// first.
    pub async fn pending_forwards(
        &self,
        node_id: &str,
        created_before: i64,
    ) -> StoreResult<Vec<PendingForward>> {
        let mut conn = self.conn().await?;
        let rows = sqlx::query(
            "SELECT id, uuid, method FROM node_forwards WHERE node_id = $1 AND created_at < $2 \
             ORDER BY created_at, id",
        )
        .bind(node_id)
        .bind(created_before)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PendingForward {
                    id: row.try_get("id")?,
                    uuid: row.try_get("uuid")?,
                    delete: row.try_get::<i64, _>("method")? != 0,
                })
            })
            .collect()
    }

    /// Forgets forward `id`: the node answered it (OK or a refusal).
    pub async fn forward_answered(&self, id: &str) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        sqlx::query("DELETE FROM node_forwards WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
