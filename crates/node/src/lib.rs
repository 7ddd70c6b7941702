//! `offchain-node`: the node agent (`shared/spec/node-link.md`, `shared/ARCHITECTURE.md`).
//!
//! It holds the node's keys, reads its configuration, links to the configured Job
//! Distributors over wsrpc, and keeps the proposals they send.
//!
//! - [`node`]: [`Node::start`] runs all of it: keystore, store, JD links, the API.
//! - [`api`]: the approval HTTP API on `[api] listen`.
//! - [`bridges`]: the bridges to external adapters, and the registry the job runner reads.
//! - [`config`]: `node.toml`, validated as a whole; errors name the file position and key.
//! - [`keystore`]: the CSA and P2P ed25519 keys, sealed at rest with the node password.
//! - [`link`]: the link to one JD: redial, serve `NodeService`, report facts with `UpdateNode`.
//! - [`peer_id`]: the P2P key's libp2p peer id, `p2p_12D3KooW…`.
//! - [`store`]: the node's SQLite database in `data_dir` (WAL, `synchronous = FULL`).
//! - [`proposals`]: the rules for the JDs' job proposals (receive, approve, reject, cancel,
//!   revoke, delete) and the `list`/`show` views.
//! - [`jobs`]: the approved specs as running jobs (webhook and cron) and their runs.
//! - [`runs`]: the runs in the store, newest first, and the JD's `GetJobRuns` summaries.

pub mod api;
pub mod bridges;
pub mod config;
pub mod jobs;
pub mod keystore;
pub mod link;
pub mod node;
pub mod peer_id;
pub mod proposals;
pub mod runs;
pub mod store;

pub use config::NodeConfig;
pub use keystore::{Keystore, KeystoreError, NodePassword};
pub use node::{Node, NodeError};
pub use peer_id::PeerId;
pub use proposals::{ProposalError, ReceiveOutcome};
pub use store::{State, Store, StoreError};
