//! INCR, INCRBY, INCRBYFLOAT, DECR, DECRBY.

use super::args::{float, int};
use super::{CommandError, CommandResult, Context};

fn add(ctx: &mut Context<'_>, key: &[u8], delta: i64) -> CommandResult {
    let value = ctx.shared.store.incr_by(key, delta)?;
    let value = ctx.logged(value);
    ctx.reply.int(value);
    Ok(())
}

pub(crate) fn incr(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    add(ctx, argv[1], 1)
}

pub(crate) fn decr(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    add(ctx, argv[1], -1)
}

pub(crate) fn incrby(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    add(ctx, argv[1], int(argv[2])?)
}

pub(crate) fn decrby(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let delta = int(argv[2])?;
    let negated = delta
        .checked_neg()
        .ok_or_else(|| CommandError::new("ERR decrement would overflow"))?;
    add(ctx, argv[1], negated)
}

pub(crate) fn incrbyfloat(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    // Redis accepts "inf" as a float and then refuses the result.
    let delta = float(argv[2]).map_err(|not_a_float| {
        match std::str::from_utf8(argv[2]).map(str::parse::<f64>) {
            Ok(Ok(x)) if x.is_infinite() => {
                CommandError::new("ERR increment would produce NaN or Infinity")
            }
            _ => not_a_float,
        }
    })?;
    let value = ctx.shared.store.incr_by_float(argv[1], delta)?;
    let value = ctx.logged(value);
    ctx.reply.bulk(&value);
    Ok(())
}
