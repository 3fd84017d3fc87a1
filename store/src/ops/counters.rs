//! INCR and friends: parse, add, store the result as its decimal string.

use crate::error::{Result, StoreError};
use crate::shard::Entry;
use crate::store::{Change, Logged, Store};
use bytes::Bytes;

impl Store {
    /// INCRBY (INCR, DECR, DECRBY are this with other deltas). A missing key
    /// counts as 0; the expiry is kept; the AOF gets the resulting value.
    pub fn incr_by(&self, key: &[u8], delta: i64) -> Result<Logged<i64>> {
        self.mutate(key, |current, _| {
            let now = match current {
                Some(entry) => parse_i64(&entry.value).ok_or(StoreError::NotAnInteger)?,
                None => 0,
            };
            let next = now.checked_add(delta).ok_or(StoreError::Overflow)?;
            let entry = Entry {
                value: Bytes::from(next.to_string()),
                expire_at_ms: current.and_then(|e| e.expire_at_ms),
            };
            Ok((Change::Put(entry), next))
        })
    }

    /// INCRBYFLOAT: returns the new value as stored (shortest decimal form
    /// that reads back as the same double, no exponent).
    pub fn incr_by_float(&self, key: &[u8], delta: f64) -> Result<Logged<Bytes>> {
        if !delta.is_finite() {
            return Err(StoreError::NanOrInfinity);
        }
        self.mutate(key, |current, _| {
            let now = match current {
                Some(entry) => parse_f64(&entry.value).ok_or(StoreError::NotAFloat)?,
                None => 0.0,
            };
            let next = now + delta;
            if !next.is_finite() {
                return Err(StoreError::NanOrInfinity);
            }
            let value = Bytes::from(format_f64(next));
            self.check_size(value.len())?;
            let entry = Entry {
                value: value.clone(),
                expire_at_ms: current.and_then(|e| e.expire_at_ms),
            };
            Ok((Change::Put(entry), value))
        })
    }
}

/// Parses a base-10 i64 exactly as Redis's `string2ll` does: optional `-`,
/// no `+`, no spaces, no leading zeros, at most 20 characters.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    if bytes == b"0" {
        return Some(0);
    }
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, bytes),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Parses a finite float with no surrounding spaces (Redis's `string2ld`).
pub fn parse_f64(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() || text.starts_with(|c: char| c.is_whitespace()) {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn format_f64(value: f64) -> String {
    // Rust's Display is the shortest round-trip form and never uses an
    // exponent, which matches Redis's "human friendly" INCRBYFLOAT output.
    let text = value.to_string();
    if text == "-0" { "0".into() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_i64_follows_redis() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-42"), Some(-42));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"1.0",
            b"-",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn floats_format_without_exponent_or_trailing_zeros() {
        assert_eq!(format_f64(10.5 + 0.1), "10.6");
        assert_eq!(format_f64(3.0), "3");
        assert_eq!(format_f64(5.0e3), "5000");
        assert_eq!(parse_f64(b"inf"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
    }
}
