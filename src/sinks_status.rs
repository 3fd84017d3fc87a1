//! `fluxkv sinks status`: every sink of a running node — state, checkpoint,
//! lag, counters — from gRPC Admin/Sinks.

use crate::watch::connect;
use fluxkv_schemas::proto::SinksRequest;
use fluxkv_schemas::proto::admin_client::AdminClient;

#[derive(Debug, clap::Args)]
pub(crate) struct SinksArgs {
    #[command(subcommand)]
    command: SinksCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SinksCommand {
    /// Each sink's state, checkpoint, lag (events and seconds) and counters.
    Status {
        /// The node's gRPC address.
        #[arg(
            long,
            default_value = "http://127.0.0.1:50051",
            env = "FLUXKV_SINKS_ADDR"
        )]
        addr: String,
        /// One JSON object per sink instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(args: SinksArgs) -> anyhow::Result<()> {
    let SinksCommand::Status { addr, json } = args.command;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let sinks = runtime.block_on(async {
        let channel = connect::connect(&connect::endpoint(&addr)?).await?;
        let response = AdminClient::new(channel)
            .sinks(SinksRequest {})
            .await
            .map_err(|status| anyhow::anyhow!("{addr}: {}", connect::describe(&status)))?;
        anyhow::Ok(response.into_inner().sinks)
    })?;
    if json {
        for s in &sinks {
            let line = serde_json::json!({
                "name": s.name, "kind": s.kind, "state": s.state,
                "checkpoint": s.checkpoint, "lag_events": s.lag_events,
                "lag_seconds": s.lag_seconds, "delivered": s.delivered,
                "retries": s.retries, "dead_lettered": s.dead_lettered,
                "last_error": (!s.last_error.is_empty()).then_some(&s.last_error),
            });
            println!("{line}");
        }
        return Ok(());
    }
    if sinks.is_empty() {
        println!("no sinks configured");
        return Ok(());
    }
    println!(
        "{:<16} {:<9} {:<9} {:>12} {:>10} {:>8} {:>12} {:>8} {:>6}  last error",
        "sink", "kind", "state", "checkpoint", "lag", "lag s", "delivered", "retries", "dead"
    );
    for s in &sinks {
        println!(
            "{:<16} {:<9} {:<9} {:>12} {:>10} {:>8.1} {:>12} {:>8} {:>6}  {}",
            s.name,
            s.kind,
            s.state,
            s.checkpoint,
            s.lag_events,
            s.lag_seconds,
            s.delivered,
            s.retries,
            s.dead_lettered,
            s.last_error
        );
    }
    Ok(())
}
