//! Encoding replies, in RESP2 or RESP3 as the connection negotiated.
//!
//! Handlers write into one [`Reply`] buffer per connection; the connection
//! sends it with a single write once the batch's writes are committed.

use bytes::{BufMut, BytesMut};

/// Protocol version of a connection (HELLO switches it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// RESP2, the default.
    Resp2,
    /// RESP3.
    Resp3,
}

/// A connection's outgoing buffer.
#[derive(Debug)]
pub struct Reply {
    buf: BytesMut,
    /// The encoding in force.
    pub protocol: Protocol,
}

impl Reply {
    /// An empty buffer speaking RESP2.
    pub fn new() -> Self {
        Reply {
            buf: BytesMut::with_capacity(16 << 10),
            protocol: Protocol::Resp2,
        }
    }

    /// Bytes waiting to be sent.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Forgets everything buffered.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Buffered length.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// `+OK`.
    pub fn ok(&mut self) {
        self.buf.put_slice(b"+OK\r\n");
    }

    /// A simple string (`+text`); `text` must not contain CR or LF.
    pub fn simple(&mut self, text: &str) {
        self.buf.put_u8(b'+');
        self.buf.put_slice(text.as_bytes());
        self.buf.put_slice(b"\r\n");
    }

    /// An error reply. `text` starts with its code (`ERR`, `WRONGPASS`, …);
    /// line breaks are replaced so the reply cannot break framing.
    pub fn error(&mut self, text: &str) {
        self.buf.put_u8(b'-');
        for byte in text.bytes() {
            self.buf.put_u8(if byte == b'\r' || byte == b'\n' {
                b' '
            } else {
                byte
            });
        }
        self.buf.put_slice(b"\r\n");
    }

    /// An integer.
    pub fn int(&mut self, value: i64) {
        self.buf.put_u8(b':');
        self.put_decimal(value);
    }

    /// A bulk string.
    pub fn bulk(&mut self, data: &[u8]) {
        self.buf.reserve(data.len() + 16);
        self.buf.put_u8(b'$');
        self.put_decimal(data.len() as i64);
        self.buf.put_slice(data);
        self.buf.put_slice(b"\r\n");
    }

    /// A bulk string or the null reply.
    pub fn bulk_or_null(&mut self, data: Option<&[u8]>) {
        match data {
            Some(data) => self.bulk(data),
            None => self.null(),
        }
    }

    /// The null reply (`$-1` in RESP2, `_` in RESP3).
    pub fn null(&mut self) {
        match self.protocol {
            Protocol::Resp2 => self.buf.put_slice(b"$-1\r\n"),
            Protocol::Resp3 => self.buf.put_slice(b"_\r\n"),
        }
    }

    /// The header of an array of `len` elements; the caller writes them.
    pub fn array(&mut self, len: usize) {
        self.buf.put_u8(b'*');
        self.put_decimal(len as i64);
    }

    /// The header of a map of `len` pairs (an array of 2·len in RESP2).
    pub fn map(&mut self, len: usize) {
        match self.protocol {
            Protocol::Resp2 => self.array(len * 2),
            Protocol::Resp3 => {
                self.buf.put_u8(b'%');
                self.put_decimal(len as i64);
            }
        }
    }

    /// The header of a set (an array in RESP2).
    pub fn set(&mut self, len: usize) {
        match self.protocol {
            Protocol::Resp2 => self.array(len),
            Protocol::Resp3 => {
                self.buf.put_u8(b'~');
                self.put_decimal(len as i64);
            }
        }
    }

    /// Text meant for people (INFO): a verbatim string in RESP3, bulk in RESP2.
    pub fn verbatim(&mut self, text: &str) {
        match self.protocol {
            Protocol::Resp2 => self.bulk(text.as_bytes()),
            Protocol::Resp3 => {
                self.buf.put_u8(b'=');
                self.put_decimal(text.len() as i64 + 4);
                self.buf.put_slice(b"txt:");
                self.buf.put_slice(text.as_bytes());
                self.buf.put_slice(b"\r\n");
            }
        }
    }

    fn put_decimal(&mut self, value: i64) {
        self.buf
            .put_slice(itoa::Buffer::new().format(value).as_bytes());
        self.buf.put_slice(b"\r\n");
    }
}

impl Default for Reply {
    fn default() -> Self {
        Reply::new()
    }
}
