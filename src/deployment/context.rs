//! The deployment context itself: the secret store, the function's configuration, the HTTP client
//! and the master cache, with the checked reads every part of the front end makes (a served
//! secret's value, validated against the allow-list; the served set; a master's value once per
//! invocation).

use secrecy::ExposeSecret;

use super::error::DeploymentError;
use super::invocation;
use super::master_cache::MasterCache;
use crate::config::{ReconcileConfig, RotatorConfig};
use crate::secret_format::IntegrationSecret;
use crate::store::{SecretDescription, SecretStore, SecretValue, StoreError, Version, AWSCURRENT};
use genesys_core::genesys::GenesysClient;
use genesys_core::region::Region;

/// What one deployment serves and reads with: its secret store, its configuration (the masters
/// it may use, its endpoints and limits), its reconciliation settings and the master clients it
/// keeps. Build one per process and share it: it caches master clients (and so their tokens)
/// across invocations.
pub struct Deployment<S> {
    store: S,
    config: RotatorConfig,
    http: reqwest::Client,
    reconcile: ReconcileConfig,
    pub(super) masters: MasterCache,
}

impl<S: SecretStore> Deployment<S> {
    /// The context over `store` with `config`, and the default reconciliation settings.
    pub fn new(store: S, config: RotatorConfig) -> Self {
        Self {
            store,
            http: config.http_settings().http_client(),
            config,
            reconcile: ReconcileConfig::default(),
            masters: MasterCache::default(),
        }
    }

    /// The same context with these reconciliation settings (default: [`ReconcileConfig::default`]).
    pub fn with_reconcile(mut self, reconcile: ReconcileConfig) -> Self {
        self.reconcile = reconcile;
        self
    }

    /// The reconciliation settings.
    pub fn reconcile_config(&self) -> &ReconcileConfig {
        &self.reconcile
    }

    /// Drops the cached master clients (and their tokens): the next read authenticates again.
    pub fn forget_masters(&self) {
        self.masters.clear();
    }

    /// The configuration this deployment runs with.
    pub fn config(&self) -> &RotatorConfig {
        &self.config
    }

    /// The store this deployment uses.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The HTTP client every Genesys client of this deployment shares.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Whether `desc` is one of the master secrets this deployment may use: its rotation is a
    /// master rotation.
    pub fn is_master(&self, desc: &SecretDescription) -> bool {
        self.config.master_allowed(&desc.arn)
    }

    /// The secrets this deployment serves: tagged [`crate::store::SERVED_TAG`] and, when the
    /// deployment names its rotation function ([`RotatorConfig::rotation_function`]), rotated
    /// by that function. A stranger's tag alone neither makes a holder nor blocks one.
    pub async fn served_secrets(&self) -> Result<Vec<SecretDescription>, DeploymentError> {
        let mut served = self.store.served_secrets().await?;
        if let Some(function) = &self.config.rotation_function {
            served.retain(|s| {
                s.rotation_lambda_arn
                    .as_deref()
                    .is_some_and(|arn| crate::config::function_name(arn) == function)
            });
        }
        Ok(served)
    }

    /// Reads and validates one version of the integration secret; `None` if it has no value.
    pub(crate) async fn read_integration(
        &self,
        arn: &str,
        version: Version<'_>,
    ) -> Result<Option<IntegrationSecret>, DeploymentError> {
        let label = match version {
            Version::Stage(s) => s.to_owned(),
            Version::IdAndStage(id, _) | Version::Id(id) => id.to_owned(),
        };
        let Some(value) = self.store.get_value(arn, version).await? else {
            return Ok(None);
        };
        self.integration_from(arn, &label, &value).map(Some)
    }

    /// Validates `value`, read as version or stage `label` of integration secret `arn`.
    pub(crate) fn integration_from(
        &self,
        arn: &str,
        label: &str,
        value: &SecretValue,
    ) -> Result<IntegrationSecret, DeploymentError> {
        let secret =
            IntegrationSecret::parse(value.value.expose_secret()).map_err(|source| DeploymentError::Secret {
                secret_id: arn.to_owned(),
                version: label.to_owned(),
                source,
            })?;
        if !self.config.master_allowed(&secret.settings.master_secret_arn) {
            return Err(DeploymentError::MasterNotAllowed(secret.settings.master_secret_arn));
        }
        Ok(secret)
    }

    /// The validated AWSCURRENT value of the integration secret `desc`.
    pub(crate) async fn read_current(&self, desc: &SecretDescription) -> Result<IntegrationSecret, DeploymentError> {
        self.read_integration(&desc.arn, Version::Stage(AWSCURRENT))
            .await?
            .ok_or_else(|| DeploymentError::NoCurrent(desc.arn.clone()))
    }

    /// The value of master secret `arn` at `stage` (AWSCURRENT or AWSPENDING), read once per
    /// invocation ([`invocation`]); `None` if no version holds the stage or it has no value. A
    /// failed read is not remembered.
    pub(crate) async fn master_value(&self, arn: &str, stage: &'static str) -> Result<Option<SecretValue>, StoreError> {
        if let Some(value) = invocation::cached(arn, stage) {
            return Ok(value);
        }
        let value = self.store.get_value(arn, Version::Stage(stage)).await?;
        invocation::remember(arn, stage, &value);
        Ok(value)
    }

    /// A Genesys client for `credentials` in `region` (its endpoints as configured).
    pub fn genesys_client(
        &self,
        region: Region,
        credentials: genesys_core::secret::ClientCredentials,
    ) -> GenesysClient {
        GenesysClient::new(
            self.http.clone(),
            self.config.endpoint_overrides.resolve(region),
            credentials,
            self.config.http_settings(),
        )
    }
}
