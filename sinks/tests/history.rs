//! `deliver_history`: a finite history, handed over through a channel,
//! through the delivery engine to a configured sink — a file sink, and
//! Kafka (the broker of `scripts/services.sh`, tansu on 127.0.0.1:9092).

#[path = "common/kafka.rs"]
#[allow(dead_code)] // the Kafka tests' helpers; this file needs a few
mod kafka_common;

use bytes::Bytes;
use fluxkv_schemas::{ChangeEvent, Encoding, Op};
use fluxkv_sinks::{SinkConfig, SinkState, deliver_history};
use kafka_common::{BROKERS, consume, dedup, require_broker, sink_config, unique};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The history's events: `seqs`, over `keys` keys, as the AOF of node
/// `n-history` at epoch 3 would hold them.
fn events(seqs: std::ops::RangeInclusive<u64>, keys: u64) -> Vec<ChangeEvent> {
    seqs.map(|seq| ChangeEvent {
        node: "n-history".into(),
        epoch: 3,
        seq,
        ts_ms: 1_700_000_000_000 + seq,
        op: Op::Set,
        key: Bytes::from(format!("key:{}", seq % keys)),
        value: Some(Bytes::from(format!("value-{seq}"))),
        expire_at_ms: None,
        prev: None,
    })
    .collect()
}

/// Delivers `history` to the sink `config` describes and waits for the end;
/// returns the run's final report.
async fn deliver(
    config: &SinkConfig,
    data_dir: &Path,
    history: Vec<ChangeEvent>,
) -> fluxkv_sinks::SinkReport {
    // A small channel: the reader waits for the engine, as a replay would.
    let (tx, rx) = mpsc::channel(64);
    let run = deliver_history("replay", config, data_dir, rx, CancellationToken::new())
        .await
        .expect("building the sink");
    for event in history {
        tx.send(event).await.expect("the run reads until the end");
    }
    drop(tx); // the end of the history
    tokio::time::timeout(Duration::from_secs(60), run.task)
        .await
        .expect("the history is not delivered after 60 s")
        .unwrap()
        .expect("the history is delivered");
    let report = run.status.report();
    assert_eq!(report.state, SinkState::Stopped, "{report:?}");
    report
}

/// The events in the JSON-lines files of `dir`, in file order.
fn file_events(dir: &Path) -> Vec<ChangeEvent> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|line| Encoding::Json.decode(line.as_bytes()).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sink_gets_exactly_the_history_in_order() {
    let dir = tempfile::tempdir().unwrap();
    // Relative: under the data directory, as for a live sink.
    let config = sink_config(
        r#"
        kind = "file"
        dir = "replayed"
        rotate_bytes = 65536
        batch = { max_events = 100, max_in_flight = 4 }
        "#,
    );
    // A history from the middle of the log, as a replay from a seq reads.
    let history = events(501..=3500, 97);
    let report = deliver(&config, dir.path(), history.clone()).await;
    assert_eq!(file_events(&dir.path().join("replayed")), history);
    assert_eq!(
        (report.checkpoint, report.delivered, report.dead_lettered),
        (3500, 3000, 0)
    );
    assert!(
        !dir.path().join("checkpoints").exists(),
        "a history run wrote a checkpoint file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_out_events_at_the_end_still_complete_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let config = sink_config(
        r#"
        kind = "file"
        dir = "replayed"
        filter = { prefixes = ["key:1"] }
        batch = { max_events = 10 }
        "#,
    );
    // Keys key:0 ..= key:9: the last event (seq 30, key:0) is left out.
    let history = events(1..=30, 10);
    let report = deliver(&config, dir.path(), history.clone()).await;
    let kept: Vec<ChangeEvent> = history
        .into_iter()
        .filter(|e| e.key.starts_with(b"key:1"))
        .collect();
    assert_eq!(file_events(&dir.path().join("replayed")), kept);
    assert_eq!((report.checkpoint, report.delivered), (30, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_gets_every_event_of_the_history_in_per_key_order() {
    require_broker(BROKERS);
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("history");
    let config = sink_config(&format!(
        r#"
        kind = "kafka"
        brokers = "{BROKERS}"
        topic = "{topic}"
        create_topic = {{ partitions = 3 }}
        batch = {{ max_events = 200 }}
        "#
    ));
    let history = events(1..=5000, 250);
    let mut per_key: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
    for event in &history {
        per_key
            .entry(event.key.to_vec())
            .or_default()
            .push(event.seq);
    }
    let report = deliver(&config, dir.path(), history).await;
    assert_eq!(
        (report.checkpoint, report.delivered, report.dead_lettered),
        (5000, 5000, 0)
    );

    let expected: BTreeSet<u64> = (1..=5000).collect();
    let received = consume(BROKERS, &[&topic], &expected, Duration::from_secs(30)).await;
    let mut applied: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
    for r in dedup(&received) {
        assert_eq!((&*r.event.node, r.event.epoch), ("n-history", 3));
        applied.entry(r.key.clone()).or_default().push(r.seq());
    }
    assert_eq!(applied, per_key, "every event once, in per-key order");
}
