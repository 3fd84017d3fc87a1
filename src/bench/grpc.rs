//! The gRPC run: `fluxkv.v1.KV` Get/Set over a few HTTP/2 channels with a
//! fixed number of requests in flight, each slot sending its next request
//! as soon as the previous one is answered (a closed loop, like RESP
//! connections without pipelining).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use fluxkv_schemas::proto::kv_client::KvClient;
use fluxkv_schemas::proto::{GetRequest, SetRequest};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::task::JoinSet;
use tonic::Status;
use tonic::transport::{Channel, Endpoint};

use super::budget::Budget;
use super::report::Tally;
use super::workload::{Request, Requests};
use crate::watch::connect;

/// Where and how to send the load.
#[derive(Debug)]
pub(crate) struct Target<'a> {
    pub(crate) endpoint: &'a Endpoint,
    /// HTTP/2 connections; the in-flight slots are spread over them.
    pub(crate) channels: usize,
    pub(crate) in_flight: usize,
}

/// Opens `count` HTTP/2 channels to `endpoint` and checks, with one Get,
/// that the first one serves the KV API.
pub(crate) async fn open(endpoint: &Endpoint, count: usize) -> anyhow::Result<Vec<Channel>> {
    let mut opening = JoinSet::new();
    for index in 0..count {
        let endpoint = endpoint.clone();
        opening.spawn(async move { (index, connect::connect(&endpoint).await) });
    }
    let mut channels = Vec::with_capacity(count);
    while let Some(opened) = opening.join_next().await {
        let (index, channel) = opened.context("connection task failed")?;
        channels.push((index, channel?));
    }
    channels.sort_by_key(|(index, _)| *index);
    let channels: Vec<Channel> = channels.into_iter().map(|(_, c)| c).collect();
    let probe = GetRequest {
        key: Bytes::from_static(b"fluxkv-bench:probe"),
    };
    if let Err(status) = KvClient::new(channels[0].clone()).get(probe).await {
        bail!(
            "{} does not answer fluxkv.v1.KV/Get: {}",
            endpoint.uri(),
            connect::describe(&status)
        );
    }
    Ok(channels)
}

/// Runs the load and returns the merged tally and how long the load took.
pub(crate) async fn load(
    target: Target<'_>,
    requests: Arc<Requests>,
    value: Bytes,
    budget: impl FnOnce() -> Budget,
) -> anyhow::Result<(Tally, Duration)> {
    // Every channel is connected (and checked) before the clock starts.
    let channels = open(target.endpoint, target.channels).await?;
    let budget = Arc::new(budget());
    let started = Instant::now();
    let mut slots = JoinSet::new();
    for slot in 0..target.in_flight {
        let client = KvClient::new(channels[slot % channels.len()].clone());
        slots.spawn(drive(
            client,
            Arc::clone(&requests),
            value.clone(),
            Arc::clone(&budget),
        ));
    }
    let mut total = Tally::new();
    // A broken connection ends the run: dropping `slots` on the early
    // return aborts the rest.
    while let Some(finished) = slots.join_next().await {
        total.merge(finished.context("request task failed")??);
    }
    Ok((total, started.elapsed()))
}

/// One in-flight slot: sends a request, waits for its answer, repeats
/// until the budget is spent.
async fn drive(
    mut client: KvClient<Channel>,
    requests: Arc<Requests>,
    value: Bytes,
    budget: Arc<Budget>,
) -> anyhow::Result<Tally> {
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    let mut tally = Tally::new();
    while budget.claim(1) == 1 {
        let request = requests.next(&mut rng);
        let sent = Instant::now();
        let answered = match request {
            Request::Get(key) => client.get(GetRequest { key }).await.map(drop),
            Request::Set(key) => client
                .set(SetRequest {
                    key,
                    value: value.clone(),
                    ..SetRequest::default()
                })
                .await
                .map(drop),
        };
        tally.record(sent.elapsed(), 1);
        if let Err(status) = answered {
            if is_connection_failure(&status) {
                bail!("gRPC request failed: {}", connect::describe(&status));
            }
            tally.record_error(connect::describe(&status).as_bytes());
        }
    }
    Ok(tally)
}

/// Whether `status` means the request never got an answer from the
/// server (the connection broke, or the server stopped serving) rather
/// than the server refusing this one request.
fn is_connection_failure(status: &Status) -> bool {
    // Statuses made on the client side carry the transport error as source.
    status.code() == tonic::Code::Unavailable || std::error::Error::source(status).is_some()
}
