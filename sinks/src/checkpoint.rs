//! Checkpoints: per sink, the seq up to which every event is delivered
//! (or filtered out, or dead-lettered). A sink resumes at checkpoint + 1.
//!
//! A checkpoint is written to a temporary file, fsynced, renamed over the
//! old one and the directory fsynced: a crash at any point leaves either
//! the old checkpoint or the new one, never a torn file. A checkpoint that
//! is behind only causes redelivery (at least once), never loss.

use crate::error::SinkError;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where a sink stands in the change stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The node whose stream this position is in.
    pub node: String,
    /// The node's term.
    pub epoch: u64,
    /// Every event with a seq up to this one is done.
    pub seq: u64,
}

/// The checkpoint files of all sinks of one node.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    /// Checkpoints kept in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Checkpoints {
        Checkpoints { dir: dir.into() }
    }

    fn path(&self, sink: &str) -> PathBuf {
        self.dir.join(format!("{sink}.json"))
    }

    /// The sink's checkpoint, if it has one. A leftover temporary file from
    /// a crash mid-write is ignored: the renamed file is the truth.
    pub fn load(&self, sink: &str) -> Result<Option<Checkpoint>, SinkError> {
        let path = self.path(sink);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                SinkError::io(
                    "reading checkpoint",
                    &path,
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SinkError::io("reading checkpoint", &path, e)),
        }
    }

    /// Persists `checkpoint` atomically and durably.
    pub fn store(&self, sink: &str, checkpoint: &Checkpoint) -> Result<(), SinkError> {
        let path = self.path(sink);
        let tmp = self.dir.join(format!("{sink}.json.tmp"));
        let io = |e| SinkError::io("writing checkpoint", &path, e);
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let bytes = serde_json::to_vec(checkpoint).expect("a checkpoint serializes");
        let mut file = File::create(&tmp).map_err(io)?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        sync_dir(&self.dir).map_err(io)
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seq: u64) -> Checkpoint {
        Checkpoint {
            node: "n1".into(),
            epoch: 1,
            seq,
        }
    }

    #[test]
    fn stores_loads_and_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::new(dir.path().join("checkpoints"));
        assert_eq!(checkpoints.load("orders").unwrap(), None);
        checkpoints.store("orders", &at(10)).unwrap();
        checkpoints.store("orders", &at(42)).unwrap();
        assert_eq!(checkpoints.load("orders").unwrap(), Some(at(42)));
        assert_eq!(checkpoints.load("other").unwrap(), None);
    }

    #[test]
    fn a_crash_between_write_and_rename_keeps_the_old_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::new(dir.path());
        checkpoints.store("orders", &at(10)).unwrap();
        // The crash: the new checkpoint's temporary file is there, torn,
        // and was never renamed.
        std::fs::write(dir.path().join("orders.json.tmp"), b"{\"node\":\"n1\",\"ep").unwrap();
        assert_eq!(checkpoints.load("orders").unwrap(), Some(at(10)));
        // The next write replaces the leftover and wins.
        checkpoints.store("orders", &at(11)).unwrap();
        assert_eq!(checkpoints.load("orders").unwrap(), Some(at(11)));
    }

    #[test]
    fn a_damaged_checkpoint_is_an_error_not_a_restart_from_scratch() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("orders.json"), b"garbage").unwrap();
        let err = Checkpoints::new(dir.path()).load("orders").unwrap_err();
        assert!(err.to_string().contains("orders.json"), "{err}");
    }
}
