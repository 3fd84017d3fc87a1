//! Delivering a bounded history — events read back from the AOF, for
//! `fluxkv replay --sink NAME` — to one configured sink, through the same
//! engine as the live pipeline: the same encoding, filter, batching,
//! acknowledgements, retries and dead letters. It keeps no checkpoint
//! file: the caller has its own resume point, the run's status.

use crate::any::AnySink;
use crate::config::SinkConfig;
use crate::dead_letter::DeadLetters;
use crate::engine::{Engine, StatusOnly};
use crate::error::SinkError;
use crate::status::SinkStatus;
use fluxkv_schemas::ChangeEvent;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A history delivery under way.
#[derive(Debug)]
pub struct HistoryRun {
    /// Live progress: `report().checkpoint` is the highest seq such that
    /// every event sent up to it is acknowledged (the resume point), plus
    /// `delivered`, `retries`, `dead_lettered` as for live sinks.
    pub status: Arc<SinkStatus>,
    /// Resolves when every event is acknowledged (`Ok`), on an error, or
    /// after `shutdown` (`Ok` too, having waited a few seconds for the
    /// batches in flight: the status says how far it got).
    pub task: JoinHandle<Result<(), SinkError>>,
}

/// Delivers a finite sequence of events (history read from the AOF) to one
/// configured sink with the same encoding, filter, batching, acks, retries
/// and dead letters as the live pipeline, but no checkpoint file.
///
/// `events` come in seq order; the channel closed is the end of the
/// history. `data_dir` is where relative file-sink directories and the
/// default dead-letter file go, as for [`Sinks::start`](crate::Sinks::start).
/// Building the sink (connecting to a broker, creating a directory) fails
/// here; delivery failures are retried until `shutdown`.
pub async fn deliver_history(
    name: &str,
    config: &SinkConfig,
    data_dir: &Path,
    events: mpsc::Receiver<ChangeEvent>,
    shutdown: CancellationToken,
) -> Result<HistoryRun, SinkError> {
    let sink = AnySink::build(name, config, data_dir).await?;
    let dead_letters = DeadLetters::configured(name, config, data_dir);
    let engine = Engine::new(name, config.clone(), sink, dead_letters, StatusOnly);
    let status = engine.status();
    let task = tokio::spawn(engine.run(Ok((events, 0)), shutdown));
    Ok(HistoryRun { status, task })
}
