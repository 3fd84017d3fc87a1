//! The engine against a scripted sink whose answers come when the script
//! says (in tokio's paused time, so the order is exact): out of order, a
//! retry of the oldest batch while later ones succeed, a dead letter in the
//! middle of a batch, a batch sent in part, shutdown with batches in flight.
//!
//! The sink checks, at every send and every answer, that the position
//! never covers a seq whose answer has not said it is done.

use super::{Engine, Progress, StatusOnly};
use crate::config::{BatchConfig, FilterConfig, KindConfig, RetryConfig, SinkConfig};
use crate::dead_letter::DeadLetters;
use crate::error::SinkError;
use crate::sink::{Ack, Delivery, Record, Sink};
use crate::status::{SinkReport, SinkState, SinkStatus};
use bytes::Bytes;
use fluxkv_schemas::{ChangeEvent, Encoding, Op};
use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What the sink answers to one send, and after how long.
struct Reply {
    after: Duration,
    delivery: Delivery,
    partial: bool,
}

fn reply(after_ms: u64, delivery: Delivery) -> Reply {
    Reply {
        after: Duration::from_millis(after_ms),
        delivery,
        partial: false,
    }
}

fn delivered(after_ms: u64) -> Reply {
    reply(after_ms, Delivery::Delivered)
}

fn retryable(after_ms: u64) -> Reply {
    reply(
        after_ms,
        Delivery::Retryable(SinkError::Unavailable {
            sink: "fake".into(),
            reason: "broker down".into(),
        }),
    )
}

/// The reply to the `n`th send (from 0) of `records`.
type Script = dyn Fn(usize, &[Record]) -> Reply + Send + Sync;

#[derive(Debug, Default)]
struct Log {
    /// The seqs of every send, in order.
    sends: Vec<Vec<u64>>,
    /// The status checkpoint at each send.
    checkpoints: Vec<u64>,
    /// Seqs some answer said are done (delivered or dead-lettered).
    done: BTreeSet<u64>,
    in_flight: usize,
    most_in_flight: usize,
}

#[derive(Clone)]
struct Fake {
    script: Arc<Script>,
    log: Arc<Mutex<Log>>,
    status: Arc<OnceLock<Arc<SinkStatus>>>,
}

impl Fake {
    fn new(script: impl Fn(usize, &[Record]) -> Reply + Send + Sync + 'static) -> Fake {
        Fake {
            script: Arc::new(script),
            log: Arc::default(),
            status: Arc::default(),
        }
    }
}

/// The position is at most the last seq of the prefix answered done.
fn check(status: &SinkStatus, log: &Log) -> u64 {
    let checkpoint = status.report().checkpoint;
    let prefix = (1..)
        .take_while(|s| log.done.contains(s))
        .last()
        .unwrap_or(0);
    assert!(
        checkpoint <= prefix,
        "the position {checkpoint} passed a seq not answered done (done up to {prefix})"
    );
    checkpoint
}

impl Sink for Fake {
    async fn send(&mut self, records: Arc<[Record]>) -> Ack {
        let status = self.status.get().expect("status set").clone();
        let reply = {
            let mut log = self.log.lock().unwrap();
            let n = log.sends.len();
            log.sends
                .push(records.iter().map(|r| r.event.seq).collect());
            let checkpoint = check(&status, &log);
            log.checkpoints.push(checkpoint);
            log.in_flight += 1;
            log.most_in_flight = log.most_in_flight.max(log.in_flight);
            (self.script)(n, &records)
        };
        let log = self.log.clone();
        let partial = reply.partial;
        let answer = async move {
            tokio::time::sleep(reply.after).await;
            let mut log = log.lock().unwrap();
            log.in_flight -= 1;
            let done = match &reply.delivery {
                Delivery::Delivered => records.len(),
                Delivery::Rejected { index, .. } => index + 1,
                Delivery::Retryable(_) => 0,
            };
            log.done.extend(records[..done].iter().map(|r| r.event.seq));
            check(&status, &log);
            reply.delivery
        };
        if partial {
            Ack::partial(answer)
        } else {
            Ack::new(answer)
        }
    }
}

fn config(max_in_flight: usize) -> SinkConfig {
    SinkConfig {
        encoding: Encoding::Json,
        filter: FilterConfig::default(),
        batch: BatchConfig {
            max_events: 10,
            max_bytes: 1 << 20,
            linger_ms: 0,
            max_in_flight,
        },
        retry: RetryConfig {
            initial_backoff_ms: 1,
            max_backoff_ms: 5,
            jitter: 0.0,
        },
        dead_letter: None,
        kind: KindConfig::Stdout(Default::default()),
    }
}

fn event(seq: u64) -> ChangeEvent {
    ChangeEvent {
        node: "n1".into(),
        epoch: 1,
        seq,
        ts_ms: 1_700_000_000_000 + seq,
        op: Op::Set,
        key: Bytes::from(format!("k{}", seq % 3)),
        value: Some(Bytes::from_static(b"v")),
        expire_at_ms: None,
        prev: None,
    }
}

/// A history of events `1..=last`, ended.
async fn history(last: u64) -> mpsc::Receiver<ChangeEvent> {
    let (tx, rx) = mpsc::channel(last as usize);
    for seq in 1..=last {
        tx.send(event(seq)).await.unwrap();
    }
    rx
}

fn engine<P: Progress>(
    fake: &Fake,
    max_in_flight: usize,
    dir: &Path,
    progress: P,
) -> Engine<Fake, P> {
    let dead_letters = DeadLetters::new(dir.join("dead-letters.jsonl"));
    let engine = Engine::new(
        "fake",
        config(max_in_flight),
        fake.clone(),
        dead_letters,
        progress,
    );
    fake.status.set(engine.status()).unwrap();
    engine
}

/// Delivers `1..=last` to `fake` through the engine, to the end.
async fn deliver(fake: &Fake, max_in_flight: usize, last: u64, dir: &Path) -> SinkReport {
    let engine = engine(fake, max_in_flight, dir, StatusOnly);
    let status = engine.status();
    let source = history(last).await;
    engine
        .run(Ok((source, 0)), CancellationToken::new())
        .await
        .unwrap();
    let report = status.report();
    assert_eq!(report.state, SinkState::Stopped);
    assert_eq!(report.checkpoint, last, "{report:?}");
    report
}

fn seqs(range: RangeInclusive<u64>) -> Vec<u64> {
    range.collect()
}

fn sends(fake: &Fake) -> Vec<Vec<u64>> {
    fake.log.lock().unwrap().sends.clone()
}

#[tokio::test(start_paused = true)]
async fn answers_out_of_order_move_the_position_over_the_answered_prefix_only() {
    let dir = tempfile::tempdir().unwrap();
    // Later batches are answered first: 40 ms, 30 ms, 20 ms, 10 ms.
    let fake = Fake::new(|n, _| delivered(40 - 10 * (n as u64 % 4)));
    let report = deliver(&fake, 4, 40, dir.path()).await;
    assert_eq!(
        sends(&fake),
        vec![seqs(1..=10), seqs(11..=20), seqs(21..=30), seqs(31..=40)]
    );
    let log = fake.log.lock().unwrap();
    assert_eq!(
        log.most_in_flight, 4,
        "the batches were not in flight together"
    );
    assert_eq!(log.checkpoints, vec![0, 0, 0, 0]);
    assert_eq!((report.delivered, report.retries), (40, 0));
}

#[tokio::test(start_paused = true)]
async fn a_retry_of_the_oldest_batch_sends_it_and_every_later_one_again_in_order() {
    let dir = tempfile::tempdir().unwrap();
    // The first batch fails last, after the three after it got through.
    let fake = Fake::new(|n, _| match n {
        0 => retryable(50),
        1..=3 => delivered(10),
        _ => delivered(1),
    });
    let report = deliver(&fake, 4, 60, dir.path()).await;
    let first_round = vec![seqs(1..=10), seqs(11..=20), seqs(21..=30), seqs(31..=40)];
    let expected: Vec<Vec<u64>> = [first_round.clone(), first_round]
        .concat()
        .into_iter()
        .chain([seqs(41..=50), seqs(51..=60)])
        .collect();
    assert_eq!(sends(&fake), expected);
    let log = fake.log.lock().unwrap();
    // Nothing moved while the first batch was not delivered.
    assert_eq!(&log.checkpoints[..8], &[0; 8]);
    assert_eq!((report.delivered, report.retries), (60, 1));
}

#[tokio::test(start_paused = true)]
async fn a_dead_letter_mid_batch_sends_the_rest_and_the_later_batches_again() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(|n, records| match n {
        // Seq 15, the fifth record of the second batch, is poison.
        1 => {
            assert_eq!(records[4].event.seq, 15);
            reply(
                20,
                Delivery::Rejected {
                    index: 4,
                    reason: "too large".into(),
                },
            )
        }
        _ => delivered(10),
    });
    let report = deliver(&fake, 4, 60, dir.path()).await;
    assert_eq!(
        sends(&fake),
        vec![
            seqs(1..=10),
            seqs(11..=20),
            seqs(21..=30),
            seqs(31..=40),
            // The first batch's answer made room.
            seqs(41..=50),
            // The poison's answer: the rest of its batch, then the later
            // ones, again.
            seqs(16..=20),
            seqs(21..=30),
            seqs(31..=40),
            seqs(41..=50),
            seqs(51..=60),
        ]
    );
    // When the rest went out again, everything up to the poison was done.
    assert_eq!(fake.log.lock().unwrap().checkpoints[5], 15);
    assert_eq!(
        (report.delivered, report.dead_lettered, report.retries),
        (59, 1, 0)
    );
    let dead = std::fs::read_to_string(dir.path().join("dead-letters.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(dead.trim()).unwrap();
    assert_eq!(
        (line["seq"].as_u64(), line["reason"].as_str()),
        (Some(15), Some("too large"))
    );
}

#[tokio::test(start_paused = true)]
async fn nothing_is_sent_after_a_batch_sent_in_part_until_it_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(|n, _| match n {
        0 => Reply {
            partial: true,
            ..retryable(30)
        },
        _ => delivered(10),
    });
    let report = deliver(&fake, 4, 30, dir.path()).await;
    assert_eq!(
        sends(&fake),
        vec![seqs(1..=10), seqs(1..=10), seqs(11..=20), seqs(21..=30)]
    );
    assert_eq!((report.delivered, report.retries), (30, 1));
}

#[tokio::test(start_paused = true)]
async fn one_batch_in_flight_sends_the_next_only_after_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(|_, _| delivered(10));
    let report = deliver(&fake, 1, 50, dir.path()).await;
    let log = fake.log.lock().unwrap();
    assert_eq!(log.most_in_flight, 1);
    assert_eq!(log.checkpoints, vec![0, 10, 20, 30, 40]);
    assert_eq!(report.delivered, 50);
}

/// The positions saved, in order.
#[derive(Debug, Clone, Default)]
struct Saves(Arc<Mutex<Vec<u64>>>);

impl Progress for Saves {
    fn save(&self, seq: u64) -> Result<(), SinkError> {
        self.0.lock().unwrap().push(seq);
        Ok(())
    }
}

/// Runs the engine on 20 events from a source that does not end, answers
/// after `answer_ms`, and shuts it down after 500 ms.
async fn shut_down_while_in_flight(answer_ms: u64) -> (Vec<u64>, SinkReport) {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(move |_, _| delivered(answer_ms));
    let saves = Saves::default();
    let engine = engine(&fake, 4, dir.path(), saves.clone());
    let status = engine.status();
    let (tx, rx) = mpsc::channel(100);
    for seq in 1..=20 {
        tx.send(event(seq)).await.unwrap();
    }
    let shutdown = CancellationToken::new();
    let cancel = {
        let shutdown = shutdown.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            shutdown.cancel();
        }
    };
    let (result, ()) = tokio::join!(engine.run(Ok((rx, 0)), shutdown), cancel);
    result.unwrap();
    drop(tx);
    assert_eq!(sends(&fake), vec![seqs(1..=10), seqs(11..=20)]);
    let saved = saves.0.lock().unwrap().clone();
    (saved, status.report())
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_the_answers_in_flight_and_saves_their_position() {
    let (saved, report) = shut_down_while_in_flight(2_000).await;
    assert_eq!(saved, vec![20]);
    assert_eq!((report.state, report.checkpoint), (SinkState::Stopped, 20));
}

#[tokio::test(start_paused = true)]
async fn shutdown_gives_up_on_answers_that_do_not_come() {
    let (saved, report) = shut_down_while_in_flight(60_000).await;
    assert_eq!(saved, Vec::<u64>::new());
    assert_eq!((report.state, report.checkpoint), (SinkState::Stopped, 0));
}
