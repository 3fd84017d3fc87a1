//! AOF upkeep on a running node: tells retention which history the sinks
//! still need, rewrites the AOF when it has outgrown its base, and deletes
//! history once the sinks have moved past it.
//!
//! The store knows nothing of sinks, so the node passes their positions in
//! as the history floor (the lowest seq any sink will still read).

use fluxkv_sinks::SinkStatus;
use fluxkv_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the floor and the auto-rewrite thresholds are checked.
const TICK: Duration = Duration::from_secs(1);
/// History freed by sinks moving on is deleted every this many ticks.
const PURGE_EVERY_TICKS: u64 = 10;

/// Runs until `shutdown`.
pub(crate) async fn run(
    store: Arc<Store>,
    sinks: Vec<Arc<SinkStatus>>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 0u64.. {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        store.set_history_floor(history_floor(&sinks));
        let store = store.clone();
        let purge = round % PURGE_EVERY_TICKS == PURGE_EVERY_TICKS - 1;
        let done = tokio::task::spawn_blocking(move || upkeep(&store, purge)).await;
        if let Ok(Err(err)) = done {
            tracing::warn!(error = %err, "AOF upkeep failed; retrying");
        }
    }
}

/// The lowest seq a sink will still read: its checkpoint + 1.
fn history_floor(sinks: &[Arc<SinkStatus>]) -> u64 {
    sinks
        .iter()
        .map(|s| s.report().checkpoint + 1)
        .min()
        .unwrap_or(u64::MAX)
}

fn upkeep(store: &Arc<Store>, purge: bool) -> Result<(), fluxkv_store::StoreError> {
    if store.rewrite_stats().in_progress {
        return Ok(());
    }
    if store.rewrite_due()? {
        tracing::info!("the AOF outgrew its base; rewriting");
        store.start_rewrite()?;
    } else if purge {
        store.purge_history()?;
    }
    Ok(())
}
