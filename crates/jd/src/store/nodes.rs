//! Node rows. Every write bumps `nodes_generation` in the same transaction, which is how
//! the JD's in-memory node snapshot knows it is out of date (also across replicas).

use offchain_proto::node::{Node, P2pKeyBundle};
use offchain_proto::timestamp_from_micros;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Store, StoreError, StoreResult, labels};

const NODE_COLUMNS: &str = "id, name, public_key, is_enabled, labels, workflow_key, \
     nop_friendly_name, version, p2p_key_bundles, created_at, updated_at";

/// What may change on an existing node; `None` keeps the stored value.
#[derive(Debug, Default)]
pub struct NodeChanges {
    /// New name.
    pub name: Option<String>,
    /// New public key (lower-case hex).
    pub public_key: Option<String>,
    /// New label set, replacing the old one.
    pub labels: Option<Vec<offchain_proto::label::Label>>,
    /// New enabled flag.
    pub is_enabled: Option<bool>,
}

/// What a node reports about itself over its link (`UpdateNode`).
#[derive(Debug, Default)]
pub struct NodeReport {
    /// The node software's version.
    pub version: String,
    /// The node's workflow key, if it has one.
    pub workflow_key: Option<String>,
    /// The node operator's name.
    pub nop_friendly_name: String,
    /// The node's P2P key bundles.
    pub p2p_key_bundles: Vec<P2pKeyBundle>,
}

/// Node rows as fetched; [`NodeRows::decode`] turns them into nodes.
pub struct NodeRows(Vec<AnyRow>);

impl std::fmt::Debug for NodeRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeRows({} rows)", self.0.len())
    }
}

impl NodeRows {
    /// The nodes, in the order fetched.
    pub fn decode(self) -> StoreResult<Vec<Node>> {
        self.0.iter().map(node_from_row).collect()
    }
}

impl Store {
    /// The counter bumped by every node write.
    pub async fn nodes_generation(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = 'nodes_generation'")
            .fetch_one(&mut *self.conn().await?)
            .await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// Every node, in creation order.
    pub async fn load_nodes(&self) -> StoreResult<Vec<Node>> {
        self.node_rows().await?.decode()
    }

    /// Every node's row, in creation order, not yet decoded: decoding thousands of label
    /// sets is CPU work that the caller may move off the async workers.
    pub async fn node_rows(&self) -> StoreResult<NodeRows> {
        let sql = format!("SELECT {NODE_COLUMNS} FROM nodes ORDER BY created_at, id");
        let rows = sqlx::query(&sql)
            .fetch_all(&mut *self.conn().await?)
            .await?;
        Ok(NodeRows(rows))
    }

    /// One node by id.
    pub async fn node(&self, id: &str) -> StoreResult<Option<Node>> {
        let sql = format!("SELECT {NODE_COLUMNS} FROM nodes WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        row.as_ref().map(node_from_row).transpose()
    }

    /// Stores a new node. A node with the same public key gives [`StoreError::Conflict`].
    pub async fn insert_node(&self, node: &Node) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        let sql = format!(
            "INSERT INTO nodes ({NODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        sqlx::query(&sql)
            .bind(&node.id)
            .bind(&node.name)
            .bind(&node.public_key)
            .bind(i64::from(node.is_enabled))
            .bind(labels::encode(&node.labels))
            .bind(node.workflow_key.clone())
            .bind(&node.nop_friendly_name)
            .bind(&node.version)
            .bind(encode_bundles(&node.p2p_key_bundles))
            .bind(micros(&node.created_at))
            .bind(micros(&node.updated_at))
            .execute(&mut *tx)
            .await?;
        bump_generation(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies `changes` to node `id` and returns the node as stored, or `None` when there
    /// is no such node.
    pub async fn update_node(
        &self,
        id: &str,
        changes: NodeChanges,
        now: i64,
    ) -> StoreResult<Option<Node>> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        let sql = format!(
            "UPDATE nodes SET name = COALESCE($2, name), public_key = COALESCE($3, public_key), \
             labels = COALESCE($4, labels), is_enabled = COALESCE($5, is_enabled), updated_at = $6 \
             WHERE id = $1 RETURNING {NODE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(changes.name)
            .bind(changes.public_key)
            .bind(changes.labels.as_deref().map(labels::encode))
            .bind(changes.is_enabled.map(i64::from))
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let node = node_from_row(&row)?;
        bump_generation(&mut tx).await?;
        tx.commit().await?;
        Ok(Some(node))
    }

    /// Stores what node `id` reported about itself; false when there is no such node.
    pub async fn record_node_report(
        &self,
        id: &str,
        report: &NodeReport,
        now: i64,
    ) -> StoreResult<bool> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        let updated = sqlx::query(
            "UPDATE nodes SET version = $2, workflow_key = $3, nop_friendly_name = $4, \
             p2p_key_bundles = $5, updated_at = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(&report.version)
        .bind(report.workflow_key.clone())
        .bind(&report.nop_friendly_name)
        .bind(encode_bundles(&report.p2p_key_bundles))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        bump_generation(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }
}

async fn bump_generation(tx: &mut Transaction<'_, Any>) -> StoreResult<()> {
    sqlx::query("UPDATE meta SET value = value + 1 WHERE key = 'nodes_generation'")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn micros(ts: &Option<offchain_proto::Timestamp>) -> i64 {
    ts.as_ref()
        .map(|t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000)
        .unwrap_or(0)
}

fn encode_bundles(bundles: &[P2pKeyBundle]) -> String {
    let pairs: Vec<(&str, &str)> = bundles
        .iter()
        .map(|b| (b.peer_id.as_str(), b.public_key.as_str()))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_string())
}

fn decode_bundles(text: &str) -> StoreResult<Vec<P2pKeyBundle>> {
    let pairs: Vec<(String, String)> = serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("p2p key bundles {text:?}: {e}")))?;
    Ok(pairs
        .into_iter()
        .map(|(peer_id, public_key)| P2pKeyBundle {
            peer_id,
            public_key,
        })
        .collect())
}

fn node_from_row(row: &AnyRow) -> StoreResult<Node> {
    Ok(Node {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        public_key: row.try_get("public_key")?,
        is_enabled: row.try_get::<i64, _>("is_enabled")? != 0,
        // Connection state lives with the node link, not in the database.
        is_connected: false,
        labels: labels::decode(&row.try_get::<String, _>("labels")?)?,
        created_at: Some(timestamp_from_micros(row.try_get("created_at")?)),
        updated_at: Some(timestamp_from_micros(row.try_get("updated_at")?)),
        workflow_key: row.try_get("workflow_key")?,
        p2p_key_bundles: decode_bundles(&row.try_get::<String, _>("p2p_key_bundles")?)?,
        nop_friendly_name: row.try_get("nop_friendly_name")?,
        version: row.try_get("version")?,
    })
}
