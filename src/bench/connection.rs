//! One benchmark connection: connecting (with optional AUTH), the PING
//! check, and the driver loop that sends pipelined batches and times replies.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::{Buf, BytesMut};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::budget::Budget;
use super::reply::{self, Reply};
use super::report::Tally;
use super::workload::Encoder;

/// A server that has not accepted within this long is reported as
/// unreachable rather than leaving the benchmark hanging.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Free space kept in the read buffer before each read, so one read can take
/// in many replies at once instead of a few bytes at a time.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct Connection {
    stream: TcpStream,
    /// Bytes received but not yet framed into replies.
    inbox: BytesMut,
}

impl Connection {
    /// Connects to `host:port` and, given a password, authenticates.
    pub(crate) async fn open(
        host: &str,
        port: u16,
        password: Option<&str>,
    ) -> anyhow::Result<Self> {
        let stream =
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port))).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => bail!("cannot connect to {host}:{port}: {e}"),
                Err(_) => {
                    bail!("cannot connect to {host}:{port}: no answer within {CONNECT_TIMEOUT:?}")
                }
            };
        // Requests are small and latency is what we measure: don't let Nagle
        // hold a batch back waiting for the previous one's ACK.
        stream.set_nodelay(true)?;
        let mut connection = Self {
            stream,
            inbox: BytesMut::with_capacity(READ_CHUNK),
        };
        if let Some(password) = password {
            let auth = encode_command(&["AUTH", password]);
            if let Err(error) = connection.call(&auth).await? {
                bail!("AUTH failed: {error}");
            }
        }
        Ok(connection)
    }

    /// Checks that the server answers PING with PONG.
    pub(crate) async fn ping(&mut self) -> anyhow::Result<()> {
        match self.call(&encode_command(&["PING"])).await? {
            Ok(reply) if reply == "PONG" => Ok(()),
            Ok(reply) => bail!("server answered PING with {reply:?} instead of PONG"),
            Err(error) => bail!("server answered PING with an error: {error}"),
        }
    }

    /// Sends one command and returns its status reply text, or its error text.
    async fn call(&mut self, command: &[u8]) -> anyhow::Result<Result<String, String>> {
        self.stream
            .write_all(command)
            .await
            .context("sending to server")?;
        loop {
            if let Some((len, reply)) = reply::parse(&self.inbox)? {
                let text = match reply {
                    Reply::Status(text) => Ok(String::from_utf8_lossy(text).into_owned()),
                    Reply::Error(text) => Err(String::from_utf8_lossy(text).into_owned()),
                    other => Ok(format!("{other:?}")),
                };
                self.inbox.advance(len);
                return Ok(text);
            }
            fill(&mut self.stream, &mut self.inbox).await?;
        }
    }

    /// Sends batches until `budget` runs out and returns what was observed.
    pub(crate) async fn drive(
        mut self,
        encoder: Arc<Encoder>,
        budget: Arc<Budget>,
        pipeline: usize,
    ) -> anyhow::Result<Tally> {
        let mut rng = SmallRng::from_rng(&mut rand::rng());
        let mut tally = Tally::new();
        // Reused for every batch: after the first one, encoding allocates nothing.
        let mut batch = Vec::new();
        loop {
            let count = budget.claim(pipeline);
            if count == 0 {
                return Ok(tally);
            }
            batch.clear();
            encoder.encode_batch(&mut rng, count, &mut batch);
            let sent = Instant::now();
            let (mut reader, mut writer) = self.stream.split();
            // Write and read concurrently: with big pipelines or values the
            // server may start answering (and fill its socket buffer) before
            // it has read the whole batch, and a write-then-read loop would
            // then deadlock against it.
            let write = async { writer.write_all(&batch).await.context("sending to server") };
            let read = receive(&mut reader, &mut self.inbox, count, sent, &mut tally);
            tokio::try_join!(write, read)?;
        }
    }
}

/// Reads until `count` replies have been framed, recording each one's latency
/// since `sent`.
async fn receive(
    reader: &mut (impl AsyncRead + Unpin),
    inbox: &mut BytesMut,
    mut count: usize,
    sent: Instant,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    // Nothing should be buffered before the batch's replies arrive, but frame
    // first anyway so leftover bytes are never mistaken for missing ones.
    let mut latency = sent.elapsed();
    loop {
        let mut framed = 0;
        while framed < count {
            let Some((len, reply)) = reply::parse(inbox)? else {
                break;
            };
            if let Reply::Error(text) = reply {
                tally.record_error(text);
            }
            inbox.advance(len);
            framed += 1;
        }
        if framed > 0 {
            tally.record(latency, framed as u64);
            count -= framed;
        }
        if count == 0 {
            return Ok(());
        }
        fill(reader, inbox).await?;
        // Every reply framed from this read arrived at the same moment, so
        // one clock read serves them all.
        latency = sent.elapsed();
    }
}

/// Reads whatever the server has sent next into `inbox`.
async fn fill(reader: &mut (impl AsyncRead + Unpin), inbox: &mut BytesMut) -> anyhow::Result<()> {
    // `reserve` reclaims the space of already framed replies when it can,
    // so this rarely allocates.
    inbox.reserve(READ_CHUNK);
    let read = reader
        .read_buf(inbox)
        .await
        .context("reading from server")?;
    if read == 0 {
        bail!("server closed the connection");
    }
    Ok(())
}

/// Encodes a command as a RESP array of bulk strings.
fn encode_command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}
