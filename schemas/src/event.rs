//! The change event: one record type shared by the AOF, the change stream,
//! every sink and every consumer (DESIGN.md, "Change event").

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// What a change did to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// The key now holds `value` (and `expire_at_ms`, if any): a creation,
    /// an update, or a TTL change, always as the resulting absolute state.
    Set,
    /// A client deleted the key.
    Del,
    /// The key reached its expiry time and was removed.
    Expire,
    /// The key was removed to free memory.
    Evict,
    /// FLUSHALL: every key was removed. The key is empty and there is no
    /// value; a consumer drops everything it holds from this node.
    Flush,
}

impl Op {
    /// Every op, in code order.
    pub const ALL: [Op; 5] = [Op::Set, Op::Del, Op::Expire, Op::Evict, Op::Flush];

    /// The op's name as used in configuration, logs and every encoding.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Set => "set",
            Op::Del => "del",
            Op::Expire => "expire",
            Op::Evict => "evict",
            Op::Flush => "flush",
        }
    }

    /// The op's stable one-byte code (AOF records, Protobuf enum values).
    pub fn code(self) -> u8 {
        match self {
            Op::Set => 1,
            Op::Del => 2,
            Op::Expire => 3,
            Op::Evict => 4,
            Op::Flush => 5,
        }
    }

    /// The op with this code.
    pub fn from_code(code: u8) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.code() == code)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Op {
    type Err = String;

    fn from_str(s: &str) -> Result<Op, String> {
        Op::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown op {s:?}: expected set, del, expire, evict or flush"))
    }
}

/// One change to one key (or, for `flush`, to all of them).
///
/// Consumers deduplicate by `(node, epoch, seq)`: a redelivery carries the
/// same triple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    /// Id of the node that accepted the write.
    pub node: Arc<str>,
    /// The node's term; bumps on failover.
    pub epoch: u64,
    /// Strictly increasing per node, gap-free.
    pub seq: u64,
    /// Wall-clock time of the write, Unix milliseconds.
    pub ts_ms: u64,
    /// What happened.
    pub op: Op,
    /// The key (empty for `flush`).
    pub key: Bytes,
    /// The new value (`set` only).
    pub value: Option<Bytes>,
    /// Absolute expiry of the new value, Unix milliseconds.
    pub expire_at_ms: Option<u64>,
    /// The previous value, when before-images are enabled and it was
    /// present and within the configured size cap.
    pub prev: Option<Bytes>,
}

/// "Nothing new up to `last_seq` at `ts_ms`": sent when the stream is idle
/// so a consumer's lag is honest even when nothing changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    /// Id of the node.
    pub node: Arc<str>,
    /// The node's term.
    pub epoch: u64,
    /// The last seq written on the node.
    pub last_seq: u64,
    /// When this was true, Unix milliseconds.
    pub ts_ms: u64,
}

/// What a change-stream subscriber receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// A change.
    Event(ChangeEvent),
    /// Progress while idle.
    Watermark(Watermark),
}
