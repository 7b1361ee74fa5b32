//! The SQS side of drain and delete: a player of Lambda's event source mapping against moto, and
//! TestQueue, the drain queue that fails on demand.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use genesys_rotator::cleanup::Cleanup;
use genesys_rotator::drain::{DrainMessage, DrainQueue, QueueError, SqsDrainQueue};
use genesys_rotator::store::SecretStore;
use serde_json::json;
use time::OffsetDateTime;

use super::store::When;

/// One message the player handed to the function (ids and body shown in failure messages).
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receive_count: u32,
    pub body: String,
}

/// One received batch: the event for the function and the receipt handles to settle it with.
#[derive(Debug, Default)]
pub struct Batch {
    pub event: SqsEvent,
    pub handles: HashMap<String, String>,
    pub received: Vec<Received>,
}

/// What one batch delivery did.
#[derive(Debug, Default)]
pub struct Delivery {
    pub received: Vec<Received>,
    /// Message ids the function reported as batch item failures.
    pub failed: Vec<String>,
}

/// Plays Lambda's SQS event source mapping against moto (whose own trigger ignores delays and
/// partial batch responses): receive a batch, hand it to the cleanup, delete what succeeded,
/// make failures visible again at once (standing in for the visibility timeout). moto moves a
/// message to the DLQ itself once it has been received maxReceiveCount times (checked: the next
/// receive after the last allowed one redrives it); the player does the same if it ever sees a
/// count above the limit, so the test holds either way.
pub struct SqsPlayer {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub max_receive: u32,
}

impl SqsPlayer {
    pub async fn create(sqs: aws_sdk_sqs::Client, name: &str, max_receive: u32) -> SqsPlayer {
        let dlq_url = sqs
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
            .send()
            .await
            .expect("create DLQ")
            .queue_url()
            .unwrap()
            .to_owned();
        let dlq_arn = Self::arn(&sqs, &dlq_url).await;
        let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive.to_string()}).to_string();
        let queue_url = sqs
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .attributes(QueueAttributeName::VisibilityTimeout, "30")
            .attributes(QueueAttributeName::MessageRetentionPeriod, "345600")
            .send()
            .await
            .expect("create queue")
            .queue_url()
            .unwrap()
            .to_owned();
        let queue_arn = Self::arn(&sqs, &queue_url).await;
        SqsPlayer {
            sqs,
            queue_url,
            queue_arn,
            dlq_url,
            max_receive,
        }
    }

    async fn arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
        sqs.get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .expect("queue ARN")
            .clone()
    }

    /// Receives one batch (up to 10) and runs it through `cleanup` at `now`.
    pub async fn deliver<S: SecretStore, Q: DrainQueue>(
        &self,
        cleanup: &Cleanup<S, Q>,
        now: OffsetDateTime,
    ) -> Delivery {
        let Some(batch) = self.receive().await else {
            return Delivery::default();
        };
        let response: SqsBatchResponse = cleanup.handle_batch(batch.event.clone(), now).await;
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        self.settle(batch, Some(failed)).await
    }

    /// Receives one batch (up to 10) as the event source mapping would hand it to the function;
    /// `None` if nothing is visible. Messages past maxReceiveCount go to the DLQ, as SQS does.
    pub async fn receive(&self) -> Option<Batch> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        let mut batch = Batch::default();
        for m in out.messages() {
            let id = m.message_id().unwrap().to_owned();
            let attributes: HashMap<String, String> = m
                .attributes()
                .map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect())
                .unwrap_or_default();
            let receive_count: u32 = attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let body = m.body().unwrap_or_default().to_owned();
            if receive_count > self.max_receive {
                // moto did not redrive it: do what SQS would.
                self.sqs
                    .send_message()
                    .queue_url(&self.dlq_url)
                    .message_body(&body)
                    .send()
                    .await
                    .unwrap();
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
                continue;
            }
            batch.handles.insert(id.clone(), m.receipt_handle().unwrap().to_owned());
            let mut record = SqsMessage::default();
            record.message_id = Some(id.clone());
            record.receipt_handle = m.receipt_handle().map(str::to_owned);
            record.body = Some(body.clone());
            record.md5_of_body = m.md5_of_body().map(str::to_owned);
            record.attributes = attributes;
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(self.queue_arn.clone());
            record.aws_region = Some("us-east-1".into());
            batch.event.records.push(record);
            batch.received.push(Received {
                message_id: id,
                receive_count,
                body,
            });
        }
        (!batch.event.records.is_empty()).then_some(batch)
    }

    /// Ends a batch as the event source mapping does: deletes what succeeded and makes the
    /// `failed` message ids visible again at once (standing in for the visibility timeout).
    /// `None`: the invocation itself failed (or crashed), so every message comes back.
    pub async fn settle(&self, batch: Batch, failed: Option<Vec<String>>) -> Delivery {
        use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry};
        let failed = failed.unwrap_or_else(|| batch.handles.keys().cloned().collect());
        // One call each, as the event source mapping does (a batch holds at most 10).
        let mut retry = Vec::new();
        let mut done = Vec::new();
        for (n, (id, handle)) in batch.handles.iter().enumerate() {
            let entry_id = format!("m{n}");
            if failed.contains(id) {
                retry.push(
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(entry_id)
                        .receipt_handle(handle)
                        .visibility_timeout(0)
                        .build()
                        .unwrap(),
                );
            } else {
                done.push(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(entry_id)
                        .receipt_handle(handle)
                        .build()
                        .unwrap(),
                );
            }
        }
        if !retry.is_empty() {
            let out = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(retry))
                .send()
                .await
                .expect("change visibility");
            assert!(out.failed().is_empty(), "change visibility: {:?}", out.failed());
        }
        if !done.is_empty() {
            let out = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(done))
                .send()
                .await
                .expect("delete messages");
            assert!(out.failed().is_empty(), "delete messages: {:?}", out.failed());
        }
        Delivery {
            received: batch.received,
            failed,
        }
    }

    /// Delivers batches at `now` until the queue has nothing visible (at most `max_batches`).
    pub async fn deliver_all<S: SecretStore, Q: DrainQueue>(
        &self,
        cleanup: &Cleanup<S, Q>,
        now: OffsetDateTime,
        max_batches: usize,
    ) -> Vec<Delivery> {
        let mut all = Vec::new();
        for _ in 0..max_batches {
            let d = self.deliver(cleanup, now).await;
            if d.received.is_empty() {
                break;
            }
            all.push(d);
        }
        all
    }

    /// Messages in the queue: visible, in flight and delayed.
    pub async fn depth(&self, url: &str) -> u64 {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .expect("queue attributes");
        out.attributes()
            .map(|a| a.values().filter_map(|v| v.parse::<u64>().ok()).sum())
            .unwrap_or(0)
    }

    /// Bodies in the dead-letter queue (received and left there).
    pub async fn dlq_bodies(&self) -> Vec<String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive DLQ");
        out.messages()
            .iter()
            .map(|m| m.body().unwrap_or_default().to_owned())
            .collect()
    }
}

/// The drain queue the tests use: SQS on moto, but time is simulated, so each copy is sent
/// visible at once and the requested delay is recorded for the test to advance its clock by.
/// Fails its n-th send, once, before or after the real send.
#[derive(Clone)]
pub struct TestQueue {
    inner: SqsDrainQueue,
    sent: Arc<Mutex<Vec<(DrainMessage, Duration)>>>,
    calls: Arc<AtomicUsize>,
    plan: Arc<Mutex<Option<(usize, When)>>>,
}

impl TestQueue {
    pub fn new(inner: SqsDrainQueue) -> Self {
        Self {
            inner,
            sent: Arc::default(),
            calls: Arc::default(),
            plan: Arc::default(),
        }
    }

    /// Fails the `n`-th send from now (0 = the next one).
    pub fn fail_send(&self, n: usize, when: When) {
        let base = self.calls.load(Ordering::SeqCst);
        *self.plan.lock().unwrap() = Some((base + n, when));
    }

    /// Every message actually sent, with the delay asked for.
    pub fn sent(&self) -> Vec<(DrainMessage, Duration)> {
        self.sent.lock().unwrap().clone()
    }
}

impl DrainQueue for TestQueue {
    async fn send(&self, message: &DrainMessage, delay: Duration) -> Result<(), QueueError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let fault = {
            let mut plan = self.plan.lock().unwrap();
            match *plan {
                Some((at, when)) if at == n => {
                    *plan = None;
                    Some(when)
                }
                _ => None,
            }
        };
        let injected = || QueueError::Transient("injected failure".into());
        if fault == Some(When::Before) {
            return Err(injected());
        }
        self.inner.send(message, Duration::ZERO).await?;
        self.sent.lock().unwrap().push((message.clone(), delay));
        if fault == Some(When::After) {
            return Err(injected());
        }
        Ok(())
    }
}
