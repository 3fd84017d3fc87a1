//! What each published message carries besides its payload.
//!
//! | property | value |
//! |---|---|
//! | `delivery_mode` | 2 (persistent) |
//! | `content_type` | the encoding's MIME type, e.g. `application/json` |
//! | `message_id` | `node:epoch:seq`, the event's identity |
//! | `timestamp` | the write's time, Unix seconds |
//! | `app_id` | `fluxkv` |
//! | headers | `fluxkv-seq`, `fluxkv-epoch` (64-bit ints), `fluxkv-op`, `fluxkv-node` (strings) |

use super::routing::{MAX_LEN, truncate};
use fluxkv_schemas::ChangeEvent;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

/// Persistent, in AMQP's `delivery_mode` terms.
const PERSISTENT: u8 = 2;

/// The message id of `event`: `node:epoch:seq`.
pub(super) fn message_id(event: &ChangeEvent) -> String {
    let mut id = format!("{}:{}:{}", event.node, event.epoch, event.seq);
    truncate(&mut id, MAX_LEN); // only with a node id of ~200 bytes
    id
}

/// The seq a message id names (its last field).
pub(super) fn seq_of(message_id: &str) -> Option<u64> {
    message_id.rsplit_once(':')?.1.parse().ok()
}

/// The properties and headers of `event`'s message.
pub(super) fn properties(event: &ChangeEvent, content_type: &ShortString) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert("fluxkv-seq".into(), long(event.seq));
    headers.insert("fluxkv-epoch".into(), long(event.epoch));
    headers.insert(
        "fluxkv-op".into(),
        AMQPValue::LongString(LongString::from(event.op.as_str())),
    );
    headers.insert(
        "fluxkv-node".into(),
        AMQPValue::LongString(LongString::from(&*event.node)),
    );
    BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type(content_type.clone())
        .with_message_id(ShortString::from(message_id(event)))
        .with_timestamp(event.ts_ms / 1000)
        .with_app_id("fluxkv".into())
        .with_headers(headers)
}

/// A u64 as AMQP's signed 64-bit integer; fluxkv's numbers stay below
/// 2^63 (docs/EVENTS.md).
fn long(n: u64) -> AMQPValue {
    AMQPValue::LongLongInt(i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use fluxkv_schemas::Op;

    #[test]
    fn identity_headers_and_persistence() {
        let event = ChangeEvent {
            node: "node:a".into(),
            epoch: 3,
            seq: 42,
            ts_ms: 1_700_000_000_123,
            op: Op::Del,
            key: Bytes::from_static(b"k"),
            value: None,
            expire_at_ms: None,
            prev: None,
        };
        assert_eq!(message_id(&event), "node:a:3:42");
        assert_eq!(seq_of(&message_id(&event)), Some(42));
        let props = properties(&event, &"application/json".into());
        assert_eq!(props.delivery_mode(), &Some(2));
        assert_eq!(
            props.content_type().as_ref().unwrap().as_str(),
            "application/json"
        );
        assert_eq!(props.timestamp(), &Some(1_700_000_000));
        let headers = props.headers().as_ref().unwrap().inner();
        assert_eq!(headers["fluxkv-seq"], AMQPValue::LongLongInt(42));
        assert_eq!(headers["fluxkv-epoch"], AMQPValue::LongLongInt(3));
        assert_eq!(headers["fluxkv-op"], AMQPValue::LongString("del".into()));
        assert_eq!(
            headers["fluxkv-node"],
            AMQPValue::LongString("node:a".into())
        );
    }
}
