//! Random change events for property tests.

use bytes::Bytes;
use fluxkv_schemas::{ChangeEvent, Op, Watermark};
use proptest::prelude::*;

/// Text (any Unicode, often ASCII) or arbitrary binary.
pub(crate) fn payload() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        "[a-z:0-9]{0,12}".prop_map(Bytes::from),
        ".{0,16}".prop_map(Bytes::from),
        proptest::collection::vec(any::<u8>(), 0..48).prop_map(Bytes::from),
    ]
}

/// Events of every op, with numbers up to `max` (Avro `long`s stop at
/// `i64::MAX`) and each optional field present or absent.
pub(crate) fn event(max: u64) -> impl Strategy<Value = ChangeEvent> {
    (
        ".{0,10}",
        (0..=max, 0..=max, 0..=max),
        proptest::sample::select(Op::ALL.to_vec()),
        payload(),
        proptest::option::of(payload()),
        proptest::option::of(0..=max),
        proptest::option::of(payload()),
    )
        .prop_map(
            |(node, (epoch, seq, ts_ms), op, key, value, expire_at_ms, prev)| ChangeEvent {
                node: node.into(),
                epoch,
                seq,
                ts_ms,
                op,
                key,
                value,
                expire_at_ms,
                prev,
            },
        )
}

pub(crate) fn watermark() -> impl Strategy<Value = Watermark> {
    (".{0,10}", any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
        |(node, epoch, last_seq, ts_ms)| Watermark {
            node: node.into(),
            epoch,
            last_seq,
            ts_ms,
        },
    )
}
