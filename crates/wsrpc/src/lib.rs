//! `offchain-wsrpc`: the transport nodes and the Job Distributor talk over
//! (`shared/spec/node-link.md`, "Transport" and "Framing").
//!
//! It knows nothing of jobs: it authenticates peers by their ed25519 CSA keys over mutual
//! TLS 1.3, carries protobuf `message.Message` frames over a WebSocket, and matches typed
//! calls in both directions on one connection. The JD and the node put their services on
//! top of it.
//!
//! Modules:
//! - [`accept`]: the JD's side of a link: TLS, one link per key, WebSocket upgrade, listener;
//! - [`backoff`]: the node's redial waits (1 s, ×1.6, ±20 % jitter, capped at 120 s);
//! - [`dial`]: the node's side: dial the JD, and redial forever with backoff;
//! - [`cert`]: the minimal self-signed ed25519 certificate, and reading a peer's key from one;
//! - [`keys`]: ed25519 public keys and the run-time set of keys allowed to connect;
//! - [`tls`]: rustls configurations for mutual TLS 1.3 authenticated by those keys;
//! - [`frame`]: encoding and classifying one frame;
//! - [`rpc`]: a [`rpc::Link`] over any WebSocket stream: calls both ways, liveness, limits.

pub mod accept;
pub mod backoff;
pub mod cert;
pub mod dial;
pub mod frame;
pub mod keys;
pub mod rpc;
pub mod tls;
