//! The operations the store offers, one family per file. Each is built on
//! [`Store::mutate`](crate::Store) or on a locked [`ShardSet`](crate::store),
//! so every read-modify-write is atomic and logged as its resulting value.

pub(crate) mod counters;
pub(crate) mod keyspace;
pub(crate) mod strings;
pub(crate) mod ttl;
