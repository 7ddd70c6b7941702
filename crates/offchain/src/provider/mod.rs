//! Providers: where a [`Client`] comes from.
//!
//! - [`RemoteProvider`]: an existing JD over gRPC (plaintext, TLS or mutual TLS, optional
//!   token); [`RemoteClient`] over a caller's own channel and tower layers.
//! - [`MemoryProvider`] (feature `memory`): the JD's own services over an in-memory
//!   database, no network; for unit tests of deployment scripts.
//! - [`EmbeddedProvider`] (feature `embedded`): a real JD gRPC server inside the process,
//!   for integration tests; ready in milliseconds.

#[cfg(feature = "embedded")]
mod embedded;
#[cfg(feature = "memory")]
mod memory;
mod remote;

use std::sync::Arc;

use async_trait::async_trait;

use crate::Client;

#[cfg(feature = "embedded")]
pub use embedded::{EmbeddedConfig, EmbeddedProvider};
#[cfg(feature = "memory")]
pub use memory::MemoryProvider;
pub use remote::{ClientIdentity, RemoteClient, RemoteConfig, RemoteProvider};

/// Why a provider could not give a client.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The endpoint is not a usable URL.
    #[error("invalid JD endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// What was given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The CA certificate could not be used.
    #[error("invalid TLS configuration: {0}")]
    Tls(String),
    /// The JD could not be reached.
    #[error("cannot reach the JD at {endpoint}: {reason}")]
    Unreachable {
        /// Where we tried.
        endpoint: String,
        /// Why it failed.
        reason: String,
    },
    /// The embedded JD did not start.
    #[error("cannot start the embedded JD: {0}")]
    Start(String),
    /// The JD started but never answered.
    #[error("the JD at {endpoint} did not become ready within {waited_ms} ms: {last_error}")]
    NotReady {
        /// Where it runs.
        endpoint: String,
        /// How long we waited.
        waited_ms: u128,
        /// The last answer.
        last_error: String,
    },
}

/// Something that can produce an initialized [`Client`].
#[async_trait]
pub trait Provider: Send + Sync {
    /// A human-readable name, e.g. `remote JD at https://jd.example:443`.
    fn name(&self) -> &str;

    /// Connects (or starts) and returns the client. Idempotent: later calls return the same
    /// client without connecting again.
    async fn initialize(&self) -> Result<Arc<dyn Client>, ProviderError>;

    /// The client made by [`initialize`](Provider::initialize), or `None` before it.
    fn offchain_client(&self) -> Option<Arc<dyn Client>>;
}
