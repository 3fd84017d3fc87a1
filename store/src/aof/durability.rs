//! How hard the AOF tries to reach the disk before a write is acknowledged.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The AOF fsync policy, named and behaving as Redis's `appendfsync`.
///
/// In every policy a write is acknowledged only after its record has been
/// handed to the kernel with `write(2)`, so a crash of the fluxkv process
/// (`kill -9`, panic, OOM kill) never loses an acknowledged write. The
/// policies differ in what survives a crash of the *machine* (power loss,
/// kernel panic):
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// `fdatasync` before every acknowledgement. Writes that arrive together
    /// share one `fdatasync` (group commit). Nothing acknowledged is lost.
    Always,
    /// `fdatasync` once a second in a background thread, never on the write
    /// path. A machine crash loses at most about the last two seconds.
    #[default]
    Everysec,
    /// Never `fdatasync` while running (only on rotation and clean shutdown);
    /// the kernel writes back when it chooses, typically within 30 s.
    No,
}

impl FsyncPolicy {
    /// The policy's name as written in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Everysec => "everysec",
            FsyncPolicy::No => "no",
        }
    }
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FsyncPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Ok(FsyncPolicy::Always),
            "everysec" => Ok(FsyncPolicy::Everysec),
            "no" => Ok(FsyncPolicy::No),
            other => Err(format!(
                "unknown fsync policy {other:?}: expected always, everysec or no"
            )),
        }
    }
}
