//! The watch itself: one gRPC `Watch` call per connection, its items
//! printed as they come, and — with `--retry` — reconnection where the
//! last one left off.

use std::io::Write;
use std::time::Duration;

use anyhow::anyhow;
use fluxkv_schemas::proto::admin_client::AdminClient;
use fluxkv_schemas::proto::watch_client::WatchClient;
use fluxkv_schemas::proto::{InfoRequest, WatchRequest};
use fluxkv_schemas::{Op, StreamItem};
use futures_util::FutureExt as _;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::backoff::Backoff;
use super::connect;
use super::output::{Output, is_broken_pipe};
use super::position::{Position, Verdict};

/// Largest response accepted: an event carries a value and maybe its
/// previous value, each up to the store's value limit (512 MiB).
const MAX_MESSAGE_BYTES: usize = 1 << 30;

/// What the watch asks for and when it stops (from the command line).
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) from: u64,
    pub(crate) prefixes: Vec<String>,
    pub(crate) ops: Vec<Op>,
    pub(crate) watermarks: bool,
    pub(crate) count: Option<u64>,
    pub(crate) until_idle: bool,
    /// `Some(cap)`: reconnect after a broken connection, pausing at most
    /// `cap` between attempts.
    pub(crate) retry: Option<Duration>,
}

/// Why a connection's watch ended short of the plan.
#[derive(Debug)]
enum Failure {
    /// The connection or the stream broke; the same watch may succeed on a
    /// new connection.
    Broken(anyhow::Error),
    /// Retrying cannot help (the history is gone, the request is invalid,
    /// the stream is inconsistent, stdout failed).
    Fatal(anyhow::Error),
}

/// One `fluxkv watch` run.
#[derive(Debug)]
pub(crate) struct Watch<W: Write> {
    plan: Plan,
    endpoint: Endpoint,
    position: Position,
    /// Events printed so far, across connections (for `--count`).
    printed: u64,
    out: Output<W>,
}

impl<W: Write> Watch<W> {
    pub(crate) fn new(plan: Plan, endpoint: Endpoint, out: Output<W>) -> Self {
        let unfiltered = plan.prefixes.is_empty() && plan.ops.is_empty();
        Watch {
            position: Position::new(plan.from, unfiltered),
            plan,
            endpoint,
            printed: 0,
            out,
        }
    }

    /// Prints whatever is still buffered; the end of every run, even an
    /// interrupted one.
    pub(crate) fn finish(mut self) -> anyhow::Result<()> {
        match self.out.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            flushed => Ok(flushed?),
        }
    }

    /// Watches until the plan is done (`--count`, `--until-idle`), stdout
    /// is closed, or an error retrying cannot (or, without `--retry`, may
    /// not) fix.
    pub(crate) async fn run(&mut self) -> anyhow::Result<()> {
        let mut backoff = self.plan.retry.map(Backoff::new);
        loop {
            let mut progressed = false;
            let failure = match self.session(&mut progressed).await {
                Ok(()) => return Ok(()),
                Err(Failure::Fatal(err)) if is_broken_pipe(&err) => return Ok(()),
                Err(Failure::Fatal(err)) => return Err(err),
                Err(Failure::Broken(err)) => err,
            };
            let Some(backoff) = backoff.as_mut() else {
                return Err(anyhow!("{failure:#}; {}", self.resume_hint()));
            };
            if progressed {
                backoff.reset();
            }
            let delay = backoff.next_delay();
            // Whatever was printed is complete; don't sit on it while away.
            if let Err(e) = self.out.flush() {
                return match e.kind() {
                    std::io::ErrorKind::BrokenPipe => Ok(()),
                    _ => Err(anyhow::Error::from(e).context("writing to stdout")),
                };
            }
            let resume = match self.position.next() {
                0 => "from now on".to_owned(),
                seq => format!("at seq {seq}"),
            };
            eprintln!(
                "fluxkv watch: {failure:#}; reconnecting in {:.1} s, resuming {resume}",
                delay.as_secs_f64()
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// What to tell a user whose watch broke without `--retry`.
    fn resume_hint(&self) -> String {
        match self.position.next() {
            seq if seq == self.plan.from => "pass --retry to keep trying".to_owned(),
            seq => format!(
                "rerun with --from {seq} to resume where this watch stopped, \
                 or pass --retry to reconnect by itself"
            ),
        }
    }

    /// One connection: connect, call Watch, print items until the plan is
    /// done or something fails. Sets `progressed` once an item arrives.
    async fn session(&mut self, progressed: &mut bool) -> Result<(), Failure> {
        let channel = connect::connect(&self.endpoint)
            .await
            .map_err(Failure::Broken)?;
        if self.position.next() == 0 && self.plan.retry.is_some() {
            // "From now on" must mean the same seq on every reconnection.
            let info = AdminClient::new(channel.clone())
                .info(InfoRequest {})
                .await
                .map_err(|status| self.failure(status, "asking the node for its log position"))?
                .into_inner();
            self.position.resolve_now(info.committed_seq + 1);
        }
        let request = WatchRequest {
            from_seq: self.position.next(),
            key_prefixes: self
                .plan
                .prefixes
                .iter()
                .map(|p| p.clone().into())
                .collect(),
            ops: self
                .plan
                .ops
                .iter()
                .map(|&op| fluxkv_schemas::proto::Op::from(op) as i32)
                .collect(),
        };
        let mut client =
            WatchClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let mut stream = match client.watch(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => return Err(self.refused(status, channel).await),
        };
        loop {
            // Flush only when the stream has nothing more ready: a burst of
            // catch-up is written in big chunks, a live event at once.
            let message = match stream.message().now_or_never() {
                Some(message) => message,
                None => {
                    self.out.flush().map_err(stdout_failure)?;
                    stream.message().await
                }
            };
            let response = match message {
                Ok(Some(response)) => response,
                Ok(None) => {
                    return Err(Failure::Broken(anyhow!(
                        "{} ended the stream (is it shutting down?)",
                        self.endpoint.uri()
                    )));
                }
                Err(status) => return Err(self.refused(status, channel).await),
            };
            *progressed = true;
            let item = StreamItem::try_from(response)
                .map_err(|e| Failure::Fatal(anyhow!(e).context("the server sent a bad item")))?;
            if self.print(item)? {
                return Ok(());
            }
        }
    }

    /// Prints one item if it is due; true once the plan is done.
    fn print(&mut self, item: StreamItem) -> Result<bool, Failure> {
        match item {
            StreamItem::Event(event) => {
                if self.position.event(&event).map_err(Failure::Fatal)? == Verdict::Repeat {
                    return Ok(false);
                }
                self.out.event(&event).map_err(Failure::Fatal)?;
                self.printed += 1;
                Ok(self.plan.count.is_some_and(|count| self.printed >= count))
            }
            StreamItem::Watermark(mark) => {
                self.position.watermark(&mark).map_err(Failure::Fatal)?;
                if self.plan.watermarks {
                    self.out.watermark(&mark).map_err(Failure::Fatal)?;
                }
                Ok(self.plan.until_idle)
            }
        }
    }

    /// The failure for an error status of the Watch call or its stream;
    /// asks the node for its oldest seq when the history is gone.
    async fn refused(&self, status: Status, channel: Channel) -> Failure {
        if status.code() != Code::FailedPrecondition {
            return self.failure(status, "watching");
        }
        let from = self.position.next();
        let oldest = AdminClient::new(channel)
            .info(InfoRequest {})
            .await
            .map(|info| info.into_inner().oldest_seq);
        let err = match oldest {
            Ok(oldest) => anyhow!(
                "the node no longer keeps seq {from}: its oldest retained seq is {oldest} \
                 (server: {}); rerun with --from {oldest} to read what is left (the changes \
                 before it are gone), or with --from 0 to follow new changes only",
                connect::describe(&status)
            ),
            Err(_) => anyhow!(
                "the node no longer keeps seq {from} ({})",
                connect::describe(&status)
            ),
        };
        Failure::Fatal(err)
    }

    fn failure(&self, status: Status, doing: &str) -> Failure {
        let err = anyhow!(
            "{doing} on {} failed: {}",
            self.endpoint.uri(),
            connect::describe(&status)
        );
        if connect::is_transient(&status) {
            Failure::Broken(err)
        } else {
            Failure::Fatal(err)
        }
    }
}

fn stdout_failure(err: std::io::Error) -> Failure {
    Failure::Fatal(anyhow::Error::from(err).context("writing to stdout"))
}
