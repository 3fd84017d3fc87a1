//! The one error type of the store crate.
//!
//! Two families live here: errors a client caused (wrong value type for an
//! operation, an out-of-range argument) and errors of the store itself (the
//! AOF could not be written, read or recovered). The first family leaves the
//! store untouched; the second names the file and offset so an operator can
//! act on it.

use std::path::PathBuf;

/// Everything that can go wrong inside `fluxkv-store`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stored value is not a base-10 64-bit integer.
    #[error("value is not an integer or out of range")]
    NotAnInteger,
    /// The stored value or the increment is not a valid float.
    #[error("value is not a valid float")]
    NotAFloat,
    /// INCR and friends would leave the i64 range.
    #[error("increment or decrement would overflow")]
    Overflow,
    /// INCRBYFLOAT would produce NaN or an infinity.
    #[error("increment would produce NaN or Infinity")]
    NanOrInfinity,
    /// A value would grow past the configured maximum size.
    #[error("string exceeds maximum allowed size ({max} bytes)")]
    ValueTooLarge {
        /// The configured limit.
        max: usize,
    },
    /// The operation needs a key that is not there (RENAME of a missing key).
    #[error("no such key")]
    NoSuchKey,

    /// An earlier AOF write or fsync failed: the store refuses writes rather
    /// than acknowledge what it cannot make durable.
    #[error(
        "the AOF is not writable since an earlier I/O error ({reason}); writes are refused until restart"
    )]
    AofPoisoned {
        /// The error that poisoned the AOF.
        reason: String,
    },
    /// A subscriber asked for history the AOF no longer holds.
    #[error("seq {requested} is no longer in the AOF; the oldest available seq is {oldest}")]
    SeqUnavailable {
        /// The seq asked for.
        requested: u64,
        /// The oldest seq still available.
        oldest: u64,
    },
    /// BGREWRITEAOF while a rewrite runs (Redis's words).
    #[error("Background append only file rewriting already in progress")]
    RewriteInProgress,
    /// Another process has the data directory open.
    #[error("data directory {path} is in use by another process (a running `fluxkv serve`?)")]
    DataDirInUse {
        /// The data directory.
        path: PathBuf,
    },
    /// A snapshot can only be loaded into a node that holds nothing.
    #[error("{path} already holds AOF files: a snapshot loads into an empty data directory only")]
    NotEmpty {
        /// The AOF directory.
        path: PathBuf,
    },
    /// The store is shutting down and takes no more writes.
    #[error("the store is shutting down")]
    ShuttingDown,
    /// An I/O error on a named file.
    #[error("{context} {path}: {source}")]
    Io {
        /// What the store was doing.
        context: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The AOF is damaged somewhere other than its tail: refusing to start is
    /// the only way not to silently drop acknowledged writes.
    #[error(
        "AOF corrupt in {path} at offset {offset}: {reason}; run `fluxkv aof check` to inspect it"
    )]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the first bad record.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
}

impl StoreError {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        StoreError::Io {
            context,
            path: path.into(),
            source,
        }
    }
}

/// Result alias for the store crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
