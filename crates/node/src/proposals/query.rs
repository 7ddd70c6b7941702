//! What the node's HTTP API and CLI show: `list` and `show`, with the JSON field names of the
//! issue (`{"uuid","jd","state","version"}` and
//! `{"uuid","jd","state","versions":[{"version","state","spec"}]}`).

use serde::Serialize;

use super::{ProposalResult, jd_key, proposal_id};
use crate::store::{State, Store};

/// One line of `list`: a proposal with its latest version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposalSummary {
    pub uuid: String,
    pub jd: String,
    pub state: State,
    pub version: i64,
}

/// `show`: a proposal with all its versions, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposalDetail {
    pub uuid: String,
    pub jd: String,
    pub state: State,
    pub versions: Vec<VersionDetail>,
}

/// One spec version in [`ProposalDetail`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionDetail {
    pub version: i64,
    pub state: State,
    pub spec: String,
}

impl Store {
    /// Every proposal, oldest first, with its latest version.
    pub async fn list(&self) -> ProposalResult<Vec<ProposalSummary>> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT p.uuid, p.jd, p.state, \
                 (SELECT MAX(v.version) FROM proposal_versions v \
                  WHERE v.jd = p.jd AND v.uuid = p.uuid) \
             FROM proposals p ORDER BY p.created_at, p.jd, p.uuid",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(uuid, jd, state, version)| {
                Ok(ProposalSummary {
                    uuid,
                    jd,
                    state: State::parse(&state)?,
                    version,
                })
            })
            .collect()
    }

    /// The JDs (keys, sorted) that sent a proposal with this id: the CLI's `show UUID` and
    /// `approve UUID` name no JD, so the API resolves it here (and reports an ambiguity).
    pub async fn jds_of(&self, id: &str) -> ProposalResult<Vec<String>> {
        let uuid = proposal_id(id)?.to_string();
        Ok(
            sqlx::query_scalar("SELECT jd FROM proposals WHERE uuid = $1 ORDER BY jd")
                .bind(uuid)
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// One proposal with all its versions, or `None` if that JD sent no such proposal.
    pub async fn show(&self, jd: &str, id: &str) -> ProposalResult<Option<ProposalDetail>> {
        let jd = jd_key(jd)?;
        let uuid = proposal_id(id)?.to_string();
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM proposals WHERE jd = $1 AND uuid = $2")
                .bind(&jd)
                .bind(&uuid)
                .fetch_optional(self.pool())
                .await?;
        let Some(state) = state else {
            return Ok(None);
        };
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT version, state, spec FROM proposal_versions \
             WHERE jd = $1 AND uuid = $2 ORDER BY version",
        )
        .bind(&jd)
        .bind(&uuid)
        .fetch_all(self.pool())
        .await?;
        let versions = rows
            .into_iter()
            .map(|(version, state, spec)| {
                Ok(VersionDetail {
                    version,
                    state: State::parse(&state)?,
                    spec,
                })
            })
            .collect::<ProposalResult<_>>()?;
        Ok(Some(ProposalDetail {
            uuid,
            jd,
            state: State::parse(&state)?,
            versions,
        }))
    }
}
