//! Conversions between the model ([`crate::event`]) and its Protobuf
//! messages ([`crate::proto`]).

use crate::error::SchemaError;
use crate::event::{ChangeEvent, Op, StreamItem, Watermark};
use crate::proto;
use crate::proto::watch_response::Item;

impl From<Op> for proto::Op {
    fn from(op: Op) -> proto::Op {
        match op {
            Op::Set => proto::Op::Set,
            Op::Del => proto::Op::Del,
            Op::Expire => proto::Op::Expire,
            Op::Evict => proto::Op::Evict,
            Op::Flush => proto::Op::Flush,
        }
    }
}

impl TryFrom<proto::Op> for Op {
    type Error = SchemaError;

    /// Fails for `OP_UNSPECIFIED`.
    fn try_from(op: proto::Op) -> Result<Op, SchemaError> {
        op_from_i32(op as i32)
    }
}

/// The op whose code is `code`; Protobuf enum values equal [`Op::code`].
pub(crate) fn op_from_i32(code: i32) -> Result<Op, SchemaError> {
    u8::try_from(code)
        .ok()
        .and_then(Op::from_code)
        .ok_or(SchemaError::UnknownOp(code))
}

impl From<&ChangeEvent> for proto::ChangeEvent {
    fn from(event: &ChangeEvent) -> proto::ChangeEvent {
        proto::ChangeEvent::from(event.clone())
    }
}

/// By value: the byte fields move instead of being cloned (on a hot stream
/// a clone is a refcount increment on a buffer other threads share).
impl From<ChangeEvent> for proto::ChangeEvent {
    fn from(event: ChangeEvent) -> proto::ChangeEvent {
        proto::ChangeEvent {
            node: event.node.to_string(),
            epoch: event.epoch,
            seq: event.seq,
            ts_ms: event.ts_ms,
            op: proto::Op::from(event.op).into(),
            key: event.key,
            value: event.value,
            expire_at_ms: event.expire_at_ms,
            prev: event.prev,
        }
    }
}

impl TryFrom<proto::ChangeEvent> for ChangeEvent {
    type Error = SchemaError;

    /// Fails when `op` is `OP_UNSPECIFIED` or a value this version does not
    /// know.
    fn try_from(event: proto::ChangeEvent) -> Result<ChangeEvent, SchemaError> {
        Ok(ChangeEvent {
            op: op_from_i32(event.op)?,
            node: event.node.into(),
            epoch: event.epoch,
            seq: event.seq,
            ts_ms: event.ts_ms,
            key: event.key,
            value: event.value,
            expire_at_ms: event.expire_at_ms,
            prev: event.prev,
        })
    }
}

impl From<&Watermark> for proto::Watermark {
    fn from(mark: &Watermark) -> proto::Watermark {
        proto::Watermark {
            node: mark.node.to_string(),
            epoch: mark.epoch,
            last_seq: mark.last_seq,
            ts_ms: mark.ts_ms,
        }
    }
}

/// Infallible: every Protobuf watermark is a valid [`Watermark`] (so
/// `TryFrom` holds too, with `Infallible` as its error).
impl From<proto::Watermark> for Watermark {
    fn from(mark: proto::Watermark) -> Watermark {
        Watermark {
            node: mark.node.into(),
            epoch: mark.epoch,
            last_seq: mark.last_seq,
            ts_ms: mark.ts_ms,
        }
    }
}

impl From<&StreamItem> for proto::WatchResponse {
    fn from(item: &StreamItem) -> proto::WatchResponse {
        proto::WatchResponse::from(item.clone())
    }
}

impl From<StreamItem> for proto::WatchResponse {
    fn from(item: StreamItem) -> proto::WatchResponse {
        let item = match item {
            StreamItem::Event(event) => Item::Event(event.into()),
            StreamItem::Watermark(mark) => Item::Watermark((&mark).into()),
        };
        proto::WatchResponse { item: Some(item) }
    }
}

impl TryFrom<proto::WatchResponse> for StreamItem {
    type Error = SchemaError;

    /// Fails when the response has no item or its event has an unknown op.
    fn try_from(response: proto::WatchResponse) -> Result<StreamItem, SchemaError> {
        match response.item {
            Some(Item::Event(event)) => Ok(StreamItem::Event(event.try_into()?)),
            Some(Item::Watermark(mark)) => Ok(StreamItem::Watermark(mark.into())),
            None => Err(SchemaError::MissingItem),
        }
    }
}
