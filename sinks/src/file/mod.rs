//! The file sink: rotating segment files on local disk — the substrate for
//! backups. JSON events as JSON lines, Avro events in Avro object container
//! files (readable by any Avro library), Protobuf as length-prefixed
//! records. A batch is acknowledged once it is fsynced.

mod avro_container;
mod config;
mod sink;

pub use config::FileConfig;
pub use sink::FileSink;
