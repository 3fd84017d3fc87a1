//! `fluxkv snapshot`: the keyspace at one seq, in the base-file format
//! (docs/OPERATIONS.md), and loading one into an empty node — what backup
//! and migration workers build on. A consumer that loads a snapshot at seq
//! S and follows the change stream from S + 1 sees every later state.

use crate::watch::connect;
use anyhow::{Context, bail};
use fluxkv_schemas::proto::SnapshotRequest;
use fluxkv_schemas::proto::admin_client::AdminClient;
use fluxkv_store::{BaseSummary, Store, StoreOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub(crate) struct SnapshotArgs {
    #[command(subcommand)]
    command: SnapshotCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SnapshotCommand {
    /// Write a consistent snapshot of a running node (gRPC Admin/Snapshot;
    /// its writers keep going) or, with --data-dir, of a data directory at
    /// rest.
    Create {
        /// Where to write the snapshot.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The running node's gRPC address.
        #[arg(
            long,
            default_value = "http://127.0.0.1:50051",
            env = "FLUXKV_GRPC_URL"
        )]
        addr: String,
        /// Snapshot this data directory instead of a running node.
        #[arg(long, value_name = "DIR", conflicts_with = "addr")]
        data_dir: Option<PathBuf>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Install a snapshot as the state of an empty data directory; a node
    /// started there holds its keys and numbers its writes after its seq.
    Load {
        /// The snapshot file.
        file: PathBuf,
        /// The (empty) data directory of the new node.
        #[arg(
            long,
            env = "FLUXKV_DATA_DIR",
            default_value = "./data",
            value_name = "DIR"
        )]
        data_dir: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(args: SnapshotArgs) -> anyhow::Result<()> {
    match args.command {
        SnapshotCommand::Create {
            out,
            addr,
            data_dir,
            json,
        } => {
            let summary = match data_dir {
                Some(dir) => at_rest(&dir, &out)?,
                None => from_node(&addr, &out)?,
            };
            report("snapshot", &summary, &out, json);
        }
        SnapshotCommand::Load {
            file,
            data_dir,
            json,
        } => {
            let summary = fluxkv_store::install_snapshot(&data_dir, &file).with_context(|| {
                format!("loading {} into {}", file.display(), data_dir.display())
            })?;
            report("loaded", &summary, &data_dir, json);
        }
    }
    Ok(())
}

fn report(what: &str, summary: &BaseSummary, path: &Path, json: bool) {
    if json {
        let line = serde_json::json!({
            "seq": summary.seq, "keys": summary.keys, "bytes": summary.bytes,
            "path": path.display().to_string(),
        });
        println!("{line}");
    } else {
        println!(
            "{what} at seq {}: {} keys, {} bytes ({}); the change stream continues at seq {}",
            summary.seq,
            summary.keys,
            summary.bytes,
            path.display(),
            summary.seq + 1
        );
    }
}

/// A file written as `<out>.tmp` and renamed to `out` once whole and
/// fsynced, so `out` never holds half a snapshot; dropped uncommitted, the
/// temporary file is removed.
struct PendingFile {
    tmp: PathBuf,
    out: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    committed: bool,
}

impl PendingFile {
    fn create(out: &Path) -> anyhow::Result<PendingFile> {
        let tmp = out.with_extension("tmp");
        let file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        Ok(PendingFile {
            tmp,
            out: out.to_path_buf(),
            file: std::io::BufWriter::new(file),
            committed: false,
        })
    }

    fn commit(mut self) -> anyhow::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        std::fs::rename(&self.tmp, &self.out).with_context(|| {
            format!("renaming {} to {}", self.tmp.display(), self.out.display())
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn at_rest(data_dir: &Path, out: &Path) -> anyhow::Result<BaseSummary> {
    let (store, _) = Store::open(data_dir, StoreOptions::default())
        .with_context(|| format!("opening {}", data_dir.display()))?;
    let mut pending = PendingFile::create(out)?;
    let (_, summary) = store.snapshot_to(&mut pending.file)?;
    pending.commit()?;
    store.close()?;
    Ok(summary)
}

fn from_node(addr: &str, out: &Path) -> anyhow::Result<BaseSummary> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let described =
            |status: tonic::Status| anyhow::anyhow!("{addr}: {}", connect::describe(&status));
        let channel = connect::connect(&connect::endpoint(addr)?).await?;
        let mut chunks = AdminClient::new(channel)
            .snapshot(SnapshotRequest {})
            .await
            .map_err(described)?
            .into_inner();
        let mut pending = PendingFile::create(out)?;
        let done = loop {
            let Some(chunk) = chunks.message().await.map_err(described)? else {
                bail!("{addr} ended the snapshot before it was complete");
            };
            pending.file.write_all(&chunk.data)?;
            if let Some(done) = chunk.done {
                break done;
            }
        };
        pending.commit()?;
        Ok(BaseSummary {
            seq: done.seq,
            from_seq: 0,
            keys: done.keys,
            fixups: 0,
            bytes: done.bytes,
        })
    })
}
