//! Where a watch stands in the node's log, kept across reconnections so a
//! resumed stream neither repeats nor skips an event.

use std::sync::Arc;

use anyhow::bail;
use fluxkv_schemas::{ChangeEvent, Watermark};

/// What to do with an event the server sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// New: print it.
    Print,
    /// Already printed (at or before the position): drop it.
    Repeat,
}

#[derive(Debug)]
pub(crate) struct Position {
    /// The seq to ask for on the next (re)connection; 0 while unknown (a
    /// watch "from now on" that has not seen an event yet).
    next: u64,
    /// The highest seq known to be written: the last event printed or a
    /// watermark's `last_seq`. A node that later reports less has lost its
    /// log (a wiped data directory) and its seqs mean something else now.
    seen: Option<u64>,
    /// The node the events come from; seqs are only comparable within one.
    node: Option<Arc<str>>,
    /// No `--prefix` or `--op`: every seq arrives, so a jump is a loss.
    unfiltered: bool,
}

impl Position {
    pub(crate) fn new(from: u64, unfiltered: bool) -> Self {
        Position {
            next: from,
            seen: None,
            node: None,
            unfiltered,
        }
    }

    /// The `from_seq` to watch from; 0 means "from now on".
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// Pins a "from now on" watch to a concrete seq, so a reconnection
    /// resumes there instead of at a later "now".
    pub(crate) fn resolve_now(&mut self, next: u64) {
        if self.next == 0 {
            self.next = next.max(1);
        }
    }

    /// Accounts for `event`; an error means the stream cannot be trusted
    /// and the watch must stop.
    pub(crate) fn event(&mut self, event: &ChangeEvent) -> anyhow::Result<Verdict> {
        self.check_node(&event.node)?;
        if self.next != 0 && event.seq < self.next {
            return Ok(Verdict::Repeat);
        }
        if self.unfiltered && self.next != 0 && event.seq > self.next {
            bail!(
                "the stream jumped from seq {} to seq {}: the changes in between were not \
                 delivered (resume with --from {} to get them)",
                self.next - 1,
                event.seq,
                self.next
            );
        }
        self.next = event.seq + 1;
        self.seen = Some(self.seen.map_or(event.seq, |s| s.max(event.seq)));
        Ok(Verdict::Print)
    }

    /// Accounts for `mark`. It does not move the resume position: its
    /// `last_seq` may already count a change that is still on its way.
    pub(crate) fn watermark(&mut self, mark: &Watermark) -> anyhow::Result<()> {
        self.check_node(&mark.node)?;
        if let Some(seen) = self.seen
            && mark.last_seq < seen
        {
            bail!(
                "node {} reports its log ends at seq {}, but seq {seen} was already seen: \
                 was its data directory reset, or its latest changes lost in a crash? \
                 The seqs it sends now do not continue what this watch printed",
                mark.node,
                mark.last_seq
            );
        }
        self.seen = Some(self.seen.map_or(mark.last_seq, |s| s.max(mark.last_seq)));
        Ok(())
    }

    fn check_node(&mut self, node: &Arc<str>) -> anyhow::Result<()> {
        match &self.node {
            None => self.node = Some(node.clone()),
            Some(known) if known == node => {}
            Some(known) => bail!(
                "the server now answers as node {node:?}, not {known:?}: seqs are per node, \
                 so this watch cannot resume on it"
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxkv_schemas::Op;

    fn event(node: &str, seq: u64) -> ChangeEvent {
        ChangeEvent {
            node: node.into(),
            epoch: 1,
            seq,
            ts_ms: 0,
            op: Op::Set,
            key: "k".into(),
            value: Some("v".into()),
            expire_at_ms: None,
            prev: None,
        }
    }

    fn mark(last_seq: u64) -> Watermark {
        Watermark {
            node: "n1".into(),
            epoch: 1,
            last_seq,
            ts_ms: 0,
        }
    }

    #[test]
    fn events_advance_the_position_and_repeats_are_dropped() {
        let mut position = Position::new(5, true);
        assert_eq!(position.event(&event("n1", 5)).unwrap(), Verdict::Print);
        assert_eq!(position.event(&event("n1", 6)).unwrap(), Verdict::Print);
        assert_eq!(position.next(), 7);
        assert_eq!(position.event(&event("n1", 6)).unwrap(), Verdict::Repeat);
        assert_eq!(position.event(&event("n1", 2)).unwrap(), Verdict::Repeat);
        assert_eq!(position.next(), 7);
    }

    #[test]
    fn a_gap_in_an_unfiltered_stream_is_an_error() {
        let mut position = Position::new(1, true);
        position.event(&event("n1", 1)).unwrap();
        let err = position.event(&event("n1", 3)).unwrap_err().to_string();
        assert!(err.contains("from seq 1 to seq 3"), "{err}");
        assert!(err.contains("--from 2"), "{err}");

        // Filtered streams skip seqs by design.
        let mut filtered = Position::new(1, false);
        filtered.event(&event("n1", 1)).unwrap();
        assert_eq!(filtered.event(&event("n1", 9)).unwrap(), Verdict::Print);
        assert_eq!(filtered.next(), 10);
    }

    #[test]
    fn from_now_takes_the_first_event_or_a_resolved_seq() {
        let mut position = Position::new(0, true);
        assert_eq!(position.event(&event("n1", 40)).unwrap(), Verdict::Print);
        assert_eq!(position.next(), 41);

        let mut pinned = Position::new(0, true);
        pinned.resolve_now(12);
        assert_eq!(pinned.next(), 12);
        pinned.resolve_now(99);
        assert_eq!(pinned.next(), 12, "only a watch from now is pinned");
    }

    #[test]
    fn watermarks_do_not_move_the_position_but_catch_a_reset_log() {
        let mut position = Position::new(1, false);
        position.watermark(&mark(10)).unwrap();
        assert_eq!(position.next(), 1);
        position.watermark(&mark(10)).unwrap();
        let err = position.watermark(&mark(3)).unwrap_err().to_string();
        assert!(err.contains("seq 10 was already seen"), "{err}");
    }

    #[test]
    fn another_node_is_an_error() {
        let mut position = Position::new(1, true);
        position.event(&event("n1", 1)).unwrap();
        let err = position.event(&event("n2", 2)).unwrap_err().to_string();
        assert!(err.contains("\"n2\"") && err.contains("\"n1\""), "{err}");
    }
}
