//! The operator's decisions (approve, reject, cancel) and the JD's (revoke, delete).
//!
//! Approval is undoable: the spec says an approval whose `ApprovedJob` call fails is undone.
//! [`Store::approve`] commits the approval at once — the job is recorded as active before the
//! JD is told, as the spec orders it — and returns an [`Approval`] that remembers what it
//! replaced; [`Store::revert_approval`] puts that back if the call failed. The alternative, a
//! transaction held open across the call, would block the node's single writer for up to the
//! call's deadline (10 s) and still lose the approval on a crash. The undo checks that the
//! proposal is still as the approval left it, so it never overwrites a later decision.

use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use super::untold::{self, Decision, Untold};
use super::{Head, ProposalError, ProposalResult, jd_key, proposal_id, refresh_state};
use crate::store::{State, Store, StoreResult, now_micros};

/// An approval committed by [`Store::approve`]: confirm it with `ApprovedJob(uuid, version)`,
/// or undo it with [`Store::revert_approval`] when that call fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The JD's key, lowercase hex.
    pub jd: String,
    /// The proposal.
    pub uuid: Uuid,
    /// The version now active.
    pub version: i64,
    /// The version that was active before and is now cancelled (an approved pending update).
    pub replaced: Option<i64>,
    /// The approved version's state before (pending or cancelled), and its answer time.
    previous_state: State,
    previous_answered_at: Option<i64>,
    /// The replaced version's answer time.
    replaced_answered_at: Option<i64>,
}

/// What [`Store::revoke`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// This version is now revoked.
    Revoked { version: i64 },
    /// The latest version was already revoked: nothing changed.
    AlreadyRevoked { version: i64 },
}

/// What [`Store::delete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// Whether it was already deleted (nothing changed).
    pub already_deleted: bool,
    /// The version whose job is still active: the operator must cancel it.
    pub active_version: Option<i64>,
}

impl DeleteOutcome {
    /// Whether the operator must cancel the proposal's active job.
    pub fn must_cancel(&self) -> bool {
        self.active_version.is_some()
    }
}

/// A proposal being changed: its key and what it is now, inside the changing transaction.
struct Target {
    tx: Transaction<'static, Sqlite>,
    jd: String,
    uuid: Uuid,
    head: Head,
    now: i64,
}

impl Store {
    async fn target(&self, jd: &str, id: &str) -> ProposalResult<Target> {
        let jd = jd_key(jd)?;
        let uuid = proposal_id(id)?;
        let mut tx = self.write().await?;
        let head = Head::load(&mut tx, &jd, uuid)
            .await?
            .ok_or(ProposalError::NotFound(uuid))?;
        Ok(Target {
            tx,
            jd,
            uuid,
            head,
            now: now_micros(),
        })
    }

    /// Approves `version` (default: the latest), which must be the latest and pending or
    /// cancelled. The approval is committed; see [`Approval`] for confirming or undoing it.
    pub async fn approve(
        &self,
        jd: &str,
        id: &str,
        version: Option<i64>,
    ) -> ProposalResult<Approval> {
        let mut target = self.target(jd, id).await?;
        let version = target.chosen_version("approve", version)?;
        if !matches!(target.head.latest_state, State::Pending | State::Cancelled) {
            return Err(target.invalid("approve", target.head.latest_state));
        }
        // A job whose bridges do not exist could not run: refused, naming them.
        let spec: String = sqlx::query_scalar(
            "SELECT spec FROM proposal_versions WHERE jd = $1 AND uuid = $2 AND version = $3",
        )
        .bind(&target.jd)
        .bind(target.uuid.to_string())
        .bind(version)
        .fetch_one(&mut *target.tx)
        .await?;
        let missing = crate::bridges::missing_bridges(&mut target.tx, &spec).await?;
        if !missing.is_empty() {
            return Err(ProposalError::UnknownBridges(missing));
        }
        let previous_answered_at = target.answered_at(version).await?;
        let replaced = target.head.active_version;
        let mut replaced_answered_at = None;
        if let Some(replaced) = replaced {
            replaced_answered_at = target.answered_at(replaced).await?;
            target
                .set_version(replaced, State::Cancelled, Some(target.now))
                .await?;
        }
        target
            .set_version(version, State::Approved, Some(target.now))
            .await?;
        target.set_active(Some(version)).await?;
        let Target { jd, uuid, head, .. } = &target;
        let approval = Approval {
            jd: jd.clone(),
            uuid: *uuid,
            version,
            replaced,
            previous_state: head.latest_state,
            previous_answered_at,
            replaced_answered_at,
        };
        target.commit().await?;
        Ok(approval)
    }

    /// Undoes `approval` (its `ApprovedJob` call failed): the version returns to its previous
    /// state and the version it replaced, if any, is active again. Refused if the proposal
    /// changed since the approval.
    pub async fn revert_approval(&self, approval: &Approval) -> ProposalResult<()> {
        let uuid = approval.uuid.to_string();
        let mut target = self.target(&approval.jd, &uuid).await?;
        let unchanged = target.head.active_version == Some(approval.version)
            && target.version_state(approval.version).await? == Some(State::Approved);
        if !unchanged {
            return Err(ProposalError::ApprovalChanged {
                uuid: approval.uuid,
                version: approval.version,
            });
        }
        target
            .set_version(
                approval.version,
                approval.previous_state,
                approval.previous_answered_at,
            )
            .await?;
        if let Some(replaced) = approval.replaced {
            target
                .set_version(replaced, State::Approved, approval.replaced_answered_at)
                .await?;
        }
        target.set_active(approval.replaced).await?;
        target.commit().await
    }

    /// Rejects `version` (default: the latest), which must be the latest and pending. Returns
    /// the `RejectedJob(uuid, version)` the JD is to be told, kept until it answers
    /// (`untold.rs`).
    pub async fn reject(&self, jd: &str, id: &str, version: Option<i64>) -> ProposalResult<Untold> {
        let mut target = self.target(jd, id).await?;
        let version = target.chosen_version("reject", version)?;
        if target.head.latest_state != State::Pending {
            return Err(target.invalid("reject", target.head.latest_state));
        }
        target
            .set_version(version, State::Rejected, Some(target.now))
            .await?;
        let told = target.keep_untold(version, Decision::Rejected).await?;
        target.commit().await?;
        Ok(told)
    }

    /// Cancels the active job (also of a deleted proposal: that is how the operator stops
    /// it). Returns the `CancelledJob(uuid, version)` the JD is to be told, kept until it
    /// answers (`untold.rs`).
    pub async fn cancel(&self, jd: &str, id: &str) -> ProposalResult<Untold> {
        let mut target = self.target(jd, id).await?;
        let Some(active) = target.head.active_version else {
            return Err(target.invalid("cancel", target.head.state()));
        };
        target
            .set_version(active, State::Cancelled, Some(target.now))
            .await?;
        target.set_active(None).await?;
        let told = target.keep_untold(active, Decision::Cancelled).await?;
        target.commit().await?;
        Ok(told)
    }

    /// `RevokeJob` from the JD: allowed while the latest version is pending or cancelled.
    pub async fn revoke(&self, jd: &str, id: &str) -> ProposalResult<RevokeOutcome> {
        let mut target = self.target(jd, id).await?;
        let Head {
            latest,
            latest_state,
            deleted,
            ..
        } = target.head;
        if deleted {
            return Err(target.invalid("revoke", State::Deleted));
        }
        match latest_state {
            State::Revoked => Ok(RevokeOutcome::AlreadyRevoked { version: latest }),
            State::Pending | State::Cancelled => {
                target
                    .set_version(latest, State::Revoked, Some(target.now))
                    .await?;
                target.commit().await?;
                Ok(RevokeOutcome::Revoked { version: latest })
            }
            other => Err(target.invalid("revoke", other)),
        }
    }

    /// `DeleteJob` from the JD: marks the proposal deleted. Its job, if active, keeps running
    /// until the operator cancels it (the outcome says so).
    pub async fn delete(&self, jd: &str, id: &str) -> ProposalResult<DeleteOutcome> {
        let target = self.target(jd, id).await?;
        let outcome = DeleteOutcome {
            already_deleted: target.head.deleted,
            active_version: target.head.active_version,
        };
        if !outcome.already_deleted {
            let mut target = target;
            sqlx::query("UPDATE proposals SET deleted_at = $3 WHERE jd = $1 AND uuid = $2")
                .bind(&target.jd)
                .bind(target.uuid.to_string())
                .bind(target.now)
                .execute(&mut *target.tx)
                .await?;
            target.commit().await?;
        }
        Ok(outcome)
    }
}

impl Target {
    /// The version an approve/reject acts on: `version` or the latest; only the latest may be
    /// chosen, and nothing of a deleted proposal.
    fn chosen_version(&self, action: &'static str, version: Option<i64>) -> ProposalResult<i64> {
        if self.head.deleted {
            return Err(self.invalid(action, State::Deleted));
        }
        let version = version.unwrap_or(self.head.latest);
        if version > self.head.latest || version < 1 {
            return Err(ProposalError::VersionNotFound {
                uuid: self.uuid,
                version,
            });
        }
        if version != self.head.latest {
            return Err(ProposalError::NotLatest {
                uuid: self.uuid,
                version,
                latest: self.head.latest,
            });
        }
        Ok(version)
    }

    fn invalid(&self, action: &'static str, state: State) -> ProposalError {
        ProposalError::InvalidTransition {
            action,
            uuid: self.uuid,
            state,
        }
    }

    async fn version_state(&mut self, version: i64) -> ProposalResult<Option<State>> {
        let state: Option<String> = sqlx::query_scalar(
            "SELECT state FROM proposal_versions WHERE jd = $1 AND uuid = $2 AND version = $3",
        )
        .bind(&self.jd)
        .bind(self.uuid.to_string())
        .bind(version)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(state.as_deref().map(State::parse).transpose()?)
    }

    async fn answered_at(&mut self, version: i64) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT answered_at FROM proposal_versions WHERE jd = $1 AND uuid = $2 AND version = $3",
        )
        .bind(&self.jd)
        .bind(self.uuid.to_string())
        .bind(version)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    async fn set_version(
        &mut self,
        version: i64,
        state: State,
        answered_at: Option<i64>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE proposal_versions SET state = $4, answered_at = $5 \
             WHERE jd = $1 AND uuid = $2 AND version = $3",
        )
        .bind(&self.jd)
        .bind(self.uuid.to_string())
        .bind(version)
        .bind(state.as_str())
        .bind(answered_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Records the decision on `version` as one the JD must still be told.
    async fn keep_untold(&mut self, version: i64, decision: Decision) -> StoreResult<Untold> {
        let told = Untold {
            jd: self.jd.clone(),
            uuid: self.uuid.to_string(),
            version,
            decision,
        };
        untold::keep(&mut self.tx, &told, self.now).await?;
        Ok(told)
    }

    async fn set_active(&mut self, version: Option<i64>) -> StoreResult<()> {
        sqlx::query("UPDATE proposals SET active_version = $3 WHERE jd = $1 AND uuid = $2")
            .bind(&self.jd)
            .bind(self.uuid.to_string())
            .bind(version)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Stores the proposal's derived state and commits.
    async fn commit(mut self) -> ProposalResult<()> {
        refresh_state(&mut self.tx, &self.jd, self.uuid, self.now).await?;
        self.tx.commit().await?;
        Ok(())
    }
}
