//! Ed25519 public keys and the set of keys allowed to connect, which changes at run time.
//!
//! The JD allows the keys of registered, enabled nodes; the node allows its JD's key. Every
//! TLS handshake reads the set once; removals bump a generation that links watch, so the link
//! of a removed key can be closed (`node-link.md`: "connections of removed keys are
//! dropped").

use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::watch;

/// An ed25519 public key (a CSA key), the identity of a peer.
///
/// Equality is constant-time, so looking a key up in a set never reveals through timing how
/// much of a presented key matches a stored one.
#[derive(Clone, Copy, Eq)]
pub struct PublicKey([u8; 32]);

/// Why a text is not a public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an ed25519 public key is 64 hex digits")]
pub struct PublicKeyParseError;

impl PublicKey {
    /// The key from its 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Reads the hex form operators configure and register (`csa_public_key`).
    pub fn from_hex(text: &str) -> Result<Self, PublicKeyParseError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| PublicKeyParseError)?;
        Ok(Self(bytes))
    }

    /// Lower-case hex, the form operators see.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, &other.0).is_ok()
    }
}

// Agrees with the constant-time `eq`: equal keys have equal bytes, hence equal hashes.
impl Hash for PublicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// Public keys are not secret: the hex form helps whoever reads a log or a test failure.
impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The keys allowed to connect, shared by the TLS verifier and the link layer. Clones share
/// one set.
///
/// Membership is a hash lookup followed by the constant-time `PublicKey::eq` — rather than a
/// constant-time compare against every key, which would cost each handshake time linear in
/// the number of nodes. The hash (std's SipHash with random keys) is of the presented key,
/// which the peer itself sent in the clear, so the lookup's timing tells it nothing new.
/// A `RwLock` suffices: reads are a lookup, short next to the handshake around them, and
/// writes (registering or disabling a node) are rare.
#[derive(Clone, Default)]
pub struct AllowedKeys {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    keys: RwLock<HashSet<PublicKey>>,
    /// Bumped on every change that removes a key.
    removals: watch::Sender<u64>,
}

impl AllowedKeys {
    /// A set holding `keys`.
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        let allowed = Self::default();
        allowed.write().extend(keys);
        allowed
    }

    /// Whether `key` may connect now.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.shared
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key)
    }

    /// Allows `key`; false if it was already allowed.
    pub fn insert(&self, key: PublicKey) -> bool {
        self.write().insert(key)
    }

    /// Stops allowing `key`; false if it was not allowed. Links of `key` learn of it through
    /// [`AllowedKeys::removals`].
    pub fn remove(&self, key: &PublicKey) -> bool {
        let removed = self.write().remove(key);
        if removed {
            self.note_removal();
        }
        removed
    }

    /// Makes `keys` the whole set (e.g. reloaded from the store).
    pub fn replace_all(&self, keys: impl IntoIterator<Item = PublicKey>) {
        let new: HashSet<PublicKey> = keys.into_iter().collect();
        let old = std::mem::replace(&mut *self.write(), new.clone());
        if !old.is_subset(&new) {
            self.note_removal();
        }
    }

    /// How many keys are allowed.
    pub fn len(&self) -> usize {
        self.shared
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no key is allowed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A generation that changes whenever a key is removed. A link waits on it
    /// (`changed().await`) and then checks whether its own key is still
    /// [contained](AllowedKeys::contains) — a counter rather than a stream of removed keys, so
    /// no removal is ever missed by a slow link.
    pub fn removals(&self) -> watch::Receiver<u64> {
        self.shared.removals.subscribe()
    }

    fn note_removal(&self) {
        self.shared
            .removals
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashSet<PublicKey>> {
        // A panic while holding the lock cannot leave a HashSet half-updated in a way that
        // matters here: carry on with what is there.
        self.shared
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for AllowedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllowedKeys")
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
