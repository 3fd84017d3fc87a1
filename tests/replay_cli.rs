//! `fluxkv replay`, run as a process against AOFs written by a real
//! `fluxkv_store::Store`: exactly the selected seqs, in order, into a file
//! sink and a Kafka topic for random ranges and filters; every key equal
//! after a replay into a Redis database and into a second fluxkv; dry-run
//! counts; resuming after `--to-seq` and after Ctrl-C; the data directory
//! of a running node; history that is gone.
//!
//! What the AOF holds is read back with `fluxkv aof dump`, an independent
//! reader of the same files. Kafka is the tansu broker of
//! `scripts/services.sh` on 127.0.0.1:9092; Redis is the machine's, on
//! 127.0.0.1:6379, of which the tests use database 9 only, emptying it
//! with FLUSHDB before and after (never FLUSHALL). A test whose service is
//! down fails, naming it.

mod common;

use common::Node;
use fluxkv_store::{
    AofOptions, Clock, Deadline, ExpireCondition, ExpirySpec, FsyncPolicy, SetOptions, Store,
    StoreOptions,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::message::Headers as _;
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const KAFKA: &str = "127.0.0.1:9092";
const REDIS: &str = "127.0.0.1:6379";
/// The database of the Redis on 6379 these tests own.
const REDIS_DB_URL: &str = "redis://127.0.0.1:6379/9";
const PREFIXES: [&str; 3] = ["user:", "order:", "session:"];
/// A failure detector for consuming from Kafka, far above what it takes.
const PATIENCE: Duration = Duration::from_secs(120);

// ------------------------------------------------------------- the history

/// One record of the source AOF, as `fluxkv aof dump` prints it.
#[derive(Debug, Clone, Deserialize)]
struct Rec {
    seq: u64,
    ts_ms: u64,
    op: String,
    key: String,
    value: Option<String>,
    expire_at_ms: Option<u64>,
}

/// Live keys after the whole history: value and deadline.
type State = BTreeMap<String, (String, Option<u64>)>;

/// A data directory with an AOF of random writes, what it holds, and the
/// keyspace it leaves.
struct History {
    dir: tempfile::TempDir,
    data_dir: PathBuf,
    records: Vec<Rec>,
    state: State,
    node: String,
}

impl History {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn last_seq(&self) -> u64 {
        self.records.last().map_or(0, |r| r.seq)
    }
}

/// The seed for this run: `REPLAY_SEED` to repeat one, else the clock.
fn seed() -> u64 {
    let seed = std::env::var("REPLAY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(now_ms);
    eprintln!("REPLAY_SEED={seed}");
    seed
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// About `ops` random writes through a store with small segments: sets
/// (some with a deadline an hour or two ahead, some a few ms ahead that
/// expire and are logged as `expire`), dels, one flush. The clock starts
/// at the real time, so deadlines are in the future for Redis too.
fn write_history(seed: u64, ops: usize) -> History {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let clock = Clock::manual(now_ms());
    let options = StoreOptions {
        shards: 16,
        aof: AofOptions {
            fsync: FsyncPolicy::No,
            segment_bytes: 16 << 10,
            ..AofOptions::default()
        },
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let (store, _) = Store::open(&data_dir, options).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut rng = SmallRng::seed_from_u64(seed);
    for i in 0..ops {
        let key = format!(
            "{}{}",
            PREFIXES[rng.random_range(0..PREFIXES.len())],
            rng.random_range(0..150)
        );
        let (key, value, now) = (key.as_bytes(), format!("v{i}"), clock.now_ms());
        let set = |expiry| {
            let options = SetOptions {
                expiry,
                ..SetOptions::default()
            };
            store.set(key, value.as_bytes(), options).unwrap().seq
        };
        let seq = match rng.random_range(0..100) {
            _ if i == ops / 3 => store.flush_all().unwrap().seq,
            0..60 => set(ExpirySpec::Clear),
            60..70 => set(ExpirySpec::At(now + 3_600_000)),
            70..80 => set(ExpirySpec::At(now + 5)),
            80..90 => store.del(&[key]).unwrap().seq,
            _ => {
                store
                    .expire_at(key, now + 7_200_000, ExpireCondition::Always)
                    .unwrap()
                    .seq
            }
        };
        // Each write on its own, so segments rotate as they fill.
        if let Some(seq) = seq {
            rt.block_on(store.wait_committed(seq)).unwrap();
        }
        clock.advance_ms(1);
        if i % 50 == 0 {
            store.expire_due(1000);
        }
    }
    clock.advance_ms(1000);
    while store.expire_due(1000) > 0 {}
    let state = store
        .keys(|_| true)
        .into_iter()
        .filter_map(|key| {
            let value = store.get(&key)?;
            let deadline = match store.deadline(&key) {
                Deadline::At(at) => Some(at),
                Deadline::Never => None,
                Deadline::NoKey => return None,
            };
            let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
            Some((text(&key), (text(&value), deadline)))
        })
        .collect();
    let node = store.identity().node.to_string();
    store.close().unwrap();
    let records = dump(&data_dir);
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=records.len() as u64).collect::<Vec<_>>());
    History {
        dir,
        data_dir,
        records,
        state,
        node,
    }
}

/// Every record of the AOF in `data_dir`, by `fluxkv aof dump`.
fn dump(data_dir: &Path) -> Vec<Rec> {
    let out = Command::new(env!("CARGO_BIN_EXE_fluxkv"))
        .arg("aof")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("dump")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

// ------------------------------------------------------------- selections

/// A replay's selection flags, and which records they take.
#[derive(Debug, Clone, Default)]
struct Pick {
    from_seq: Option<u64>,
    to_seq: Option<u64>,
    from_ms: Option<u64>,
    to_ms: Option<u64>,
    prefixes: Vec<&'static str>,
    ops: Vec<&'static str>,
}

impl Pick {
    fn random(rng: &mut SmallRng, history: &History) -> Pick {
        let last = history.last_seq();
        let from_seq = rng.random_bool(0.7).then(|| rng.random_range(1..=last));
        let to_seq = rng
            .random_bool(0.6)
            .then(|| rng.random_range(from_seq.unwrap_or(1)..=last + 3));
        let times = rng.random_bool(0.3).then(|| {
            let ts = |rng: &mut SmallRng| history.records[rng.random_range(0..last as usize)].ts_ms;
            let (a, b) = (ts(rng), ts(rng));
            (a.min(b), a.max(b))
        });
        let prefixes = match rng.random_range(0..4) {
            0 | 1 => vec![],
            2 => vec![PREFIXES[rng.random_range(0..3)]],
            _ => vec![PREFIXES[0], PREFIXES[2]],
        };
        let ops = if rng.random_bool(0.5) {
            vec![]
        } else {
            let all = ["set", "del", "expire", "flush"];
            let ops: Vec<_> = all.into_iter().filter(|_| rng.random_bool(0.5)).collect();
            if ops.is_empty() { vec!["del"] } else { ops }
        };
        Pick {
            from_seq,
            to_seq,
            from_ms: times.map(|t| t.0),
            to_ms: times.map(|t| t.1),
            prefixes,
            ops,
        }
    }

    fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut flag = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                args.extend([name.to_string(), value]);
            }
        };
        flag("--from-seq", self.from_seq.map(|s| s.to_string()));
        flag("--to-seq", self.to_seq.map(|s| s.to_string()));
        flag("--from-time", self.from_ms.map(|t| t.to_string()));
        // The other form: RFC 3339.
        flag("--to-time", self.to_ms.map(rfc3339));
        for prefix in &self.prefixes {
            flag("--prefix", Some(prefix.to_string()));
        }
        flag("--ops", (!self.ops.is_empty()).then(|| self.ops.join(",")));
        args
    }

    fn takes(&self, rec: &Rec) -> bool {
        self.from_seq.is_none_or(|s| rec.seq >= s)
            && self.to_seq.is_none_or(|s| rec.seq <= s)
            && self.from_ms.is_none_or(|t| rec.ts_ms >= t)
            && self.to_ms.is_none_or(|t| rec.ts_ms <= t)
            && (rec.op == "flush"
                || self.prefixes.is_empty()
                || self.prefixes.iter().any(|p| rec.key.starts_with(p)))
            && (self.ops.is_empty() || self.ops.contains(&rec.op.as_str()))
    }

    fn expected<'a>(&self, history: &'a History) -> Vec<&'a Rec> {
        history.records.iter().filter(|r| self.takes(r)).collect()
    }

    /// The seq a complete replay reaches.
    fn reaches(&self, history: &History) -> u64 {
        self.to_seq.unwrap_or(u64::MAX).min(history.last_seq())
    }
}

/// Unix ms as RFC 3339 (UTC), computed independently of the binary's parser.
fn rfc3339(ms: u64) -> String {
    let (secs, millis) = (ms / 1000, ms % 1000);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

// ------------------------------------------------------------ running it

fn fluxkv(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fluxkv"))
        .args(args)
        .env_remove("FLUXKV_CONFIG")
        .env_remove("FLUXKV_DATA_DIR")
        .output()
        .expect("run fluxkv")
}

/// `fluxkv replay ARGS --json`, which must succeed: its report.
fn replay_json(args: &[String]) -> Value {
    let mut full = vec!["replay".to_string()];
    full.extend_from_slice(args);
    full.push("--json".into());
    let out = fluxkv(&full);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fluxkv {full:?}: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    report(&stdout)
}

/// The JSON report: the last line of stdout.
fn report(stdout: &str) -> Value {
    let line = stdout.lines().last().expect("a report line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("report {line:?}: {e}"))
}

fn strings<const N: usize>(args: [&str; N]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn path_arg(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

/// A config with the history's data directory and one sink, `[sinks.NAME]`
/// with `table` as its keys.
fn config(history: &History, file: &str, name: &str, table: &str) -> String {
    let path = history.path(file);
    let toml = format!(
        "data_dir = {:?}\n\n[sinks.{name}]\n{table}\n",
        history.data_dir.to_str().unwrap()
    );
    std::fs::write(&path, toml).unwrap();
    path_arg(&path)
}

/// A file sink writing JSON lines into `out`, in small batches.
fn file_sink(history: &History, file: &str, out: &Path) -> String {
    let table = format!(
        "kind = \"file\"\nencoding = \"json\"\ndir = {:?}\nbatch = {{ max_events = 100 }}",
        out.to_str().unwrap()
    );
    config(history, file, "audit", &table)
}

/// Every event a file sink wrote into `out`, in file order.
fn file_events(out: &Path) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Checks that `events` (JSON change events) are exactly `expected`, in
/// order, field by field.
fn assert_events(events: &[Value], expected: &[&Rec], node: &str, what: &str) {
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let want: Vec<u64> = expected.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, want, "{what}: delivered seqs");
    for (event, rec) in events.iter().zip(expected) {
        assert_eq!(event["node"], node, "{what}: {event}");
        assert_eq!(event["ts_ms"], rec.ts_ms, "{what}: {event}");
        assert_eq!(event["op"], rec.op.as_str(), "{what}: {event}");
        assert_eq!(event["key"], rec.key.as_str(), "{what}: {event}");
        assert_eq!(
            event["value"].as_str(),
            rec.value.as_deref(),
            "{what}: {event}"
        );
        assert_eq!(
            event["expire_at_ms"].as_u64(),
            rec.expire_at_ms,
            "{what}: {event}"
        );
    }
}

fn require(what: &str, addr: &str, how: &str) {
    let sock: SocketAddr = addr.parse().unwrap();
    if let Err(err) = TcpStream::connect_timeout(&sock, Duration::from_secs(2)) {
        panic!("{what} is not reachable on {addr} ({err}): {how}");
    }
}

fn require_kafka() {
    require(
        "Kafka (tansu)",
        KAFKA,
        "run scripts/services.sh, which installs and starts tansu on 9092",
    );
}

fn require_redis() {
    require(
        "Redis",
        REDIS,
        "the machine's redis-server should be running (start it with `redis-server \
         --daemonize yes`; scripts/services.sh installs it)",
    );
}

fn unique(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("fluxkv-replay-{what}-{}-{nanos}", std::process::id())
}

// ------------------------------------------------------------ correctness

#[test]
fn a_file_sink_gets_exactly_the_selected_seqs() {
    let seed = seed();
    let history = write_history(seed, 3000);
    let segments = std::fs::read_dir(history.data_dir.join("aof"))
        .unwrap()
        .count();
    assert!(segments > 5, "the history spans several segments");
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
    for trial in 0..10 {
        let pick = match trial {
            0 => Pick::default(),
            _ => Pick::random(&mut rng, &history),
        };
        let out = history.path(&format!("out-{trial}"));
        let config = file_sink(&history, &format!("file-{trial}.toml"), &out);
        let mut args = strings(["--config", &config, "--sink", "audit"]);
        args.extend(pick.args());
        let report = replay_json(&args);
        let expected = pick.expected(&history);
        let what = format!("seed {seed}, trial {trial}, {pick:?}");
        assert_events(&file_events(&out), &expected, &history.node, &what);
        assert_eq!(report["complete"], true, "{what}: {report}");
        assert_eq!(
            report["reached_seq"],
            pick.reaches(&history),
            "{what}: {report}"
        );
        assert_eq!(
            report["resume_from_seq"],
            pick.reaches(&history) + 1,
            "{what}"
        );
        assert_eq!(report["sent"], expected.len(), "{what}: {report}");
        assert_eq!(report["target"], "sink:audit", "{what}: {report}");
    }
}

/// The events in partition 0 of `topic`, as JSON, each checked against
/// its `fluxkv-seq` header: waits for `count`, then makes sure no more
/// follow. (tansu's offset watermarks are not reliable, so the end of the
/// partition is found by reading on: a message the replay produced is
/// already there, so a short read on can only miss an extra one on a
/// very slow machine, never fail a correct replay.)
fn consume_kafka(topic: &str, count: usize) -> Vec<Value> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("group.id", unique("group"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("a Kafka consumer");
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    // Assigned, not subscribed: no consumer-group join to wait for.
    consumer.assign(&partitions).unwrap();
    let deadline = Instant::now() + PATIENCE;
    let mut read_on_until = None;
    let mut events = Vec::new();
    let mut last_error = None;
    loop {
        match read_on_until {
            None if events.len() >= count => {
                read_on_until = Some(Instant::now() + Duration::from_secs(3));
            }
            Some(until) if Instant::now() >= until => break,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: {} of {count} messages within {PATIENCE:?} (last error: {last_error:?})",
            events.len()
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                let header = message
                    .headers()
                    .and_then(|h| h.iter().find(|h| h.key == "fluxkv-seq"))
                    .and_then(|h| std::str::from_utf8(h.value?).ok()?.parse::<u64>().ok())
                    .expect("a fluxkv-seq header");
                let event: Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
                assert_eq!(event["seq"], header, "the header names the event's seq");
                events.push(event);
            }
            Some(Err(KafkaError::PartitionEOF(_))) if events.len() >= count => break,
            Some(Err(err)) => last_error = Some(err.to_string()),
            None => {}
        }
    }
    events
}

#[test]
fn a_kafka_topic_gets_exactly_the_selected_seqs() {
    require_kafka();
    let seed = seed();
    let history = write_history(seed, 3000);
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xcafe);
    for trial in 0..3 {
        // An empty selection would never create the topic to read back.
        let pick = loop {
            let pick = Pick::random(&mut rng, &history);
            if !pick.expected(&history).is_empty() {
                break pick;
            }
        };
        let topic = unique(&format!("t{trial}"));
        let table = format!(
            "kind = \"kafka\"\nencoding = \"json\"\nbrokers = \"{KAFKA}\"\ntopic = \"{topic}\"\n\
             create_topic = {{ partitions = 1, replication = 1 }}"
        );
        let config = config(&history, &format!("kafka-{trial}.toml"), "to_kafka", &table);
        let mut args = strings(["--config", &config, "--sink", "to_kafka"]);
        args.extend(pick.args());
        let report = replay_json(&args);
        let expected = pick.expected(&history);
        let what = format!("seed {seed}, trial {trial}, {pick:?}");
        assert_eq!(report["complete"], true, "{what}: {report}");
        assert_eq!(report["reached_seq"], pick.reaches(&history), "{what}");
        let events = consume_kafka(&topic, expected.len());
        assert_events(&events, &expected, &history.node, &what);
    }
}

#[test]
fn dry_run_counts_what_a_replay_would_deliver() {
    let seed = seed();
    let history = write_history(seed, 2000);
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xd1);
    for trial in 0..5 {
        let pick = match trial {
            0 => Pick::default(),
            _ => Pick::random(&mut rng, &history),
        };
        let mut args = strings(["--data-dir", &path_arg(&history.data_dir), "--dry-run"]);
        args.extend(pick.args());
        let report = replay_json(&args);
        let what = format!("seed {seed}, trial {trial}, {pick:?}");
        let expected = pick.expected(&history);
        let tally = &report["dry_run"];
        assert_eq!(tally["events"], expected.len(), "{what}: {tally}");
        for op in ["set", "del", "expire", "evict", "flush"] {
            let n = expected.iter().filter(|r| r.op == op).count();
            assert_eq!(tally["ops"][op], n, "{what}: {op}: {tally}");
        }
        let keys: BTreeSet<&str> = expected
            .iter()
            .filter(|r| r.op != "flush")
            .map(|r| r.key.as_str())
            .collect();
        assert_eq!(tally["distinct_keys"], keys.len(), "{what}: {tally}");
        let key_bytes: usize = expected.iter().map(|r| r.key.len()).sum();
        let value_bytes: usize = expected
            .iter()
            .map(|r| r.value.as_ref().map_or(0, String::len))
            .sum();
        assert_eq!(tally["key_bytes"], key_bytes, "{what}: {tally}");
        assert_eq!(tally["value_bytes"], value_bytes, "{what}: {tally}");
        assert_eq!(tally["first_seq"].as_u64(), expected.first().map(|r| r.seq));
        assert_eq!(tally["last_seq"].as_u64(), expected.last().map(|r| r.seq));
        let ts = expected.iter().map(|r| r.ts_ms);
        assert_eq!(tally["first_ts_ms"].as_u64(), ts.clone().min(), "{what}");
        assert_eq!(tally["last_ts_ms"].as_u64(), ts.max(), "{what}");
        assert_eq!(report["reached_seq"], pick.reaches(&history), "{what}");
    }
    // For people: a table and the resume lines.
    let out = fluxkv(&strings([
        "replay",
        "--data-dir",
        &path_arg(&history.data_dir),
        "--dry-run",
        "--to-seq",
        "100",
    ]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    for line in [
        "events         100",
        "distinct keys",
        "time (UTC)",
        "replayed up to seq 100 (complete",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    assert!(text.ends_with("resume with --from-seq 101\n"), "{text}");
}

// ------------------------------------------------------------ into stores

/// Checks that the store behind `conn` holds exactly `state`: the same
/// keys, values and deadlines.
fn assert_same_keys(conn: &mut redis::Connection, state: &State, what: &str) {
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(conn).unwrap();
    keys.sort();
    let want: Vec<&String> = state.keys().collect();
    assert_eq!(keys.iter().collect::<Vec<_>>(), want, "{what}: the keys");
    for (key, (value, deadline)) in state {
        let got: Option<String> = redis::cmd("GET").arg(key).query(conn).unwrap();
        assert_eq!(got.as_ref(), Some(value), "{what}: value of {key}");
        let at: i64 = redis::cmd("PEXPIRETIME").arg(key).query(conn).unwrap();
        let want = deadline.map_or(-1, |d| d as i64);
        assert_eq!(at, want, "{what}: deadline of {key}");
    }
}

/// Database 9 of the Redis on 6379, empty, emptied again on drop.
struct RedisDb(redis::Connection);

impl RedisDb {
    fn open() -> RedisDb {
        require_redis();
        let mut conn = redis::Client::open(REDIS_DB_URL)
            .unwrap()
            .get_connection()
            .expect("connecting to Redis database 9");
        redis::cmd("FLUSHDB").query::<()>(&mut conn).unwrap();
        RedisDb(conn)
    }
}

impl Drop for RedisDb {
    fn drop(&mut self) {
        // This database only: never FLUSHALL the machine's Redis.
        let _ = redis::cmd("FLUSHDB").query::<()>(&mut self.0);
    }
}

#[test]
fn a_replay_into_redis_leaves_every_key_as_the_source_has_it() {
    let history = write_history(seed(), 3000);
    let mut db = RedisDb::open();
    let report = replay_json(&strings([
        "--data-dir",
        &path_arg(&history.data_dir),
        "--into",
        REDIS_DB_URL,
        "--pipeline",
        "256",
    ]));
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(report["sent"], history.records.len(), "{report}");
    assert_eq!(report["target"], REDIS_DB_URL, "{report}");
    assert!(history.state.len() > 50, "a keyspace worth comparing");
    assert_same_keys(&mut db.0, &history.state, "Redis db 9");
}

#[test]
fn a_replay_into_a_second_fluxkv_leaves_every_key_as_the_source_has_it() {
    let history = write_history(seed(), 3000);
    let target = Node::start(&history.path("target"), &[]);
    // In two halves, the second resuming where the first stopped.
    let half = history.last_seq() / 2;
    let data_dir = path_arg(&history.data_dir);
    let first = replay_json(&strings([
        "--data-dir",
        &data_dir,
        "--into",
        &target.url(),
        "--to-seq",
        &half.to_string(),
    ]));
    assert_eq!(first["reached_seq"], half, "{first}");
    let resume = first["resume_from_seq"].as_u64().unwrap().to_string();
    let second = replay_json(&strings([
        "--data-dir",
        &data_dir,
        "--into",
        &target.url(),
        "--from-seq",
        &resume,
    ]));
    assert_eq!(second["complete"], true, "{second}");
    assert_eq!(second["reached_seq"], history.last_seq(), "{second}");
    let mut conn = redis::Client::open(target.url())
        .unwrap()
        .get_connection()
        .unwrap();
    assert_same_keys(&mut conn, &history.state, "the second fluxkv");
}

// --------------------------------------------------------------- resuming

#[test]
fn to_seq_then_from_seq_covers_the_selection_exactly_once() {
    let seed = seed();
    let history = write_history(seed, 2000);
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x7e);
    let pick = Pick {
        prefixes: vec!["user:"],
        ..Pick::default()
    };
    let split = rng.random_range(1..history.last_seq());
    let (out1, out2) = (history.path("part-1"), history.path("part-2"));
    let mut args = strings(["--sink", "audit", "--to-seq", &split.to_string()]);
    args.extend(["--config".into(), file_sink(&history, "part-1.toml", &out1)]);
    args.extend(pick.args());
    let first = replay_json(&args);
    assert_eq!(first["reached_seq"], split, "{first}");
    let resume = first["resume_from_seq"].as_u64().unwrap();
    let mut args = strings(["--sink", "audit", "--from-seq", &resume.to_string()]);
    args.extend(["--config".into(), file_sink(&history, "part-2.toml", &out2)]);
    args.extend(pick.args());
    replay_json(&args);
    let mut events = file_events(&out1);
    events.extend(file_events(&out2));
    let what = format!("seed {seed}, split at {split}");
    assert_events(&events, &pick.expected(&history), &history.node, &what);
}

#[test]
fn an_interrupted_replay_says_where_to_resume_and_resuming_loses_nothing() {
    let history = write_history(seed(), 2000);
    let (out1, out2) = (history.path("before"), history.path("after"));
    let config1 = file_sink(&history, "before.toml", &out1);
    // Slow enough (several seconds) to be interrupted mid-way.
    let mut child = Command::new(env!("CARGO_BIN_EXE_fluxkv"))
        .args([
            "replay", "--config", &config1, "--sink", "audit", "--rate", "300", "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        let progress = line.starts_with("replay: at seq");
        seen.push(line);
        if progress {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.starts_with("replay: at seq")),
        "a progress line on stderr: {seen:?}"
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(130),
        "exit status; stdout: {stdout}"
    );
    let first = report(&stdout);
    assert_eq!(first["interrupted"], true, "{first}");
    assert_eq!(first["complete"], false, "{first}");
    let reached = first["reached_seq"].as_u64().unwrap();
    assert!(reached < history.last_seq(), "{first}");
    // Everything up to the resume point is there (a batch acknowledged as
    // the replay stopped may be there too: at least once).
    let before: Vec<u64> = file_events(&out1)
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        before
            .iter()
            .copied()
            .filter(|&s| s <= reached)
            .collect::<Vec<_>>(),
        (1..=reached).collect::<Vec<_>>()
    );
    let config2 = file_sink(&history, "after.toml", &out2);
    let second = replay_json(&strings([
        "--config",
        &config2,
        "--sink",
        "audit",
        "--from-seq",
        &(reached + 1).to_string(),
    ]));
    assert_eq!(second["complete"], true, "{second}");
    let after: Vec<u64> = file_events(&out2)
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        after,
        (reached + 1..=history.last_seq()).collect::<Vec<_>>()
    );
}

// ------------------------------------------------------- where it reads

/// File names and sizes under `dir`.
fn listing(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let len = std::fs::metadata(&path).unwrap().len();
                files.insert(path, len);
            }
        }
    }
    files
}

#[test]
fn reads_the_data_directory_of_a_running_node_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let node = Node::start(&data_dir, &[]);
    let mut conn = redis::Client::open(node.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let write = |conn: &mut redis::Connection, range: std::ops::Range<u64>| {
        let mut pipe = redis::pipe();
        for i in range {
            pipe.set(format!("k{i}"), format!("v{i}")).ignore();
        }
        pipe.query::<()>(conn).unwrap();
    };
    write(&mut conn, 0..500);
    let before = listing(&data_dir);
    let dry_run = |from: u64| {
        replay_json(&strings([
            "--data-dir",
            &path_arg(&data_dir),
            "--dry-run",
            "--from-seq",
            &from.to_string(),
        ]))
    };
    // Every acknowledged write is on disk: the replay sees all of them.
    let first = dry_run(1);
    assert_eq!(first["dry_run"]["ops"]["set"], 500, "{first}");
    assert_eq!(first["reached_seq"], 500, "{first}");
    assert_eq!(listing(&data_dir), before, "the replay wrote nothing");
    write(&mut conn, 500..600);
    let second = dry_run(501);
    assert_eq!(second["sent"], 100, "{second}");
    assert_eq!(second["reached_seq"], 600, "{second}");
    let pong: String = redis::cmd("PING").query(&mut conn).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn history_that_is_gone_is_an_error_naming_the_oldest_seq() {
    let history = write_history(seed(), 1000);
    let aof = history.data_dir.join("aof");
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&aof)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    std::fs::remove_file(&segments[0]).unwrap();
    let oldest: u64 = segments[1]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let data_dir = path_arg(&history.data_dir);
    let out = fluxkv(&strings([
        "replay",
        "--data-dir",
        &data_dir,
        "--dry-run",
        "--from-seq",
        "1",
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "seq 1 is no longer in the AOF; the oldest available seq is {oldest}"
        )),
        "{stderr}"
    );
    // Without --from-seq: from the oldest there is.
    let report = replay_json(&strings(["--data-dir", &data_dir, "--dry-run"]));
    assert_eq!(report["dry_run"]["first_seq"], oldest, "{report}");
}

#[test]
fn a_sink_needs_the_config_that_names_it() {
    let history = write_history(seed(), 100);
    let data_dir = path_arg(&history.data_dir);
    let out = fluxkv(&strings([
        "replay",
        "--data-dir",
        &data_dir,
        "--sink",
        "audit",
    ]));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--sink needs --config"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = file_sink(&history, "named.toml", &history.path("out"));
    let out = fluxkv(&strings(["replay", "--config", &config, "--sink", "nope"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no sink named \"nope\" in the config (configured: audit)"),
        "{stderr}"
    );
    let out = fluxkv(&strings(["replay", "--data-dir", &data_dir]));
    assert!(!out.status.success(), "a target is required");
}
