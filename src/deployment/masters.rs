//! The deployment's master clients: the one an integration secret names (with a working token,
//! falling back to AWSPENDING while the master's own rotation is between its new secret and
//! finishSecret), a master secret's own (for `conformance`), and the role rule's check of what
//! a master holds.

use std::sync::Arc;

use secrecy::ExposeSecret;
use tracing::warn;

use super::context::Deployment;
use super::error::DeploymentError;
use super::master_cache::MasterKey;
use crate::secret_format::{IntegrationSecret, MasterSecret};
use crate::store::{SecretStore, SecretValue, Version, AWSCURRENT, AWSPENDING};
use genesys_core::classify::Classify;
use genesys_core::genesys::{GenesysClient, GenesysError};
use genesys_core::region::Region;

impl<S: SecretStore> Deployment<S> {
    /// The Genesys client for the master named by `secret`, with a working token, reused while
    /// the master secret's version is unchanged so its token is fetched once per lifetime, not
    /// once per call.
    ///
    /// While the master's own rotation is between its new secret and finishSecret, AWSCURRENT
    /// holds a secret Genesys already refuses: a refused AWSCURRENT falls back to AWSPENDING.
    pub(crate) async fn master(&self, secret: &IntegrationSecret) -> Result<Arc<GenesysClient>, DeploymentError> {
        self.master_of(&secret.settings.master_secret_arn, secret.settings.region)
            .await
    }

    /// [`master`](Self::master) by the master secret's ARN and the region, before any
    /// integration secret names them (enrollment).
    pub async fn master_of(&self, arn: &str, region: Region) -> Result<Arc<GenesysClient>, DeploymentError> {
        let current = self
            .master_value(arn, AWSCURRENT)
            .await?
            .ok_or_else(|| DeploymentError::MissingValue {
                secret_id: arn.to_owned(),
                version: AWSCURRENT.to_owned(),
            })?;
        let client = self.master_client(arn, &current, region, None)?;
        let refused = match client.token().await {
            Ok(_) => return Ok(client),
            Err(e @ GenesysError::InvalidClient { .. }) => e,
            Err(e) => return Err(e.into()),
        };
        let pending = match self.master_value(arn, AWSPENDING).await? {
            Some(p) if p.version_id != current.version_id => p,
            _ => return Err(refused.into()),
        };
        let fallback = self.master_client(arn, &pending, region, Some(&current.version_id))?;
        match fallback.token().await {
            Ok(_) => {
                warn!(master_secret = %arn, pending_version = %pending.version_id, "the master's AWSCURRENT secret is refused; using its AWSPENDING secret (a master rotation is in progress)");
                Ok(fallback)
            }
            Err(e) if e.is_retryable() => Err(e.into()),
            Err(_) => Err(refused.into()),
        }
    }

    /// The cached client for one version of a master secret, or a new one. Caching a version
    /// evicts the other versions of the same master and region, except `keep`.
    fn master_client(
        &self,
        arn: &str,
        value: &SecretValue,
        region: Region,
        keep: Option<&str>,
    ) -> Result<Arc<GenesysClient>, DeploymentError> {
        let key = MasterKey {
            arn: arn.to_owned(),
            version_id: value.version_id.clone(),
            region,
        };
        if let Some(client) = self.masters.get(&key) {
            return Ok(client);
        }
        let master =
            MasterSecret::parse(value.value.expose_secret()).map_err(|source| DeploymentError::MasterSecret {
                arn: arn.to_owned(),
                source,
            })?;
        if let Some(master_region) = master.region {
            if master_region != region {
                return Err(DeploymentError::RegionMismatch {
                    master: master_region.domain().to_owned(),
                    integration: region.domain().to_owned(),
                });
            }
        }
        let client = Arc::new(self.genesys_client(region, master.credentials));
        self.masters.insert(key, client.clone(), keep);
        Ok(client)
    }

    /// For `conformance`: the master client of secret `secret_id` (an integration secret's
    /// master, or a master secret's own client, in its stated region or `region`), and the
    /// role-divisions an integration secret gives its clients (none for a master secret).
    pub async fn master_for(
        &self,
        secret_id: &str,
        region: Option<Region>,
    ) -> Result<(Arc<GenesysClient>, Vec<genesys_core::genesys::RoleDivision>), DeploymentError> {
        let desc = self.store().describe(secret_id).await?;
        if self.is_master(&desc) {
            let value = self
                .store()
                .get_value(&desc.arn, Version::Stage(AWSCURRENT))
                .await?
                .ok_or_else(|| DeploymentError::NoCurrent(desc.arn.clone()))?;
            let stated = MasterSecret::parse(value.value.expose_secret())
                .map_err(|source| DeploymentError::MasterSecret {
                    arn: desc.arn.clone(),
                    source,
                })?
                .region;
            let region = stated.or(region).ok_or_else(|| DeploymentError::MissingValue {
                secret_id: desc.arn.clone(),
                version: "region (the master secret states none: give --region)".into(),
            })?;
            return Ok((self.master_of(&desc.arn, region).await?, Vec::new()));
        }
        let current = self.read_current(&desc).await?;
        Ok((self.master(&current).await?, current.settings.role_divisions))
    }

    /// The role rule, for `check` and `enroll` (never a step: whether it binds masters is
    /// unconfirmed): fails with [`DeploymentError::MasterLacksRoles`] unless the master of secret
    /// `secret_id` holds every role-division its new clients get and every one its current
    /// client has (deactivating that client edits it). Reads only.
    pub async fn check_roles(&self, secret_id: &str) -> Result<(), DeploymentError> {
        let desc = self.store().describe(secret_id).await?;
        if self.is_master(&desc) {
            return Ok(());
        }
        let current = self.read_current(&desc).await?;
        let master = self.master(&current).await?;
        let mut wanted = current.settings.role_divisions.clone();
        if let Some(client) = master.get_client(&current.credentials.client_id).await? {
            wanted.extend(client.role_divisions);
        }
        let held = genesys_core::role_rule::held_by(&master).await?;
        let missing = genesys_core::role_rule::missing(&held, &wanted);
        if missing.is_empty() {
            return Ok(());
        }
        Err(DeploymentError::MasterLacksRoles {
            master_client_id: master.client_id().to_owned(),
            missing: genesys_core::role_rule::describe(&missing),
        })
    }
}
