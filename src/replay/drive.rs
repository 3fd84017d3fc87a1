//! The replay loop: batches from the [`Source`], paced to `--rate`, handed
//! to the [`Target`], until the history is read, the target fails, or the
//! operator stops it — and then how far it got.
//!
//! "How far" is the resume point: the highest seq such that every
//! selected record up to it is acknowledged by the target. Records the
//! selection skips cost nothing to look at again, so the point is exact
//! whichever way the replay ends.

use super::pace::Pace;
use super::progress::{Position, Progress};
use super::source::Source;
use super::target::Target;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How a replay ended.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Every selected record up to this seq is acknowledged.
    pub(crate) reached: u64,
    /// The whole selection (up to the end of the log) was read and
    /// acknowledged.
    pub(crate) complete: bool,
    /// `stop` ended it.
    pub(crate) interrupted: bool,
    /// Records from the first seq to `reached`, selected or not.
    pub(crate) scanned: u64,
    /// Events handed to the target.
    pub(crate) sent: u64,
    pub(crate) elapsed: Duration,
    /// Why it ended early, when it failed.
    pub(crate) error: Option<anyhow::Error>,
}

/// Runs the replay from `source` into `target`.
pub(crate) async fn drive(
    mut source: Source,
    target: &mut Target,
    rate: Option<u64>,
    stop: &CancellationToken,
) -> Outcome {
    let started = Instant::now();
    let mut pace = rate.map(Pace::new);
    let mut progress = Progress::new(source.total_bytes);
    // Every selected record up to `covered` is handed over; the last one
    // handed over is `last_sent`.
    let start_seq = source.start_seq;
    let mut covered = start_seq.saturating_sub(1);
    let mut last_sent = 0;
    let mut sent = 0;
    let mut error = None;
    let mut complete = false;
    'read: loop {
        let batch = tokio::select! {
            batch = source.next() => batch,
            () = stop.cancelled() => break,
        };
        let batch = match batch {
            None => {
                complete = true;
                break;
            }
            Some(Err(err)) => {
                error = Some(err);
                break;
            }
            Some(Ok(batch)) => batch,
        };
        // Paced: a group at a time. Otherwise the batch as it is.
        let groups: Vec<Vec<_>> = match &pace {
            Some(pace) => chunks(batch.events, pace.group()),
            None => vec![batch.events],
        };
        for events in groups {
            let Some(last) = events.last().map(|e| e.seq) else {
                continue;
            };
            if let Some(pace) = &mut pace {
                tokio::select! {
                    () = pace.admit(events.len()) => {}
                    () = stop.cancelled() => break 'read,
                }
            }
            let count = events.len() as u64;
            // Stopping mid-delivery is safe: the target's acknowledged
            // seq only moves over what is done.
            let delivered = tokio::select! {
                delivered = target.deliver(events) => delivered,
                () = stop.cancelled() => break 'read,
            };
            if let Err(err) = delivered {
                error = Some(err);
                break 'read;
            }
            sent += count;
            (last_sent, covered) = (last, last);
            progress.show(Position {
                seq: covered,
                bytes_read: batch.bytes_read,
                sent,
            });
        }
        covered = batch.scanned_through;
        progress.show(Position {
            seq: covered,
            bytes_read: batch.bytes_read,
            sent,
        });
    }
    if let Err(err) = target.finish().await {
        error.get_or_insert(err);
    }
    progress.finish();
    let acked = target.acked();
    // All handed over is acknowledged: the records skipped after the last
    // one are done too (and part of a group stopped mid-delivery may be).
    // Otherwise resume after the acknowledged ones.
    let all_acked = acked >= last_sent;
    let complete = complete && all_acked && error.is_none();
    let reached = if all_acked {
        covered.max(acked)
    } else {
        acked.max(start_seq.saturating_sub(1))
    };
    Outcome {
        reached,
        complete,
        interrupted: stop.is_cancelled() && !complete,
        scanned: reached.saturating_sub(start_seq.saturating_sub(1)),
        sent,
        elapsed: started.elapsed(),
        error,
    }
}

/// `items` in groups of at most `size`, in order.
fn chunks<T>(items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut items = items.into_iter().peekable();
    let mut groups = Vec::new();
    while items.peek().is_some() {
        groups.push(items.by_ref().take(size).collect());
    }
    groups
}
