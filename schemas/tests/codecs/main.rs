//! Codec tests against the public API: round trips of every encoding, and
//! the Avro bytes as a consumer in another language reads them (with
//! `apache-avro` and nothing but the `.avsc` file).

mod avro_consumer;
mod docs;
mod roundtrip;
mod strategy;
