//! Writing batches to segment files, fsyncing each before acknowledging:
//! the answer is known when `send` returns.

use super::FileConfig;
use super::avro_container;
use crate::error::SinkError;
use crate::sink::{Ack, Delivery, Record, Sink};
use fluxkv_schemas::Encoding;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How records are laid out in a segment, by encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// JSON: one event per line.
    JsonLines,
    /// Avro: an object container file.
    AvroContainer,
    /// Protobuf and Confluent-framed Avro: a 4-byte big-endian length, then
    /// the record.
    LengthPrefixed,
}

impl Layout {
    fn extension(self) -> &'static str {
        match self {
            Layout::JsonLines => "jsonl",
            Layout::AvroContainer => "avro",
            Layout::LengthPrefixed => "bin",
        }
    }
}

#[derive(Debug)]
struct Segment {
    file: File,
    path: PathBuf,
    len: u64,
    /// The Avro container's sync marker.
    sync: [u8; 16],
}

/// A file sink writing into `dir`, one segment file per `rotate_bytes`,
/// each named after the seq of its first event.
///
/// It fsyncs on the calling task with `tokio::task::block_in_place`, so it
/// needs tokio's multi-thread runtime (what `fluxkv serve` runs).
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    rotate_bytes: u64,
    layout: Layout,
    current: Option<Segment>,
}

impl FileSink {
    /// A sink for `config`; a relative `dir` is under `data_dir`.
    pub fn new(
        config: &FileConfig,
        data_dir: &Path,
        encoding: Encoding,
    ) -> Result<FileSink, SinkError> {
        let dir = data_dir.join(&config.dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| SinkError::io("creating sink directory", &dir, e))?;
        let layout = match encoding {
            Encoding::Json => Layout::JsonLines,
            Encoding::Avro => Layout::AvroContainer,
            Encoding::AvroConfluent { .. } | Encoding::Protobuf => Layout::LengthPrefixed,
        };
        Ok(FileSink {
            dir,
            rotate_bytes: config.rotate_bytes.max(1),
            layout,
            current: None,
        })
    }

    /// The bytes a batch adds to a segment.
    fn encode(&self, records: &[Record], sync: &[u8; 16]) -> Vec<u8> {
        match self.layout {
            Layout::JsonLines => records.iter().fold(Vec::new(), |mut out, r| {
                out.extend_from_slice(&r.payload);
                out.push(b'\n');
                out
            }),
            Layout::AvroContainer => {
                avro_container::block(records.iter().map(|r| &r.payload[..]), sync)
            }
            Layout::LengthPrefixed => records.iter().fold(Vec::new(), |mut out, r| {
                out.extend_from_slice(&(r.payload.len() as u32).to_be_bytes());
                out.extend_from_slice(&r.payload);
                out
            }),
        }
    }

    /// Writes `records`, starting a new segment first when due. Blocking.
    fn write(&mut self, records: &[Record]) -> Result<(), SinkError> {
        let full = self
            .current
            .as_ref()
            .is_some_and(|s| s.len >= self.rotate_bytes);
        if self.current.is_none() || full {
            self.current = Some(self.open(records[0].event.seq)?);
        }
        let segment = self.current.as_mut().expect("opened above");
        let sync = segment.sync;
        let bytes = self.encode(records, &sync);
        let segment = self.current.as_mut().expect("opened above");
        segment
            .file
            .write_all(&bytes)
            .and_then(|()| segment.file.sync_data())
            .map_err(|e| SinkError::io("writing sink file", &segment.path, e))?;
        segment.len += bytes.len() as u64;
        Ok(())
    }

    /// A new segment named after `first_seq`. A file of that name is from
    /// an earlier run whose events are being redelivered: it is replaced.
    fn open(&self, first_seq: u64) -> Result<Segment, SinkError> {
        let path = self
            .dir
            .join(format!("{first_seq:020}.{}", self.layout.extension()));
        let io = |e| SinkError::io("creating sink file", &path, e);
        let mut file = File::create(&path).map_err(io)?;
        let sync: [u8; 16] = rand::random();
        let mut len = 0;
        if self.layout == Layout::AvroContainer {
            let header = avro_container::header(&sync);
            file.write_all(&header).map_err(io)?;
            len = header.len() as u64;
        }
        file.sync_all().map_err(io)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(Segment {
            file,
            path,
            len,
            sync,
        })
    }
}

impl Sink for FileSink {
    async fn send(&mut self, records: Arc<[Record]>) -> Ack {
        // fsync can take milliseconds: keep it off the async workers.
        Ack::ready(match tokio::task::block_in_place(|| self.write(&records)) {
            Ok(()) => Delivery::Delivered,
            Err(err) => {
                self.current = None; // start a fresh segment on retry
                Delivery::Retryable(err)
            }
        })
    }
}
