//! One AOF record: the binary framing every mutation is written in.
//!
//! ```text
//! frame  = len:u32 | crc:u32 | body[len]          (little endian)
//! crc    = crc32c(len bytes ++ body)              (a torn length is caught too)
//! body   = seq:u64 | ts_ms:u64 | op:u8 | flags:u8 | key_len:u32 | key
//!          [ | value_len:u32 | value ]            (op = set)
//!          [ | expire_at_ms:u64 ]                 (flags & HAS_EXPIRY)
//!          [ | prev_len:u32 | prev ]              (flags & HAS_PREV)
//! ```
//!
//! Records are decoded as borrowed views into the segment buffer, so
//! recovery touches each byte once and allocates only what the map keeps.

/// Bytes before the body: length and checksum.
pub const FRAME_HEADER_LEN: usize = 8;
/// The largest body a reader accepts; anything larger is damage, not data.
pub const MAX_BODY_LEN: usize = 1 << 30;

const FIXED_BODY_LEN: usize = 8 + 8 + 1 + 1 + 4;
const HAS_EXPIRY: u8 = 1;
const HAS_PREV: u8 = 2;

pub use fluxkv_schemas::Op;

/// A decoded record, borrowing key and value from the buffer it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The record's sequence number.
    pub seq: u64,
    /// Wall-clock time of the mutation, Unix milliseconds.
    pub ts_ms: u64,
    /// What happened.
    pub op: Op,
    /// The key (empty for `flush`).
    pub key: &'a [u8],
    /// The new value (`set` only).
    pub value: Option<&'a [u8]>,
    /// Absolute expiry of the new value, Unix milliseconds.
    pub expire_at_ms: Option<u64>,
    /// The value before the change, when before-images are on.
    pub prev: Option<&'a [u8]>,
}

/// Why bytes could not be decoded as a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The buffer ends inside the record: `needed` bytes were required.
    Incomplete {
        /// Total frame length the header asked for (or the header itself).
        needed: usize,
    },
    /// The bytes are there but are not a valid record.
    Invalid(String),
}

/// Appends one framed record to `out`. The caller has assigned `seq`.
pub fn encode(out: &mut Vec<u8>, rec: &RecordRef<'_>) {
    let value_len = rec.value.map_or(0, |v| 4 + v.len());
    let expiry_len = if rec.expire_at_ms.is_some() { 8 } else { 0 };
    let prev_len = rec.prev.map_or(0, |p| 4 + p.len());
    let body_len = FIXED_BODY_LEN + rec.key.len() + value_len + expiry_len + prev_len;
    out.reserve(FRAME_HEADER_LEN + body_len);
    let start = out.len();
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&rec.seq.to_le_bytes());
    out.extend_from_slice(&rec.ts_ms.to_le_bytes());
    out.push(rec.op.code());
    let mut flags = 0;
    if rec.expire_at_ms.is_some() {
        flags |= HAS_EXPIRY;
    }
    if rec.prev.is_some() {
        flags |= HAS_PREV;
    }
    out.push(flags);
    out.extend_from_slice(&(rec.key.len() as u32).to_le_bytes());
    out.extend_from_slice(rec.key);
    if let Some(value) = rec.value {
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
    }
    if let Some(at) = rec.expire_at_ms {
        out.extend_from_slice(&at.to_le_bytes());
    }
    if let Some(prev) = rec.prev {
        out.extend_from_slice(&(prev.len() as u32).to_le_bytes());
        out.extend_from_slice(prev);
    }
    let crc = checksum(&out[start..start + 4], &out[start + FRAME_HEADER_LEN..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The encoded size of a record, for callers that budget buffer space.
pub fn encoded_len(rec: &RecordRef<'_>) -> usize {
    FRAME_HEADER_LEN
        + FIXED_BODY_LEN
        + rec.key.len()
        + rec.value.map_or(0, |v| 4 + v.len())
        + if rec.expire_at_ms.is_some() { 8 } else { 0 }
        + rec.prev.map_or(0, |p| 4 + p.len())
}

/// Decodes the record at the start of `buf`; returns it and its frame length.
pub fn decode(buf: &[u8]) -> Result<(RecordRef<'_>, usize), DecodeError> {
    if buf.len() < FRAME_HEADER_LEN {
        return Err(DecodeError::Incomplete {
            needed: FRAME_HEADER_LEN,
        });
    }
    let body_len = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
    if body_len > MAX_BODY_LEN {
        return Err(DecodeError::Invalid(format!(
            "record length {body_len} exceeds the maximum {MAX_BODY_LEN}"
        )));
    }
    let frame_len = FRAME_HEADER_LEN + body_len;
    if buf.len() < frame_len {
        return Err(DecodeError::Incomplete { needed: frame_len });
    }
    let stored_crc = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    let body = &buf[FRAME_HEADER_LEN..frame_len];
    if checksum(&buf[0..4], body) != stored_crc {
        return Err(DecodeError::Invalid("checksum mismatch".into()));
    }
    decode_body(body).map(|rec| (rec, frame_len))
}

/// Decodes a frame that a scan has already validated (checksum and all),
/// skipping the checksum: replay threads and subscribers re-walk validated
/// buffers. Returns the record and its frame length.
///
/// # Panics
/// If the frame is not a valid record — only possible if the caller breaks
/// the contract.
pub fn decode_trusted(buf: &[u8]) -> (RecordRef<'_>, usize) {
    let body_len = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
    let frame_len = FRAME_HEADER_LEN + body_len;
    let rec = decode_body(&buf[FRAME_HEADER_LEN..frame_len]).expect("frame was validated");
    (rec, frame_len)
}

fn decode_body(body: &[u8]) -> Result<RecordRef<'_>, DecodeError> {
    let mut cursor = BodyCursor { body, pos: 0 };
    let seq = cursor.u64()?;
    let ts_ms = cursor.u64()?;
    let op_code = cursor.u8()?;
    let op = Op::from_code(op_code)
        .ok_or_else(|| DecodeError::Invalid(format!("unknown op code {op_code}")))?;
    let flags = cursor.u8()?;
    let key_len = cursor.u32()? as usize;
    let key = cursor.bytes(key_len)?;
    let value = if op == Op::Set {
        let len = cursor.u32()? as usize;
        Some(cursor.bytes(len)?)
    } else {
        None
    };
    let expire_at_ms = if flags & HAS_EXPIRY != 0 {
        Some(cursor.u64()?)
    } else {
        None
    };
    let prev = if flags & HAS_PREV != 0 {
        let len = cursor.u32()? as usize;
        Some(cursor.bytes(len)?)
    } else {
        None
    };
    if cursor.pos != body.len() {
        return Err(DecodeError::Invalid(format!(
            "{} trailing bytes after the record body",
            body.len() - cursor.pos
        )));
    }
    Ok(RecordRef {
        seq,
        ts_ms,
        op,
        key,
        value,
        expire_at_ms,
        prev,
    })
}

fn checksum(len_bytes: &[u8], body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(len_bytes), body)
}

struct BodyCursor<'a> {
    body: &'a [u8],
    pos: usize,
}

impl<'a> BodyCursor<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.body.len())
            .ok_or_else(|| DecodeError::Invalid("field runs past the end of the record".into()))?;
        let out = &self.body[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.bytes(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(
            self.bytes(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(
            self.bytes(8)?.try_into().expect("8 bytes"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Set),
            Just(Op::Del),
            Just(Op::Expire),
            Just(Op::Evict),
            Just(Op::Flush)
        ]
    }

    proptest! {
        #[test]
        fn round_trip(seq: u64, ts_ms: u64, op in op_strategy(),
                      key in proptest::collection::vec(any::<u8>(), 0..64),
                      value in proptest::collection::vec(any::<u8>(), 0..256),
                      expire_at_ms: Option<u64>,
                      prev: Option<Vec<u8>>) {
            let rec = RecordRef {
                seq, ts_ms, op, key: &key,
                value: (op == Op::Set).then_some(value.as_slice()),
                expire_at_ms,
                prev: prev.as_deref(),
            };
            let mut buf = Vec::new();
            encode(&mut buf, &rec);
            prop_assert_eq!(buf.len(), encoded_len(&rec));
            let (decoded, used) = decode(&buf).unwrap();
            prop_assert_eq!(used, buf.len());
            prop_assert_eq!(decoded, rec);
        }
    }

    #[test]
    fn every_prefix_is_incomplete_and_every_bit_flip_is_caught() {
        let rec = RecordRef {
            seq: 7,
            ts_ms: 1_700_000_000_000,
            op: Op::Set,
            key: b"user:42",
            value: Some(b"hello"),
            expire_at_ms: Some(1_800_000_000_000),
            prev: Some(b"older"),
        };
        let mut buf = Vec::new();
        encode(&mut buf, &rec);
        for cut in 0..buf.len() {
            assert!(
                matches!(decode(&buf[..cut]), Err(DecodeError::Incomplete { .. })),
                "prefix of {cut} bytes"
            );
        }
        for bit in 0..buf.len() * 8 {
            let mut flipped = buf.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode(&flipped).is_err(),
                "flip of bit {bit} went unnoticed"
            );
        }
    }
}
