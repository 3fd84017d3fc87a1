//! Every command's spec: name, arity, flags, key positions, docs, handler.
//! COMMAND, COMMAND DOCS and the dispatcher all read this one table.

use super::{CommandResult, Context, connection, counters, keyspace, server, strings, ttl};
use std::collections::HashMap;
use std::sync::LazyLock;

pub(crate) type Handler = fn(&mut Context<'_>, &[&[u8]]) -> CommandResult;

/// Flag bits (named as Redis's COMMAND reports them).
pub(crate) const WRITE: u8 = 1;
pub(crate) const READONLY: u8 = 2;
pub(crate) const FAST: u8 = 4;
/// Allowed before AUTH.
pub(crate) const NO_AUTH: u8 = 8;

/// One command.
pub(crate) struct CommandSpec {
    /// Lower-case name.
    pub(crate) name: &'static str,
    /// Redis arity: exact when positive, a minimum when negative.
    pub(crate) arity: i32,
    pub(crate) flags: u8,
    pub(crate) first_key: i32,
    pub(crate) last_key: i32,
    pub(crate) step: i32,
    pub(crate) group: &'static str,
    pub(crate) summary: &'static str,
    pub(crate) since: &'static str,
    pub(crate) handler: Handler,
}

impl CommandSpec {
    pub(crate) fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    pub(crate) fn allowed_before_auth(&self) -> bool {
        self.flags & NO_AUTH != 0
    }

    pub(crate) fn flag_names(&self) -> Vec<&'static str> {
        [
            (WRITE, "write"),
            (READONLY, "readonly"),
            (FAST, "fast"),
            (NO_AUTH, "no_auth"),
        ]
        .into_iter()
        .filter(|(bit, _)| self.flags & bit != 0)
        .map(|(_, name)| name)
        .collect()
    }
}

macro_rules! spec {
    ($name:literal, $arity:expr, $flags:expr, ($first:expr, $last:expr, $step:expr), $group:literal, $since:literal, $summary:literal, $handler:path) => {
        CommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            first_key: $first,
            last_key: $last,
            step: $step,
            group: $group,
            summary: $summary,
            since: $since,
            handler: $handler,
        }
    };
}

const W: u8 = WRITE;
const WF: u8 = WRITE | FAST;
const RF: u8 = READONLY | FAST;
const R: u8 = READONLY;

/// All commands, in the order COMMAND lists them.
pub(crate) static COMMANDS: &[CommandSpec] = &[
    // connection
    spec!(
        "ping",
        -1,
        FAST,
        (0, 0, 0),
        "connection",
        "1.0.0",
        "Returns the server's liveliness response.",
        connection::ping
    ),
    spec!(
        "echo",
        2,
        FAST,
        (0, 0, 0),
        "connection",
        "1.0.0",
        "Returns the given string.",
        connection::echo
    ),
    spec!(
        "hello",
        -1,
        FAST | NO_AUTH,
        (0, 0, 0),
        "connection",
        "6.0.0",
        "Handshakes with the server.",
        connection::hello
    ),
    spec!(
        "auth",
        -2,
        FAST | NO_AUTH,
        (0, 0, 0),
        "connection",
        "1.0.0",
        "Authenticates the connection.",
        connection::auth
    ),
    spec!(
        "select",
        2,
        FAST,
        (0, 0, 0),
        "connection",
        "1.0.0",
        "Changes the selected database (only 0 exists).",
        connection::select
    ),
    spec!(
        "quit",
        -1,
        FAST | NO_AUTH,
        (0, 0, 0),
        "connection",
        "1.0.0",
        "Closes the connection.",
        connection::quit
    ),
    spec!(
        "client",
        -2,
        0,
        (0, 0, 0),
        "connection",
        "2.4.0",
        "Connection management: SETNAME, GETNAME, ID, SETINFO, INFO.",
        connection::client
    ),
    // server
    spec!(
        "command",
        -1,
        0,
        (0, 0, 0),
        "server",
        "2.8.13",
        "Returns detailed information about all commands.",
        server::command
    ),
    spec!(
        "config",
        -2,
        0,
        (0, 0, 0),
        "server",
        "2.0.0",
        "Reads configuration parameters (GET).",
        server::config
    ),
    spec!(
        "info",
        -1,
        0,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Returns information and statistics about the server.",
        server::info
    ),
    spec!(
        "bgrewriteaof",
        1,
        0,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Rewrites the AOF in the background: a base of the keyspace, then the log after it.",
        server::bgrewriteaof
    ),
    spec!(
        "dbsize",
        1,
        RF,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Returns the number of keys.",
        keyspace::dbsize
    ),
    spec!(
        "flushall",
        -1,
        W,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Removes all keys.",
        keyspace::flushall
    ),
    spec!(
        "flushdb",
        -1,
        W,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Removes all keys (the only database).",
        keyspace::flushall
    ),
    // strings
    spec!(
        "get",
        2,
        RF,
        (1, 1, 1),
        "string",
        "1.0.0",
        "Returns the string value of a key.",
        strings::get
    ),
    spec!(
        "set",
        -3,
        W,
        (1, 1, 1),
        "string",
        "1.0.0",
        "Sets the string value of a key, with optional conditions and expiry.",
        strings::set
    ),
    spec!(
        "setnx",
        3,
        WF,
        (1, 1, 1),
        "string",
        "1.0.0",
        "Sets a key only when it does not exist.",
        strings::setnx
    ),
    spec!(
        "setex",
        4,
        W,
        (1, 1, 1),
        "string",
        "2.0.0",
        "Sets a key with an expiry in seconds.",
        strings::setex
    ),
    spec!(
        "psetex",
        4,
        W,
        (1, 1, 1),
        "string",
        "2.6.0",
        "Sets a key with an expiry in milliseconds.",
        strings::psetex
    ),
    spec!(
        "getset",
        3,
        WF,
        (1, 1, 1),
        "string",
        "1.0.0",
        "Sets a key and returns its previous value.",
        strings::getset
    ),
    spec!(
        "getdel",
        2,
        WF,
        (1, 1, 1),
        "string",
        "6.2.0",
        "Returns a key's value and deletes it.",
        strings::getdel
    ),
    spec!(
        "getex",
        -2,
        WF,
        (1, 1, 1),
        "string",
        "6.2.0",
        "Returns a key's value and changes its expiry.",
        strings::getex
    ),
    spec!(
        "mget",
        -2,
        RF,
        (1, -1, 1),
        "string",
        "1.0.0",
        "Returns the values of several keys.",
        strings::mget
    ),
    spec!(
        "mset",
        -3,
        W,
        (1, -1, 2),
        "string",
        "1.0.1",
        "Sets several keys atomically.",
        strings::mset
    ),
    spec!(
        "msetnx",
        -3,
        W,
        (1, -1, 2),
        "string",
        "1.0.1",
        "Sets several keys only when none exists.",
        strings::msetnx
    ),
    spec!(
        "append",
        3,
        W,
        (1, 1, 1),
        "string",
        "2.0.0",
        "Appends to a key's value.",
        strings::append
    ),
    spec!(
        "strlen",
        2,
        RF,
        (1, 1, 1),
        "string",
        "2.2.0",
        "Returns the length of a value.",
        strings::strlen
    ),
    spec!(
        "getrange",
        4,
        R,
        (1, 1, 1),
        "string",
        "2.4.0",
        "Returns a substring of a value.",
        strings::getrange
    ),
    spec!(
        "setrange",
        4,
        W,
        (1, 1, 1),
        "string",
        "2.2.0",
        "Overwrites part of a value at an offset.",
        strings::setrange
    ),
    spec!(
        "incr",
        2,
        WF,
        (1, 1, 1),
        "string",
        "1.0.0",
        "Increments an integer value by one.",
        counters::incr
    ),
    spec!(
        "incrby",
        3,
        WF,
        (1, 1, 1),
        "string",
        "1.0.0",
        "Increments an integer value.",
        counters::incrby
    ),
    spec!(
        "incrbyfloat",
        3,
        WF,
        (1, 1, 1),
        "string",
        "2.6.0",
        "Increments a float value.",
        counters::incrbyfloat
    ),
    spec!(
        "decr",
        2,
        WF,
        (1, 1, 1),
        "string",
        "1.0.0",
        "Decrements an integer value by one.",
        counters::decr
    ),
    spec!(
        "decrby",
        3,
        WF,
        (1, 1, 1),
        "string",
        "1.0.0",
        "Decrements an integer value.",
        counters::decrby
    ),
    // generic
    spec!(
        "del",
        -2,
        W,
        (1, -1, 1),
        "generic",
        "1.0.0",
        "Deletes keys.",
        keyspace::del
    ),
    spec!(
        "unlink",
        -2,
        WF,
        (1, -1, 1),
        "generic",
        "4.0.0",
        "Deletes keys.",
        keyspace::del
    ),
    spec!(
        "exists",
        -2,
        RF,
        (1, -1, 1),
        "generic",
        "1.0.0",
        "Counts how many of the keys exist.",
        keyspace::exists
    ),
    spec!(
        "type",
        2,
        RF,
        (1, 1, 1),
        "generic",
        "1.0.0",
        "Returns the type of a key's value.",
        keyspace::type_of
    ),
    spec!(
        "keys",
        2,
        R,
        (0, 0, 0),
        "generic",
        "1.0.0",
        "Returns all keys matching a pattern.",
        keyspace::keys
    ),
    spec!(
        "scan",
        -2,
        R,
        (0, 0, 0),
        "generic",
        "2.8.0",
        "Iterates over the keys.",
        keyspace::scan
    ),
    spec!(
        "randomkey",
        1,
        R,
        (0, 0, 0),
        "generic",
        "1.0.0",
        "Returns a random key.",
        keyspace::randomkey
    ),
    spec!(
        "rename",
        3,
        W,
        (1, 2, 1),
        "generic",
        "1.0.0",
        "Renames a key, overwriting the target.",
        keyspace::rename
    ),
    spec!(
        "renamenx",
        3,
        WF,
        (1, 2, 1),
        "generic",
        "1.0.0",
        "Renames a key only when the target does not exist.",
        keyspace::renamenx
    ),
    spec!(
        "expire",
        -3,
        WF,
        (1, 1, 1),
        "generic",
        "1.0.0",
        "Sets a key's time to live in seconds.",
        ttl::expire
    ),
    spec!(
        "pexpire",
        -3,
        WF,
        (1, 1, 1),
        "generic",
        "2.6.0",
        "Sets a key's time to live in milliseconds.",
        ttl::pexpire
    ),
    spec!(
        "expireat",
        -3,
        WF,
        (1, 1, 1),
        "generic",
        "1.2.0",
        "Sets a key's expiry as a Unix time in seconds.",
        ttl::expireat
    ),
    spec!(
        "pexpireat",
        -3,
        WF,
        (1, 1, 1),
        "generic",
        "2.6.0",
        "Sets a key's expiry as a Unix time in milliseconds.",
        ttl::pexpireat
    ),
    spec!(
        "ttl",
        2,
        RF,
        (1, 1, 1),
        "generic",
        "1.0.0",
        "Returns a key's time to live in seconds.",
        ttl::ttl
    ),
    spec!(
        "pttl",
        2,
        RF,
        (1, 1, 1),
        "generic",
        "2.6.0",
        "Returns a key's time to live in milliseconds.",
        ttl::pttl
    ),
    spec!(
        "expiretime",
        2,
        RF,
        (1, 1, 1),
        "generic",
        "7.0.0",
        "Returns a key's expiry as a Unix time in seconds.",
        ttl::expiretime
    ),
    spec!(
        "pexpiretime",
        2,
        RF,
        (1, 1, 1),
        "generic",
        "7.0.0",
        "Returns a key's expiry as a Unix time in milliseconds.",
        ttl::pexpiretime
    ),
    spec!(
        "persist",
        2,
        WF,
        (1, 1, 1),
        "generic",
        "2.2.0",
        "Removes a key's expiry.",
        ttl::persist
    ),
];

static BY_NAME: LazyLock<HashMap<&'static [u8], &'static CommandSpec>> =
    LazyLock::new(|| COMMANDS.iter().map(|c| (c.name.as_bytes(), c)).collect());

/// Finds a command by name, case-insensitively, without allocating.
pub(crate) fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut lower = [0u8; 16];
    let lower = lower.get_mut(..name.len())?;
    for (out, byte) in lower.iter_mut().zip(name) {
        *out = byte.to_ascii_lowercase();
    }
    BY_NAME.get(&*lower).copied()
}
