//! The ways writes reach fluxkv: the Redis protocol (RESP2, and RESP3
//! after `HELLO 3`), complete enough for redis-cli, redis-benchmark and
//! ordinary client libraries; gRPC (`fluxkv.v1.KV`, `Watch`, `Admin`, with
//! health and reflection); and HTTP (REST keys, the change stream as
//! Server-Sent Events). Every server answers a write only once its AOF
//! record is committed, and shuts down gracefully on a
//! [`CancellationToken`](tokio_util::sync::CancellationToken).
//!
//! # Layout
//!
//! - [`server`](RespServer) — the RESP accept loop, shared state, shutdown.
//! - `connection` — one client: read, execute a batch, wait for its AOF
//!   commit, reply.
//! - `resp/` — the protocol: [`parser`](resp::parser) (zero-copy, with
//!   limits) and [`reply`](resp::reply) (RESP2/RESP3 encoding).
//! - `commands/` — the command table and one file of handlers per family.
//! - `glob` — Redis glob patterns for KEYS, SCAN (RESP and gRPC) and
//!   CONFIG GET.
//! - [`grpc`](GrpcServer) — the gRPC server: `kv`, `watch`, `admin`
//!   services, health, reflection.
//! - [`http`](HttpServer) — the HTTP server: `/v1/kv/{key}`, `/v1/watch`
//!   (SSE), `/healthz`.
//! - `changes` — the change stream as both serve it: filtered by key
//!   prefix and op, ended on shutdown.
//!
//! # Example
//!
//! ```no_run
//! # async fn run(store: std::sync::Arc<fluxkv_store::Store>) -> Result<(), fluxkv_ingest::IngestError> {
//! use fluxkv_ingest::{RespConfig, RespServer};
//! use tokio_util::sync::CancellationToken;
//!
//! let server = RespServer::bind(RespConfig::default(), store).await?;
//! println!("listening on {}", server.local_addr());
//! server.run(CancellationToken::new()).await
//! # }
//! ```
//!
//! The gRPC and HTTP servers follow the same pattern, on one token:
//!
//! ```no_run
//! # async fn run(store: std::sync::Arc<fluxkv_store::Store>) -> Result<(), fluxkv_ingest::IngestError> {
//! use fluxkv_ingest::{GrpcConfig, GrpcServer, HttpConfig, HttpServer};
//! use tokio_util::sync::CancellationToken;
//!
//! let shutdown = CancellationToken::new();
//! let grpc = GrpcServer::bind(GrpcConfig::default(), store.clone()).await?;
//! let http = HttpServer::bind(HttpConfig::default(), store).await?;
//! let (grpc, http) = tokio::join!(grpc.run(shutdown.clone()), http.run(shutdown.clone()));
//! grpc.and(http)
//! # }
//! ```

mod changes;
mod commands;
mod connection;
mod error;
mod glob;
mod grpc;
mod http;
mod lifecycle;
pub mod resp;
mod server;
mod session;
mod sink_status;

pub use error::IngestError;
pub use grpc::{GrpcConfig, GrpcServer};
pub use http::{EXPIRE_AT_HEADER, HttpConfig, HttpServer};
pub use resp::parser::Limits;
pub use server::{RespConfig, RespServer};
pub use sink_status::SinkStatusSource;

/// The Redis version fluxkv reports to clients (HELLO, INFO): the command
/// set and replies follow Redis 7.2.
pub const REDIS_COMPAT_VERSION: &str = "7.2.0";
