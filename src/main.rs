//! `fluxkv`: the key-value store whose change stream is a product of its own.
//!
//! The binary is a thin shell: it parses the command line ([`cli`]), loads
//! configuration ([`config`]) and hands off to the subcommand's module.

mod aof_tool;
mod bench;
mod cli;
mod config;
mod serve;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Serve(args) => serve::run(args),
        cli::Command::Aof(args) => aof_tool::run(args),
        cli::Command::Bench(args) => bench::run(args),
    }
}
