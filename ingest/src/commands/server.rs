//! Server commands: COMMAND (COUNT, DOCS, INFO), CONFIG GET, INFO.

use super::args::{is, text};
use super::table::{COMMANDS, CommandSpec, lookup};
use super::{CommandError, CommandResult, Context};
use crate::glob;
use std::fmt::Write;

pub(crate) fn command(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let Some(sub) = argv.get(1) else {
        ctx.reply.array(COMMANDS.len());
        COMMANDS.iter().for_each(|spec| command_info(ctx, spec));
        return Ok(());
    };
    if is(sub, "COUNT") {
        ctx.reply.int(COMMANDS.len() as i64);
    } else if is(sub, "INFO") {
        let specs: Vec<_> = if argv.len() == 2 {
            COMMANDS.iter().map(Some).collect()
        } else {
            argv[2..].iter().map(|name| lookup(name)).collect()
        };
        ctx.reply.array(specs.len());
        for spec in specs {
            match spec {
                Some(spec) => command_info(ctx, spec),
                None => ctx.reply.null(),
            }
        }
    } else if is(sub, "DOCS") {
        let specs: Vec<_> = if argv.len() == 2 {
            COMMANDS.iter().collect()
        } else {
            argv[2..].iter().filter_map(|name| lookup(name)).collect()
        };
        ctx.reply.map(specs.len());
        for spec in specs {
            ctx.reply.bulk(spec.name.as_bytes());
            ctx.reply.map(3);
            for (field, value) in [
                ("summary", spec.summary),
                ("since", spec.since),
                ("group", spec.group),
            ] {
                ctx.reply.bulk(field.as_bytes());
                ctx.reply.bulk(value.as_bytes());
            }
        }
    } else {
        return Err(CommandError::new(format!(
            "ERR unknown subcommand '{}'. Try COMMAND HELP.",
            text(sub)
        )));
    }
    Ok(())
}

/// One entry of COMMAND / COMMAND INFO, in Redis 7's ten-field layout.
fn command_info(ctx: &mut Context<'_>, spec: &CommandSpec) {
    let reply = &mut *ctx.reply;
    reply.array(10);
    reply.bulk(spec.name.as_bytes());
    reply.int(i64::from(spec.arity));
    let flags = spec.flag_names();
    reply.set(flags.len());
    for flag in flags {
        reply.simple(flag);
    }
    reply.int(i64::from(spec.first_key));
    reply.int(i64::from(spec.last_key));
    reply.int(i64::from(spec.step));
    reply.set(0); // ACL categories
    reply.set(0); // tips
    reply.array(0); // key specs
    reply.array(0); // subcommands
}

pub(crate) fn config(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    if !is(argv[1], "GET") {
        let unsupported = ["SET", "RESETSTAT", "REWRITE"];
        if unsupported.iter().any(|name| is(argv[1], name)) {
            return Err(CommandError::new(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Only CONFIG GET is supported.",
                text(argv[1])
            )));
        }
        return Err(CommandError::new(format!(
            "ERR unknown subcommand '{}'. Try CONFIG HELP.",
            text(argv[1])
        )));
    }
    if argv.len() < 3 {
        return Err(CommandError::new(
            "ERR wrong number of arguments for 'config|get' command",
        ));
    }
    let parameters = ctx.shared.config_parameters();
    let matching: Vec<_> = parameters
        .iter()
        .filter(|(name, _)| {
            argv[2..]
                .iter()
                .any(|p| glob::matches(&p.to_ascii_lowercase(), name.as_bytes()))
        })
        .collect();
    ctx.reply.map(matching.len());
    for (name, value) in matching {
        ctx.reply.bulk(name.as_bytes());
        ctx.reply.bulk(value.as_bytes());
    }
    Ok(())
}

pub(crate) fn info(ctx: &mut Context<'_>, argv: &[&[u8]]) -> CommandResult {
    let wanted: Vec<String> = argv[1..]
        .iter()
        .map(|s| text(s).to_ascii_lowercase())
        .collect();
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| w == "all" || w == "everything" || w == "default");
    let mut out = String::new();
    for (name, section) in ctx.shared.info_sections() {
        if all || wanted.iter().any(|w| w == name) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            let _ = write!(out, "# {}\r\n", capitalize(name));
            for (key, value) in section {
                let _ = write!(out, "{key}:{value}\r\n");
            }
        }
    }
    ctx.reply.verbatim(&out);
    Ok(())
}

/// BGREWRITEAOF: starts a rewrite on its own thread and replies at once,
/// as Redis does.
pub(crate) fn bgrewriteaof(ctx: &mut Context<'_>, _argv: &[&[u8]]) -> CommandResult {
    ctx.shared.store.start_rewrite()?;
    ctx.reply
        .simple("Background append only file rewriting started");
    Ok(())
}

fn capitalize(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}
