//! `fluxkv aof stats`: totals over the valid log — records per op, seqs,
//! times, distinct keys, bytes — for people or, with `--json`, for scripts.

use super::Out;
use super::scan::{LogCheck, Verdict};
use fluxkv_store::aof::record::{Op, RecordRef};
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

/// The `--help` epilogue.
pub(crate) const AFTER_HELP: &str = r#"Counts the records of the valid log: every record before the first damage
(after a torn tail, what the server would load). "bytes" and "segments" cover
every segment file. When the log is damaged the report says where ("damage",
null when clean) and a warning goes to stderr; run `fluxkv aof check` for the
verdict. Exit status 0 unless the files cannot be read.

--json prints one object:
  {"aof_dir":"data/aof","segments":1,"bytes":1234,"records":27,
   "ops":{"set":26,"del":1,"expire":0,"evict":0,"flush":0},
   "first_seq":1,"last_seq":27,"first_ts_ms":1700000000000,"last_ts_ms":1700000000042,
   "distinct_keys":24,"key_bytes":250,"value_bytes":300,"damage":null}
first_*/last_* are null for an empty log; damage is
{"file":..,"offset":..,"reason":..,"torn_tail":true|false} when present.
distinct_keys counts keys named by any record (flush records name none);
key_bytes and value_bytes sum the lengths over all records."#;

/// Options of `aof stats`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatsArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Records per op.
#[derive(Debug, Default, Serialize)]
pub(crate) struct OpCounts {
    set: u64,
    del: u64,
    expire: u64,
    evict: u64,
    flush: u64,
}

/// Where the valid log ends, when it ends before the files do.
#[derive(Debug, Serialize)]
pub(crate) struct DamageReport {
    file: String,
    offset: u64,
    reason: String,
    torn_tail: bool,
}

/// The report.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Stats {
    aof_dir: String,
    segments: u64,
    bytes: u64,
    records: u64,
    ops: OpCounts,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
    first_ts_ms: Option<u64>,
    last_ts_ms: Option<u64>,
    distinct_keys: u64,
    key_bytes: u64,
    value_bytes: u64,
    damage: Option<DamageReport>,
    #[serde(skip)]
    keys: HashSet<Vec<u8>>,
}

impl Stats {
    fn add(&mut self, rec: RecordRef<'_>) {
        self.records += 1;
        *match rec.op {
            Op::Set => &mut self.ops.set,
            Op::Del => &mut self.ops.del,
            Op::Expire => &mut self.ops.expire,
            Op::Evict => &mut self.ops.evict,
            Op::Flush => &mut self.ops.flush,
        } += 1;
        self.first_seq.get_or_insert(rec.seq);
        self.last_seq = Some(rec.seq);
        self.first_ts_ms.get_or_insert(rec.ts_ms);
        self.last_ts_ms = Some(rec.ts_ms);
        self.key_bytes += rec.key.len() as u64;
        self.value_bytes += rec.value.map_or(0, |v| v.len() as u64);
        if rec.op != Op::Flush && !self.keys.contains(rec.key) {
            self.keys.insert(rec.key.to_vec());
        }
    }
}

/// Computes and prints the stats of the AOF in `dir`.
pub(crate) fn run(dir: &Path, args: &StatsArgs, out: &mut Out) -> anyhow::Result<()> {
    let mut stats = Stats::default();
    let log = LogCheck::read(dir, |rec| stats.add(rec))?;
    stats.aof_dir = dir.display().to_string();
    stats.segments = log.segments.len() as u64;
    stats.bytes = log.file_bytes();
    stats.distinct_keys = stats.keys.len() as u64;
    if let Some((index, finding)) = log.first_damage() {
        let file = log.segments[index].path().display().to_string();
        eprintln!(
            "warning: the log is damaged at {file} offset {}: {}; counting the {} records before it",
            finding.offset, finding.reason, stats.records
        );
        stats.damage = Some(DamageReport {
            file,
            offset: finding.offset,
            reason: finding.reason.clone(),
            torn_tail: finding.verdict == Verdict::TornTail,
        });
    }
    if args.json {
        let json = serde_json::to_vec(&stats)?;
        out.raw_line(&json)?;
    } else {
        print_table(&stats, out)?;
    }
    out.flush()
}

fn print_table(stats: &Stats, out: &mut Out) -> anyhow::Result<()> {
    let seqs = stats.first_seq.zip(stats.last_seq);
    let times = match (stats.first_ts_ms, stats.last_ts_ms) {
        (Some(first), Some(last)) => format!("{} .. {}", fmt_utc(first), fmt_utc(last)),
        _ => "-".to_string(),
    };
    let ops = &stats.ops;
    let rows: [(&str, String); 15] = [
        ("aof dir", stats.aof_dir.clone()),
        ("segments", stats.segments.to_string()),
        ("bytes", stats.bytes.to_string()),
        ("records", stats.records.to_string()),
        ("  set", ops.set.to_string()),
        ("  del", ops.del.to_string()),
        ("  expire", ops.expire.to_string()),
        ("  evict", ops.evict.to_string()),
        ("  flush", ops.flush.to_string()),
        ("seqs", super::seq_range(seqs)),
        ("time (UTC)", times),
        ("distinct keys", stats.distinct_keys.to_string()),
        ("key bytes", stats.key_bytes.to_string()),
        ("value bytes", stats.value_bytes.to_string()),
        (
            "damage",
            stats.damage.as_ref().map_or_else(
                || "none".to_string(),
                |d| {
                    let kind = if d.torn_tail {
                        "torn tail"
                    } else {
                        "corruption"
                    };
                    format!("{kind} at {} offset {}: {}", d.file, d.offset, d.reason)
                },
            ),
        ),
    ];
    for (name, value) in rows {
        out.line(format_args!("{name:<14} {value}"))?;
    }
    Ok(())
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian).
fn fmt_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::fmt_utc;

    #[test]
    fn formats_utc() {
        assert_eq!(fmt_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(fmt_utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(fmt_utc(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
    }
}
