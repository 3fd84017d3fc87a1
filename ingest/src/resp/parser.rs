//! Parsing client requests: RESP multibulk arrays and inline commands.
//!
//! The parser never copies: it returns each argument as a range into the
//! connection's read buffer, and reports `None` until a whole command is
//! there. Limits are checked as soon as a length is known, so a client
//! announcing a 10 GB bulk is refused before it sends a byte of it.

use std::ops::Range;

/// Bounds on what one request may contain.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest bulk string (Redis's `proto-max-bulk-len`).
    pub max_bulk_len: usize,
    /// Longest inline command line.
    pub max_inline_len: usize,
    /// Most arguments in one multibulk request.
    pub max_args: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 << 20,
            max_inline_len: 64 << 10,
            max_args: 1 << 20,
        }
    }
}

/// A request that violates the protocol: the connection gets this text as
/// an error reply and is then closed, as Redis does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

/// One parsed request: argument ranges into the buffer, or owned arguments
/// when an inline command needed unescaping.
#[derive(Debug, Default)]
pub struct Request {
    /// Arguments as ranges of the buffer passed to [`parse`].
    pub ranges: Vec<Range<usize>>,
    /// Arguments of an inline command (quotes and escapes resolved).
    pub inline: Vec<Vec<u8>>,
}

impl Request {
    /// The arguments, resolved against the buffer they were parsed from.
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        let ranged = self.ranges.iter().map(move |r| &buf[r.clone()]);
        let inline = self.inline.iter().map(Vec::as_slice);
        ranged.chain(inline)
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.ranges.len() + self.inline.len()
    }

    /// True for an empty request (a blank inline line or `*0`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn clear(&mut self) {
        self.ranges.clear();
        self.inline.clear();
    }
}

/// Parses one request from the start of `buf` into `req`. Returns the bytes
/// it used, or `None` when the request is not complete yet.
pub fn parse(
    buf: &[u8],
    limits: &Limits,
    req: &mut Request,
) -> Result<Option<usize>, ProtocolError> {
    req.clear();
    match buf.first() {
        None => Ok(None),
        Some(b'*') => parse_multibulk(buf, limits, req),
        Some(_) => parse_inline(buf, limits, req),
    }
}

fn parse_multibulk(
    buf: &[u8],
    limits: &Limits,
    req: &mut Request,
) -> Result<Option<usize>, ProtocolError> {
    let Some((count, mut pos)) = read_number_line(buf, 1, "mbulk count")? else {
        return Ok(None);
    };
    if count <= 0 {
        return Ok(Some(pos));
    }
    if count as u64 > limits.max_args as u64 {
        return Err(ProtocolError("invalid multibulk length".into()));
    }
    req.ranges.reserve(count as usize);
    for _ in 0..count {
        match buf.get(pos) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(&other) => {
                return Err(ProtocolError(format!(
                    "expected '$', got '{}'",
                    char::from(other).escape_default()
                )));
            }
        }
        let Some((len, data_start)) = read_number_line(buf, pos + 1, "bulk count")? else {
            return Ok(None);
        };
        if len < 0 || len as u64 > limits.max_bulk_len as u64 {
            return Err(ProtocolError("invalid bulk length".into()));
        }
        let data_end = data_start + len as usize;
        if buf.len() < data_end + 2 {
            return Ok(None);
        }
        if &buf[data_end..data_end + 2] != b"\r\n" {
            return Err(ProtocolError("bulk string not terminated by CRLF".into()));
        }
        req.ranges.push(data_start..data_end);
        pos = data_end + 2;
    }
    Ok(Some(pos))
}

/// Reads `<digits>\r\n` starting at `start`; returns the number and the
/// offset after the line.
fn read_number_line(
    buf: &[u8],
    start: usize,
    what: &str,
) -> Result<Option<(i64, usize)>, ProtocolError> {
    const MAX_LINE: usize = 32;
    let rest = &buf[start.min(buf.len())..];
    let Some(cr) = rest.iter().take(MAX_LINE + 1).position(|&b| b == b'\r') else {
        if rest.len() > MAX_LINE {
            return Err(ProtocolError(format!("too big {what} string")));
        }
        return Ok(None);
    };
    if rest.len() < cr + 2 {
        return Ok(None);
    }
    if rest[cr + 1] != b'\n' {
        return Err(ProtocolError(format!(
            "invalid {what}: line not terminated by CRLF"
        )));
    }
    let number = std::str::from_utf8(&rest[..cr])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| {
            ProtocolError(if what == "bulk count" {
                "invalid bulk length".into()
            } else {
                "invalid multibulk length".into()
            })
        })?;
    Ok(Some((number, start + cr + 2)))
}

fn parse_inline(
    buf: &[u8],
    limits: &Limits,
    req: &mut Request,
) -> Result<Option<usize>, ProtocolError> {
    let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > limits.max_inline_len {
            return Err(ProtocolError("too big inline request".into()));
        }
        return Ok(None);
    };
    if newline > limits.max_inline_len {
        return Err(ProtocolError("too big inline request".into()));
    }
    let line = buf[..newline]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..newline]);
    req.inline =
        split_args(line).ok_or_else(|| ProtocolError("unbalanced quotes in request".into()))?;
    Ok(Some(newline + 1))
}

/// Splits an inline command line the way Redis's `sdssplitargs` does:
/// whitespace separates, "double quotes" take \n \t \xHH escapes,
/// 'single quotes' take only \'. `None` on unbalanced quotes.
fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            return Some(args);
        }
        let mut arg = Vec::new();
        match line[i] {
            b'"' => {
                i += 1;
                loop {
                    match line.get(i)? {
                        b'\\' if line.len() > i + 3 && line[i + 1] == b'x' => {
                            let hex = std::str::from_utf8(&line[i + 2..i + 4]).ok();
                            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                                Some(byte) => {
                                    arg.push(byte);
                                    i += 4;
                                }
                                None => {
                                    arg.push(b'x');
                                    i += 2;
                                }
                            }
                        }
                        b'\\' if i + 1 < line.len() => {
                            arg.push(match line[i + 1] {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 8,
                                b'a' => 7,
                                other => other,
                            });
                            i += 2;
                        }
                        b'"' => {
                            i += 1;
                            break;
                        }
                        &c => {
                            arg.push(c);
                            i += 1;
                        }
                    }
                }
                // A closing quote must be followed by a space or the end.
                if i < line.len() && !line[i].is_ascii_whitespace() {
                    return None;
                }
            }
            b'\'' => {
                i += 1;
                loop {
                    match line.get(i)? {
                        b'\\' if line.get(i + 1) == Some(&b'\'') => {
                            arg.push(b'\'');
                            i += 2;
                        }
                        b'\'' => {
                            i += 1;
                            break;
                        }
                        &c => {
                            arg.push(c);
                            i += 1;
                        }
                    }
                }
                if i < line.len() && !line[i].is_ascii_whitespace() {
                    return None;
                }
            }
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    arg.push(line[i]);
                    i += 1;
                }
            }
        }
        args.push(arg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes used and the arguments, when a whole request was there.
    type Parsed = Option<(usize, Vec<Vec<u8>>)>;

    fn parse_all(input: &[u8]) -> Result<Parsed, ProtocolError> {
        let mut req = Request::default();
        Ok(parse(input, &Limits::default(), &mut req)?
            .map(|used| (used, req.args(input).map(<[u8]>::to_vec).collect())))
    }

    #[test]
    fn multibulk_complete_and_every_prefix_incomplete() {
        let frame = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva\r\nl\r\n";
        let (used, args) = parse_all(frame).unwrap().unwrap();
        assert_eq!(used, frame.len());
        assert_eq!(
            args,
            vec![b"SET".to_vec(), b"k".to_vec(), b"va\r\nl".to_vec()]
        );
        for cut in 0..frame.len() {
            assert!(parse_all(&frame[..cut]).unwrap().is_none(), "prefix {cut}");
        }
    }

    #[test]
    fn limits_are_checked_before_the_data_arrives() {
        let limits = Limits {
            max_bulk_len: 10,
            ..Limits::default()
        };
        let mut req = Request::default();
        let err = parse(b"*1\r\n$11\r\n", &limits, &mut req).unwrap_err();
        assert_eq!(err.to_string(), "Protocol error: invalid bulk length");
        let err = parse(&[b'x'; 70_000], &Limits::default(), &mut req).unwrap_err();
        assert_eq!(err.to_string(), "Protocol error: too big inline request");
    }

    #[test]
    fn malformed_frames_are_errors() {
        for (input, message) in [
            (&b"*1\r\n+OK\r\n"[..], "expected '$', got '+'"),
            (b"*x\r\n", "invalid multibulk length"),
            (b"*1\r\n$-5\r\n", "invalid bulk length"),
            (
                b"*1\r\n$2\r\nabcd\r\n",
                "bulk string not terminated by CRLF",
            ),
            (
                b"*1\r\n$123456789012345678901234567890123\r\n",
                "too big bulk count string",
            ),
        ] {
            let err = parse_all(input).unwrap_err();
            assert_eq!(err.0, message, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn inline_commands_split_like_redis() {
        let (used, args) = parse_all(b"set \"a b\" 'c\\'d' \"\\x41\\n\"\r\nrest")
            .unwrap()
            .unwrap();
        assert_eq!(used, 27);
        assert_eq!(
            args,
            vec![
                b"set".to_vec(),
                b"a b".to_vec(),
                b"c'd".to_vec(),
                b"A\n".to_vec()
            ]
        );
        assert!(parse_all(b"get \"unbalanced\n").is_err());
        assert_eq!(parse_all(b"\r\n").unwrap().unwrap().1.len(), 0);
    }
}
