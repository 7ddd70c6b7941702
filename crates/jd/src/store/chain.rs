//! Chain configs that nodes report over their link, stored as encoded protobuf.

use offchain_proto::node::ChainConfig;
use prost::Message;
use sqlx::Row;

use super::{Store, StoreError, StoreResult, placeholders};

impl Store {
    /// Replaces everything node `node_id` reported with `configs`.
    pub async fn replace_chain_configs(
        &self,
        node_id: &str,
        configs: &[ChainConfig],
    ) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        sqlx::query("DELETE FROM chain_configs WHERE node_id = $1")
            .bind(node_id)
            .execute(&mut *tx)
            .await?;
        for config in configs {
            let chain = config.chain.clone().unwrap_or_default();
            let mut stored = config.clone();
            stored.node_id = node_id.to_string();
            sqlx::query(
                "INSERT INTO chain_configs (node_id, chain_id, chain_type, config) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (node_id, chain_id, chain_type) DO UPDATE SET config = excluded.config",
            )
            .bind(node_id)
            .bind(chain.id)
            .bind(i64::from(chain.r#type))
            .bind(stored.encode_to_vec())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Chain configs of the given nodes (all nodes when `node_ids` is empty).
    pub async fn chain_configs(&self, node_ids: &[String]) -> StoreResult<Vec<ChainConfig>> {
        let mut sql = String::from("SELECT config FROM chain_configs");
        if !node_ids.is_empty() {
            sql.push_str(&format!(
                " WHERE node_id IN ({})",
                placeholders(1, node_ids.len())
            ));
        }
        sql.push_str(" ORDER BY node_id, chain_type, chain_id");
        let mut query = sqlx::query(&sql);
        for id in node_ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&mut *self.conn().await?).await?;
        rows.iter()
            .map(|row| {
                let bytes: Vec<u8> = row.try_get("config")?;
                ChainConfig::decode(bytes.as_slice())
                    .map_err(|e| StoreError::Corrupt(format!("chain config: {e}")))
            })
            .collect()
    }
}
