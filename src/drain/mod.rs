//! Retirement of the client that finishSecret rotated out: the seam between rotation and the
//! drain-then-delete lifecycle, and the drain policy itself.
//!
//! [`Retirement`] is called after AWSCURRENT has moved, with the client the previous version
//! held. It must be idempotent: finishSecret may run again after any crash.
//! - [`DrainRetirement`] (production): PUTs the old client to `inactive` (its tokens keep working
//!   until they expire; it can mint no new ones), then sends one [`DrainMessage`] saying "delete
//!   it, not before `now + drain`" to the [`DrainQueue`]. The cleanup Lambda
//!   (the `cleanup` module, above this one) deletes it when due.
//! - [`KeepOldClient`]: leaves the old client untouched (tests of rotation alone).
//!
//! # Layout
//! - [`message`]: the versioned queue document.
//! - [`queue`]: the queue trait and its SQS implementation.
//! - `memory` (tests and the `test-doubles` feature only): an in-memory queue that records sends.

#[cfg(any(test, feature = "test-doubles"))]
pub mod memory;
pub mod message;
pub mod queue;

use genesys_core::classify::Classify;
use std::future::Future;

use thiserror::Error;
use time::OffsetDateTime;
use tracing::info;

pub use genesys_core::guard::drain::{DrainSettings, DrainTooShort, MAX_DRAIN};
pub use message::{DrainMessage, MessageError, DRAIN_MESSAGE_VERSION};
pub use queue::{DrainQueue, QueueError, SqsDrainQueue, MAX_SQS_DELAY};

use genesys_core::genesys::{ClientState, GenesysClient, GenesysError, OAuthClient};

/// The client a rotation has just replaced, as Genesys showed it, which the guard has allowed
/// to retire ([`genesys_core::guard::decide`]: owned by the secret, held by nobody else).
#[derive(Debug, Clone)]
pub struct RetiringClient {
    /// ARN of the secret whose previous version holds the client.
    pub secret_arn: String,
    /// The secret version (now AWSPREVIOUS) that holds the client, and it was made for.
    pub version_id: String,
    /// The Genesys OAuth client, as just read.
    pub client: OAuthClient,
    /// The client id now in AWSCURRENT, which must never be retired.
    pub current_client_id: String,
}

/// What finishSecret does with the client it rotated out.
pub trait Retirement: Send + Sync {
    /// Retires `old`, using `master` for any Genesys call. Called again on every retry of
    /// finishSecret, so it must be idempotent.
    fn retire(
        &self,
        master: &GenesysClient,
        old: &RetiringClient,
    ) -> impl Future<Output = Result<(), DrainError>> + Send;
}

/// Leaves the rotated-out client as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeepOldClient;

impl Retirement for KeepOldClient {
    async fn retire(&self, _master: &GenesysClient, old: &RetiringClient) -> Result<(), DrainError> {
        info!(
            secret_arn = %old.secret_arn,
            old_client_id = %old.client.id,
            "old client left active: no retirement policy configured"
        );
        Ok(())
    }
}

/// Why retiring a client failed.
#[derive(Debug, Error)]
pub enum DrainError {
    /// The configured drain cannot cover the client's token lifetime. Not retryable: the
    /// configuration must change. Nothing was changed in Genesys.
    #[error("client {client_id}: {source} (DRAIN_SECONDS)")]
    TooShort {
        /// The client being retired.
        client_id: String,
        /// The numbers.
        source: DrainTooShort,
    },
    /// A Genesys call failed.
    #[error("Genesys Cloud: {0}")]
    Genesys(#[from] GenesysError),
    /// The drain message could not be sent. The client is already inactive; a retry sends it.
    #[error("drain queue: {0}")]
    Queue(#[from] QueueError),
}

impl Classify for DrainError {
    fn is_retryable(&self) -> bool {
        match self {
            DrainError::TooShort { .. } => false,
            DrainError::Genesys(e) => e.is_retryable(),
            DrainError::Queue(e) => e.is_retryable(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            DrainError::TooShort { .. } => "DrainTooShort",
            DrainError::Genesys(e) => e.kind(),
            DrainError::Queue(e) => e.kind(),
        }
    }

    /// The call that failed: reading or deactivating the old client (`GetClient`,
    /// `UpdateClient`), or queueing its deletion (`SendMessage`).
    fn call_name(&self) -> Option<&'static str> {
        match self {
            DrainError::TooShort { .. } => None,
            DrainError::Genesys(e) => e.call_name(),
            DrainError::Queue(e) => e.call_name(),
        }
    }
}

/// Deactivates the rotated-out client and queues its deletion after the drain.
///
/// Every retry runs the same sequence (after finishSecret's GET: 404, the client is gone, nothing
/// left to do): PUT `inactive` unless it already is, send the message. A crash anywhere leaves either nothing
/// done, an inactive client awaiting its message (sent by the retry), or a message already
/// sent (the retry sends a duplicate, which the cleanup handles idempotently; every copy's
/// `notBefore` is at least the drain after the deactivation).
#[derive(Debug, Clone)]
pub struct DrainRetirement<Q> {
    queue: Q,
    settings: DrainSettings,
}

impl<Q: DrainQueue> DrainRetirement<Q> {
    /// Retirement through `queue` with `settings`.
    pub fn new(queue: Q, settings: DrainSettings) -> Self {
        Self { queue, settings }
    }

    /// The queue.
    pub fn queue(&self) -> &Q {
        &self.queue
    }

    async fn run(&self, master: &GenesysClient, old: &RetiringClient) -> Result<(), DrainError> {
        let client = &old.client;
        if client.is_soft_deleted() {
            info!(old_client_id = %client.id, "rotated-out client is already deleted (soft-deleted); nothing to retire");
            return Ok(());
        }
        // Checked before anything changes: a refused drain leaves the old client as it was.
        let drain = self
            .settings
            .drain_for(client.access_token_validity_seconds)
            .map_err(|source| DrainError::TooShort {
                client_id: client.id.clone(),
                source,
            })?;
        let was_active = client.effective_state() != ClientState::Inactive;
        if !master.deactivate(client).await? {
            info!(old_client_id = %client.id, "rotated-out client vanished while retiring it");
            return Ok(());
        }
        if was_active {
            info!(old_client_id = %client.id, "rotated-out client deactivated");
        }
        // Counted from now, after the PUT: every copy sent by any retry is at least the drain
        // after the deactivation.
        let now = OffsetDateTime::now_utc();
        let message = DrainMessage {
            version: DRAIN_MESSAGE_VERSION,
            secret_arn: old.secret_arn.clone(),
            client_id: client.id.clone(),
            client_name: client.name.clone(),
            secret_version_id: old.version_id.clone(),
            retired_at: now,
            not_before: now + drain,
        };
        self.queue.send(&message, drain.min(MAX_SQS_DELAY)).await?;
        info!(
            old_client_id = %client.id,
            drain_s = drain.as_secs(),
            not_before = %message.not_before,
            "deletion of the rotated-out client queued"
        );
        Ok(())
    }
}

impl<Q: DrainQueue> Retirement for DrainRetirement<Q> {
    async fn retire(&self, master: &GenesysClient, old: &RetiringClient) -> Result<(), DrainError> {
        self.run(master, old).await
    }
}
