//! The mount's stored configuration (`config`): the master credential, its region, and the
//! mount's settings (`name_prefix`, `rollback_min_age`, `token_rotation_period`, `role_rule`,
//! `client_limit`, `client_limit_margin`),
//! with their defaults and bounds. The path that writes, reads and deletes it is
//! [`super::configure`].
use std::time::Duration;

use genesys_core::client_limit::{ClientLimit, DEFAULT_CLIENT_LIMIT, DEFAULT_LIMIT_MARGIN};
use genesys_core::domain::NamePrefix;
use genesys_core::region::Region;
use genesys_core::secret::ClientCredentials;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::genesys::stored_credentials;
use super::store::{self, StoredSecret};
use crate::logical::{LogicalError, Storage};

/// The name prefix of the mount's clients when `config` names none.
pub const DEFAULT_PREFIX: &str = "vault-genesys-";
/// `rollback_min_age` when `config` names none.
pub const DEFAULT_ROLLBACK_MIN_AGE: Duration = Duration::from_secs(600);
/// Longest `rollback_min_age`: a day, as the server's own engines give up on write-ahead records.
pub const MAX_ROLLBACK_MIN_AGE: Duration = Duration::from_secs(86_400);
/// How often the periodic pass gives `token/` clients a new secret, when `config` names nothing.
pub const DEFAULT_TOKEN_ROTATION: Duration = Duration::from_secs(86_400);
/// Bounds of `token_rotation_period`.
pub const TOKEN_ROTATION_RANGE: std::ops::RangeInclusive<u64> = 3600..=90 * 86_400;
/// Largest `client_limit`, as the Lambdas' `CLIENT_LIMIT`.
pub const MAX_CLIENT_LIMIT: u64 = 1_000_000;

/// The stored configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// The master client's id.
    pub client_id: String,
    /// The master client's secret; never read back.
    pub client_secret: StoredSecret,
    /// Its region.
    pub region: Region,
    /// The prefix of every client name this mount makes (checked by [`NamePrefix`] on write).
    pub name_prefix: String,
    /// How old a create's write-ahead record must be before the periodic pass rolls it back.
    pub rollback_min_age_s: u64,
    /// How often a `token/` role's client gets a new secret.
    pub token_rotation_period_s: u64,
    /// Whether the `config` and `roles/` writes check that the master holds every
    /// role-division the roles assign ([`genesys_core::role_rule`]). On unless the operator
    /// turned it off (configs stored before the field existed read as on).
    #[serde(default = "role_rule_default")]
    pub role_rule: bool,
    /// The org's OAuth client limit ([`genesys_core::client_limit`]); configs stored before the
    /// field existed read the Lambdas' default.
    #[serde(default = "client_limit_default")]
    pub client_limit: usize,
    /// Places kept free under `client_limit`: a new client is refused once the org holds
    /// `client_limit - client_limit_margin`.
    #[serde(default = "client_limit_margin_default")]
    pub client_limit_margin: usize,
    /// The organization the master acts in (from `tokens/me`).
    pub org_id: Option<String>,
    /// Counts changes of the stored master secret (writes and root rotations): which cached
    /// master client is current.
    pub generation: u64,
    /// When `rotate-root` last gave the master a new secret.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub root_rotated_at: Option<OffsetDateTime>,
}

fn role_rule_default() -> bool {
    true
}

fn client_limit_default() -> usize {
    DEFAULT_CLIENT_LIMIT
}

fn client_limit_margin_default() -> usize {
    DEFAULT_LIMIT_MARGIN
}

impl Config {
    /// The stored configuration, if any.
    pub async fn load(storage: &dyn Storage) -> Result<Option<Config>, LogicalError> {
        store::get(storage, store::CONFIG).await
    }

    /// The stored configuration, or a bad request saying the mount is not configured.
    pub async fn require(storage: &dyn Storage) -> Result<Config, LogicalError> {
        Self::load(storage)
            .await?
            .ok_or_else(|| LogicalError::BadRequest("the engine is not configured: write config first".into()))
    }

    /// Stores it.
    pub async fn save(&self, storage: &dyn Storage) -> Result<(), LogicalError> {
        store::put(storage, store::CONFIG, self).await
    }

    /// The master credential.
    pub fn credentials(&self) -> Result<ClientCredentials, LogicalError> {
        stored_credentials(&self.client_id, self.client_secret.secret())
    }

    /// The validated name prefix.
    pub fn prefix(&self) -> Result<NamePrefix, LogicalError> {
        NamePrefix::parse(&self.name_prefix)
            .map_err(|e| LogicalError::Internal(format!("stored name_prefix is invalid: {e}")))
    }

    /// `rollback_min_age`.
    pub fn rollback_min_age(&self) -> Duration {
        Duration::from_secs(self.rollback_min_age_s)
    }

    /// `token_rotation_period`.
    pub fn token_rotation_period(&self) -> Duration {
        Duration::from_secs(self.token_rotation_period_s)
    }

    /// `client_limit` and `client_limit_margin` as the core's rule.
    pub fn client_limit(&self) -> ClientLimit {
        ClientLimit {
            limit: self.client_limit,
            margin: self.client_limit_margin,
        }
    }
}
