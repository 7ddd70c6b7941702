//! Compiles `proto/` with a vendored `protoc`, so a fresh machine needs nothing but cargo.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "v1/shared/ptypes/label.proto",
    "v1/csa/csa.proto",
    "v1/job/job.proto",
    "v1/node/node.proto",
    // Our own extension (package `offchain.jd.v1`), in the same descriptor set: reflection
    // describes it and the CLI prints its answers as JSON like the reference ones.
    "offchain/jd/v1/proposal_delivery.proto",
];

/// The node link's messages (packages `message` and `cfm`): plain prost messages, kept
/// out of the operator API's descriptor set (they are not gRPC services).
const NODE_LINK_PROTOS: &[&str] = &[
    "message/message.proto",
    "cfm/feeds_manager.proto",
    "cfm/node.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);

    let files: Vec<PathBuf> = PROTOS.iter().map(|p| proto_root.join(p)).collect();
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("offchain_descriptor.bin"))
        .compile_with_config(config, &files, &[proto_root.clone(), well_known.clone()])?;

    // Frame payloads as `Bytes`, so a payload moves between the socket and the handler
    // without a copy.
    let mut node_link = tonic_prost_build::Config::new();
    node_link
        .protoc_executable(protoc_bin_vendored::protoc_bin_path()?)
        .bytes([".message"]);
    let files: Vec<PathBuf> = NODE_LINK_PROTOS
        .iter()
        .map(|p| proto_root.join(p))
        .collect();
    node_link.compile_protos(&files, &[proto_root.clone(), well_known])?;

    println!("cargo:rerun-if-changed={}", proto_root.display());
    Ok(())
}
