//! The Redis commands fluxkv answers: a table of specs ([`table`]) and one
//! file of handlers per family. A handler parses its arguments, calls the
//! store, and writes its reply; the connection acknowledges writes only
//! after the highest seq a batch logged is committed.

mod args;
mod connection;
mod counters;
mod keyspace;
mod server;
mod strings;
mod table;
mod ttl;

use crate::resp::reply::Reply;
use crate::server::Shared;
use crate::session::Session;
use fluxkv_store::{Logged, StoreError};
pub(crate) use table::lookup;

/// What a handler needs: the store, the server, its client's session, and
/// the reply buffer. `seq` collects the highest seq the batch logged.
pub(crate) struct Context<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) session: &'a mut Session,
    pub(crate) reply: &'a mut Reply,
    pub(crate) seq: Option<u64>,
}

impl Context<'_> {
    /// Unwraps a store result, remembering its seq for the acknowledgement.
    pub(crate) fn logged<T>(&mut self, logged: Logged<T>) -> T {
        if logged.seq.is_some() {
            self.seq = logged.seq;
        }
        logged.value
    }
}

/// A command that failed: the text of its error reply.
#[derive(Debug)]
pub(crate) struct CommandError(pub(crate) String);

impl CommandError {
    pub(crate) fn new(text: impl Into<String>) -> Self {
        CommandError(text.into())
    }

    pub(crate) fn syntax() -> Self {
        CommandError::new("ERR syntax error")
    }
}

impl From<StoreError> for CommandError {
    fn from(err: StoreError) -> Self {
        CommandError(match err {
            StoreError::ValueTooLarge { .. } => {
                "ERR string exceeds maximum allowed size (proto-max-bulk-len)".into()
            }
            StoreError::AofPoisoned { .. } => {
                format!("MISCONF Errors writing to the AOF file: {err}")
            }
            other => format!("ERR {other}"),
        })
    }
}

pub(crate) type CommandResult = Result<(), CommandError>;

/// Runs one request (`argv[0]` is the command name) and writes its reply.
pub(crate) fn execute(ctx: &mut Context<'_>, argv: &[&[u8]]) {
    let outcome = match lookup(argv[0]) {
        None => Err(unknown_command(argv)),
        Some(spec) if !spec.arity_ok(argv.len()) => Err(CommandError::new(format!(
            "ERR wrong number of arguments for '{}' command",
            spec.name
        ))),
        Some(spec) if !ctx.session.authenticated && !spec.allowed_before_auth() => {
            Err(CommandError::new("NOAUTH Authentication required."))
        }
        Some(spec) => (spec.handler)(ctx, argv),
    };
    if let Err(CommandError(text)) = outcome {
        ctx.reply.error(&text);
    }
}

fn unknown_command(argv: &[&[u8]]) -> CommandError {
    let mut text = format!(
        "ERR unknown command '{}', with args beginning with: ",
        String::from_utf8_lossy(argv[0])
    );
    for arg in argv.iter().skip(1).take(16) {
        text.push_str(&format!("'{}' ", String::from_utf8_lossy(arg)));
    }
    CommandError(text)
}
