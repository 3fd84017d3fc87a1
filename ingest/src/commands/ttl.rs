//! Expiry commands: EXPIRE family, TTL family, PERSIST, and the conversion
//! of relative or absolute times into the store's absolute deadlines.

use super::args::{int, is, text};
use super::{CommandError, CommandResult, Context};
use fluxkv_store::{Deadline, ExpireCondition};

/// How a command expresses a time.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TimeUnit {
    RelativeSeconds,
    RelativeMillis,
    UnixSeconds,
    UnixMillis,
}

/// The absolute Unix-ms deadline for `amount` in `unit` at `now`. A time
/// before the epoch clamps to 0 (already past); overflow is an error.
pub(crate) fn deadline_from(
    unit: TimeUnit,
    amount: i64,
    now: u64,
    command: &str,
) -> Result<u64, CommandError> {
    let invalid = || CommandError::new(format!("ERR invalid expire time in '{command}' command"));
    let millis = match unit {
        TimeUnit::RelativeSeconds | TimeUnit::UnixSeconds => {
            amount.checked_mul(1000).ok_or_else(invalid)?
        }
        TimeUnit::RelativeMillis | TimeUnit::UnixMillis => amount,
    };
    let absolute = match unit {
        TimeUnit::RelativeSeconds | TimeUnit::RelativeMillis => {
            millis.checked_add(now as i64).ok_or_else(invalid)?
        }
        TimeUnit::UnixSeconds | TimeUnit::UnixMillis => millis,
    };
    Ok(absolute.max(0) as u64)
}

fn expire_generic(
    ctx: &mut Context<'_>,
    argv: &[&[u8]],
    unit: TimeUnit,
    command: &str,
) -> CommandResult {
    let amount = int(argv[2])?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for option in &argv[3..] {
        match () {
            () if is(option, "NX") => nx = true,
            () if is(option, "XX") => xx = true,
            () if is(option, "GT") => gt = true,
            () if is(option, "LT") => lt = true,
            () => {
                return Err(CommandError::new(format!(
                    "ERR Unsupported option {}",
                    text(option)
                )));
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CommandError::new(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CommandError::new(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    // GT already fails on a key without a deadline, so XX GT is just GT.
    let condition = match (nx, xx, gt, lt) {
        (true, ..) => ExpireCondition::IfNone,
        (_, _, true, _) => ExpireCondition::IfLater,
        (_, true, _, true) => ExpireCondition::IfSomeAndEarlier,
        (_, _, _, true) => ExpireCondition::IfEarlier,
        (_, true, ..) => ExpireCondition::IfSome,
        _ => ExpireCondition::Always,
    };
    let at = deadline_from(unit, amount, ctx.shared.store.now_ms(), command)?;
    let changed = ctx.shared.store.expire_at(argv[1], at, condition)?;
    let changed = ctx.logged(changed);
    ctx.reply.int(i64::from(changed));
    Ok(())
}

pub(crate) fn expire(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    expire_generic(ctx, argv, TimeUnit::RelativeSeconds, "expire")
}

pub(crate) fn pexpire(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    expire_generic(ctx, argv, TimeUnit::RelativeMillis, "pexpire")
}

pub(crate) fn expireat(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    expire_generic(ctx, argv, TimeUnit::UnixSeconds, "expireat")
}

pub(crate) fn pexpireat(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    expire_generic(ctx, argv, TimeUnit::UnixMillis, "pexpireat")
}

/// Replies -2 (no key), -1 (no deadline) or `f(deadline, now)`.
fn reply_deadline(
    ctx: &mut Context<'_>,
    key: &[u8],
    f: impl FnOnce(u64, u64) -> i64,
) -> CommandResult {
    let now = ctx.shared.store.now_ms();
    let value = match ctx.shared.store.deadline(key) {
        Deadline::NoKey => -2,
        Deadline::Never => -1,
        Deadline::At(at) => f(at, now),
    };
    ctx.reply.int(value);
    Ok(())
}

pub(crate) fn ttl(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    reply_deadline(ctx, argv[1], |at, now| {
        (at.saturating_sub(now) as i64 + 500) / 1000
    })
}

pub(crate) fn pttl(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    reply_deadline(ctx, argv[1], |at, now| at.saturating_sub(now) as i64)
}

pub(crate) fn expiretime(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    reply_deadline(ctx, argv[1], |at, _| (at / 1000) as i64)
}

pub(crate) fn pexpiretime(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    reply_deadline(ctx, argv[1], |at, _| at as i64)
}

pub(crate) fn persist(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let changed = ctx.shared.store.persist(argv[1])?;
    let changed = ctx.logged(changed);
    ctx.reply.int(i64::from(changed));
    Ok(())
}
