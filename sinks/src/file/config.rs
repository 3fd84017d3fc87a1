//! The file sink's settings.

use serde::Deserialize;
use std::path::PathBuf;

/// Where the files go and when a new one starts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The directory of the segment files; relative paths are under the
    /// data directory.
    pub dir: PathBuf,
    /// A new file starts once the current one passes this size.
    #[serde(default = "default_rotate_bytes")]
    pub rotate_bytes: u64,
}

fn default_rotate_bytes() -> u64 {
    64 << 20
}
