//! The Redis-protocol server: the accept loop, the state every connection
//! shares, and graceful shutdown.

use crate::connection;
use crate::error::IngestError;
use crate::resp::parser::Limits;
use crate::session::Session;
use fluxkv_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Settings of the RESP server.
#[derive(Debug, Clone)]
pub struct RespConfig {
    /// Where to listen.
    pub addr: String,
    /// The password AUTH must present; `None` means no AUTH required.
    pub requirepass: Option<String>,
    /// Request size limits.
    pub limits: Limits,
    /// Connections beyond this are refused with an error.
    pub max_clients: usize,
}

impl Default for RespConfig {
    fn default() -> Self {
        RespConfig {
            addr: "127.0.0.1:6380".into(),
            requirepass: None,
            limits: Limits::default(),
            max_clients: 10_000,
        }
    }
}

/// Server-wide counters for INFO. Connections add their command counts
/// once per batch, so the hot path does not bounce these cache lines.
#[derive(Debug, Default)]
pub(crate) struct ServerStats {
    pub(crate) connections_received: AtomicU64,
    pub(crate) connected: AtomicUsize,
    pub(crate) rejected: AtomicU64,
    pub(crate) commands: AtomicU64,
    pub(crate) net_input_bytes: AtomicU64,
    pub(crate) net_output_bytes: AtomicU64,
}

/// What every connection of one server shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Arc<Store>,
    pub(crate) config: RespConfig,
    pub(crate) local_addr: SocketAddr,
    pub(crate) started: Instant,
    pub(crate) run_id: String,
    pub(crate) stats: ServerStats,
    next_client_id: AtomicU64,
}

/// A bound, not yet running, RESP server.
#[derive(Debug)]
pub struct RespServer {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl RespServer {
    /// Binds the listening socket (use port 0 for an ephemeral port).
    pub async fn bind(config: RespConfig, store: Arc<Store>) -> Result<RespServer, IngestError> {
        let (listener, local_addr) = crate::lifecycle::bind_listener(&config.addr).await?;
        let run_id = format!("{:040x}", rand::random::<u128>());
        let shared = Arc::new(Shared {
            store,
            config,
            local_addr,
            started: Instant::now(),
            run_id,
            stats: ServerStats::default(),
            next_client_id: AtomicU64::new(1),
        });
        Ok(RespServer { listener, shared })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, lets every
    /// connection finish the batch it is executing (and its AOF commit), and
    /// returns once all have closed.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), IngestError> {
        let connections = TaskTracker::new();
        let result = loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = shutdown.cancelled() => break Ok(()),
            };
            let (stream, peer) = match accepted {
                Ok(pair) => pair,
                // Per-connection failures (reset before accept, fd limits)
                // must not stop the server; back off briefly on fd limits.
                Err(err) if is_transient(&err) => {
                    tracing::warn!(error = %err, "accept failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
                Err(source) => {
                    break Err(IngestError::Accept {
                        addr: self.shared.local_addr,
                        source,
                    });
                }
            };
            let stats = &self.shared.stats;
            stats.connections_received.fetch_add(1, Ordering::Relaxed);
            if stats.connected.load(Ordering::Relaxed) >= self.shared.config.max_clients {
                stats.rejected.fetch_add(1, Ordering::Relaxed);
                connections.spawn(refuse(stream));
                continue;
            }
            let _ = stream.set_nodelay(true);
            let id = self.shared.next_client_id.fetch_add(1, Ordering::Relaxed);
            let session = Session::new(id, peer, self.shared.config.requirepass.is_some());
            connections.spawn(connection::serve(
                stream,
                self.shared.clone(),
                session,
                shutdown.clone(),
            ));
        };
        connections.close();
        connections.wait().await;
        result
    }
}

async fn refuse(mut stream: tokio::net::TcpStream) {
    let _ = stream
        .write_all(b"-ERR max number of clients reached\r\n")
        .await;
}

/// Accept errors that concern one connection (or a momentary fd
/// shortage), after which accepting goes on.
pub(crate) fn is_transient(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || err
        .raw_os_error()
        .is_some_and(|code| code == 24 || code == 23) // EMFILE, ENFILE
}

impl Shared {
    /// CONFIG GET's parameters, with Redis's names.
    pub(crate) fn config_parameters(&self) -> Vec<(&'static str, String)> {
        let aof = self.store.aof_status();
        vec![
            ("bind", self.local_addr.ip().to_string()),
            ("port", self.local_addr.port().to_string()),
            ("databases", "1".into()),
            ("appendonly", "yes".into()),
            ("appendfsync", aof.fsync.to_string()),
            ("save", String::new()),
            ("maxmemory", "0".into()),
            ("maxmemory-policy", "noeviction".into()),
            ("maxclients", self.config.max_clients.to_string()),
            ("timeout", "0".into()),
            (
                "proto-max-bulk-len",
                self.config.limits.max_bulk_len.to_string(),
            ),
            (
                "requirepass",
                self.config.requirepass.clone().unwrap_or_default(),
            ),
            ("dir", self.store.data_dir().display().to_string()),
        ]
    }

    /// INFO's sections, in Redis's order, with real figures.
    pub(crate) fn info_sections(&self) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
        let stats = &self.stats;
        let keyspace = self.store.keyspace_stats();
        let aof = self.store.aof_status();
        let rewrite = self.store.rewrite_stats();
        let uptime = self.started.elapsed().as_secs();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed).to_string();
        let mut sections = vec![
            (
                "server",
                vec![
                    ("redis_version", crate::REDIS_COMPAT_VERSION.to_string()),
                    ("fluxkv_version", env!("CARGO_PKG_VERSION").to_string()),
                    ("redis_mode", "standalone".into()),
                    ("os", std::env::consts::OS.to_string()),
                    ("arch_bits", (usize::BITS).to_string()),
                    ("process_id", std::process::id().to_string()),
                    ("run_id", self.run_id.clone()),
                    ("tcp_port", self.local_addr.port().to_string()),
                    ("uptime_in_seconds", uptime.to_string()),
                    ("uptime_in_days", (uptime / 86_400).to_string()),
                ],
            ),
            (
                "clients",
                vec![
                    (
                        "connected_clients",
                        stats.connected.load(Ordering::Relaxed).to_string(),
                    ),
                    ("maxclients", self.config.max_clients.to_string()),
                ],
            ),
            (
                "memory",
                vec![
                    ("used_memory", keyspace.used_bytes.to_string()),
                    ("used_memory_human", human_bytes(keyspace.used_bytes as u64)),
                    (
                        "used_memory_rss",
                        resident_bytes().map_or_else(String::new, |b| b.to_string()),
                    ),
                    ("maxmemory", "0".into()),
                    ("maxmemory_policy", "noeviction".into()),
                ],
            ),
            (
                "persistence",
                vec![
                    ("loading", "0".into()),
                    ("aof_enabled", "1".into()),
                    (
                        "aof_rewrite_in_progress",
                        u8::from(rewrite.in_progress).to_string(),
                    ),
                    ("aof_rewrites", rewrite.rewrites.to_string()),
                    (
                        "aof_last_bgrewrite_status",
                        match &rewrite.last_error {
                            Some(Some(_)) => "err",
                            _ => "ok",
                        }
                        .into(),
                    ),
                    (
                        "aof_last_rewrite_time_sec",
                        rewrite
                            .last_elapsed
                            .map_or("-1".into(), |d| d.as_secs().to_string()),
                    ),
                    ("aof_base_size", aof.base.map_or(0, |b| b.bytes).to_string()),
                    ("aof_base_seq", aof.base.map_or(0, |b| b.seq).to_string()),
                    ("aof_oldest_seq", aof.oldest_seq.to_string()),
                    (
                        "aof_last_write_status",
                        if aof.poisoned.is_some() { "err" } else { "ok" }.into(),
                    ),
                    ("aof_current_size", aof.total_bytes.to_string()),
                    ("aof_segments", aof.segments.to_string()),
                    ("aof_fsync", aof.fsync.to_string()),
                    ("aof_last_seq", aof.last_seq.to_string()),
                    ("aof_committed_seq", aof.committed_seq.to_string()),
                    ("aof_durable_seq", aof.durable_seq.to_string()),
                ],
            ),
            (
                "stats",
                vec![
                    (
                        "total_connections_received",
                        load(&stats.connections_received),
                    ),
                    ("total_commands_processed", load(&stats.commands)),
                    ("total_net_input_bytes", load(&stats.net_input_bytes)),
                    ("total_net_output_bytes", load(&stats.net_output_bytes)),
                    ("rejected_connections", load(&stats.rejected)),
                    ("expired_keys", keyspace.counters.expired.to_string()),
                    ("evicted_keys", "0".into()),
                    ("keyspace_hits", keyspace.counters.hits.to_string()),
                    ("keyspace_misses", keyspace.counters.misses.to_string()),
                ],
            ),
        ];
        let mut db = Vec::new();
        if keyspace.keys > 0 {
            db.push((
                "db0",
                format!(
                    "keys={},expires={},avg_ttl=0",
                    keyspace.keys, keyspace.expiring
                ),
            ));
        }
        sections.push(("keyspace", db));
        sections
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.2}{}", UNITS[unit])
    }
}

/// Resident set size from /proc (Linux); `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
