//! The JD's CSA (communication) keypair: ed25519, created on first start, private key kept
//! in the database sealed with AES-256-GCM under a key derived from the configured secret.

use std::num::NonZeroU32;

use aws_lc_rs::{aead, pbkdf2, rand, signature};
use offchain_proto::csa::Keypair;
use offchain_proto::timestamp_from_micros;
use signature::KeyPair as _;

use crate::store::{Store, StoreError, StoredKeypair};

const SEAL_VERSION: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const AAD: &[u8] = b"offchain-jd csa key v1";
// High enough to slow guessing of a weak secret, low enough to keep start-up fast.
const PBKDF2_ROUNDS: u32 = 60_000;

/// Why the CSA key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum CsaError {
    /// The secret is empty.
    #[error("CSA_KEY_ENCRYPTION_SECRET is empty: set it to a long random string")]
    EmptySecret,
    /// The stored key does not open with this secret.
    #[error(
        "the stored CSA key cannot be decrypted with this CSA_KEY_ENCRYPTION_SECRET \
         (was the secret changed?)"
    )]
    WrongSecret,
    /// The stored key is not in a format this JD knows.
    #[error("the stored CSA key is malformed: {0}")]
    Malformed(&'static str),
    /// The system random source or key generation failed.
    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The JD's keys: the active one (with its private half) and every stored public key.
#[derive(Debug)]
pub struct CsaKeys {
    active: signature::Ed25519KeyPair,
    keypairs: Vec<Keypair>,
}

impl CsaKeys {
    /// Loads the keys from `store`, creating the first keypair when there is none.
    pub async fn load_or_create(store: &Store, secret: &str) -> Result<Self, CsaError> {
        if secret.is_empty() {
            return Err(CsaError::EmptySecret);
        }
        let mut stored = store.keypairs().await?;
        if stored.is_empty() {
            let pkcs8 = signature::Ed25519KeyPair::generate_pkcs8(&rand::SystemRandom::new())
                .map_err(|_| CsaError::Crypto("ed25519 key generation failed"))?;
            let pair = signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
                .map_err(|_| CsaError::Crypto("generated key did not parse"))?;
            let fresh = StoredKeypair {
                id: 1,
                public_key: hex::encode(pair.public_key().as_ref()),
                encrypted_private_key: seal(secret, pkcs8.as_ref())?,
                created_at: crate::ids::now_micros(),
            };
            store.insert_keypair_if_absent(&fresh).await?;
            tracing::info!(public_key = %fresh.public_key, "created the JD's CSA keypair");
            // Another replica may have won the race: use whatever is stored now.
            stored = store.keypairs().await?;
        }
        let newest = stored
            .last()
            .ok_or(CsaError::Malformed("no keypair after creation"))?;
        let pkcs8 = open(secret, &newest.encrypted_private_key)?;
        let active = signature::Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| CsaError::Malformed("decrypted key is not ed25519 PKCS#8"))?;
        let keypairs = stored
            .iter()
            .map(|k| Keypair {
                id: k.id,
                public_key: k.public_key.clone(),
                created_at: Some(timestamp_from_micros(k.created_at)),
            })
            .collect();
        Ok(CsaKeys { active, keypairs })
    }

    /// The active keypair as the API shows it.
    pub fn active(&self) -> Keypair {
        let hex_key = self.public_key_hex();
        self.keypairs
            .iter()
            .find(|k| k.public_key == hex_key)
            .cloned()
            .unwrap_or(Keypair {
                id: 0,
                public_key: hex_key,
                created_at: None,
            })
    }

    /// Every keypair, oldest first.
    pub fn all(&self) -> &[Keypair] {
        &self.keypairs
    }

    /// Lower-case hex of the active public key.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.active.public_key().as_ref())
    }

    /// Signs `message` with the active key.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.active.sign(message).as_ref().to_vec()
    }
}

fn derive_key(secret: &str, salt: &[u8]) -> Result<aead::LessSafeKey, CsaError> {
    let mut key = [0u8; 32];
    let rounds = NonZeroU32::new(PBKDF2_ROUNDS).ok_or(CsaError::Crypto("zero rounds"))?;
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        secret.as_bytes(),
        &mut key,
    );
    let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, &key)
        .map_err(|_| CsaError::Crypto("AES key setup failed"))?;
    Ok(aead::LessSafeKey::new(unbound))
}

/// `version || salt || nonce || ciphertext+tag`.
fn seal(secret: &str, plaintext: &[u8]) -> Result<Vec<u8>, CsaError> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut salt).map_err(|_| CsaError::Crypto("random source failed"))?;
    rand::fill(&mut nonce).map_err(|_| CsaError::Crypto("random source failed"))?;
    let key = derive_key(secret, &salt)?;
    let mut in_out = plaintext.to_vec();
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::from(AAD),
        &mut in_out,
    )
    .map_err(|_| CsaError::Crypto("encryption failed"))?;
    let mut sealed = Vec::with_capacity(1 + SALT_LEN + NONCE_LEN + in_out.len());
    sealed.push(SEAL_VERSION);
    sealed.extend_from_slice(&salt);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&in_out);
    Ok(sealed)
}

fn open(secret: &str, sealed: &[u8]) -> Result<Vec<u8>, CsaError> {
    let (&version, rest) = sealed.split_first().ok_or(CsaError::Malformed("empty"))?;
    if version != SEAL_VERSION {
        return Err(CsaError::Malformed("unknown format version"));
    }
    if rest.len() < SALT_LEN + NONCE_LEN {
        return Err(CsaError::Malformed("too short"));
    }
    let (salt, rest) = rest.split_at(SALT_LEN);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| CsaError::Malformed("bad nonce"))?;
    let key = derive_key(secret, salt)?;
    let mut in_out = ciphertext.to_vec();
    let plaintext = key
        .open_in_place(nonce, aead::Aad::from(AAD), &mut in_out)
        .map_err(|_| CsaError::WrongSecret)?;
    Ok(plaintext.to_vec())
}

/// A random secret for throw-away (dev, embedded, in-memory) JDs.
pub fn throwaway_secret() -> String {
    let mut bytes = [0u8; 32];
    // If the system random source fails, a time-based secret is still fine for a key that
    // lives only as long as this process.
    if rand::fill(&mut bytes).is_err() {
        bytes[..16].copy_from_slice(&crate::ids::now_micros().to_le_bytes().repeat(2));
    }
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip() {
        let sealed = seal("s3cret", b"private bytes").unwrap();
        assert_eq!(open("s3cret", &sealed).unwrap(), b"private bytes");
        assert!(matches!(open("other", &sealed), Err(CsaError::WrongSecret)));
        assert!(matches!(
            open("s3cret", &sealed[..10]),
            Err(CsaError::Malformed(_))
        ));
        assert!(matches!(open("s3cret", &[]), Err(CsaError::Malformed(_))));
    }

    #[tokio::test]
    async fn key_is_created_once_and_reused_with_the_same_secret() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("jd.db").display());
        let first = {
            let store = Store::open(&url).await.unwrap();
            let keys = CsaKeys::load_or_create(&store, "secret-1").await.unwrap();
            store.close().await;
            keys.active()
        };
        assert_eq!(first.id, 1);
        assert_eq!(first.public_key.len(), 64);

        let store = Store::open(&url).await.unwrap();
        let again = CsaKeys::load_or_create(&store, "secret-1").await.unwrap();
        assert_eq!(again.active().public_key, first.public_key);
        assert_eq!(again.all().len(), 1);

        let wrong = CsaKeys::load_or_create(&store, "secret-2")
            .await
            .unwrap_err();
        assert!(matches!(wrong, CsaError::WrongSecret), "{wrong}");
        let empty = CsaKeys::load_or_create(&store, "").await.unwrap_err();
        assert!(matches!(empty, CsaError::EmptySecret));
    }

    #[tokio::test]
    async fn signatures_verify_with_the_public_key() {
        let store = Store::open(crate::store::SQLITE_MEMORY_URL).await.unwrap();
        let keys = CsaKeys::load_or_create(&store, &throwaway_secret())
            .await
            .unwrap();
        let signature = keys.sign(b"hello");
        let public = hex::decode(keys.public_key_hex()).unwrap();
        signature::UnparsedPublicKey::new(&signature::ED25519, public)
            .verify(b"hello", &signature)
            .unwrap();
    }
}
