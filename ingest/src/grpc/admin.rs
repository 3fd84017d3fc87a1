//! The `fluxkv.v1.Admin` service: the node's identity, log positions and
//! AOF segments.

use super::store_status;
use crate::sink_status::SinkStatusSource;
use fluxkv_schemas::proto::admin_server::Admin;
use fluxkv_schemas::proto::{AofSegment, InfoRequest, InfoResponse, SinksRequest, SinksResponse};
use fluxkv_store::Store;
use std::sync::Arc;
use tonic::{Request, Response, Status};

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

#[tonic::async_trait]
impl Admin for AdminService {
    async fn info(&self, _request: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let store = self.store.clone();
        // Listing the directory and stat-ing segments is blocking I/O.
        let segments = tokio::task::spawn_blocking(move || segments(&store))
            .await
            .map_err(|e| Status::internal(format!("listing AOF segments: {e}")))??;
        let aof = self.store.aof_status();
        let identity = self.store.identity();
        let oldest_seq = segments.first().map_or(1, |s| s.first_seq);
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
