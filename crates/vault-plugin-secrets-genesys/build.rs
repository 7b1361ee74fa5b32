//! Compiles proto/*.proto into the gRPC code of src/protocol/pb.rs, with protox (pure Rust), so
//! the build needs no system protoc.
use std::path::Path;

const PROTOS: [&str; 3] = ["proto/backend.proto", "proto/go_plugin.proto", "proto/health.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, [Path::new("proto")])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
