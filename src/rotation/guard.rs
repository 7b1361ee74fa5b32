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
use crate::store::{SecretStore, Version, AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use genesys_core::ownership::Protected;

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

    /// What an operator should know about how secret `arn` shares its org, for `check`: other
    /// served secrets whose prefix is the same as or nested with this one's (harmless under the
    /// ownership rule, confusing in a client list), and clients of this secret that someone else
    /// holds (the current client, which the next rotation will leave active; the previous one,
    /// left active by the last rotation for that reason). Changes nothing.
    pub async fn sharing_warnings(&self, arn: &str) -> Result<Vec<String>, RotationError> {
        let desc = self.store.describe(arn).await?;
        if self.is_master(&desc) {
            return Ok(Vec::new());
        }
        let current = self.read_current(&desc).await?;
        let prefix = &current.settings.name_prefix;
        let mut warnings = Vec::new();
        for other in self.store.served_secrets().await? {
            if other.arn == desc.arn {
                continue;
            }
            let Ok(Some(theirs)) = self.read_integration(&other.arn, Version::Stage(AWSCURRENT)).await else {
                continue;
            };
            let same_org = theirs.settings.region == current.settings.region
                && theirs.settings.master_secret_arn == current.settings.master_secret_arn;
            if same_org && genesys_core::ownership::prefixes_overlap(prefix, &theirs.settings.name_prefix) {
                warnings.push(format!(
                    "namePrefix {:?} overlaps {:?} of {} in the same organization: harmless (clients are told apart                      by version and marker), but a reader of the client list may confuse them; prefer distinct prefixes",
                    prefix.as_str(),
                    theirs.settings.name_prefix.as_str(),
                    other.arn
                ));
            }
        }
        let protected = self.protected(&desc.arn).await?;
        if let Some(holder) = protected.holder(&current.credentials.client_id) {
            warnings.push(format!(
                "the current client {} is also held by {holder}: the next rotation will leave it active; rotate                  the other holders too, then retire it by hand",
                current.credentials.client_id
            ));
        }
        if let Some(previous) = self.read_integration(&desc.arn, Version::Stage(AWSPREVIOUS)).await? {
            let id = &previous.credentials.client_id;
            if let Some(holder) = protected.holder(id) {
                warnings.push(format!(
                    "the previous client {id} was left active because {holder} holds it; retire it by hand once                      nothing does"
                ));
            }
        }
        Ok(warnings)
    }

    /// The `clientId` a version holds (`None`: no value). Read leniently: a version that no
    /// longer passes validation still holds its client; one without a readable `clientId` fails.
    async fn held_client(&self, arn: &str, version: Version<'_>, label: &str) -> Result<Option<String>, RotationError> {
        let Some(value) = self.store.get_value(arn, version).await? else {
            return Ok(None);
        };
        crate::secret_format::client_id_in(value.value.expose_secret())
            .map(Some)
            .ok_or_else(|| RotationError::GuardUnreadable {
                secret_id: arn.to_owned(),
                version: label.to_owned(),
            })
    }
}
