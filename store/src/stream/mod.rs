//! The change stream: every committed mutation as a [`ChangeEvent`], for
//! any number of subscribers, from any seq still in the AOF.
//!
//! A bounded ring of recent batches (`ring`) serves subscribers that keep
//! up; one that falls off its tail reads the AOF segments from its own
//! position (`catchup`) and rejoins the ring when it reaches it. Events are
//! published only once their record is committed to the file, and writers
//! never wait for subscribers.
//!
//! [`ChangeEvent`]: fluxkv_schemas::ChangeEvent

pub(crate) mod catchup;
pub(crate) mod ring;
mod subscription;

pub use subscription::{Identity, Subscription, SubscriptionStats};
