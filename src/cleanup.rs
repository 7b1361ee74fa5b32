//! The cleanup: deletes rotated-out clients once their drain has passed, from the drain queue's
//! messages ([`DrainMessage`]), and runs the scheduled reconciliation ([`crate::sweep`]) when its
//! EventBridge schedule invokes it ([`Trigger`]).
//!
//! [`Cleanup::process`] decides one message at a given time (it never sleeps): not due yet, a
//! copy is re-sent with a delay of at most 15 minutes; due, the message is verified, never
//! trusted (its version held the client, the secret owns it, nobody else holds it, it is still
//! inactive, and the drain has passed since both `retiredAt` and the deactivation Genesys shows),
//! and the client is deleted or the delete refused ([`Refusal`], logged for an operator).
//! [`Cleanup::handle_batch`] reports as batch item failures only the messages that must come
//! back, and those it had no time to start. Why each check: docs/design/drain.md.

use genesys_core::classify::Classify;
use std::fmt;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use thiserror::Error;
use time::OffsetDateTime;
use tracing::{error, info, warn};

use crate::config::{ReconcileConfig, RotatorConfig};
use crate::deployment::{self, Deployment, DeploymentError};
use crate::drain::{DrainMessage, DrainQueue, DrainSettings, MessageError, QueueError, MAX_DRAIN, MAX_SQS_DELAY};
use crate::store::{SecretStore, StoreError, Version, AWSCURRENT, AWSPENDING};
use genesys_core::genesys::{ClientState, Deleted, GenesysError};
use genesys_core::guard::ownership::{retired_since, Owner};
use genesys_core::guard::{Refusal as GuardRefusal, Standing};
use secrecy::ExposeSecret;

/// How far past [`MAX_DRAIN`] a `notBefore` may lie before the message is taken as forged: a
/// message that would hop for months is refused rather than kept alive.
const NOT_BEFORE_SLACK: Duration = Duration::from_secs(24 * 3600);
/// How far in the future a message's `retiredAt` may lie (clock skew between functions).
const RETIRED_AT_SKEW: Duration = Duration::from_secs(300);

/// Why a due delete was refused. The client is left as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The secret no longer exists: nothing can prove the client is unused.
    SecretGone,
    /// AWSCURRENT holds the client.
    Current,
    /// AWSPENDING holds the client.
    Pending,
    /// The message's secret version does not hold the message's client id (a forged or stale
    /// message, or another secret's version).
    VersionMismatch,
    /// The client does not belong to the secret by the ownership rule, or was not made for the
    /// message's version.
    NotManaged {
        /// Why, in words.
        reason: String,
    },
    /// Genesys shows another name for the client id.
    NameMismatch {
        /// The name Genesys shows.
        actual: String,
    },
    /// A master or another served secret holds the client.
    Held {
        /// Who holds it.
        holder: String,
    },
    /// The message's `notBefore` is earlier than `retiredAt` plus the drain the secret implies:
    /// the message was not written by this deployment's retirement.
    TooEarly {
        /// The drain the secret and client imply, in seconds.
        drain_s: u64,
    },
    /// The client is active: someone turned it back on after its retirement. Deleting it now
    /// would cut off whoever did, with no drain.
    Active,
    /// The client shows no `dateModified`: nothing proves how long it has drained.
    Undated,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::SecretGone => f.write_str("the secret no longer exists"),
            Refusal::Current => f.write_str("AWSCURRENT holds the client"),
            Refusal::Pending => f.write_str("AWSPENDING holds the client"),
            Refusal::VersionMismatch => f.write_str("the message's secret version does not hold this client"),
            Refusal::NotManaged { reason } => write!(f, "the secret does not own the client: {reason}"),
            Refusal::NameMismatch { actual } => write!(f, "Genesys names the client {actual:?}"),
            Refusal::Held { holder } => write!(f, "{holder} holds the client"),
            Refusal::TooEarly { drain_s } => write!(
                f,
                "notBefore is earlier than retiredAt plus the drain of {drain_s} s the secret implies"
            ),
            Refusal::Active => f.write_str("the client is active again (someone turned it back on)"),
            Refusal::Undated => f.write_str("Genesys shows no dateModified for the retired client"),
        }
    }
}

/// A failure that sends the message back to the queue.
#[derive(Debug, Error)]
pub enum CleanupError {
    /// Reading the secret or the master failed.
    #[error(transparent)]
    Deployment(#[from] DeploymentError),
    /// A possible holder (a served secret, a master) could not be read, so nothing proves the
    /// client is free: it is not deleted (fail closed). Retryable: the read may pass later.
    #[error("{holder} could not be read, so nothing proves the client is free: it is not deleted (fail closed)")]
    GuardUnreadable {
        /// Who could not be read, and why.
        holder: String,
    },
    /// A Genesys call failed.
    #[error("Genesys Cloud: {0}")]
    Genesys(#[from] GenesysError),
    /// Re-sending a not-yet-due message failed.
    #[error("drain queue: {0}")]
    Queue(#[from] QueueError),
}

/// Retryable: whether a later delivery may succeed (if not, the message still returns and ends
/// in the DLQ after maxReceiveCount, where an operator sees it).
impl Classify for CleanupError {
    fn is_retryable(&self) -> bool {
        match self {
            CleanupError::Deployment(e) => e.is_retryable(),
            CleanupError::GuardUnreadable { .. } => true,
            CleanupError::Genesys(e) => e.is_retryable(),
            CleanupError::Queue(e) => e.is_retryable(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            CleanupError::Deployment(e) => e.kind(),
            CleanupError::GuardUnreadable { .. } => "GuardUnreadable",
            CleanupError::Genesys(e) => e.kind(),
            CleanupError::Queue(e) => e.kind(),
        }
    }

    fn call_name(&self) -> Option<&'static str> {
        match self {
            CleanupError::Deployment(e) => e.call_name(),
            CleanupError::GuardUnreadable { .. } => None,
            CleanupError::Genesys(e) => e.call_name(),
            CleanupError::Queue(e) => e.call_name(),
        }
    }
}

impl From<StoreError> for CleanupError {
    fn from(e: StoreError) -> Self {
        CleanupError::Deployment(DeploymentError::Store(e))
    }
}

/// Time a message needs at least: one not started with less left before the invocation's
/// deadline is handed back to the queue (a batch item failure) rather than cut off half-way.
const MESSAGE_BUDGET: Duration = Duration::from_secs(10);

/// When a message's client may go.
enum Due {
    /// Decided now.
    Now(Disposition),
    /// Its drain, counted from its deactivation, has this long left.
    Later(time::Duration),
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
    /// The record does not come from the drain queue (its `eventSourceARN` names another source,
    /// or none: a direct invocation). Refused unread, never re-sent.
    ForeignSource,
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

impl Classify for TriggerError {
    /// Never: the same payload is refused the same way.
    fn is_retryable(&self) -> bool {
        false
    }

    fn kind(&self) -> &'static str {
        "UnrecognisedEvent"
    }

    fn call_name(&self) -> Option<&'static str> {
        None
    }
}

impl From<TriggerError> for lambda_runtime::Diagnostic {
    fn from(e: TriggerError) -> Self {
        crate::error_type::diagnostic(&e)
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
    deployment: Deployment<S>,
    queue: Q,
    drain: DrainSettings,
    source: Option<QueueSource>,
}

/// The drain queue a record must come from: its account and name, from the queue's URL
/// (`https://sqs.<region>.amazonaws.com/<account>/<name>`, or a local endpoint's
/// `http://host:port/<account>/<name>`), matched against the end of the record's
/// `eventSourceARN` (`arn:<partition>:sqs:<region>:<account>:<name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSource {
    suffix: String,
}

impl QueueSource {
    /// From the drain queue's URL; `None` if it does not end in `/<account>/<name>`.
    pub fn from_url(url: &str) -> Option<Self> {
        let mut parts = url.trim_end_matches('/').rsplit('/');
        let name = parts.next().filter(|n| !n.is_empty() && !n.contains(':'))?;
        let account = parts
            .next()
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))?;
        Some(Self {
            suffix: format!(":{account}:{name}"),
        })
    }

    /// Whether a record's `eventSourceARN` names this queue.
    pub fn matches(&self, event_source_arn: Option<&str>) -> bool {
        event_source_arn
            .is_some_and(|arn| arn.starts_with("arn:") && arn.contains(":sqs:") && arn.ends_with(&self.suffix))
    }
}

impl<S: SecretStore, Q: DrainQueue> Cleanup<S, Q> {
    /// A cleanup reading secrets from `store` (allowed masters and endpoints from `config`),
    /// re-sending not-yet-due messages to `queue`, and holding every delete to `drain`.
    pub fn new(store: S, config: RotatorConfig, queue: Q, drain: DrainSettings) -> Self {
        // The deployment supplies the checked secret reads, the cached master clients and the
        // guard's holders; the cleanup runs no rotation step.
        Self {
            deployment: Deployment::new(store, config),
            queue,
            drain,
            source: None,
        }
    }

    /// Accepts only records whose `eventSourceARN` is the queue at `queue_url` (the Lambda
    /// always sets it): a direct invocation with a made-up batch is refused record by record.
    /// A URL that names no account and queue accepts nothing.
    pub fn accept_only_from(mut self, queue_url: &str) -> Self {
        self.source = Some(QueueSource::from_url(queue_url).unwrap_or(QueueSource { suffix: "\u{0}".into() }));
        self
    }

    /// Uses `reconcile` for the scheduled pass (horizon, dry run).
    pub fn with_reconcile(mut self, reconcile: ReconcileConfig) -> Self {
        self.deployment = self.deployment.with_reconcile(reconcile);
        self
    }

    /// Runs whatever invoked the function: a queue batch, or reconciliation of the configured
    /// secrets. Answers the batch response or the reconciliation report.
    pub async fn handle(&self, trigger: Trigger, now: OffsetDateTime) -> serde_json::Value {
        match trigger {
            Trigger::Queue(event) => serde_json::to_value(deployment::scope(self.handle_batch(event, now)).await),
            Trigger::Schedule => {
                let report = deployment::scope(crate::sweep::reconcile_served(&self.deployment, now)).await;
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
        // The message's whole life is capped: it may not claim a retirement in the future, nor a
        // wait past the longest drain after it, so a forged message is re-sent for a bounded
        // time at most, whoever sent it.
        if message.retired_at > now + RETIRED_AT_SKEW {
            return Disposition::Malformed(MessageError::Field("retiredAt"));
        }
        if message.not_before > now + MAX_DRAIN + NOT_BEFORE_SLACK
            || message.not_before > message.retired_at + MAX_DRAIN + NOT_BEFORE_SLACK
        {
            return Disposition::Malformed(MessageError::Field("notBefore"));
        }
        if now < message.not_before {
            return self.requeue(&message, message.not_before - now).await;
        }
        match self.delete_if_safe(&message, now).await {
            Ok(Due::Now(d)) => d,
            Ok(Due::Later(left)) => self.requeue(&message, left).await,
            Err(e) => Disposition::Retry(e),
        }
    }

    /// Sends a copy that comes back in `left` (at most [`MAX_SQS_DELAY`]); the original is
    /// acknowledged.
    async fn requeue(&self, message: &DrainMessage, left: time::Duration) -> Disposition {
        let left = Duration::try_from(left).unwrap_or(MAX_SQS_DELAY);
        let delay = Duration::from_secs(left.as_secs_f64().ceil() as u64).min(MAX_SQS_DELAY);
        match self.queue.send(message, delay).await {
            Ok(()) => Disposition::Requeued { delay },
            Err(e) => Disposition::Retry(e.into()),
        }
    }

    /// Deletes the message's client if every check proves it is the secret's own, retired,
    /// drained client that nobody holds; the message itself is not trusted (anyone who can
    /// send to the queue could forge one).
    async fn delete_if_safe(&self, m: &DrainMessage, now: OffsetDateTime) -> Result<Due, CleanupError> {
        let refused = |r| Ok(Due::Now(Disposition::Refused(r)));
        let store = self.deployment.store();
        let desc = match store.describe(&m.secret_arn).await {
            Ok(d) => d,
            Err(StoreError::NotFound { .. }) => return refused(Refusal::SecretGone),
            Err(e) => return Err(e.into()),
        };
        let current = self.deployment.read_current(&desc).await?;
        if current.credentials.client_id == m.client_id {
            return refused(Refusal::Current);
        }
        if let Some(v) = desc.version_with(AWSPENDING) {
            if Some(v) != desc.version_with(AWSCURRENT) {
                let pending = self
                    .deployment
                    .read_integration(&desc.arn, Version::IdAndStage(v, AWSPENDING))
                    .await?;
                if pending.is_some_and(|p| p.credentials.client_id == m.client_id) {
                    return refused(Refusal::Pending);
                }
            }
        }
        // The version the message names must really have held the client.
        let held = store
            .get_value(&desc.arn, Version::Id(&m.secret_version_id))
            .await?
            .and_then(|v| crate::secret_format::client_id_in(v.value.expose_secret()));
        if held.as_deref() != Some(m.client_id.as_str()) {
            return refused(Refusal::VersionMismatch);
        }
        let prefix = &current.settings.name_prefix;
        let master = self.deployment.master(&current).await?;
        let Some(client) = master.get_client(&m.client_id).await? else {
            return Ok(Due::Now(Disposition::AlreadyGone));
        };
        // Deleted already (a soft delete Genesys keeps listed for a while): never DELETE again.
        if client.is_soft_deleted() {
            return Ok(Due::Now(Disposition::AlreadyGone));
        }
        if client.name != m.client_name {
            return refused(Refusal::NameMismatch { actual: client.name });
        }
        let versions = store.version_ids(&desc.arn).await?;
        let owner = Owner {
            id: &desc.arn,
            prefix,
            versions: &versions,
        };
        let standing = match owner.judge(&client) {
            Ok(version) if version == m.secret_version_id => Standing::Owned { version },
            Ok(version) => {
                return refused(Refusal::NotManaged {
                    reason: format!("it was made for version {version}, not {}", m.secret_version_id),
                })
            }
            Err(why) => {
                return refused(Refusal::NotManaged {
                    reason: why.to_string(),
                })
            }
        };
        // The one guard: nobody else holds it, and every possible holder was read.
        match genesys_core::guard::decide(&client.id, &standing, &self.deployment.holders(&desc.arn).await) {
            Ok(_) => {}
            Err(GuardRefusal::Held { holder }) => return refused(Refusal::Held { holder }),
            Err(GuardRefusal::Unreadable { holder }) => return Err(CleanupError::GuardUnreadable { holder }),
            Err(GuardRefusal::Unproven { reason }) => return refused(Refusal::NotManaged { reason }),
        }
        // The drain the secret implies: its own token lifetime or the client's, whichever is
        // longer (the client's is what its tokens live by; the secret's is what was asked for).
        let lifetime = client
            .access_token_validity_seconds
            .unwrap_or(current.settings.token_lifetime.seconds())
            .max(current.settings.token_lifetime.seconds());
        let drain = match self.drain.drain_for(Some(lifetime)) {
            Ok(d) => d,
            Err(e) => {
                // The configuration cannot honour this client's lifetime: never delete early.
                warn!(client_id = %client.id, error = %e, "drain shorter than the client's token lifetime; waiting for the lifetime plus the margin");
                Duration::from_secs(e.needed_s)
            }
        };
        if m.not_before < m.retired_at + drain {
            return refused(Refusal::TooEarly {
                drain_s: drain.as_secs(),
            });
        }
        if client.effective_state() == ClientState::Active {
            return refused(Refusal::Active);
        }
        // Counted from the deactivation Genesys shows too: a message whose retiredAt is earlier
        // than the real deactivation never shortens the drain.
        let Some(retired) = retired_since(&client) else {
            return refused(Refusal::Undated);
        };
        let due = (retired + drain).max(m.not_before);
        if now < due {
            return Ok(Due::Later(due - now));
        }
        Ok(Due::Now(match master.delete_client(&client.id).await? {
            Deleted::Deleted => Disposition::Deleted,
            Deleted::AlreadyGone => Disposition::AlreadyGone,
        }))
    }

    /// Runs an SQS batch at time `now`; the response lists the messages that must come back.
    pub async fn handle_batch(&self, event: SqsEvent, now: OffsetDateTime) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in event.records {
            let message_id = record.message_id.clone().unwrap_or_default();
            if genesys_core::deadline::remaining().is_some_and(|left| left < MESSAGE_BUDGET) {
                // Not started: it comes back, untouched, with the next delivery.
                warn!(
                    message_id,
                    "not started before the invocation's deadline; the message returns"
                );
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id;
                response.batch_item_failures.push(failure);
                continue;
            }
            let receives = record
                .attributes
                .get("ApproximateReceiveCount")
                .cloned()
                .unwrap_or_default();
            let from_queue = self
                .source
                .as_ref()
                .is_none_or(|source| source.matches(record.event_source_arn.as_deref()));
            let disposition = match record.body.as_deref() {
                _ if !from_queue => Disposition::ForeignSource,
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
        Disposition::Malformed(_) | Disposition::ForeignSource => cleanup_failures(CleanupFailure::Malformed, 1),
    }
}

/// One log line per message: ids and the decision, never a secret (messages hold none, and a
/// malformed body is not echoed).
fn log_disposition(message_id: &str, receives: &str, body: Option<&str>, d: &Disposition) {
    // A valid body's ids are worth logging; a malformed body is not parsed again.
    let parsed = body
        .filter(|_| !matches!(d, Disposition::ForeignSource))
        .and_then(|b| DrainMessage::parse(b).ok());
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
            let error_type = crate::error_type::error_type(e);
            warn!(message_id, client_id, receives, retryable = e.is_retryable(), error_type = %error_type, error = %e, "cleanup failed; message returns to the queue")
        }
        Disposition::Malformed(e) => {
            error!(message_id, receives, error = %e, "malformed drain message; it returns until the DLQ takes it")
        }
        Disposition::ForeignSource => {
            error!(
                message_id,
                "record refused unread: its eventSourceARN is not the drain queue (a direct invocation?)"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_unrecognised_cleanup_event_is_not_retryable() {
        let err = Trigger::from_json(json!({"hello": 1})).unwrap_err();
        let d = lambda_runtime::Diagnostic::from(err);
        assert_eq!(d.error_type, "NonRetryable.UnrecognisedEvent");
        assert!(d.error_message.contains("not recognised"), "{}", d.error_message);
    }

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
    fn the_queue_source_is_the_account_and_name_of_the_queue_url() {
        let source = QueueSource::from_url("https://sqs.eu-west-1.amazonaws.com/123456789012/genesys-drain").unwrap();
        assert!(source.matches(Some("arn:aws:sqs:eu-west-1:123456789012:genesys-drain")));
        let local = QueueSource::from_url("http://127.0.0.1:5000/123456789012/genesys-drain/").unwrap();
        assert_eq!(local, source);
        for other in [
            None,
            Some("arn:aws:sqs:eu-west-1:123456789012:genesys-drain-dlq"),
            Some("arn:aws:sqs:eu-west-1:210987654321:genesys-drain"),
            Some("arn:aws:sns:eu-west-1:123456789012:genesys-drain"),
            Some(":123456789012:genesys-drain"),
        ] {
            assert!(!source.matches(other), "{other:?}");
        }
        assert!(QueueSource::from_url("https://sqs.eu-west-1.amazonaws.com/genesys-drain").is_none());
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
