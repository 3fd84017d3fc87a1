//! Reading the AOF back: the newest base, then every segment after it, in
//! order, with damage classified.
//!
//! The rule (as fjall's journal and redis-check-aof apply it): a record cut
//! short at the very end of the log is a write the crash interrupted — it
//! was never acknowledged, so it is truncated with a warning. Anything else
//! that fails to decode — a bad checksum followed by more valid records, a
//! damaged segment that is not the last, a gap in seqs — means acknowledged
//! data is damaged, and recovery refuses with the file and offset. Without
//! a base the log must start at seq 1; with one, the first segment read
//! must start at or before the seq after the base's.

use super::base::{self, BaseSummary};
use super::record::{self, DecodeError, RecordRef};
use super::segment::{self, HEADER_LEN, Segment};
use crate::error::{Result, StoreError};
use std::path::Path;

/// What reading one segment found.
#[derive(Debug)]
pub struct SegmentScan {
    /// The segment read.
    pub segment: Segment,
    /// Number of valid records.
    pub records: u64,
    /// Seq of the last valid record, if any.
    pub last_seq: Option<u64>,
    /// Length of the valid prefix (header plus whole, valid records).
    pub valid_len: u64,
    /// Length of the file.
    pub file_len: u64,
    /// Why the bytes after `valid_len` are not records, when there are any.
    pub damage: Option<Damage>,
}

/// Bytes at the end of a segment that are not valid records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Offset of the first bad byte.
    pub offset: u64,
    /// What is wrong there.
    pub reason: String,
    /// True when no valid record follows the damage, so it is a torn or
    /// garbage tail; false when valid records follow (mid-log corruption).
    pub tail_only: bool,
}

/// Reads a segment, calling `apply` for each valid record in order.
/// `expected_seq` is the seq the first record must carry (gap-free log).
pub fn scan_segment(
    segment: &Segment,
    bytes: &[u8],
    mut expected_seq: u64,
    mut apply: impl FnMut(RecordRef<'_>),
) -> SegmentScan {
    let mut scan = SegmentScan {
        segment: segment.clone(),
        records: 0,
        last_seq: None,
        valid_len: 0,
        file_len: bytes.len() as u64,
        damage: None,
    };
    if let Err(reason) = segment.validate_header(bytes) {
        // A header torn by a crash during creation leaves a short file of
        // zeros or a prefix of the magic; both are tails with nothing after.
        let tail_only = bytes.len() < HEADER_LEN
            && segment::MAGIC.starts_with(&bytes[..bytes.len().min(8)])
            || bytes.iter().all(|&b| b == 0);
        scan.damage = Some(Damage {
            offset: 0,
            reason,
            tail_only,
        });
        return scan;
    }
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        match record::decode(&bytes[pos..]) {
            Ok((rec, used)) if rec.seq == expected_seq => {
                apply(rec);
                scan.records += 1;
                scan.last_seq = Some(rec.seq);
                expected_seq += 1;
                pos += used;
            }
            Ok((rec, _)) => {
                scan.damage = Some(Damage {
                    offset: pos as u64,
                    reason: format!(
                        "record has seq {} where seq {expected_seq} was expected",
                        rec.seq
                    ),
                    tail_only: false,
                });
                break;
            }
            Err(err) => {
                let reason = match err {
                    DecodeError::Incomplete { needed } => format!(
                        "record is cut short ({} of {needed} bytes present)",
                        bytes.len() - pos
                    ),
                    DecodeError::Invalid(reason) => reason,
                };
                let tail_only = !valid_record_follows(&bytes[pos + 1..], expected_seq);
                scan.damage = Some(Damage {
                    offset: pos as u64,
                    reason,
                    tail_only,
                });
                break;
            }
        }
    }
    scan.valid_len = pos as u64;
    scan
}

/// Looks for any valid record with a seq at or after `expected_seq` later in
/// the buffer: if one exists, the damage before it is not a torn tail.
fn valid_record_follows(rest: &[u8], expected_seq: u64) -> bool {
    (0..rest.len()).any(
        |offset| matches!(record::decode(&rest[offset..]), Ok((rec, _)) if rec.seq >= expected_seq),
    )
}

/// The outcome of recovering a whole AOF directory.
#[derive(Debug)]
pub struct Recovered {
    /// The base the state starts from, if there is one.
    pub base: Option<BaseSummary>,
    /// Segments read, in order, each with what its scan found. Segments
    /// wholly covered by the base are history only and are not read.
    pub segments: Vec<SegmentScan>,
    /// Segment files in the directory, read or not.
    pub segment_files: u64,
    /// Seq of the last valid record (0 when the log is empty).
    pub last_seq: u64,
    /// Records applied from segments.
    pub records: u64,
    /// Bytes in segment files (valid prefixes of those read).
    pub bytes: u64,
}

/// Receives a recovered log as it is read: each valid record as the scan
/// meets it, then each segment's buffer once the segment is accepted.
pub trait SegmentSink {
    /// A valid record, at `offset` in the current segment's buffer.
    fn record(&mut self, offset: usize, rec: &RecordRef<'_>);

    /// The current segment is accepted; `bytes` holds all of it. The sink
    /// may keep the buffer (to share it with threads applying the records)
    /// and leave another in its place: whatever is left is cleared and
    /// reused to read the next segment.
    fn segment(&mut self, bytes: &mut Vec<u8>);
}

/// A sink that hands every record to a closure.
struct EachRecord<F>(F);

impl<F: FnMut(RecordRef<'_>)> SegmentSink for EachRecord<F> {
    fn record(&mut self, _offset: usize, rec: &RecordRef<'_>) {
        (self.0)(*rec);
    }

    fn segment(&mut self, _bytes: &mut Vec<u8>) {}
}

/// Reads the newest base (if any) and then every segment after it of `dir`,
/// in order, calling `apply` for each record (a base's key entries carry
/// seq 0).
///
/// Refuses (with file and offset) on any damage that is not a torn tail of
/// the last segment. A torn tail is reported in the result; truncating it is
/// the caller's decision (the server truncates, `aof check` only reports).
pub fn recover(dir: &Path, apply: impl FnMut(RecordRef<'_>)) -> Result<Recovered> {
    recover_segments(dir, &mut EachRecord(apply))
}

/// Like [`recover`], with a [`SegmentSink`]: the store's replay routes
/// records to threads during the scan and shares each segment's buffer
/// with them, so the scan decodes every record once.
pub fn recover_segments(dir: &Path, sink: &mut (impl SegmentSink + ?Sized)) -> Result<Recovered> {
    let base = match base::list(dir)?.pop() {
        Some(newest) => Some(base::load(&newest, sink)?),
        None => None,
    };
    let base_seq = base.map_or(0, |b| b.seq);
    let segments = segment::list(dir)?;
    let mut recovered = Recovered {
        base,
        segments: Vec::with_capacity(segments.len()),
        segment_files: segments.len() as u64,
        last_seq: base_seq,
        records: 0,
        bytes: 0,
    };
    // Segments whose every record the base already holds are history for
    // consumers, not state: they are not read.
    let covered = segments
        .windows(2)
        .take_while(|pair| pair[1].first_seq <= base_seq + 1)
        .count();
    for segment in &segments[..covered] {
        recovered.bytes += std::fs::metadata(&segment.path)
            .map_err(|e| StoreError::io("reading AOF segment", &segment.path, e))?
            .len();
    }
    let count = segments.len();
    // Buffers are reused (the sink hands older ones back): re-reading into
    // warm pages is much cheaper than faulting in 64 MiB per segment.
    let mut bytes = Vec::new();
    for (index, segment) in segments.into_iter().enumerate().skip(covered) {
        let expected = recovered.last_seq + 1;
        let continues = if index == covered {
            segment.first_seq <= expected && (base.is_some() || segment.first_seq == 1)
        } else {
            segment.first_seq == expected
        };
        if !continues {
            return Err(StoreError::Corrupt {
                path: segment.path,
                offset: 0,
                reason: format!(
                    "segment starts at seq {} but the state before it ends at seq {}: a segment or base is missing",
                    segment.first_seq, recovered.last_seq
                ),
            });
        }
        read_into(&segment.path, &mut bytes)?;
        let mut position = HEADER_LEN;
        let scan = scan_segment(&segment, &bytes, segment.first_seq, |rec| {
            if rec.seq > base_seq {
                sink.record(position, &rec);
            }
            position += record::encoded_len(&rec);
        });
        if let Some(damage) = &scan.damage {
            let is_last = index + 1 == count;
            if !(is_last && damage.tail_only) {
                return Err(StoreError::Corrupt {
                    path: segment.path,
                    offset: damage.offset,
                    reason: damage.reason.clone(),
                });
            }
        }
        sink.segment(&mut bytes);
        recovered.last_seq = recovered
            .last_seq
            .max(scan.last_seq.unwrap_or(segment.first_seq - 1));
        recovered.records += scan.last_seq.map_or(0, |last| {
            last.saturating_sub(base_seq.max(segment.first_seq - 1))
        });
        recovered.bytes += scan.valid_len;
        recovered.segments.push(scan);
    }
    Ok(recovered)
}

fn read_into(path: &Path, buf: &mut Vec<u8>) -> Result<()> {
    use std::io::Read;
    buf.clear();
    std::fs::File::open(path)
        .and_then(|mut file| file.read_to_end(buf))
        .map_err(|e| StoreError::io("reading AOF segment", path, e))?;
    Ok(())
}
