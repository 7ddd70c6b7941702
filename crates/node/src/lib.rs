//! `offchain-node`: the node agent (`shared/spec/node-link.md`, `shared/ARCHITECTURE.md`).
//!
//! It holds the node's keys, reads its configuration, links to the configured Job
//! Distributors over wsrpc, and keeps the proposals they send.
//!
//! - [`config`]: `node.toml`, validated as a whole; errors name the file position and key.

pub mod config;
