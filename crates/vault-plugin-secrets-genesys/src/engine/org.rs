//! The org context: what a module needs to act in the mount's Genesys Cloud org. The
//! [`Connector`] (clients for credentials the engine holds, the cached master), the engine's
//! [`Clock`], and the org's client count ([`OrgRoom`]) that every create asks first. The clock
//! lives here because every module that reads it also talks to Genesys, and the count is kept by
//! it. Knows nothing of the engine's locks or of the `token/` clients' cache.
use std::sync::Arc;

use genesys_core::genesys::GenesysClient;
use time::OffsetDateTime;

use super::clock::Clock;
use super::config::Config;
use super::genesys::Connector;
use super::org_room::OrgRoom;
use crate::logical::LogicalError;

/// The way to the mount's org, with the engine's clock. One per engine.
pub struct Org {
    connector: Connector,
    clock: Clock,
    room: OrgRoom,
}

impl std::fmt::Debug for Org {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Org")
            .field("connector", &self.connector)
            .finish_non_exhaustive()
    }
}

impl Org {
    /// Reaches Genesys through `connector`, reads the time from `clock`; no client counted yet.
    pub fn new(connector: Connector, clock: Clock) -> Self {
        Self {
            connector,
            clock,
            room: OrgRoom::default(),
        }
    }

    /// The way to Genesys Cloud: clients for given credentials or a token, the master cache,
    /// the propagation wait.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// Now, by the engine's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The master client of `config` (cached with its token while the credential is the same).
    pub async fn master(&self, config: &Config) -> Result<Arc<GenesysClient>, LogicalError> {
        Ok(self
            .connector
            .master(config.region, config.generation, config.credentials()?)
            .await)
    }

    /// Takes a place under the org's client limit (`config`'s `client_limit` and
    /// `client_limit_margin`) for one new client, or refuses with a bad request: see
    /// [`OrgRoom`]. Every create of a client calls it first.
    pub async fn reserve_client(&self, config: &Config) -> Result<(), LogicalError> {
        let master = self.master(config).await?;
        self.room
            .reserve(&master, config.generation, config.client_limit(), self.now())
            .await
    }
}
