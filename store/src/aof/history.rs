//! Reading a stretch of history back from the AOF segments: committed
//! records in seq order, in large chunks, for tools that deliver it again
//! (`fluxkv replay`).
//!
//! The reader never opens the store and never writes, so it works on a data
//! directory at rest and under a running node alike. It returns what is on
//! disk when it reads: a frame cut short at the end of the newest segment is
//! a write in progress (or a crash's torn tail) and ends the history for
//! now, while the same cut in a segment that a later one follows is damage.
//! History deleted under it (retention, a rewrite) is
//! [`StoreError::SeqUnavailable`]. Bases (`*.base`) hold state, not
//! history: only `.aof` segments are read.
//!
//! Speed is the point: one read takes up to [`DEFAULT_CHUNK_BYTES`] in one
//! or two syscalls, every frame is validated once (checksum and seq
//! continuity), and a chunk's records share its buffer, so turning them
//! into change events copies nothing.

use super::record::{self, DecodeError, RecordRef};
use super::recovery;
use super::segment::{self, HEADER_LEN, Segment};
use crate::error::{Result, StoreError};
use crate::stream::Identity;
use bytes::Bytes;
use fluxkv_schemas::ChangeEvent;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bytes one read asks for, unless [`HistoryReader::chunk_bytes`] says
/// otherwise: large enough that syscalls cost nothing per record, small
/// enough to stay in cache while the chunk is consumed.
pub const DEFAULT_CHUNK_BYTES: usize = 4 << 20;

/// Reads committed records from a seq on, chunk by chunk.
#[derive(Debug)]
pub struct HistoryReader {
    dir: PathBuf,
    /// Records below this seq are read (to find the start) but not returned.
    from_seq: u64,
    /// The seq the next record on disk must carry.
    next_seq: u64,
    chunk_bytes: usize,
    /// The segment being read; `None` between segments.
    current: Option<Cursor>,
    /// Bytes consumed so far, headers and skipped records included.
    bytes_read: u64,
    /// The log ends in a crash's torn tail: nothing more will come.
    torn: bool,
}

/// A position in one segment file, read sequentially.
#[derive(Debug)]
struct Cursor {
    segment: Segment,
    file: File,
    /// File offset of `tail[0]` (of the next byte to read when it is empty).
    offset: u64,
    /// Bytes read but not handed out: the start of a frame a read cut.
    tail: Vec<u8>,
    /// A later segment exists, so this one is complete and will not grow.
    sealed: bool,
}

/// Consecutive committed records, sharing one buffer.
#[derive(Debug, Clone)]
pub struct HistoryChunk {
    frames: Bytes,
    first_seq: u64,
    last_seq: u64,
}

impl HistoryReader {
    /// Positions a reader at `from_seq` in the AOF directory `aof_dir`
    /// (`<data_dir>/aof`); `from_seq` 0 means the oldest seq still there.
    /// Fails with [`StoreError::SeqUnavailable`] when the AOF no longer
    /// holds `from_seq`. A seq past the end is not an error: the reader
    /// returns records once they are written.
    pub fn open(aof_dir: &Path, from_seq: u64) -> Result<HistoryReader> {
        let segments = segment::list(aof_dir)?;
        let oldest = segments.first().map_or(1, |s| s.first_seq);
        let from_seq = if from_seq == 0 { oldest } else { from_seq };
        if from_seq < oldest {
            return Err(StoreError::SeqUnavailable {
                requested: from_seq,
                oldest,
            });
        }
        let start = segments.iter().rev().find(|s| s.first_seq <= from_seq);
        let mut reader = HistoryReader {
            dir: aof_dir.to_path_buf(),
            from_seq,
            // An empty directory: the first segment a node creates is seq 1's.
            next_seq: start.map_or(1, |s| s.first_seq),
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            current: None,
            bytes_read: 0,
            torn: false,
        };
        if start.is_some() && !reader.open_next()? {
            // Listed a moment ago, gone now: deleted under us.
            return Err(reader.deleted());
        }
        Ok(reader)
    }

    /// Sets the size of one read (at least one page). A record larger than
    /// this is still read, whole.
    pub fn chunk_bytes(mut self, bytes: usize) -> HistoryReader {
        self.chunk_bytes = bytes.max(4096);
        self
    }

    /// The seq of the next record this reader returns.
    pub fn next_seq(&self) -> u64 {
        self.next_seq.max(self.from_seq)
    }

    /// Bytes of segment files consumed so far (headers and records before
    /// the start seq included).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Bytes on disk from the reader's position to the end of the log, as
    /// of now: with [`HistoryReader::bytes_read`], a progress estimate.
    /// Blocking: it lists the directory.
    pub fn bytes_ahead(&self) -> Result<u64> {
        let (first, consumed) = match &self.current {
            Some(c) => (c.segment.first_seq, c.offset),
            None => (self.next_seq, 0),
        };
        let mut ahead = 0;
        for s in segment::list(&self.dir)?
            .iter()
            .filter(|s| s.first_seq >= first)
        {
            // A segment deleted since the listing has nothing ahead.
            let len = std::fs::metadata(&s.path).map_or(0, |m| m.len());
            ahead += if s.first_seq == first {
                len.saturating_sub(consumed)
            } else {
                len
            };
        }
        Ok(ahead)
    }

    /// The next records, or `None` at the end of what is on disk now (call
    /// again later to follow a running node). Blocking I/O.
    pub fn next_chunk(&mut self) -> Result<Option<HistoryChunk>> {
        let mut want = self.chunk_bytes;
        loop {
            if self.torn {
                return Ok(None);
            }
            let Some(cursor) = self.current.as_mut() else {
                if self.open_next()? {
                    continue;
                }
                return Ok(None);
            };
            let buf = cursor.read(want)?;
            let filled = buf.len() >= want;
            let header = (cursor.offset == 0).then_some(&cursor.segment);
            let walk = walk(&buf, header, &mut self.next_seq, self.from_seq);
            if walk.end > 0 {
                let frames = cursor.consume(buf, walk.end);
                self.bytes_read += walk.end as u64;
                if let Some((start, first_seq)) = walk.selected {
                    return Ok(Some(HistoryChunk {
                        frames: frames.slice(start..walk.end),
                        first_seq,
                        last_seq: self.next_seq - 1,
                    }));
                }
                want = self.chunk_bytes;
                continue; // only records before `from_seq` so far
            }
            // Nothing whole at the front of the buffer.
            match walk.stop {
                Some(Stop::Invalid(reason)) => {
                    cursor.tail = buf;
                    return self.damaged(reason);
                }
                // One frame larger than the read: read it whole.
                Some(Stop::Incomplete { needed }) if filled && needed > buf.len() => {
                    cursor.tail = buf;
                    want = needed;
                }
                _ if cursor.sealed => {
                    if !buf.is_empty() {
                        return Err(StoreError::Corrupt {
                            path: cursor.segment.path.clone(),
                            offset: cursor.offset,
                            reason: format!(
                                "the segment ends in a record cut short ({} bytes), yet a later \
                                 segment follows it",
                                buf.len()
                            ),
                        });
                    }
                    self.current = None;
                }
                _ => {
                    cursor.tail = buf;
                    if !self.log_continues()? {
                        return Ok(None);
                    }
                    // The writer finishes a segment before it starts the
                    // next: one more read gets this one's last records.
                    if let Some(cursor) = self.current.as_mut() {
                        cursor.sealed = true;
                    }
                }
            }
        }
    }

    /// Opens the segment starting at `next_seq`. False when there is none
    /// (yet); an error when the log goes on only after a gap.
    fn open_next(&mut self) -> Result<bool> {
        let next = Segment::at(&self.dir, self.next_seq);
        match File::open(&next.path) {
            Ok(file) => {
                self.current = Some(Cursor {
                    segment: next,
                    file,
                    offset: 0,
                    tail: Vec::new(),
                    sealed: false,
                });
                Ok(true)
            }
            // Not there: the end of the log, or one created since (the
            // caller tries again), or a gap (an error).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.current = None;
                self.log_continues()
            }
            Err(e) => Err(StoreError::io("opening AOF segment", &next.path, e)),
        }
    }

    /// At the end of what is on disk: whether the log goes on in a segment
    /// starting at `next_seq`. Fails when it goes on only later: the
    /// history in between was deleted under the reader, or is missing.
    fn log_continues(&self) -> Result<bool> {
        let reading = self.current.as_ref().map(|c| c.segment.first_seq);
        let segments = segment::list(&self.dir)?;
        let later = segments
            .iter()
            .find(|s| s.first_seq >= self.next_seq && Some(s.first_seq) != reading);
        match later {
            None => Ok(false),
            Some(s) if s.first_seq == self.next_seq => Ok(true),
            // Every segment is past us, the one being read included.
            Some(_) if segments[0].first_seq > self.next_seq => Err(self.deleted()),
            Some(s) => Err(StoreError::Corrupt {
                path: Segment::at(&self.dir, self.next_seq).path,
                offset: 0,
                reason: format!(
                    "the segment holding seq {} is missing; the log goes on at seq {} in {}",
                    self.next_seq,
                    s.first_seq,
                    s.path.display()
                ),
            }),
        }
    }

    /// The error for history deleted under the reader.
    fn deleted(&self) -> StoreError {
        let oldest = segment::list(&self.dir)
            .ok()
            .and_then(|s| s.first().map(|s| s.first_seq));
        let requested = self.next_seq();
        StoreError::SeqUnavailable {
            requested,
            oldest: oldest.unwrap_or(requested + 1),
        }
    }

    /// A frame that is not a record at the current position. A crash can
    /// leave garbage after the last write (a power cut's zeroed pages):
    /// when it is the last segment and no valid record follows, that is
    /// the torn tail recovery truncates on the next start, and the end of
    /// history. Anything else is corruption.
    fn damaged(&mut self, reason: String) -> Result<Option<HistoryChunk>> {
        let cursor = self.current.as_ref().expect("reading a segment");
        let corrupt = StoreError::Corrupt {
            path: cursor.segment.path.clone(),
            offset: cursor.offset,
            reason,
        };
        if cursor.sealed || self.log_continues()? {
            return Err(corrupt);
        }
        let path = &cursor.segment.path;
        let bytes =
            std::fs::read(path).map_err(|e| StoreError::io("reading AOF segment", path, e))?;
        let scan =
            recovery::scan_segment(&cursor.segment, &bytes, cursor.segment.first_seq, |_| {});
        match scan.damage {
            Some(d) if d.tail_only && d.offset == cursor.offset => {
                tracing::warn!(file = %path.display(), offset = d.offset, reason = d.reason,
                    "the AOF ends in a torn tail; history ends there");
                self.torn = true;
                Ok(None)
            }
            _ => Err(corrupt),
        }
    }
}

impl Cursor {
    /// Reads up to `want` bytes from the tail's offset on (the tail first).
    fn read(&mut self, want: usize) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(want.max(self.tail.len()));
        buf.append(&mut self.tail);
        let room = buf.capacity() - buf.len();
        (&self.file)
            .take(room as u64)
            .read_to_end(&mut buf)
            .map_err(|e| StoreError::io("reading AOF segment", &self.segment.path, e))?;
        Ok(buf)
    }

    /// Hands out `buf[..end]`; the rest is read again as the next tail.
    fn consume(&mut self, mut buf: Vec<u8>, end: usize) -> Bytes {
        self.tail = buf.split_off(end);
        self.offset += end as u64;
        Bytes::from(buf)
    }
}

/// Why a walk stopped before the end of its buffer.
#[derive(Debug)]
enum Stop {
    /// The buffer ends inside a frame of this many bytes (or the header).
    Incomplete { needed: usize },
    /// Not a record, or not the seq that must come next.
    Invalid(String),
}

/// What one walk over a buffer found.
#[derive(Debug)]
struct Walk {
    /// Length of the whole, valid frames (and header) at its front.
    end: usize,
    /// Offset and seq of the first record at or after `from_seq`.
    selected: Option<(usize, u64)>,
    stop: Option<Stop>,
}

/// Validates the frames at the front of `buf` — after the segment header
/// when `header` names the segment the buffer starts — advancing
/// `next_seq` past each.
fn walk(buf: &[u8], header: Option<&Segment>, next_seq: &mut u64, from_seq: u64) -> Walk {
    let mut walk = Walk {
        end: 0,
        selected: None,
        stop: None,
    };
    if let Some(segment) = header {
        if buf.len() < HEADER_LEN {
            walk.stop = Some(Stop::Incomplete { needed: HEADER_LEN });
            return walk;
        }
        if let Err(reason) = segment.validate_header(buf) {
            walk.stop = Some(Stop::Invalid(reason));
            return walk;
        }
        walk.end = HEADER_LEN;
    }
    while walk.end < buf.len() {
        let stop = match record::decode(&buf[walk.end..]) {
            Ok((rec, used)) if rec.seq == *next_seq => {
                if rec.seq >= from_seq && walk.selected.is_none() {
                    walk.selected = Some((walk.end, rec.seq));
                }
                walk.end += used;
                *next_seq += 1;
                continue;
            }
            Ok((rec, _)) => Stop::Invalid(format!(
                "record has seq {} where seq {next_seq} was expected",
                rec.seq
            )),
            Err(DecodeError::Incomplete { needed }) => Stop::Incomplete { needed },
            Err(DecodeError::Invalid(reason)) => Stop::Invalid(reason),
        };
        walk.stop = Some(stop);
        break;
    }
    walk
}

impl HistoryChunk {
    /// Seq of the first record.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Seq of the last record.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Number of records (seqs are consecutive).
    pub fn len(&self) -> u64 {
        self.last_seq - self.first_seq + 1
    }

    /// Always false: a chunk holds at least one record.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Size of the records' frames in bytes.
    pub fn frame_bytes(&self) -> usize {
        self.frames.len()
    }

    /// The records, in seq order, borrowing from the chunk.
    pub fn records(&self) -> impl Iterator<Item = RecordRef<'_>> + '_ {
        let mut pos = 0;
        std::iter::from_fn(move || {
            let rest = self.frames.get(pos..).filter(|rest| !rest.is_empty())?;
            let (rec, used) = record::decode_trusted(rest);
            pos += used;
            Some(rec)
        })
    }

    /// The records as change events stamped with `identity`; keys and
    /// values share the chunk's buffer.
    pub fn events<'a>(&'a self, identity: &'a Identity) -> impl Iterator<Item = ChangeEvent> + 'a {
        self.records()
            .map(move |rec| identity.event(&rec, &self.frames))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AofOptions, Clock, FsyncPolicy, SetOptions, Store, StoreOptions};
    use fluxkv_schemas::Op;
    use std::io::Write;

    const START_MS: u64 = 1_700_000_000_000;

    /// What a record must hold: (seq, op, key, value).
    type Expected = Vec<(u64, Op, Vec<u8>, Option<Vec<u8>>)>;

    fn open_store(data_dir: &Path, segment_bytes: u64) -> Store {
        let options = StoreOptions {
            shards: 4,
            aof: AofOptions {
                fsync: FsyncPolicy::No,
                segment_bytes,
                ..AofOptions::default()
            },
            clock: Clock::manual(START_MS),
            ..StoreOptions::default()
        };
        Store::open(data_dir, options).expect("open store").0
    }

    /// Sets, a few dels, one flush and one value far larger than a read,
    /// each written before the next (so segments rotate as they fill);
    /// appends what each seq holds to `expected`.
    fn write(store: &Store, count: u64, expected: &mut Expected) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for i in 0..count {
            let key = format!("key:{}", i % 50).into_bytes();
            let (seq, op, key, value) = if i == count / 2 {
                let seq = store.flush_all().unwrap().seq;
                (seq, Op::Flush, Vec::new(), None)
            } else if i % 17 == 16 {
                (store.del(&[&key]).unwrap().seq, Op::Del, key, None)
            } else {
                let len = if i == 7 {
                    20_000
                } else {
                    10 + (i % 90) as usize
                };
                let value = vec![b'a' + (i % 26) as u8; len];
                let seq = store.set(&key, &value, SetOptions::default()).unwrap().seq;
                (seq, Op::Set, key, Some(value))
            };
            // A del of a missing key logs nothing.
            if let Some(seq) = seq {
                rt.block_on(store.wait_committed(seq)).unwrap();
                expected.push((seq, op, key, value));
            }
        }
    }

    fn written(data_dir: &Path, count: u64, segment_bytes: u64) -> Expected {
        let store = open_store(data_dir, segment_bytes);
        let mut expected = Vec::new();
        write(&store, count, &mut expected);
        store.close().unwrap();
        expected
    }

    fn read_all(reader: &mut HistoryReader) -> Result<Expected> {
        let mut out = Vec::new();
        while let Some(chunk) = reader.next_chunk()? {
            assert_eq!(chunk.records().count() as u64, chunk.len());
            for rec in chunk.records() {
                out.push((
                    rec.seq,
                    rec.op,
                    rec.key.to_vec(),
                    rec.value.map(<[u8]>::to_vec),
                ));
            }
        }
        Ok(out)
    }

    fn segments(data_dir: &Path) -> Vec<Segment> {
        segment::list(&data_dir.join("aof")).unwrap()
    }

    #[test]
    fn reads_every_record_in_order_across_segments_and_chunk_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let expected = written(dir.path(), 2_000, 8 << 10);
        assert!(segments(dir.path()).len() > 5);
        for chunk in [1, 4096, 5000, 64 << 10, DEFAULT_CHUNK_BYTES] {
            let mut reader = HistoryReader::open(&dir.path().join("aof"), 0)
                .unwrap()
                .chunk_bytes(chunk);
            assert_eq!(read_all(&mut reader).unwrap(), expected, "chunk {chunk}");
            assert_eq!(reader.bytes_ahead().unwrap(), 0);
            let files: u64 = segments(dir.path())
                .iter()
                .map(|s| std::fs::metadata(&s.path).unwrap().len())
                .sum();
            assert_eq!(reader.bytes_read(), files);
        }
    }

    #[test]
    fn starts_at_any_seq_and_past_the_end_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let expected = written(dir.path(), 500, 4 << 10);
        let aof = dir.path().join("aof");
        let last = expected.len() as u64;
        for from in [1, 2, 137, 250, last - 1, last] {
            let mut reader = HistoryReader::open(&aof, from).unwrap().chunk_bytes(4096);
            assert_eq!(reader.next_seq(), from);
            let got = read_all(&mut reader).unwrap();
            assert_eq!(got, expected[from as usize - 1..], "from {from}");
        }
        let mut reader = HistoryReader::open(&aof, 10_000).unwrap();
        assert!(reader.next_chunk().unwrap().is_none());
    }

    #[test]
    fn events_carry_the_identity_and_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let expected = written(dir.path(), 40, 64 << 20);
        let identity = Identity {
            node: "node-a".into(),
            epoch: 3,
        };
        let mut reader = HistoryReader::open(&dir.path().join("aof"), 1).unwrap();
        let chunk = reader.next_chunk().unwrap().unwrap();
        let events: Vec<ChangeEvent> = chunk.events(&identity).collect();
        assert_eq!(events.len(), expected.len());
        for (event, (seq, op, key, value)) in events.iter().zip(&expected) {
            assert_eq!((&*event.node, event.epoch), ("node-a", 3));
            assert_eq!((event.seq, event.op), (*seq, *op));
            assert_eq!(event.ts_ms, START_MS);
            assert_eq!(&event.key[..], &key[..]);
            assert_eq!(event.value.as_deref(), value.as_deref());
        }
    }

    #[test]
    fn history_older_than_the_oldest_segment_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        written(dir.path(), 500, 4 << 10);
        let first = segments(dir.path()).remove(0);
        std::fs::remove_file(&first.path).unwrap();
        let oldest = segments(dir.path())[0].first_seq;
        let err = HistoryReader::open(&dir.path().join("aof"), 1).unwrap_err();
        assert!(
            matches!(err, StoreError::SeqUnavailable { requested: 1, oldest: o } if o == oldest),
            "{err}"
        );
        // 0 is "the oldest there is".
        let mut reader = HistoryReader::open(&dir.path().join("aof"), 0).unwrap();
        assert_eq!(read_all(&mut reader).unwrap()[0].0, oldest);
    }

    #[test]
    fn segments_deleted_while_reading_are_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        written(dir.path(), 500, 4 << 10);
        let mut reader = HistoryReader::open(&dir.path().join("aof"), 1)
            .unwrap()
            .chunk_bytes(4096);
        // Retention deletes the oldest segments, the one being read
        // included (its open file stays readable).
        let all = segments(dir.path());
        for s in &all[..3] {
            std::fs::remove_file(&s.path).unwrap();
        }
        let err = read_all(&mut reader).unwrap_err();
        match err {
            StoreError::SeqUnavailable { requested, oldest } => {
                assert_eq!(requested, all[1].first_seq);
                assert_eq!(oldest, all[3].first_seq);
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_missing_middle_segment_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        written(dir.path(), 500, 4 << 10);
        let all = segments(dir.path());
        std::fs::remove_file(&all[2].path).unwrap();
        let mut reader = HistoryReader::open(&dir.path().join("aof"), 1).unwrap();
        let err = read_all(&mut reader).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("missing"), "{err}");
    }

    fn append(path: &Path, bytes: &[u8]) {
        let mut file = File::options().append(true).open(path).unwrap();
        file.write_all(bytes).unwrap();
    }

    /// A frame for `seq`, to cut or corrupt.
    fn frame(seq: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        record::encode(
            &mut buf,
            &RecordRef {
                seq,
                ts_ms: START_MS,
                op: Op::Set,
                key: b"torn",
                value: Some(b"value"),
                expire_at_ms: None,
                prev: None,
            },
        );
        buf
    }

    #[test]
    fn a_torn_tail_of_the_last_segment_ends_history() {
        let dir = tempfile::tempdir().unwrap();
        let expected = written(dir.path(), 300, 4 << 10);
        let last = segments(dir.path()).pop().unwrap();
        let next = expected.len() as u64 + 1;
        append(&last.path, &frame(next)[..20]);
        let mut reader = HistoryReader::open(&dir.path().join("aof"), 1).unwrap();
        assert_eq!(read_all(&mut reader).unwrap(), expected);
        // Zeroed pages after a power cut: garbage, not a short frame.
        append(&last.path, &[0; 100]);
        let mut reader = HistoryReader::open(&dir.path().join("aof"), 1).unwrap();
        assert_eq!(read_all(&mut reader).unwrap(), expected);
    }

    #[test]
    fn damage_before_the_end_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        written(dir.path(), 300, 4 << 10);
        let all = segments(dir.path());
        // A cut record at the end of a segment that another follows.
        append(&all[1].path, &frame(999)[..20]);
        let mut reader = HistoryReader::open(&dir.path().join("aof"), 1).unwrap();
        let err = read_all(&mut reader).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { path, .. } if *path == all[1].path),
            "{err}"
        );
        // A flipped byte inside the last segment, valid records after it.
        let dir = tempfile::tempdir().unwrap();
        written(dir.path(), 300, 64 << 20);
        let path = segments(dir.path()).pop().unwrap().path;
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER_LEN + 100] ^= 0x5a;
        std::fs::write(&path, bytes).unwrap();
        let mut reader = HistoryReader::open(&dir.path().join("aof"), 1).unwrap();
        let err = read_all(&mut reader).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn follows_a_running_store_and_ignores_bases() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path(), 4 << 10);
        let mut expected = Vec::new();
        write(&store, 200, &mut expected);
        let aof = dir.path().join("aof");
        // What a rewrite leaves beside the segments.
        std::fs::write(aof.join(format!("{:020}.base", 5)), b"not history").unwrap();
        std::fs::write(aof.join(format!("{:020}.base.tmp", 9)), b"").unwrap();
        let mut reader = HistoryReader::open(&aof, 1).unwrap().chunk_bytes(4096);
        let mut got = read_all(&mut reader).unwrap();
        assert_eq!(got, expected);
        // More writes, some rotating segments: the reader goes on.
        write(&store, 300, &mut expected);
        got.extend(read_all(&mut reader).unwrap());
        assert_eq!(got, expected);
        store.close().unwrap();
    }
}
