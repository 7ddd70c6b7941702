//! `offchain-wsrpc`: the transport nodes and the Job Distributor talk over
//! (`shared/spec/node-link.md`, "Transport" and "Framing").
//!
//! It knows nothing of jobs: it authenticates peers by their ed25519 CSA keys over mutual
//! TLS 1.3, carries protobuf `message.Message` frames over a WebSocket, and matches typed
//! calls in both directions on one connection. The JD and the node put their services on
//! top of it.
//!
//! - [`frame`]: encoding and classifying one frame.
//! - [`rpc`]: a [`rpc::Link`] over any WebSocket stream: calls both ways, liveness, limits.

pub mod frame;
pub mod rpc;
