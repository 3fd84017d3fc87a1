//! Base files: the whole keyspace as of one seq, so the history before it
//! can go. AOF rewrite writes one into the AOF directory; a snapshot is the
//! same format written anywhere.
//!
//! ```text
//! header  = "FLXBASE1" | from_seq:u64
//! entries = record frames, seq 0, op set — one per live key
//! fixups  = record frames with seqs from_seq+1 ..= seq, in order
//! trailer = "FLXBEND1" | seq:u64 | keys:u64
//! ```
//!
//! The copy of the map is taken shard by shard while writes go on (no
//! writer waits longer than one shard's copy), so it is fuzzy: each shard is
//! as of some moment between `from_seq` and `seq`. Every record carries the
//! key's absolute new state, so applying the records logged meanwhile — the
//! fix-ups, copied verbatim from the AOF — over the copy makes it exactly the
//! state at `seq`. The trailer is written last: a base without one was cut
//! short and is refused. Entries and fix-ups use the AOF's record framing,
//! so loading a base goes through the same checksums and replay threads as
//! the log.

use super::record::{self, DecodeError, Op, RecordRef};
use super::recovery::SegmentSink;
use crate::error::{Result, StoreError};
use crate::shard::Entry;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Magic bytes at the start of a base file (format version 1).
pub const MAGIC: &[u8; 8] = b"FLXBASE1";
/// Magic bytes that open the trailer. Read as a frame length they exceed
/// [`record::MAX_BODY_LEN`], so a trailer is never mistaken for a record.
pub const TRAILER_MAGIC: &[u8; 8] = b"FLXBEND1";
/// Length of the header.
pub const HEADER_LEN: usize = 16;
/// Length of the trailer.
pub const TRAILER_LEN: usize = 24;
const EXTENSION: &str = "base";
/// Bytes buffered before a write; also the read chunk on load.
const CHUNK: usize = 8 << 20;

/// A base file in an AOF directory, named after the seq it represents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseFile {
    /// The seq whose state the base holds.
    pub seq: u64,
    /// Where it is.
    pub path: PathBuf,
}

impl BaseFile {
    /// The base of `dir` at `seq`.
    pub fn at(dir: &Path, seq: u64) -> BaseFile {
        BaseFile {
            seq,
            path: dir.join(format!("{seq:020}.{EXTENSION}")),
        }
    }

    /// Parses a file name of the form `<seq>.base`.
    pub(crate) fn parse(dir: &Path, name: &str) -> Option<BaseFile> {
        let seq = name.strip_suffix(".base")?.parse().ok()?;
        Some(BaseFile::at(dir, seq))
    }
}

/// Lists the base files of `dir`, oldest first.
pub fn list(dir: &Path) -> Result<Vec<BaseFile>> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| StoreError::io("reading AOF directory", dir, e))?;
    let mut bases = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("reading AOF directory", dir, e))?;
        if let Some(base) = BaseFile::parse(dir, &entry.file_name().to_string_lossy()) {
            bases.push(base);
        }
    }
    bases.sort_by_key(|b| b.seq);
    Ok(bases)
}

/// The number of keys the newest base in `dir` holds, read from its
/// trailer alone (no check of the rest): startup sizes the map with it
/// instead of growing it key by key. `None` without a (readable) base.
pub fn newest_key_count(dir: &Path) -> Option<u64> {
    use std::io::{Seek, SeekFrom};
    let newest = list(dir).ok()?.pop()?;
    let mut file = std::fs::File::open(&newest.path).ok()?;
    file.seek(SeekFrom::End(-(TRAILER_LEN as i64))).ok()?;
    let mut trailer = [0; TRAILER_LEN];
    file.read_exact(&mut trailer).ok()?;
    (&trailer[..8] == TRAILER_MAGIC)
        .then(|| u64::from_le_bytes(trailer[16..].try_into().expect("8 bytes")))
}

/// What a base holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseSummary {
    /// The seq whose state it is.
    pub seq: u64,
    /// The last seq logged before the copy began (fix-ups follow it).
    pub from_seq: u64,
    /// Keys copied.
    pub keys: u64,
    /// Fix-up records.
    pub fixups: u64,
    /// Total size in bytes.
    pub bytes: u64,
}

/// Writes a base: [`BaseWriter::entry`] for every key, then
/// [`BaseWriter::fixups`] with the records logged meanwhile, then
/// [`BaseWriter::finish`].
#[derive(Debug)]
pub struct BaseWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    summary: BaseSummary,
}

impl<W: Write> BaseWriter<W> {
    /// Starts a base whose copy begins after `from_seq`.
    pub fn new(out: W, from_seq: u64) -> BaseWriter<W> {
        let mut buf = Vec::with_capacity(CHUNK + (1 << 20));
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&from_seq.to_le_bytes());
        BaseWriter {
            out,
            buf,
            summary: BaseSummary {
                seq: from_seq,
                from_seq,
                keys: 0,
                fixups: 0,
                bytes: 0,
            },
        }
    }

    /// Adds one key and its state.
    pub fn entry(&mut self, key: &[u8], entry: &Entry) -> std::io::Result<()> {
        record::encode(
            &mut self.buf,
            &RecordRef {
                seq: 0,
                ts_ms: 0,
                op: Op::Set,
                key,
                value: Some(&entry.value),
                expire_at_ms: entry.expire_at_ms,
                prev: None,
            },
        );
        self.summary.keys += 1;
        self.spill()
    }

    /// Adds fix-up records: whole, validated AOF frames continuing the seqs.
    pub fn fixups(&mut self, frames: &[u8], first_seq: u64, last_seq: u64) -> std::io::Result<()> {
        debug_assert_eq!(
            first_seq,
            self.summary.seq + 1,
            "fix-ups must continue the seqs"
        );
        self.buf.extend_from_slice(frames);
        self.summary.fixups += last_seq + 1 - first_seq;
        self.summary.seq = last_seq;
        self.spill()
    }

    /// Writes the trailer and flushes; returns the output and the summary.
    pub fn finish(mut self) -> std::io::Result<(W, BaseSummary)> {
        self.buf.extend_from_slice(TRAILER_MAGIC);
        self.buf.extend_from_slice(&self.summary.seq.to_le_bytes());
        self.buf.extend_from_slice(&self.summary.keys.to_le_bytes());
        self.write_buffer()?;
        self.out.flush()?;
        Ok((self.out, self.summary))
    }

    fn spill(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= CHUNK {
            self.write_buffer()?;
        }
        Ok(())
    }

    fn write_buffer(&mut self) -> std::io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.summary.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// Reads a base file into `sink` (entries, then fix-ups, in chunks), checking
/// every checksum, the seq order and the trailer.
pub fn load(base: &BaseFile, sink: &mut (impl SegmentSink + ?Sized)) -> Result<BaseSummary> {
    let file = std::fs::File::open(&base.path)
        .map_err(|e| StoreError::io("opening AOF base", &base.path, e))?;
    let summary = read(file, &base.path, sink)?;
    if summary.seq != base.seq {
        return Err(corrupt(
            &base.path,
            summary.bytes - TRAILER_LEN as u64,
            format!(
                "trailer says seq {} but the file name says {}",
                summary.seq, base.seq
            ),
        ));
    }
    Ok(summary)
}

/// Reads the base or snapshot at `path` only to check it: every checksum,
/// the seq order and the trailer.
pub fn verify(path: &Path) -> Result<BaseSummary> {
    let file = std::fs::File::open(path).map_err(|e| StoreError::io("opening base", path, e))?;
    read(std::io::BufReader::new(file), path, &mut Discard)
}

/// A sink for reads that only check.
#[derive(Debug)]
pub struct Discard;

impl SegmentSink for Discard {
    fn record(&mut self, _offset: usize, _rec: &RecordRef<'_>) {}

    fn segment(&mut self, _bytes: &mut Vec<u8>) {}
}

/// Reads a base from any reader; `path` names it in errors.
pub fn read(
    mut input: impl Read,
    path: &Path,
    sink: &mut (impl SegmentSink + ?Sized),
) -> Result<BaseSummary> {
    let mut header = [0; HEADER_LEN];
    input
        .read_exact(&mut header)
        .map_err(|e| corrupt(path, 0, format!("cannot read the base header: {e}")))?;
    if &header[..8] != MAGIC {
        return Err(corrupt(
            path,
            0,
            "not a fluxkv base or snapshot (bad magic)".into(),
        ));
    }
    let from_seq = u64::from_le_bytes(header[8..].try_into().expect("8 bytes"));
    let mut reader = Reader {
        path,
        summary: BaseSummary {
            seq: from_seq,
            from_seq,
            keys: 0,
            fixups: 0,
            bytes: HEADER_LEN as u64,
        },
        trailer: None,
    };
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut carry: Vec<u8> = Vec::new();
    loop {
        buf.clear();
        buf.extend_from_slice(&carry);
        let read = (&mut input)
            .take(CHUNK as u64)
            .read_to_end(&mut buf)
            .map_err(|e| StoreError::io("reading base", path, e))?;
        let at_end = read == 0;
        let used = reader.walk(&buf, at_end, sink)?;
        carry.clear();
        carry.extend_from_slice(&buf[used..]);
        buf.truncate(used);
        if used > 0 {
            sink.segment(&mut buf);
        }
        if reader.trailer.is_some() {
            break;
        }
        if at_end {
            return Err(corrupt(
                path,
                reader.summary.bytes,
                "the base ends without its trailer: it was cut short".into(),
            ));
        }
    }
    let mut rest = [0; 1];
    if !carry.is_empty()
        || input
            .read(&mut rest)
            .map_err(|e| StoreError::io("reading base", path, e))?
            > 0
    {
        return Err(corrupt(
            path,
            reader.summary.bytes,
            "bytes after the trailer".into(),
        ));
    }
    let (seq, keys) = reader.trailer.expect("checked");
    let summary = reader.summary;
    if seq != summary.seq || keys != summary.keys {
        return Err(corrupt(
            path,
            summary.bytes - TRAILER_LEN as u64,
            format!(
                "trailer says seq {seq} and {keys} keys but the base holds seq {} and {} keys",
                summary.seq, summary.keys
            ),
        ));
    }
    Ok(summary)
}

/// The state of a read in progress.
struct Reader<'p> {
    path: &'p Path,
    summary: BaseSummary,
    /// (seq, keys) once the trailer was read.
    trailer: Option<(u64, u64)>,
}

impl Reader<'_> {
    /// Walks the whole frames of `buf`, handing them to `sink`; returns how
    /// many bytes they (and a trailer) take.
    fn walk(
        &mut self,
        buf: &[u8],
        at_end: bool,
        sink: &mut (impl SegmentSink + ?Sized),
    ) -> Result<usize> {
        let mut pos = 0;
        while pos < buf.len() {
            let offset = self.summary.bytes;
            if buf[pos..].starts_with(TRAILER_MAGIC)
                || buf.len() - pos < 8 && TRAILER_MAGIC.starts_with(&buf[pos..])
            {
                if buf.len() - pos < TRAILER_LEN {
                    if at_end {
                        return Err(corrupt(
                            self.path,
                            offset,
                            "the base trailer is cut short".into(),
                        ));
                    }
                    break;
                }
                let field = |at: usize| {
                    u64::from_le_bytes(buf[pos + at..pos + at + 8].try_into().expect("8 bytes"))
                };
                self.trailer = Some((field(8), field(16)));
                self.summary.bytes += TRAILER_LEN as u64;
                return Ok(pos + TRAILER_LEN);
            }
            let (rec, used) = match record::decode(&buf[pos..]) {
                Ok(decoded) => decoded,
                Err(DecodeError::Incomplete { .. }) if !at_end => break,
                Err(DecodeError::Incomplete { needed }) => {
                    return Err(corrupt(
                        self.path,
                        offset,
                        format!(
                            "record is cut short ({} of {needed} bytes present)",
                            buf.len() - pos
                        ),
                    ));
                }
                Err(DecodeError::Invalid(reason)) => {
                    return Err(corrupt(self.path, offset, reason));
                }
            };
            self.check(&rec, offset)?;
            sink.record(pos, &rec);
            pos += used;
            self.summary.bytes += used as u64;
        }
        Ok(pos)
    }

    /// Entries (seq 0) come first, then fix-ups continuing the seqs.
    fn check(&mut self, rec: &RecordRef<'_>, offset: u64) -> Result<()> {
        if rec.seq == 0 {
            if self.summary.fixups > 0 || rec.op != Op::Set || rec.value.is_none() {
                return Err(corrupt(
                    self.path,
                    offset,
                    "a key entry must be a set and come before the fix-ups".into(),
                ));
            }
            self.summary.keys += 1;
        } else {
            if rec.seq != self.summary.seq + 1 {
                return Err(corrupt(
                    self.path,
                    offset,
                    format!(
                        "fix-up has seq {} where seq {} was expected",
                        rec.seq,
                        self.summary.seq + 1
                    ),
                ));
            }
            self.summary.seq = rec.seq;
            self.summary.fixups += 1;
        }
        Ok(())
    }
}

fn corrupt(path: &Path, offset: u64, reason: String) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    }
}
