//! `fluxkv aof rewrite`: compact the AOF into a base of the keyspace plus
//! the log after it — on a running node (BGREWRITEAOF over the Redis
//! protocol, waiting for it to finish) or on a data directory at rest.

use anyhow::{Context, bail};
use fluxkv_store::{Store, StoreOptions};
use std::path::Path;
use std::time::Duration;

pub(crate) const AFTER_HELP: &str = "\
With --addr the running node rewrites in the background (its writers keep
going) and this command waits until it is done. Without it the data
directory is opened directly, which fails while a node runs on it.
History that a base covers is kept within aof.retention_limit_bytes; a
running node also deletes what its sinks no longer need.";

/// Where to rewrite.
#[derive(Debug, clap::Args)]
pub(crate) struct RewriteArgs {
    /// A running node's Redis-protocol address (HOST:PORT).
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<String>,
}

pub(crate) fn run(data_dir: &Path, args: &RewriteArgs, out: &mut super::Out) -> anyhow::Result<()> {
    match &args.addr {
        Some(addr) => online(addr, out),
        None => offline(data_dir, out),
    }
}

fn offline(data_dir: &Path, out: &mut super::Out) -> anyhow::Result<()> {
    let (store, _) = Store::open(data_dir, StoreOptions::default())
        .with_context(|| format!("opening {}", data_dir.display()))?;
    let report = store.rewrite().context("rewriting the AOF")?;
    store.close().context("closing the store")?;
    out.line(format_args!(
        "rewrote the AOF: base at seq {} ({} keys, {} bytes) in {:.2} s; deleted {} history segments ({} bytes)",
        report.base.seq,
        report.base.keys,
        report.base.bytes,
        report.elapsed.as_secs_f64(),
        report.purged.segments,
        report.purged.bytes
    ))
}

fn online(addr: &str, out: &mut super::Out) -> anyhow::Result<()> {
    let client = redis::Client::open(format!("redis://{addr}"))?;
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .with_context(|| format!("connecting to {addr}"))?;
    let before = persistence(&mut conn)?;
    let started: String = redis::cmd("BGREWRITEAOF")
        .query(&mut conn)
        .with_context(|| format!("{addr}: BGREWRITEAOF"))?;
    out.line(format_args!("{started}"))?;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = persistence(&mut conn)?;
        if field(&now, "aof_rewrite_in_progress") == Some("1") {
            continue;
        }
        if field(&now, "aof_rewrites") == field(&before, "aof_rewrites") {
            if field(&now, "aof_last_bgrewrite_status") == Some("err") {
                bail!("{addr}: the rewrite failed (see the node's log)");
            }
            continue; // not started yet
        }
        return out.line(format_args!(
            "rewrote the AOF: base at seq {}, {} bytes",
            field(&now, "aof_base_seq").unwrap_or("?"),
            field(&now, "aof_base_size").unwrap_or("?")
        ));
    }
}

fn persistence(conn: &mut redis::Connection) -> anyhow::Result<String> {
    Ok(redis::cmd("INFO").arg("persistence").query(conn)?)
}

fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}
