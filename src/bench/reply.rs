//! Just enough of a RESP reply parser for a load generator: it frames one
//! reply at a time and says whether it was an error, without copying values.

use anyhow::{Context, bail};

/// One framed reply. Values are not decoded: the benchmark only needs to know
/// where a reply ends and whether it is an error.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply<'a> {
    /// `+OK`, `+PONG`: the text after `+`.
    Status(&'a [u8]),
    /// `-ERR ...`: the text after `-`.
    Error(&'a [u8]),
    /// `:42`.
    Integer,
    /// `$3\r\nabc`.
    Bulk,
    /// `$-1` (RESP2) or `_` (RESP3).
    Null,
}

/// Frames the reply at the start of `buf`: `Ok(None)` if more bytes are
/// needed, else the reply and how many bytes it took.
pub(crate) fn parse(buf: &[u8]) -> anyhow::Result<Option<(usize, Reply<'_>)>> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let Some(line_end) = find_crlf(buf)? else {
        return Ok(None);
    };
    let line = &buf[1..line_end];
    let after_line = line_end + 2;
    let reply = match kind {
        b'+' => Reply::Status(line),
        b'-' => Reply::Error(line),
        b':' => Reply::Integer,
        b'_' => Reply::Null,
        b'$' => {
            let len = std::str::from_utf8(line)
                .ok()
                .and_then(|text| text.parse::<i64>().ok())
                .with_context(|| format!("bad bulk length {:?}", String::from_utf8_lossy(line)))?;
            if len == -1 {
                return Ok(Some((after_line, Reply::Null)));
            }
            let Ok(len) = usize::try_from(len) else {
                bail!("bad bulk length {len}");
            };
            // Wait for the whole value and its CRLF; the value itself is
            // skipped, not scanned.
            let end = after_line + len + 2;
            if buf.len() < end {
                return Ok(None);
            }
            if &buf[end - 2..end] != b"\r\n" {
                bail!("bulk reply of {len} bytes not followed by CRLF");
            }
            return Ok(Some((end, Reply::Bulk)));
        }
        b'*' => bail!(
            "unexpected array reply: the benchmark only sends commands that answer with a single value"
        ),
        other => bail!("unsupported RESP reply type {:?}", char::from(other)),
    };
    Ok(Some((after_line, reply)))
}

/// Index of the `\r` of the first CRLF, or `None` if it has not arrived yet.
fn find_crlf(buf: &[u8]) -> anyhow::Result<Option<usize>> {
    let Some(cr) = buf.iter().position(|&b| b == b'\r') else {
        return Ok(None);
    };
    match buf.get(cr + 1) {
        None => Ok(None),
        Some(b'\n') => Ok(Some(cr)),
        Some(_) => bail!("malformed reply: CR not followed by LF"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(buf: &[u8]) -> (usize, Reply<'_>) {
        parse(buf).unwrap().expect("complete reply")
    }

    #[test]
    fn frames_each_scalar_type() {
        assert_eq!(one(b"+OK\r\n"), (5, Reply::Status(b"OK")));
        assert_eq!(one(b"-ERR nope\r\n+OK"), (11, Reply::Error(b"ERR nope")));
        assert_eq!(one(b":1234\r\n"), (7, Reply::Integer));
        assert_eq!(one(b"$3\r\nabc\r\n:1\r\n"), (9, Reply::Bulk));
        assert_eq!(one(b"$0\r\n\r\n"), (6, Reply::Bulk));
        assert_eq!(one(b"$-1\r\n"), (5, Reply::Null));
        assert_eq!(one(b"_\r\n"), (3, Reply::Null));
    }

    #[test]
    fn bulk_values_may_contain_crlf() {
        assert_eq!(one(b"$4\r\n\r\n\r\n\r\n"), (10, Reply::Bulk));
    }

    #[test]
    fn incomplete_replies_ask_for_more() {
        for partial in [
            &b""[..],
            b"+O",
            b"+OK\r",
            b"$3\r\nab",
            b"$3\r\nabc\r",
            b"$12",
        ] {
            assert_eq!(parse(partial).unwrap(), None, "{partial:?}");
        }
    }

    #[test]
    fn rejects_what_it_does_not_expect() {
        for bad in [
            &b"*1\r\n:1\r\n"[..],
            b"%1\r\n",
            b"$x\r\n",
            b"$-2\r\n",
            b"$1\r\nabc\r\n",
            b"+a\rb\r\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
