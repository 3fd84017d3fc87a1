//! Change events as bytes: JSON, Avro (single-object or Confluent framing)
//! and Protobuf. `docs/EVENTS.md` describes each format.

pub mod avro;
pub mod json;
mod protobuf;

use crate::error::SchemaError;
use crate::event::ChangeEvent;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// How a sink or consumer writes change events as bytes.
///
/// Written (in configuration, [`Display`](fmt::Display), serde) as `json`,
/// `avro`, `avro-confluent:<schema id>` or `protobuf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// One JSON object per event, `{"type":"event",...}`; see [`json`].
    Json,
    /// Avro single-object encoding: `C3 01`, the schema's 8-byte
    /// little-endian CRC-64-AVRO fingerprint, then the datum.
    Avro,
    /// Avro with Confluent Schema Registry framing: `00`, the 4-byte
    /// big-endian schema id, then the datum.
    AvroConfluent {
        /// The id the registry assigned to [`avro::SCHEMA`].
        schema_id: u32,
    },
    /// The Protobuf message `fluxkv.v1.ChangeEvent`.
    Protobuf,
}

impl Encoding {
    /// The encoding's name without parameters: `json`, `avro`,
    /// `avro-confluent` or `protobuf`.
    pub fn name(&self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::Avro => "avro",
            Encoding::AvroConfluent { .. } => "avro-confluent",
            Encoding::Protobuf => "protobuf",
        }
    }

    /// A MIME type for message headers (HTTP, AMQP `content_type`).
    pub fn content_type(&self) -> &'static str {
        match self {
            Encoding::Json => "application/json",
            Encoding::Avro => "application/avro",
            Encoding::AvroConfluent { .. } => "application/vnd.schemaregistry.v1+avro",
            Encoding::Protobuf => "application/x-protobuf",
        }
    }

    /// `event` as a new buffer.
    ///
    /// Fails only for Avro, whose `long`s cannot hold a number above
    /// `i64::MAX` ([`SchemaError::OutOfRange`]).
    pub fn encode(&self, event: &ChangeEvent) -> Result<Vec<u8>, SchemaError> {
        // A JSON event spends ~200 bytes on field names, node, seqs and
        // times: room for that up front saves a realloc and a copy each.
        let mut buf =
            Vec::with_capacity(256 + event.key.len() + event.value.as_ref().map_or(0, |v| v.len()));
        self.encode_into(event, &mut buf)?;
        Ok(buf)
    }

    /// Appends `event` to `buf` (so one buffer serves a whole batch). On
    /// error `buf` may hold part of the event: truncate it to its old length.
    pub fn encode_into(&self, event: &ChangeEvent, buf: &mut Vec<u8>) -> Result<(), SchemaError> {
        match *self {
            Encoding::Json => json::encode_event(event, buf),
            Encoding::Avro => avro::encode_single_object(event, buf),
            Encoding::AvroConfluent { schema_id } => avro::encode_confluent(schema_id, event, buf),
            Encoding::Protobuf => protobuf::encode(event, buf),
        }
    }

    /// The event in `bytes`, which must be exactly one encoded event.
    pub fn decode(&self, bytes: &[u8]) -> Result<ChangeEvent, SchemaError> {
        match *self {
            Encoding::Json => json::decode_event(bytes),
            Encoding::Avro => avro::decode_single_object(bytes),
            Encoding::AvroConfluent { schema_id } => avro::decode_confluent(schema_id, bytes),
            Encoding::Protobuf => protobuf::decode(bytes),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Encoding::AvroConfluent { schema_id } => write!(f, "avro-confluent:{schema_id}"),
            other => f.write_str(other.name()),
        }
    }
}

impl FromStr for Encoding {
    type Err = SchemaError;

    /// Accepts the names [`Display`](fmt::Display) writes, in any case.
    fn from_str(s: &str) -> Result<Encoding, SchemaError> {
        let unknown = || SchemaError::UnknownEncoding(s.to_owned());
        let (name, param) = match s.split_once(':') {
            Some((name, param)) => (name, Some(param)),
            None => (s, None),
        };
        let name = name.trim().to_ascii_lowercase();
        match (name.as_str(), param) {
            ("json", None) => Ok(Encoding::Json),
            ("avro", None) => Ok(Encoding::Avro),
            ("protobuf", None) => Ok(Encoding::Protobuf),
            ("avro-confluent", Some(id)) => {
                let schema_id = id.trim().parse().map_err(|_| unknown())?;
                Ok(Encoding::AvroConfluent { schema_id })
            }
            _ => Err(unknown()),
        }
    }
}

impl Serialize for Encoding {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Encoding {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Encoding, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_display_from_str_and_serde() {
        for (encoding, name) in [
            (Encoding::Json, "json"),
            (Encoding::Avro, "avro"),
            (
                Encoding::AvroConfluent { schema_id: 42 },
                "avro-confluent:42",
            ),
            (Encoding::Protobuf, "protobuf"),
        ] {
            assert_eq!(encoding.to_string(), name);
            assert_eq!(name.parse::<Encoding>().unwrap(), encoding);
            let json = serde_json::to_string(&encoding).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Encoding>(&json).unwrap(), encoding);
        }
        assert_eq!("JSON".parse::<Encoding>().unwrap(), Encoding::Json);
    }

    #[test]
    fn bad_names_are_errors() {
        for bad in ["xml", "avro-confluent", "avro-confluent:x", "json:1", ""] {
            let err = bad.parse::<Encoding>().unwrap_err();
            assert!(
                matches!(err, SchemaError::UnknownEncoding(ref s) if s == bad),
                "{bad}"
            );
        }
        let err = serde_json::from_str::<Encoding>("\"avro-confluent\"").unwrap_err();
        assert!(
            err.to_string().contains("avro-confluent:<schema id>"),
            "{err}"
        );
    }
}
