//! The cleanup: deletes rotated-out clients once their drain has passed, from the drain queue's
//! messages ([`DrainMessage`]).
//!
//! [`Cleanup::process`] decides one message, with the time given as an input (it never sleeps):
//! - not due yet: the message is re-sent as a **new** message delayed by
//!   `min(900 s, time left)` and the original is acknowledged. SQS delays stop at 15 minutes
//!   and visibility at 12 hours, while drains run 1 to 7 days; re-sending means each copy is
//!   received once and lives at most 15 minutes, so no healthy message ever accumulates
//!   receives toward the dead-letter queue or nears the queue's retention. A crash between the
//!   re-send and the acknowledgement leaves a harmless duplicate.
//! - due: the secret is re-read and the delete is refused for a client that AWSCURRENT or
//!   AWSPENDING holds, whose name lacks the secret's managed prefix (or is not
//!   `<prefix><secretVersionId>`), or whose name in Genesys differs from the message's. Else the
//!   client is PUT `inactive` if needed and DELETEd; a 404 counts as done.
//!
//! [`Cleanup::handle_batch`] runs a whole SQS batch and reports as batch item failures only the
//! messages that must come back: failures that may pass later (429, 5xx, throttled AWS calls;
//! also errors no retry fixes, so they reach the DLQ for an operator) and malformed messages
//! (which can never succeed, so failing them every time is what moves them to the DLQ).
//! Refusals are deliberate: they are logged as errors for the operator and acknowledged.
//!
//! The same function runs reconciliation ([`crate::reconcile`]) when invoked by its EventBridge
//! schedule instead of the queue ([`Trigger`]).

use std::fmt;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use thiserror::Error;
use time::OffsetDateTime;
use tracing::{error, info, warn};

use crate::config::{ReconcileConfig, RotatorConfig};
use crate::drain::{DrainMessage, DrainQueue, MessageError, QueueError, MAX_DRAIN, MAX_SQS_DELAY};
use crate::genesys::{ClientState, Deleted, GenesysError};
use crate::rotation::{RotationError, Rotator};
use crate::store::{SecretStore, StoreError, Version, AWSCURRENT, AWSPENDING};

/// How far past [`MAX_DRAIN`] a `notBefore` may lie before the message is taken as forged: a
/// message that would hop for months is refused rather than kept alive.
const NOT_BEFORE_SLACK: Duration = Duration::from_secs(24 * 3600);

/// Why a due delete was refused. The client is left as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The secret no longer exists: nothing can prove the client is unused.
    SecretGone,
    /// AWSCURRENT holds the client.
    Current,
    /// AWSPENDING holds the client.
    Pending,
    /// The client's name is not `<prefix><secretVersionId>` for the secret's managed prefix.
    NotManaged {
        /// The secret's prefix.
        prefix: String,
    },
    /// Genesys shows another name for the client id.
    NameMismatch {
        /// The name Genesys shows.
        actual: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::SecretGone => f.write_str("the secret no longer exists"),
            Refusal::Current => f.write_str("AWSCURRENT holds the client"),
            Refusal::Pending => f.write_str("AWSPENDING holds the client"),
            Refusal::NotManaged { prefix } => {
                write!(f, "the client name is not the managed name <{prefix}><secretVersionId>")
            }
            Refusal::NameMismatch { actual } => write!(f, "Genesys names the client {actual:?}"),
        }
    }
}

/// A failure that sends the message back to the queue.
#[derive(Debug, Error)]
pub enum CleanupError {
    /// Reading the secret or the master failed.
    #[error(transparent)]
    Secret(#[from] RotationError),
    /// A Genesys call failed.
    #[error("Genesys Cloud: {0}")]
    Genesys(#[from] GenesysError),
    /// Re-sending a not-yet-due message failed.
    #[error("drain queue: {0}")]
    Queue(#[from] QueueError),
}

impl CleanupError {
    /// Whether a later delivery may succeed (if not, the message still returns and ends in the
    /// DLQ after maxReceiveCount, where an operator sees it).
    pub fn is_retryable(&self) -> bool {
        match self {
            CleanupError::Secret(e) => e.is_retryable(),
            CleanupError::Genesys(e) => e.is_retryable(),
            CleanupError::Queue(e) => e.is_retryable(),
        }
    }
}

impl From<StoreError> for CleanupError {
    fn from(e: StoreError) -> Self {
        CleanupError::Secret(RotationError::Store(e))
    }
}

/// What became of one message.
#[derive(Debug)]
pub enum Disposition {
    /// The client was deleted.
    Deleted,
    /// The client was already gone (404).
    AlreadyGone,
    /// The delete was refused; the message is acknowledged and the refusal logged.
    Refused(Refusal),
    /// Not due yet: a copy was sent with this delay and the original is acknowledged.
    Requeued {
        /// The copy's `DelaySeconds`.
        delay: Duration,
    },
    /// Failed; the message goes back to the queue.
    Retry(CleanupError),
    /// Not a valid drain message; it goes back to the queue until the DLQ takes it.
    Malformed(MessageError),
}

impl Disposition {
    /// Whether the message must be reported as a batch item failure.
    pub fn is_batch_failure(&self) -> bool {
        matches!(self, Disposition::Retry(_) | Disposition::Malformed(_))
    }
}

/// What invoked the cleanup function.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A batch from the drain queue.
    Queue(SqsEvent),
    /// The reconciliation schedule (an EventBridge "Scheduled Event").
    Schedule,
}

/// An invocation payload that is neither an SQS batch nor a scheduled event.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("cleanup event not recognised: {0}")]
pub struct TriggerError(String);

impl TriggerError {
    /// Never: the same payload is refused the same way.
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// A short stable name, for `errorType`.
    pub fn kind(&self) -> &'static str {
        "UnrecognisedEvent"
    }
}

impl Trigger {
    /// Tells an SQS batch (`Records`) from an EventBridge scheduled event (`detail-type`).
    pub fn from_json(payload: serde_json::Value) -> Result<Self, TriggerError> {
        if payload.get("Records").is_some() {
            return serde_json::from_value(payload)
                .map(Trigger::Queue)
                .map_err(|e| TriggerError(format!("malformed SQS event: {e}")));
        }
        match payload.get("detail-type").and_then(|v| v.as_str()) {
            Some("Scheduled Event") => Ok(Trigger::Schedule),
            Some(other) => Err(TriggerError(format!("unexpected detail-type {other:?}"))),
            None => Err(TriggerError(
                "neither `Records` (SQS) nor `detail-type` (EventBridge)".into(),
            )),
        }
    }
}

/// Processes drain messages. Build one per process: it caches master clients and their tokens.
pub struct Cleanup<S, Q> {
    rotator: Rotator<S>,
    queue: Q,
}

impl<S: SecretStore, Q: DrainQueue> Cleanup<S, Q> {
    /// A cleanup reading secrets from `store` (allowed masters and endpoints from `config`) and
    /// re-sending not-yet-due messages to `queue`.
    pub fn new(store: S, config: RotatorConfig, queue: Q) -> Self {
        // The rotator supplies the checked secret reads and the cached master clients; no
        // rotation step is ever run through it.
        Self {
            rotator: Rotator::new(store, config),
            queue,
        }
    }

    /// Uses `reconcile` for the scheduled pass (secrets, horizon, dry run).
    pub fn with_reconcile(mut self, reconcile: ReconcileConfig) -> Self {
        self.rotator = self.rotator.with_reconcile(reconcile);
        self
    }

    /// Runs whatever invoked the function: a queue batch, or reconciliation of the configured
    /// secrets. Answers the batch response or the reconciliation report.
    pub async fn handle(&self, trigger: Trigger, now: OffsetDateTime) -> serde_json::Value {
        match trigger {
            Trigger::Queue(event) => serde_json::to_value(self.handle_batch(event, now).await),
            Trigger::Schedule => {
                let arns = &self.rotator.reconcile_config().secret_arns;
                let report = crate::reconcile::reconcile_all(&self.rotator, arns, now).await;
                serde_json::to_value(report)
            }
        }
        .expect("responses serialize")
    }

    /// The queue not-yet-due messages are re-sent to.
    pub fn queue(&self) -> &Q {
        &self.queue
    }

    /// Decides one message body at time `now`.
    pub async fn process(&self, body: &str, now: OffsetDateTime) -> Disposition {
        let message = match DrainMessage::parse(body) {
            Ok(m) => m,
            Err(e) => return Disposition::Malformed(e),
        };
        if message.not_before > now + MAX_DRAIN + NOT_BEFORE_SLACK {
            return Disposition::Malformed(MessageError::Field("notBefore"));
        }
        if now < message.not_before {
            let left = message.not_before - now;
            let left = Duration::try_from(left).unwrap_or(MAX_SQS_DELAY);
            let delay = Duration::from_secs(left.as_secs_f64().ceil() as u64).min(MAX_SQS_DELAY);
            return match self.queue.send(&message, delay).await {
                Ok(()) => Disposition::Requeued { delay },
                Err(e) => Disposition::Retry(e.into()),
            };
        }
        match self.delete_if_safe(&message).await {
            Ok(d) => d,
            Err(e) => Disposition::Retry(e),
        }
    }

    async fn delete_if_safe(&self, m: &DrainMessage) -> Result<Disposition, CleanupError> {
        let store = self.rotator.store();
        let desc = match store.describe(&m.secret_arn).await {
            Ok(d) => d,
            Err(StoreError::NotFound { .. }) => return Ok(Disposition::Refused(Refusal::SecretGone)),
            Err(e) => return Err(e.into()),
        };
        let current = self.rotator.read_current(&desc).await?;
        if current.credentials.client_id == m.client_id {
            return Ok(Disposition::Refused(Refusal::Current));
        }
        if let Some(v) = desc.version_with(AWSPENDING) {
            if Some(v) != desc.version_with(AWSCURRENT) {
                let pending = self
                    .rotator
                    .read_integration(&desc.arn, Version::IdAndStage(v, AWSPENDING))
                    .await?;
                if pending.is_some_and(|p| p.credentials.client_id == m.client_id) {
                    return Ok(Disposition::Refused(Refusal::Pending));
                }
            }
        }
        let prefix = &current.settings.name_prefix;
        if !prefix.manages(&m.client_name) || m.client_name != prefix.client_name(&m.secret_version_id) {
            return Ok(Disposition::Refused(Refusal::NotManaged {
                prefix: prefix.as_str().to_owned(),
            }));
        }
        let master = self.rotator.master(&current).await?;
        let Some(client) = master.get_client(&m.client_id).await? else {
            return Ok(Disposition::AlreadyGone);
        };
        if client.name != m.client_name {
            return Ok(Disposition::Refused(Refusal::NameMismatch { actual: client.name }));
        }
        if client.effective_state() != ClientState::Inactive {
            // finishSecret deactivated it; someone turned it back on. Genesys requires
            // `inactive` before DELETE, and the drain has passed.
            warn!(client_id = %client.id, state = %client.effective_state(), "draining client is not inactive; deactivating before delete");
            let mut body = client.to_request();
            body.state = Some(ClientState::Inactive);
            match master.update_client(&client.id, &body).await {
                Ok(_) => {}
                Err(GenesysError::NotFound) => return Ok(Disposition::AlreadyGone),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(match master.delete_client(&client.id).await? {
            Deleted::Deleted => Disposition::Deleted,
            Deleted::AlreadyGone => Disposition::AlreadyGone,
        })
    }

    /// Runs an SQS batch at time `now`; the response lists the messages that must come back.
    pub async fn handle_batch(&self, event: SqsEvent, now: OffsetDateTime) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in event.records {
            let message_id = record.message_id.clone().unwrap_or_default();
            let receives = record
                .attributes
                .get("ApproximateReceiveCount")
                .cloned()
                .unwrap_or_default();
            let disposition = match record.body.as_deref() {
                Some(body) => self.process(body, now).await,
                None => Disposition::Malformed(MessageError::Size),
            };
            log_disposition(&message_id, &receives, record.body.as_deref(), &disposition);
            record_disposition(&disposition);
            if disposition.is_batch_failure() {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id;
                response.batch_item_failures.push(failure);
            }
        }
        response
    }
}

/// The metrics of one message: deletions, and the failures an operator may have to look at.
fn record_disposition(d: &Disposition) {
    use crate::metrics::{cleanup_failures, clients_deleted, CleanupFailure, DeleteReason};
    match d {
        Disposition::Deleted => clients_deleted(DeleteReason::Drained, 1),
        Disposition::AlreadyGone | Disposition::Requeued { .. } => {}
        Disposition::Refused(_) => cleanup_failures(CleanupFailure::Refused, 1),
        Disposition::Retry(_) => cleanup_failures(CleanupFailure::Failed, 1),
        Disposition::Malformed(_) => cleanup_failures(CleanupFailure::Malformed, 1),
    }
}

/// One log line per message: ids and the decision, never a secret (messages hold none, and a
/// malformed body is not echoed).
fn log_disposition(message_id: &str, receives: &str, body: Option<&str>, d: &Disposition) {
    // A valid body's ids are worth logging; a malformed body is not parsed again.
    let parsed = body.and_then(|b| DrainMessage::parse(b).ok());
    let client_id = parsed.as_ref().map(|m| m.client_id.as_str()).unwrap_or("-");
    let secret_arn = parsed.as_ref().map(|m| m.secret_arn.as_str()).unwrap_or("-");
    match d {
        Disposition::Deleted => info!(message_id, client_id, secret_arn, "drained client deleted"),
        Disposition::AlreadyGone => info!(message_id, client_id, secret_arn, "drained client already gone"),
        Disposition::Requeued { delay } => {
            info!(
                message_id,
                client_id,
                receives,
                delay_s = delay.as_secs(),
                "not due yet; re-sent"
            )
        }
        Disposition::Refused(r) => {
            error!(message_id, client_id, secret_arn, reason = %r, "delete refused; client left as it is for an operator")
        }
        Disposition::Retry(e) => {
            warn!(message_id, client_id, receives, retryable = e.is_retryable(), error = %e, "cleanup failed; message returns to the queue")
        }
        Disposition::Malformed(e) => {
            error!(message_id, receives, error = %e, "malformed drain message; it returns until the DLQ takes it")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_sqs_batch_is_a_queue_trigger() {
        let event = json!({"Records": [{"messageId": "m1", "body": "{}", "attributes": {}, "messageAttributes": {}}]});
        match Trigger::from_json(event).unwrap() {
            Trigger::Queue(batch) => assert_eq!(batch.records[0].message_id.as_deref(), Some("m1")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_eventbridge_schedule_is_a_schedule_trigger() {
        let event = json!({
            "version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "time": "2026-11-24T00:00:00Z", "region": "eu-west-1", "resources": [], "detail": {}
        });
        assert!(matches!(Trigger::from_json(event).unwrap(), Trigger::Schedule));
    }

    #[test]
    fn anything_else_is_refused() {
        for event in [
            json!({}),
            json!(null),
            json!({"detail-type": "EC2 Instance State-change Notification"}),
            json!({"Records": "not a list"}),
        ] {
            assert!(Trigger::from_json(event.clone()).is_err(), "{event}");
        }
    }
}
