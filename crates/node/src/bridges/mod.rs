//! The node's bridges to external adapters (`shared/spec/bridge.md` §5): validation, the
//! two secrets, and [`Registry`] — the in-memory view the job runner reads synchronously
//! (`offchain_pipeline::run::BridgeLookup`), kept equal to the `bridges` table because every
//! write goes through it.
//!
//! - The outgoing token is sent by the node (`Authorization: Bearer …`), so it is stored as is;
//!   it is never logged, never in `Debug`, and the API shows only whether one is set.
//! - The incoming token (what an adapter presents when it resumes a run) is generated here,
//!   shown once by the create call, and kept only as SHA-256(salt ‖ token) with a random
//!   16-byte salt; [`Registry::check_incoming_token`] compares in constant time.
//! - Names are case-insensitive: the table's key is the lower-cased name, the display name
//!   keeps the creator's spelling.

mod store;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{Context, SHA256};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use offchain_pipeline::run::{Bridge, BridgeLookup};
use serde::Serialize;

use crate::store::{Store, StoreError};

pub use store::bridge_names;
pub(crate) use store::missing_bridges;
pub use validate::{MAX_NAME_BYTES, MAX_URL_BYTES};

/// Why a bridge call was refused.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// A field is invalid (the API's 422).
    #[error("{0}")]
    Invalid(String),
    /// A bridge with this name (in any case) exists (the API's 400).
    #[error("bridge {0:?} already exists")]
    Duplicate(String),
    /// No bridge with this name (the API's 404).
    #[error("bridge {0:?} not found")]
    NotFound(String),
    /// An approved job's pipeline uses the bridge (the API's 409).
    #[error("bridge {name:?} is used by the approved job {job}")]
    InUse { name: String, job: String },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The system random generator failed.
    #[error("cannot generate a token: the random generator failed")]
    Random,
}

impl From<sqlx::Error> for BridgeError {
    fn from(error: sqlx::Error) -> Self {
        BridgeError::Store(error.into())
    }
}

/// Result alias for bridge calls.
pub type BridgeResult<T> = Result<T, BridgeError>;

/// A bridge as the API shows it: no secret, only whether an outgoing token is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BridgeView {
    pub name: String,
    pub url: String,
    pub confirmations: u32,
    pub minimum_contract_payment: String,
    pub has_outgoing_token: bool,
}

/// A new bridge (the create call's body once validated).
#[derive(Clone, Default)]
pub struct NewBridge {
    pub name: String,
    pub url: String,
    pub confirmations: Option<u32>,
    pub minimum_contract_payment: Option<String>,
    pub outgoing_token: Option<String>,
}

impl std::fmt::Debug for NewBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewBridge")
            .field("name", &self.name)
            .field("confirmations", &self.confirmations)
            .finish_non_exhaustive()
    }
}

/// Changes to a bridge; `None` keeps the field. An empty outgoing token removes it.
#[derive(Clone, Default)]
pub struct BridgeChanges {
    pub url: Option<String>,
    pub confirmations: Option<u32>,
    pub minimum_contract_payment: Option<String>,
    pub outgoing_token: Option<String>,
}

impl std::fmt::Debug for BridgeChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeChanges")
            .field("confirmations", &self.confirmations)
            .finish_non_exhaustive()
    }
}

/// What a create answers: the bridge and its incoming token, which is never shown again.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedBridge {
    #[serde(flatten)]
    pub bridge: BridgeView,
    pub incoming_token: String,
}

impl std::fmt::Debug for CreatedBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedBridge")
            .field("bridge", &self.bridge)
            .finish_non_exhaustive()
    }
}

/// One bridge in memory, secrets included.
#[derive(Clone)]
pub(crate) struct Entry {
    pub view: BridgeView,
    pub outgoing_token: String,
    pub salt: [u8; SALT_BYTES],
    pub hash: [u8; 32],
}

const SALT_BYTES: usize = 16;
/// Random bytes in a generated incoming token (hex-encoded: 64 characters).
const TOKEN_BYTES: usize = 32;

/// The bridges, in memory and in the store. Cheap to clone (shared).
#[derive(Clone)]
pub struct Registry {
    store: Store,
    entries: Arc<RwLock<HashMap<String, Entry>>>,
    /// Serializes writes so the map is updated in the order the store committed them.
    writing: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("bridges", &self.read().len())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Loads every bridge from `store`.
    pub async fn load(store: Store) -> BridgeResult<Registry> {
        let entries = store::load_all(&store).await?;
        Ok(Registry {
            store,
            entries: Arc::new(RwLock::new(entries)),
            writing: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock cannot leave the map half-written (single inserts).
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_map(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every bridge, by name.
    pub fn list(&self) -> Vec<BridgeView> {
        let mut views: Vec<BridgeView> = self.read().values().map(|e| e.view.clone()).collect();
        views.sort_by_key(|view| view.name.to_ascii_lowercase());
        views
    }

    /// The bridge called `name` (any case).
    pub fn show(&self, name: &str) -> BridgeResult<BridgeView> {
        self.read()
            .get(&name.to_ascii_lowercase())
            .map(|entry| entry.view.clone())
            .ok_or_else(|| BridgeError::NotFound(validate::shown(name)))
    }

    /// Whether a bridge called `name` (any case) exists.
    pub fn contains(&self, name: &str) -> bool {
        self.read().contains_key(&name.to_ascii_lowercase())
    }

    /// Creates a bridge with a new incoming token, returned this once.
    pub async fn create(&self, new: NewBridge) -> BridgeResult<CreatedBridge> {
        validate::name(&new.name)?;
        validate::url(&new.url)?;
        let payment = match &new.minimum_contract_payment {
            Some(payment) => validate::payment(payment)?,
            None => "0".to_owned(),
        };
        let outgoing_token = new.outgoing_token.unwrap_or_default();
        validate::outgoing_token(&outgoing_token)?;
        let incoming_token = random_hex(TOKEN_BYTES)?;
        let mut salt = [0u8; SALT_BYTES];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| BridgeError::Random)?;
        let entry = Entry {
            view: BridgeView {
                name: new.name,
                url: new.url,
                confirmations: new.confirmations.unwrap_or(0),
                minimum_contract_payment: payment,
                has_outgoing_token: !outgoing_token.is_empty(),
            },
            hash: salted_hash(&salt, &incoming_token),
            salt,
            outgoing_token,
        };
        let _writing = self.writing.lock().await;
        store::insert(&self.store, &entry).await?;
        let view = entry.view.clone();
        self.write_map()
            .insert(view.name.to_ascii_lowercase(), entry);
        tracing::info!(bridge = %view.name, "bridge created");
        Ok(CreatedBridge {
            bridge: view,
            incoming_token,
        })
    }

    /// Changes the bridge called `name`.
    pub async fn update(&self, name: &str, changes: BridgeChanges) -> BridgeResult<BridgeView> {
        if let Some(url) = &changes.url {
            validate::url(url)?;
        }
        let payment = changes
            .minimum_contract_payment
            .as_deref()
            .map(validate::payment)
            .transpose()?;
        if let Some(token) = &changes.outgoing_token {
            validate::outgoing_token(token)?;
        }
        let key = name.to_ascii_lowercase();
        let _writing = self.writing.lock().await;
        let mut entry = self
            .read()
            .get(&key)
            .cloned()
            .ok_or_else(|| BridgeError::NotFound(validate::shown(name)))?;
        if let Some(url) = changes.url {
            entry.view.url = url;
        }
        if let Some(confirmations) = changes.confirmations {
            entry.view.confirmations = confirmations;
        }
        if let Some(payment) = payment {
            entry.view.minimum_contract_payment = payment;
        }
        if let Some(token) = changes.outgoing_token {
            entry.view.has_outgoing_token = !token.is_empty();
            entry.outgoing_token = token;
        }
        store::update(&self.store, &key, &entry).await?;
        let view = entry.view.clone();
        self.write_map().insert(key, entry);
        tracing::info!(bridge = %view.name, "bridge updated");
        Ok(view)
    }

    /// Deletes the bridge called `name`, refused while an approved job uses it; returns it.
    pub async fn delete(&self, name: &str) -> BridgeResult<BridgeView> {
        let key = name.to_ascii_lowercase();
        let _writing = self.writing.lock().await;
        let view = self.show(name)?;
        store::delete(&self.store, &key).await?;
        self.write_map().remove(&key);
        tracing::info!(bridge = %view.name, "bridge deleted");
        Ok(view)
    }

    /// Whether `token` is the incoming token of the bridge `name` (any case), or with
    /// `name = None` of any bridge. Compared in constant time on salted hashes.
    pub fn check_incoming_token(&self, name: Option<&str>, token: &str) -> bool {
        let entries = self.read();
        match name {
            Some(name) => entries
                .get(&name.to_ascii_lowercase())
                .is_some_and(|entry| entry.matches(token)),
            None => entries.values().any(|entry| entry.matches(token)),
        }
    }
}

impl Entry {
    fn matches(&self, token: &str) -> bool {
        verify_slices_are_equal(&salted_hash(&self.salt, token), &self.hash).is_ok()
    }
}

impl BridgeLookup for Registry {
    fn bridge(&self, name: &str) -> Option<Bridge> {
        self.read()
            .get(&name.to_ascii_lowercase())
            .map(|entry| Bridge {
                url: entry.view.url.clone(),
                outgoing_token: entry.outgoing_token.clone(),
            })
    }
}

/// SHA-256(salt ‖ token).
fn salted_hash(salt: &[u8], token: &str) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    context.update(salt);
    context.update(token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

fn random_hex(bytes: usize) -> BridgeResult<String> {
    let mut buffer = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buffer)
        .map_err(|_| BridgeError::Random)?;
    Ok(hex::encode(buffer))
}
