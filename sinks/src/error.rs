//! The one error type of the sinks crate.

use std::path::PathBuf;

/// What can go wrong delivering change events.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The destination could not be reached or did not answer in time;
    /// the batch is retried.
    #[error("{sink}: cannot reach the destination: {reason}")]
    Unavailable {
        /// The sink's name.
        sink: String,
        /// What failed.
        reason: String,
    },
    /// The broker refused the batch (a negative acknowledgement); retried.
    #[error("{sink}: the broker refused the batch (nack): {reason}")]
    Nack {
        /// The sink's name.
        sink: String,
        /// What the broker said.
        reason: String,
    },
    /// An event could not be encoded in the sink's encoding.
    #[error("encoding an event: {0}")]
    Encode(#[from] fluxkv_schemas::SchemaError),
    /// The sink's configuration is invalid.
    #[error("sink {sink}: {reason}")]
    Config {
        /// The sink's name.
        sink: String,
        /// What is wrong, and how to fix it.
        reason: String,
    },
    /// A sink kind this build does not include.
    #[error("sink {sink}: kind {kind:?} is not enabled in this build")]
    NotEnabled {
        /// The sink's name.
        sink: String,
        /// The kind asked for.
        kind: String,
    },
    /// File I/O: checkpoints, the file sink, dead letters.
    #[error("{context} {path}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The change stream failed (history gone, AOF poisoned).
    #[error(transparent)]
    Stream(#[from] fluxkv_store::StoreError),
}

impl SinkError {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        SinkError::Io {
            context,
            path: path.into(),
            source,
        }
    }
}
