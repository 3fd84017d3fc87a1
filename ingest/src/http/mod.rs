//! The HTTP server (axum): keys over REST and the change stream as
//! Server-Sent Events.
//!
//! | route | does |
//! |---|---|
//! | `GET /v1/kv/{key}` | the raw value (`application/octet-stream`), `x-fluxkv-expire-at-ms` when it expires; 404 when missing |
//! | `PUT /v1/kv/{key}` | body = value; `ttl_ms`, `expire_at_ms`, `keep_ttl`, `nx`, `xx`; `{"seq":N,"written":bool}` once committed |
//! | `DELETE /v1/kv/{key}` | `{"deleted":0\|1,"seq":N}` once committed |
//! | `GET /v1/watch` | SSE from `from` / `Last-Event-ID`, filtered by `prefix` and `op`; 410 when the history is gone |
//! | `GET /healthz` | `ok` |
//!
//! Errors are `{"error": "..."}` with the matching status.
//!
//! - `kv` — the key routes; `watch` — SSE; `params` — raw-byte decoding
//!   of keys and query strings; `error` — errors as responses.

mod error;
mod kv;
mod params;
mod watch;

use crate::error::IngestError;
use crate::sink_status::SinkStatusSource;
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use fluxkv_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

pub use kv::EXPIRE_AT_HEADER;

/// Settings of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Where to listen (port 0: any free port).
    pub addr: String,
    /// Largest PUT body; larger ones get 413 Payload Too Large.
    pub max_body_bytes: usize,
    /// An SSE watch with no new change sends a watermark this often.
    pub watermark_interval: Duration,
    /// An SSE watch sends a keep-alive comment this often, so proxies do
    /// not close it while nothing happens.
    pub keep_alive_interval: Duration,
    /// How long shutdown waits for open requests to finish before it
    /// returns anyway.
    pub shutdown_grace: Duration,
    /// What `GET /v1/sinks` reports.
    pub sink_statuses: SinkStatusSource,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            addr: "127.0.0.1:8080".into(),
            max_body_bytes: 512 << 20,
            watermark_interval: Duration::from_secs(1),
            keep_alive_interval: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(10),
            sink_statuses: SinkStatusSource::default(),
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    store: Arc<Store>,
    max_body_bytes: usize,
    watermark_interval: Duration,
    keep_alive_interval: Duration,
    /// Cancelled on shutdown: ends every SSE stream.
    shutdown: CancellationToken,
    sink_statuses: SinkStatusSource,
}

/// A bound, not yet running, HTTP server.
#[derive(Debug)]
pub struct HttpServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: HttpConfig,
    store: Arc<Store>,
}

impl HttpServer {
    /// Binds the listening socket (use port 0 for an ephemeral port).
    pub async fn bind(config: HttpConfig, store: Arc<Store>) -> Result<HttpServer, IngestError> {
        let (listener, local_addr) = crate::lifecycle::bind_listener(&config.addr).await?;
        Ok(HttpServer {
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

    /// Serves until `shutdown` is cancelled. Then it stops accepting, ends
    /// every SSE stream, lets requests in flight finish (and their AOF
    /// commits), and returns once every connection has closed or
    /// `shutdown_grace` has passed.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), IngestError> {
        let HttpServer {
            listener,
            local_addr,
            config,
            store,
        } = self;
        let state = AppState {
            store,
            max_body_bytes: config.max_body_bytes,
            watermark_interval: config.watermark_interval,
            keep_alive_interval: config.keep_alive_interval,
            shutdown: shutdown.clone(),
            sink_statuses: config.sink_statuses.clone(),
        };
        let app = router(state, config.max_body_bytes);
        let serve = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .into_future();
        let finished = crate::lifecycle::serve_with_grace(
            serve,
            &shutdown,
            config.shutdown_grace,
            "HTTP requests",
        )
        .await;
        finished.map_err(|source| IngestError::Accept {
            addr: local_addr,
            source,
        })
    }
}

fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/v1/kv/{*key}",
            get(kv::get).put(kv::put).delete(kv::delete),
        )
        .route("/v1/watch", get(watch::watch))
        .route("/v1/sinks", get(sinks))
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::wrong_method)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

/// Every sink's state, checkpoint, lag and counters, as JSON.
async fn sinks(State(state): State<AppState>) -> Json<serde_json::Value> {
    let sinks: Vec<_> = state
        .sink_statuses
        .statuses()
        .into_iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name,
                "kind": s.kind,
                "state": s.state,
                "checkpoint": s.checkpoint,
                "lag_events": s.lag_events,
                "lag_seconds": s.lag_seconds,
                "delivered": s.delivered,
                "retries": s.retries,
                "dead_lettered": s.dead_lettered,
                "last_error": (!s.last_error.is_empty()).then_some(s.last_error),
            })
        })
        .collect();
    Json(serde_json::json!({ "sinks": sinks }))
}
