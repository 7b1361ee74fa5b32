//! The retirement guard: which clients no rotation of this deployment may retire, org-wide.
//!
//! The org is shared by every secret the function serves, and one hand-made client is often
//! pasted into several of them. Before a client is deactivated or deleted, the clients held by
//! the masters of every allowed master secret and by every *other* served secret's AWSCURRENT
//! and AWSPENDING are read, so that a client still in use elsewhere is never touched. The
//! served secrets are found by their tag ([`crate::store::SERVED_TAG`]); a secret or master that
//! cannot be read fails the step (fail closed), since nothing then proves the client is free.

use secrecy::ExposeSecret;

use super::{RotationError, Rotator};
use crate::drain::Retirement;
use crate::ownership::Protected;
use crate::store::{SecretStore, Version, AWSCURRENT, AWSPENDING};

impl<S: SecretStore, R: Retirement> Rotator<S, R> {
    /// The clients that the masters and the served secrets other than `except` hold.
    ///
    /// Calls: one ListSecrets, one GetSecretValue per other served secret (two while it has a
    /// rotation pending), two per allowed master secret.
    pub(crate) async fn protected(&self, except: &str) -> Result<Protected, RotationError> {
        let mut protected = Protected::default();
        for arn in &self.config.allowed_master_arns {
            for stage in [AWSCURRENT, AWSPENDING] {
                if let Some(id) = self.held_client(arn, Version::Stage(stage), stage).await? {
                    protected.hold(id, format!("master secret {arn} ({stage})"));
                }
            }
        }
        for secret in self.store.served_secrets().await? {
            if secret.arn == except {
                continue;
            }
            let current = secret.version_with(AWSCURRENT);
            for stage in [AWSCURRENT, AWSPENDING] {
                let Some(version) = secret.version_with(stage) else {
                    continue;
                };
                if stage == AWSPENDING && Some(version) == current {
                    continue;
                }
                if let Some(id) = self
                    .held_client(&secret.arn, Version::IdAndStage(version, stage), stage)
                    .await?
                {
                    protected.hold(id, format!("{stage} of {}", secret.arn));
                }
            }
        }
        Ok(protected)
    }

    /// The `clientId` a version holds (`None`: no value). Read leniently: a version that no
    /// longer passes validation still holds its client; one without a readable `clientId` fails.
    async fn held_client(&self, arn: &str, version: Version<'_>, label: &str) -> Result<Option<String>, RotationError> {
        let Some(value) = self.store.get_value(arn, version).await? else {
            return Ok(None);
        };
        crate::config::client_id_in(value.value.expose_secret())
            .map(Some)
            .ok_or_else(|| RotationError::GuardUnreadable {
                secret_id: arn.to_owned(),
                version: label.to_owned(),
            })
    }
}
