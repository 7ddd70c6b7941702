//! The client library for the Job Distributor (JD): what deployment scripts use to register
//! nodes, select them by labels and propose job specs to them.
//!
//! - [`Client`]: the JD's 18 operator RPCs (job, node and CSA services) as one object-safe
//!   async trait, used as `Arc<dyn Client>`; [`CallOptions`] give calls a deadline and
//!   metadata ([`Client::with_options`]). Two more methods reach our JD's delivery extension
//!   (`offchain.jd.v1`, [`proto::delivery`]): the node's error text of a FAILED proposal and
//!   its refusal of a revoke/delete; an existing JD answers them `UNIMPLEMENTED`.
//! - [`Provider`]: where a client comes from. [`RemoteProvider`] connects to a running JD;
//!   [`RemoteClient`] runs over a caller's own channel with tower layers;
//!   [`MemoryProvider`] (feature `memory`) runs the JD's own services in memory for unit
//!   tests; [`EmbeddedProvider`] (feature `embedded`) starts a real JD server in the process
//!   for integration tests.
//! - [`DryRunClient`]: reads for real, only pretends to write, and refuses what the JD
//!   would refuse.
//! - [`helpers`]: proposing one spec to every node matching a selector (a failure part-way
//!   keeps what was done: [`helpers::ProposeError`]), the JD's public key.
//! - [`limits`]: the JD's input limits (labels, names, spec and batch sizes).
//! - [`auth`]: bearer tokens: static, OAuth2 client credentials, AWS Cognito.
//! - [`selector`]: kubectl-style selector strings (`env=prod,type!=bootstrap`).
//!
//! # Feature flags
//! - `memory`: [`MemoryProvider`] (pulls in the JD crate and SQLite).
//! - `embedded`: [`EmbeddedProvider`] (implies `memory`).
//!
//! # Example
//!
//! ```
//! use offchain::proto::label::Label;
//! use offchain::proto::node::RegisterNodeRequest;
//! use offchain::{helpers, selector, EmbeddedProvider, Provider};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = EmbeddedProvider::new(); // or RemoteProvider / MemoryProvider
//! let client = provider.initialize().await?;
//!
//! for (i, env) in ["prod", "prod", "test"].iter().enumerate() {
//!     client
//!         .register_node(RegisterNodeRequest {
//!             name: format!("node-{i}"),
//!             public_key: format!("{i:064x}"),
//!             labels: vec![Label::new("env", *env)],
//!         })
//!         .await?;
//! }
//!
//! let spec = r#"
//! type = "webhook"
//! schemaVersion = 1
//! externalJobID = "0b5b2c2e-6e5a-4f0c-9c55-8b7e1f7b3a11"
//! "#;
//! let selectors = selector::parse_selectors("env=prod")?;
//! let outcomes = helpers::propose_to_matching(client.as_ref(), spec, &[], selectors).await?;
//! assert_eq!(outcomes.len(), 2);
//! assert!(outcomes.iter().all(|o| o.result.is_ok()));
//! # Ok(()) }
//! ```

pub mod auth;
mod client;
pub mod dry_run;
pub mod helpers;
pub mod limits;
pub mod provider;
pub mod selector;

pub use auth::{StaticToken, TokenError, TokenSource};
pub use client::{CallOptions, Client, ClientResult, InvalidMetadata};
pub use dry_run::DryRunClient;
#[cfg(feature = "memory")]
pub use provider::MemoryProvider;
pub use provider::{
    ClientIdentity, Provider, ProviderError, RemoteClient, RemoteConfig, RemoteProvider,
};
#[cfg(feature = "embedded")]
pub use provider::{EmbeddedConfig, EmbeddedProvider};

/// The generated protobuf types of the operator API.
pub use offchain_proto as proto;

/// Installs aws-lc-rs as the process's rustls crypto provider, once.
///
/// rustls panics when both of its providers are compiled in and none is chosen; the
/// library and the binary call this before any TLS is set up. Calling it again is harmless.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means some provider is installed already, which is just as good.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

/// `error: cause: cause`, since transport and token errors keep the useful part in their
/// sources, for messages that travel as one string (a status, a provider error).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
