//! fluxkv's storage engine: a sharded in-memory keyspace whose every
//! mutation is logged, in seq order, to an append-only file.
//!
//! It knows nothing of networks or brokers: protocol servers call it, and
//! acknowledge a client once [`Store::wait_committed`] says the write's
//! record is in the file.
//!
//! # Layout
//!
//! - [`store`](Store) — the keyspace bound to its AOF; the write path.
//! - `shard` — one shard: map, expiry index, counters.
//! - `ops/` — the operations, one family per file (strings, counters, ttl,
//!   keyspace).
//! - [`aof`] — records, segments, group-commit writer, recovery.
//! - `replay` — applying recovered segments to the shards on every core.
//! - `rewrite` — AOF rewrite (compaction) and snapshots: the keyspace as a
//!   base file, written while writes go on.
//! - [`stream`] — the change stream: ring of recent batches, AOF catch-up,
//!   subscriptions.
//! - [`clock`] — wall-clock time, replaceable in tests.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), fluxkv_store::StoreError> {
//! use fluxkv_store::{SetOptions, Store, StoreOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let (store, _report) = Store::open(dir.path(), StoreOptions::default())?;
//! let written = store.set(b"greeting", b"hello", SetOptions::default())?;
//! store.wait_committed(written.seq.unwrap()).await?; // now it may be acknowledged
//! assert_eq!(store.get(b"greeting").as_deref(), Some(&b"hello"[..]));
//! store.close()?;
//! # Ok(()) }
//! ```

pub mod aof;
pub mod clock;
mod error;
mod ops;
mod replay;
mod rewrite;
mod shard;
mod store;
pub mod stream;

pub use aof::base::BaseSummary;
pub use aof::{AofOptions, AofStatus, FsyncPolicy, Purged, RetentionPolicy};
pub use clock::Clock;
pub use error::{Result, StoreError};
pub use ops::counters::{parse_f64, parse_i64};
pub use ops::strings::{ExpirySpec, SetCondition, SetOptions, SetOutcome};
pub use ops::ttl::{Deadline, ExpireCondition};
pub use rewrite::{RewriteReport, RewriteStats, RewriteStep, install_snapshot};
pub use shard::{Entry, ShardStats};
pub use store::{KeyspaceStats, Logged, StartupReport, Store, StoreOptions};
pub use stream::{Identity, Subscription, SubscriptionStats};
