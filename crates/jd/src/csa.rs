//! The JD's CSA (communication) keypair: ed25519, created on first start, private key kept
//! in the database sealed with AES-256-GCM under a key derived from the configured secret
//! (PBKDF2-HMAC-SHA256; the round count and salt are stored with the ciphertext, so keys
//! sealed with older parameters keep opening).

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use aws_lc_rs::{aead, digest, pbkdf2, rand, signature};
use offchain_proto::csa::Keypair;
use offchain_proto::timestamp_from_micros;
use signature::KeyPair as _;

use crate::store::{Store, StoreError, StoredKeypair};

/// The current format: `2 || rounds (u32, big-endian) || salt || nonce || ciphertext+tag`,
/// with everything before the nonce authenticated as associated data.
const SEAL_VERSION: u8 = 2;
/// The first format: `1 || salt || nonce || ciphertext+tag`, always [`V1_ROUNDS`].
const SEAL_VERSION_1: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const ROUNDS_LEN: usize = 4;
const AAD_V1: &[u8] = b"offchain-jd csa key v1";
/// OWASP's 2023 figure for PBKDF2-HMAC-SHA256: slows guessing of a weak secret at the cost
/// of a fraction of a second per start.
const PBKDF2_ROUNDS: u32 = 600_000;
const V1_ROUNDS: u32 = 60_000;
/// Stored round counts above this are refused, so a corrupted header cannot stall start-up.
const MAX_ROUNDS: u32 = 100_000_000;
/// For secrets from [`throwaway_secret`]: 256 random bits need no stretching.
const THROWAWAY_ROUNDS: u32 = 1;

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
    /// The decrypted private key belongs to another public key than the one stored with it.
    #[error(
        "the stored CSA private key does not match the stored public key {stored}: the \
         keypair was altered or mixed up; refusing to start"
    )]
    PublicKeyMismatch {
        /// The public key stored beside the sealed private key.
        stored: String,
    },
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
    /// The active key as the node link's TLS identity (its own copy of the private key, so
    /// the key never leaves this module as bytes).
    tls: Arc<offchain_wsrpc::tls::Identity>,
    keypairs: Vec<Keypair>,
}

impl CsaKeys {
    /// Loads the keys from `store`, creating the first keypair when there is none.
    pub async fn load_or_create(store: &Store, secret: &str) -> Result<Self, CsaError> {
        if secret.is_empty() {
            return Err(CsaError::EmptySecret);
        }
        let mut stored = store.keypairs().await?;
        // The key this start created, so it need not be derived a second time to open it.
        let mut created = None;
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
            created = Some((fresh.encrypted_private_key, pkcs8.as_ref().to_vec()));
            // Another replica may have won the race: use whatever is stored now.
            stored = store.keypairs().await?;
        }
        let newest = stored
            .last()
            .ok_or(CsaError::Malformed("no keypair after creation"))?;
        let pkcs8 = match created {
            Some((sealed, pkcs8)) if sealed == newest.encrypted_private_key => pkcs8,
            _ => open(secret, &newest.encrypted_private_key)?,
        };
        let active = signature::Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| CsaError::Malformed("decrypted key is not ed25519 PKCS#8"))?;
        // A row whose halves disagree would make the JD sign with a key nodes do not trust.
        let stored_public = hex::decode(newest.public_key.trim()).unwrap_or_default();
        if active.public_key().as_ref() != stored_public.as_slice() {
            return Err(CsaError::PublicKeyMismatch {
                stored: newest.public_key.clone(),
            });
        }
        let tls = offchain_wsrpc::tls::Identity::from_pkcs8(&pkcs8)
            .map_err(|_| CsaError::Malformed("decrypted key is not ed25519 PKCS#8"))?;
        let keypairs = stored
            .iter()
            .map(|k| Keypair {
                id: k.id,
                public_key: k.public_key.clone(),
                created_at: Some(timestamp_from_micros(k.created_at)),
            })
            .collect();
        Ok(CsaKeys {
            active,
            tls: Arc::new(tls),
            keypairs,
        })
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

    /// The active key as the identity the node listener presents.
    pub fn tls_identity(&self) -> Arc<offchain_wsrpc::tls::Identity> {
        self.tls.clone()
    }

    /// Signs `message` with the active key.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.active.sign(message).as_ref().to_vec()
    }
}

fn derive_key(secret: &str, salt: &[u8], rounds: u32) -> Result<aead::LessSafeKey, CsaError> {
    let rounds = NonZeroU32::new(rounds).ok_or(CsaError::Malformed("zero rounds"))?;
    let mut key = [0u8; 32];
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

/// Seals `plaintext` in the current format.
fn seal(secret: &str, plaintext: &[u8]) -> Result<Vec<u8>, CsaError> {
    let rounds = if is_throwaway(secret) {
        THROWAWAY_ROUNDS
    } else {
        PBKDF2_ROUNDS
    };
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut salt).map_err(|_| CsaError::Crypto("random source failed"))?;
    rand::fill(&mut nonce).map_err(|_| CsaError::Crypto("random source failed"))?;
    let mut sealed = Vec::with_capacity(1 + ROUNDS_LEN + SALT_LEN + NONCE_LEN + plaintext.len());
    sealed.push(SEAL_VERSION);
    sealed.extend_from_slice(&rounds.to_be_bytes());
    sealed.extend_from_slice(&salt);
    let header_len = sealed.len();
    let key = derive_key(secret, &salt, rounds)?;
    let mut in_out = plaintext.to_vec();
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::from(&sealed[..header_len]),
        &mut in_out,
    )
    .map_err(|_| CsaError::Crypto("encryption failed"))?;
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&in_out);
    Ok(sealed)
}

/// Opens a key sealed in the current or the first format.
fn open(secret: &str, sealed: &[u8]) -> Result<Vec<u8>, CsaError> {
    let (&version, rest) = sealed.split_first().ok_or(CsaError::Malformed("empty"))?;
    let (rounds, aad, rest) = match version {
        SEAL_VERSION_1 => (V1_ROUNDS, AAD_V1, rest),
        SEAL_VERSION => {
            let (rounds, rest) = rest
                .split_first_chunk::<ROUNDS_LEN>()
                .ok_or(CsaError::Malformed("too short"))?;
            let rounds = u32::from_be_bytes(*rounds);
            if rounds == 0 || rounds > MAX_ROUNDS {
                return Err(CsaError::Malformed("round count out of range"));
            }
            let header_len = (1 + ROUNDS_LEN + SALT_LEN).min(sealed.len());
            (rounds, &sealed[..header_len], rest)
        }
        _ => return Err(CsaError::Malformed("unknown format version")),
    };
    if rest.len() < SALT_LEN + NONCE_LEN {
        return Err(CsaError::Malformed("too short"));
    }
    let (salt, rest) = rest.split_at(SALT_LEN);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| CsaError::Malformed("bad nonce"))?;
    let key = derive_key(secret, salt, rounds)?;
    let mut in_out = ciphertext.to_vec();
    let plaintext = key
        .open_in_place(nonce, aead::Aad::from(aad), &mut in_out)
        .map_err(|_| CsaError::WrongSecret)?;
    Ok(plaintext.to_vec())
}

/// SHA-256 of every secret [`throwaway_secret`] handed out in this process. Only those are
/// sealed with [`THROWAWAY_ROUNDS`]: no configured secret can ask for weak sealing.
fn throwaway_hashes() -> &'static Mutex<HashSet<[u8; 32]>> {
    static HASHES: OnceLock<Mutex<HashSet<[u8; 32]>>> = OnceLock::new();
    HASHES.get_or_init(Default::default)
}

fn secret_hash(secret: &str) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest::digest(&digest::SHA256, secret.as_bytes()).as_ref());
    hash
}

fn is_throwaway(secret: &str) -> bool {
    let hashes = throwaway_hashes()
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    hashes.contains(&secret_hash(secret))
}

/// A random secret for throw-away (dev, embedded, in-memory) JDs.
pub fn throwaway_secret() -> String {
    let mut bytes = [0u8; 32];
    // If the system random source fails, a time-based secret is still fine for a key that
    // lives only as long as this process.
    if rand::fill(&mut bytes).is_err() {
        bytes[..16].copy_from_slice(&crate::ids::now_micros().to_le_bytes().repeat(2));
    }
    let secret = hex::encode(bytes);
    throwaway_hashes()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(secret_hash(&secret));
    secret
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

    /// Sealed by the first release (format 1: 60 000 PBKDF2 rounds, no parameters stored).
    const V1_SECRET: &str = "version one secret";
    const V1_PUBLIC_KEY: &str = "cfd9076712b52490d5fd44ef39b00fa1e0ed38f29942e6144b2cb8fd759b7e89";
    const V1_SEALED: &str = "01cca5549b99971402de56bd7de3b87e5a5e6a1609820884b2b2885a32e2b0fc9ef6\
        0852d0a99e35d184848f519d49c701d687d3294c8e166cb196b6c56ee0ec08e3d94138f50207f635efe7\
        4905bb6e34c50138551de2107f1c3b5f239adc2865c5e458505c431e9fdfe26482ba4eb97130548c146e\
        21b7b12007e0bcfd97ec";

    async fn store_with(public_key: &str, sealed: Vec<u8>) -> Store {
        let store = Store::open(crate::store::SQLITE_MEMORY_URL).await.unwrap();
        let keypair = StoredKeypair {
            id: 1,
            public_key: public_key.into(),
            encrypted_private_key: sealed,
            created_at: 0,
        };
        store.insert_keypair_if_absent(&keypair).await.unwrap();
        store
    }

    #[tokio::test]
    async fn keys_sealed_by_the_first_format_still_open() {
        let store = store_with(V1_PUBLIC_KEY, hex::decode(V1_SEALED).unwrap()).await;
        let keys = CsaKeys::load_or_create(&store, V1_SECRET).await.unwrap();
        assert_eq!(keys.public_key_hex(), V1_PUBLIC_KEY);
        let wrong = CsaKeys::load_or_create(&store, "other").await.unwrap_err();
        assert!(matches!(wrong, CsaError::WrongSecret), "{wrong}");
    }

    #[test]
    fn new_seals_store_at_least_600_000_rounds_and_their_salt() {
        let sealed = seal("a real secret", b"private bytes").unwrap();
        assert_eq!(sealed[0], 2, "format version");
        let rounds = u32::from_be_bytes(sealed[1..5].try_into().unwrap());
        assert!(rounds >= 600_000, "{rounds} rounds");
        assert_eq!(open("a real secret", &sealed).unwrap(), b"private bytes");
        let other = seal("a real secret", b"private bytes").unwrap();
        assert_ne!(sealed[5..21], other[5..21], "a fresh salt per seal");
    }

    #[test]
    fn throwaway_secrets_skip_the_slow_derivation() {
        // A throw-away secret is 256 random bits: stretching it adds nothing, and hundreds
        // of test servers start with one.
        let secret = throwaway_secret();
        let sealed = seal(&secret, b"private bytes").unwrap();
        let rounds = u32::from_be_bytes(sealed[1..5].try_into().unwrap());
        assert_eq!(rounds, 1);
        assert_eq!(open(&secret, &sealed).unwrap(), b"private bytes");
    }

    #[tokio::test]
    async fn a_private_key_that_does_not_match_its_public_key_is_refused() {
        let other = signature::Ed25519KeyPair::generate_pkcs8(&rand::SystemRandom::new()).unwrap();
        let sealed = seal("secret", other.as_ref()).unwrap();
        let store = store_with(V1_PUBLIC_KEY, sealed).await;
        let error = CsaKeys::load_or_create(&store, "secret").await.unwrap_err();
        assert!(
            matches!(error, CsaError::PublicKeyMismatch { .. }),
            "{error}"
        );
        let text = error.to_string();
        assert!(
            text.contains(V1_PUBLIC_KEY) && text.contains("does not match"),
            "{text}"
        );
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
