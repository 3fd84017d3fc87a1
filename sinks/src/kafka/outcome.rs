//! From librdkafka's per-record results to the engine's [`Delivery`]:
//! which errors are the record's own fault (it never will be delivered)
//! and which are the cluster's (retry the batch).

use crate::error::SinkError;
use crate::sink::Delivery;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// What became of one record (of every copy of it, for a `flush`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Acknowledged by the broker.
    Delivered,
    /// Refused for what it is: too large, invalid, not allowed in its topic.
    Permanent(String),
    /// Not delivered this time: the cluster was unreachable, too slow, or
    /// short of replicas.
    Transient(String),
    /// Not delivered, and the producer's idempotence state (producer id,
    /// epoch, sequence numbers) is lost or refused: retried with a new
    /// producer.
    Broken(String),
}

impl Outcome {
    /// The outcome of `err`, for the record described by `what`.
    pub(super) fn of_error(err: &KafkaError, what: &str) -> Outcome {
        let Some(code) = err.rdkafka_error_code() else {
            return Outcome::Transient(format!("{what}: {err}"));
        };
        let reason = format!("{what}: {code:?} ({code})");
        if is_permanent(code) {
            Outcome::Permanent(reason)
        } else if breaks_producer(code) {
            Outcome::Broken(reason)
        } else {
            Outcome::Transient(reason)
        }
    }

    /// Keeps the first failure of a record (of its copies).
    pub(super) fn merge(&mut self, other: Outcome) {
        if *self == Outcome::Delivered {
            *self = other;
        }
    }
}

/// Errors no retry can cure. Anything else — timeouts, unreachable or
/// restarting brokers, leader elections, `NotEnoughReplicas`, a full local
/// queue, unknown topics (they may yet be created) — is retried.
fn is_permanent(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as E;
    matches!(
        code,
        E::MessageSizeTooLarge
            | E::InvalidMessageSize
            | E::InvalidRecord
            | E::BadMessage
            | E::InvalidTimestamp
            | E::InvalidTopic
            | E::TopicAuthorizationFailed
            | E::PolicyViolation
            | E::UnsupportedForMessageFormat
    )
}

/// Errors after which the producer cannot go on: librdkafka's fatal
/// errors, and a producer id or epoch the broker no longer accepts (seen
/// when a broker answers the epoch bump that follows a record timing out
/// in flight with `ProducerFenced`).
fn breaks_producer(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as E;
    matches!(
        code,
        E::Fatal
            | E::ProducerFenced
            | E::InvalidProducerEpoch
            | E::InvalidProducerIdMapping
            | E::UnknownProducerId
            | E::OutOfOrderSequenceNumber
    )
}

/// The batch's delivery: `Delivered` when every record is; `Rejected` at
/// the first failed record when it failed for good and everything before it
/// is delivered; otherwise `Retryable`, naming the first failure.
pub(super) fn fold(sink: &str, outcomes: &[Outcome]) -> Delivery {
    let Some(first) = outcomes.iter().position(|o| *o != Outcome::Delivered) else {
        return Delivery::Delivered;
    };
    let failed = outcomes
        .iter()
        .filter(|o| **o != Outcome::Delivered)
        .count();
    let more = match failed - 1 {
        0 => String::new(),
        n => format!(" (and {n} more of the batch's {} records)", outcomes.len()),
    };
    match &outcomes[first] {
        Outcome::Permanent(reason) => Delivery::Rejected {
            index: first,
            reason: reason.clone(),
        },
        Outcome::Transient(reason) | Outcome::Broken(reason) => {
            Delivery::Retryable(SinkError::Unavailable {
                sink: sink.to_string(),
                reason: format!("{reason}{more}"),
            })
        }
        Outcome::Delivered => unreachable!("found as not delivered"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Outcome::{Broken, Delivered, Permanent, Transient};

    fn production(code: RDKafkaErrorCode) -> Outcome {
        Outcome::of_error(&KafkaError::MessageProduction(code), "seq 7")
    }

    #[test]
    fn classifies_errors() {
        use RDKafkaErrorCode as E;
        for code in [
            E::MessageSizeTooLarge,
            E::InvalidRecord,
            E::TopicAuthorizationFailed,
        ] {
            assert!(matches!(production(code), Permanent(_)), "{code:?}");
        }
        for code in [
            E::MessageTimedOut,
            E::QueueFull,
            E::NotEnoughReplicas,
            E::AllBrokersDown,
            E::UnknownTopicOrPartition,
        ] {
            assert!(matches!(production(code), Transient(_)), "{code:?}");
        }
        for code in [E::Fatal, E::ProducerFenced, E::OutOfOrderSequenceNumber] {
            assert!(matches!(production(code), Broken(_)), "{code:?}");
        }
        let Permanent(reason) = production(E::MessageSizeTooLarge) else {
            unreachable!()
        };
        assert!(reason.starts_with("seq 7: MessageSizeTooLarge"), "{reason}");
        assert!(matches!(
            Outcome::of_error(&KafkaError::Canceled, "x"),
            Transient(_)
        ));
    }

    #[test]
    fn folds_a_batch() {
        let p = || Permanent("too large".into());
        let t = || Transient("timed out".into());
        assert!(matches!(
            fold("s", &[Delivered, Delivered]),
            Delivery::Delivered
        ));
        assert!(matches!(
            fold("s", &[Delivered, p(), t()]),
            Delivery::Rejected { index: 1, .. }
        ));
        // An earlier transient failure: nothing after it can be skipped.
        let Delivery::Retryable(err) = fold("s", &[t(), p(), Delivered]) else {
            panic!("expected a retry");
        };
        assert!(err.to_string().contains("and 1 more"), "{err}");
        assert!(matches!(
            fold("s", &[Broken("fenced".into()), p()]),
            Delivery::Retryable(_)
        ));
        let mut merged = Delivered;
        merged.merge(t());
        merged.merge(p());
        assert_eq!(merged, t());
    }
}
