//! The engine's state, shared by every request: the way to Genesys Cloud, the clock, the locks,
//! the `token/` clients' cache, the org's client count, when the mount was last reconciled. What the engine is built
//! with ([`EngineSettings`]). The server reaches it through [`Backend`](crate::logical::Backend),
//! implemented at the engine's root, which routes each request to its path's module.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use genesys_core::genesys::{GenesysClient, HttpSettings};
use genesys_core::region::EndpointOverrides;
use time::OffsetDateTime;

use super::clock::{clock_from_env, Clock, CLOCK_SKEW_ENV};
use super::config::Config;
use super::genesys::Connector;
use super::limits::PROPAGATION_TIMEOUT;
use super::org_room::OrgRoom;
use super::token_cache::TokenCache;
use crate::logical::LogicalError;

/// What the engine is built with.
#[derive(Clone)]
pub struct EngineSettings {
    /// Regions redirected to loopback emulators (test builds only; empty otherwise).
    pub overrides: EndpointOverrides,
    /// Timeouts and retries of every Genesys call.
    pub http: HttpSettings,
    /// The wall clock.
    pub clock: Clock,
    /// How long a fresh client may take to get its first token.
    pub propagation_timeout: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            overrides: EndpointOverrides::none(),
            http: HttpSettings::default(),
            clock: Clock::system(),
            propagation_timeout: PROPAGATION_TIMEOUT,
        }
    }
}

/// One async lock per name (a role, a static role), made on first use.
#[derive(Default)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    /// Waits for and takes the lock of `name`.
    pub async fn lock(&self, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .locks
            .lock()
            .expect("lock table")
            .entry(name.to_owned())
            .or_default()
            .clone();
        lock.lock_owned().await
    }
}

/// The engine, as the server sees it through [`Backend`](crate::logical::Backend) (implemented in [`super`]).
pub struct GenesysBackend {
    pub(super) connector: Connector,
    pub(super) clock: Clock,
    /// Held exclusively by `config` writes and deletes, `rotate-root` and its recovery; shared by
    /// whatever creates clients (`creds/`, `token/`), so config cannot go (or the master's
    /// secret change) under a create in flight.
    pub(super) root_lock: tokio::sync::RwLock<()>,
    /// Per role (`role/<name>`) and static role (`static/<name>`).
    pub(super) locks: KeyedLocks,
    pub(super) tokens: TokenCache,
    /// The org's client count, for the client limit.
    pub(super) org_room: OrgRoom,
    pub(super) last_reconcile: Mutex<Option<OffsetDateTime>>,
    /// Why the engine cannot work (a bad `GENESYS_ENDPOINT_OVERRIDES`), answered to every call.
    pub(super) broken: Option<String>,
}

impl std::fmt::Debug for GenesysBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenesysBackend")
            .field("connector", &self.connector)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl Default for GenesysBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl GenesysBackend {
    /// A new engine; its state lives in the server's storage, reached through each call's
    /// context. Reads `GENESYS_ENDPOINT_OVERRIDES` (test builds only; a release build refuses
    /// it): a bad value is logged and answered to every call.
    pub fn new() -> Self {
        match EndpointOverrides::from_env()
            .map_err(|e| e.to_string())
            .and_then(|overrides| {
                Ok((
                    overrides,
                    clock_from_env(std::env::var(CLOCK_SKEW_ENV).ok().as_deref())?,
                ))
            }) {
            Ok((overrides, clock)) => Self::with_settings(EngineSettings {
                overrides,
                clock,
                ..EngineSettings::default()
            }),
            Err(e) => {
                tracing::error!(error = %e, "the engine cannot start");
                let mut engine = Self::with_settings(EngineSettings::default());
                engine.broken = Some(e);
                engine
            }
        }
    }

    /// An engine with these settings (tests: an emulator's endpoints, a clock).
    pub fn with_settings(settings: EngineSettings) -> Self {
        Self {
            connector: Connector::new(settings.overrides, settings.http, settings.propagation_timeout),
            clock: settings.clock,
            root_lock: tokio::sync::RwLock::new(()),
            locks: KeyedLocks::default(),
            tokens: TokenCache::default(),
            org_room: OrgRoom::default(),
            last_reconcile: Mutex::new(None),
            broken: None,
        }
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
        self.org_room
            .reserve(&master, config.generation, config.client_limit(), self.now())
            .await
    }
}
