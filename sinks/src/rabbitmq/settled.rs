//! What the broker already said about records the engine may hand the
//! sink again, so they are not published twice.
//!
//! After a failure (`Retryable`) the engine sends the failed batch again,
//! and after a dead letter (`Rejected`) the rest of the batch, each time
//! followed by every later batch that was in flight. Publishing them all
//! again would be correct (consumers deduplicate) but wasteful, and with a
//! bounded queue it may never finish: so the answers note what the broker
//! said of each record — confirmed, or returned as unroutable — and when
//! the engine goes back, the sink skips the records already settled and
//! publishes from the first one whose fate is unknown (nacked, lost with
//! the connection, never published). From there on it publishes every
//! record handed to it, in order, never skipping over one it published
//! again, so per-key order in the queue is kept.

use crate::error::SinkError;
use crate::sink::{Delivery, Record};
use std::collections::BTreeMap;

/// How many runs of settled records (about one per batch) and returned
/// records are remembered: far more than can be in flight.
const REMEMBERED: usize = 1024;

/// The broker's final word on one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Confirmed (ack) and routed.
    Confirmed,
    /// Returned: no queue is bound for it; the reason for the dead letter.
    Unroutable(String),
}

/// What to do with a batch.
#[derive(Debug)]
pub(super) enum Plan {
    /// Nothing to publish: the answer is known.
    Answer(Delivery),
    /// Publish the records from this index on.
    Publish(usize),
}

/// The records the broker settled, by seq.
#[derive(Debug, Default)]
pub(super) struct Settled {
    /// Runs of settled records, first seq → last seq. A run spans records
    /// of one batch; seqs in between that no record has were filtered out
    /// and are never asked about.
    runs: BTreeMap<u64, u64>,
    /// The returned records among them, and why.
    unroutable: BTreeMap<u64, String>,
    /// The last seq handed to the sink.
    last_seq: u64,
    /// The engine went back and every record handed over since was
    /// settled: the next settled ones may be skipped.
    skipping: bool,
}

impl Settled {
    /// What to do with `records`, handed to the sink after every record
    /// handed before.
    pub(super) fn plan(&mut self, records: &[Record]) -> Plan {
        let (first, last) = (records[0].event.seq, records[records.len() - 1].event.seq);
        if first <= self.last_seq {
            self.skipping = true; // sent again
        }
        self.last_seq = last;
        if !self.skipping {
            return Plan::Publish(0);
        }
        if let Some(answer) = self.answer(records) {
            return Plan::Answer(answer);
        }
        self.skipping = false;
        Plan::Publish(self.known(records))
    }

    /// Notes the outcome of the next records published, in order, up to the
    /// first that is not settled.
    pub(super) fn note(&mut self, outcomes: impl IntoIterator<Item = (u64, Outcome)>) {
        let mut run: Option<(u64, u64)> = None;
        for (seq, outcome) in outcomes {
            if let Outcome::Unroutable(reason) = outcome {
                self.unroutable.insert(seq, reason);
            }
            let first = run.map_or(seq, |(first, _)| first);
            run = Some((first, seq));
        }
        if let Some((first, last)) = run {
            self.runs.insert(first, last);
        }
        while self.runs.len() > REMEMBERED {
            self.runs.pop_first();
        }
        while self.unroutable.len() > REMEMBERED {
            self.unroutable.pop_first();
        }
    }

    /// The answer for `records` from what is noted, if it needs no more:
    /// every record settled, or a settled one returned (the engine sends
    /// the records after it again once it is dead-lettered).
    pub(super) fn answer(&self, records: &[Record]) -> Option<Delivery> {
        for (index, record) in records.iter().enumerate() {
            match self.outcome(record.event.seq)? {
                Outcome::Confirmed => {}
                Outcome::Unroutable(reason) => {
                    return Some(Delivery::Rejected { index, reason });
                }
            }
        }
        Some(Delivery::Delivered)
    }

    /// The answer for `records` once their outcomes are noted; `failure`
    /// says why the first record not settled is not.
    pub(super) fn resolve(
        &self,
        records: &[Record],
        failure: impl FnOnce() -> SinkError,
    ) -> Delivery {
        self.answer(records)
            .unwrap_or_else(|| Delivery::Retryable(failure()))
    }

    /// How many leading `records` are settled.
    fn known(&self, records: &[Record]) -> usize {
        records
            .iter()
            .take_while(|r| self.outcome(r.event.seq).is_some())
            .count()
    }

    fn outcome(&self, seq: u64) -> Option<Outcome> {
        let (_, last) = self.runs.range(..=seq).next_back()?;
        if seq > *last {
            return None;
        }
        Some(match self.unroutable.get(&seq) {
            Some(reason) => Outcome::Unroutable(reason.clone()),
            None => Outcome::Confirmed,
        })
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

    fn confirmed(seqs: std::ops::RangeInclusive<u64>) -> impl Iterator<Item = (u64, Outcome)> {
        seqs.map(|seq| (seq, Outcome::Confirmed))
    }

    fn nack() -> SinkError {
        SinkError::Nack {
            sink: "s".into(),
            reason: "full".into(),
        }
    }

    fn publishes(plan: Plan) -> usize {
        match plan {
            Plan::Publish(from) => from,
            Plan::Answer(answer) => panic!("answered {answer:?}"),
        }
    }

    #[test]
    fn a_nacked_batch_is_published_again_from_the_first_nacked_record() {
        let mut settled = Settled::default();
        let batch = records(1..=5);
        assert_eq!(publishes(settled.plan(&batch)), 0);
        settled.note(confirmed(1..=2));
        let retry = settled.resolve(&batch, nack);
        assert!(matches!(retry, Delivery::Retryable(SinkError::Nack { .. })));
        // The engine sends the same batch again: only 3.. is published.
        assert_eq!(publishes(settled.plan(&batch)), 2);
        settled.note(confirmed(3..=5));
        assert!(matches!(settled.resolve(&batch, nack), Delivery::Delivered));
        assert_eq!(publishes(settled.plan(&records(6..=9))), 0);
    }

    #[test]
    fn after_publishing_again_later_batches_are_published_whole() {
        let mut settled = Settled::default();
        let (first, second) = (records(1..=3), records(4..=6));
        settled.plan(&first);
        settled.plan(&second);
        settled.note(confirmed(1..=1)); // 2 is nacked
        settled.note(confirmed(4..=6));
        // The engine goes back to the first batch, then the second: 2
        // went out again, so the second goes out whole after it, though
        // its records were confirmed.
        assert_eq!(publishes(settled.plan(&first)), 1);
        assert_eq!(publishes(settled.plan(&second)), 0);
    }

    #[test]
    fn unroutable_records_are_rejected_one_by_one_without_republishing() {
        let mut settled = Settled::default();
        let batch = records(1..=6);
        let later = records(7..=8);
        settled.plan(&batch);
        settled.plan(&later);
        settled.note((1..=6).map(|seq| match seq {
            2 | 5 => (seq, Outcome::Unroutable(format!("no route for {seq}"))),
            _ => (seq, Outcome::Confirmed),
        }));
        settled.note(confirmed(7..=8));
        let Delivery::Rejected { index, reason } = settled.resolve(&batch, nack) else {
            panic!("expected a rejection");
        };
        assert_eq!((index, reason.as_str()), (1, "no route for 2"));
        // The engine sends the rest after the dead letter, then the later
        // batch: every answer is known, nothing is published again.
        let Plan::Answer(Delivery::Rejected { index, reason }) = settled.plan(&batch[2..]) else {
            panic!("expected a rejection without publishing");
        };
        assert_eq!((index, reason.as_str()), (2, "no route for 5"));
        let rest = &batch[5..];
        assert!(matches!(
            settled.plan(rest),
            Plan::Answer(Delivery::Delivered)
        ));
        assert!(matches!(
            settled.plan(&later),
            Plan::Answer(Delivery::Delivered)
        ));
        // New records are published.
        assert_eq!(publishes(settled.plan(&records(9..=9))), 0);
    }

    #[test]
    fn only_so_much_is_remembered() {
        let mut settled = Settled::default();
        for seq in 1..=(REMEMBERED as u64 + 10) {
            settled.note(confirmed(seq..=seq));
        }
        assert_eq!(settled.runs.len(), REMEMBERED);
        assert_eq!(settled.answer(&records(1..=1)).map(|_| ()), None);
        assert!(settled.answer(&records(11..=20)).is_some());
    }
}
