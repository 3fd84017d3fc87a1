//! The `fluxkv.v1.KV` service: reads, and writes acknowledged only once
//! their AOF record is committed.

use super::store_status;
use crate::glob;
use fluxkv_schemas::proto::kv_server::Kv;
use fluxkv_schemas::proto::{
    self, DeleteRequest, DeleteResponse, GetRequest, GetResponse, IncrRequest, IncrResponse,
    MGetRequest, MGetResponse, MSetRequest, MSetResponse, ScanRequest, ScanResponse, SetRequest,
    SetResponse, set_request::Expiry,
};
use fluxkv_store::{ExpirySpec, Logged, SetCondition, SetOptions, Store};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Keys a Scan examines when the request leaves `count` at 0 (as Redis).
const DEFAULT_SCAN_COUNT: usize = 10;

/// The KV service over one store.
#[derive(Debug, Clone)]
pub(crate) struct KvService {
    store: Arc<Store>,
}

impl KvService {
    pub(crate) fn new(store: Arc<Store>) -> Self {
        KvService { store }
    }

    /// Waits until the write's record is committed, and returns its seq
    /// (0 when it logged nothing).
    async fn commit<T>(&self, logged: &Logged<T>) -> Result<u64, Status> {
        match logged.seq {
            Some(seq) => {
                self.store.wait_committed(seq).await.map_err(store_status)?;
                Ok(seq)
            }
            None => Ok(0),
        }
    }

    fn lookup(&self, key: &[u8]) -> GetResponse {
        self.store.read(key, |entry| match entry {
            Some(entry) => GetResponse {
                value: Some(entry.value.clone()),
                expire_at_ms: entry.expire_at_ms,
            },
            None => GetResponse::default(),
        })
    }
}

/// The store's options for a SetRequest.
fn set_options(request: &SetRequest, now_ms: u64) -> Result<SetOptions, Status> {
    let condition = match proto::SetCondition::try_from(request.condition) {
        Ok(proto::SetCondition::Unspecified) => SetCondition::Always,
        Ok(proto::SetCondition::Nx) => SetCondition::IfAbsent,
        Ok(proto::SetCondition::Xx) => SetCondition::IfPresent,
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "unknown condition {}",
                request.condition
            )));
        }
    };
    let expiry = match (request.expiry, request.keep_ttl) {
        (Some(_), true) => {
            return Err(Status::invalid_argument(
                "keep_ttl cannot be combined with ttl_ms or expire_at_ms",
            ));
        }
        (None, true) => ExpirySpec::Keep,
        (None, false) => ExpirySpec::Clear,
        (Some(Expiry::TtlMs(0)), _) => {
            return Err(Status::invalid_argument("ttl_ms must be positive"));
        }
        (Some(Expiry::ExpireAtMs(0)), _) => {
            return Err(Status::invalid_argument("expire_at_ms must be positive"));
        }
        (Some(Expiry::TtlMs(ttl)), _) => ExpirySpec::At(
            now_ms
                .checked_add(ttl)
                .ok_or_else(|| Status::invalid_argument(format!("ttl_ms {ttl} is out of range")))?,
        ),
        (Some(Expiry::ExpireAtMs(at)), _) => ExpirySpec::At(at),
    };
    Ok(SetOptions {
        condition,
        expiry,
        return_old: false,
    })
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        Ok(Response::new(self.lookup(&request.get_ref().key)))
    }

    async fn set(&self, request: Request<SetRequest>) -> Result<Response<SetResponse>, Status> {
        let request = request.into_inner();
        let options = set_options(&request, self.store.now_ms())?;
        let logged = self
            .store
            .set(&request.key, &request.value, options)
            .map_err(store_status)?;
        // A refused NX/XX may still have logged the reaping of an expired
        // key: wait for it too, but report no seq for a write not made.
        let seq = self.commit(&logged).await?;
        let applied = logged.value.written;
        Ok(Response::new(SetResponse {
            applied,
            seq: if applied { seq } else { 0 },
        }))
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let keys: Vec<&[u8]> = request.get_ref().keys.iter().map(|k| &k[..]).collect();
        let logged = self.store.del(&keys).map_err(store_status)?;
        let seq = self.commit(&logged).await?;
        let deleted = logged.value as u64;
        Ok(Response::new(DeleteResponse {
            deleted,
            seq: if deleted > 0 { seq } else { 0 },
        }))
    }

    async fn m_get(&self, request: Request<MGetRequest>) -> Result<Response<MGetResponse>, Status> {
        let values = request
            .get_ref()
            .keys
            .iter()
            .map(|key| self.lookup(key))
            .collect();
        Ok(Response::new(MGetResponse { values }))
    }

    async fn m_set(&self, request: Request<MSetRequest>) -> Result<Response<MSetResponse>, Status> {
        let pairs: Vec<(&[u8], &[u8])> = request
            .get_ref()
            .pairs
            .iter()
            .map(|p| (&p.key[..], &p.value[..]))
            .collect();
        if pairs.is_empty() {
            return Ok(Response::new(MSetResponse { seq: 0 }));
        }
        let logged = self.store.mset(&pairs, false).map_err(store_status)?;
        let seq = self.commit(&logged).await?;
        Ok(Response::new(MSetResponse { seq }))
    }

    async fn scan(&self, request: Request<ScanRequest>) -> Result<Response<ScanResponse>, Status> {
        let request = request.get_ref();
        let count = match request.count {
            0 => DEFAULT_SCAN_COUNT,
            n => n as usize,
        };
        let pattern = &request.pattern[..];
        let (cursor, keys) = self.store.scan(request.cursor, count, |key| {
            pattern.is_empty() || glob::matches(pattern, key)
        });
        Ok(Response::new(ScanResponse { cursor, keys }))
    }

    async fn incr(&self, request: Request<IncrRequest>) -> Result<Response<IncrResponse>, Status> {
        let request = request.get_ref();
        let logged = self
            .store
            .incr_by(&request.key, request.delta)
            .map_err(store_status)?;
        let seq = self.commit(&logged).await?;
        Ok(Response::new(IncrResponse {
            value: logged.value,
            seq,
        }))
    }
}
