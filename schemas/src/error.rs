//! The one error type of this crate.

/// Why an event could not be encoded or decoded.
///
/// Every message says what was wrong with the input and, where it helps,
/// what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The input is not JSON, or not a JSON object of the expected shape.
    #[error("malformed JSON event: {0}")]
    Json(#[source] serde_json::Error),

    /// A JSON item lacks a field its `"type"` requires.
    #[error("JSON {item} has no {field:?} field")]
    MissingField {
        /// `"event"` or `"watermark"`.
        item: &'static str,
        /// The missing field.
        field: &'static str,
    },

    /// A JSON item is of another type than the one asked for.
    #[error(
        "expected a JSON {expected}, found {found:?}; use codec::json::decode_item to accept both"
    )]
    WrongItemType {
        /// What the caller asked for.
        expected: &'static str,
        /// The item's `"type"`.
        found: &'static str,
    },

    /// A JSON field marked `"encoding":"base64"` is not valid base64.
    #[error(
        "field {field:?} is not valid base64 (standard alphabet, padded), as \"encoding\":\"base64\" requires: {source}"
    )]
    Base64 {
        /// `key`, `value` or `prev`.
        field: &'static str,
        /// What the base64 decoder found.
        #[source]
        source: base64::DecodeError,
    },

    /// The op code is not one this version of fluxkv knows (0, `OP_UNSPECIFIED`,
    /// is never valid).
    #[error(
        "unknown op code {0}: expected 1 (set) to 5 (flush); was the event written by a newer fluxkv?"
    )]
    UnknownOp(i32),

    /// A `WatchResponse` carries neither an event nor a watermark.
    #[error("WatchResponse has no item: expected an event or a watermark")]
    MissingItem,

    /// The input is not a valid Protobuf `fluxkv.v1.ChangeEvent`.
    #[error("malformed Protobuf event: {0}")]
    Protobuf(#[source] prost::DecodeError),

    /// Protobuf encoding failed (only when the output buffer cannot grow).
    #[error("cannot encode Protobuf event: {0}")]
    ProtobufEncode(#[source] prost::EncodeError),

    /// The input does not start with the header its encoding requires.
    #[error("not a fluxkv {encoding} message: {detail}")]
    Header {
        /// The encoding's name, e.g. `avro`.
        encoding: &'static str,
        /// What was expected and what was found.
        detail: String,
    },

    /// An Avro single-object message was written with another schema.
    #[error(
        "Avro message was written with the schema whose fingerprint is {found:#018x}, \
         but this fluxkv reads {expected:#018x} (schemas/avro/change_event.avsc); \
         decode it with the writer's schema"
    )]
    Fingerprint {
        /// The fingerprint in the message.
        found: u64,
        /// The fingerprint of [`crate::codec::avro::SCHEMA`].
        expected: u64,
    },

    /// A Confluent-framed message names another schema id than the one
    /// configured.
    #[error(
        "Confluent-framed Avro message has schema id {found}, but the decoder was configured \
         for id {expected}; fetch schema {found} from the registry or fix the configured id"
    )]
    SchemaId {
        /// The id in the message.
        found: u32,
        /// The id the [`crate::Encoding::AvroConfluent`] was given.
        expected: u32,
    },

    /// The Avro datum after the header is malformed.
    #[error("malformed Avro datum at byte {offset}: {reason}")]
    Avro {
        /// Offset of the problem within the datum.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },

    /// A number does not fit the encoding (Avro `long`s are signed: at most
    /// `i64::MAX`).
    #[error("{field} = {value} does not fit an Avro long (at most {max})", max = i64::MAX)]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
    },

    /// An encoding name that is not one of `json`, `avro`,
    /// `avro-confluent:<schema id>`, `protobuf`.
    #[error("unknown encoding {0:?}: expected json, avro, avro-confluent:<schema id> or protobuf")]
    UnknownEncoding(String),
}
