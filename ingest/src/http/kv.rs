//! `/v1/kv/{key}`: GET the raw value, PUT a value (acknowledged once
//! committed), DELETE.
//!
//! The key is the rest of the path after `/v1/kv/`, percent-decoded to raw
//! bytes (so `%2F` and `/` both make a `/`, and `%FF` a byte 0xFF).

use super::AppState;
use super::error::ApiError;
use super::params::{self, decode_path, query_pairs};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use fluxkv_store::{ExpirySpec, Logged, SetCondition, SetOptions, Store};
use serde_json::json;

/// The header carrying a key's absolute expiry, Unix milliseconds.
pub const EXPIRE_AT_HEADER: &str = "x-fluxkv-expire-at-ms";

const PREFIX: &str = "/v1/kv/";

/// The key named by the request path.
fn key_of(uri: &Uri) -> Result<Vec<u8>, ApiError> {
    let rest = uri
        .path()
        .strip_prefix(PREFIX)
        .ok_or_else(|| ApiError::not_found("no such endpoint"))?;
    let key = decode_path(rest);
    if key.is_empty() {
        return Err(ApiError::bad_request("the key is empty"));
    }
    Ok(key)
}

/// Waits until the write's record is committed; its seq, 0 when none.
async fn commit<T>(store: &Store, logged: &Logged<T>) -> Result<u64, ApiError> {
    match logged.seq {
        Some(seq) => {
            store.wait_committed(seq).await?;
            Ok(seq)
        }
        None => Ok(0),
    }
}

pub(crate) async fn get(State(state): State<AppState>, uri: Uri) -> Result<Response, ApiError> {
    let key = key_of(&uri)?;
    let found = state.store.read(&key, |entry| {
        entry.map(|e| (e.value.clone(), e.expire_at_ms))
    });
    let Some((value, expire_at_ms)) = found else {
        return Err(ApiError::not_found("no such key"));
    };
    let mut response = Response::new(Body::from(value));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(at) = expire_at_ms {
        headers.insert(EXPIRE_AT_HEADER, HeaderValue::from(at));
    }
    Ok(response)
}

/// PUT's query: `ttl_ms`, `expire_at_ms`, `keep_ttl`, `nx`, `xx`.
fn set_options(query: Option<&str>, now_ms: u64) -> Result<SetOptions, ApiError> {
    const KNOWN: [&str; 5] = ["ttl_ms", "expire_at_ms", "keep_ttl", "nx", "xx"];
    let (mut ttl_ms, mut expire_at_ms) = (None, None);
    let (mut keep_ttl, mut nx, mut xx) = (false, false, false);
    for (name, value) in query_pairs(query) {
        match name.as_str() {
            "ttl_ms" => ttl_ms = Some(params::number(&name, &value)?),
            "expire_at_ms" => expire_at_ms = Some(params::number(&name, &value)?),
            "keep_ttl" => keep_ttl = params::flag(&name, &value)?,
            "nx" => nx = params::flag(&name, &value)?,
            "xx" => xx = params::flag(&name, &value)?,
            _ => return Err(params::unknown(&name, &KNOWN)),
        }
    }
    let condition = match (nx, xx) {
        (true, true) => return Err(ApiError::bad_request("nx and xx exclude each other")),
        (true, false) => SetCondition::IfAbsent,
        (false, true) => SetCondition::IfPresent,
        (false, false) => SetCondition::Always,
    };
    let expiry = match (ttl_ms, expire_at_ms, keep_ttl) {
        (None, None, false) => ExpirySpec::Clear,
        (None, None, true) => ExpirySpec::Keep,
        (Some(0), None, false) => return Err(ApiError::bad_request("ttl_ms must be positive")),
        (Some(ttl), None, false) => ExpirySpec::At(
            now_ms
                .checked_add(ttl)
                .ok_or_else(|| ApiError::bad_request(format!("ttl_ms {ttl} is out of range")))?,
        ),
        (None, Some(0), false) => {
            return Err(ApiError::bad_request("expire_at_ms must be positive"));
        }
        (None, Some(at), false) => ExpirySpec::At(at),
        _ => {
            return Err(ApiError::bad_request(
                "give at most one of ttl_ms, expire_at_ms and keep_ttl",
            ));
        }
    };
    Ok(SetOptions {
        condition,
        expiry,
        return_old: false,
    })
}

pub(crate) async fn put(
    State(state): State<AppState>,
    uri: Uri,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let key = key_of(&uri)?;
    let options = set_options(query.as_deref(), state.store.now_ms())?;
    let value = body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!(
                "the value is larger than the limit of {} bytes",
                state.max_body_bytes
            )
        } else {
            rejection.body_text()
        };
        ApiError::new(status, message)
    })?;
    let logged = state.store.set(&key, &value, options)?;
    // A refused NX/XX may still have logged the reaping of an expired key:
    // wait for it too, but report no seq for a write not made.
    let seq = commit(&state.store, &logged).await?;
    let written = logged.value.written;
    let seq = if written { seq } else { 0 };
    Ok(Json(json!({ "seq": seq, "written": written })).into_response())
}

pub(crate) async fn delete(State(state): State<AppState>, uri: Uri) -> Result<Response, ApiError> {
    let key = key_of(&uri)?;
    let logged = state.store.del(&[&key])?;
    let seq = commit(&state.store, &logged).await?;
    let deleted = logged.value;
    let seq = if deleted > 0 { seq } else { 0 };
    Ok(Json(json!({ "deleted": deleted, "seq": seq })).into_response())
}
