//! The Genesys Cloud secrets engine: `config`, `rotate-root`, `roles/`, `creds/`, `token/`,
//! `static-roles/`, `static-creds/`, `rotate-role/`, and the periodic pass. Knows nothing of gRPC:
//! it answers [`Backend::handle`] over the storage and system view of each call's [`Context`].
//! The design (storage layout, write-ahead records, ownership, leases, crash safety):
//! docs/design/openbao-engine.md.
//!
//! # Layout
//! - [`paths`]: which path a request names and which operations it takes; [`fields`]: a write's
//!   fields, checked before anything changes.
//! - [`store`]: the storage layout and typed JSON records; [`identity`]: the mount's owner id.
//! - [`genesys`]: the way to Genesys Cloud (the core's client, the master, propagation).
//! - [`config`], [`root`] (`rotate-root` and its recovery), [`roles`], [`lease`] (ttl rules),
//!   [`creds`] (leases), [`token`] (bearer tokens), [`static_roles`].
//! - [`org_room`]: room under the org's client limit before a create (a cached count).
//! - [`managed`]: the clients the engine creates; [`wal`]: write-ahead records; [`rekey`]: new
//!   secrets behind them; [`reconcile`]: which of the mount's clients go, and when;
//!   [`periodic`]: the `rollback` operation that runs it all.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use genesys_core::genesys::{GenesysClient, HttpSettings};
use genesys_core::region::EndpointOverrides;
use time::OffsetDateTime;
use tracing::debug;

use crate::logical::{Backend, Context, LogicalError, Operation, Request, Response, SpecialPaths};

pub mod config;
pub mod creds;
pub mod fields;
pub mod genesys;
pub mod identity;
pub mod lease;
pub mod managed;
pub mod org_room;
pub mod paths;
pub mod periodic;
pub mod reconcile;
pub mod rekey;
pub mod roles;
pub mod root;
pub mod static_guard;
pub mod static_roles;
pub mod store;
pub mod token;
pub mod wal;

#[cfg(all(test, feature = "endpoint-overrides"))]
mod testing;

use paths::Route;

/// The longest any request runs: every Genesys wait and request inside it is cut to it, and what
/// is still running then is dropped (as a crash would, which every step survives).
pub const OP_DEADLINE: Duration = Duration::from_secs(120);
/// The longest one periodic pass runs (the server calls about once a minute).
pub const PASS_DEADLINE: Duration = Duration::from_secs(50);
/// How old a record of an external change must be before anyone acts on it as abandoned: longer
/// than any request runs ([`OP_DEADLINE`]), plus a minute for a request sent just before a crash
/// to reach Genesys. Also the shortest `rollback_min_age`.
pub const SETTLE: Duration = Duration::from_secs(OP_DEADLINE.as_secs() + 60);
/// How long a fresh client may take to get its first token before it is given up.
pub const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(60);

/// The engine's wall clock: the system's, or a test's.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(OffsetDateTime::now_utc))
    }

    /// A clock that reads `now`.
    pub fn from_fn(now: impl Fn() -> OffsetDateTime + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// Now.
    pub fn now(&self) -> OffsetDateTime {
        (self.0)()
    }
}

/// Test and demo builds only (cargo feature `endpoint-overrides`): whole seconds added to the
/// engine's clock, so a test against a real server can make a write-ahead record look settled
/// without waiting minutes (the plugin is registered again with it and reloaded). A build without
/// the feature refuses it, as it refuses endpoint overrides.
pub const CLOCK_SKEW_ENV: &str = "GENESYS_PLUGIN_CLOCK_SKEW_SECS";

/// The engine's clock given [`CLOCK_SKEW_ENV`]'s value (`None`: unset).
fn clock_from_env(skew: Option<&str>) -> Result<Clock, String> {
    let Some(skew) = skew else {
        return Ok(Clock::system());
    };
    if !cfg!(feature = "endpoint-overrides") {
        return Err(format!(
            "{CLOCK_SKEW_ENV} is set, but this build does not take it: it is compiled only into test and demo \
             builds (cargo feature `endpoint-overrides`); unset it"
        ));
    }
    let secs: i64 = skew
        .trim()
        .parse()
        .map_err(|_| format!("{CLOCK_SKEW_ENV} must be whole seconds, got {skew:?}"))?;
    Ok(Clock::from_fn(move || {
        OffsetDateTime::now_utc() + time::Duration::seconds(secs)
    }))
}

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

/// The engine, as the server sees it through [`Backend`].
pub struct GenesysBackend {
    connector: genesys::Connector,
    clock: Clock,
    /// Held exclusively by `config` writes and deletes, `rotate-root` and its recovery; shared by
    /// whatever creates clients (`creds/`, `token/`), so config cannot go (or the master's
    /// secret change) under a create in flight.
    root_lock: tokio::sync::RwLock<()>,
    /// Per role (`role/<name>`) and static role (`static/<name>`).
    locks: KeyedLocks,
    tokens: token::TokenCache,
    /// The org's client count, for the client limit.
    org_room: org_room::OrgRoom,
    last_reconcile: Mutex<Option<OffsetDateTime>>,
    /// Why the engine cannot work (a bad `GENESYS_ENDPOINT_OVERRIDES`), answered to every call.
    broken: Option<String>,
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
            connector: genesys::Connector::new(settings.overrides, settings.http, settings.propagation_timeout),
            clock: settings.clock,
            root_lock: tokio::sync::RwLock::new(()),
            locks: KeyedLocks::default(),
            tokens: token::TokenCache::default(),
            org_room: org_room::OrgRoom::default(),
            last_reconcile: Mutex::new(None),
            broken: None,
        }
    }

    /// Now, by the engine's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The master client of `config` (cached with its token while the credential is the same).
    pub async fn master(&self, config: &config::Config) -> Result<Arc<GenesysClient>, LogicalError> {
        Ok(self
            .connector
            .master(config.region, config.generation, config.credentials()?)
            .await)
    }

    async fn dispatch(&self, ctx: &Context, req: Request) -> Result<Option<Response>, LogicalError> {
        match req.operation {
            Operation::Rollback => return periodic::run(self, ctx).await,
            Operation::Revoke | Operation::Renew => {
                let secret = req
                    .secret
                    .as_ref()
                    .ok_or_else(|| LogicalError::BadRequest("a revoke or renew names no lease".into()))?;
                let kind = secret.internal_data.get("secret_type").and_then(|v| v.as_str());
                return match (kind, req.operation) {
                    (Some(creds::SECRET_TYPE), Operation::Revoke) => creds::revoke(self, ctx, secret).await,
                    (Some(creds::SECRET_TYPE), _) => creds::renew(self, ctx, secret).await,
                    _ => Err(LogicalError::BadRequest(format!(
                        "unknown secret type {kind:?} in the lease's internal data"
                    ))),
                };
            }
            _ => {}
        }
        let route = Route::parse(&req.path)?;
        if !route.allows(req.operation) {
            return Err(LogicalError::UnsupportedOperation);
        }
        let write = matches!(req.operation, Operation::Create | Operation::Update);
        match (route, req.operation) {
            (Route::Config, Operation::Read) => config::read(self, ctx).await,
            (Route::Config, Operation::Delete) => config::delete(self, ctx).await,
            (Route::Config, _) if write => config::write(self, ctx, &req).await,
            (Route::RotateRoot, _) => root::rotate(self, ctx, &req).await,
            (Route::Roles, _) => roles::list(ctx).await,
            (Route::Role(name), Operation::Read) => roles::read(ctx, name).await,
            (Route::Role(name), Operation::Delete) => roles::delete(self, ctx, name).await,
            (Route::Role(name), _) => roles::write(self, ctx, &req, name).await,
            (Route::Creds(name), _) => creds::issue(self, ctx, name).await,
            (Route::Token(name), _) => token::read(self, ctx, name).await,
            (Route::StaticRoles, _) => static_roles::list(ctx).await,
            (Route::StaticRole(name), Operation::Read) => static_roles::read(ctx, name).await,
            (Route::StaticRole(name), Operation::Delete) => static_roles::delete(self, ctx, name).await,
            (Route::StaticRole(name), _) => static_roles::write(self, ctx, &req, name).await,
            (Route::StaticCreds(name), _) => static_roles::creds(self, ctx, name).await,
            (Route::RotateRole(name), _) => static_roles::rotate_now(self, ctx, &req, name).await,
            (Route::Config, _) => Err(LogicalError::UnsupportedOperation),
        }
    }
}

#[async_trait]
impl Backend for GenesysBackend {
    fn special_paths(&self) -> SpecialPaths {
        SpecialPaths {
            // The records that hold secrets: the master's, the root rotation's recovery token,
            // static roles' and token clients' secrets.
            seal_wrap_storage: vec![
                store::CONFIG.into(),
                store::ROOT_ROTATION.into(),
                store::STATIC_ROLES.into(),
                store::CLIENTS.into(),
            ],
            ..SpecialPaths::default()
        }
    }

    async fn handle(&self, ctx: &Context, req: Request) -> Result<Option<Response>, LogicalError> {
        if let Some(broken) = &self.broken {
            return Err(LogicalError::Internal(broken.clone()));
        }
        let op = req.operation;
        let path = req.path.clone();
        debug!(operation = %op, path = %path, "request");
        let limit = if op == Operation::Rollback {
            PASS_DEADLINE
        } else {
            OP_DEADLINE
        };
        let outcome =
            genesys_core::deadline::run_until(Some(Instant::now() + limit), Box::pin(self.dispatch(ctx, req))).await;
        match outcome {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                debug!(operation = %op, path = %path, error = %e, "request failed");
                Err(e)
            }
            Err(genesys_core::deadline::Elapsed) => Err(LogicalError::Internal(format!(
                "{op} {path} ran out of time after {} s; anything it left half-done is finished or undone by the \
                 periodic pass",
                limit.as_secs()
            ))),
        }
    }

    async fn invalidate(&self, key: &str) {
        // Another node changed the config: the cached master client may hold a stale secret.
        if key == store::CONFIG {
            self.connector.forget_master().await;
        }
    }
}

/// How long ago `then` was, at `now` (zero if in the future).
pub fn age(then: OffsetDateTime, now: OffsetDateTime) -> Duration {
    Duration::try_from(now - then).unwrap_or(Duration::ZERO)
}

/// `t` as RFC 3339.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(all(test, feature = "endpoint-overrides"))]
mod tests {
    use genesys_emulator::{routes, Fault, FaultAction, SeedClient};
    use serde_json::json;

    use super::testing::{Captured, Fixture};
    use super::*;

    #[tokio::test]
    async fn unknown_paths_and_operations_are_refused_before_any_work() {
        let f = Fixture::new().await;
        assert_eq!(f.read("nope").await, Err(LogicalError::UnsupportedPath));
        assert_eq!(
            f.write("creds/crm", json!({})).await,
            Err(LogicalError::UnsupportedOperation)
        );
        assert_eq!(
            f.call(Operation::List, "config", json!({})).await,
            Err(LogicalError::UnsupportedOperation)
        );
        assert!(matches!(f.read("roles/a b").await, Err(LogicalError::BadRequest(_))));
        let mut revoke = Request::new(Operation::Revoke, "creds/x");
        revoke.secret = Some(crate::logical::LeaseSecret::default());
        assert!(
            matches!(f.engine.handle(&f.ctx(), revoke).await, Err(LogicalError::BadRequest(m)) if m.contains("secret type"))
        );
        assert_eq!(f.genesys_calls(), 0);
    }

    #[tokio::test]
    async fn a_role_write_is_checked_whole_and_merges_into_the_stored_role() {
        let f = Fixture::with_role().await;
        let before = f.read("roles/crm").await.unwrap();
        for (data, field) in [
            (json!({"token_lifetime": 299}), "token_lifetime"),
            (json!({"token_lifetime": 172_801}), "token_lifetime"),
            (json!({"ttl": "5h"}), "ttl"),
            (json!({"max_ttl": 60}), "max_ttl"),
            (json!({"role_divisions": []}), "role_divisions"),
            (json!({"role_divisions": "r1"}), "role_divisions[0]"),
            (json!({"description": "a\nb"}), "description"),
            (json!({"ttl": "1h", "colour": "red"}), "colour"),
        ] {
            let r = f.write("roles/crm", data.clone()).await;
            assert!(
                matches!(&r, Err(LogicalError::BadRequest(m)) if m.contains(&format!("\"{field}\""))),
                "{data}: {r:?}"
            );
            assert_eq!(f.read("roles/crm").await.unwrap(), before, "{data} changed the role");
        }
        assert!(
            matches!(f.write("roles/new", json!({"ttl": "1h"})).await, Err(LogicalError::BadRequest(m)) if m.contains("role_divisions"))
        );
        f.write("roles/crm", json!({"description": "CRM sync"})).await.unwrap();
        let after = f.read("roles/crm").await.unwrap().unwrap();
        assert_eq!(after.data["description"], json!("CRM sync"));
        assert_eq!(after.data["max_ttl"], json!(4 * 3600));
        assert_eq!(
            after.data["role_divisions"],
            json!([{"role_id": testing::ROLE_ID, "division_id": "*"}])
        );
        let list = f.call(Operation::List, "roles/", json!({})).await.unwrap().unwrap();
        assert_eq!(list.data["keys"], json!(["crm"]));
    }

    #[tokio::test]
    async fn no_secret_or_token_ever_reaches_the_logs() {
        // GIVEN every log line of this test, at TRACE level
        let logs = Captured::default();
        let _guard = logs.start();
        let mut f = Fixture::with_role().await;
        let crm = f
            .emu
            .seed_client(SeedClient::new("crm", &["conversation:communication:view"]));
        // WHEN the engine does everything it does, failures and recoveries included
        let _ = f
            .write("config", json!({"client_secret": "wrong-secret-value-xyz"}))
            .await;
        let lease = Fixture::lease(&f.read("creds/crm").await.unwrap());
        f.lease_op(Operation::Renew, &lease).await.unwrap();
        f.lease_op(Operation::Revoke, &lease).await.unwrap();
        f.read("token/crm").await.unwrap();
        f.write("static-roles/crm", json!({"client_id": crm.id})).await.unwrap();
        f.read("static-creds/crm").await.unwrap();
        f.write("rotate-role/crm", json!({})).await.unwrap();
        f.emu
            .inject_fault(Fault::new(routes::NEW_SECRET, FaultAction::DropAfterApply));
        let _ = f.write("rotate-root", json!({})).await;
        f.emu
            .inject_fault(Fault::new(routes::CREATE_CLIENT, FaultAction::DropAfterApply));
        let _ = f.read("creds/crm").await;
        f.restart();
        f.advance(SETTLE + std::time::Duration::from_secs(86_400));
        f.rollback().await;
        f.read("token/crm").await.unwrap();
        // THEN the logs say plenty, and hold no secret and no token the emulator ever issued
        let text = logs.text();
        assert!(
            text.contains("lease issued") && text.contains("root rotation"),
            "{text}"
        );
        let mut leaked = Vec::new();
        for value in f.emu.issued_secrets().into_iter().chain(f.emu.issued_tokens()) {
            if text.contains(&value) {
                leaked.push(value);
            }
        }
        assert!(!text.contains("wrong-secret-value-xyz"));
        assert!(leaked.is_empty(), "{} secret(s) or token(s) logged", leaked.len());
    }

    #[test]
    fn a_clock_skew_moves_the_engines_clock_in_test_builds_only() {
        let now = OffsetDateTime::now_utc();
        assert!(clock_from_env(None).unwrap().now() - now < time::Duration::seconds(5));
        let skewed = clock_from_env(Some("600")).unwrap().now() - now;
        assert!(skewed >= time::Duration::seconds(600) && skewed < time::Duration::seconds(605));
        assert!(clock_from_env(Some("10m")).is_err_and(|e| e.contains(CLOCK_SKEW_ENV)));
    }

    #[test]
    fn the_settle_time_outlasts_any_operation() {
        assert!(SETTLE > OP_DEADLINE && SETTLE > PASS_DEADLINE);
        assert!(config::DEFAULT_ROLLBACK_MIN_AGE >= SETTLE);
    }
}
