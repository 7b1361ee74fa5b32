//! A role as stored (`roles/<name>`): what a `creds/` lease's client and a `token/` client are
//! made with, and the lease terms. The paths that write and read it are [`super::roles`].
use std::time::Duration;

use genesys_core::domain::TokenLifetime;
use genesys_core::genesys::RoleDivision;
use serde::{Deserialize, Serialize};

use super::store;
use crate::logical::{LogicalError, Storage};

/// The token lifetime of a role's clients when the role names none: an hour.
pub const DEFAULT_TOKEN_LIFETIME: u32 = 3600;
/// A stored role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// The Genesys roles (and divisions) the clients get.
    pub role_divisions: Vec<RoleDivision>,
    /// The clients' token lifetime in seconds (cut to a lease's ttl for `creds/`).
    pub token_lifetime: u32,
    /// A lease's ttl in seconds; 0: the mount's default.
    pub ttl_s: u64,
    /// A lease's max_ttl in seconds; 0: the mount's maximum.
    pub max_ttl_s: u64,
    /// Free text, kept in the clients' descriptions before the ownership marker.
    pub description: String,
}

impl Role {
    /// The role `name`, if it exists.
    pub async fn load(storage: &dyn Storage, name: &str) -> Result<Option<Role>, LogicalError> {
        store::get(storage, &key(name)).await
    }

    /// The role `name`, or a bad request saying it does not exist.
    pub async fn require(storage: &dyn Storage, name: &str) -> Result<Role, LogicalError> {
        Self::load(storage, name)
            .await?
            .ok_or_else(|| LogicalError::BadRequest(format!("role \"{name}\" does not exist")))
    }

    /// The token lifetime as the validated type.
    pub fn token_lifetime(&self) -> TokenLifetime {
        TokenLifetime::new(u64::from(self.token_lifetime)).unwrap_or(TokenLifetime::DEFAULT)
    }

    /// `ttl`.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_s)
    }

    /// `max_ttl`.
    pub fn max_ttl(&self) -> Duration {
        Duration::from_secs(self.max_ttl_s)
    }

    /// The text before the marker in a client's description.
    pub fn note(&self, role_name: &str, what: &str) -> String {
        if self.description.trim().is_empty() {
            format!("{what} of role {role_name}")
        } else {
            self.description.clone()
        }
    }
}

pub(super) fn key(name: &str) -> String {
    format!("{}{name}", store::ROLES)
}
