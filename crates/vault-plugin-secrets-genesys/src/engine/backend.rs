//! The engine whole: what it is built with ([`EngineSettings`]) and the state every request
//! shares, held as narrow contexts: the org context ([`Org`]: the way to Genesys Cloud, the
//! clock, the org's client count), the [`Locks`], the `token/` clients' [`TokenCache`], the
//! periodic pass's [`LastListing`]. The server reaches it through
//! [`Backend`](crate::logical::Backend), implemented at the engine's root, which routes each
//! request to its path's module with the contexts that module takes; no module takes it whole.
use std::time::Duration;

use genesys_core::genesys::HttpSettings;
use genesys_core::region::EndpointOverrides;

use super::clock::{clock_from_env, Clock, CLOCK_SKEW_ENV};
use super::genesys::Connector;
use super::last_listing::LastListing;
use super::limits::PROPAGATION_TIMEOUT;
use super::locks::Locks;
use super::org::Org;
use super::token_cache::TokenCache;

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

/// The engine, as the server sees it through [`Backend`](crate::logical::Backend) (implemented in [`super`]).
/// It owns the engine's state as narrow contexts, and the routing hands each path's module only
/// the ones it uses.
pub struct GenesysBackend {
    /// The way to the org and the clock (every module that talks to Genesys).
    pub(super) org: Org,
    /// The root lock and the per-name locks.
    pub(super) locks: Locks,
    /// The `token/` clients in memory.
    pub(super) tokens: TokenCache,
    /// When the periodic pass last listed the org's clients.
    pub(super) last_listing: LastListing,
    /// Why the engine cannot work (a bad `GENESYS_ENDPOINT_OVERRIDES`), answered to every call.
    pub(super) broken: Option<String>,
}

impl std::fmt::Debug for GenesysBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenesysBackend")
            .field("org", &self.org)
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
            org: Org::new(
                Connector::new(settings.overrides, settings.http, settings.propagation_timeout),
                settings.clock,
            ),
            locks: Locks::default(),
            tokens: TokenCache::default(),
            last_listing: LastListing::default(),
            broken: None,
        }
    }
}
