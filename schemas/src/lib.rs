//! fluxkv's change-event model and its wire forms.
//!
//! # Layout
//!
//! - [`event`] — [`ChangeEvent`], [`Op`], [`Watermark`], [`StreamItem`]: the
//!   one record type shared by the AOF, the change stream, sinks and
//!   consumers.
//! - [`codec`] — [`Encoding`]: events as JSON, Avro (single-object or
//!   Confluent framing) and Protobuf bytes; [`codec::json`] also writes and
//!   reads watermarks; [`codec::avro`] holds the Avro schema.
//! - [`proto`] — the gRPC API (`KV`, `Watch`, `Admin`) generated from
//!   `proto/fluxkv/v1/*.proto`, [`FILE_DESCRIPTOR_SET`] for reflection, and
//!   conversions between the model and its Protobuf messages.
//! - [`SchemaError`] — why something could not be encoded or decoded.
//!
//! The format of every encoding is described in `docs/EVENTS.md`.
//!
//! # Example
//!
//! ```
//! use fluxkv_schemas::{ChangeEvent, Encoding, Op};
//!
//! let event = ChangeEvent {
//!     node: "n1".into(),
//!     epoch: 1,
//!     seq: 42,
//!     ts_ms: 1_700_000_000_000,
//!     op: Op::Set,
//!     key: "user:1".into(),
//!     value: Some("alice".into()),
//!     expire_at_ms: None,
//!     prev: None,
//! };
//! let json = Encoding::Json.encode(&event)?;
//! assert_eq!(
//!     std::str::from_utf8(&json)?,
//!     r#"{"type":"event","node":"n1","epoch":1,"seq":42,"ts_ms":1700000000000,"op":"set","encoding":"utf8","key":"user:1","value":"alice"}"#
//! );
//! assert_eq!(Encoding::Json.decode(&json)?, event);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod codec;
mod convert;
mod error;
pub mod event;
pub mod proto;

pub use codec::Encoding;
pub use error::SchemaError;
pub use event::{ChangeEvent, Op, StreamItem, Watermark};
pub use proto::FILE_DESCRIPTOR_SET;
