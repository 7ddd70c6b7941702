//! The operator API's behaviour: one [`JobDistributor`] implements the three gRPC services.
//!
//! The same value serves the network server and the in-memory provider of the client
//! library (which calls the service traits directly), so both behave identically.

mod csa;
mod job;
mod node;

use std::sync::Arc;

use offchain_proto::label::Label;

use crate::csa::{CsaError, CsaKeys};
use crate::directory::NodeDirectory;
use crate::error::{ApiError, ApiResult};
use crate::store::{Store, StoreError};

/// Why a [`JobDistributor`] could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The CSA key could not be loaded or created.
    #[error(transparent)]
    Csa(#[from] CsaError),
}

/// The Job Distributor's state and behaviour; cheap to clone.
#[derive(Clone, Debug)]
pub struct JobDistributor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    nodes: NodeDirectory,
    csa: CsaKeys,
}

impl JobDistributor {
    /// Opens the database at `database_url` and loads (or creates) the CSA key sealed with
    /// `csa_secret`.
    pub async fn open(database_url: &str, csa_secret: &str) -> Result<Self, OpenError> {
        let store = Store::open(database_url).await?;
        let csa = CsaKeys::load_or_create(&store, csa_secret).await?;
        Ok(Self::from_parts(store, csa))
    }

    /// A JD with a private in-memory SQLite database and a throw-away CSA secret.
    pub async fn in_memory() -> Result<Self, OpenError> {
        Self::open(
            crate::store::SQLITE_MEMORY_URL,
            &crate::csa::throwaway_secret(),
        )
        .await
    }

    /// Assembles a JD from an opened store and its keys.
    pub fn from_parts(store: Store, csa: CsaKeys) -> Self {
        JobDistributor {
            inner: Arc::new(Inner {
                store,
                nodes: NodeDirectory::new(),
                csa,
            }),
        }
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The JD's CSA keys.
    pub fn csa_keys(&self) -> &CsaKeys {
        &self.inner.csa
    }
}

/// Refuses labels without a key: they could never be selected.
fn validate_labels(labels: &[Label]) -> ApiResult<()> {
    match labels.iter().position(|l| l.key.trim().is_empty()) {
        Some(i) => Err(ApiError::InvalidArgument(format!(
            "label {} has an empty key",
            i + 1
        ))),
        None => Ok(()),
    }
}

/// Fails with `INVALID_ARGUMENT "<what> must be provided"` when `value` is empty, and as
/// [`no_nul`] does.
fn required<'a>(value: &'a str, what: &str) -> ApiResult<&'a str> {
    if value.trim().is_empty() {
        Err(ApiError::InvalidArgument(format!(
            "{what} must be provided"
        )))
    } else {
        no_nul(value, what)
    }
}

/// Refuses text with a NUL character, which PostgreSQL can neither store nor compare (it
/// would fail the query: `INTERNAL`). Checked on every string that reaches the database,
/// so both backends answer alike.
fn no_nul<'a>(value: &'a str, what: &str) -> ApiResult<&'a str> {
    if value.contains('\0') {
        Err(ApiError::InvalidArgument(format!(
            "{what} must not contain NUL characters"
        )))
    } else {
        Ok(value)
    }
}

/// `text` as a canonical uuid (see [`crate::spec::canonical_uuid`]), or `INVALID_ARGUMENT`
/// naming `what`.
fn uuid_argument(text: &str, what: &str) -> ApiResult<String> {
    crate::spec::canonical_uuid(text)
        .ok_or_else(|| ApiError::InvalidArgument(format!("{what}: {:.80?} is not a UUID", text)))
}

/// Most values one filter list may hold: every value becomes a bound parameter, and SQLite
/// allows about 32 000 per statement.
pub const MAX_FILTER_VALUES: usize = 10_000;

/// Checks one filter list: at most [`MAX_FILTER_VALUES`] values, each as [`no_nul`] wants.
fn filter_values(values: &[String], what: &str) -> ApiResult<()> {
    if values.len() > MAX_FILTER_VALUES {
        return Err(ApiError::InvalidArgument(format!(
            "{what} holds {} values; at most {MAX_FILTER_VALUES} are allowed per call",
            values.len()
        )));
    }
    values.iter().try_for_each(|v| no_nul(v, what).map(drop))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_refused() {
        assert!(
            matches!(no_nul("job_\0", "id"), Err(ApiError::InvalidArgument(m)) if m.contains("NUL"))
        );
        assert!(matches!(
            required("\0", "name"),
            Err(ApiError::InvalidArgument(_))
        ));
        assert!(filter_values(&["a".into(), "b\0".into()], "ids").is_err());
        assert_eq!(required("node_1", "id").unwrap(), "node_1");
        assert!(filter_values(&[], "ids").is_ok());
        let too_many = vec!["node_1".to_string(); MAX_FILTER_VALUES + 1];
        assert!(
            matches!(filter_values(&too_many, "ids"), Err(ApiError::InvalidArgument(m)) if m.contains("at most"))
        );
    }
}
