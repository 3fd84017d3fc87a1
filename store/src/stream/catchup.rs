//! Catching up from the AOF: a subscriber that is behind the ring reads
//! committed records back from the segment files, sequentially, from its
//! own position, until it reaches what the ring holds.

use crate::aof::record::{self, DecodeError};
use crate::aof::segment::{self, HEADER_LEN, Segment};
use crate::error::{Result, StoreError};
use crate::stream::ring::Batch;
use bytes::Bytes;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// Bytes read from a segment per call.
const CHUNK: usize = 1 << 20;

/// A reading position in the AOF.
#[derive(Debug)]
pub(crate) struct CatchUp {
    dir: PathBuf,
    segment: Segment,
    file: File,
    offset: u64,
    /// The seq of the record at `offset`.
    seq_at_offset: u64,
}

impl CatchUp {
    /// Positions a reader at the segment holding `from_seq`.
    pub(crate) fn open(dir: PathBuf, from_seq: u64) -> Result<CatchUp> {
        let segments = segment::list(&dir)?;
        let oldest = segments.first().map_or(1, |s| s.first_seq);
        let segment = segments
            .into_iter()
            .rev()
            .find(|s| s.first_seq <= from_seq)
            .ok_or(StoreError::SeqUnavailable {
                requested: from_seq,
                oldest,
            })?;
        let file = File::open(&segment.path)
            .map_err(|e| StoreError::io("opening AOF segment", &segment.path, e))?;
        Ok(CatchUp {
            dir,
            seq_at_offset: segment.first_seq,
            segment,
            file,
            offset: HEADER_LEN as u64,
        })
    }

    /// Reads the next committed records, skipping those before `from_seq`
    /// and stopping after `up_to`. `None` when nothing more is readable now.
    /// Blocking I/O: call it from a blocking thread.
    pub(crate) fn read(&mut self, from_seq: u64, up_to: u64) -> Result<Option<Batch>> {
        let mut want = CHUNK;
        loop {
            let mut chunk = vec![0; want];
            let filled = self.read_at(&mut chunk)?;
            chunk.truncate(filled);
            let walked = self.walk(&chunk, from_seq, up_to)?;
            if let Some((first, last)) = walked.seqs {
                let frames = Bytes::from(chunk).slice(walked.start..walked.end);
                return Ok(Some(Batch {
                    first_seq: first,
                    last_seq: last,
                    frames,
                }));
            }
            if walked.end > 0 {
                want = CHUNK;
                continue; // only records before `from_seq` so far
            }
            match walked.needed {
                // One frame larger than the chunk: read it whole.
                Some(needed) if needed > want && filled == want => want = needed,
                // A frame still being written, past the committed seq.
                Some(_) => return Ok(None),
                // The end of this segment: on to the next, if there is one.
                None if self.seq_at_offset <= up_to && self.next_segment()? => want = CHUNK,
                None => return Ok(None),
            }
        }
    }

    fn read_at(&self, buf: &mut [u8]) -> Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            let n = self
                .file
                .read_at(&mut buf[filled..], self.offset + filled as u64)
                .map_err(|e| StoreError::io("reading AOF segment", &self.segment.path, e))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        Ok(filled)
    }

    /// Walks the complete frames of `chunk` (read at the current offset),
    /// advancing the position past each, up to the record after `up_to`.
    fn walk(&mut self, chunk: &[u8], from_seq: u64, up_to: u64) -> Result<Walked> {
        let mut walked = Walked::default();
        while walked.end < chunk.len() && self.seq_at_offset <= up_to {
            let (rec, used) = match record::decode(&chunk[walked.end..]) {
                Ok(decoded) => decoded,
                Err(DecodeError::Incomplete { needed }) => {
                    walked.needed = Some(needed);
                    break;
                }
                Err(DecodeError::Invalid(reason)) => {
                    return Err(StoreError::Corrupt {
                        path: self.segment.path.clone(),
                        offset: self.offset,
                        reason,
                    });
                }
            };
            if rec.seq < from_seq {
                walked.start = walked.end + used;
            } else {
                let first = walked.seqs.map_or(rec.seq, |(first, _)| first);
                walked.seqs = Some((first, rec.seq));
            }
            walked.end += used;
            self.offset += used as u64;
            self.seq_at_offset = rec.seq + 1;
        }
        Ok(walked)
    }

    /// Moves to the segment starting at `seq_at_offset`, if it exists yet.
    /// If it does not but a later one does, retention deleted the history
    /// this reader was about to read: it cannot go on without a gap.
    fn next_segment(&mut self) -> Result<bool> {
        let next = Segment::at(&self.dir, self.seq_at_offset);
        let file = match File::open(&next.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let segments = segment::list(&self.dir)?;
                return match segments.first() {
                    Some(oldest) if oldest.first_seq > self.seq_at_offset => {
                        Err(StoreError::SeqUnavailable {
                            requested: self.seq_at_offset,
                            oldest: oldest.first_seq,
                        })
                    }
                    _ => Ok(false),
                };
            }
            Err(e) => return Err(StoreError::io("opening AOF segment", &next.path, e)),
        };
        self.segment = next;
        self.file = file;
        self.offset = HEADER_LEN as u64;
        Ok(true)
    }
}

/// What one walk over a chunk found.
#[derive(Debug, Default)]
struct Walked {
    /// Byte range of the records at or after `from_seq`.
    start: usize,
    end: usize,
    /// Their first and last seqs, if any.
    seqs: Option<(u64, u64)>,
    /// The walk stopped at an incomplete frame of this many bytes.
    needed: Option<usize>,
}
