//! Every sink kind behind one type, dispatched with `match`, so the engine
//! is one concrete `Pipeline<AnySink>` for all of them.

use crate::config::{KindConfig, SinkConfig};
use crate::error::SinkError;
use crate::file::FileSink;
use crate::kafka::KafkaSink;
use crate::rabbitmq::RabbitMqSink;
use crate::sink::{Ack, Record, Sink};
use crate::stdout::StdoutSink;
use fluxkv_schemas::Encoding;
use std::path::Path;
use std::sync::Arc;

/// One of the built-in sinks.
#[derive(Debug)]
pub enum AnySink {
    /// Kafka.
    Kafka(KafkaSink),
    /// RabbitMQ.
    RabbitMq(RabbitMqSink),
    /// Files.
    File(FileSink),
    /// Standard output.
    Stdout(StdoutSink),
}

impl AnySink {
    /// Builds (and connects) the sink `config` describes.
    pub async fn build(
        name: &str,
        config: &SinkConfig,
        data_dir: &Path,
    ) -> Result<AnySink, SinkError> {
        Ok(match &config.kind {
            KindConfig::Kafka(kafka) => {
                AnySink::Kafka(KafkaSink::connect(name, kafka, config.encoding).await?)
            }
            KindConfig::RabbitMq(rabbit) => {
                AnySink::RabbitMq(RabbitMqSink::connect(name, rabbit, config.encoding).await?)
            }
            KindConfig::File(file) => {
                AnySink::File(FileSink::new(file, data_dir, config.encoding)?)
            }
            KindConfig::Stdout(_) => {
                AnySink::Stdout(StdoutSink::new(config.encoding == Encoding::Json))
            }
        })
    }
}

impl Sink for AnySink {
    async fn send(&mut self, records: Arc<[Record]>) -> Ack {
        match self {
            AnySink::Kafka(sink) => sink.send(records).await,
            AnySink::RabbitMq(sink) => sink.send(records).await,
            AnySink::File(sink) => sink.send(records).await,
            AnySink::Stdout(sink) => sink.send(records).await,
        }
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        match self {
            AnySink::Kafka(sink) => sink.close().await,
            AnySink::RabbitMq(sink) => sink.close().await,
            AnySink::File(sink) => sink.close().await,
            AnySink::Stdout(sink) => sink.close().await,
        }
    }
}
