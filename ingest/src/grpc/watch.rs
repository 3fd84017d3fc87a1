//! The `fluxkv.v1.Watch` service: the change stream from a seq, filtered
//! server-side.
//!
//! The response stream polls the subscription directly: nothing is
//! buffered between the store and tonic's encoder, whose own buffer is
//! bounded by HTTP/2 flow control. A client that stops reading only falls
//! behind (and later catches up from the AOF); writers never wait for it.

use super::store_status;
use crate::changes::{ChangeFilter, Start, Watch};
use fluxkv_schemas::Op;
use fluxkv_schemas::proto::watch_server;
use fluxkv_schemas::proto::{self, WatchRequest, WatchResponse};
use fluxkv_store::Store;
use futures_util::StreamExt as _;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// The Watch service over one store.
#[derive(Debug, Clone)]
pub(crate) struct WatchService {
    store: Arc<Store>,
    watermark_every: Duration,
    shutdown: CancellationToken,
}

impl WatchService {
    pub(crate) fn new(
        store: Arc<Store>,
        watermark_every: Duration,
        shutdown: CancellationToken,
    ) -> Self {
        WatchService {
            store,
            watermark_every,
            shutdown,
        }
    }
}

/// The filter a request asks for.
fn filter(request: WatchRequest) -> Result<ChangeFilter, Status> {
    let ops = request
        .ops
        .iter()
        .map(|&code| match proto::Op::try_from(code) {
            Ok(proto::Op::Unspecified) | Err(_) => Err(Status::invalid_argument(format!(
                "unknown op {code} in ops (expected OP_SET, OP_DEL, OP_EXPIRE, OP_EVICT or OP_FLUSH)"
            ))),
            Ok(op) => Op::try_from(op).map_err(|e| Status::invalid_argument(e.to_string())),
        })
        .collect::<Result<Vec<Op>, Status>>()?;
    Ok(ChangeFilter {
        prefixes: request.key_prefixes,
        ops,
    })
}

type WatchStream = Pin<Box<dyn futures_util::Stream<Item = Result<WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl watch_server::Watch for WatchService {
    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let request = request.into_inner();
        let start = match request.from_seq {
            0 => Start::Now,
            seq => Start::At(seq),
        };
        let filter = filter(request)?;
        let watch = Watch::open(
            &self.store,
            start,
            filter,
            self.watermark_every,
            self.shutdown.child_token(),
        )
        .map_err(store_status)?;
        let stream = watch.into_stream().map(|item| match item {
            Ok(item) => Ok(WatchResponse::from(item)),
            Err(err) => Err(store_status(err)),
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
