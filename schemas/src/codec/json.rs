//! Events and watermarks as JSON objects, one per message or line.
//!
//! ```text
//! {"type":"event","node":"n1","epoch":1,"seq":42,"ts_ms":1700000000000,"op":"set","encoding":"utf8","key":"user:1","value":"alice"}
//! {"type":"watermark","node":"n1","epoch":1,"last_seq":42,"ts_ms":1700000001000}
//! ```
//!
//! Field names are the model's. `"encoding"` says how `key`, `value` and
//! `prev` are written: `"utf8"` (as text) when all of them are valid UTF-8,
//! otherwise `"base64"` (standard alphabet, padded) for all three — the
//! scheme `fluxkv aof dump` uses. Absent optional fields are omitted.
//!
//! Decoding accepts what encoding writes, ignores unknown fields (newer
//! producers may add some), and reads a missing `"type"` as `"event"` and a
//! missing `"encoding"` as `"utf8"` (as `fluxkv aof dump` lines do).

use crate::error::SchemaError;
use crate::event::{ChangeEvent, Op, StreamItem, Watermark};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// How `key`, `value` and `prev` are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TextEncoding {
    Utf8,
    Base64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ItemType {
    Event,
    Watermark,
}

impl ItemType {
    fn as_str(self) -> &'static str {
        match self {
            ItemType::Event => "event",
            ItemType::Watermark => "watermark",
        }
    }
}

/// `key`, `value` or `prev` as written: text, or base64 written straight
/// into the output without an intermediate `String`.
#[derive(Debug, Clone, Copy)]
enum Text<'a> {
    Utf8(&'a str),
    Base64(&'a [u8]),
}

impl Serialize for Text<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Text::Utf8(s) => serializer.serialize_str(s),
            Text::Base64(b) => {
                serializer.collect_str(&base64::display::Base64Display::new(b, &STANDARD))
            }
        }
    }
}

#[derive(Debug, Serialize)]
struct EventOut<'a> {
    #[serde(rename = "type")]
    kind: ItemType,
    node: &'a str,
    epoch: u64,
    seq: u64,
    ts_ms: u64,
    op: Op,
    encoding: TextEncoding,
    key: Text<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_at_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev: Option<Text<'a>>,
}

/// `key`, `value` and `prev` as text, if all of them are valid UTF-8.
fn utf8_fields(event: &ChangeEvent) -> Option<(&str, Option<&str>, Option<&str>)> {
    fn text(b: &Bytes) -> Option<&str> {
        std::str::from_utf8(b).ok()
    }
    let key = text(&event.key)?;
    let value = match &event.value {
        Some(value) => Some(text(value)?),
        None => None,
    };
    let prev = match &event.prev {
        Some(prev) => Some(text(prev)?),
        None => None,
    };
    Some((key, value, prev))
}

impl<'a> EventOut<'a> {
    fn new(event: &'a ChangeEvent) -> EventOut<'a> {
        let (encoding, key, value, prev) = match utf8_fields(event) {
            Some((key, value, prev)) => (
                TextEncoding::Utf8,
                Text::Utf8(key),
                value.map(Text::Utf8),
                prev.map(Text::Utf8),
            ),
            None => (
                TextEncoding::Base64,
                Text::Base64(&event.key),
                event.value.as_deref().map(Text::Base64),
                event.prev.as_deref().map(Text::Base64),
            ),
        };
        EventOut {
            kind: ItemType::Event,
            node: &event.node,
            epoch: event.epoch,
            seq: event.seq,
            ts_ms: event.ts_ms,
            op: event.op,
            encoding,
            key,
            value,
            expire_at_ms: event.expire_at_ms,
            prev,
        }
    }
}

#[derive(Debug, Serialize)]
struct WatermarkOut<'a> {
    #[serde(rename = "type")]
    kind: ItemType,
    node: &'a str,
    epoch: u64,
    last_seq: u64,
    ts_ms: u64,
}

/// Any JSON item, as read: the fields of both types, each optional, so one
/// parse serves [`decode_item`].
#[derive(Debug, Deserialize)]
struct ItemIn<'a> {
    #[serde(rename = "type")]
    kind: Option<ItemType>,
    #[serde(borrow)]
    node: Option<TextIn<'a>>,
    epoch: Option<u64>,
    seq: Option<u64>,
    last_seq: Option<u64>,
    ts_ms: Option<u64>,
    op: Option<Op>,
    encoding: Option<TextEncoding>,
    #[serde(borrow)]
    key: Option<TextIn<'a>>,
    #[serde(borrow)]
    value: Option<TextIn<'a>>,
    expire_at_ms: Option<u64>,
    #[serde(borrow)]
    prev: Option<TextIn<'a>>,
}

/// A JSON string, borrowed from the input when it has no escapes.
#[derive(Debug)]
struct TextIn<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for TextIn<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a str>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = TextIn<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<TextIn<'a>, E> {
                Ok(TextIn(Cow::Borrowed(s)))
            }

            fn visit_str<E>(self, s: &str) -> Result<TextIn<'a>, E> {
                Ok(TextIn(Cow::Owned(s.to_owned())))
            }

            fn visit_string<E>(self, s: String) -> Result<TextIn<'a>, E> {
                Ok(TextIn(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(Visitor(std::marker::PhantomData))
    }
}

fn required<T>(item: ItemType, field: &'static str, value: Option<T>) -> Result<T, SchemaError> {
    value.ok_or(SchemaError::MissingField {
        item: item.as_str(),
        field,
    })
}

fn bytes_of(
    encoding: TextEncoding,
    field: &'static str,
    text: TextIn<'_>,
) -> Result<Bytes, SchemaError> {
    match (encoding, text.0) {
        (TextEncoding::Utf8, Cow::Borrowed(s)) => Ok(Bytes::copy_from_slice(s.as_bytes())),
        (TextEncoding::Utf8, Cow::Owned(s)) => Ok(Bytes::from(s)),
        (TextEncoding::Base64, text) => STANDARD
            .decode(text.as_bytes())
            .map(Bytes::from)
            .map_err(|source| SchemaError::Base64 { field, source }),
    }
}

impl ItemIn<'_> {
    fn parse(bytes: &[u8]) -> Result<ItemIn<'_>, SchemaError> {
        serde_json::from_slice(bytes).map_err(SchemaError::Json)
    }

    fn into_event(self) -> Result<ChangeEvent, SchemaError> {
        const EVENT: ItemType = ItemType::Event;
        if let Some(ItemType::Watermark) = self.kind {
            return Err(SchemaError::WrongItemType {
                expected: "event",
                found: "watermark",
            });
        }
        let encoding = self.encoding.unwrap_or(TextEncoding::Utf8);
        Ok(ChangeEvent {
            node: required(EVENT, "node", self.node)?.0.as_ref().into(),
            epoch: required(EVENT, "epoch", self.epoch)?,
            seq: required(EVENT, "seq", self.seq)?,
            ts_ms: required(EVENT, "ts_ms", self.ts_ms)?,
            op: required(EVENT, "op", self.op)?,
            key: bytes_of(encoding, "key", required(EVENT, "key", self.key)?)?,
            value: self
                .value
                .map(|v| bytes_of(encoding, "value", v))
                .transpose()?,
            expire_at_ms: self.expire_at_ms,
            prev: self
                .prev
                .map(|p| bytes_of(encoding, "prev", p))
                .transpose()?,
        })
    }

    fn into_watermark(self) -> Result<Watermark, SchemaError> {
        const MARK: ItemType = ItemType::Watermark;
        Ok(Watermark {
            node: required(MARK, "node", self.node)?.0.as_ref().into(),
            epoch: required(MARK, "epoch", self.epoch)?,
            last_seq: required(MARK, "last_seq", self.last_seq)?,
            ts_ms: required(MARK, "ts_ms", self.ts_ms)?,
        })
    }
}

/// Appends `event` as one JSON object (no newline) to `buf`.
pub fn encode_event(event: &ChangeEvent, buf: &mut Vec<u8>) -> Result<(), SchemaError> {
    serde_json::to_writer(buf, &EventOut::new(event)).map_err(SchemaError::Json)
}

/// Appends `mark` as one JSON object (no newline) to `buf`.
pub fn encode_watermark(mark: &Watermark, buf: &mut Vec<u8>) -> Result<(), SchemaError> {
    let out = WatermarkOut {
        kind: ItemType::Watermark,
        node: &mark.node,
        epoch: mark.epoch,
        last_seq: mark.last_seq,
        ts_ms: mark.ts_ms,
    };
    serde_json::to_writer(buf, &out).map_err(SchemaError::Json)
}

/// Appends `item` as one JSON object (no newline) to `buf`.
pub fn encode_item(item: &StreamItem, buf: &mut Vec<u8>) -> Result<(), SchemaError> {
    match item {
        StreamItem::Event(event) => encode_event(event, buf),
        StreamItem::Watermark(mark) => encode_watermark(mark, buf),
    }
}

/// The event in `bytes`; a watermark is an error
/// ([`SchemaError::WrongItemType`]).
pub fn decode_event(bytes: &[u8]) -> Result<ChangeEvent, SchemaError> {
    ItemIn::parse(bytes)?.into_event()
}

/// The event or watermark in `bytes`, told apart by `"type"`.
pub fn decode_item(bytes: &[u8]) -> Result<StreamItem, SchemaError> {
    let item = ItemIn::parse(bytes)?;
    match item.kind {
        Some(ItemType::Watermark) => item.into_watermark().map(StreamItem::Watermark),
        Some(ItemType::Event) | None => item.into_event().map(StreamItem::Event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(
        key: &'static [u8],
        value: Option<&'static [u8]>,
        prev: Option<&'static [u8]>,
    ) -> ChangeEvent {
        ChangeEvent {
            node: "n1".into(),
            epoch: 1,
            seq: 7,
            ts_ms: 1_700_000_000_000,
            op: Op::Set,
            key: Bytes::from_static(key),
            value: value.map(Bytes::from_static),
            expire_at_ms: None,
            prev: prev.map(Bytes::from_static),
        }
    }

    fn encode(event: &ChangeEvent) -> String {
        let mut buf = Vec::new();
        encode_event(event, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn text_fields_are_utf8_when_all_of_them_are() {
        let json = encode(&event("ключ".as_bytes(), Some(b"v\"1\n"), Some(b"")));
        assert_eq!(
            json,
            r#"{"type":"event","node":"n1","epoch":1,"seq":7,"ts_ms":1700000000000,"op":"set","encoding":"utf8","key":"ключ","value":"v\"1\n","prev":""}"#
        );
        assert_eq!(
            decode_event(json.as_bytes()).unwrap(),
            event("ключ".as_bytes(), Some(b"v\"1\n"), Some(b""))
        );
    }

    #[test]
    fn one_binary_field_makes_all_three_base64() {
        // Only `prev` is not UTF-8; key and value switch to base64 too.
        let binary = event(b"k", Some(b"v"), Some(b"\xff"));
        let json = encode(&binary);
        assert_eq!(
            json,
            r#"{"type":"event","node":"n1","epoch":1,"seq":7,"ts_ms":1700000000000,"op":"set","encoding":"base64","key":"aw==","value":"dg==","prev":"/w=="}"#
        );
        assert_eq!(decode_event(json.as_bytes()).unwrap(), binary);

        let binary_key = event(b"\x00\xfe", None, None);
        let json = encode(&binary_key);
        assert!(
            json.contains(r#""encoding":"base64","key":"AP4=""#),
            "{json}"
        );
        assert_eq!(decode_event(json.as_bytes()).unwrap(), binary_key);
    }

    #[test]
    fn absent_optionals_are_omitted() {
        let json = encode(&event(b"k", None, None));
        assert!(
            !json.contains("value") && !json.contains("prev") && !json.contains("expire_at_ms"),
            "{json}"
        );
    }

    #[test]
    fn watermarks_have_their_own_type() {
        let mark = Watermark {
            node: "n1".into(),
            epoch: 2,
            last_seq: 9,
            ts_ms: 5,
        };
        let mut buf = Vec::new();
        encode_watermark(&mark, &mut buf).unwrap();
        assert_eq!(
            buf,
            br#"{"type":"watermark","node":"n1","epoch":2,"last_seq":9,"ts_ms":5}"#
        );
        assert_eq!(decode_item(&buf).unwrap(), StreamItem::Watermark(mark));
        assert!(matches!(
            decode_event(&buf),
            Err(SchemaError::WrongItemType {
                expected: "event",
                found: "watermark"
            })
        ));
    }

    #[test]
    fn missing_type_and_encoding_mean_event_and_utf8() {
        let json = br#"{"node":"n1","epoch":1,"seq":7,"ts_ms":1700000000000,"op":"set","key":"k","value":"v","future_field":[1]}"#;
        assert_eq!(decode_event(json).unwrap(), event(b"k", Some(b"v"), None));
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let no_seq = br#"{"type":"event","node":"n1","epoch":1,"ts_ms":1,"op":"del","key":"k"}"#;
        let err = decode_event(no_seq).unwrap_err();
        assert_eq!(err.to_string(), r#"JSON event has no "seq" field"#);

        let bad = br#"{"node":"n1","epoch":1,"seq":1,"ts_ms":1,"op":"del","encoding":"base64","key":"not base64!"}"#;
        let err = decode_event(bad).unwrap_err();
        assert!(
            matches!(err, SchemaError::Base64 { field: "key", .. }),
            "{err}"
        );

        let bad_op = br#"{"node":"n1","epoch":1,"seq":1,"ts_ms":1,"op":"rename","key":"k"}"#;
        assert!(matches!(decode_event(bad_op), Err(SchemaError::Json(_))));
    }
}
