//! Every configuration key as a flag with a `FLUXKV_*` variable: a key
//! `a.b` is the flag `--a-b` and the variable `FLUXKV_A_B`. clap reads
//! both; a flag wins over its variable, and both over the file.

use super::Config;
use clap::CommandFactory;
use fluxkv_store::FsyncPolicy;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct Overrides {
    /// Directory for the AOF and other state.
    #[arg(long, env = "FLUXKV_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Node id stamped on change events (default: kept in <data-dir>/node_id).
    #[arg(long, env = "FLUXKV_NODE_ID", value_name = "ID")]
    pub(crate) node_id: Option<String>,
    /// The node's term.
    #[arg(long, env = "FLUXKV_NODE_EPOCH", value_name = "N")]
    pub(crate) node_epoch: Option<u64>,
    /// RESP listen address.
    #[arg(long, env = "FLUXKV_RESP_ADDR", value_name = "HOST:PORT")]
    pub(crate) resp_addr: Option<String>,
    /// Password clients must give with AUTH.
    #[arg(
        long,
        env = "FLUXKV_RESP_REQUIREPASS",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub(crate) resp_requirepass: Option<String>,
    /// Largest bulk string a client may send, in bytes.
    #[arg(long, env = "FLUXKV_RESP_MAX_BULK_LEN", value_name = "BYTES")]
    pub(crate) resp_max_bulk_len: Option<usize>,
    /// Longest inline command line, in bytes.
    #[arg(long, env = "FLUXKV_RESP_MAX_INLINE_LEN", value_name = "BYTES")]
    pub(crate) resp_max_inline_len: Option<usize>,
    /// Most simultaneous clients.
    #[arg(long, env = "FLUXKV_RESP_MAX_CLIENTS", value_name = "N")]
    pub(crate) resp_max_clients: Option<usize>,
    /// gRPC listen address.
    #[arg(long, env = "FLUXKV_GRPC_ADDR", value_name = "HOST:PORT")]
    pub(crate) grpc_addr: Option<String>,
    /// HTTP listen address.
    #[arg(long, env = "FLUXKV_HTTP_ADDR", value_name = "HOST:PORT")]
    pub(crate) http_addr: Option<String>,
    /// Largest HTTP request body, in bytes.
    #[arg(long, env = "FLUXKV_HTTP_MAX_BODY_BYTES", value_name = "BYTES")]
    pub(crate) http_max_body_bytes: Option<usize>,
    /// AOF fsync policy: always, everysec or no.
    #[arg(long, env = "FLUXKV_AOF_FSYNC", value_name = "POLICY")]
    pub(crate) aof_fsync: Option<FsyncPolicy>,
    /// Size at which a new AOF segment is started, in bytes.
    #[arg(long, env = "FLUXKV_AOF_SEGMENT_BYTES", value_name = "BYTES")]
    pub(crate) aof_segment_bytes: Option<u64>,
    /// Auto-rewrite once the log since the base grew by this percentage (0: off).
    #[arg(
        long,
        env = "FLUXKV_AOF_AUTO_REWRITE_PERCENTAGE",
        value_name = "PERCENT"
    )]
    pub(crate) aof_auto_rewrite_percentage: Option<u64>,
    /// Auto-rewrite only once the log since the base is this large, in bytes.
    #[arg(long, env = "FLUXKV_AOF_AUTO_REWRITE_MIN_BYTES", value_name = "BYTES")]
    pub(crate) aof_auto_rewrite_min_bytes: Option<u64>,
    /// History kept behind the base whether or not a sink needs it, in bytes.
    #[arg(long, env = "FLUXKV_AOF_RETAIN_HISTORY_BYTES", value_name = "BYTES")]
    pub(crate) aof_retain_history_bytes: Option<u64>,
    /// The most history kept for sinks that still need it, in bytes.
    #[arg(long, env = "FLUXKV_AOF_RETENTION_LIMIT_BYTES", value_name = "BYTES")]
    pub(crate) aof_retention_limit_bytes: Option<u64>,
    /// Number of keyspace shards (a power of two).
    #[arg(long, env = "FLUXKV_STORE_SHARDS", value_name = "N")]
    pub(crate) store_shards: Option<usize>,
    /// Committed events kept in memory for change-stream subscribers.
    #[arg(long, env = "FLUXKV_STREAM_RING_EVENTS", value_name = "N")]
    pub(crate) stream_ring_events: Option<usize>,
    /// Carry each change's previous value (`prev`): true or false.
    #[arg(long, env = "FLUXKV_STREAM_BEFORE_IMAGES", value_name = "BOOL")]
    pub(crate) stream_before_images: Option<bool>,
    /// Values larger than this get no before-image, in bytes.
    #[arg(
        long,
        env = "FLUXKV_STREAM_BEFORE_IMAGE_MAX_BYTES",
        value_name = "BYTES"
    )]
    pub(crate) stream_before_image_max_bytes: Option<usize>,
    /// Watermark interval for idle subscribers, in milliseconds.
    #[arg(long, env = "FLUXKV_STREAM_WATERMARK_MS", value_name = "MS")]
    pub(crate) stream_watermark_ms: Option<u64>,
    /// Log filter (RUST_LOG, when set, wins).
    #[arg(long, env = "FLUXKV_LOG_LEVEL", value_name = "FILTER")]
    pub(crate) log_level: Option<String>,
}

impl Overrides {
    /// Lays the overrides over `config`.
    pub(crate) fn apply_to(&self, config: &mut Config) {
        let o = self.clone();
        set(&mut config.data_dir, o.data_dir);
        set(&mut config.node.id, o.node_id);
        set(&mut config.node.epoch, o.node_epoch);
        set(&mut config.resp.addr, o.resp_addr);
        if o.resp_requirepass.is_some() {
            config.resp.requirepass = o.resp_requirepass;
        }
        set(&mut config.resp.max_bulk_len, o.resp_max_bulk_len);
        set(&mut config.resp.max_inline_len, o.resp_max_inline_len);
        set(&mut config.resp.max_clients, o.resp_max_clients);
        set(&mut config.grpc.addr, o.grpc_addr);
        set(&mut config.http.addr, o.http_addr);
        set(&mut config.http.max_body_bytes, o.http_max_body_bytes);
        set(&mut config.aof.fsync, o.aof_fsync);
        set(&mut config.aof.segment_bytes, o.aof_segment_bytes);
        set(
            &mut config.aof.auto_rewrite_percentage,
            o.aof_auto_rewrite_percentage,
        );
        set(
            &mut config.aof.auto_rewrite_min_bytes,
            o.aof_auto_rewrite_min_bytes,
        );
        set(
            &mut config.aof.retain_history_bytes,
            o.aof_retain_history_bytes,
        );
        set(
            &mut config.aof.retention_limit_bytes,
            o.aof_retention_limit_bytes,
        );
        set(&mut config.store.shards, o.store_shards);
        set(&mut config.stream.ring_events, o.stream_ring_events);
        set(&mut config.stream.before_images, o.stream_before_images);
        set(
            &mut config.stream.before_image_max_bytes,
            o.stream_before_image_max_bytes,
        );
        set(&mut config.stream.watermark_ms, o.stream_watermark_ms);
        set(&mut config.log.level, o.log_level);
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// Every `FLUXKV_*` variable any subcommand reads, from clap's own
/// definitions, so the list cannot drift from the flags.
fn known_variables() -> Vec<String> {
    fn walk(cmd: &clap::Command, out: &mut Vec<String>) {
        out.extend(
            cmd.get_arguments()
                .filter_map(|arg| arg.get_env())
                .map(|env| env.to_string_lossy().into_owned()),
        );
        cmd.get_subcommands().for_each(|sub| walk(sub, out));
    }
    let mut known = Vec::new();
    walk(&crate::cli::Cli::command(), &mut known);
    known.sort();
    known.dedup();
    known
}

/// A `FLUXKV_*` variable that no flag reads is a typo: refuse it.
pub(crate) fn reject_unknown_variables(names: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let known = known_variables();
    for name in names.filter(|n| n.starts_with("FLUXKV_")) {
        if !known.contains(&name) {
            anyhow::bail!(
                "unknown configuration variable {name}; known: {}",
                known.join(", ")
            );
        }
    }
    Ok(())
}
