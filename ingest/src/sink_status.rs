//! Sink statuses for the admin APIs. The binary runs the sinks and hands
//! the servers a source of their statuses; `ingest` serves them without
//! depending on the sinks crate (the two are siblings, see DESIGN.md).

use fluxkv_schemas::proto::SinkStatus;
use std::sync::Arc;

type StatusFn = dyn Fn() -> Vec<SinkStatus> + Send + Sync;

/// Where the admin APIs read sink statuses from (none by default).
#[derive(Clone, Default)]
pub struct SinkStatusSource(Option<Arc<StatusFn>>);

impl SinkStatusSource {
    /// A source that calls `statuses` on every request.
    pub fn new(statuses: impl Fn() -> Vec<SinkStatus> + Send + Sync + 'static) -> Self {
        SinkStatusSource(Some(Arc::new(statuses)))
    }

    /// The statuses now (empty when no sink runs).
    pub fn statuses(&self) -> Vec<SinkStatus> {
        self.0.as_ref().map(|f| f()).unwrap_or_default()
    }
}

impl std::fmt::Debug for SinkStatusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "SinkStatusSource(..)"
        } else {
            "SinkStatusSource(none)"
        })
    }
}
