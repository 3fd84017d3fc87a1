//! The stdout sink: every event on standard output, one per line, for
//! people trying fluxkv out. JSON as is; binary encodings as base64 lines.

use crate::error::SinkError;
use crate::sink::{Ack, Delivery, Record, Sink};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use std::io::Write;
use std::sync::Arc;

/// The stdout sink has no settings of its own.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {}

/// Writes each record's payload to standard output.
#[derive(Debug)]
pub struct StdoutSink {
    /// Payloads that are not text (Avro, Protobuf) are written as base64.
    text: bool,
}

impl StdoutSink {
    /// A sink writing payloads as they are when `text`, else as base64.
    pub fn new(text: bool) -> StdoutSink {
        StdoutSink { text }
    }
}

impl Sink for StdoutSink {
    /// Writes the batch; it is delivered once written.
    async fn send(&mut self, records: Arc<[Record]>) -> Ack {
        let mut out = std::io::stdout().lock();
        let mut write = || -> std::io::Result<()> {
            for record in records.iter() {
                if self.text {
                    out.write_all(&record.payload)?;
                } else {
                    out.write_all(STANDARD.encode(&record.payload).as_bytes())?;
                }
                out.write_all(b"\n")?;
            }
            out.flush()
        };
        Ack::ready(match write() {
            Ok(()) => Delivery::Delivered,
            Err(err) => Delivery::Retryable(SinkError::io("writing to", "stdout", err)),
        })
    }
}
