//! What the broker already said about the records the engine will hand
//! the sink next, so they are not published twice.
//!
//! The engine retries a batch (`Retryable`) or goes on after a dead letter
//! (`Rejected`) by calling `deliver` again with the same records or their
//! tail. Publishing the whole batch again would be correct (consumers
//! deduplicate) but wasteful, and with a bounded queue it may never finish:
//! so the sink remembers the outcome of each record of the leading run it
//! knows about (confirmed, or returned as unroutable) and publishes only
//! from the first record whose fate is unknown (nacked, or lost with the
//! connection). Publishing resumes from a point, in order, never skipping
//! over an unknown record, so per-key order in the queue is kept.

use crate::error::SinkError;
use crate::sink::{Delivery, Record};
use std::collections::VecDeque;

/// The broker's final word on one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Confirmed (ack) and routed.
    Confirmed,
    /// Returned: no queue is bound for it; the reason for the dead letter.
    Unroutable(String),
}

/// Outcomes of the records at the head of the next delivery, by seq.
#[derive(Debug, Default)]
pub(super) struct Settled {
    head: VecDeque<(u64, Outcome)>,
}

impl Settled {
    /// How many leading `records` are settled. Outcomes that are not about
    /// these records (the engine moved elsewhere) are forgotten.
    pub(super) fn known(&mut self, records: &[Record]) -> usize {
        let matches = self.head.len() <= records.len()
            && self
                .head
                .iter()
                .zip(records)
                .all(|((seq, _), r)| *seq == r.event.seq);
        if !matches {
            self.head.clear();
        }
        self.head.len()
    }

    /// The next record's outcome, in order.
    pub(super) fn push(&mut self, seq: u64, outcome: Outcome) {
        self.head.push_back((seq, outcome));
    }

    /// The delivery of `len` records whose settled head is known; `failure`
    /// is why the first record after the head is not settled.
    pub(super) fn resolve(&mut self, len: usize, failure: impl FnOnce() -> SinkError) -> Delivery {
        let unroutable = self
            .head
            .iter()
            .position(|(_, o)| matches!(o, Outcome::Unroutable(_)));
        if let Some(index) = unroutable {
            let (_, outcome) = self.head.drain(..=index).next_back().expect("drained one");
            let Outcome::Unroutable(reason) = outcome else {
                unreachable!("found above")
            };
            return Delivery::Rejected { index, reason };
        }
        if self.head.len() >= len {
            self.head.clear();
            return Delivery::Delivered;
        }
        Delivery::Retryable(failure())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use fluxkv_schemas::{ChangeEvent, Op};

    fn records(seqs: std::ops::RangeInclusive<u64>) -> Vec<Record> {
        seqs.map(|seq| Record {
            event: ChangeEvent {
                node: "n".into(),
                epoch: 1,
                seq,
                ts_ms: 0,
                op: Op::Set,
                key: Bytes::new(),
                value: None,
                expire_at_ms: None,
                prev: None,
            },
            payload: Bytes::new(),
        })
        .collect()
    }

    fn nack() -> SinkError {
        SinkError::Nack {
            sink: "s".into(),
            reason: "full".into(),
        }
    }

    fn none() -> SinkError {
        panic!("every record is settled")
    }

    #[test]
    fn a_nacked_batch_is_retried_from_the_first_nacked_record() {
        let batch = records(1..=5);
        let mut settled = Settled::default();
        assert_eq!(settled.known(&batch), 0);
        settled.push(1, Outcome::Confirmed);
        settled.push(2, Outcome::Confirmed);
        let retry = settled.resolve(5, nack);
        assert!(matches!(retry, Delivery::Retryable(SinkError::Nack { .. })));
        // The engine retries the same batch: only 3.. is published again.
        assert_eq!(settled.known(&batch), 2);
        for seq in 3..=5 {
            settled.push(seq, Outcome::Confirmed);
        }
        assert!(matches!(settled.resolve(5, none), Delivery::Delivered));
        assert_eq!(settled.known(&records(6..=9)), 0);
    }

    #[test]
    fn unroutable_records_are_rejected_one_by_one_without_republishing() {
        let batch = records(1..=6);
        let mut settled = Settled::default();
        settled.known(&batch);
        for seq in 1..=6 {
            let outcome = match seq {
                2 | 5 => Outcome::Unroutable(format!("no route for {seq}")),
                _ => Outcome::Confirmed,
            };
            settled.push(seq, outcome);
        }
        let Delivery::Rejected { index, reason } = settled.resolve(6, none) else {
            panic!("expected a rejection");
        };
        assert_eq!((index, reason.as_str()), (1, "no route for 2"));
        // The engine goes on with the records after the rejected one.
        let rest = &batch[2..];
        assert_eq!(settled.known(rest), 4);
        let Delivery::Rejected { index, reason } = settled.resolve(rest.len(), none) else {
            panic!("expected a rejection");
        };
        assert_eq!((index, reason.as_str()), (2, "no route for 5"));
        let rest = &rest[3..];
        assert_eq!(settled.known(rest), 1);
        assert!(matches!(
            settled.resolve(rest.len(), none),
            Delivery::Delivered
        ));
    }

    #[test]
    fn outcomes_about_other_records_are_forgotten() {
        let mut settled = Settled::default();
        settled.push(1, Outcome::Confirmed);
        assert_eq!(settled.known(&records(10..=12)), 0);
        settled.push(10, Outcome::Confirmed);
        settled.push(11, Outcome::Confirmed);
        assert_eq!(settled.known(&records(10..=10)), 0);
    }
}
