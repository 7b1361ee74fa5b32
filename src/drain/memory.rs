//! [`MemoryDrainQueue`]: an in-memory [`DrainQueue`] that records every message sent with its
//! delay, for unit tests of retirement without SQS.
//!
//! Compiled only for this crate's own tests and with the cargo feature `test-doubles`, like
//! [`crate::store::memory`], and for the same reason: test equipment, not part of a release build.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::message::DrainMessage;
use super::queue::{DrainQueue, QueueError, MAX_SQS_DELAY};

/// One recorded send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The message.
    pub message: DrainMessage,
    /// The delay it was sent with, clamped to [`MAX_SQS_DELAY`] as SQS would.
    pub delay: Duration,
}

#[derive(Debug, Default)]
struct State {
    sent: Vec<SentMessage>,
    fail_next: usize,
}

/// Records sends instead of making them. Clones share one record.
#[derive(Debug, Clone, Default)]
pub struct MemoryDrainQueue {
    state: Arc<Mutex<State>>,
}

impl MemoryDrainQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message sent so far, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.state.lock().expect("queue lock").sent.clone()
    }

    /// Makes the next send fail with a transient error (nothing recorded).
    pub fn fail_next(&self) {
        self.state.lock().expect("queue lock").fail_next += 1;
    }
}

impl DrainQueue for MemoryDrainQueue {
    async fn send(&self, message: &DrainMessage, delay: Duration) -> Result<(), QueueError> {
        let mut state = self.state.lock().expect("queue lock");
        if state.fail_next > 0 {
            state.fail_next -= 1;
            return Err(QueueError::Transient("injected failure".into()));
        }
        state.sent.push(SentMessage {
            message: message.clone(),
            delay: delay.min(MAX_SQS_DELAY),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::DRAIN_MESSAGE_VERSION;
    use genesys_core::classify::Classify;
    use time::OffsetDateTime;

    fn message() -> DrainMessage {
        let now = OffsetDateTime::now_utc();
        DrainMessage {
            version: DRAIN_MESSAGE_VERSION,
            secret_arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-abcdef".into(),
            client_id: "c1".into(),
            client_name: "crm-rot-v1".into(),
            secret_version_id: "v1".into(),
            retired_at: now,
            not_before: now + Duration::from_secs(7200),
        }
    }

    #[tokio::test]
    async fn sends_are_recorded_with_their_delay_clamped_as_sqs_does() {
        // GIVEN an empty queue
        let queue = MemoryDrainQueue::new();
        // WHEN a message is sent with a short delay and one with a delay beyond SQS's maximum
        queue.send(&message(), Duration::from_secs(60)).await.unwrap();
        queue.send(&message(), Duration::from_secs(7200)).await.unwrap();
        // THEN both are recorded, the second delay clamped to 900 s
        let sent = queue.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].message.client_id, "c1");
        assert_eq!(sent[0].delay, Duration::from_secs(60));
        assert_eq!(sent[1].delay, MAX_SQS_DELAY);
    }

    #[tokio::test]
    async fn an_injected_failure_fails_the_next_send_only() {
        // GIVEN a queue whose next send fails
        let queue = MemoryDrainQueue::new();
        queue.fail_next();
        // WHEN two sends are made
        let first = queue.send(&message(), Duration::ZERO).await;
        let second = queue.send(&message(), Duration::ZERO).await;
        // THEN the first fails retryably and is not recorded; the second is
        assert!(first.is_err_and(|e| e.is_retryable()));
        assert!(second.is_ok());
        assert_eq!(queue.sent().len(), 1);
    }
}
