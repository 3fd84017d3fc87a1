//! AOF segment files: names, header, listing.
//!
//! A segment is named after the seq of its first record, zero-padded to 20
//! digits (`00000000000000000001.aof`), so lexical order is log order and a
//! missing segment shows up as a gap in seqs. Each file starts with a
//! 16-byte header: an 8-byte magic and the first seq again, so a file that
//! was renamed or copied in by mistake is recognised as such.

use crate::error::{Result, StoreError};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// Magic bytes at the start of every segment (format version 1).
pub const MAGIC: &[u8; 8] = b"FLXAOF01";
/// Length of the segment header.
pub const HEADER_LEN: usize = 16;
const EXTENSION: &str = "aof";

/// One segment file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Seq of the first record the segment holds (or will hold).
    pub first_seq: u64,
    /// Where it is.
    pub path: PathBuf,
}

impl Segment {
    /// The segment of `dir` that starts at `first_seq`.
    pub fn at(dir: &Path, first_seq: u64) -> Segment {
        Segment {
            first_seq,
            path: dir.join(format!("{first_seq:020}.{EXTENSION}")),
        }
    }

    /// The header bytes this segment must start with.
    pub fn header(&self) -> [u8; HEADER_LEN] {
        let mut header = [0; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8..].copy_from_slice(&self.first_seq.to_le_bytes());
        header
    }

    /// Checks a file's header against this segment's name.
    pub fn validate_header(&self, bytes: &[u8]) -> std::result::Result<(), String> {
        if bytes.len() < HEADER_LEN {
            return Err(format!(
                "header is {} bytes, {HEADER_LEN} expected",
                bytes.len()
            ));
        }
        if &bytes[..8] != MAGIC {
            return Err("not a fluxkv AOF segment (bad magic)".into());
        }
        let first = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        if first != self.first_seq {
            return Err(format!(
                "header says first seq {first} but the file name says {}",
                self.first_seq
            ));
        }
        Ok(())
    }
}

/// Lists the segments of `dir` in log order, skipping base files and
/// unfinished (`.tmp`) files. Anything else that is not a segment (no
/// `.aof` extension or a name that is not a number) is an error: a stray
/// file in the AOF directory is a sign of an operator mistake.
pub fn list(dir: &Path) -> Result<Vec<Segment>> {
    let mut segments = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| StoreError::io("reading AOF directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("reading AOF directory", dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Bases and a rewrite's unfinished files share the directory.
        if name.ends_with(".tmp") || super::base::BaseFile::parse(dir, &name).is_some() {
            continue;
        }
        let first_seq = name
            .strip_suffix(&format!(".{EXTENSION}"))
            .and_then(|stem| stem.parse::<u64>().ok())
            .ok_or_else(|| StoreError::Corrupt {
                path: path.clone(),
                offset: 0,
                reason: "unexpected file in the AOF directory (segments are named <first-seq>.aof, bases <seq>.base)"
                    .into(),
            })?;
        segments.push(Segment { first_seq, path });
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments)
}

/// Creates a new, empty segment with its header, durable with its directory
/// entry, so a crash right after never leaves a nameless or headless file.
pub fn create(dir: &Path, first_seq: u64) -> Result<(Segment, File)> {
    use std::io::Write;
    let segment = Segment::at(dir, first_seq);
    let mut file = File::options()
        .create_new(true)
        .append(true)
        .open(&segment.path)
        .map_err(|e| StoreError::io("creating AOF segment", &segment.path, e))?;
    file.write_all(&segment.header())
        .and_then(|()| file.sync_all())
        .map_err(|e| StoreError::io("writing AOF segment header", &segment.path, e))?;
    sync_dir(dir)?;
    Ok((segment, file))
}

/// fsyncs a directory so that files created or renamed in it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("syncing directory", dir, e))
}
