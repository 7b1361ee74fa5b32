//! The Genesys Cloud secrets engine: `config`, `rotate-root`, `roles/`, `creds/`, `token/`,
//! `static-roles/`, `static-creds/`, `rotate-role/`, and the periodic pass. Knows nothing of gRPC:
//! it answers [`Backend::handle`] over the storage and system view of each call's [`Context`].
//! The design (storage layout, write-ahead records, ownership, leases, crash safety):
//! docs/design/openbao-engine.md.
//!
//! # Layout
//! Modules are laid out in layers, each naming only modules of lower layers, so there is no
//! circle (checked by `tests/layers.rs`); this file, the [`Backend`] face that routes each
//! request to its path's module, is the top. Bottom to top:
//! - [`clock`] (the clock, how long ago), [`limits`] (how long things may take), [`paths`]
//!   (which path a request names), [`fields`] (a write's fields, checked before anything
//!   changes), [`store`] (the storage layout, typed JSON records), [`lease`] (ttl rules),
//!   [`genesys`] (the way to Genesys Cloud: the core's client, the master, propagation),
//!   [`purpose`] (what a created client is for).
//! - The stored records: [`config`] (the mount's configuration), [`role`] (a role),
//!   [`root_rotation`] (a root rotation's write-ahead record), [`identity`] (the mount's owner
//!   id), [`wal`] (write-ahead records); [`static_guard`] (which clients a static role may
//!   rotate); [`org_room`] (the org's client count in memory, for the client limit).
//! - The engine's state in narrow contexts, each module taking only those it uses: [`org`] (the
//!   way to the org, the clock, the client count), [`locks`] (the root lock, per-name locks),
//!   [`token_cache`] (the `token/` clients in memory), [`last_listing`] (when the periodic pass
//!   last listed the org).
//! - [`backend`]: the engine whole, owning the contexts; only this file and the test fixture
//!   name it.
//! - [`managed`]: the clients the engine creates; [`rekey`]: new secrets behind a write-ahead
//!   record; the paths `config` ([`configure`]) and `rotate-root` ([`root`], with its recovery).
//! - [`reconcile`]: which of the mount's clients go, and when; [`creds`] (leases), [`token`]
//!   (bearer tokens), [`static_roles`].
//! - [`roles`] (a role's delete retires its `token/` client); [`periodic`]: the `rollback`
//!   operation that runs it all.
use std::time::Instant;

use async_trait::async_trait;
use tracing::debug;

use crate::logical::{Backend, Context, LogicalError, Operation, Request, Response, SpecialPaths};

pub mod backend;
pub mod clock;
pub mod config;
pub mod configure;
pub mod creds;
pub mod fields;
pub mod genesys;
pub mod identity;
pub mod last_listing;
pub mod lease;
pub mod limits;
pub mod locks;
pub mod managed;
pub mod org;
pub mod org_room;
pub mod paths;
pub mod periodic;
pub mod purpose;
pub mod reconcile;
pub mod rekey;
pub mod role;
pub mod roles;
pub mod root;
pub mod root_rotation;
pub mod static_guard;
pub mod static_roles;
pub mod store;
pub mod token;
pub mod token_cache;
pub mod wal;

#[cfg(all(test, feature = "endpoint-overrides"))]
mod testing;

pub use backend::{EngineSettings, GenesysBackend};
pub use clock::{age, rfc3339, Clock, CLOCK_SKEW_ENV};
pub use limits::{OP_DEADLINE, PASS_DEADLINE, PROPAGATION_TIMEOUT, SETTLE};
pub use locks::KeyedLocks;

use paths::Route;

impl GenesysBackend {
    /// Hands the request to its path's module, with the contexts that module takes.
    async fn dispatch(&self, ctx: &Context, req: Request) -> Result<Option<Response>, LogicalError> {
        let (org, locks, tokens) = (&self.org, &self.locks, &self.tokens);
        match req.operation {
            Operation::Rollback => return periodic::run(org, locks, tokens, &self.last_listing, ctx).await,
            Operation::Revoke | Operation::Renew => {
                let secret = req
                    .secret
                    .as_ref()
                    .ok_or_else(|| LogicalError::BadRequest("a revoke or renew names no lease".into()))?;
                let kind = secret.internal_data.get("secret_type").and_then(|v| v.as_str());
                return match (kind, req.operation) {
                    (Some(creds::SECRET_TYPE), Operation::Revoke) => creds::revoke(org, ctx, secret).await,
                    (Some(creds::SECRET_TYPE), _) => creds::renew(org, ctx, secret).await,
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
            (Route::Config, Operation::Read) => configure::read(ctx).await,
            (Route::Config, Operation::Delete) => configure::delete(org, locks, ctx).await,
            (Route::Config, _) if write => configure::write(org, locks, ctx, &req).await,
            (Route::RotateRoot, _) => root::rotate(org, locks, ctx, &req).await,
            (Route::Roles, _) => roles::list(ctx).await,
            (Route::Role(name), Operation::Read) => roles::read(ctx, name).await,
            (Route::Role(name), Operation::Delete) => roles::delete(org, locks, tokens, ctx, name).await,
            (Route::Role(name), _) => roles::write(org, locks, ctx, &req, name).await,
            (Route::Creds(name), _) => creds::issue(org, locks, ctx, name).await,
            (Route::Token(name), _) => token::read(org, locks, tokens, ctx, name).await,
            (Route::StaticRoles, _) => static_roles::list(ctx).await,
            (Route::StaticRole(name), Operation::Read) => static_roles::read(ctx, name).await,
            (Route::StaticRole(name), Operation::Delete) => static_roles::delete(locks, ctx, name).await,
            (Route::StaticRole(name), _) => static_roles::write(org, locks, ctx, &req, name).await,
            (Route::StaticCreds(name), _) => static_roles::creds(org, ctx, name).await,
            (Route::RotateRole(name), _) => static_roles::rotate_now(org, locks, ctx, &req, name).await,
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
            self.org.connector().forget_master().await;
        }
    }
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
    fn the_settle_time_outlasts_any_operation() {
        assert!(SETTLE > OP_DEADLINE && SETTLE > PASS_DEADLINE);
        assert!(config::DEFAULT_ROLLBACK_MIN_AGE >= SETTLE);
    }
}
