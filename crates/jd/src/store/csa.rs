//! The JD's CSA keypairs; private keys are stored only encrypted.

use sqlx::Row;

use super::{Store, StoreResult};

/// A keypair row as stored.
#[derive(Debug, Clone)]
pub struct StoredKeypair {
    /// Counts from 1.
    pub id: i64,
    /// Lower-case hex of the ed25519 public key.
    pub public_key: String,
    /// The sealed private key (see `crate::csa`).
    pub encrypted_private_key: Vec<u8>,
    /// Microseconds since the epoch.
    pub created_at: i64,
}

impl Store {
    /// All keypairs, oldest first.
    pub async fn keypairs(&self) -> StoreResult<Vec<StoredKeypair>> {
        let rows = sqlx::query(
            "SELECT id, public_key, encrypted_private_key, created_at FROM csa_keypairs ORDER BY id",
        )
        .fetch_all(&mut *self.conn().await?)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredKeypair {
                    id: row.try_get("id")?,
                    public_key: row.try_get("public_key")?,
                    encrypted_private_key: row.try_get("encrypted_private_key")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Stores `keypair` unless a keypair with its id exists already (two replicas starting
    /// at once both try; the first one wins and both then use it).
    pub async fn insert_keypair_if_absent(&self, keypair: &StoredKeypair) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO csa_keypairs (id, public_key, encrypted_private_key, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(keypair.id)
        .bind(&keypair.public_key)
        .bind(keypair.encrypted_private_key.clone())
        .bind(keypair.created_at)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }
}
