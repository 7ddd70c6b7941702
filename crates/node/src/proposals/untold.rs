//! Decisions the JD has not confirmed yet.
//!
//! A rejection or cancellation stands when the JD cannot be told at once (the operator has
//! decided; for a cancellation the job is stopped either way), but the JD must still learn
//! it: it never pushes an acknowledged proposal again, so nothing would ask the node later.
//! So [`Store::reject`] and [`Store::cancel`] record the decision here in the same
//! transaction, the link sends it (`RejectedJob` / `CancelledJob`) at once when it is up and
//! again on every new link, and [`Store::forget_untold`] drops it once the JD answered —
//! an error answer too: the JD will not change its mind by being asked again.

use sqlx::{Sqlite, Transaction};

use super::{ProposalResult, jd_key};
use crate::store::{Store, StoreResult};

/// Which decision the JD is to be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Rejected,
    Cancelled,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Decision::Rejected => "rejected",
            Decision::Cancelled => "cancelled",
        }
    }

    /// The `FeedsManager` method telling it.
    pub fn method(self) -> &'static str {
        match self {
            Decision::Rejected => "RejectedJob",
            Decision::Cancelled => "CancelledJob",
        }
    }
}

/// A decision the JD has not confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untold {
    /// The JD's key, lowercase hex.
    pub jd: String,
    /// The proposal id, canonical.
    pub uuid: String,
    pub version: i64,
    pub decision: Decision,
}

/// Records `untold` inside the transaction making the decision.
pub(super) async fn keep(
    tx: &mut Transaction<'static, Sqlite>,
    untold: &Untold,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO untold_decisions (jd, uuid, version, decision, decided_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (jd, uuid, version, decision) DO UPDATE SET decided_at = $5",
    )
    .bind(&untold.jd)
    .bind(&untold.uuid)
    .bind(untold.version)
    .bind(untold.decision.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// The decisions JD `jd` (hex) has not confirmed, oldest first.
    pub async fn untold(&self, jd: &str) -> ProposalResult<Vec<Untold>> {
        let jd = jd_key(jd)?;
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT uuid, version, decision FROM untold_decisions WHERE jd = $1 \
             ORDER BY decided_at, uuid, version",
        )
        .bind(&jd)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(uuid, version, decision)| Untold {
                jd: jd.clone(),
                uuid,
                version,
                decision: if decision == Decision::Cancelled.as_str() {
                    Decision::Cancelled
                } else {
                    Decision::Rejected
                },
            })
            .collect())
    }

    /// Drops `untold`: the JD answered it.
    pub async fn forget_untold(&self, untold: &Untold) -> ProposalResult<()> {
        sqlx::query(
            "DELETE FROM untold_decisions \
             WHERE jd = $1 AND uuid = $2 AND version = $3 AND decision = $4",
        )
        .bind(&untold.jd)
        .bind(&untold.uuid)
        .bind(untold.version)
        .bind(untold.decision.as_str())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
