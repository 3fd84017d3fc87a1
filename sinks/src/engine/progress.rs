//! How far a pipeline has got, and where that is kept: a live sink's
//! checkpoint file, or only its status for a history delivery (whose
//! caller keeps its own resume point).
//!
//! The status moves with every acknowledged batch; the checkpoint file is
//! written at most every [`SAVE_EVERY`], and when the pipeline stops. A
//! checkpoint that lags only means more redelivery after a crash, while
//! writing it for every batch would cost two fsyncs per batch — with
//! several small batches in flight, more than the delivery itself. The
//! writes run on a blocking thread, one at a time: the pipeline goes on
//! sending meanwhile (an fsync takes milliseconds, and tens of them when
//! the disk is busy).

use crate::checkpoint::{Checkpoint, Checkpoints};
use crate::error::SinkError;
use crate::status::SinkStatus;
use fluxkv_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The longest a persisted checkpoint lags the acknowledged position.
const SAVE_EVERY: Duration = Duration::from_millis(100);

/// Where a pipeline's position survives a restart.
pub(crate) trait Progress: Clone + Send + 'static {
    /// Records durably that every event up to `seq` is done. Blocking.
    fn save(&self, seq: u64) -> Result<(), SinkError>;

    /// Fails when the history after `done` — what a restart resumes
    /// from — is no longer kept: the sink fell past retention.
    fn history_kept(&self, _done: u64) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A live sink's checkpoint file.
#[derive(Debug, Clone)]
pub(crate) struct Checkpointed {
    pub(crate) checkpoints: Checkpoints,
    pub(crate) name: String,
    pub(crate) store: Arc<Store>,
}

impl Progress for Checkpointed {
    fn save(&self, seq: u64) -> Result<(), SinkError> {
        let identity = self.store.identity();
        let checkpoint = Checkpoint {
            node: identity.node.to_string(),
            epoch: identity.epoch,
            seq,
        };
        self.checkpoints.store(&self.name, &checkpoint)
    }

    fn history_kept(&self, done: u64) -> Result<(), SinkError> {
        let oldest = self.store.oldest_seq()?;
        if done + 1 < oldest {
            return Err(past_retention(&self.name, done + 1, oldest));
        }
        Ok(())
    }
}

/// The error of a sink whose position is older than the AOF's history.
pub(crate) fn past_retention(sink: &str, needed: u64, oldest: u64) -> SinkError {
    SinkError::Config {
        sink: sink.to_string(),
        reason: format!(
            "its checkpoint needs seq {needed} but the AOF starts at {oldest}: \
             the sink fell past retention and needs a re-snapshot"
        ),
    }
}

/// Nowhere but the status.
#[derive(Debug, Clone)]
pub(crate) struct StatusOnly;

impl Progress for StatusOnly {
    fn save(&self, _seq: u64) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The done position: every event up to `done` is delivered, filtered out
/// or dead-lettered.
#[derive(Debug)]
pub(super) struct Position<P> {
    progress: P,
    status: Arc<SinkStatus>,
    done: u64,
    saved: u64,
    /// When the position, ahead of what is saved, is to be saved.
    due: Option<Instant>,
    /// The save under way, and the seq it saves.
    saving: Option<(u64, JoinHandle<Result<(), SinkError>>)>,
}

impl<P: Progress> Position<P> {
    /// A position at the start of the stream, until [`start_at`](Self::start_at).
    pub(super) fn new(progress: P, status: Arc<SinkStatus>) -> Position<P> {
        Position {
            progress,
            status,
            done: 0,
            saved: 0,
            due: None,
            saving: None,
        }
    }

    /// Starts over at `done`, which is saved already.
    pub(super) fn start_at(&mut self, done: u64) {
        (self.done, self.saved, self.due) = (done, done, None);
    }

    /// Fails when the history after the done position is gone.
    pub(super) fn check_history(&self) -> Result<(), SinkError> {
        self.progress.history_kept(self.done)
    }

    /// Everything up to `seq`, written at `ts_ms`, is done.
    pub(super) fn advance(&mut self, seq: u64, ts_ms: u64) {
        if seq <= self.done {
            return;
        }
        self.done = seq;
        self.status.checkpointed(seq, ts_ms);
        self.due.get_or_insert_with(|| Instant::now() + SAVE_EVERY);
    }

    /// When [`start_save`](Self::start_save) is next due: not while a save
    /// is under way.
    pub(super) fn due(&self) -> Option<Instant> {
        self.due.filter(|_| self.saving.is_none())
    }

    /// Starts saving the position on a blocking thread, if it moved since
    /// it was last saved and no save is under way.
    pub(super) fn start_save(&mut self) {
        if self.saving.is_some() {
            return;
        }
        self.due = None;
        if self.done > self.saved {
            let (progress, seq) = (self.progress.clone(), self.done);
            let save = tokio::task::spawn_blocking(move || progress.save(seq));
            self.saving = Some((seq, save));
        }
    }

    /// Waits for the save under way to finish; never, when there is none.
    pub(super) async fn saved(&mut self) -> Result<(), SinkError> {
        let Some((seq, save)) = &mut self.saving else {
            return std::future::pending().await;
        };
        let result = match save.await {
            Ok(result) => result,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            // The runtime is shutting down: not saved, so redelivered.
            Err(_) => Ok(()),
        };
        let seq = *seq;
        self.saving = None;
        if result.is_ok() {
            self.saved = seq;
        }
        result
    }

    /// Saves the position, after any save under way: when the pipeline
    /// stops.
    pub(super) async fn save(&mut self) -> Result<(), SinkError> {
        if self.saving.is_some() {
            self.saved().await?;
        }
        self.start_save();
        if self.saving.is_some() {
            self.saved().await?;
        }
        Ok(())
    }
}
