//! The command line: one subcommand per job, each owned by its module.

use clap::{Parser, Subcommand};

/// fluxkv — a key-value store whose change stream is a product of its own.
#[derive(Debug, Parser)]
#[command(name = "fluxkv", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a node: the Redis-protocol server over the AOF-backed store.
    Serve(crate::serve::ServeArgs),
    /// Inspect, repair and rewrite (compact) the AOF.
    Aof(crate::aof_tool::AofArgs),
    /// Load-test a node: any Redis-protocol server, or fluxkv's gRPC API
    /// (--grpc) and its change-event delivery (--watch-latency).
    Bench(crate::bench::BenchArgs),
    /// Print the node's change stream (gRPC Watch), one event per line.
    Watch(crate::watch::WatchArgs),
    /// Report on a running node's sinks.
    Sinks(crate::sinks_status::SinksArgs),
    /// Deliver a range of history from the AOF again: into a sink of the
    /// config, into a store over the Redis protocol, or counted (--dry-run).
    Replay(crate::replay::ReplayArgs),
    /// Write a consistent snapshot of the keyspace, or load one into an
    /// empty node.
    Snapshot(crate::snapshot::SnapshotArgs),
}
