//! Where a pipeline's events come from: the store's change stream, which
//! never ends, or a finite history handed over through a channel, which
//! ends when its sender is dropped.

use crate::error::SinkError;
use fluxkv_schemas::{ChangeEvent, StreamItem};
use fluxkv_store::Subscription;
use tokio::sync::mpsc;

/// A source of change events, in seq order.
pub(crate) trait Source: Send {
    /// The next event or watermark; `None` once the source has ended.
    ///
    /// The engine polls this future alongside its acknowledgements and
    /// keeps it across them, but drops it on shutdown: dropping it must
    /// not lose an item that a later call would not return.
    fn next_item(&mut self) -> impl Future<Output = Result<Option<StreamItem>, SinkError>> + Send;
}

impl Source for Subscription {
    async fn next_item(&mut self) -> Result<Option<StreamItem>, SinkError> {
        Ok(Some(self.next().await?))
    }
}

impl Source for mpsc::Receiver<ChangeEvent> {
    async fn next_item(&mut self) -> Result<Option<StreamItem>, SinkError> {
        Ok(self.recv().await.map(StreamItem::Event))
    }
}
