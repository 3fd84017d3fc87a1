//! Where replayed events go, behind one type dispatched with `match`: a
//! configured sink, a store over the Redis protocol, or a dry run's tally.
//!
//! Every target says how far it has acknowledged: the seq up to which
//! every event handed to it is done. That is what makes an interrupted
//! replay resumable without a gap.

use super::dry_run::Tally;
use super::into::RedisTarget;
use super::sink::SinkTarget;
use fluxkv_schemas::ChangeEvent;

/// A replay's destination.
#[derive(Debug)]
pub(crate) enum Target {
    /// `--sink NAME`.
    Sink(SinkTarget),
    /// `--into redis://…`.
    Redis(RedisTarget),
    /// `--dry-run`.
    DryRun(Tally),
}

impl Target {
    /// What the target is, for the report: `sink:NAME`, the URL, or
    /// `dry-run`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Target::Sink(sink) => format!("sink:{}", sink.name()),
            Target::Redis(redis) => redis.url().to_string(),
            Target::DryRun(_) => "dry-run".to_string(),
        }
    }

    /// Hands `events` (in seq order, at least one) over. The sink only
    /// queues them; the others are done with them on return.
    pub(crate) async fn deliver(&mut self, events: Vec<ChangeEvent>) -> anyhow::Result<()> {
        match self {
            Target::Sink(sink) => sink.deliver(events).await,
            Target::Redis(redis) => redis.deliver(&events).await,
            Target::DryRun(tally) => {
                tally.add(&events);
                Ok(())
            }
        }
    }

    /// Waits for what is still in flight (a sink's queued events).
    pub(crate) async fn finish(&mut self) -> anyhow::Result<()> {
        match self {
            Target::Sink(sink) => sink.finish().await,
            Target::Redis(_) | Target::DryRun(_) => Ok(()),
        }
    }

    /// The seq up to which every event handed over is acknowledged.
    pub(crate) fn acked(&self) -> u64 {
        match self {
            Target::Sink(sink) => sink.acked(),
            Target::Redis(redis) => redis.acked(),
            Target::DryRun(tally) => tally.last_seq(),
        }
    }

    /// The dry run's counts, if this is one.
    pub(crate) fn tally(&self) -> Option<&Tally> {
        match self {
            Target::DryRun(tally) => Some(tally),
            _ => None,
        }
    }
}
