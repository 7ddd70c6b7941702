//! The rules for the proposals a Job Distributor sends (`shared/spec/node-link.md`,
//! "Behaviour"), as methods on [`Store`]. Each returns a typed result; the link and the HTTP
//! API turn them into answers (a [`ProposalError`]'s message is the error string the JD or
//! the operator sees).
//!
//! A proposal is identified by (JD public key, uuid) and keeps every spec version it was sent,
//! each with its own state; the proposal's state is derived from them:
//! `deleted` once the JD deleted it, else `pending` while its latest version waits for a
//! decision, else `approved` while a version's job is active, else its latest version's state.
//!
//! Decisions made here:
//! - Only the latest version can be approved or rejected; an older pending version stays
//!   recorded as `pending` but can no longer be chosen. A version older than the latest one
//!   that was never received is refused: the JD only ever proposes newer revisions, so such a
//!   call is a stale replay.
//! - Approving a pending update makes it the active version; the version it replaces becomes
//!   `cancelled` (its job stops).
//! - A revoked proposal accepts a newer version (the JD proposes again: a new pending
//!   version); a deleted one refuses new versions — the JD deleted the job.
//! - `revoke` and `delete` of something already revoked or deleted succeed without change: the
//!   JD may send them again when it never saw the node's answer.

mod query;
mod spec;
mod transitions;
mod untold;

#[cfg(test)]
mod tests;

use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use crate::config::ApprovalPolicy;
use crate::store::{State, Store, StoreError, StoreResult, now_micros};

pub use query::{ProposalDetail, ProposalSummary, VersionDetail};
pub use spec::{MAX_SPEC_BYTES, SUPPORTED_TYPES, SpecError, validate as validate_spec};
pub use transitions::{Approval, DeleteOutcome, RevokeOutcome};
pub use untold::{Decision, Untold};

/// Why a proposal call was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProposalError {
    /// The JD key is not 32 bytes of hex.
    #[error("invalid JD public key: expected 64 hex digits")]
    InvalidJdKey,
    /// The proposal id is not a UUID.
    #[error("invalid proposal id: not a UUID")]
    InvalidId,
    /// Versions start at 1.
    #[error("invalid version {0}: versions start at 1")]
    InvalidVersion(i64),
    /// The spec was refused.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// This version was already received with a different spec.
    #[error("version conflict: version {0} was already received with a different spec")]
    VersionConflict(i64),
    /// A version older than the latest one, never received before.
    #[error("version {version} is older than the latest version {latest}")]
    StaleVersion { version: i64, latest: i64 },
    /// The JD deleted this proposal; it takes no new versions.
    #[error("proposal {0} was deleted")]
    Deleted(Uuid),
    /// No such proposal from that JD.
    #[error("proposal {0} not found")]
    NotFound(Uuid),
    /// The proposal has no such version.
    #[error("proposal {uuid} has no version {version}")]
    VersionNotFound { uuid: Uuid, version: i64 },
    /// Only the latest version can be approved or rejected.
    #[error("version {version} of proposal {uuid} is not the latest ({latest})")]
    NotLatest {
        uuid: Uuid,
        version: i64,
        latest: i64,
    },
    /// The transition is not allowed from the current state.
    #[error("cannot {action} proposal {uuid}: it is {state}")]
    InvalidTransition {
        action: &'static str,
        uuid: Uuid,
        state: State,
    },
    /// The proposal changed after the approval being undone.
    #[error("cannot undo the approval of proposal {uuid} version {version}: it changed since")]
    ApprovalChanged { uuid: Uuid, version: i64 },
    /// The spec's bridge tasks name bridges this node does not have (lower-cased, sorted).
    #[error("unknown bridges: {}", .0.join(", "))]
    UnknownBridges(Vec<String>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ProposalError {
    fn from(error: sqlx::Error) -> Self {
        ProposalError::Store(error.into())
    }
}

/// Result alias for proposal calls.
pub type ProposalResult<T> = Result<T, ProposalError>;

/// What [`Store::receive`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiveOutcome {
    /// A new proposal, pending.
    Created,
    /// A newer version, pending; `active_version` is the approved version that stays active
    /// meanwhile (a pending update), if any.
    NewVersion { active_version: Option<i64> },
    /// This version with this spec was already stored: nothing changed.
    Redelivery,
}

/// What [`Store::receive_with_policy`] did.
#[derive(Debug)]
pub struct Arrival {
    /// What receiving the proposal did (the answer to `ProposeJob` is OK).
    pub outcome: ReceiveOutcome,
    /// Under the `auto` policy, for a stored (not redelivered) version: the approval, which
    /// the caller confirms with `ApprovedJob` or undoes with [`Store::revert_approval`].
    pub auto_approval: Option<ProposalResult<Approval>>,
}

/// A JD public key in its stored form, lowercase hex.
pub(crate) fn jd_key(jd: &str) -> ProposalResult<String> {
    if jd.len() == 64 && jd.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        Ok(jd.to_ascii_lowercase())
    } else {
        Err(ProposalError::InvalidJdKey)
    }
}

/// A proposal id in any form `uuid` parses; stored canonical (lowercase, hyphenated).
pub(crate) fn proposal_id(id: &str) -> ProposalResult<Uuid> {
    Uuid::try_parse(id).map_err(|_| ProposalError::InvalidId)
}

impl Store {
    /// `ProposeJob(id, spec, version)` from the JD whose key is `jd` (hex).
    pub async fn receive(
        &self,
        jd: &str,
        id: &str,
        version: i64,
        spec: &str,
    ) -> ProposalResult<ReceiveOutcome> {
        let jd = jd_key(jd)?;
        let uuid = proposal_id(id)?;
        if version < 1 {
            return Err(ProposalError::InvalidVersion(version));
        }
        spec::validate(uuid, spec)?;
        let key = uuid.to_string();
        let now = now_micros();
        let mut tx = self.write().await?;
        let Some(head) = Head::load(&mut tx, &jd, uuid).await? else {
            sqlx::query(
                "INSERT INTO proposals (jd, uuid, state, created_at, updated_at) \
                 VALUES ($1, $2, 'pending', $3, $3)",
            )
            .bind(&jd)
            .bind(&key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            insert_version(&mut tx, &jd, &key, version, spec, now).await?;
            tx.commit().await?;
            return Ok(ReceiveOutcome::Created);
        };
        let stored: Option<String> = sqlx::query_scalar(
            "SELECT spec FROM proposal_versions WHERE jd = $1 AND uuid = $2 AND version = $3",
        )
        .bind(&jd)
        .bind(&key)
        .bind(version)
        .fetch_optional(&mut *tx)
        .await?;
        match stored {
            Some(stored) if stored == spec => return Ok(ReceiveOutcome::Redelivery),
            Some(_) => return Err(ProposalError::VersionConflict(version)),
            None => {}
        }
        if head.deleted {
            return Err(ProposalError::Deleted(uuid));
        }
        if version < head.latest {
            return Err(ProposalError::StaleVersion {
                version,
                latest: head.latest,
            });
        }
        insert_version(&mut tx, &jd, &key, version, spec, now).await?;
        refresh_state(&mut tx, &jd, uuid, now).await?;
        tx.commit().await?;
        Ok(ReceiveOutcome::NewVersion {
            active_version: head.active_version,
        })
    }

    /// [`Store::receive`], then under [`ApprovalPolicy::Auto`] the approval of the version
    /// just stored. A redelivery is not approved again.
    pub async fn receive_with_policy(
        &self,
        policy: ApprovalPolicy,
        jd: &str,
        id: &str,
        version: i64,
        spec: &str,
    ) -> ProposalResult<Arrival> {
        let outcome = self.receive(jd, id, version, spec).await?;
        let auto_approval = match (policy, outcome) {
            (ApprovalPolicy::Auto, ReceiveOutcome::Created | ReceiveOutcome::NewVersion { .. }) => {
                Some(self.approve(jd, id, Some(version)).await)
            }
            _ => None,
        };
        Ok(Arrival {
            outcome,
            auto_approval,
        })
    }
}

async fn insert_version(
    tx: &mut Transaction<'static, Sqlite>,
    jd: &str,
    uuid: &str,
    version: i64,
    spec: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO proposal_versions (jd, uuid, version, spec, state, received_at) \
         VALUES ($1, $2, $3, $4, 'pending', $5)",
    )
    .bind(jd)
    .bind(uuid)
    .bind(version)
    .bind(spec)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What the rules need to know about a proposal, read inside the transaction that changes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub active_version: Option<i64>,
    pub deleted: bool,
    pub latest: i64,
    pub latest_state: State,
}

impl Head {
    pub(crate) async fn load(
        tx: &mut Transaction<'static, Sqlite>,
        jd: &str,
        uuid: Uuid,
    ) -> StoreResult<Option<Head>> {
        let row: Option<(Option<i64>, Option<i64>, i64, String)> = sqlx::query_as(
            "SELECT p.active_version, p.deleted_at, v.version, v.state \
             FROM proposals p JOIN proposal_versions v ON v.jd = p.jd AND v.uuid = p.uuid \
             WHERE p.jd = $1 AND p.uuid = $2 ORDER BY v.version DESC LIMIT 1",
        )
        .bind(jd)
        .bind(uuid.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        row.map(|(active_version, deleted_at, latest, latest_state)| {
            Ok(Head {
                active_version,
                deleted: deleted_at.is_some(),
                latest,
                latest_state: State::parse(&latest_state)?,
            })
        })
        .transpose()
    }

    /// The proposal's state (see the module documentation).
    fn state(&self) -> State {
        if self.deleted {
            State::Deleted
        } else if self.latest_state == State::Pending {
            State::Pending
        } else if self.active_version.is_some() {
            State::Approved
        } else {
            self.latest_state
        }
    }
}

/// Recomputes and stores the proposal's state after its versions changed.
pub(crate) async fn refresh_state(
    tx: &mut Transaction<'static, Sqlite>,
    jd: &str,
    uuid: Uuid,
    now: i64,
) -> StoreResult<()> {
    let Some(head) = Head::load(tx, jd, uuid).await? else {
        return Err(StoreError::Corrupt(format!(
            "proposal {uuid} has no version"
        )));
    };
    sqlx::query("UPDATE proposals SET state = $3, updated_at = $4 WHERE jd = $1 AND uuid = $2")
        .bind(jd)
        .bind(uuid.to_string())
        .bind(head.state().as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
