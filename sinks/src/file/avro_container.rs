//! Avro object container files (Avro 1.11 spec, "Object Container Files"):
//! a header naming the schema, then blocks of datums, each block followed
//! by the file's sync marker. Written directly, like the Avro codec in
//! `fluxkv-schemas`; tests read the files back with apache-avro.

use fluxkv_schemas::codec::avro::{SCHEMA, SINGLE_OBJECT_MARKER, put_bytes, put_long};

/// Bytes of the single-object header before a datum: marker + fingerprint.
pub(crate) const SINGLE_OBJECT_HEADER: usize = SINGLE_OBJECT_MARKER.len() + 8;

/// The file header: magic, metadata (schema, codec), sync marker.
pub(crate) fn header(sync: &[u8; 16]) -> Vec<u8> {
    let mut out = b"Obj\x01".to_vec();
    put_long(&mut out, 2); // a map block of two entries
    for (key, value) in [("avro.schema", SCHEMA.as_bytes()), ("avro.codec", b"null")] {
        put_bytes(&mut out, key.as_bytes());
        put_bytes(&mut out, value);
    }
    put_long(&mut out, 0); // end of the map
    out.extend_from_slice(sync);
    out
}

/// One block holding `datums` (each a single-object encoded event, whose
/// header is stripped: container files carry bare datums).
pub(crate) fn block<'a>(
    datums: impl ExactSizeIterator<Item = &'a [u8]> + Clone,
    sync: &[u8; 16],
) -> Vec<u8> {
    let count = datums.len();
    let size: usize = datums.clone().map(|d| d.len() - SINGLE_OBJECT_HEADER).sum();
    let mut out = Vec::with_capacity(size + 36);
    put_long(&mut out, count as i64);
    put_long(&mut out, size as i64);
    for datum in datums {
        out.extend_from_slice(&datum[SINGLE_OBJECT_HEADER..]);
    }
    out.extend_from_slice(sync);
    out
}
