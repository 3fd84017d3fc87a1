//! `fluxkv aof check`: read every segment and say what the server would do
//! with the log — start, truncate a torn tail, or refuse — as a report and
//! as the exit status.

use super::Out;
use super::scan::{LogCheck, SegmentCheck, Verdict};
use fluxkv_store::StoreError;
use fluxkv_store::aof::base::{self, Discard};
use std::path::Path;

/// Exit status when the check itself could not run.
pub(crate) const EXIT_UNABLE: i32 = 3;

/// The `--help` epilogue: the exit-status contract.
pub(crate) const AFTER_HELP: &str = "\
Prints one line per segment (file, records, seq range, bytes, state), a line
for each damage (file, offset, reason, torn tail or corruption) and a final
summary line.

Exit status:
  0  clean: every segment decodes and seqs run on without a gap
  1  torn tail only: the last segment ends in an incomplete or garbage record
     that no valid record follows. The server truncates it on start (the cut
     write was never acknowledged); `fluxkv aof repair` truncates it now.
  2  corrupt: damage before the end of the log (a bad record that valid
     records follow, a damaged segment that is not the last, a missing
     segment, a stray file in the AOF directory). The server refuses to
     start; see `fluxkv aof repair --help`.
  3  the check could not run (e.g. the directory or a file is unreadable)";

/// Checks the AOF in `dir`, prints the report, and returns the exit status.
pub(crate) fn run(dir: &Path, out: &mut Out) -> anyhow::Result<i32> {
    let log = match LogCheck::read(dir, |_| {}) {
        Ok(log) => log,
        Err(err) => match err.downcast_ref::<StoreError>() {
            Some(StoreError::Corrupt { path, reason, .. }) => {
                // The server refuses a directory with stray files in it.
                out.line(format_args!(
                    "CORRUPT: {}: {reason}; the server refuses to start until it is moved out",
                    path.display()
                ))?;
                return Ok(Verdict::Corrupt.exit_code());
            }
            _ => return Err(err),
        },
    };
    out.line(format_args!(
        "AOF directory {} ({} segments)",
        dir.display(),
        log.segments.len()
    ))?;
    // The server starts from the newest base: it must be whole.
    if let Some(newest) = base::list(dir)?.pop() {
        match base::load(&newest, &mut Discard) {
            Ok(b) => out.line(format_args!(
                "{}  keys {:>8}  fix-ups {:>8}  seq {:<16}  bytes {:>11}  ok",
                newest.path.display(),
                b.keys,
                b.fixups,
                b.seq,
                b.bytes
            ))?,
            Err(err) => {
                out.line(format_args!(
                    "CORRUPT: base {err}; the server refuses to start"
                ))?;
                return Ok(Verdict::Corrupt.exit_code());
            }
        }
    }
    for segment in &log.segments {
        report_segment(segment, out)?;
    }
    let verdict = log.verdict();
    let loss = log.loss();
    match log.first_damage() {
        None => out.line(format_args!("clean: {}", log.totals()))?,
        Some((index, finding)) => {
            let path = log.segments[index].path().display();
            let offset = finding.offset;
            match verdict {
                Verdict::TornTail if log.segments[index].keep_len == 0 => {
                    out.line(format_args!(
                        "torn tail: {}; {path} has no complete header, the server replaces it \
                     on start (`fluxkv aof repair` moves it aside now)",
                        log.totals()
                    ))?
                }
                Verdict::TornTail => out.line(format_args!(
                    "torn tail: {}; the server truncates {} bytes at {path} offset {offset} \
                     on start (`fluxkv aof repair` does it now)",
                    log.totals(),
                    loss.bytes
                ))?,
                _ => out.line(format_args!(
                    "CORRUPT: {}; first damage at {path} offset {offset}; the server refuses \
                     to start; `fluxkv aof repair --yes` would drop {} intact records \
                     (seqs {}) and {} bytes",
                    log.totals(),
                    loss.records,
                    super::seq_range(loss.seqs),
                    loss.bytes
                ))?,
            }
        }
    }
    Ok(verdict.exit_code())
}

fn report_segment(segment: &SegmentCheck, out: &mut Out) -> anyhow::Result<()> {
    let state = match &segment.finding {
        _ if segment.after_damage => "after the first damage: not part of the valid log",
        None => "ok",
        Some(finding) if finding.verdict == Verdict::TornTail => "TORN TAIL",
        Some(_) => "CORRUPT",
    };
    out.line(format_args!(
        "{}  records {:>8}  seqs {:<23}  bytes {:>11}  {state}",
        segment.name(),
        segment.scan.records,
        super::seq_range(segment.seqs()),
        segment.scan.file_len,
    ))?;
    if let Some(finding) = &segment.finding {
        let kind = match finding.verdict {
            Verdict::TornTail => "torn tail (the server truncates it)",
            _ => "mid-log corruption (the server refuses to start)",
        };
        out.line(format_args!(
            "  damage: {} offset {}: {}: {kind}",
            segment.path().display(),
            finding.offset,
            finding.reason
        ))?;
    }
    Ok(())
}
