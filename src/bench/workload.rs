//! What the load is made of: the workload choice, random key selection and
//! the RESP encoding of a pipeline batch into a reusable buffer, and the same
//! requests as gRPC messages.

use bytes::Bytes;
use rand::Rng;
use rand::rngs::SmallRng;

/// Which commands a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Workload {
    /// SET key value.
    Set,
    /// GET key.
    Get,
    /// GET with probability --read-ratio, SET otherwise.
    Mix,
}

/// Key numbers are zero-padded to this many digits so every key (and so every
/// command of one kind) has the same length: the RESP headers can then be
/// encoded once, up front.
const KEY_DIGITS: usize = 12;

/// The largest keyspace whose key numbers fit in [`KEY_DIGITS`] digits.
pub(crate) const MAX_KEYSPACE: u64 = 10u64.pow(KEY_DIGITS as u32);

/// Encodes batches of commands. Everything but the key digits is prepared in
/// [`Encoder::new`], so encoding a command is three `memcpy`s and a
/// 12-digit format.
#[derive(Debug)]
pub(crate) struct Encoder {
    /// `*3\r\n$3\r\nSET\r\n$<keylen>\r\n<prefix>`: a SET up to the key number.
    set_head: Vec<u8>,
    /// `\r\n$<len>\r\n<value>\r\n`: a SET after the key number.
    set_tail: Vec<u8>,
    /// `*2\r\n$3\r\nGET\r\n$<keylen>\r\n<prefix>`: a GET up to the key number.
    get_head: Vec<u8>,
    keyspace: u64,
    /// Probability that a command is a GET (1 for `get`, 0 for `set`).
    read_ratio: f64,
}

impl Encoder {
    /// `keyspace` must be in `1..=MAX_KEYSPACE` and `read_ratio` in `0..=1`
    /// (the caller validates both).
    pub(crate) fn new(
        workload: Workload,
        read_ratio: f64,
        keyspace: u64,
        key_prefix: &str,
        value_size: usize,
    ) -> Self {
        debug_assert!((1..=MAX_KEYSPACE).contains(&keyspace));
        let key_len = key_prefix.len() + KEY_DIGITS;
        let head = |command: &str, args: usize| {
            let mut head = format!(
                "*{args}\r\n${}\r\n{command}\r\n${key_len}\r\n",
                command.len()
            )
            .into_bytes();
            head.extend_from_slice(key_prefix.as_bytes());
            head
        };
        let mut set_tail = format!("\r\n${value_size}\r\n").into_bytes();
        // Like redis-benchmark, the value is a run of 'x': its content does
        // not matter to the server, only its size.
        set_tail.resize(set_tail.len() + value_size, b'x');
        set_tail.extend_from_slice(b"\r\n");
        let read_ratio = match workload {
            Workload::Set => 0.0,
            Workload::Get => 1.0,
            Workload::Mix => read_ratio,
        };
        Self {
            set_head: head("SET", 3),
            set_tail,
            get_head: head("GET", 2),
            keyspace,
            read_ratio,
        }
    }

    /// Appends `count` commands, each on a uniformly random key, to `buf`.
    pub(crate) fn encode_batch(&self, rng: &mut SmallRng, count: usize, buf: &mut Vec<u8>) {
        for _ in 0..count {
            let key = rng.random_range(0..self.keyspace);
            // `random::<f64>()` is in [0, 1), so a ratio of 1 always reads
            // and a ratio of 0 never does.
            if rng.random::<f64>() < self.read_ratio {
                buf.extend_from_slice(&self.get_head);
                push_key_digits(buf, key);
                buf.extend_from_slice(b"\r\n");
            } else {
                buf.extend_from_slice(&self.set_head);
                push_key_digits(buf, key);
                buf.extend_from_slice(&self.set_tail);
            }
        }
    }
}

/// One request of a gRPC run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    Get(Bytes),
    Set(Bytes),
}

/// Draws gRPC requests: the same keys and GET/SET choice as [`Encoder`],
/// as messages instead of RESP bytes.
#[derive(Debug)]
pub(crate) struct Requests {
    prefix: Vec<u8>,
    keyspace: u64,
    /// Probability that a request is a GET (1 for `get`, 0 for `set`).
    read_ratio: f64,
}

impl Requests {
    /// `keyspace` must be in `1..=MAX_KEYSPACE` and `read_ratio` in `0..=1`
    /// (the caller validates both).
    pub(crate) fn new(
        workload: Workload,
        read_ratio: f64,
        keyspace: u64,
        key_prefix: &str,
    ) -> Self {
        debug_assert!((1..=MAX_KEYSPACE).contains(&keyspace));
        let read_ratio = match workload {
            Workload::Set => 0.0,
            Workload::Get => 1.0,
            Workload::Mix => read_ratio,
        };
        Self {
            prefix: key_prefix.as_bytes().to_vec(),
            keyspace,
            read_ratio,
        }
    }

    /// The next request, on a uniformly random key.
    pub(crate) fn next(&self, rng: &mut SmallRng) -> Request {
        let mut key = Vec::with_capacity(self.prefix.len() + KEY_DIGITS);
        key.extend_from_slice(&self.prefix);
        push_key_digits(&mut key, rng.random_range(0..self.keyspace));
        if rng.random::<f64>() < self.read_ratio {
            Request::Get(key.into())
        } else {
            Request::Set(key.into())
        }
    }
}

/// A value of `size` bytes: a run of 'x', like redis-benchmark's (its
/// content does not matter to the server, only its size).
pub(crate) fn value(size: usize) -> Bytes {
    vec![b'x'; size].into()
}

/// Appends `n` as exactly [`KEY_DIGITS`] zero-padded decimal digits.
fn push_key_digits(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [b'0'; KEY_DIGITS];
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn encode(encoder: &Encoder, count: usize) -> String {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut buf = Vec::new();
        encoder.encode_batch(&mut rng, count, &mut buf);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn set_is_a_resp_array_of_bulk_strings() {
        let encoder = Encoder::new(Workload::Set, 0.5, 1, "key:", 3);
        assert_eq!(
            encode(&encoder, 1),
            "*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000000\r\n$3\r\nxxx\r\n"
        );
    }

    #[test]
    fn get_uses_the_prefix_and_padded_number() {
        let encoder = Encoder::new(Workload::Get, 0.0, 1, "p", 64);
        assert_eq!(
            encode(&encoder, 2),
            "*2\r\n$3\r\nGET\r\n$13\r\np000000000000\r\n".repeat(2)
        );
    }

    #[test]
    fn keys_stay_inside_the_keyspace() {
        let encoder = Encoder::new(Workload::Get, 0.0, 10, "", 0);
        let text = encode(&encoder, 1000);
        for line in text.lines().filter(|l| l.len() == KEY_DIGITS) {
            assert!(line.parse::<u64>().unwrap() < 10, "{line}");
        }
    }

    #[test]
    fn mix_sends_both_commands() {
        let encoder = Encoder::new(Workload::Mix, 0.5, 100, "k", 1);
        let text = encode(&encoder, 200);
        let gets = text.matches("GET").count();
        let sets = text.matches("SET").count();
        assert_eq!(gets + sets, 200);
        assert!(gets > 0 && sets > 0);
    }

    #[test]
    fn grpc_requests_use_the_same_keys() {
        let mut rng = SmallRng::seed_from_u64(7);
        let sets = Requests::new(Workload::Set, 0.5, 1, "key:");
        assert_eq!(
            sets.next(&mut rng),
            Request::Set(Bytes::from_static(b"key:000000000000"))
        );
        let gets = Requests::new(Workload::Get, 0.0, 1, "p");
        assert_eq!(
            gets.next(&mut rng),
            Request::Get(Bytes::from_static(b"p000000000000"))
        );
        let mix = Requests::new(Workload::Mix, 0.5, 100, "k");
        let reads = (0..200)
            .filter(|_| matches!(mix.next(&mut rng), Request::Get(_)))
            .count();
        assert!(reads > 0 && reads < 200, "{reads}");
        assert_eq!(value(3), Bytes::from_static(b"xxx"));
    }

    #[test]
    fn largest_key_number_fills_all_digits() {
        let mut buf = Vec::new();
        push_key_digits(&mut buf, MAX_KEYSPACE - 1);
        assert_eq!(buf, b"999999999999");
    }
}
