//! `GET /v1/watch`: the change stream as Server-Sent Events.
//!
//! Each change is `event: change`, `id: <seq>`, `data: <JSON event>`; an
//! idle stream sends `event: watermark`, `id: <last_seq>`, `data: <JSON
//! watermark>` (the JSON codec of `fluxkv_schemas`). A client that
//! reconnects with `Last-Event-ID: N` (as `EventSource` does) resumes at
//! N + 1, so it sees every change once. Query: `from=SEQ` (inclusive;
//! absent or 0: changes after the call), `prefix=P` and `op=NAME`, both
//! repeatable (`op` also takes a comma-separated list).
//!
//! The body polls the subscription directly; a client that stops reading
//! only falls behind. The stream ends when the server shuts down, and
//! after an `event: error` when the store fails.

use super::AppState;
use super::error::ApiError;
use super::params::{self, query_pairs};
use crate::changes::{ChangeFilter, Start, Watch};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use bytes::Bytes;
use fluxkv_schemas::codec::json;
use fluxkv_schemas::{Op, StreamItem};
use futures_util::{Stream, StreamExt as _};
use std::convert::Infallible;

const KNOWN: [&str; 3] = ["from", "prefix", "op"];

/// Where to start and what to deliver.
fn parse(headers: &HeaderMap, query: Option<&str>) -> Result<(Start, ChangeFilter), ApiError> {
    let mut from = None;
    let mut filter = ChangeFilter::default();
    for (name, value) in query_pairs(query) {
        match name.as_str() {
            "from" => from = Some(params::number(&name, &value)?),
            "prefix" => filter.prefixes.push(Bytes::from(value)),
            "op" => {
                for op in params::text(&name, &value)?.split(',') {
                    let op: Op = op.trim().parse().map_err(ApiError::bad_request)?;
                    filter.ops.push(op);
                }
            }
            _ => return Err(params::unknown(&name, &KNOWN)),
        }
    }
    // The browser's reconnection header wins over the URL it reconnects to.
    let start = match headers.get("last-event-id") {
        Some(id) => {
            let id = id
                .to_str()
                .ok()
                .and_then(|id| id.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request("Last-Event-ID must be a seq (a non-negative integer)")
                })?;
            Start::At(id.saturating_add(1))
        }
        None => match from {
            None | Some(0) => Start::Now,
            Some(seq) => Start::At(seq),
        },
    };
    Ok((start, filter))
}

pub(crate) async fn watch(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let (start, filter) = parse(&headers, query.as_deref())?;
    let watch = Watch::open(
        &state.store,
        start,
        filter,
        state.watermark_interval,
        state.shutdown.child_token(),
    )?;
    let events = watch.into_stream().map(|item| {
        Ok(match item {
            Ok(item) => sse_event(&item),
            Err(err) => error_event(&err.to_string()),
        })
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(state.keep_alive_interval)))
}

fn sse_event(item: &StreamItem) -> Event {
    let mut data = Vec::with_capacity(128);
    let (kind, id, encoded) = match item {
        StreamItem::Event(event) => ("change", event.seq, json::encode_event(event, &mut data)),
        StreamItem::Watermark(mark) => (
            "watermark",
            mark.last_seq,
            json::encode_watermark(mark, &mut data),
        ),
    };
    if let Err(err) = encoded {
        return error_event(&format!("cannot encode seq {id}: {err}"));
    }
    // serde_json writes UTF-8 (binary keys and values are base64).
    let data = String::from_utf8(data).expect("JSON is UTF-8");
    Event::default().event(kind).id(id.to_string()).data(data)
}

fn error_event(message: &str) -> Event {
    Event::default()
        .event("error")
        .data(serde_json::json!({ "error": message }).to_string())
}
