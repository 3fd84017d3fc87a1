//! Wall-clock time in milliseconds, swappable for tests.
//!
//! Expiry deadlines are absolute Unix milliseconds (EXPIREAT semantics), so
//! the store needs wall-clock time, not a monotonic instant; a manual clock
//! lets TTL tests move time without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The store's source of "now".
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The operating system's wall clock.
    #[default]
    System,
    /// A clock that only moves when told to; shared by all its clones.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A manual clock starting at `start_ms`.
    pub fn manual(start_ms: u64) -> Self {
        Clock::Manual(Arc::new(AtomicU64::new(start_ms)))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            Clock::Manual(ms) => ms.load(Ordering::Acquire),
        }
    }

    /// Moves a manual clock forward; does nothing to the system clock.
    pub fn advance_ms(&self, by: u64) {
        if let Clock::Manual(ms) = self {
            ms.fetch_add(by, Ordering::AcqRel);
        }
    }
}
