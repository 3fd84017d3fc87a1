//! The ways writes reach fluxkv. Today: the Redis protocol (RESP2, and
//! RESP3 after `HELLO 3`), complete enough for redis-cli, redis-benchmark
//! and ordinary client libraries.
//!
//! # Layout
//!
//! - [`server`](RespServer) — accept loop, shared state, shutdown.
//! - `connection` — one client: read, execute a batch, wait for its AOF
//!   commit, reply.
//! - `resp/` — the protocol: [`parser`](resp::parser) (zero-copy, with
//!   limits) and [`reply`](resp::reply) (RESP2/RESP3 encoding).
//! - `commands/` — the command table and one file of handlers per family.
//! - `glob` — Redis glob patterns for KEYS, SCAN and CONFIG GET.
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

mod commands;
mod connection;
mod error;
mod glob;
pub mod resp;
mod server;
mod session;

pub use error::IngestError;
pub use resp::parser::Limits;
pub use server::{RespConfig, RespServer};

/// The Redis version fluxkv reports to clients (HELLO, INFO): the command
/// set and replies follow Redis 7.2.
pub const REDIS_COMPAT_VERSION: &str = "7.2.0";
