//! Reading the history off disk, on a thread of its own: chunks of the AOF
//! ([`HistoryReader`]) turned into change events, the selected ones handed
//! over a batch per chunk through a bounded channel — when the target is
//! slower the reader waits, so memory stays at a few chunks.
//!
//! Read-only: it opens neither the store nor anything for writing, so it
//! can read the data directory of a running node.

use super::selection::Selection;
use crate::config::Config;
use anyhow::{Context, ensure};
use fluxkv_schemas::ChangeEvent;
use fluxkv_store::Identity;
use fluxkv_store::aof::history::HistoryReader;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Chunks read ahead of the target.
const READ_AHEAD: usize = 4;

/// The selected events of one chunk.
#[derive(Debug)]
pub(crate) struct Batch {
    /// Selected events, in seq order.
    pub(crate) events: Vec<ChangeEvent>,
    /// Every record up to this seq has been looked at, selected or not.
    pub(crate) scanned_through: u64,
    /// AOF bytes read so far, for progress.
    pub(crate) bytes_read: u64,
}

/// The history, batch by batch.
#[derive(Debug)]
pub(crate) struct Source {
    batches: mpsc::Receiver<anyhow::Result<Batch>>,
    /// The first seq the replay looks at.
    pub(crate) start_seq: u64,
    /// AOF bytes from the start to the end of the log when it started.
    pub(crate) total_bytes: u64,
}

impl Source {
    /// Opens the AOF in `aof_dir` at the selection's first seq (failing
    /// now if it is gone) and starts reading on a thread, until the end of
    /// the selection or of the log, or until `stop`.
    pub(crate) fn start(
        aof_dir: &Path,
        selection: Arc<Selection>,
        identity: Identity,
        stop: CancellationToken,
    ) -> anyhow::Result<Source> {
        let reader = HistoryReader::open(aof_dir, selection.from_seq)
            .with_context(|| format!("reading the AOF in {}", aof_dir.display()))?;
        let total_bytes = reader.bytes_ahead()?;
        let start_seq = reader.next_seq();
        let (tx, batches) = mpsc::channel(READ_AHEAD);
        std::thread::Builder::new()
            .name("fluxkv-replay-read".into())
            .spawn(move || read(reader, &selection, &identity, &tx, &stop))
            .context("starting the AOF reader thread")?;
        Ok(Source {
            batches,
            start_seq,
            total_bytes,
        })
    }

    /// The next batch; `None` once the history is read.
    pub(crate) async fn next(&mut self) -> Option<anyhow::Result<Batch>> {
        self.batches.recv().await
    }
}

/// The identity stamped on replayed events: `node.id` from the config, or
/// the id the node keeps in `<data_dir>/node_id` — read, never created: a
/// replay writes nothing into the data directory.
pub(crate) fn node_identity(config: &Config) -> anyhow::Result<Identity> {
    let node = if config.node.id.is_empty() {
        let path = config.data_dir.join("node_id");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading the node id from {} (is {} a fluxkv data directory? \
                 node.id in --config names the node otherwise)",
                path.display(),
                config.data_dir.display()
            )
        })?;
        let id = text.trim();
        ensure!(!id.is_empty(), "{} is empty", path.display());
        id.to_string()
    } else {
        config.node.id.clone()
    };
    Ok(Identity {
        node: node.into(),
        epoch: config.node.epoch,
    })
}

/// The reader thread: chunks to batches until done, stopped, or nobody
/// listens.
fn read(
    mut reader: HistoryReader,
    selection: &Selection,
    identity: &Identity,
    tx: &mpsc::Sender<anyhow::Result<Batch>>,
    stop: &CancellationToken,
) {
    while !stop.is_cancelled() {
        let chunk = match reader.next_chunk() {
            Ok(Some(chunk)) if chunk.first_seq() <= selection.to_seq => chunk,
            Ok(_) => return,
            Err(err) => {
                let _ = tx.blocking_send(Err(err).context("reading the AOF"));
                return;
            }
        };
        let scanned_through = chunk.last_seq().min(selection.to_seq);
        // Sized for the whole chunk: growing it would move every event.
        let mut events = Vec::with_capacity(chunk.len() as usize);
        events.extend(
            chunk
                .events(identity)
                .take_while(|event| event.seq <= scanned_through)
                .filter(|event| selection.takes(event)),
        );
        let batch = Batch {
            events,
            scanned_through,
            bytes_read: reader.bytes_read(),
        };
        if tx.blocking_send(Ok(batch)).is_err() || scanned_through == selection.to_seq {
            return;
        }
    }
}
