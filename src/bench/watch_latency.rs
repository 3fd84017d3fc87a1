//! `fluxkv bench --watch-latency`: how long a change takes to reach a
//! Watch subscriber.
//!
//! Writers Set keys over gRPC at a fixed rate; each answer carries the
//! write's seq. One subscriber, on its own thread and HTTP/2 connection,
//! watches from the first write's seq. An event's latency is the time it
//! arrived minus the time its write was acknowledged, matched by seq
//! ([`super::delivery`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use fluxkv_schemas::proto::kv_client::KvClient;
use fluxkv_schemas::proto::watch_client::WatchClient;
use fluxkv_schemas::proto::watch_response::Item;
use fluxkv_schemas::proto::{SetRequest, WatchRequest};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tonic::transport::{Channel, Endpoint};

use super::delivery::{Acks, Matcher, Writes};
use super::grpc;
use super::workload::{Request, Requests};
use crate::watch::connect;

/// The writers wake up this often and issue every write that is due by
/// then: a late wake-up (a loaded machine) is made up for with a bigger
/// batch, so the average rate holds.
const TICK: Duration = Duration::from_millis(1);

/// After the last write is acknowledged, the subscriber gets this long to
/// deliver the remaining events; whatever has not arrived is missing.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The subscriber gets this long to start streaming.
const WATCH_START_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub(crate) endpoint: &'a Endpoint,
    pub(crate) channels: usize,
    /// Writes outstanding at most; when the server falls further behind,
    /// issuing waits (and the achieved rate shows it).
    pub(crate) in_flight: usize,
    /// Writes per second.
    pub(crate) rate: u64,
    pub(crate) duration: Duration,
    pub(crate) requests: Arc<Requests>,
    pub(crate) value: Bytes,
}

/// Runs the measurement; returns what the writers saw and the matcher
/// holding every delivery.
pub(crate) async fn measure(plan: Plan<'_>) -> anyhow::Result<(Writes, Matcher)> {
    let channels = grpc::open(plan.endpoint, plan.channels).await?;
    let matcher = Arc::new(Mutex::new(Matcher::new()));
    let mut rng = SmallRng::from_rng(&mut rand::rng());

    // The first write tells where to watch from; it is not measured.
    let first = set(&mut KvClient::new(channels[0].clone()), &plan, &mut rng)
        .await
        .map_err(|status| {
            anyhow::anyhow!("the first Set failed: {}", connect::describe(&status))
        })?;
    if first == 0 {
        bail!("the server answered a Set with seq 0 (nothing logged)");
    }
    let Subscriber {
        started,
        until,
        done,
        stop,
        thread,
    } = Subscriber::start(plan.endpoint.clone(), first, Arc::clone(&matcher))?;
    match tokio::time::timeout(WATCH_START_TIMEOUT, started).await {
        Ok(Ok(())) => {}
        // The subscriber gave up: its error says why.
        Ok(Err(_)) => {
            join(thread).await?;
            bail!("the Watch subscriber stopped before the first event");
        }
        Err(_) => {
            stop.send_replace(true);
            bail!(
                "the Watch stream did not deliver seq {first} (the first write) within {} s",
                WATCH_START_TIMEOUT.as_secs()
            );
        }
    }

    let writes = write_at_rate(&plan, &channels, &matcher, &mut rng).await?;

    // Let the subscriber catch up to the last acknowledged write.
    let last_acked = matcher.lock().expect("matcher lock").max_acked();
    until.send_replace(last_acked.max(first));
    if tokio::time::timeout(DRAIN_TIMEOUT, done).await.is_err() {
        stop.send_replace(true);
    }
    join(thread).await?;
    let matcher = Arc::into_inner(matcher)
        .expect("every writer and the subscriber are done")
        .into_inner()
        .expect("matcher lock");
    Ok((writes, matcher))
}

/// Issues `rate` × `duration` writes on schedule and waits for them all;
/// each acknowledgement goes to `matcher`. Shared with `--sink-latency`.
pub(super) async fn write_at_rate<M: Acks>(
    plan: &Plan<'_>,
    channels: &[Channel],
    matcher: &Arc<Mutex<M>>,
    rng: &mut SmallRng,
) -> anyhow::Result<Writes> {
    let total = (plan.rate as f64 * plan.duration.as_secs_f64()).round() as u64;
    let permits = Arc::new(Semaphore::new(plan.in_flight));
    let errors = Arc::new(Mutex::new((0u64, None::<String>)));
    let mut writers = JoinSet::new();
    let mut ticker = tokio::time::interval(TICK);
    // Missed ticks are not replayed: the count below already catches up.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let started = Instant::now();
    let mut issued = 0u64;
    while issued < total {
        ticker.tick().await;
        let due = ((started.elapsed().as_secs_f64() * plan.rate as f64) as u64).min(total);
        while issued < due {
            let permit = Arc::clone(&permits).acquire_owned().await?;
            let mut client = KvClient::new(channels[issued as usize % channels.len()].clone());
            let request = write_request(&plan.requests, &plan.value, rng);
            let matcher = Arc::clone(matcher);
            let errors = Arc::clone(&errors);
            writers.spawn(async move {
                let sent = Instant::now();
                let answered = client.set(request).await;
                let at = Instant::now();
                drop(permit);
                match answered {
                    Ok(response) => matcher.lock().expect("matcher lock").acked(
                        response.into_inner().seq,
                        sent,
                        at,
                    ),
                    Err(status) => {
                        let mut errors = errors.lock().expect("errors lock");
                        errors.0 += 1;
                        errors.1.get_or_insert_with(|| connect::describe(&status));
                    }
                }
            });
            issued += 1;
        }
        // Reap finished writers so the set stays as small as the in-flight count.
        while let Some(joined) = writers.try_join_next() {
            joined.context("write task failed")?;
        }
    }
    while let Some(joined) = writers.join_next().await {
        joined.context("write task failed")?;
    }
    let elapsed = started.elapsed();
    let (errors, first_error) = std::mem::take(&mut *errors.lock().expect("errors lock"));
    Ok(Writes {
        acked: total - errors,
        errors,
        first_error,
        elapsed,
    })
}

fn write_request(requests: &Requests, value: &Bytes, rng: &mut SmallRng) -> SetRequest {
    let (Request::Set(key) | Request::Get(key)) = requests.next(rng);
    SetRequest {
        key,
        value: value.clone(),
        ..SetRequest::default()
    }
}

/// One Set of the plan's workload; its seq.
pub(super) async fn set(
    client: &mut KvClient<Channel>,
    plan: &Plan<'_>,
    rng: &mut SmallRng,
) -> Result<u64, tonic::Status> {
    let request = write_request(&plan.requests, &plan.value, rng);
    Ok(client.set(request).await?.into_inner().seq)
}

/// The Watch subscriber: its own thread, runtime and connection, so the
/// writers' load does not delay its reading (beyond sharing the CPUs).
#[derive(Debug)]
struct Subscriber {
    /// Fires once the first event (the unmeasured first write) arrived.
    started: oneshot::Receiver<()>,
    /// Stop once this seq has arrived (0: not yet known).
    until: watch::Sender<u64>,
    /// Fires once `until` has arrived.
    done: oneshot::Receiver<()>,
    /// Stop now, whatever has arrived.
    stop: watch::Sender<bool>,
    thread: std::thread::JoinHandle<anyhow::Result<()>>,
}

impl Subscriber {
    fn start(endpoint: Endpoint, from: u64, matcher: Arc<Mutex<Matcher>>) -> anyhow::Result<Self> {
        let (started_tx, started) = oneshot::channel();
        let (done_tx, done) = oneshot::channel();
        let (until, until_rx) = watch::channel(0u64);
        let (stop, stop_rx) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("watch-subscriber".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting the subscriber's runtime")?;
                runtime.block_on(subscribe(
                    endpoint,
                    from,
                    matcher,
                    Signals {
                        started: Some(started_tx),
                        done: Some(done_tx),
                        until: until_rx,
                        stop: stop_rx,
                    },
                ))
            })
            .context("starting the subscriber thread")?;
        Ok(Subscriber {
            started,
            until,
            done,
            stop,
            thread,
        })
    }
}

struct Signals {
    started: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Sender<()>>,
    until: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
}

async fn subscribe(
    endpoint: Endpoint,
    from: u64,
    matcher: Arc<Mutex<Matcher>>,
    mut signals: Signals,
) -> anyhow::Result<()> {
    let channel = connect::connect(&endpoint).await?;
    let request = WatchRequest {
        from_seq: from,
        ..WatchRequest::default()
    };
    let mut stream = WatchClient::new(channel)
        .watch(request)
        .await
        .map_err(|status| anyhow::anyhow!("Watch failed: {}", connect::describe(&status)))?
        .into_inner();
    loop {
        let until = *signals.until.borrow_and_update();
        let last = matcher.lock().expect("matcher lock").last_received();
        if until != 0 && last.is_some_and(|last| last >= until) {
            if let Some(done) = signals.done.take() {
                let _ = done.send(());
            }
            return Ok(());
        }
        let message = tokio::select! {
            message = stream.message() => message,
            _ = signals.until.changed() => continue,
            _ = signals.stop.changed() => return Ok(()),
        };
        let at = Instant::now();
        let response = match message {
            Ok(Some(response)) => response,
            Ok(None) => bail!("the server ended the Watch stream"),
            Err(status) => bail!("the Watch stream failed: {}", connect::describe(&status)),
        };
        let Some(Item::Event(event)) = response.item else {
            continue; // a watermark
        };
        if event.seq == from {
            // The unmeasured first write: the stream is live.
            if let Some(started) = signals.started.take() {
                let _ = started.send(());
            }
            matcher.lock().expect("matcher lock").skip(event.seq);
            continue;
        }
        matcher
            .lock()
            .expect("matcher lock")
            .received(event.seq, at);
    }
}

/// Waits for the subscriber thread and returns its error, if any.
async fn join(thread: std::thread::JoinHandle<anyhow::Result<()>>) -> anyhow::Result<()> {
    let joined = tokio::task::spawn_blocking(move || thread.join())
        .await
        .context("joining the subscriber")?;
    match joined {
        Ok(watched) => watched.context("the Watch subscriber failed"),
        Err(_) => bail!("the Watch subscriber panicked"),
    }
}
