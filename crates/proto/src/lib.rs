//! Generated protobuf messages: the Job Distributor operator API (with gRPC stubs) and the node link.
//!
//! The `.proto` files live in the workspace's `proto/` folder; their package, service,
//! method names and field numbers follow the existing operator API exactly, so clients
//! built from the reference definitions talk to our server unchanged.
//!
//! Modules mirror the protobuf packages (`api.job.v1` is [`api::job::v1`]); the short
//! aliases [`job`], [`node`], [`csa`] and [`label`] are what the rest of the workspace uses.
//! [`FILE_DESCRIPTOR_SET`] serves gRPC reflection and the JSON output of the CLI.
//!
//! [`delivery`] (`offchain.jd.v1`) is our own extension service, kept in a package of its
//! own: the reference `Proposal` has no field for a node's error text.
//!
//! The node link's messages live in [`message`] (framing) and [`cfm`] (the services nodes
//! and the JD call on each other); they are not in the descriptor set.

#![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]

/// Generated code, one module per protobuf package.
pub mod api {
    /// `api.label`: labels and selectors.
    pub mod label {
        tonic::include_proto!("api.label");
    }
    /// `api.job.*`
    pub mod job {
        /// `api.job.v1`: the job service.
        pub mod v1 {
            tonic::include_proto!("api.job.v1");
        }
    }
    /// `api.node.*`
    pub mod node {
        /// `api.node.v1`: the node service.
        pub mod v1 {
            tonic::include_proto!("api.node.v1");
        }
    }
    /// `api.csa.*`
    pub mod csa {
        /// `api.csa.v1`: the CSA key service.
        pub mod v1 {
            tonic::include_proto!("api.csa.v1");
        }
    }
}

/// `offchain.*`: our own extensions of the operator API, in packages of their own so the
/// reference messages stay exactly the existing ones.
pub mod offchain {
    /// `offchain.jd.*`
    pub mod jd {
        /// `offchain.jd.v1`: `ProposalDeliveryService`, what became of a proposal on its
        /// way to the node (the node's error text, its refusal of a revoke or delete).
        pub mod v1 {
            tonic::include_proto!("offchain.jd.v1");
        }
    }
}

/// `message`: the node link's framing — one [`message::Message`] per WebSocket frame
/// (`shared/spec/node-link.md`, "Framing").
#[allow(clippy::module_inception)] // prost puts the oneof of `message.Message` in `message::message`
pub mod message {
    tonic::include_proto!("message");
}

/// `cfm`: the node link's services, `FeedsManager` (on the JD) and `NodeService` (on the
/// node). Plain prost messages: the node link carries them as frame payloads, not gRPC.
/// The method names and their request/response pairs are listed in `proto/cfm/*.proto`.
pub mod cfm {
    tonic::include_proto!("cfm");
}

pub use api::csa::v1 as csa;
pub use api::job::v1 as job;
pub use api::label;
pub use api::node::v1 as node;
pub use offchain::jd::v1 as delivery;
pub use prost_types::Timestamp;

/// The encoded `FileDescriptorSet` of every operator API file and of our extensions (for
/// reflection and JSON).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/offchain_descriptor.bin"));

/// The fully qualified names of the three operator services.
pub const SERVICE_NAMES: [&str; 3] = [
    "api.job.v1.JobService",
    "api.node.v1.NodeService",
    "api.csa.v1.CSAService",
];

/// The fully qualified names of our extension services (not in the reference API).
pub const EXTENSION_SERVICE_NAMES: [&str; 1] = ["offchain.jd.v1.ProposalDeliveryService"];

impl label::Label {
    /// A label with a value (`key=value`).
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: Some(value.into()),
        }
    }

    /// A label without a value (a flag).
    pub fn flag(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: None,
        }
    }
}

/// Converts between [`Timestamp`] and microseconds since the Unix epoch (how stores keep time).
pub fn timestamp_from_micros(micros: i64) -> Timestamp {
    Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32,
    }
}
