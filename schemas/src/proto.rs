//! The gRPC API and the Protobuf form of events, generated at build time
//! from `schemas/proto/fluxkv/v1/*.proto` (package `fluxkv.v1`).
//!
//! Messages are plain structs ([`ChangeEvent`], [`WatchRequest`], ...);
//! each service has a client (`kv_client::KvClient`, `watch_client`,
//! `admin_client`) and a server trait plus wrapper (`kv_server::Kv` and
//! `kv_server::KvServer`, ...). `bytes` fields are [`bytes::Bytes`].
//! Conversions to and from the model: `From<&crate::ChangeEvent>` and
//! `TryFrom<ChangeEvent>` (likewise for [`Watermark`] and [`WatchResponse`]).

#![allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    unreachable_pub,
    rust_2018_idioms,
    reason = "generated code"
)]

tonic::include_proto!("fluxkv.v1");

/// The encoded `google.protobuf.FileDescriptorSet` of every fluxkv `.proto`
/// file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/fluxkv_descriptor.bin"));
