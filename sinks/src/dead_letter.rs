//! Dead letters: events a destination refuses for good (too large, against
//! its rules) are written here with the reason, durably, so the pipeline
//! can go on without losing them.

use crate::config::SinkConfig;
use crate::error::SinkError;
use crate::sink::Record;
use fluxkv_schemas::Encoding;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The dead-letter file of one sink: JSON lines.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    file: Option<File>,
}

#[derive(Serialize)]
struct Line<'a> {
    sink: &'a str,
    seq: u64,
    reason: &'a str,
    /// The event in the documented JSON encoding (docs/EVENTS.md).
    event: serde_json::Value,
}

impl DeadLetters {
    /// Dead letters appended to `path` (created on first use).
    pub fn new(path: impl Into<PathBuf>) -> DeadLetters {
        DeadLetters {
            path: path.into(),
            file: None,
        }
    }

    /// The dead letters of the sink `name`: its `dead_letter.path`, or by
    /// default `dead-letters/<name>.jsonl`, under `data_dir` when relative.
    pub fn configured(name: &str, config: &SinkConfig, data_dir: &Path) -> DeadLetters {
        DeadLetters::new(match &config.dead_letter {
            Some(dead_letter) => data_dir.join(&dead_letter.path),
            None => data_dir.join("dead-letters").join(format!("{name}.jsonl")),
        })
    }

    /// Where the dead letters go.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` with `reason` and fsyncs before returning: the
    /// caller moves past the event only once it is safe here.
    pub fn write(&mut self, sink: &str, record: &Record, reason: &str) -> Result<(), SinkError> {
        let io = |e| SinkError::io("writing dead letter", &self.path, e);
        if self.file.is_none() {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            self.file = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .map_err(io)?,
            );
        }
        let event = Encoding::Json.encode(&record.event)?;
        let line = Line {
            sink,
            seq: record.event.seq,
            reason,
            event: serde_json::from_slice(&event).expect("the JSON codec writes JSON"),
        };
        let mut bytes = serde_json::to_vec(&line).expect("a dead letter serializes");
        bytes.push(b'\n');
        let file = self.file.as_mut().expect("opened above");
        file.write_all(&bytes)
            .and_then(|()| file.sync_data())
            .map_err(io)
    }
}
