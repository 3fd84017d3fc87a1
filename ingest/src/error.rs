//! The one error type of the ingest crate.

use std::net::SocketAddr;

/// What can stop a protocol server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The listening address could not be bound.
    #[error(
        "cannot listen on {addr}: {source} (is another server using that port? set another address)"
    )]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// Accepting connections failed for good.
    #[error("accepting connections on {addr} failed: {source}")]
    Accept {
        /// The listening address.
        addr: SocketAddr,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC transport failed for good.
    #[error("the gRPC server on {addr} failed: {source}")]
    Grpc {
        /// The listening address.
        addr: SocketAddr,
        /// Why it failed.
        #[source]
        source: tonic::transport::Error,
    },
    /// The reflection service could not read the compiled-in descriptors
    /// (a build problem, not a runtime one).
    #[error("cannot build the gRPC reflection service: {source}")]
    Reflection {
        /// What was wrong with the descriptors.
        #[source]
        source: tonic_reflection::server::Error,
    },
}
