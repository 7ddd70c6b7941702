//! The node's answers to proposals (`ApprovedJob`, `RejectedJob`, `CancelledJob`): the
//! proposal of (uuid, node, revision) moves to the answered status.

use offchain_proto::job::ProposalStatus;
use sqlx::Row;

use super::{Store, StoreResult};

/// What became of a node's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// The proposal now has the answered status (or already had it: a repeated answer).
    Applied,
    /// The node has no proposal with that uuid and revision.
    Unknown,
    /// The proposal's status does not allow the answer; it is unchanged.
    NotAllowed(ProposalStatus),
}

impl Store {
    /// Sets the proposal of job `uuid` (canonical) on `node_id` at `revision` to `status`
    /// with `response_received_at = now`, if its status is one of `from`.
    pub async fn answer_proposal(
        &self,
        node_id: &str,
        uuid: &str,
        revision: i64,
        status: ProposalStatus,
        from: &[ProposalStatus],
        now: i64,
    ) -> StoreResult<AnswerOutcome> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        let found = sqlx::query(
            "SELECT p.id, p.status FROM proposals p JOIN jobs j ON p.job_id = j.id \
             WHERE j.uuid = $1 AND j.node_id = $2 AND p.revision = $3",
        )
        .bind(uuid)
        .bind(node_id)
        .bind(revision)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = found else {
            return Ok(AnswerOutcome::Unknown);
        };
        let id: String = row.try_get("id")?;
        let current = ProposalStatus::try_from(row.try_get::<i64, _>("status")? as i32)
            .unwrap_or(ProposalStatus::Unspecified);
        if current == status {
            return Ok(AnswerOutcome::Applied);
        }
        if !from.contains(&current) {
            return Ok(AnswerOutcome::NotAllowed(current));
        }
        // The status is checked again in the update: a concurrent change (a revoke) wins.
        let updated = sqlx::query(
            "UPDATE proposals SET status = $2, response_received_at = $3, updated_at = $3 \
             WHERE id = $1 AND status = $4",
        )
        .bind(&id)
        .bind(status as i64)
        .bind(now)
        .bind(current as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(if updated == 1 {
            AnswerOutcome::Applied
        } else {
            AnswerOutcome::NotAllowed(current)
        })
    }
}
