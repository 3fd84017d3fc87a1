//! A live sink: the engine reading the store's change stream from the
//! sink's checkpoint + 1 and persisting its checkpoint as it goes.

use super::Engine;
use super::progress::{Checkpointed, past_retention};
use crate::checkpoint::Checkpoints;
use crate::config::SinkConfig;
use crate::dead_letter::DeadLetters;
use crate::error::SinkError;
use crate::sink::Sink;
use crate::status::SinkStatus;
use fluxkv_store::{Store, StoreError, Subscription};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often an idle stream reports progress; filtered-out events still
/// move the checkpoint on these.
const WATERMARK_EVERY: Duration = Duration::from_millis(500);

/// One sink's delivery task over the change stream (see the
/// [engine](crate::engine) for how it delivers).
#[derive(Debug)]
pub struct Pipeline<S> {
    engine: Engine<S, Checkpointed>,
    store: Arc<Store>,
    checkpoints: Checkpoints,
}

impl<S: Sink> Pipeline<S> {
    /// A pipeline delivering to `sink`, checkpointing in `checkpoints`.
    pub fn new(
        name: &str,
        config: SinkConfig,
        sink: S,
        store: Arc<Store>,
        checkpoints: Checkpoints,
        dead_letters: DeadLetters,
    ) -> Pipeline<S> {
        let progress = Checkpointed {
            checkpoints: checkpoints.clone(),
            name: name.to_string(),
            store: store.clone(),
        };
        Pipeline {
            engine: Engine::new(name, config, sink, dead_letters, progress),
            store,
            checkpoints,
        }
    }

    /// The status the pipeline keeps up to date.
    pub fn status(&self) -> Arc<SinkStatus> {
        self.engine.status()
    }

    /// Delivers until `shutdown`. The batches in flight then get a few
    /// seconds to be answered, so the checkpoint covers them; a retry in
    /// progress is abandoned without moving it.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SinkError> {
        let opened = self.open();
        self.engine.run(opened, shutdown).await
    }

    /// The change stream from the checkpoint + 1, and that checkpoint.
    fn open(&self) -> Result<(Subscription, u64), SinkError> {
        let name = &self.engine.name;
        let checkpoint = self.checkpoints.load(name)?;
        let start = match &checkpoint {
            Some(c) => c.seq + 1,
            // A new sink gets every change the AOF still holds.
            None => self.store.oldest_seq()?,
        };
        if let Some(c) = &checkpoint {
            self.engine.status.checkpointed(c.seq, 0);
        }
        let stream = match self.store.subscribe(start, WATERMARK_EVERY) {
            Ok(stream) => stream,
            Err(StoreError::SeqUnavailable { requested, oldest }) => {
                return Err(past_retention(name, requested, oldest));
            }
            Err(err) => return Err(err.into()),
        };
        tracing::info!(sink = %name, from_seq = start, "sink started");
        Ok((stream, start.saturating_sub(1)))
    }
}
