//! Starting every configured sink and keeping their statuses in one place
//! for the admin APIs.

use crate::any::AnySink;
use crate::checkpoint::Checkpoints;
use crate::config::SinkConfig;
use crate::dead_letter::DeadLetters;
use crate::engine::Pipeline;
use crate::error::SinkError;
use crate::status::{SinkReport, SinkStatus};
use fluxkv_store::Store;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The running sinks of a node.
#[derive(Debug)]
pub struct Sinks {
    statuses: Vec<Arc<SinkStatus>>,
    tasks: JoinSet<Result<(), SinkError>>,
}

impl Sinks {
    /// Builds every sink (connecting to its destination) and starts its
    /// pipeline. Checkpoints live in `<data_dir>/checkpoints`, dead letters
    /// by default in `<data_dir>/dead-letters/<sink>.jsonl`.
    pub async fn start(
        configs: &BTreeMap<String, SinkConfig>,
        store: Arc<Store>,
        shutdown: CancellationToken,
    ) -> Result<Sinks, SinkError> {
        let data_dir = store.data_dir().to_path_buf();
        let checkpoints = Checkpoints::new(data_dir.join("checkpoints"));
        let mut sinks = Sinks {
            statuses: Vec::new(),
            tasks: JoinSet::new(),
        };
        for (name, config) in configs {
            let sink = AnySink::build(name, config, &data_dir).await?;
            let dead_letters = DeadLetters::configured(name, config, &data_dir);
            let pipeline = Pipeline::new(
                name,
                config.clone(),
                sink,
                store.clone(),
                checkpoints.clone(),
                dead_letters,
            );
            sinks.statuses.push(pipeline.status());
            sinks.tasks.spawn(pipeline.run(shutdown.clone()));
        }
        Ok(sinks)
    }

    /// What every sink is doing.
    pub fn reports(&self) -> Vec<SinkReport> {
        self.statuses.iter().map(|s| s.report()).collect()
    }

    /// The statuses, to share with the admin APIs.
    pub fn statuses(&self) -> Vec<Arc<SinkStatus>> {
        self.statuses.clone()
    }

    /// Waits for every pipeline to stop (after shutdown).
    pub async fn join(mut self) {
        while let Some(result) = self.tasks.join_next().await {
            if let Ok(Err(err)) = result {
                tracing::error!(error = %err, "a sink stopped with an error");
            }
        }
    }
}
