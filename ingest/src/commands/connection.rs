//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, CLIENT.

use super::args::{int, is, text};
use super::{CommandError, CommandResult, Context};
use crate::resp::reply::Protocol;

pub(crate) fn ping(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    match argv {
        [_] => ctx.reply.simple("PONG"),
        [_, message] => ctx.reply.bulk(message),
        _ => {
            return Err(CommandError::new(
                "ERR wrong number of arguments for 'ping' command",
            ));
        }
    }
    Ok(())
}

pub(crate) fn echo(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    ctx.reply.bulk(argv[1]);
    Ok(())
}

pub(crate) fn quit(ctx: &mut Context<'_>, _argv: &[&[u8]]) -> CommandResult {
    ctx.session.closing = true;
    ctx.reply.ok();
    Ok(())
}

pub(crate) fn select(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    match int(argv[1]) {
        Ok(0) => {
            ctx.reply.ok();
            Ok(())
        }
        Ok(_) => Err(CommandError::new("ERR DB index is out of range")),
        Err(_) => Err(CommandError::new(
            "ERR value is not an integer or out of range",
        )),
    }
}

/// Checks a password against `requirepass` and marks the session.
fn authenticate(ctx: &mut Context<'_>, user: Option<&[u8]>, password: &[u8]) -> CommandResult {
    let wrongpass =
        || CommandError::new("WRONGPASS invalid username-password pair or user is disabled.");
    let Some(expected) = ctx.shared.config.requirepass.as_deref() else {
        // Without requirepass the default user takes any password (as in
        // Redis): only the one-argument form is refused.
        return match user {
            None => Err(CommandError::new(
                "ERR AUTH <password> called without any password configured for the default user. \
                 Are you sure your configuration is correct?",
            )),
            Some(b"default") => Ok(()),
            Some(_) => Err(wrongpass()),
        };
    };
    let user_ok = user.is_none_or(|u| u == b"default");
    if !(user_ok && constant_time_eq(expected.as_bytes(), password)) {
        return Err(wrongpass());
    }
    ctx.session.authenticated = true;
    Ok(())
}

/// Compares without an early exit, so timing does not reveal a prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn auth(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    match argv {
        [_, password] => authenticate(ctx, None, password)?,
        [_, user, password] => authenticate(ctx, Some(user), password)?,
        _ => return Err(CommandError::syntax()),
    }
    ctx.reply.ok();
    Ok(())
}

pub(crate) fn hello(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let mut protocol = ctx.reply.protocol;
    if let Some(version) = argv.get(1) {
        protocol = match int(version) {
            Ok(2) => Protocol::Resp2,
            Ok(3) => Protocol::Resp3,
            Ok(_) => return Err(CommandError::new("NOPROTO unsupported protocol version")),
            Err(_) => {
                return Err(CommandError::new(
                    "ERR Protocol version is not an integer or out of range",
                ));
            }
        };
    }
    let mut i = 2;
    while i < argv.len() {
        if is(argv[i], "AUTH") && i + 2 < argv.len() {
            authenticate(ctx, Some(argv[i + 1]), argv[i + 2])?;
            i += 3;
        } else if is(argv[i], "SETNAME") && i + 1 < argv.len() {
            ctx.session.set_name(argv[i + 1])?;
            i += 2;
        } else {
            return Err(CommandError::new(format!(
                "ERR Syntax error in HELLO option '{}'",
                text(argv[i])
            )));
        }
    }
    if !ctx.session.authenticated {
        return Err(CommandError::new(
            "NOAUTH HELLO must be called with the client already authenticated, \
             otherwise the HELLO <proto> AUTH <user> <pass> option can be used to \
             authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    ctx.reply.protocol = protocol;
    let reply = &mut *ctx.reply;
    reply.map(7);
    reply.bulk(b"server");
    reply.bulk(b"redis");
    reply.bulk(b"version");
    reply.bulk(crate::REDIS_COMPAT_VERSION.as_bytes());
    reply.bulk(b"proto");
    reply.int(if protocol == Protocol::Resp3 { 3 } else { 2 });
    reply.bulk(b"id");
    reply.int(ctx.session.id as i64);
    reply.bulk(b"mode");
    reply.bulk(b"standalone");
    reply.bulk(b"role");
    reply.bulk(b"master");
    reply.bulk(b"modules");
    reply.array(0);
    Ok(())
}

pub(crate) fn client(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let sub = argv[1];
    let arities = [
        ("setname", 3),
        ("getname", 2),
        ("id", 2),
        ("setinfo", 4),
        ("info", 2),
    ];
    match arities.iter().find(|(name, _)| is(sub, name)) {
        None => {
            return Err(CommandError::new(format!(
                "ERR unknown subcommand '{}'. Try CLIENT HELP.",
                text(sub)
            )));
        }
        Some((name, arity)) if argv.len() != *arity => {
            return Err(CommandError::new(format!(
                "ERR wrong number of arguments for 'client|{name}' command"
            )));
        }
        Some(_) => {}
    }
    if is(sub, "SETNAME") && argv.len() == 3 {
        ctx.session.set_name(argv[2])?;
        ctx.reply.ok();
    } else if is(sub, "GETNAME") && argv.len() == 2 {
        let name = ctx.session.name.clone();
        ctx.reply.bulk_or_null(name.as_deref().map(str::as_bytes));
    } else if is(sub, "ID") && argv.len() == 2 {
        ctx.reply.int(ctx.session.id as i64);
    } else if is(sub, "SETINFO") && argv.len() == 4 {
        // Client libraries announce their name and version; accepted, unused.
        ctx.reply.ok();
    } else if is(sub, "INFO") && argv.len() == 2 {
        let line = ctx.session.describe(ctx.reply.protocol);
        ctx.reply.verbatim(&line);
    } else {
        return Err(CommandError::new(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            text(sub)
        )));
    }
    Ok(())
}
