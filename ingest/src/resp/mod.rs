//! The Redis serialization protocol: requests in, replies out.

pub mod parser;
pub mod reply;
