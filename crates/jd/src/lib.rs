//! The Job Distributor (JD): the server deployment scripts talk to when they manage a
//! network of oracle nodes.
//!
//! It implements the operator API (`api.job.v1.JobService`, `api.node.v1.NodeService`,
//! `api.csa.v1.CSAService`) wire-compatibly with the existing JD, stores its state in SQLite
//! (the embedded default) or PostgreSQL (production, several replicas), keeps an ed25519
//! CSA keypair sealed in the database, and serves the gRPC health and reflection services.
//!
//! - [`JobDistributor`] is the behaviour: one value implements the three service traits.
//!   The client library's in-memory provider calls it directly; [`server`] puts it on the
//!   network.
//! - [`store::Store`] is the database layer, one set of SQL for both backends.
//!
//! - [`link`] is the node link manager: the keys nodes may connect with, their live links,
//!   the node listener ([`link::listen`]) and the `FeedsManager` service nodes call.
//!
//! - Beside the reference services it serves our extension
//!   `offchain.jd.v1.ProposalDeliveryService` (in a protobuf package of its own, so the
//!   reference messages stay unchanged): the node's error text of a FAILED proposal and its
//!   refusal of a forwarded revoke/delete, which the reference `Proposal` cannot carry.
//!
//! This crate does not parse job specs beyond their `externalJobID`.
//!
//! ```no_run
//! # async fn run() -> Result<(), offchain_jd::server::ServerError> {
//! let server = offchain_jd::server::start(offchain_jd::server::ServerConfig {
//!     listen: "127.0.0.1:0".parse().unwrap(),
//!     database_url: "sqlite::memory:".into(),
//!     csa_secret: "a long random secret".into(),
//!     auth: None,
//! })
//! .await?;
//! println!("listening on {}", server.local_addr());
//! server.shutdown().await?;
//! # Ok(())
//! # }
//! ```

pub mod auth;
pub mod csa;
mod directory;
pub mod error;
pub mod ids;
pub mod link;
pub mod selector;
pub mod server;
mod service;
pub mod spec;
pub mod store;

pub use service::delivery::MAX_DELIVERY_IDS;
pub use service::limits::MAX_FILTER_VALUES;
pub use service::{JobDistributor, OpenError, limits};
