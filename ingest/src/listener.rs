//! Binding the listening sockets every server starts from.

use crate::error::IngestError;
use std::net::SocketAddr;

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
