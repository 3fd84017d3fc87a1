//! Events as Avro, in the schema [`SCHEMA`] (`schemas/avro/change_event.avsc`).
//!
//! Two framings of the same datum:
//!
//! - single-object encoding ([`crate::Encoding::Avro`]): [`SINGLE_OBJECT_MARKER`],
//!   the 8-byte little-endian [`FINGERPRINT`], then the datum;
//! - Confluent Schema Registry ([`crate::Encoding::AvroConfluent`]):
//!   [`CONFLUENT_MAGIC`], the 4-byte big-endian schema id, then the datum.
//!
//! The schema is fixed, so the datum is written and read here directly
//! (zig-zag varints, length-prefixed bytes, union branch indexes) without a
//! generic `Value` tree per event. The tests check every byte against the
//! `apache-avro` crate reading the `.avsc` file, as a consumer in another
//! language would.
//!
//! Times are plain `long`s (Unix milliseconds), without a `timestamp-millis`
//! logical type: implementations disagree on whether such a type changes the
//! schema's canonical form, and so its fingerprint.

use crate::error::SchemaError;
use crate::event::{ChangeEvent, Op};
use bytes::Bytes;

/// The Avro schema of a change event, as in `schemas/avro/change_event.avsc`
/// (register this with a schema registry).
pub const SCHEMA: &str = include_str!("../../avro/change_event.avsc");

/// The Parsing Canonical Form of [`SCHEMA`], from which [`FINGERPRINT`] is
/// computed. A test keeps it equal to what `apache-avro` derives from the
/// `.avsc` file.
pub const CANONICAL_FORM: &str = concat!(
    r#"{"name":"io.fluxkv.v1.ChangeEvent","type":"record","fields":["#,
    r#"{"name":"node","type":"string"},"#,
    r#"{"name":"epoch","type":"long"},"#,
    r#"{"name":"seq","type":"long"},"#,
    r#"{"name":"ts_ms","type":"long"},"#,
    r#"{"name":"op","type":{"name":"io.fluxkv.v1.Op","type":"enum","#,
    r#""symbols":["set","del","expire","evict","flush"]}},"#,
    r#"{"name":"key","type":"bytes"},"#,
    r#"{"name":"value","type":["null","bytes"]},"#,
    r#"{"name":"expire_at_ms","type":["null","long"]},"#,
    r#"{"name":"prev","type":["null","bytes"]}]}"#,
);

/// The CRC-64-AVRO (Rabin) fingerprint of [`CANONICAL_FORM`]; written
/// little-endian after [`SINGLE_OBJECT_MARKER`].
pub const FINGERPRINT: u64 = rabin_fingerprint(CANONICAL_FORM.as_bytes());

/// The first two bytes of an Avro single-object message.
pub const SINGLE_OBJECT_MARKER: [u8; 2] = [0xC3, 0x01];

/// The first byte of a Confluent-framed message.
pub const CONFLUENT_MAGIC: u8 = 0;

/// The 64-bit Rabin fingerprint the Avro specification defines ("Schema
/// Fingerprints"), computed at compile time.
const fn rabin_fingerprint(data: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    let mut table = [0_u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut fp = i as u64;
        let mut j = 0;
        while j < 8 {
            fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
            j += 1;
        }
        table[i] = fp;
        i += 1;
    }
    let mut fp = EMPTY;
    let mut k = 0;
    while k < data.len() {
        fp = (fp >> 8) ^ table[((fp ^ data[k] as u64) & 0xff) as usize];
        k += 1;
    }
    fp
}

const HEADER: usize = 10;
const CONFLUENT_HEADER: usize = 5;

pub(crate) fn encode_single_object(
    event: &ChangeEvent,
    buf: &mut Vec<u8>,
) -> Result<(), SchemaError> {
    buf.extend_from_slice(&SINGLE_OBJECT_MARKER);
    buf.extend_from_slice(&FINGERPRINT.to_le_bytes());
    encode_datum(event, buf)
}

pub(crate) fn encode_confluent(
    schema_id: u32,
    event: &ChangeEvent,
    buf: &mut Vec<u8>,
) -> Result<(), SchemaError> {
    buf.push(CONFLUENT_MAGIC);
    buf.extend_from_slice(&schema_id.to_be_bytes());
    encode_datum(event, buf)
}

pub(crate) fn decode_single_object(bytes: &[u8]) -> Result<ChangeEvent, SchemaError> {
    let header = bytes.get(..HEADER).ok_or_else(|| SchemaError::Header {
        encoding: "avro",
        detail: format!(
            "{} bytes is shorter than the 10-byte single-object header",
            bytes.len()
        ),
    })?;
    if header[..2] != SINGLE_OBJECT_MARKER {
        return Err(SchemaError::Header {
            encoding: "avro",
            detail: format!(
                "expected the single-object marker C3 01, found {:02X} {:02X}",
                header[0], header[1]
            ),
        });
    }
    let mut fingerprint = [0; 8];
    fingerprint.copy_from_slice(&header[2..]);
    let found = u64::from_le_bytes(fingerprint);
    if found != FINGERPRINT {
        return Err(SchemaError::Fingerprint {
            found,
            expected: FINGERPRINT,
        });
    }
    decode_datum(&bytes[HEADER..])
}

pub(crate) fn decode_confluent(schema_id: u32, bytes: &[u8]) -> Result<ChangeEvent, SchemaError> {
    let header = bytes
        .get(..CONFLUENT_HEADER)
        .ok_or_else(|| SchemaError::Header {
            encoding: "avro-confluent",
            detail: format!(
                "{} bytes is shorter than the 5-byte Confluent header",
                bytes.len()
            ),
        })?;
    if header[0] != CONFLUENT_MAGIC {
        return Err(SchemaError::Header {
            encoding: "avro-confluent",
            detail: format!("expected the magic byte 00, found {:02X}", header[0]),
        });
    }
    let found = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    if found != schema_id {
        return Err(SchemaError::SchemaId {
            found,
            expected: schema_id,
        });
    }
    decode_datum(&bytes[CONFLUENT_HEADER..])
}

/// The datum: the record's fields in schema order.
pub(crate) fn encode_datum(event: &ChangeEvent, buf: &mut Vec<u8>) -> Result<(), SchemaError> {
    let long = |field: &'static str, value: u64| {
        i64::try_from(value).map_err(|_| SchemaError::OutOfRange { field, value })
    };
    // Check every number first, so an error leaves no partial datum.
    let epoch = long("epoch", event.epoch)?;
    let seq = long("seq", event.seq)?;
    let ts_ms = long("ts_ms", event.ts_ms)?;
    let expire_at_ms = event
        .expire_at_ms
        .map(|at| long("expire_at_ms", at))
        .transpose()?;

    put_bytes(buf, event.node.as_bytes());
    put_long(buf, epoch);
    put_long(buf, seq);
    put_long(buf, ts_ms);
    put_long(buf, op_index(event.op));
    put_bytes(buf, &event.key);
    put_optional(buf, event.value.as_ref(), |buf, v| put_bytes(buf, v));
    put_optional(buf, expire_at_ms, put_long);
    put_optional(buf, event.prev.as_ref(), |buf, p| put_bytes(buf, p));
    Ok(())
}

/// The op's index among the schema's enum symbols.
fn op_index(op: Op) -> i64 {
    i64::from(op.code()) - 1
}

/// Appends an Avro `long`: zig-zag, then a little-endian base-128 varint.
/// Public for writers of other Avro structures (container files).
pub fn put_long(buf: &mut Vec<u8>, value: i64) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

/// Appends Avro `bytes` (or `string`): the length as a `long`, then the bytes.
pub fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_long(buf, bytes.len() as i64);
    buf.extend_from_slice(bytes);
}

/// A `["null", T]` union: branch 0 for null, branch 1 and the value.
fn put_optional<T>(buf: &mut Vec<u8>, value: Option<T>, put: impl FnOnce(&mut Vec<u8>, T)) {
    match value {
        None => put_long(buf, 0),
        Some(value) => {
            put_long(buf, 1);
            put(buf, value);
        }
    }
}

/// Reads a datum, checking every length against what is left.
#[derive(Debug)]
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, reason: &'static str) -> SchemaError {
        SchemaError::Avro {
            offset: self.pos,
            reason,
        }
    }

    fn long(&mut self) -> Result<i64, SchemaError> {
        let mut n: u64 = 0;
        for i in 0..10 {
            let Some(&byte) = self.bytes.get(self.pos) else {
                return Err(self.error("the datum ends inside a number"));
            };
            if i == 9 && byte > 1 {
                return Err(self.error("a number is longer than 64 bits"));
            }
            self.pos += 1;
            n |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(((n >> 1) as i64) ^ -((n & 1) as i64));
            }
        }
        Err(self.error("a number is longer than 64 bits"))
    }

    /// A `long` that must not be negative; `negative` says which one.
    fn unsigned(&mut self, negative: &'static str) -> Result<u64, SchemaError> {
        let at = self.pos;
        u64::try_from(self.long()?).map_err(|_| SchemaError::Avro {
            offset: at,
            reason: negative,
        })
    }

    fn slice(&mut self) -> Result<&'a [u8], SchemaError> {
        let at = self.pos;
        let len = self.long()?;
        let rest = self.bytes.len() - self.pos;
        match usize::try_from(len) {
            Ok(len) if len <= rest => {
                let slice = &self.bytes[self.pos..self.pos + len];
                self.pos += len;
                Ok(slice)
            }
            Ok(_) => Err(SchemaError::Avro {
                offset: at,
                reason: "a length runs past the end of the datum",
            }),
            Err(_) => Err(SchemaError::Avro {
                offset: at,
                reason: "a length is negative",
            }),
        }
    }

    fn bytes(&mut self) -> Result<Bytes, SchemaError> {
        self.slice().map(Bytes::copy_from_slice)
    }

    fn branch(&mut self) -> Result<bool, SchemaError> {
        let at = self.pos;
        match self.long()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(SchemaError::Avro {
                offset: at,
                reason: "a union branch is neither 0 (null) nor 1",
            }),
        }
    }
}

pub(crate) fn decode_datum(bytes: &[u8]) -> Result<ChangeEvent, SchemaError> {
    let mut r = Reader { bytes, pos: 0 };
    let node_at = r.pos;
    let node = std::str::from_utf8(r.slice()?).map_err(|_| SchemaError::Avro {
        offset: node_at,
        reason: "node is not valid UTF-8",
    })?;
    let epoch = r.unsigned("epoch is negative")?;
    let seq = r.unsigned("seq is negative")?;
    let ts_ms = r.unsigned("ts_ms is negative")?;
    let op_at = r.pos;
    let index = r.long()?;
    let op = u8::try_from(index)
        .ok()
        .and_then(|index| Op::from_code(index.checked_add(1)?))
        .ok_or(SchemaError::Avro {
            offset: op_at,
            reason: "op is not an index of the enum's 5 symbols",
        })?;
    let key = r.bytes()?;
    let value = if r.branch()? { Some(r.bytes()?) } else { None };
    let expire_at_ms = if r.branch()? {
        Some(r.unsigned("expire_at_ms is negative")?)
    } else {
        None
    };
    let prev = if r.branch()? { Some(r.bytes()?) } else { None };
    if r.pos != bytes.len() {
        return Err(r.error("bytes are left after the datum"));
    }
    Ok(ChangeEvent {
        node: node.into(),
        epoch,
        seq,
        ts_ms,
        op,
        key,
        value,
        expire_at_ms,
        prev,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rabin_matches_the_avro_specification() {
        // The fingerprint of the empty input is the algorithm's EMPTY, and of
        // the canonical schema "int" the value the Avro test suite lists.
        assert_eq!(rabin_fingerprint(b""), 0xc15d_213a_a4d7_a795);
        assert_eq!(rabin_fingerprint(br#""int""#), 0x7275_d51a_3f39_5c8f);
    }

    #[test]
    fn longs_are_zigzag_varints() {
        for (value, bytes) in [
            (0_i64, &[0x00][..]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (
                i64::MAX,
                &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
            (
                i64::MIN,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let mut buf = Vec::new();
            put_long(&mut buf, value);
            assert_eq!(buf, bytes, "{value}");
            let mut reader = Reader { bytes, pos: 0 };
            assert_eq!(reader.long().unwrap(), value);
        }
        let mut too_long = Reader {
            bytes: &[0xff; 11],
            pos: 0,
        };
        assert!(too_long.long().is_err());
    }
}
