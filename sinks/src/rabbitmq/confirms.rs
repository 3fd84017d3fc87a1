//! A published batch's answer: the broker's publisher confirms and
//! returned messages, read apart from publishing, noted in `settled`, and
//! turned into the batch's [`Delivery`].

use super::message;
use super::settled::{Outcome, Settled};
use crate::error::SinkError;
use crate::sink::{Delivery, Record};
use lapin::message::BasicReturnMessage;
use lapin::types::ShortString;
use lapin::{Confirmation, PublisherConfirm};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::{Instant, timeout_at};

/// What became of one published message.
#[derive(Debug)]
enum Answer {
    Ack,
    Nack,
    /// No answer: the connection failed or the broker went quiet.
    Lost(String),
}

/// A published batch's confirms to come, and what the answer needs to read
/// them.
pub(super) struct Confirms {
    pub(super) sink: String,
    pub(super) exchange: ShortString,
    pub(super) confirm_timeout: Duration,
    pub(super) settled: Arc<Mutex<Settled>>,
    pub(super) lost: Arc<AtomicBool>,
    pub(super) records: Arc<[Record]>,
    /// `records[from..]` were published (up to where publishing stopped).
    pub(super) from: usize,
    pub(super) confirms: Vec<PublisherConfirm>,
    /// Why publishing stopped before the last record.
    pub(super) stopped: Option<String>,
    pub(super) deadline: Instant,
}

impl Confirms {
    /// Waits for the broker's answer to each message, notes the leading
    /// run of records confirmed or returned, and answers for the batch.
    pub(super) async fn answer(mut self) -> Delivery {
        // Every confirm is awaited (past the deadline, each is only
        // polled), so every returned message is seen: the broker sends a
        // return before the confirm of the same message.
        let mut answers = Vec::with_capacity(self.confirms.len());
        let mut returned = Vec::new();
        for confirm in std::mem::take(&mut self.confirms) {
            answers.push(match timeout_at(self.deadline, confirm).await {
                Ok(Ok(Confirmation::Ack(ret))) => {
                    returned.extend(ret);
                    Answer::Ack
                }
                Ok(Ok(Confirmation::Nack(ret))) => {
                    returned.extend(ret);
                    Answer::Nack
                }
                Ok(Ok(Confirmation::NotRequested)) => {
                    Answer::Lost("the channel is not in confirm mode".into())
                }
                Ok(Err(err)) => Answer::Lost(format!("waiting for confirms: {err}")),
                Err(_) => Answer::Lost(format!(
                    "no publisher confirm within {:?}",
                    self.confirm_timeout
                )),
            });
        }
        let published = &self.records[self.from..];
        let mut unroutable = vec![None; published.len()];
        for message in returned {
            if let Some(index) = index_of(published, &message) {
                unroutable[index] = Some(self.unroutable_reason(&message));
            }
        }
        let mut stopped = self.stopped.take();
        if stopped.is_some() || answers.iter().any(|a| matches!(a, Answer::Lost(_))) {
            self.lost.store(true, Ordering::Release); // the channel's state is unknown
        }
        let mut answers = answers.into_iter();
        let mut outcomes = Vec::with_capacity(published.len());
        let mut failure = None;
        for (record, unroutable) in published.iter().zip(unroutable) {
            // A returned message reached no queue, whatever the confirm.
            let outcome = match (unroutable, answers.next()) {
                (Some(reason), Some(_)) => Outcome::Unroutable(reason),
                (None, Some(Answer::Ack)) => Outcome::Confirmed,
                (None, Some(Answer::Nack)) => {
                    failure = Some(SinkError::Nack {
                        sink: self.sink.clone(),
                        reason: format!(
                            "message {} was nacked: a queue refused it (full, with \
                             x-overflow = reject-publish?) or the broker could not store it",
                            message::message_id(&record.event)
                        ),
                    });
                    break;
                }
                (_, Some(Answer::Lost(reason))) => {
                    failure = Some(self.unavailable(reason));
                    break;
                }
                (_, None) => {
                    let reason = stopped.take().unwrap_or_else(|| "not published".into());
                    failure = Some(self.unavailable(reason));
                    break;
                }
            };
            outcomes.push((record.event.seq, outcome));
        }
        let mut settled = self.settled.lock();
        settled.note(outcomes);
        settled.resolve(&self.records, || {
            failure
                .unwrap_or_else(|| self.unavailable("publishing stopped without a reason".into()))
        })
    }

    fn unavailable(&self, reason: String) -> SinkError {
        SinkError::Unavailable {
            sink: self.sink.clone(),
            reason,
        }
    }

    fn unroutable_reason(&self, message: &BasicReturnMessage) -> String {
        format!(
            "unroutable: no queue bound for routing key {:?} on exchange {:?} ({} {})",
            message.delivery.routing_key.as_str(),
            self.exchange.as_str(),
            message.reply_code,
            message.reply_text
        )
    }
}

/// The position in `records` of a returned message, by its message id.
fn index_of(records: &[Record], message: &BasicReturnMessage) -> Option<usize> {
    let id = message.delivery.properties.message_id().as_ref()?;
    let seq = message::seq_of(id.as_str())?;
    let index = records.binary_search_by_key(&seq, |r| r.event.seq).ok()?;
    (message::message_id(&records[index].event) == id.as_str()).then_some(index)
}
