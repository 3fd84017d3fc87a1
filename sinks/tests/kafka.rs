//! The Kafka sink against a real Kafka-protocol broker (tansu, started by
//! `scripts/services.sh`), end to end: store → pipeline → Kafka → consumer.

#[path = "common/kafka.rs"]
mod kafka_common;

use fluxkv_schemas::Op;
use fluxkv_store::SetOptions;
use kafka_common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Writes `count` sets over `keys` keys; returns each key's seqs in order.
fn write_sets(
    store: &fluxkv_store::Store,
    count: u64,
    keys: u64,
    value: impl Fn(u64) -> Vec<u8>,
) -> BTreeMap<Vec<u8>, Vec<u64>> {
    let mut per_key: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
    for i in 0..count {
        let key = format!("key:{}", i % keys).into_bytes();
        let seq = store
            .set(&key, &value(i), SetOptions::default())
            .unwrap()
            .seq
            .unwrap();
        per_key.entry(key).or_default().push(seq);
    }
    per_key
}

/// Every seq is there, the dedup rule loses nothing, keys keep to one
/// partition and to their write order, and the headers say what the
/// payload says.
fn check_stream(received: &[Received], per_key: &BTreeMap<Vec<u8>, Vec<u64>>, last: u64) {
    let applied = dedup(received);
    let seqs: Vec<u64> = {
        let mut s: Vec<u64> = applied.iter().map(Received::seq).collect();
        s.sort_unstable();
        s
    };
    assert_eq!(
        seqs,
        (1..=last).collect::<Vec<_>>(),
        "after dedup, every seq exactly once"
    );
    let mut partition_of: BTreeMap<&[u8], i32> = BTreeMap::new();
    let mut applied_per_key: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
    for r in &applied {
        assert_eq!(r.key, &r.event.key[..]);
        let p = *partition_of.entry(&r.key).or_insert(r.partition);
        assert_eq!(p, r.partition, "key {:?} in two partitions", r.key);
        applied_per_key
            .entry(r.key.clone())
            .or_default()
            .push(r.seq());
    }
    assert_eq!(&applied_per_key, per_key, "per-key order");
    for r in received {
        assert_eq!(r.headers["fluxkv-seq"], r.seq().to_string());
        assert_eq!(r.headers["fluxkv-op"], r.event.op.as_str());
        assert_eq!(r.headers["fluxkv-node"], &*r.event.node);
        assert_eq!(r.headers["fluxkv-epoch"], r.event.epoch.to_string());
        assert_eq!(r.headers["fluxkv-encoding"], "json");
        assert_eq!(r.headers["content-type"], "application/json");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_in_per_key_order() {
    require_broker(BROKERS);
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let topic = unique("order");
    let config = sink_config(&format!(
        r#"
        kind = "kafka"
        brokers = "{BROKERS}"
        topic = "{topic}"
        compression = "lz4"
        create_topic = {{ partitions = 4 }}
        "#
    ));
    let running = start("orders", config, &store).await;
    let (count, keys) = (20_000, 1_000);
    let per_key = write_sets(&store, count, keys, |i| format!("value-{i}").into_bytes());
    running
        .wait_checkpoint(count, Duration::from_secs(20))
        .await;
    let produced = started.elapsed();
    let expected = (1..=count).collect();
    let received = consume(BROKERS, &[&topic], &expected, Duration::from_secs(20)).await;
    check_stream(&received, &per_key, count);
    let partitions: BTreeSet<i32> = received.iter().map(|r| r.partition).collect();
    assert_eq!(partitions.len(), 4, "keys spread over every partition");
    let report = running.status.report();
    assert_eq!((report.delivered, report.dead_lettered), (count, 0));
    running.stop().await;
    eprintln!(
        "{count} events produced in {produced:?}, consumed by {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_event_is_dead_lettered_and_the_rest_arrive() {
    require_broker(BROKERS);
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let topic = unique("poison");
    let config = sink_config(&format!(
        r#"
        kind = "kafka"
        brokers = "{BROKERS}"
        topic = "{topic}"
        create_topic = {{ partitions = 2 }}
        properties = {{ "message.max.bytes" = "10000" }}
        batch = {{ max_events = 50 }}
        "#
    ));
    let running = start("poison", config, &store).await;
    let count = 300;
    let poison_at = 150;
    let mut per_key = write_sets(&store, count, 20, |i| {
        if i == poison_at {
            vec![b'x'; 50_000]
        } else {
            format!("v{i}").into_bytes()
        }
    });
    let poison_seq = poison_at + 1;
    running
        .wait_checkpoint(count, Duration::from_secs(20))
        .await;

    let lines = std::fs::read_to_string(&running.dead_letters).unwrap();
    let lines: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["seq"], poison_seq);
    assert_eq!(lines[0]["sink"], "poison");
    let reason = lines[0]["reason"].as_str().unwrap();
    assert!(reason.contains("MessageSizeTooLarge"), "{reason}");
    assert!(reason.contains(&topic), "{reason}");
    assert_eq!(lines[0]["event"]["value"].as_str().unwrap().len(), 50_000);
    let report = running.status.report();
    assert_eq!((report.delivered, report.dead_lettered), (count - 1, 1));

    let expected: BTreeSet<u64> = (1..=count).filter(|s| *s != poison_seq).collect();
    let received = consume(BROKERS, &[&topic], &expected, Duration::from_secs(20)).await;
    assert!(received.iter().all(|r| r.seq() != poison_seq));
    for seqs in per_key.values_mut() {
        seqs.retain(|s| *s != poison_seq);
    }
    let applied = dedup(&received);
    assert_eq!(applied.len() as u64, count - 1);
    let mut applied_per_key: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
    for r in &applied {
        applied_per_key
            .entry(r.key.clone())
            .or_default()
            .push(r.seq());
    }
    assert_eq!(applied_per_key, per_key);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_reaches_every_partition_in_order() {
    require_broker(BROKERS);
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let prefix = unique("flush");
    let config = sink_config(&format!(
        r#"
        kind = "kafka"
        brokers = "{BROKERS}"
        topic = "{prefix}.{{op}}"
        compression = "zstd"
        create_topic = {{ partitions = 3 }}
        "#
    ));
    let running = start("flush", config, &store).await;
    let _ = write_sets(&store, 60, 12, |i| format!("before-{i}").into_bytes());
    let flush_seq = store.flush_all().unwrap().seq.unwrap();
    let _ = write_sets(&store, 60, 12, |i| format!("after-{i}").into_bytes());
    let last = flush_seq + 60;
    running.wait_checkpoint(last, Duration::from_secs(20)).await;

    let (sets, flushes) = (format!("{prefix}.set"), format!("{prefix}.flush"));
    // Every seq, and the flush on every partition.
    let mut missing: BTreeSet<u64> = (1..=last).collect();
    let mut flushed = BTreeSet::new();
    let topics = [sets.as_str(), flushes.as_str()];
    let received = consume_until(BROKERS, &topics, Duration::from_secs(20), |r| {
        missing.remove(&r.seq());
        if r.event.op == Op::Flush {
            flushed.insert(r.partition);
        }
        match (missing.len(), flushed.len()) {
            (0, 3) => Ok(()),
            (m, f) => Err(format!("{m} seqs missing, flush seen on {f} partitions")),
        }
    })
    .await;
    let copies: Vec<&Received> = received
        .iter()
        .filter(|r| r.event.op == Op::Flush)
        .collect();
    assert!(
        copies
            .iter()
            .all(|r| r.topic == flushes && r.key.is_empty())
    );
    assert!(
        copies
            .iter()
            .all(|r| r.headers["fluxkv-seq"] == flush_seq.to_string())
    );
    let partitions: BTreeSet<i32> = copies.iter().map(|r| r.partition).collect();
    assert_eq!(
        partitions,
        BTreeSet::from([0, 1, 2]),
        "one copy per partition"
    );
    assert!(
        received
            .iter()
            .filter(|r| r.event.op == Op::Set)
            .all(|r| r.topic == sets)
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_delays_events_but_never_writers() {
    // A private broker behind a proxy: cutting the proxy is the outage, and
    // the broker keeps what it had (tansu's memory storage would not
    // survive a restart).
    let proxy_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = proxy_listener.local_addr().unwrap().port();
    let broker_port = free_port();
    let _tansu = PrivateTansu::start(broker_port, proxy_port);
    let proxy = Proxy::start(proxy_listener, ([127, 0, 0, 1], broker_port).into()).await;
    let brokers = format!("127.0.0.1:{}", proxy.port);

    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let topic = unique("outage");
    let config = sink_config(&format!(
        r#"
        kind = "kafka"
        brokers = "{brokers}"
        topic = "{topic}"
        create_topic = {{ partitions = 3 }}
        message_timeout_ms = 1000
        batch = {{ max_events = 200 }}
        retry = {{ initial_backoff_ms = 50, max_backoff_ms = 400 }}
        "#
    ));
    let running = start("outage", config, &store).await;

    // 60 rounds of 100 writes, 50 ms apart (about 3 s): the proxy is cut
    // from round 10 to round 50 (over 2 s, twice message_timeout_ms).
    let (rounds, per_round, keys) = (60u64, 100u64, 500u64);
    let mut per_key: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    let mut written_during_outage = 0;
    let (mut stalled_at, mut restored_at) = (0, 0);
    for round in 0..rounds {
        match round {
            10 => proxy.cut(),
            // What was in flight at the cut has failed or landed by now.
            12 => stalled_at = running.status.report().checkpoint,
            50 => {
                restored_at = running.status.report().checkpoint;
                proxy.restore();
            }
            _ => {}
        }
        for i in 0..per_round {
            let key = format!("key:{}", (round * per_round + i) % keys).into_bytes();
            let t0 = Instant::now();
            let seq = store
                .set(&key, b"v", SetOptions::default())
                .unwrap()
                .seq
                .unwrap();
            store.wait_committed(seq).await.unwrap();
            slowest = slowest.max(t0.elapsed());
            per_key.entry(key).or_default().push(seq);
            if (10..50).contains(&round) {
                written_during_outage += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let count = rounds * per_round;
    assert_eq!(
        written_during_outage,
        40 * per_round,
        "writes went on during the outage"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "a write took {slowest:?}"
    );
    assert_eq!(
        stalled_at, restored_at,
        "nothing was delivered during the outage"
    );
    assert!(restored_at < 50 * per_round);

    running
        .wait_checkpoint(count, Duration::from_secs(20))
        .await;
    let expected = (1..=count).collect();
    let received = consume(&brokers, &[&topic], &expected, Duration::from_secs(20)).await;
    check_stream(&received, &per_key, count);
    let report = running.status.report();
    assert_eq!(report.dead_lettered, 0);
    // Records timed out (message_timeout_ms): the batch was retried.
    assert!(report.retries > 0, "{report:?}");
    eprintln!(
        "outage: {} retries, {} records received for {count} events, slowest write {slowest:?}",
        report.retries,
        received.len()
    );
    running.stop().await;
}
