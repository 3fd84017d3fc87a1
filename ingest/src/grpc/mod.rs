//! The gRPC server: `fluxkv.v1.KV`, `fluxkv.v1.Watch` and
//! `fluxkv.v1.Admin` (generated in [`fluxkv_schemas::proto`]), plus the
//! standard health service (`grpc.health.v1.Health`) and server reflection
//! (v1 and v1alpha, so `grpcurl` works without `.proto` files).
//!
//! - `kv` — reads and writes; a write is answered once committed.
//! - `watch` — the change stream, filtered server-side.
//! - `admin` — Info.

mod admin;

use crate::sink_status::SinkStatusSource;
mod kv;
mod watch;

use crate::error::IngestError;
use crate::server::is_transient;
use fluxkv_schemas::proto::admin_server::AdminServer;
use fluxkv_schemas::proto::kv_server::KvServer;
use fluxkv_schemas::proto::watch_server::WatchServer;
use fluxkv_store::{Store, StoreError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tonic::server::NamedService;
use tonic_health::ServingStatus;

/// Settings of the gRPC server.
#[derive(Debug, Clone)]
pub struct GrpcConfig {
    /// Where to listen (port 0: any free port).
    pub addr: String,
    /// A Watch stream with no new change sends a watermark this often.
    pub watermark_interval: Duration,
    /// Largest request message accepted (a Set's key and value, an MSet's
    /// pairs); larger ones fail with OUT_OF_RANGE.
    pub max_message_bytes: usize,
    /// How long shutdown waits for open calls (health watches, say) to
    /// finish before it returns anyway.
    pub shutdown_grace: Duration,
    /// What Admin/Sinks reports.
    pub sink_statuses: SinkStatusSource,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            addr: "127.0.0.1:50051".into(),
            watermark_interval: Duration::from_secs(1),
            // The store's largest value plus room for the key and framing.
            max_message_bytes: (512 << 20) + (1 << 20),
            shutdown_grace: Duration::from_secs(10),
            sink_statuses: SinkStatusSource::default(),
        }
    }
}

/// A bound, not yet running, gRPC server.
#[derive(Debug)]
pub struct GrpcServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: GrpcConfig,
    store: Arc<Store>,
}

impl GrpcServer {
    /// Binds the listening socket (use port 0 for an ephemeral port).
    pub async fn bind(config: GrpcConfig, store: Arc<Store>) -> Result<GrpcServer, IngestError> {
        let (listener, local_addr) = crate::lifecycle::bind_listener(&config.addr).await?;
        Ok(GrpcServer {
            listener,
            local_addr,
            config,
            store,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` is cancelled. Then it stops accepting,
    /// reports NOT_SERVING, ends every Watch stream, lets unary calls
    /// finish (and their AOF commits), and returns once every connection
    /// has closed or `shutdown_grace` has passed.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), IngestError> {
        let GrpcServer {
            listener,
            local_addr,
            config,
            store,
        } = self;
        let limit = config.max_message_bytes;
        let kv = KvServer::new(kv::KvService::new(store.clone())).max_decoding_message_size(limit);
        let watch = WatchServer::new(watch::WatchService::new(
            store.clone(),
            config.watermark_interval,
            shutdown.clone(),
        ));
        let admin = AdminServer::new(admin::AdminService::new(
            store,
            config.sink_statuses.clone(),
        ));

        let (health, health_service) = tonic_health::server::health_reporter();
        let names = [
            "",
            <KvServer<kv::KvService> as NamedService>::NAME,
            <WatchServer<watch::WatchService> as NamedService>::NAME,
            <AdminServer<admin::AdminService> as NamedService>::NAME,
        ];
        for name in names {
            health
                .set_service_status(name, ServingStatus::Serving)
                .await;
        }
        let reflection_error = |source| IngestError::Reflection { source };
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(fluxkv_schemas::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(reflection_error)?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(fluxkv_schemas::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(reflection_error)?;

        let router = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(kv)
            .add_service(watch)
            .add_service(admin);

        let signal = {
            let shutdown = shutdown.clone();
            async move {
                shutdown.cancelled().await;
                for name in names {
                    health
                        .set_service_status(name, ServingStatus::NotServing)
                        .await;
                }
            }
        };
        let serve = router.serve_with_incoming_shutdown(incoming(listener), signal);
        let finished = crate::lifecycle::serve_with_grace(
            serve,
            &shutdown,
            config.shutdown_grace,
            "gRPC calls",
        )
        .await;
        finished.map_err(|source| IngestError::Grpc {
            addr: local_addr,
            source,
        })
    }
}

/// Accepted connections, with `TCP_NODELAY`. Accept errors are logged and
/// retried after a pause (tonic would retry them at once, spinning on a
/// full file table).
fn incoming(
    listener: TcpListener,
) -> impl futures_util::Stream<Item = Result<TcpStream, std::io::Error>> {
    futures_util::stream::unfold(listener, |listener| async move {
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    return Some((Ok(stream), listener));
                }
                Err(err) => {
                    let pause = if is_transient(&err) { 10 } else { 100 };
                    tracing::warn!(error = %err, "gRPC accept failed; retrying");
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
        }
    })
}

/// The gRPC status for a store error.
pub(crate) fn store_status(err: StoreError) -> Status {
    let message = err.to_string();
    match err {
        StoreError::NotAnInteger | StoreError::NotAFloat => Status::failed_precondition(message),
        StoreError::NoSuchKey => Status::not_found(message),
        StoreError::Overflow | StoreError::NanOrInfinity => Status::out_of_range(message),
        StoreError::ValueTooLarge { .. } => Status::invalid_argument(message),
        StoreError::SeqUnavailable { .. } => Status::failed_precondition(message),
        StoreError::AofPoisoned { .. } | StoreError::ShuttingDown => Status::unavailable(message),
        _ => Status::internal(message),
    }
}
