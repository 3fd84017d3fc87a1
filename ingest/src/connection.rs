//! One client connection: read, execute every complete request in the
//! buffer, wait once for the batch's writes to be committed, reply.
//!
//! Batching is what makes pipelining and group commit pay off: a client
//! that sends 16 SETs in one packet costs one AOF wait and one `write(2)`
//! of replies, not 16.

use crate::commands::{self, Context};
use crate::resp::parser::{self, ProtocolError, Request};
use crate::resp::reply::Reply;
use crate::server::Shared;
use crate::session::Session;
use bytes::{Buf, BytesMut};
use smallvec::SmallVec;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Replies are sent once this much is buffered even if more requests wait,
/// bounding memory for a client that pipelines huge GETs.
const REPLY_FLUSH_BYTES: usize = 256 << 10;
/// A client whose unparsed input exceeds this is cut off (Redis's
/// `client-query-buffer-limit`).
const QUERY_BUFFER_LIMIT: usize = 1 << 30;
const READ_CHUNK: usize = 16 << 10;

/// Serves one connection until the client leaves, a protocol error, or
/// shutdown (which lets the batch in progress finish first).
pub(crate) async fn serve(
    mut stream: TcpStream,
    shared: Arc<Shared>,
    mut session: Session,
    shutdown: CancellationToken,
) {
    shared.stats.connected.fetch_add(1, Ordering::Relaxed);
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut reply = Reply::new();
    let mut request = Request::default();
    loop {
        let batch = execute_buffered(&shared, &mut session, &mut reply, &mut request, &mut input);
        if batch.seq.is_none() && batch.commands > 0 {
            // Let the other ready connections on this worker run first, so
            // replies leave in a burst (as Redis sends them at the end of an
            // event-loop turn) and clients find many answers per wakeup. A
            // batch that logged something gets the same effect while it
            // waits for its AOF write.
            tokio::task::yield_now().await;
        }
        if let Some(seq) = batch.seq
            && let Err(err) = shared.store.wait_committed(seq).await
        {
            // Nothing in this batch may be acknowledged: every reply
            // becomes the error, in order, so the client can match them up.
            reply.clear();
            let text = crate::commands::CommandError::from(err).0;
            (0..batch.commands).for_each(|_| reply.error(&text));
        }
        if let Some(err) = &batch.protocol_error {
            reply.error(&format!("ERR {err}"));
        }
        if !reply.is_empty() {
            shared
                .stats
                .net_output_bytes
                .fetch_add(reply.len() as u64, Ordering::Relaxed);
            if stream.write_all(reply.pending()).await.is_err() {
                break;
            }
            reply.clear();
        }
        if batch.protocol_error.is_some() || session.closing {
            break;
        }
        if batch.more_buffered {
            continue;
        }
        if input.len() > QUERY_BUFFER_LIMIT {
            let _ = stream
                .write_all(b"-ERR Protocol error: query buffer limit exceeded\r\n")
                .await;
            break;
        }
        input.reserve(READ_CHUNK);
        let read = tokio::select! {
            read = stream.read_buf(&mut input) => read,
            () = shutdown.cancelled() => break,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                shared
                    .stats
                    .net_input_bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
    shared.stats.connected.fetch_sub(1, Ordering::Relaxed);
}

/// What executing the buffered requests produced.
struct Batch {
    commands: usize,
    /// Highest seq logged by the batch: wait for it before replying.
    seq: Option<u64>,
    protocol_error: Option<ProtocolError>,
    /// Complete requests are still buffered (the reply buffer filled up).
    more_buffered: bool,
}

fn execute_buffered(
    shared: &Shared,
    session: &mut Session,
    reply: &mut Reply,
    request: &mut Request,
    input: &mut BytesMut,
) -> Batch {
    let mut batch = Batch {
        commands: 0,
        seq: None,
        protocol_error: None,
        more_buffered: false,
    };
    let mut ctx = Context {
        shared,
        session,
        reply,
        seq: None,
    };
    let mut consumed = 0;
    loop {
        let rest = &input[consumed..];
        match parser::parse(rest, &shared.config.limits, request) {
            Ok(Some(used)) => {
                if !request.is_empty() {
                    let argv: SmallVec<[&[u8]; 8]> = request.args(rest).collect();
                    commands::execute(&mut ctx, &argv);
                    batch.commands += 1;
                }
                consumed += used;
                if ctx.session.closing {
                    break;
                }
                if ctx.reply.len() >= REPLY_FLUSH_BYTES {
                    batch.more_buffered = consumed < input.len();
                    break;
                }
            }
            Ok(None) => break,
            Err(err) => {
                batch.protocol_error = Some(err);
                break;
            }
        }
    }
    input.advance(consumed);
    batch.seq = ctx.seq;
    shared
        .stats
        .commands
        .fetch_add(batch.commands as u64, Ordering::Relaxed);
    batch
}
