//! Turning command arguments into typed values, with Redis's error texts.

use super::CommandError;

/// Case-insensitive comparison of an argument with an ASCII keyword.
pub(crate) fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// A base-10 i64, as Redis parses integers.
pub(crate) fn int(arg: &[u8]) -> Result<i64, CommandError> {
    fluxkv_store::parse_i64(arg)
        .ok_or_else(|| CommandError::new("ERR value is not an integer or out of range"))
}

/// A finite float.
pub(crate) fn float(arg: &[u8]) -> Result<f64, CommandError> {
    fluxkv_store::parse_f64(arg).ok_or_else(|| CommandError::new("ERR value is not a valid float"))
}

/// A UTF-8 argument (names, patterns of config keys).
pub(crate) fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}
