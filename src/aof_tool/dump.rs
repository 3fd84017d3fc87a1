//! `fluxkv aof dump`: records as JSON lines, one object per record, in log
//! order, optionally limited to a seq range and a key prefix.

use super::Out;
use super::scan::{Scanner, Verdict};
use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fluxkv_store::aof::record::{Op, RecordRef};
use serde::Serialize;
use std::borrow::Cow;
use std::path::Path;

/// The `--help` epilogue: the output format.
pub(crate) const AFTER_HELP: &str = r#"Output: one JSON object per line, in seq order:
  {"seq":7,"ts_ms":1700000000000,"op":"set","key":"user:1","value":"alice","expire_at_ms":1700000060000}
  {"seq":8,"ts_ms":1700000000005,"op":"del","key":"user:1"}
op is set, del, expire, evict or flush. "value" is present on set records
only, "expire_at_ms" only when the key has a deadline, "prev" (the value
before the change) only when before-images are on; flush records have the
key "". ts_ms and expire_at_ms are Unix milliseconds.

Encoding: "key", "value" and "prev" hold the bytes as UTF-8 text when all
are valid UTF-8. When any is not, all are base64 (standard alphabet,
padded) and the line has "encoding":"base64". Lines without "encoding" are
UTF-8 — the rule change events use too (docs/EVENTS.md).

--prefix matches the start of the raw key bytes; flush records (which remove
every key) are always included.

At the first damage (torn tail or corruption) dump prints every record before
it, then fails (exit status 1) naming the file and offset. With --from-seq
or --to-seq, segments that cannot hold the range are not read (nor checked);
`fluxkv aof check` reads them all."#;

/// Options of `aof dump`.
#[derive(Debug, clap::Args)]
pub(crate) struct DumpArgs {
    /// Only records with a seq at or above SEQ.
    #[arg(long, value_name = "SEQ")]
    pub(crate) from_seq: Option<u64>,
    /// Only records with a seq at or below SEQ.
    #[arg(long, value_name = "SEQ")]
    pub(crate) to_seq: Option<u64>,
    /// Only records whose key starts with PREFIX (and flush records).
    #[arg(long, value_name = "PREFIX")]
    pub(crate) prefix: Option<String>,
}

impl DumpArgs {
    fn wants(&self, rec: &RecordRef<'_>) -> bool {
        self.from_seq.is_none_or(|from| rec.seq >= from)
            && self.to_seq.is_none_or(|to| rec.seq <= to)
            && (rec.op == Op::Flush
                || self
                    .prefix
                    .as_ref()
                    .is_none_or(|prefix| rec.key.starts_with(prefix.as_bytes())))
    }
}

/// One output line.
#[derive(Debug, Serialize)]
pub(crate) struct DumpLine<'a> {
    seq: u64,
    ts_ms: u64,
    op: Op,
    key: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_at_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
}

impl<'a> DumpLine<'a> {
    /// The line for `rec`, in the encoding [`AFTER_HELP`] describes.
    pub(crate) fn new(rec: &RecordRef<'a>) -> DumpLine<'a> {
        let text = |bytes: &'a [u8]| std::str::from_utf8(bytes).map(Cow::Borrowed);
        let utf8 = (
            text(rec.key),
            rec.value.map(text).transpose(),
            rec.prev.map(text).transpose(),
        );
        let base64 = |bytes: &[u8]| Cow::Owned(STANDARD.encode(bytes));
        let (key, value, prev, encoding) = match utf8 {
            (Ok(key), Ok(value), Ok(prev)) => (key, value, prev, None),
            _ => (
                base64(rec.key),
                rec.value.map(base64),
                rec.prev.map(base64),
                Some("base64"),
            ),
        };
        DumpLine {
            seq: rec.seq,
            ts_ms: rec.ts_ms,
            op: rec.op,
            key,
            value,
            expire_at_ms: rec.expire_at_ms,
            prev,
            encoding,
        }
    }
}

/// Dumps the AOF in `dir` to `out`.
pub(crate) fn run(dir: &Path, args: &DumpArgs, out: &mut Out) -> anyhow::Result<()> {
    let mut scanner = Scanner::open(dir).context("listing the AOF segments")?;
    let mut buf = Vec::new();
    let mut printed = 0_u64;
    let mut failed: Option<anyhow::Error> = None;
    loop {
        let remaining = scanner.remaining();
        let Some(next) = remaining.first() else {
            break;
        };
        if args.to_seq.is_some_and(|to| next.first_seq > to) {
            break;
        }
        // Every record of this segment is below the next segment's first seq.
        if let (Some(from), Some(after)) = (args.from_seq, remaining.get(1))
            && after.first_seq <= from
        {
            scanner.skip();
            continue;
        }
        let segment = scanner
            .scan_next(|rec| {
                if failed.is_some() || out.closed() || !args.wants(&rec) {
                    return;
                }
                buf.clear();
                let written = serde_json::to_writer(&mut buf, &DumpLine::new(&rec))
                    .context("encoding a record as JSON")
                    .and_then(|()| out.raw_line(&buf));
                match written {
                    Ok(()) => printed += 1,
                    Err(err) => failed = Some(err),
                }
            })?
            .context("a segment was listed but not read")?;
        if let Some(err) = failed {
            return Err(err);
        }
        if out.closed() {
            // The reader has gone (`| head`): nothing more to do.
            return Ok(());
        }
        if let Some(finding) = &segment.finding {
            out.flush()?;
            let kind = match finding.verdict {
                Verdict::TornTail => "torn tail",
                _ => "corruption",
            };
            bail!(
                "{kind} in {} at offset {}: {} (stopped after {printed} records)",
                segment.path().display(),
                finding.offset,
                finding.reason
            );
        }
    }
    out.flush()
}
