//! Generated protobuf and gRPC code for `borderlog.v1` (see `proto/`).
#![allow(clippy::all, missing_docs)]

tonic::include_proto!("borderlog.v1");

/// Encoded file descriptors, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("borderlog_descriptor");
