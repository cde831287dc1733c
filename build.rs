//! Generates the `borderlog.v1` gRPC code with a protoc from crates.io, so a clean machine
//! needs nothing installed by hand.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY-free: build scripts are single-threaded; prost-build reads PROTOC.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("borderlog_descriptor.bin"))
        .compile_protos(&["proto/borderlog/v1/borderlog.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
