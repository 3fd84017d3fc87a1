//! The `fluxkv.v1.Admin` service: the node's identity, log positions and
//! AOF segments, sink statuses, and consistent snapshots streamed to the
//! caller.

use super::store_status;
use crate::sink_status::SinkStatusSource;
use fluxkv_schemas::proto::admin_server::Admin;
use fluxkv_schemas::proto::{
    AofSegment, InfoRequest, InfoResponse, SinksRequest, SinksResponse, SnapshotChunk,
    SnapshotDone, SnapshotRequest,
};
use fluxkv_store::Store;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

/// Snapshot bytes per message: well under tonic's 4 MiB default limit.
const SNAPSHOT_CHUNK: usize = 1 << 20;

/// The Admin service over one store.
#[derive(Debug, Clone)]
pub(crate) struct AdminService {
    store: Arc<Store>,
    sinks: SinkStatusSource,
}

impl AdminService {
    pub(crate) fn new(store: Arc<Store>, sinks: SinkStatusSource) -> Self {
        AdminService { store, sinks }
    }
}

/// The AOF's segments, oldest first, named relative to the data directory.
fn segments(store: &Store) -> Result<Vec<AofSegment>, Status> {
    let listed = store.aof_segments().map_err(store_status)?;
    Ok(listed
        .into_iter()
        .map(|seg| AofSegment {
            file: seg
                .path
                .strip_prefix(store.data_dir())
                .unwrap_or(&seg.path)
                .display()
                .to_string(),
            first_seq: seg.first_seq,
            // A segment removed since the listing (a rewrite) reads as empty.
            bytes: std::fs::metadata(&seg.path).map_or(0, |m| m.len()),
        })
        .collect())
}

/// Hands what the snapshot writer writes to the response stream; fails
/// when the caller has gone, which stops the snapshot.
struct ChunkWriter(mpsc::Sender<Result<SnapshotChunk, Status>>);

impl std::io::Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for data in buf.chunks(SNAPSHOT_CHUNK) {
            let chunk = SnapshotChunk {
                data: data.to_vec().into(),
                done: None,
            };
            self.0.blocking_send(Ok(chunk)).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the caller went away")
            })?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    type SnapshotStream =
        Pin<Box<dyn futures_util::Stream<Item = Result<SnapshotChunk, Status>> + Send>>;

    async fn snapshot(
        &self,
        _request: Request<SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        let (tx, rx) = mpsc::channel(4);
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let last = match store.snapshot_to(ChunkWriter(tx.clone())) {
                Ok((_, summary)) => Ok(SnapshotChunk {
                    data: Default::default(),
                    done: Some(SnapshotDone {
                        seq: summary.seq,
                        keys: summary.keys,
                        bytes: summary.bytes,
                    }),
                }),
                Err(err) => Err(store_status(err)),
            };
            let _ = tx.blocking_send(last);
        });
        let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        Ok(Response::new(Box::pin(chunks)))
    }

    async fn info(&self, _request: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let store = self.store.clone();
        // Listing the directory and stat-ing segments is blocking I/O.
        let segments = tokio::task::spawn_blocking(move || segments(&store))
            .await
            .map_err(|e| Status::internal(format!("listing AOF segments: {e}")))??;
        let aof = self.store.aof_status();
        let identity = self.store.identity();
        let oldest_seq = aof.oldest_seq;
        Ok(Response::new(InfoResponse {
            node: identity.node.to_string(),
            epoch: identity.epoch,
            last_seq: aof.last_seq,
            committed_seq: aof.committed_seq,
            durable_seq: aof.durable_seq,
            oldest_seq,
            segments,
            keys: self.store.len() as u64,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }))
    }

    async fn sinks(
        &self,
        _request: Request<SinksRequest>,
    ) -> Result<Response<SinksResponse>, Status> {
        Ok(Response::new(SinksResponse {
            sinks: self.sinks.statuses(),
        }))
    }
}
