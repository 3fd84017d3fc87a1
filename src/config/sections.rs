//! The sections of the configuration file, with their defaults.

use fluxkv_store::FsyncPolicy;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct NodeSection {
    /// Stamped on every change event; empty: the id kept in
    /// `<data_dir>/node_id`, created on first start.
    pub(crate) id: String,
    /// The node's term; bumps on failover.
    pub(crate) epoch: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RespSection {
    pub(crate) addr: String,
    pub(crate) requirepass: Option<String>,
    pub(crate) max_bulk_len: usize,
    pub(crate) max_inline_len: usize,
    pub(crate) max_clients: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct GrpcSection {
    pub(crate) addr: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct HttpSection {
    pub(crate) addr: String,
    pub(crate) max_body_bytes: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AofSection {
    pub(crate) fsync: FsyncPolicy,
    pub(crate) segment_bytes: u64,
    /// Rewrite once the log since the base grew by this percentage of the
    /// base (0: never automatically).
    pub(crate) auto_rewrite_percentage: u64,
    /// …and is at least this many bytes.
    pub(crate) auto_rewrite_min_bytes: u64,
    /// History kept behind the base for replay, needed or not.
    pub(crate) retain_history_bytes: u64,
    /// The most history kept for sinks that have not delivered it yet.
    pub(crate) retention_limit_bytes: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StoreSection {
    pub(crate) shards: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StreamSection {
    /// Committed events kept in memory for subscribers that keep up.
    pub(crate) ring_events: usize,
    /// Carry each change's previous value (`prev`).
    pub(crate) before_images: bool,
    /// Values larger than this get no before-image.
    pub(crate) before_image_max_bytes: usize,
    /// A watermark goes to an idle subscriber this often.
    pub(crate) watermark_ms: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LogSection {
    /// A `tracing` filter: `info`, `debug`, `fluxkv_store=debug,info`, …
    pub(crate) level: String,
}

impl Default for NodeSection {
    fn default() -> Self {
        NodeSection {
            id: String::new(),
            epoch: 1,
        }
    }
}

impl Default for RespSection {
    fn default() -> Self {
        let limits = fluxkv_ingest::Limits::default();
        RespSection {
            addr: "127.0.0.1:6380".into(),
            requirepass: None,
            max_bulk_len: limits.max_bulk_len,
            max_inline_len: limits.max_inline_len,
            max_clients: 10_000,
        }
    }
}

impl Default for GrpcSection {
    fn default() -> Self {
        GrpcSection {
            addr: "127.0.0.1:50051".into(),
        }
    }
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            addr: "127.0.0.1:8080".into(),
            max_body_bytes: 512 << 20,
        }
    }
}

impl Default for AofSection {
    fn default() -> Self {
        let defaults = fluxkv_store::AofOptions::default();
        AofSection {
            fsync: defaults.fsync,
            segment_bytes: defaults.segment_bytes,
            auto_rewrite_percentage: defaults.auto_rewrite_percentage,
            auto_rewrite_min_bytes: defaults.auto_rewrite_min_bytes,
            retain_history_bytes: defaults.retention.retain_history_bytes,
            retention_limit_bytes: defaults.retention.retention_limit_bytes,
        }
    }
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection { shards: 256 }
    }
}

impl Default for StreamSection {
    fn default() -> Self {
        StreamSection {
            ring_events: fluxkv_store::AofOptions::default().ring_events,
            before_images: false,
            before_image_max_bytes: 64 << 10,
            watermark_ms: 1000,
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
        }
    }
}
