//! `fluxkv`: the key-value store whose change stream is a product of its own.
//!
//! The binary is a thin shell: it parses the command line ([`cli`]), loads
//! configuration ([`config`]) and hands off to the subcommand's module.

mod aof_tool;
mod bench;
mod cli;
mod config;
mod replay;
mod serve;
mod sinks_status;
mod snapshot;
mod upkeep;
mod watch;

use clap::Parser;

/// mimalloc: the store allocates a key and a value per write and per
/// replayed record, from several threads; glibc malloc is measurably slower
/// at exactly that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let outcome = match cli.command {
        cli::Command::Serve(args) => serve::run(args),
        cli::Command::Aof(args) => aof_tool::run(args),
        cli::Command::Bench(args) => bench::run(args),
        cli::Command::Watch(args) => watch::run(args),
        cli::Command::Sinks(args) => sinks_status::run(args),
        cli::Command::Replay(args) => replay::run(args),
        cli::Command::Snapshot(args) => snapshot::run(args),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line; no
            // backtrace, even with RUST_BACKTRACE set: these are user errors.
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
