//! Reaching a node's gRPC server: the endpoint for an `--addr`, and gRPC
//! statuses as messages a person can act on. Shared with `fluxkv bench`.

use std::time::Duration;

use anyhow::Context as _;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

/// A server that has not accepted within this long is reported as
/// unreachable rather than leaving the client hanging.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// HTTP/2 PINGs on an open connection this often, so a peer that vanished
/// without closing it (a dead host, a cut network) is noticed.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// A PING not answered within this long closes the connection.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// The endpoint for `addr`, a URL such as `http://127.0.0.1:50051`; a bare
/// `host:port` means plain-text HTTP/2 (`http://host:port`).
pub(crate) fn endpoint(addr: &str) -> anyhow::Result<Endpoint> {
    let url = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    let endpoint = Endpoint::from_shared(url.clone()).with_context(|| {
        format!("invalid gRPC address {addr:?} (expected e.g. http://127.0.0.1:50051)")
    })?;
    Ok(endpoint
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .keep_alive_while_idle(true))
}

/// Opens one HTTP/2 connection to `endpoint` now (not on first use).
pub(crate) async fn connect(endpoint: &Endpoint) -> anyhow::Result<Channel> {
    endpoint.connect().await.map_err(|err| {
        anyhow::anyhow!(
            "cannot connect to {}: {}",
            endpoint.uri(),
            with_causes(err.to_string(), std::error::Error::source(&err))
        )
    })
}

/// `status` as one line: the code's name, the server's message and, for
/// errors raised on the client side (a broken connection), their cause.
pub(crate) fn describe(status: &Status) -> String {
    with_causes(
        format!("{}: {}", code_name(status.code()), status.message()),
        std::error::Error::source(status),
    )
}

/// `text`, then each cause in `source`'s chain that says something new
/// (tonic, hyper and h2 often repeat a message one level down).
fn with_causes(mut text: String, mut source: Option<&(dyn std::error::Error + 'static)>) -> String {
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether `status` says the call could not be carried out (the connection
/// broke, the server is shutting down or overloaded) rather than that the
/// request itself is wrong: the same call may succeed on a new connection.
pub(crate) fn is_transient(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::Unknown
            | Code::Internal
            | Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::ResourceExhausted
    )
}

/// The code as the gRPC specification spells it (`FAILED_PRECONDITION`).
pub(crate) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_host_port_means_http() {
        assert_eq!(
            endpoint("127.0.0.1:50051").unwrap().uri().to_string(),
            "http://127.0.0.1:50051/"
        );
        assert_eq!(
            endpoint("http://localhost:1").unwrap().uri().to_string(),
            "http://localhost:1/"
        );
        assert!(endpoint("http://exa mple:1").is_err());
    }

    #[test]
    fn statuses_read_as_code_and_message() {
        let status = Status::failed_precondition("seq 1 is gone");
        assert_eq!(describe(&status), "FAILED_PRECONDITION: seq 1 is gone");
        assert!(!is_transient(&status));
        assert!(is_transient(&Status::unavailable("shutting down")));
    }
}
