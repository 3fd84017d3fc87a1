//! Reading an AOF directory the way recovery does, but to report instead of
//! refusing: every segment in log order, seq continuity across segments,
//! and each damage classified as the server would treat it.
//!
//! The rules are `fluxkv_store::aof::recovery`'s: damage is a *torn tail*
//! only when it is in the last segment and no valid record follows it (the
//! server truncates it on start); anything else — a bad record followed by
//! valid ones, a damaged segment that is not the last, a missing segment —
//! is *corruption* (the server refuses to start). Segments after the first
//! damage are still read, so a report can say what a repair would lose.

use fluxkv_store::StoreError;
use fluxkv_store::aof::record::{self, RecordRef};
use fluxkv_store::aof::recovery::{self, SegmentScan};
use fluxkv_store::aof::segment::{self, Segment};
use std::path::Path;

use anyhow::Context;

/// How the server treats what a scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing wrong.
    Clean,
    /// Only the end of the last segment is bad: the server truncates it.
    TornTail,
    /// Damage before the end of the log: the server refuses to start.
    Corrupt,
}

impl Verdict {
    /// The `aof check` exit status for this verdict.
    pub(crate) fn exit_code(self) -> i32 {
        match self {
            Verdict::Clean => 0,
            Verdict::TornTail => 1,
            Verdict::Corrupt => 2,
        }
    }
}

/// Damage in a segment, judged in the context of the whole log.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    /// Offset of the first byte that is not part of the valid log.
    pub(crate) offset: u64,
    /// What is wrong there.
    pub(crate) reason: String,
    /// [`Verdict::TornTail`] or [`Verdict::Corrupt`].
    pub(crate) verdict: Verdict,
}

/// Intact records found in bytes that are not part of the valid log, by
/// trying to decode a record at every offset (a frame's checksum makes a
/// false match all but impossible).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Salvage {
    /// Records that decode.
    pub(crate) records: u64,
    /// Lowest and highest seq among them.
    pub(crate) seqs: Option<(u64, u64)>,
}

impl Salvage {
    fn add(&mut self, records: u64, seqs: Option<(u64, u64)>) {
        self.records += records;
        self.seqs = match (self.seqs, seqs) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (a, b) => a.or(b),
        };
    }
}

/// One segment as the log sees it.
#[derive(Debug)]
pub(crate) struct SegmentCheck {
    /// The store's scan of the segment on its own.
    pub(crate) scan: SegmentScan,
    /// Damage in the log's terms: the scan's damage, classified, or a gap
    /// in seqs before this segment.
    pub(crate) finding: Option<Finding>,
    /// True when an earlier segment holds the log's first damage.
    pub(crate) after_damage: bool,
    /// True when this segment's valid records are part of the valid log
    /// (not after the first damage, not after a gap).
    pub(crate) in_log: bool,
    /// Bytes of the file a repair keeps (the valid log's part of it).
    pub(crate) keep_len: u64,
    /// Intact records in the bytes past `keep_len`.
    pub(crate) beyond: Salvage,
}

impl SegmentCheck {
    /// The segment file.
    pub(crate) fn path(&self) -> &Path {
        &self.scan.segment.path
    }

    /// The file's name, for tables.
    pub(crate) fn name(&self) -> String {
        self.path().file_name().map_or_else(
            || self.path().display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        )
    }

    /// Seqs of the valid records the segment starts with.
    pub(crate) fn seqs(&self) -> Option<(u64, u64)> {
        self.scan
            .last_seq
            .map(|last| (self.scan.segment.first_seq, last))
    }
}

/// Walks the segments of a directory one at a time.
#[derive(Debug)]
pub(crate) struct Scanner {
    segments: Vec<Segment>,
    next: usize,
    /// The seq the next segment must start at, when known.
    expected: Option<u64>,
    damaged: bool,
}

impl Scanner {
    /// Lists the segments of `dir`. A stray file in the directory is
    /// [`StoreError::Corrupt`], as it is for the server.
    pub(crate) fn open(dir: &Path) -> Result<Scanner, StoreError> {
        Ok(Scanner {
            segments: segment::list(dir)?,
            next: 0,
            expected: None,
            damaged: false,
        })
    }

    /// The segments not read yet.
    pub(crate) fn remaining(&self) -> &[Segment] {
        &self.segments[self.next..]
    }

    /// Passes over the next segment without reading it; the one after is
    /// then not checked for continuity.
    pub(crate) fn skip(&mut self) {
        self.next = (self.next + 1).min(self.segments.len());
        self.expected = None;
    }

    /// Reads the next segment, calling `apply` for each of its records that
    /// belongs to the valid log (before the first damage), in order.
    pub(crate) fn scan_next(
        &mut self,
        apply: impl FnMut(RecordRef<'_>),
    ) -> anyhow::Result<Option<SegmentCheck>> {
        let Some(segment) = self.segments.get(self.next).cloned() else {
            return Ok(None);
        };
        self.next += 1;
        let is_last = self.next == self.segments.len();
        let bytes = std::fs::read(&segment.path)
            .with_context(|| format!("reading AOF segment {}", segment.path.display()))?;
        let gap_after = self
            .expected
            .filter(|&expected| expected != segment.first_seq)
            .map(|expected| expected - 1);
        let after_damage = self.damaged;
        let in_log = !after_damage && gap_after.is_none();
        let first = segment.first_seq;
        let scan = if in_log {
            recovery::scan_segment(&segment, &bytes, first, apply)
        } else {
            recovery::scan_segment(&segment, &bytes, first, |_| {})
        };
        let finding = match (gap_after, &scan.damage) {
            (Some(previous_last), _) if !after_damage => Some(Finding {
                offset: 0,
                reason: format!(
                    "segment starts at seq {first} but the previous one ended at seq \
                     {previous_last}: a segment is missing"
                ),
                verdict: Verdict::Corrupt,
            }),
            (_, Some(damage)) if damage.tail_only && is_last => Some(Finding {
                offset: damage.offset,
                reason: damage.reason.clone(),
                verdict: Verdict::TornTail,
            }),
            (_, Some(damage)) if damage.tail_only => Some(Finding {
                offset: damage.offset,
                reason: format!(
                    "{} (no valid record follows in this segment, but later segments do, \
                     so it is not a torn write)",
                    damage.reason
                ),
                verdict: Verdict::Corrupt,
            }),
            (_, Some(damage)) => Some(Finding {
                offset: damage.offset,
                reason: damage.reason.clone(),
                verdict: Verdict::Corrupt,
            }),
            (_, None) => None,
        };
        let keep_len = if in_log { scan.valid_len } else { 0 };
        let beyond = salvage(bytes.get(keep_len as usize..).unwrap_or_default());
        if finding.is_some() {
            self.damaged = true;
        }
        self.expected = if self.damaged {
            None
        } else {
            Some(scan.last_seq.map_or(first, |last| last + 1))
        };
        Ok(Some(SegmentCheck {
            scan,
            finding,
            after_damage,
            in_log,
            keep_len,
            beyond,
        }))
    }
}

/// What a repair would drop: everything from the first damage on.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Loss {
    /// Intact records among the dropped bytes.
    pub(crate) records: u64,
    /// Their seqs (lowest, highest).
    pub(crate) seqs: Option<(u64, u64)>,
    /// Bytes dropped (truncated or moved aside).
    pub(crate) bytes: u64,
}

/// A whole directory, read.
#[derive(Debug)]
pub(crate) struct LogCheck {
    /// Its segments in order.
    pub(crate) segments: Vec<SegmentCheck>,
}

impl LogCheck {
    /// Reads every segment of `dir`, calling `apply` for each record of the
    /// valid log (the records before the first damage), in order.
    pub(crate) fn read(
        dir: &Path,
        mut apply: impl FnMut(RecordRef<'_>),
    ) -> anyhow::Result<LogCheck> {
        let mut scanner = Scanner::open(dir).context("listing the AOF segments")?;
        let mut segments = Vec::with_capacity(scanner.remaining().len());
        while let Some(segment) = scanner.scan_next(&mut apply)? {
            segments.push(segment);
        }
        Ok(LogCheck { segments })
    }

    /// The segment holding the first damage, and the damage.
    pub(crate) fn first_damage(&self) -> Option<(usize, &Finding)> {
        self.segments
            .iter()
            .enumerate()
            .find_map(|(index, segment)| segment.finding.as_ref().map(|f| (index, f)))
    }

    /// The verdict on the whole log: that of its first damage.
    pub(crate) fn verdict(&self) -> Verdict {
        self.first_damage()
            .map_or(Verdict::Clean, |(_, finding)| finding.verdict)
    }

    /// Records in the valid log.
    pub(crate) fn valid_records(&self) -> u64 {
        self.segments
            .iter()
            .filter(|s| s.in_log)
            .map(|s| s.scan.records)
            .sum()
    }

    /// Seqs of the valid log (first, last).
    pub(crate) fn valid_seqs(&self) -> Option<(u64, u64)> {
        let mut seqs = self
            .segments
            .iter()
            .filter(|s| s.in_log)
            .filter_map(SegmentCheck::seqs);
        let first = seqs.next()?;
        let last = seqs.next_back().unwrap_or(first);
        Some((first.0, last.1))
    }

    /// Bytes in all segment files.
    pub(crate) fn file_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.scan.file_len).sum()
    }

    /// What truncating at the first damage drops (nothing when clean).
    pub(crate) fn loss(&self) -> Loss {
        let mut loss = Loss::default();
        let mut salvage = Salvage::default();
        if let Some((first, _)) = self.first_damage() {
            for segment in &self.segments[first..] {
                loss.bytes += segment.scan.file_len - segment.keep_len;
                salvage.add(segment.beyond.records, segment.beyond.seqs);
            }
        }
        loss.records = salvage.records;
        loss.seqs = salvage.seqs;
        loss
    }

    /// One line: segment count, valid records, seqs, bytes.
    pub(crate) fn totals(&self) -> String {
        format!(
            "{} segments, {} records, seqs {}, {} bytes",
            self.segments.len(),
            self.valid_records(),
            super::seq_range(self.valid_seqs()),
            self.file_bytes()
        )
    }
}

/// Counts the records that decode anywhere in `buf`.
fn salvage(buf: &[u8]) -> Salvage {
    let mut found = Salvage::default();
    let mut pos = 0;
    while pos < buf.len() {
        match record::decode(&buf[pos..]) {
            Ok((rec, used)) => {
                found.add(1, Some((rec.seq, rec.seq)));
                pos += used;
            }
            Err(_) => pos += 1,
        }
    }
    found
}
