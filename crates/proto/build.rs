//! Compiles `proto/` with a vendored `protoc`, so a fresh machine needs nothing but cargo.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "v1/shared/ptypes/label.proto",
    "v1/csa/csa.proto",
    "v1/job/job.proto",
    "v1/node/node.proto",
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
        .compile_with_config(config, &files, &[proto_root.clone(), well_known])?;

    println!("cargo:rerun-if-changed={}", proto_root.display());
    Ok(())
}
