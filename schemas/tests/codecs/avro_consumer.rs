//! The Avro bytes as a consumer in another language sees them: decoded by a
//! generic Avro library (`apache-avro`) given nothing but
//! `schemas/avro/change_event.avsc`, read from disk.

use crate::strategy;
use apache_avro::rabin::Rabin;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::{GenericSingleObjectReader, GenericSingleObjectWriter, Schema};
use bytes::Bytes;
use fluxkv_schemas::codec::avro;
use fluxkv_schemas::{ChangeEvent, Encoding, Op, SchemaError};
use proptest::prelude::*;

fn avsc_from_disk() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/avro/change_event.avsc");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn schema_from_disk() -> Schema {
    Schema::parse_str(&avsc_from_disk()).expect("the .avsc file is a valid Avro schema")
}

/// The generic value a consumer gets for `event`.
fn expected_value(event: &ChangeEvent) -> Value {
    let long = |n: u64| Value::Long(i64::try_from(n).unwrap());
    let bytes = |b: &Bytes| Value::Bytes(b.to_vec());
    let optional = |v: Option<Value>| match v {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(v) => Value::Union(1, Box::new(v)),
    };
    let op_index = Op::ALL.iter().position(|op| *op == event.op).unwrap();
    Value::Record(vec![
        ("node".into(), Value::String(event.node.to_string())),
        ("epoch".into(), long(event.epoch)),
        ("seq".into(), long(event.seq)),
        ("ts_ms".into(), long(event.ts_ms)),
        (
            "op".into(),
            Value::Enum(op_index as u32, event.op.as_str().into()),
        ),
        ("key".into(), bytes(&event.key)),
        ("value".into(), optional(event.value.as_ref().map(bytes))),
        (
            "expire_at_ms".into(),
            optional(event.expire_at_ms.map(long)),
        ),
        ("prev".into(), optional(event.prev.as_ref().map(bytes))),
    ])
}

fn set_event() -> ChangeEvent {
    ChangeEvent {
        node: "node-a".into(),
        epoch: 2,
        seq: 1234,
        ts_ms: 1_700_000_000_000,
        op: Op::Set,
        key: Bytes::from_static(b"user:\xff\x00"),
        value: Some(Bytes::from_static(b"alice")),
        expire_at_ms: Some(1_700_000_060_000),
        prev: Some(Bytes::from_static(b"")),
    }
}

#[test]
fn the_embedded_schema_is_the_file_on_disk() {
    assert_eq!(avro::SCHEMA, avsc_from_disk());
}

#[test]
fn a_generic_reader_with_only_the_avsc_decodes_our_datum() {
    let schema = schema_from_disk();
    let reader = GenericDatumReader::builder(&schema).build().unwrap();

    let bytes = Encoding::Avro.encode(&set_event()).unwrap();
    let value = reader.read_value(&mut &bytes[10..]).unwrap();
    let Value::Record(fields) = value else {
        panic!("not a record: {value:?}")
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(field("node"), Value::String("node-a".into()));
    assert_eq!(field("epoch"), Value::Long(2));
    assert_eq!(field("seq"), Value::Long(1234));
    assert_eq!(field("ts_ms"), Value::Long(1_700_000_000_000));
    assert_eq!(field("op"), Value::Enum(0, "set".into()));
    assert_eq!(field("key"), Value::Bytes(b"user:\xff\x00".to_vec()));
    assert_eq!(
        field("value"),
        Value::Union(1, Box::new(Value::Bytes(b"alice".to_vec())))
    );
    assert_eq!(
        field("expire_at_ms"),
        Value::Union(1, Box::new(Value::Long(1_700_000_060_000)))
    );
    assert_eq!(
        field("prev"),
        Value::Union(1, Box::new(Value::Bytes(Vec::new())))
    );

    // A flush: empty key, every optional null.
    let flush = ChangeEvent {
        op: Op::Flush,
        key: Bytes::new(),
        value: None,
        expire_at_ms: None,
        prev: None,
        ..set_event()
    };
    let bytes = Encoding::AvroConfluent { schema_id: 42 }
        .encode(&flush)
        .unwrap();
    let value = reader.read_value(&mut &bytes[5..]).unwrap();
    assert_eq!(value, expected_value(&flush));
    let Value::Record(fields) = value else {
        unreachable!()
    };
    assert_eq!(fields[4].1, Value::Enum(4, "flush".into()));
    assert_eq!(fields[6].1, Value::Union(0, Box::new(Value::Null)));
}

#[test]
fn canonical_form_and_fingerprint_match_apache_avro() {
    let schema = schema_from_disk();
    assert_eq!(avro::CANONICAL_FORM, schema.canonical_form());
    let fingerprint = schema.fingerprint::<Rabin>().bytes;
    assert_eq!(avro::FINGERPRINT.to_le_bytes().to_vec(), fingerprint);
}

#[test]
fn single_object_header_is_marker_then_rabin_fingerprint() {
    let schema = schema_from_disk();
    let fingerprint = schema.fingerprint::<Rabin>().bytes;
    let bytes = Encoding::Avro.encode(&set_event()).unwrap();
    assert_eq!(bytes[..2], [0xC3, 0x01]);
    assert_eq!(bytes[2..10], fingerprint[..]);

    // Byte for byte what apache-avro's single-object writer produces...
    let mut writer = GenericSingleObjectWriter::new_with_capacity(&schema, 128).unwrap();
    let mut theirs = Vec::new();
    writer
        .write_value(expected_value(&set_event()), &mut theirs)
        .unwrap();
    assert_eq!(bytes, theirs);
    // ...and what its single-object reader accepts.
    let reader = GenericSingleObjectReader::builder()
        .schema(schema)
        .build()
        .unwrap();
    assert_eq!(
        reader.read_value(&mut &bytes[..]).unwrap(),
        expected_value(&set_event())
    );
}

#[test]
fn confluent_framing_is_magic_then_big_endian_id_then_datum() {
    let event = set_event();
    let bytes = Encoding::AvroConfluent {
        schema_id: 0x0102_0304,
    }
    .encode(&event)
    .unwrap();
    assert_eq!(bytes[..5], [0x00, 0x01, 0x02, 0x03, 0x04]);

    let schema = schema_from_disk();
    let datum = GenericDatumWriter::builder(&schema)
        .build()
        .unwrap()
        .write_value_to_vec(expected_value(&event))
        .unwrap();
    assert_eq!(bytes[5..], datum[..]);
}

#[test]
fn decoders_refuse_other_schemas() {
    let mut bytes = Encoding::Avro.encode(&set_event()).unwrap();
    bytes[9] ^= 1;
    let err = Encoding::Avro.decode(&bytes).unwrap_err();
    assert!(
        matches!(err, SchemaError::Fingerprint { expected, .. } if expected == avro::FINGERPRINT),
        "{err}"
    );

    let bytes = Encoding::AvroConfluent { schema_id: 7 }
        .encode(&set_event())
        .unwrap();
    let err = Encoding::AvroConfluent { schema_id: 8 }
        .decode(&bytes)
        .unwrap_err();
    assert!(
        matches!(
            err,
            SchemaError::SchemaId {
                found: 7,
                expected: 8
            }
        ),
        "{err}"
    );
}

#[test]
fn datum_errors_name_the_offset() {
    let mut bytes = Encoding::Avro.encode(&set_event()).unwrap();
    bytes.push(0);
    let err = Encoding::Avro.decode(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "malformed Avro datum at byte {}: bytes are left after the datum",
            bytes.len() - 11
        )
    );
}

proptest! {
    /// Our datum equals apache-avro's for the same record, both ways.
    #[test]
    fn datums_match_apache_avro(event in strategy::event(i64::MAX as u64)) {
        let schema = schema_from_disk();
        let ours = Encoding::Avro.encode(&event).unwrap();
        let value = GenericDatumReader::builder(&schema).build().unwrap().read_value(&mut &ours[10..]).unwrap();
        prop_assert_eq!(&value, &expected_value(&event));

        let theirs = GenericDatumWriter::builder(&schema).build().unwrap().write_value_to_vec(value).unwrap();
        prop_assert_eq!(&ours[10..], &theirs[..]);
        let mut framed = ours[..10].to_vec();
        framed.extend_from_slice(&theirs);
        prop_assert_eq!(Encoding::Avro.decode(&framed).unwrap(), event);
    }
}
