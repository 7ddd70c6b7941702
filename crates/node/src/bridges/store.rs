//! The `bridges` table (`migrations/0003_bridges.sql`), and which bridges a job spec uses.
//!
//! Deleting a bridge and approving a spec both run in the store's write transaction (one
//! writer, `BEGIN IMMEDIATE`), each checking the other's table: a bridge cannot disappear
//! between an approval's check and its commit.

use std::collections::{BTreeSet, HashMap};

use offchain_pipeline::{JobSpec, TaskType};
use sqlx::{Sqlite, Transaction};

use super::{BridgeError, BridgeResult, BridgeView, Entry, SALT_BYTES};
use crate::store::{Store, StoreError, StoreResult, now_micros};

/// The bridge names (lower-cased, sorted, distinct) the `bridge` tasks of `spec` use. A
/// spec the pipeline cannot parse uses none: whether it may run is not the bridges' rule.
pub fn bridge_names(spec: &str) -> BTreeSet<String> {
    let Ok(parsed) = JobSpec::parse(spec) else {
        return BTreeSet::new();
    };
    parsed
        .pipeline
        .tasks
        .iter()
        .filter(|task| task.task_type == TaskType::Bridge)
        .filter_map(|task| task.attr("name"))
        .map(|attr| attr.value.to_ascii_lowercase())
        .collect()
}

/// The bridges `spec` uses that do not exist, in their spelling in the spec's order of
/// names; checked inside the approving transaction.
pub(crate) async fn missing_bridges(
    tx: &mut Transaction<'static, Sqlite>,
    spec: &str,
) -> StoreResult<Vec<String>> {
    let mut missing = Vec::new();
    for name in bridge_names(spec) {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM bridges WHERE name_key = $1")
            .bind(&name)
            .fetch_optional(&mut **tx)
            .await?;
        if found.is_none() {
            missing.push(name);
        }
    }
    Ok(missing)
}

/// A stored row: key, name, url, confirmations, payment, outgoing token, salt, hash.
type Row = (
    String,
    String,
    String,
    i64,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
);

pub(super) async fn load_all(store: &Store) -> BridgeResult<HashMap<String, Entry>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT name_key, name, url, confirmations, minimum_contract_payment, outgoing_token, \
         incoming_token_salt, incoming_token_hash FROM bridges",
    )
    .fetch_all(store.pool())
    .await?;
    rows.into_iter()
        .map(
            |(key, name, url, confirmations, payment, token, salt, hash)| {
                let corrupt = || StoreError::Corrupt(format!("bridge {key:?}"));
                let entry = Entry {
                    view: BridgeView {
                        name,
                        url,
                        confirmations: u32::try_from(confirmations).map_err(|_| corrupt())?,
                        minimum_contract_payment: payment,
                        has_outgoing_token: !token.is_empty(),
                    },
                    outgoing_token: token,
                    salt: <[u8; SALT_BYTES]>::try_from(salt.as_slice()).map_err(|_| corrupt())?,
                    hash: <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| corrupt())?,
                };
                Ok((key, entry))
            },
        )
        .collect()
}

pub(super) async fn insert(store: &Store, entry: &Entry) -> BridgeResult<()> {
    let key = entry.view.name.to_ascii_lowercase();
    let now = now_micros();
    let mut tx = store.write().await?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM bridges WHERE name_key = $1")
        .bind(&key)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_some() {
        return Err(BridgeError::Duplicate(entry.view.name.clone()));
    }
    sqlx::query(
        "INSERT INTO bridges (name_key, name, url, confirmations, minimum_contract_payment, \
         outgoing_token, incoming_token_salt, incoming_token_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(&key)
    .bind(&entry.view.name)
    .bind(&entry.view.url)
    .bind(i64::from(entry.view.confirmations))
    .bind(&entry.view.minimum_contract_payment)
    .bind(&entry.outgoing_token)
    .bind(entry.salt.as_slice())
    .bind(entry.hash.as_slice())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn update(store: &Store, key: &str, entry: &Entry) -> BridgeResult<()> {
    let mut tx = store.write().await?;
    let changed = sqlx::query(
        "UPDATE bridges SET url = $2, confirmations = $3, minimum_contract_payment = $4, \
         outgoing_token = $5, updated_at = $6 WHERE name_key = $1",
    )
    .bind(key)
    .bind(&entry.view.url)
    .bind(i64::from(entry.view.confirmations))
    .bind(&entry.view.minimum_contract_payment)
    .bind(&entry.outgoing_token)
    .bind(now_micros())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(BridgeError::NotFound(entry.view.name.clone()));
    }
    tx.commit().await?;
    Ok(())
}

/// Deletes `key` unless the active (approved) version of a proposal uses it.
pub(super) async fn delete(store: &Store, key: &str) -> BridgeResult<()> {
    let mut tx = store.write().await?;
    let active: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.uuid, v.spec FROM proposals p JOIN proposal_versions v \
         ON v.jd = p.jd AND v.uuid = p.uuid AND v.version = p.active_version \
         WHERE p.active_version IS NOT NULL ORDER BY p.created_at",
    )
    .fetch_all(&mut *tx)
    .await?;
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM bridges WHERE name_key = $1")
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(name) = name else {
        return Err(BridgeError::NotFound(key.to_owned()));
    };
    if let Some((job, _)) = active
        .iter()
        .find(|(_, spec)| bridge_names(spec).contains(key))
    {
        return Err(BridgeError::InUse {
            name,
            job: job.clone(),
        });
    }
    sqlx::query("DELETE FROM bridges WHERE name_key = $1")
        .bind(key)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
