//! What became of proposals on their way to the node, as the `offchain.jd.v1` extension
//! serves it: the delivery status, the node's error text of a FAILED proposal, and the
//! node's last refusal of a forwarded revoke/delete (migration 0004).

use offchain_proto::delivery::{NodeRefusal, ProposalDelivery};
use offchain_proto::timestamp_from_micros;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::delivery::{MAX_DELIVERY_ERROR, cut};
use super::{Store, StoreResult, placeholders};

const DELIVERY_COLUMNS: &str = "id, delivery_status, delivery_error, node_refusal_method, \
                                node_refusal_error, node_refusal_at";

impl Store {
    /// The deliveries of the proposals with these ids, in creation order; unknown ids are
    /// left out.
    pub async fn proposal_deliveries(&self, ids: &[String]) -> StoreResult<Vec<ProposalDelivery>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM proposals WHERE id IN ({}) ORDER BY created_at, id",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&mut *self.conn().await?).await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// The deliveries of every proposal of job `job_id`, oldest first; `None` when there is
    /// no such job (deleted jobs are included).
    pub async fn job_deliveries(&self, job_id: &str) -> StoreResult<Option<Vec<ProposalDelivery>>> {
        let mut conn = self.conn().await?;
        let job = sqlx::query("SELECT id FROM jobs WHERE id = $1")
            .bind(job_id)
            .fetch_optional(&mut *conn)
            .await?;
        if job.is_none() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM proposals WHERE job_id = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql).bind(job_id).fetch_all(&mut *conn).await?;
        rows.iter()
            .map(delivery_from_row)
            .collect::<StoreResult<_>>()
            .map(Some)
    }

    /// Records that node `node_id` answered `error` to the forwarded `method` (`RevokeJob`
    /// or `DeleteJob`) of its job `uuid`, on that job's latest proposal (the one a revoke
    /// acts on). The text is cut to [`MAX_DELIVERY_ERROR`] bytes; a later refusal replaces
    /// an earlier one.
    pub async fn record_node_refusal(
        &self,
        node_id: &str,
        uuid: &str,
        method: &str,
        error: &str,
        now: i64,
    ) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        sqlx::query(
            "UPDATE proposals SET node_refusal_method = $3, node_refusal_error = $4, \
             node_refusal_at = $5 \
             WHERE id = (SELECT p.id FROM proposals p JOIN jobs j ON p.job_id = j.id \
             WHERE j.node_id = $1 AND j.uuid = $2 ORDER BY p.revision DESC LIMIT 1)",
        )
        .bind(node_id)
        .bind(uuid)
        .bind(method)
        .bind(cut(error, MAX_DELIVERY_ERROR))
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

fn delivery_from_row(row: &AnyRow) -> StoreResult<ProposalDelivery> {
    let method: Option<String> = row.try_get("node_refusal_method")?;
    let refused_at: Option<i64> = row.try_get("node_refusal_at")?;
    let node_refusal = match (method, refused_at) {
        (Some(method), Some(at)) => Some(NodeRefusal {
            method,
            error: row
                .try_get::<Option<String>, _>("node_refusal_error")?
                .unwrap_or_default(),
            refused_at: Some(timestamp_from_micros(at)),
        }),
        _ => None,
    };
    Ok(ProposalDelivery {
        proposal_id: row.try_get("id")?,
        delivery_status: i32::try_from(row.try_get::<i64, _>("delivery_status")?)
            .map_err(|_| super::StoreError::Corrupt("delivery status out of range".into()))?,
        delivery_error: row.try_get("delivery_error")?,
        node_refusal,
    })
}
