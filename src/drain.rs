//! Retirement of the client that finishSecret rotated out: the seam between rotation and the
//! drain-then-delete lifecycle.
//!
//! [`Retirement`] is called after AWSCURRENT has moved, with the client the previous version
//! held. It must be idempotent: finishSecret may run again after any crash. [`KeepOldClient`]
//! is the policy of this slice: it leaves the old client untouched (it keeps working until a
//! later retirement policy deactivates it and queues its deletion).

use std::future::Future;

use crate::genesys::GenesysClient;
use crate::rotation::RotationError;

/// The client a rotation has just replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiringClient {
    /// ARN of the secret whose previous version holds the client.
    pub secret_arn: String,
    /// The secret version (now AWSPREVIOUS) that holds the client.
    pub version_id: String,
    /// The Genesys OAuth client id.
    pub client_id: String,
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
    ) -> impl Future<Output = Result<(), RotationError>> + Send;
}

/// Leaves the rotated-out client as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeepOldClient;

impl Retirement for KeepOldClient {
    async fn retire(&self, _master: &GenesysClient, old: &RetiringClient) -> Result<(), RotationError> {
        tracing::info!(
            secret_arn = %old.secret_arn,
            old_client_id = %old.client_id,
            "old client left active: no retirement policy configured"
        );
        Ok(())
    }
}
