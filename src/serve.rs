//! `fluxkv serve`: open the store (replaying the AOF), start the servers
//! and background tasks, and shut down gracefully on SIGINT/SIGTERM.

use crate::config::{Config, Overrides};
use anyhow::Context;
use fluxkv_ingest::{
    GrpcConfig, GrpcServer, HttpConfig, HttpServer, IngestError, Limits, RespConfig, RespServer,
    SinkStatusSource,
};
use fluxkv_sinks::Sinks;
use fluxkv_store::{AofOptions, RetentionPolicy, Store, StoreOptions};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Active expiry runs this often (Redis's default `hz 10`).
const EXPIRY_INTERVAL: Duration = Duration::from_millis(100);
/// Keys one expiry round may remove per shard before yielding.
const EXPIRY_BUDGET_PER_SHARD: usize = 64;

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// TOML configuration file (see docs/fluxkv.example.toml).
    #[arg(long, short = 'c', env = "FLUXKV_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref(), &args.overrides)?;
    init_tracing(&config.log.level)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("fluxkv-worker")
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let signals = Signals::install()?;
    let options = StoreOptions {
        shards: config.store.shards,
        aof: AofOptions {
            fsync: config.aof.fsync,
            segment_bytes: config.aof.segment_bytes,
            ring_events: config.stream.ring_events,
            auto_rewrite_percentage: config.aof.auto_rewrite_percentage,
            auto_rewrite_min_bytes: config.aof.auto_rewrite_min_bytes,
            retention: RetentionPolicy {
                retain_history_bytes: config.aof.retain_history_bytes,
                retention_limit_bytes: config.aof.retention_limit_bytes,
            },
        },
        max_value_bytes: config.resp.max_bulk_len,
        before_images: config.before_images(),
        node_id: (!config.node.id.is_empty()).then(|| config.node.id.clone()),
        epoch: config.node.epoch,
        ..StoreOptions::default()
    };
    let data_dir = config.data_dir.clone();
    let (store, report) = tokio::task::spawn_blocking(move || Store::open(&data_dir, options))
        .await?
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    // Base entries and fix-ups are records applied too.
    let base = report.aof.recovered.base;
    let records = report.aof.recovered.records + base.map_or(0, |b| b.keys + b.fixups);
    let seconds = report.elapsed.as_secs_f64();
    tracing::info!(
        records,
        base_seq = base.map_or(0, |b| b.seq),
        base_keys = base.map_or(0, |b| b.keys),
        keys = report.keys,
        last_seq = report.aof.recovered.last_seq,
        seconds,
        records_per_sec = (records as f64 / seconds.max(1e-9)) as u64,
        "loaded the AOF"
    );
    let store = Arc::new(store);
    let shutdown = CancellationToken::new();
    tokio::spawn(signals.cancel_on_signal(shutdown.clone()));
    let expiry = tokio::spawn(active_expiry(store.clone(), shutdown.clone()));
    let sinks = Sinks::start(&config.sinks, store.clone(), shutdown.clone())
        .await
        .context("starting the sinks")?;
    let upkeep = tokio::spawn(crate::upkeep::run(
        store.clone(),
        sinks.statuses(),
        shutdown.clone(),
    ));

    let resp = RespConfig {
        addr: config.resp.addr.clone(),
        requirepass: config.resp.requirepass.clone(),
        limits: Limits {
            max_bulk_len: config.resp.max_bulk_len,
            max_inline_len: config.resp.max_inline_len,
            ..Limits::default()
        },
        max_clients: config.resp.max_clients,
    };
    let watermark_interval = Duration::from_millis(config.stream.watermark_ms);
    let sink_statuses = {
        let (statuses, store) = (sinks.statuses(), store.clone());
        SinkStatusSource::new(move || {
            let committed = store.aof_status().committed_seq;
            let now = store.now_ms();
            statuses
                .iter()
                .map(|s| s.report().to_proto(committed, now))
                .collect()
        })
    };
    let grpc = GrpcConfig {
        addr: config.grpc.addr.clone(),
        watermark_interval,
        sink_statuses: sink_statuses.clone(),
        ..GrpcConfig::default()
    };
    let http = HttpConfig {
        addr: config.http.addr.clone(),
        max_body_bytes: config.http.max_body_bytes,
        watermark_interval,
        sink_statuses,
        ..HttpConfig::default()
    };
    let resp = RespServer::bind(resp, store.clone()).await?;
    let grpc = GrpcServer::bind(grpc, store.clone()).await?;
    let http = HttpServer::bind(http, store.clone()).await?;
    tracing::info!(
        resp = %resp.local_addr(),
        grpc = %grpc.local_addr(),
        http = %http.local_addr(),
        node = %store.identity().node,
        sinks = config.sinks.len(),
        fsync = %config.aof.fsync,
        data_dir = %config.data_dir.display(),
        "ready to accept connections"
    );
    // A server that fails stops the others: the node is down, not half up.
    let (resp, grpc, http) = tokio::join!(
        stop_all_on_error(resp.run(shutdown.clone()), &shutdown),
        stop_all_on_error(grpc.run(shutdown.clone()), &shutdown),
        stop_all_on_error(http.run(shutdown.clone()), &shutdown),
    );
    let served = resp.and(grpc).and(http);
    shutdown.cancel();
    let _ = expiry.await;
    let _ = upkeep.await;
    // Sinks finish the batch in hand (and checkpoint it) before the AOF
    // closes; whatever they did not deliver they resume after a restart.
    sinks.join().await;
    let closed = tokio::task::spawn_blocking(move || store.close()).await?;
    served?;
    closed.context("flushing the AOF at shutdown")?;
    tracing::info!("AOF flushed and fsynced; bye");
    Ok(())
}

async fn stop_all_on_error(
    server: impl std::future::Future<Output = Result<(), IngestError>>,
    shutdown: &CancellationToken,
) -> Result<(), IngestError> {
    let result = server.await;
    if let Err(err) = &result {
        tracing::error!(error = %err, "a server failed; shutting down");
        shutdown.cancel();
    }
    result
}

/// SIGTERM and SIGINT handlers. Installed before the node does anything
/// else: a signal that arrived before a spawned task first ran would
/// otherwise meet the default disposition and kill the node without
/// flushing the AOF.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    /// Waits for either signal, then cancels `shutdown`.
    async fn cancel_on_signal(mut self, shutdown: CancellationToken) {
        let name = tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        };
        // Cancel before logging: nothing that can go wrong with the log may
        // keep the node from shutting down.
        shutdown.cancel();
        tracing::info!("{name}: shutting down");
    }
}

/// Removes expired keys nobody reads, logging each as an `expire` record.
async fn active_expiry(store: Arc<Store>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(EXPIRY_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        // A full round means more is due: go again, yielding in between.
        while store.expire_due(EXPIRY_BUDGET_PER_SHARD) >= EXPIRY_BUDGET_PER_SHARD {
            tokio::task::yield_now().await;
        }
    }
}

fn init_tracing(level: &str) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::new(env),
        _ => EnvFilter::try_new(level).with_context(|| format!("invalid log.level {level:?}"))?,
    };
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        // A closed stderr (the log reader went away) must not panic the
        // task that logged, as the default report via eprintln! would.
        .log_internal_errors(false)
        .init();
    Ok(())
}
