//! The Redis-protocol run: check the server answers, open every connection,
//! let them all drive load until the budget is spent, then merge their
//! tallies.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::task::JoinSet;

use super::budget::Budget;
use super::connection::Connection;
use super::report::Tally;
use super::workload::Encoder;

/// Where and how to send the load.
#[derive(Debug)]
pub(crate) struct Target<'a> {
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    pub(crate) password: Option<&'a str>,
    pub(crate) connections: usize,
    pub(crate) pipeline: usize,
}

/// Runs the load and returns the merged tally and how long the load took.
pub(crate) async fn load(
    target: Target<'_>,
    encoder: Arc<Encoder>,
    budget: impl FnOnce() -> Budget,
) -> anyhow::Result<(Tally, Duration)> {
    let Target {
        host,
        port,
        password,
        connections: count,
        pipeline,
    } = target;
    // One probe first, so a wrong port or password fails once, clearly,
    // instead of fifty times over.
    Connection::open(host, port, password).await?.ping().await?;

    // Open every connection before starting the clock: connection setup is
    // not part of any request's latency.
    let mut opening = JoinSet::new();
    for _ in 0..count {
        let host = host.to_owned();
        let password = password.map(str::to_owned);
        opening.spawn(async move { Connection::open(&host, port, password.as_deref()).await });
    }
    let mut connections = Vec::with_capacity(count);
    while let Some(opened) = opening.join_next().await {
        connections.push(opened.context("connection task failed")??);
    }

    let budget = Arc::new(budget());
    let started = Instant::now();
    let mut drivers = JoinSet::new();
    for connection in connections {
        drivers.spawn(connection.drive(Arc::clone(&encoder), Arc::clone(&budget), pipeline));
    }
    let mut total = Tally::new();
    // An error on any connection ends the run: dropping `drivers` on the
    // early return aborts the rest.
    while let Some(finished) = drivers.join_next().await {
        total.merge(finished.context("connection task failed")??);
    }
    Ok((total, started.elapsed()))
}
