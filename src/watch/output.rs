//! What `fluxkv watch` prints: one line per event (and per watermark when
//! asked), in the chosen encoding.

use std::io::{self, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fluxkv_schemas::codec::json;
use fluxkv_schemas::{ChangeEvent, Encoding, Watermark};

/// Line-oriented output over any writer (stdout in the binary).
///
/// Writes are buffered; the caller flushes whenever the stream has nothing
/// more ready, so a burst costs few syscalls and a live event still shows
/// up at once.
#[derive(Debug)]
pub(crate) struct Output<W: Write> {
    out: io::BufWriter<W>,
    encoding: Encoding,
    /// Reused for every line.
    line: Vec<u8>,
    /// The encoded event before base64, for binary encodings.
    raw: Vec<u8>,
}

impl<W: Write> Output<W> {
    pub(crate) fn new(out: W, encoding: Encoding) -> Self {
        Output {
            out: io::BufWriter::with_capacity(64 * 1024, out),
            encoding,
            line: Vec::with_capacity(256),
            raw: Vec::with_capacity(256),
        }
    }

    /// Prints `event` as one line: JSON text, or the binary encoding's
    /// bytes in standard base64.
    pub(crate) fn event(&mut self, event: &ChangeEvent) -> anyhow::Result<()> {
        self.line.clear();
        match self.encoding {
            Encoding::Json => json::encode_event(event, &mut self.line)?,
            binary => {
                self.raw.clear();
                binary.encode_into(event, &mut self.raw)?;
                let start = self.line.len();
                self.line.resize(start + self.raw.len().div_ceil(3) * 4, 0);
                let written = STANDARD
                    .encode_slice(&self.raw, &mut self.line[start..])
                    .expect("the buffer is sized for padded base64");
                self.line.truncate(start + written);
            }
        }
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        Ok(())
    }

    /// Prints `mark` as one JSON line (only JSON output carries
    /// watermarks; the caller refuses `--watermarks` otherwise).
    pub(crate) fn watermark(&mut self, mark: &Watermark) -> anyhow::Result<()> {
        self.line.clear();
        json::encode_watermark(mark, &mut self.line)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Whether `err` is (caused by) writing to a closed pipe: the reader of
/// our output went away (`fluxkv watch | head`), which ends the watch
/// successfully.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn event(seq: u64) -> ChangeEvent {
        ChangeEvent {
            node: "n1".into(),
            epoch: 1,
            seq,
            ts_ms: 1_700_000_000_000,
            op: fluxkv_schemas::Op::Set,
            key: Bytes::from_static(b"k"),
            value: Some(Bytes::from_static(b"\xff")),
            expire_at_ms: None,
            prev: None,
        }
    }

    fn printed(encoding: Encoding, events: &[ChangeEvent]) -> String {
        let mut buf = Vec::new();
        {
            let mut out = Output::new(&mut buf, encoding);
            for e in events {
                out.event(e).unwrap();
            }
            out.flush().unwrap();
        }
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn every_encoding_is_one_line_per_event_and_decodes() {
        let events = [event(1), event(2)];
        for encoding in [
            Encoding::Json,
            Encoding::Avro,
            Encoding::AvroConfluent { schema_id: 7 },
            Encoding::Protobuf,
        ] {
            let text = printed(encoding, &events);
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 2, "{encoding}: {text}");
            for (line, expected) in lines.iter().zip(&events) {
                let bytes = match encoding {
                    Encoding::Json => line.as_bytes().to_vec(),
                    _ => STANDARD.decode(line).unwrap(),
                };
                assert_eq!(&encoding.decode(&bytes).unwrap(), expected, "{encoding}");
            }
        }
    }

    #[test]
    fn watermarks_are_json_lines() {
        let mut buf = Vec::new();
        let mut out = Output::new(&mut buf, Encoding::Json);
        let mark = Watermark {
            node: "n1".into(),
            epoch: 1,
            last_seq: 9,
            ts_ms: 5,
        };
        out.watermark(&mark).unwrap();
        out.flush().unwrap();
        drop(out);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"type\":\"watermark\",\"node\":\"n1\",\"epoch\":1,\"last_seq\":9,\"ts_ms\":5}\n"
        );
    }

    #[test]
    fn broken_pipes_are_recognized_through_context() {
        let err = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("writing an event");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
