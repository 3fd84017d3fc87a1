//! Keys and query parameters as raw bytes: percent-decoding without the
//! detour through UTF-8 strings, so binary keys and prefixes survive.

use super::error::ApiError;
use percent_encoding::percent_decode;

/// The query string's `name=value` pairs in order; repeated names stay
/// repeated. `+` is a space (form encoding), then `%XX` escapes are
/// decoded. A pair without `=` has an empty value.
pub(crate) fn query_pairs(raw: Option<&str>) -> Vec<(String, Vec<u8>)> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = String::from_utf8_lossy(&decode_form(name)).into_owned();
            (name, decode_form(value))
        })
        .collect()
}

fn decode_form(text: &str) -> Vec<u8> {
    let spaced = text.replace('+', " ");
    percent_decode(spaced.as_bytes()).collect()
}

/// A path segment (or the rest of a path) as bytes: `%XX` decoded, `+`
/// kept as is (it is a literal in paths).
pub(crate) fn decode_path(text: &str) -> Vec<u8> {
    percent_decode(text.as_bytes()).collect()
}

/// A parameter's value as text.
pub(crate) fn text<'a>(name: &str, value: &'a [u8]) -> Result<&'a str, ApiError> {
    std::str::from_utf8(value)
        .map_err(|_| ApiError::bad_request(format!("query parameter {name} is not UTF-8")))
}

/// A non-negative integer parameter.
pub(crate) fn number(name: &str, value: &[u8]) -> Result<u64, ApiError> {
    text(name, value)?.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "query parameter {name} must be a non-negative integer, got {:?}",
            String::from_utf8_lossy(value)
        ))
    })
}

/// A boolean parameter: `true`/`1`/`false`/`0`, and a bare `name` (or
/// `name=`) is true.
pub(crate) fn flag(name: &str, value: &[u8]) -> Result<bool, ApiError> {
    match value {
        b"" | b"true" | b"1" => Ok(true),
        b"false" | b"0" => Ok(false),
        other => Err(ApiError::bad_request(format!(
            "query parameter {name} must be true or false, got {:?}",
            String::from_utf8_lossy(other)
        ))),
    }
}

/// The error for a parameter an endpoint does not take.
pub(crate) fn unknown(name: &str, known: &[&str]) -> ApiError {
    ApiError::bad_request(format!(
        "unknown query parameter {name:?} (this endpoint takes {})",
        known.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_decode_to_bytes_and_keep_repeats() {
        let pairs = query_pairs(Some("prefix=a%2Fb&prefix=%FF%00&op=set&nx&x=a+b%2B"));
        assert_eq!(
            pairs,
            vec![
                ("prefix".to_string(), b"a/b".to_vec()),
                ("prefix".to_string(), vec![0xff, 0x00]),
                ("op".to_string(), b"set".to_vec()),
                ("nx".to_string(), Vec::new()),
                ("x".to_string(), b"a b+".to_vec()),
            ]
        );
        assert!(query_pairs(None).is_empty());
        assert!(query_pairs(Some("")).is_empty());
    }

    #[test]
    fn paths_keep_plus_and_decode_escapes() {
        assert_eq!(decode_path("a+b%20c%2Fd%ff"), b"a+b c/d\xff".to_vec());
    }

    #[test]
    fn flags_and_numbers() {
        assert!(flag("nx", b"").unwrap());
        assert!(flag("nx", b"true").unwrap());
        assert!(!flag("nx", b"0").unwrap());
        assert_eq!(flag("nx", b"yes").unwrap_err().status, 400);
        assert_eq!(number("from", b"42").unwrap(), 42);
        assert!(number("from", b"-1").is_err());
    }
}
