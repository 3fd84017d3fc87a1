//! `--sink NAME`: history delivered by the sink configured as
//! `[sinks.NAME]` in the node's TOML, through the sinks' own engine
//! ([`fluxkv_sinks::deliver_history`]): its encoding, filter, batching,
//! acknowledgements, retries and dead letters, and no checkpoint file —
//! the resume point is the run's status.

use crate::config::Config;
use anyhow::{Context, anyhow};
use fluxkv_schemas::ChangeEvent;
use fluxkv_sinks::HistoryRun;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Events queued for the sink's engine: a few of its batches' worth, so it
/// always has the next batch ready while earlier ones are in flight.
const QUEUE_EVENTS: usize = 1 << 16;

/// A configured sink taking the history.
#[derive(Debug)]
pub(crate) struct SinkTarget {
    name: String,
    /// Closed (dropped) to say the history is complete.
    events: Option<mpsc::Sender<ChangeEvent>>,
    run: HistoryRun,
}

impl SinkTarget {
    /// Builds the sink `name` of `config` (connecting to its destination)
    /// and starts its engine; `stop` shuts the engine down.
    pub(crate) async fn start(
        name: &str,
        config: &Config,
        stop: CancellationToken,
    ) -> anyhow::Result<SinkTarget> {
        let sink = config.sinks.get(name).with_context(|| {
            let names: Vec<&str> = config.sinks.keys().map(String::as_str).collect();
            format!(
                "no sink named {name:?} in the config (configured: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )
        })?;
        let (events, rx) = mpsc::channel(QUEUE_EVENTS);
        let run = fluxkv_sinks::deliver_history(name, sink, &config.data_dir, rx, stop)
            .await
            .with_context(|| format!("starting sink {name}"))?;
        Ok(SinkTarget {
            name: name.to_string(),
            events: Some(events),
            run,
        })
    }

    /// The sink's name, for the report.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Queues `events` for the engine, waiting while the queue is full.
    pub(crate) async fn deliver(&mut self, events: Vec<ChangeEvent>) -> anyhow::Result<()> {
        let queue = self.events.as_ref().expect("open until finish");
        let mut events = events.into_iter().peekable();
        while events.peek().is_some() {
            // One permit per event costs a semaphore round per event;
            // taking them a queue-full at a time does not.
            let permits = queue
                .reserve_many(events.len().min(QUEUE_EVENTS))
                .await
                .map_err(|_| anyhow!("sink {} stopped taking events", self.name))?;
            for (permit, event) in permits.zip(events.by_ref()) {
                permit.send(event);
            }
        }
        Ok(())
    }

    /// The seq up to which every event queued is acknowledged (or
    /// filtered out by the sink, or dead-lettered).
    pub(crate) fn acked(&self) -> u64 {
        self.run.status.report().checkpoint
    }

    /// Ends the history and waits until the engine has delivered it (or
    /// stopped, after `stop`); fails with the engine's error.
    pub(crate) async fn finish(&mut self) -> anyhow::Result<()> {
        self.events = None;
        let result = (&mut self.run.task)
            .await
            .with_context(|| format!("sink {} crashed", self.name))?;
        result.with_context(|| format!("sink {}", self.name))
    }
}
