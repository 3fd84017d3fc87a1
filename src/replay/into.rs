//! `--into redis://HOST:PORT[/DB]`: history applied to another store over
//! the Redis protocol — a fluxkv node or a Redis.
//!
//! Each event becomes the command that leaves the key as the event says:
//! `set` → `SET key value` (with `PXAT` when the key has a deadline, an
//! absolute time both Redis ≥ 6.2 and fluxkv take, so a replay later than
//! the write does not stretch the TTL); `del`, `expire` and `evict` →
//! `DEL`; `flush` → `FLUSHDB`, which only ever empties the database in the
//! URL. Commands go in pipelines of `--pipeline`, one round trip at a
//! time: per-key order holds, and once a pipeline's replies are in, every
//! event in it is written.

use anyhow::{Context, bail};
use fluxkv_schemas::{ChangeEvent, Op};
use redis::aio::MultiplexedConnection;
use std::time::Duration;

/// Longest wait for one pipeline's replies: generous, since a fluxkv with
/// `fsync = always` or a Redis writing its AOF may take a while for
/// thousands of writes, yet finite, so a dead server is an error.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A store written over the Redis protocol.
pub(crate) struct RedisTarget {
    url: String,
    conn: MultiplexedConnection,
    per_trip: usize,
    /// Seq of the last event written.
    acked: u64,
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTarget")
            .field("url", &self.url)
            .field("acked", &self.acked)
            .finish_non_exhaustive()
    }
}

impl RedisTarget {
    /// Connects to `url` (selecting its database) and checks the server
    /// answers.
    pub(crate) async fn connect(url: &str, per_trip: usize) -> anyhow::Result<RedisTarget> {
        if !url.starts_with("redis://") {
            bail!("--into takes redis://HOST:PORT[/DB], got {url:?}");
        }
        let client = redis::Client::open(url).with_context(|| format!("--into {url}"))?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        redis::cmd("PING")
            .query_async::<()>(&mut conn)
            .await
            .with_context(|| format!("{url} does not answer PING"))?;
        Ok(RedisTarget {
            url: url.to_string(),
            conn,
            per_trip: per_trip.max(1),
            acked: 0,
        })
    }

    /// The target, for the report.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Writes `events`, a pipeline at a time.
    pub(crate) async fn deliver(&mut self, events: &[ChangeEvent]) -> anyhow::Result<()> {
        for group in events.chunks(self.per_trip) {
            let mut pipe = redis::pipe();
            for event in group {
                command(&mut pipe, event);
            }
            let (first, last) = (group[0].seq, group[group.len() - 1].seq);
            pipe.query_async::<()>(&mut self.conn)
                .await
                .with_context(|| format!("writing seqs {first}..={last} to {}", self.url))?;
            self.acked = last;
        }
        Ok(())
    }

    /// Seq of the last event written (0: none).
    pub(crate) fn acked(&self) -> u64 {
        self.acked
    }
}

/// Adds the command that applies `event`, its reply ignored (an error
/// reply still fails the pipeline).
fn command(pipe: &mut redis::Pipeline, event: &ChangeEvent) {
    let key = &event.key[..];
    match event.op {
        Op::Set => {
            let value = event.value.as_deref().unwrap_or_default();
            let set = pipe.cmd("SET").arg(key).arg(value);
            if let Some(at) = event.expire_at_ms {
                set.arg("PXAT").arg(at);
            }
        }
        Op::Del | Op::Expire | Op::Evict => {
            pipe.cmd("DEL").arg(key);
        }
        Op::Flush => {
            pipe.cmd("FLUSHDB");
        }
    }
    pipe.ignore();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(op: Op, value: Option<&'static str>, expire_at_ms: Option<u64>) -> ChangeEvent {
        ChangeEvent {
            node: "n".into(),
            epoch: 1,
            seq: 1,
            ts_ms: 0,
            op,
            key: "k".into(),
            value: value.map(Into::into),
            expire_at_ms,
            prev: None,
        }
    }

    fn packed(event: &ChangeEvent) -> String {
        let mut pipe = redis::pipe();
        command(&mut pipe, event);
        String::from_utf8(pipe.get_packed_pipeline()).unwrap()
    }

    #[test]
    fn each_op_becomes_the_command_that_leaves_the_key_so() {
        assert_eq!(
            packed(&event(Op::Set, Some("v"), None)),
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
        );
        assert_eq!(
            packed(&event(Op::Set, Some("v"), Some(1_800_000_000_000))),
            "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$4\r\nPXAT\r\n$13\r\n1800000000000\r\n"
        );
        for op in [Op::Del, Op::Expire, Op::Evict] {
            assert_eq!(
                packed(&event(op, None, None)),
                "*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n"
            );
        }
        assert_eq!(
            packed(&event(Op::Flush, None, None)),
            "*1\r\n$7\r\nFLUSHDB\r\n"
        );
    }
}
