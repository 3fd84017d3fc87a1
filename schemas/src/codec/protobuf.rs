//! Events as the Protobuf message `fluxkv.v1.ChangeEvent`
//! (`schemas/proto/fluxkv/v1/event.proto`).

use crate::error::SchemaError;
use crate::event::ChangeEvent;
use crate::proto;
use prost::Message as _;

pub(crate) fn encode(event: &ChangeEvent, buf: &mut Vec<u8>) -> Result<(), SchemaError> {
    let message = proto::ChangeEvent::from(event);
    buf.reserve(message.encoded_len());
    message.encode(buf).map_err(SchemaError::ProtobufEncode)
}

/// Fails on malformed bytes and on an op this version does not know
/// (including `OP_UNSPECIFIED`, the value of a missing op).
pub(crate) fn decode(bytes: &[u8]) -> Result<ChangeEvent, SchemaError> {
    proto::ChangeEvent::decode(bytes)
        .map_err(SchemaError::Protobuf)?
        .try_into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Op;

    fn message(op: i32) -> Vec<u8> {
        proto::ChangeEvent {
            node: "n1".into(),
            seq: 1,
            op,
            key: "k".into(),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn proto_op_values_are_the_op_codes() {
        for op in Op::ALL {
            assert_eq!(proto::Op::from(op) as i32, i32::from(op.code()));
            assert_eq!(decode(&message(i32::from(op.code()))).unwrap().op, op);
        }
    }

    #[test]
    fn unknown_and_unspecified_ops_are_errors() {
        assert!(matches!(
            decode(&message(6)),
            Err(SchemaError::UnknownOp(6))
        ));
        assert!(matches!(
            decode(&message(-1)),
            Err(SchemaError::UnknownOp(-1))
        ));
        let err = decode(&message(0)).unwrap_err();
        assert!(matches!(err, SchemaError::UnknownOp(0)));
        assert_eq!(
            err.to_string(),
            "unknown op code 0: expected 1 (set) to 5 (flush); was the event written by a newer fluxkv?"
        );
    }

    #[test]
    fn malformed_bytes_are_an_error() {
        assert!(matches!(
            decode(&[0x0a, 0x05, b'n']),
            Err(SchemaError::Protobuf(_))
        ));
    }
}
