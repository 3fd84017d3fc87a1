//! Every encoding gives back exactly the event it was given.

use crate::strategy;
use fluxkv_schemas::codec::json;
use fluxkv_schemas::{ChangeEvent, Encoding, Op, SchemaError, StreamItem, proto};
use proptest::prelude::*;

const AVRO_MAX: u64 = i64::MAX as u64;

fn round_trip(encoding: Encoding, event: &ChangeEvent) -> Result<(), TestCaseError> {
    let bytes = encoding
        .encode(event)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back = encoding
        .decode(&bytes)
        .map_err(|e| TestCaseError::fail(format!("{encoding}: {e}")))?;
    prop_assert_eq!(&back, event);
    // Appending to a buffer that already holds something writes the same bytes.
    let mut buf = b"prefix".to_vec();
    encoding
        .encode_into(event, &mut buf)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&buf[6..], &bytes[..]);
    Ok(())
}

proptest! {
    #[test]
    fn json_round_trips(event in strategy::event(u64::MAX)) {
        round_trip(Encoding::Json, &event)?;
    }

    #[test]
    fn avro_single_object_round_trips(event in strategy::event(AVRO_MAX)) {
        round_trip(Encoding::Avro, &event)?;
    }

    #[test]
    fn avro_confluent_round_trips(event in strategy::event(AVRO_MAX), schema_id in any::<u32>()) {
        round_trip(Encoding::AvroConfluent { schema_id }, &event)?;
    }

    #[test]
    fn protobuf_round_trips(event in strategy::event(u64::MAX)) {
        round_trip(Encoding::Protobuf, &event)?;
    }

    #[test]
    fn json_items_round_trip(
        event in strategy::event(u64::MAX),
        mark in strategy::watermark(),
    ) {
        for item in [StreamItem::Event(event), StreamItem::Watermark(mark)] {
            let mut buf = Vec::new();
            json::encode_item(&item, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = json::decode_item(&buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, item);
        }
    }

    #[test]
    fn watch_responses_round_trip(
        event in strategy::event(u64::MAX),
        mark in strategy::watermark(),
    ) {
        for item in [StreamItem::Event(event), StreamItem::Watermark(mark)] {
            let response = proto::WatchResponse::from(&item);
            let back = StreamItem::try_from(response).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, item);
        }
    }

    /// Avro longs are signed: a number above `i64::MAX` is refused rather
    /// than written as a negative number.
    #[test]
    fn avro_refuses_numbers_above_i64_max(
        event in strategy::event(AVRO_MAX),
        big in (AVRO_MAX + 1)..=u64::MAX,
        field in 0..4_usize,
    ) {
        let mut event = event;
        match field {
            0 => event.epoch = big,
            1 => event.seq = big,
            2 => event.ts_ms = big,
            _ => event.expire_at_ms = Some(big),
        }
        for encoding in [Encoding::Avro, Encoding::AvroConfluent { schema_id: 1 }] {
            let result = encoding.encode(&event);
            prop_assert!(
                matches!(result, Err(SchemaError::OutOfRange { value, .. }) if value == big),
                "{encoding}: {result:?}"
            );
        }
    }

    /// Decoders return errors, never panic, on arbitrary input.
    #[test]
    fn decoders_survive_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        for encoding in encodings() {
            let _ = encoding.decode(&bytes);
        }
        let _ = json::decode_item(&bytes);
    }

    /// Every proper prefix of an Avro or JSON message is an error.
    #[test]
    fn truncated_messages_are_errors(event in strategy::event(AVRO_MAX)) {
        for encoding in [Encoding::Json, Encoding::Avro, Encoding::AvroConfluent { schema_id: 7 }] {
            let bytes = encoding.encode(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for len in 0..bytes.len() {
                prop_assert!(encoding.decode(&bytes[..len]).is_err(), "{encoding}: prefix of {len} bytes decoded");
            }
        }
    }
}

fn encodings() -> [Encoding; 4] {
    [
        Encoding::Json,
        Encoding::Avro,
        Encoding::AvroConfluent { schema_id: 7 },
        Encoding::Protobuf,
    ]
}

#[test]
fn every_op_round_trips_in_every_encoding() {
    for op in Op::ALL {
        let event = ChangeEvent {
            node: "n1".into(),
            epoch: 3,
            seq: 9,
            ts_ms: 1_700_000_000_000,
            op,
            key: "k".into(),
            value: None,
            expire_at_ms: None,
            prev: None,
        };
        for encoding in encodings() {
            let bytes = encoding.encode(&event).unwrap();
            assert_eq!(encoding.decode(&bytes).unwrap().op, op, "{encoding}");
        }
    }
}

#[test]
fn a_message_decodes_only_in_its_own_encoding() {
    let event = ChangeEvent {
        node: "n1".into(),
        epoch: 1,
        seq: 1,
        ts_ms: 1,
        op: Op::Del,
        key: "k".into(),
        value: None,
        expire_at_ms: None,
        prev: None,
    };
    let avro = Encoding::Avro.encode(&event).unwrap();
    let confluent = Encoding::AvroConfluent { schema_id: 5 }
        .encode(&event)
        .unwrap();
    let json_bytes = Encoding::Json.encode(&event).unwrap();
    assert!(matches!(
        Encoding::AvroConfluent { schema_id: 5 }.decode(&avro),
        Err(SchemaError::Header { .. })
    ));
    assert!(matches!(
        Encoding::Avro.decode(&confluent),
        Err(SchemaError::Header { .. })
    ));
    assert!(matches!(
        Encoding::Avro.decode(&json_bytes),
        Err(SchemaError::Header { .. })
    ));
    assert!(matches!(
        Encoding::Json.decode(&avro),
        Err(SchemaError::Json(_))
    ));
}
