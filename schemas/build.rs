//! Compiles `proto/fluxkv/v1/*.proto` without a system `protoc`: `protox`
//! (a protobuf compiler in Rust) produces the descriptor set, then
//! `tonic-prost-build` generates messages, clients and servers from it. The
//! encoded descriptor set is written beside the code for gRPC reflection.

use prost::Message as _;
use std::path::PathBuf;

const PROTOS: [&str; 4] = [
    "proto/fluxkv/v1/event.proto",
    "proto/fluxkv/v1/kv.proto",
    "proto/fluxkv/v1/watch.proto",
    "proto/fluxkv/v1/admin.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    // `protox::Error` renders as a compiler diagnostic naming file and line.
    let fds = protox::compile(PROTOS, ["proto"])?;
    std::fs::write(out_dir.join("fluxkv_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // `connect(url)` on clients needs tonic's channel: see the feature.
        .build_transport(std::env::var_os("CARGO_FEATURE_TRANSPORT").is_some())
        // `bytes` fields become `bytes::Bytes`, as in the model: no copies
        // when converting events.
        .bytes(".")
        .out_dir(&out_dir)
        .compile_fds(fds)?;
    Ok(())
}
