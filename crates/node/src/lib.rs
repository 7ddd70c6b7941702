//! `offchain-node`: the node agent (`shared/spec/node-link.md`, `shared/ARCHITECTURE.md`).
//!
//! It holds the node's keys, reads its configuration, links to the configured Job
//! Distributors over wsrpc, and keeps the proposals they send.
