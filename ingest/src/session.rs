//! Per-connection state that commands read and change.

use crate::commands::CommandError;
use crate::resp::reply::Protocol;
use std::net::SocketAddr;
use std::time::Instant;

/// One client's connection state.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    pub(crate) name: Option<String>,
    /// False until AUTH succeeds when a password is required.
    pub(crate) authenticated: bool,
    /// Set by QUIT: reply, then close.
    pub(crate) closing: bool,
    connected_at: Instant,
}

impl Session {
    pub(crate) fn new(id: u64, peer: SocketAddr, needs_auth: bool) -> Self {
        Session {
            id,
            peer,
            name: None,
            authenticated: !needs_auth,
            closing: false,
            connected_at: Instant::now(),
        }
    }

    /// CLIENT SETNAME rules: printable ASCII without spaces; empty clears.
    pub(crate) fn set_name(&mut self, name: &[u8]) -> Result<(), CommandError> {
        if !name.iter().all(|b| (b'!'..=b'~').contains(b)) {
            return Err(CommandError::new(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            ));
        }
        self.name = (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned());
        Ok(())
    }

    /// The CLIENT INFO line.
    pub(crate) fn describe(&self, protocol: Protocol) -> String {
        format!(
            "id={} addr={} name={} age={} resp={}\n",
            self.id,
            self.peer,
            self.name.as_deref().unwrap_or(""),
            self.connected_at.elapsed().as_secs(),
            if protocol == Protocol::Resp3 { 3 } else { 2 }
        )
    }
}
