//! The lifecycle every server shares: bind a listening socket, serve,
//! and at shutdown drain open requests for at most a grace period.

use crate::error::IngestError;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Binds a listening socket on `addr` (port 0: any free port) and returns
/// it with the address actually bound; shared by every server.
pub(crate) async fn bind_listener(
    addr: &str,
) -> Result<(tokio::net::TcpListener, SocketAddr), IngestError> {
    let bind_error = |source| IngestError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
    Ok((listener, local_addr))
}

/// Runs `serve` (a server that stops accepting when `shutdown` is
/// cancelled and then drains) until it ends, waiting at most `grace` after
/// the cancellation: requests still open then are cut, so one stuck client
/// cannot hold up the node's shutdown. `what` names them in the warning.
pub(crate) async fn serve_with_grace<E>(
    serve: impl std::future::Future<Output = Result<(), E>>,
    shutdown: &CancellationToken,
    grace: Duration,
    what: &str,
) -> Result<(), E> {
    tokio::pin!(serve);
    tokio::select! {
        finished = &mut serve => finished,
        () = shutdown.cancelled() => match tokio::time::timeout(grace, &mut serve).await {
            Ok(finished) => finished,
            Err(_) => {
                tracing::warn!(?grace, "{what} still open after the shutdown grace period; closing");
                Ok(())
            }
        },
    }
}
