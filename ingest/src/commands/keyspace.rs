//! Whole-key commands: DEL, EXISTS, TYPE, KEYS, SCAN, RANDOMKEY, RENAME,
//! DBSIZE, FLUSHALL.

use super::args::{int, is};
use super::{CommandError, CommandResult, Context};
use crate::glob;
use fluxkv_store::StoreError;

pub(crate) fn del(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let removed = ctx.shared.store.del(&argv[1..])?;
    let removed = ctx.logged(removed);
    ctx.reply.int(removed as i64);
    Ok(())
}

pub(crate) fn exists(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let count = ctx.shared.store.exists(&argv[1..]);
    ctx.reply.int(count as i64);
    Ok(())
}

pub(crate) fn type_of(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let exists = ctx.shared.store.exists(&argv[1..2]) > 0;
    ctx.reply.simple(if exists { "string" } else { "none" });
    Ok(())
}

pub(crate) fn keys(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let pattern = argv[1];
    let keys = ctx.shared.store.keys(|key| glob::matches(pattern, key));
    ctx.reply.array(keys.len());
    for key in keys {
        ctx.reply.bulk(&key);
    }
    Ok(())
}

pub(crate) fn scan(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let cursor = std::str::from_utf8(argv[1])
        .ok()
        .and_then(|c| c.parse::<u64>().ok())
        .ok_or_else(|| CommandError::new("ERR invalid cursor"))?;
    let mut pattern: Option<&[u8]> = None;
    let mut count = 10;
    let mut strings_only = true;
    let mut options = argv[2..].chunks(2);
    for option in options.by_ref() {
        let [name, value] = option else {
            return Err(CommandError::syntax());
        };
        if is(name, "MATCH") {
            pattern = Some(value);
        } else if is(name, "COUNT") {
            count = usize::try_from(int(value)?).map_err(|_| CommandError::syntax())?;
            if count == 0 {
                return Err(CommandError::syntax());
            }
        } else if is(name, "TYPE") {
            // Every fluxkv value is a string; any other type matches nothing.
            strings_only = is(value, "string");
        } else {
            return Err(CommandError::syntax());
        }
    }
    let (next, keys) = ctx.shared.store.scan(cursor, count, |key| {
        strings_only && pattern.is_none_or(|p| glob::matches(p, key))
    });
    ctx.reply.array(2);
    ctx.reply.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.reply.array(keys.len());
    for key in keys {
        ctx.reply.bulk(&key);
    }
    Ok(())
}

pub(crate) fn randomkey(ctx: &mut Context<'_>, _argv: &[&[u8]]) -> CommandResult {
    let key = ctx.shared.store.random_key();
    ctx.reply.bulk_or_null(key.as_deref());
    Ok(())
}

fn rename_generic(ctx: &mut Context<'_>, argv: &[&[u8]], only_if_absent: bool) -> CommandResult {
    let renamed = match ctx.shared.store.rename(argv[1], argv[2], only_if_absent) {
        Ok(renamed) => ctx.logged(renamed),
        Err(StoreError::NoSuchKey) => return Err(CommandError::new("ERR no such key")),
        Err(other) => return Err(other.into()),
    };
    if only_if_absent {
        ctx.reply.int(i64::from(renamed));
    } else {
        ctx.reply.ok();
    }
    Ok(())
}

pub(crate) fn rename(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    rename_generic(ctx, argv, false)
}

pub(crate) fn renamenx(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    rename_generic(ctx, argv, true)
}

pub(crate) fn dbsize(ctx: &mut Context<'_>, _argv: &[&[u8]]) -> CommandResult {
    let len = ctx.shared.store.len();
    ctx.reply.int(len as i64);
    Ok(())
}

pub(crate) fn flushall(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    match argv.get(1) {
        None => {}
        Some(mode) if argv.len() == 2 && (is(mode, "ASYNC") || is(mode, "SYNC")) => {}
        Some(_) => return Err(CommandError::syntax()),
    }
    let flushed = ctx.shared.store.flush_all()?;
    ctx.logged(flushed);
    ctx.reply.ok();
    Ok(())
}
