//! String commands: GET, SET and its family, ranges, APPEND, MGET/MSET.

use super::args::{int, is};
use super::ttl::{TimeUnit, deadline_from};
use super::{CommandError, CommandResult, Context};
use fluxkv_store::{ExpirySpec, SetCondition, SetOptions};

pub(crate) fn get(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let reply = &mut *ctx.reply;
    ctx.shared.store.read(argv[1], |entry| {
        reply.bulk_or_null(entry.map(|e| &e.value[..]))
    });
    Ok(())
}

pub(crate) fn set(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let now = ctx.shared.store.now_ms();
    let mut options = SetOptions::default();
    let mut expiry_given = false;
    // Like Redis, the expire time is parsed only once every option is known
    // to be valid: a syntax error wins over a bad number.
    let mut expiry: Option<(TimeUnit, &[u8])> = None;
    let mut i = 3;
    while i < argv.len() {
        let arg = argv[i];
        let unit = if is(arg, "EX") {
            Some(TimeUnit::RelativeSeconds)
        } else if is(arg, "PX") {
            Some(TimeUnit::RelativeMillis)
        } else if is(arg, "EXAT") {
            Some(TimeUnit::UnixSeconds)
        } else if is(arg, "PXAT") {
            Some(TimeUnit::UnixMillis)
        } else {
            None
        };
        if let Some(unit) = unit {
            let value = argv.get(i + 1).ok_or_else(CommandError::syntax)?;
            if expiry_given {
                return Err(CommandError::syntax());
            }
            expiry_given = true;
            expiry = Some((unit, value));
            i += 2;
            continue;
        }
        if is(arg, "NX") && options.condition != SetCondition::IfPresent {
            options.condition = SetCondition::IfAbsent;
        } else if is(arg, "XX") && options.condition != SetCondition::IfAbsent {
            options.condition = SetCondition::IfPresent;
        } else if is(arg, "GET") {
            options.return_old = true;
        } else if is(arg, "KEEPTTL") && !expiry_given {
            expiry_given = true;
            options.expiry = ExpirySpec::Keep;
        } else {
            return Err(CommandError::syntax());
        }
        i += 1;
    }
    if let Some((unit, value)) = expiry {
        let amount = int(value)?;
        if amount <= 0 {
            return Err(CommandError::new(
                "ERR invalid expire time in 'set' command",
            ));
        }
        options.expiry = ExpirySpec::At(deadline_from(unit, amount, now, "set")?);
    }
    let outcome = ctx.shared.store.set(argv[1], argv[2], options)?;
    let outcome = ctx.logged(outcome);
    if options.return_old {
        ctx.reply.bulk_or_null(outcome.old.as_deref());
    } else if outcome.written {
        ctx.reply.ok();
    } else {
        ctx.reply.null();
    }
    Ok(())
}

pub(crate) fn setnx(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let options = SetOptions {
        condition: SetCondition::IfAbsent,
        ..SetOptions::default()
    };
    let outcome = ctx.shared.store.set(argv[1], argv[2], options)?;
    let written = ctx.logged(outcome).written;
    ctx.reply.int(i64::from(written));
    Ok(())
}

pub(crate) fn setex(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    set_with_ttl(ctx, argv, TimeUnit::RelativeSeconds, "setex")
}

pub(crate) fn psetex(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    set_with_ttl(ctx, argv, TimeUnit::RelativeMillis, "psetex")
}

fn set_with_ttl(
    ctx: &mut Context<'_>,
    argv: &[&[u8]],
    unit: TimeUnit,
    command: &str,
) -> CommandResult {
    let amount = int(argv[2])?;
    if amount <= 0 {
        return Err(CommandError::new(format!(
            "ERR invalid expire time in '{command}' command"
        )));
    }
    let at = deadline_from(unit, amount, ctx.shared.store.now_ms(), command)?;
    let options = SetOptions {
        expiry: ExpirySpec::At(at),
        ..SetOptions::default()
    };
    let outcome = ctx.shared.store.set(argv[1], argv[3], options)?;
    ctx.logged(outcome);
    ctx.reply.ok();
    Ok(())
}

pub(crate) fn getset(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let options = SetOptions {
        return_old: true,
        ..SetOptions::default()
    };
    let outcome = ctx.shared.store.set(argv[1], argv[2], options)?;
    let old = ctx.logged(outcome).old;
    ctx.reply.bulk_or_null(old.as_deref());
    Ok(())
}

pub(crate) fn getdel(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let old = ctx.shared.store.get_del(argv[1])?;
    let old = ctx.logged(old);
    ctx.reply.bulk_or_null(old.as_deref());
    Ok(())
}

pub(crate) fn getex(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let now = ctx.shared.store.now_ms();
    let expiry = match argv.len() {
        2 => None,
        3 if is(argv[2], "PERSIST") => Some(ExpirySpec::Clear),
        4 => {
            let unit = [
                ("EX", TimeUnit::RelativeSeconds),
                ("PX", TimeUnit::RelativeMillis),
                ("EXAT", TimeUnit::UnixSeconds),
                ("PXAT", TimeUnit::UnixMillis),
            ]
            .into_iter()
            .find(|(name, _)| is(argv[2], name))
            .map(|(_, unit)| unit)
            .ok_or_else(CommandError::syntax)?;
            let amount = int(argv[3])?;
            if amount <= 0 {
                return Err(CommandError::new(
                    "ERR invalid expire time in 'getex' command",
                ));
            }
            Some(ExpirySpec::At(deadline_from(unit, amount, now, "getex")?))
        }
        _ => return Err(CommandError::syntax()),
    };
    let value = ctx.shared.store.get_ex(argv[1], expiry)?;
    let value = ctx.logged(value);
    ctx.reply.bulk_or_null(value.as_deref());
    Ok(())
}

pub(crate) fn mget(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    ctx.reply.array(argv.len() - 1);
    for key in &argv[1..] {
        let reply = &mut *ctx.reply;
        ctx.shared
            .store
            .read(key, |entry| reply.bulk_or_null(entry.map(|e| &e.value[..])));
    }
    Ok(())
}

/// MSET's key-value pairs, borrowed from the request.
type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

fn pairs<'a>(argv: &[&'a [u8]], command: &str) -> Result<Pairs<'a>, CommandError> {
    if argv.len().is_multiple_of(2) {
        return Err(CommandError::new(format!(
            "ERR wrong number of arguments for '{command}' command"
        )));
    }
    Ok(argv[1..].chunks_exact(2).map(|p| (p[0], p[1])).collect())
}

pub(crate) fn mset(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let pairs = pairs(argv, "mset")?;
    let done = ctx.shared.store.mset(&pairs, false)?;
    ctx.logged(done);
    ctx.reply.ok();
    Ok(())
}

pub(crate) fn msetnx(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let pairs = pairs(argv, "msetnx")?;
    let done = ctx.shared.store.mset(&pairs, true)?;
    let written = ctx.logged(done);
    ctx.reply.int(i64::from(written));
    Ok(())
}

pub(crate) fn append(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let len = ctx.shared.store.append(argv[1], argv[2])?;
    let len = ctx.logged(len);
    ctx.reply.int(len as i64);
    Ok(())
}

pub(crate) fn strlen(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let len = ctx.shared.store.strlen(argv[1]);
    ctx.reply.int(len as i64);
    Ok(())
}

pub(crate) fn getrange(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let (start, end) = (int(argv[2])?, int(argv[3])?);
    let value = ctx.shared.store.get_range(argv[1], start, end);
    ctx.reply.bulk(&value);
    Ok(())
}

pub(crate) fn setrange(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let offset = int(argv[2])?;
    let offset =
        usize::try_from(offset).map_err(|_| CommandError::new("ERR offset is out of range"))?;
    let len = ctx.shared.store.set_range(argv[1], offset, argv[3])?;
    let len = ctx.logged(len);
    ctx.reply.int(len as i64);
    Ok(())
}
