//! Durability end to end: `kill -9` a node under write load with
//! `--aof-fsync always`, restart it, and find every acknowledged write.

mod common;

use common::Node;
use redis::AsyncCommands;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const CLIENTS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &["--aof-fsync", "always"]);
    let client = redis::Client::open(node.url()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));

    let mut writers = Vec::new();
    for id in 0..CLIENTS {
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            // Each client owns its keys and its counter, so what it saw
            // acknowledged is exactly what must survive.
            let mut acked_sets = Vec::new();
            let mut acked_incrs = 0i64;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("crash:{id}:{n}");
                let value = format!("v{id}-{n}");
                match conn.set::<_, _, ()>(&key, &value).await {
                    Ok(()) => acked_sets.push((key, value)),
                    Err(_) => break,
                }
                match conn.incr::<_, _, i64>(format!("counter:{id}"), 1).await {
                    Ok(v) => acked_incrs = v,
                    Err(_) => break,
                }
                n += 1;
            }
            (acked_sets, acked_incrs)
        }));
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let node_dir = node.data_dir.clone();
    // Kill while the writers are still going: some writes are in flight.
    tokio::task::spawn_blocking(move || node.kill_9())
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);

    let mut acked = Vec::new();
    for writer in writers {
        acked.push(writer.await.unwrap());
    }
    let total: usize = acked.iter().map(|(sets, _)| sets.len()).sum();
    assert!(
        total > 100,
        "the load barely ran ({total} acknowledged SETs)"
    );

    let node = Node::start(&node_dir, &["--aof-fsync", "always"]);
    let mut conn = redis::Client::open(node.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for (id, (sets, incrs)) in acked.iter().enumerate() {
        for (key, value) in sets {
            let got: Option<String> = conn.get(key).await.unwrap();
            assert_eq!(
                got.as_deref(),
                Some(value.as_str()),
                "acknowledged {key} lost"
            );
        }
        // An INCR in flight at the kill may or may not be there; an
        // acknowledged one must be.
        let counter: i64 = conn.get(format!("counter:{id}")).await.unwrap_or(0);
        assert!(
            counter >= *incrs,
            "counter:{id} is {counter}, but {incrs} was acknowledged"
        );
    }
}
