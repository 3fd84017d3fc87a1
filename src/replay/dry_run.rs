//! `--dry-run`: what a replay would deliver, counted — events per op,
//! distinct keys, bytes, seq and time range — and nothing delivered.

use fluxkv_schemas::{ChangeEvent, Op};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// The counts of a dry run.
#[derive(Debug, Serialize)]
pub(crate) struct Tally {
    events: u64,
    /// Events per op, every op listed.
    ops: BTreeMap<&'static str, u64>,
    /// Keys named by any event (flushes name none).
    distinct_keys: u64,
    key_bytes: u64,
    value_bytes: u64,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
    first_ts_ms: Option<u64>,
    last_ts_ms: Option<u64>,
    /// Copies: an event's key shares a whole AOF chunk's buffer.
    #[serde(skip)]
    keys: HashSet<Box<[u8]>>,
}

impl Tally {
    /// Nothing counted yet.
    pub(crate) fn new() -> Tally {
        Tally {
            events: 0,
            ops: Op::ALL.iter().map(|op| (op.as_str(), 0)).collect(),
            distinct_keys: 0,
            key_bytes: 0,
            value_bytes: 0,
            first_seq: None,
            last_seq: None,
            first_ts_ms: None,
            last_ts_ms: None,
            keys: HashSet::new(),
        }
    }

    /// Counts `events`.
    pub(crate) fn add(&mut self, events: &[ChangeEvent]) {
        for event in events {
            self.events += 1;
            *self.ops.entry(event.op.as_str()).or_default() += 1;
            self.key_bytes += event.key.len() as u64;
            self.value_bytes += event.value.as_ref().map_or(0, |v| v.len() as u64);
            self.first_seq.get_or_insert(event.seq);
            self.last_seq = Some(event.seq);
            // Time is not quite monotonic in seq (a clock step): the range
            // is what the events span.
            self.first_ts_ms = Some(self.first_ts_ms.map_or(event.ts_ms, |t| t.min(event.ts_ms)));
            self.last_ts_ms = Some(self.last_ts_ms.map_or(event.ts_ms, |t| t.max(event.ts_ms)));
            if event.op != Op::Flush && !self.keys.contains(&event.key[..]) {
                self.keys.insert(event.key[..].into());
            }
        }
        self.distinct_keys = self.keys.len() as u64;
    }

    /// The seq of the last event counted (0: none).
    pub(crate) fn last_seq(&self) -> u64 {
        self.last_seq.unwrap_or(0)
    }

    /// The counts as lines for people.
    pub(crate) fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!("events         {}", self.events)];
        lines.extend(self.ops.iter().map(|(op, n)| format!("  {op:<12} {n}")));
        let range = |a: Option<u64>, b: Option<u64>, show: fn(u64) -> String| match (a, b) {
            (Some(a), Some(b)) => format!("{} .. {}", show(a), show(b)),
            _ => "-".to_string(),
        };
        lines.extend([
            format!("distinct keys  {}", self.distinct_keys),
            format!(
                "bytes          {} (keys {}, values {})",
                self.key_bytes + self.value_bytes,
                self.key_bytes,
                self.value_bytes
            ),
            format!(
                "seqs           {}",
                range(self.first_seq, self.last_seq, |s| s.to_string())
            ),
            format!(
                "time (UTC)     {}",
                range(self.first_ts_ms, self.last_ts_ms, rfc3339)
            ),
        ]);
        lines
    }
}

/// Unix milliseconds as RFC 3339 in UTC.
fn rfc3339(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(|| format!("{ms} ms"), |at| at.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, op: Op, key: &'static str, value: Option<&'static str>) -> ChangeEvent {
        ChangeEvent {
            node: "n".into(),
            epoch: 1,
            seq,
            ts_ms: 1_700_000_000_000 + seq,
            op,
            key: key.into(),
            value: value.map(Into::into),
            expire_at_ms: None,
            prev: None,
        }
    }

    #[test]
    fn counts_ops_keys_bytes_and_ranges() {
        let mut tally = Tally::new();
        tally.add(&[
            event(5, Op::Set, "a", Some("123")),
            event(6, Op::Set, "bb", Some("4")),
            event(7, Op::Del, "a", None),
        ]);
        tally.add(&[event(9, Op::Flush, "", None)]);
        let json = serde_json::to_value(&tally).unwrap();
        assert_eq!(json["events"], 4);
        assert_eq!(
            json["ops"],
            serde_json::json!({"set":2,"del":1,"expire":0,"evict":0,"flush":1})
        );
        assert_eq!(json["distinct_keys"], 2);
        assert_eq!(
            (json["key_bytes"].clone(), json["value_bytes"].clone()),
            (4.into(), 4.into())
        );
        assert_eq!((tally.first_seq, tally.last_seq()), (Some(5), 9));
        let text = tally.lines().join("\n");
        assert!(
            text.contains("2023-11-14T22:13:20.005Z .. 2023-11-14T22:13:20.009Z"),
            "{text}"
        );
    }
}
