//! `roles/<name>` and `roles/`: what a `creds/` lease's client and a `token/` client are made
//! with (`role_divisions`, `token_lifetime`) and the lease terms (`ttl`, `max_ttl`). A write
//! merges into the stored role and is checked whole before it is stored: its fields, then, if
//! the mount is configured and its `role_rule` is on, that the master's own client holds every
//! role-division the role assigns ([`genesys_core::role_rule`]; with no config yet, the `config`
//! write checks every role instead). Deleting a role leaves
//! its leases' clients to their leases (revocation needs only the lease's own data) and retires
//! its `token/` client, which is deleted once its tokens have run out.
use std::time::Duration;

use genesys_core::domain::TokenLifetime;
use genesys_core::role_rule;
use serde_json::{json, Value};
use tracing::info;

use super::config::Config;
use super::fields::{bad, Fields};
use super::lease::MIN_LEASE;
use super::locks::Locks;
use super::managed::ManagedClient;
use super::org::Org;
use super::purpose::Purpose;
use super::role::{key, Role, DEFAULT_TOKEN_LIFETIME};
use super::store;
use super::token_cache::TokenCache;
use super::{genesys, token};
use crate::logical::{Context, LogicalError, Request, Response, Storage};

/// Longest description.
const MAX_DESCRIPTION: usize = 200;

const FIELDS: [&str; 5] = ["role_divisions", "token_lifetime", "ttl", "max_ttl", "description"];

/// `roles/<name>` write: creates or updates (fields not named keep their stored value).
pub async fn write(
    org: &Org,
    locks: &Locks,
    ctx: &Context,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, LogicalError> {
    let f = Fields::parse(&req.data, &format!("roles/{name}"), &FIELDS)?;
    // Shared with creds/ and token/, exclusive with config writes: a config write checks every
    // stored role against its master, so no role may be stored past it against the old one
    // (taken before the role's own lock, in the order token/ takes them).
    let _shared = locks.root_shared().await;
    let _guard = locks.role(name).await;
    let storage = ctx.storage.as_ref();
    let existing = Role::load(storage, name).await?;

    let role_divisions = match f.role_divisions("role_divisions")? {
        Some(list) if list.is_empty() => return Err(bad("role_divisions", "must name at least one role")),
        Some(list) => list,
        None => match &existing {
            Some(r) => r.role_divisions.clone(),
            None => return Err(bad("role_divisions", "is required")),
        },
    };
    let token_lifetime = match f.int("token_lifetime")? {
        Some(s) => TokenLifetime::new(s).map_err(|e| bad("token_lifetime", e))?.seconds(),
        None => existing.as_ref().map_or(DEFAULT_TOKEN_LIFETIME, |r| r.token_lifetime),
    };
    let lease_bound = |field: &str, d: Option<Duration>, old: Option<u64>| -> Result<u64, LogicalError> {
        match d {
            Some(d) if !d.is_zero() && d < MIN_LEASE => Err(bad(
                field,
                format!(
                    "must be 0 (the mount's) or at least {} s, Genesys Cloud's shortest token lifetime",
                    MIN_LEASE.as_secs()
                ),
            )),
            Some(d) => Ok(d.as_secs()),
            None => Ok(old.unwrap_or(0)),
        }
    };
    let ttl = lease_bound("ttl", f.duration("ttl")?, existing.as_ref().map(|r| r.ttl_s))?;
    let max_ttl = lease_bound(
        "max_ttl",
        f.duration("max_ttl")?,
        existing.as_ref().map(|r| r.max_ttl_s),
    )?;
    if ttl > 0 && max_ttl > 0 && ttl > max_ttl {
        return Err(bad("ttl", format!("{ttl} s exceeds max_ttl ({max_ttl} s)")));
    }
    let description = match f.string("description")? {
        Some(d) if d.chars().count() > MAX_DESCRIPTION || d.chars().any(char::is_control) => {
            return Err(bad(
                "description",
                format!("must be at most {MAX_DESCRIPTION} characters, without control characters"),
            ))
        }
        Some(d) => d.trim().to_owned(),
        None => existing.as_ref().map(|r| r.description.clone()).unwrap_or_default(),
    };

    let role = Role {
        role_divisions,
        token_lifetime,
        ttl_s: ttl,
        max_ttl_s: max_ttl,
        description,
    };
    check_role_rule(org, storage, &role).await?;
    let mut warnings = Vec::new();
    let mount_max = ctx.system.max_lease_ttl().await?;
    if Duration::from_secs(max_ttl.max(ttl)) > mount_max {
        warnings.push(format!(
            "the mount's maximum lease TTL is {} s: leases of this role are cut to it",
            mount_max.as_secs()
        ));
    }
    store::put(storage, &key(name), &role).await?;
    info!(role = %name, "role stored");
    Ok((!warnings.is_empty()).then(|| Response {
        warnings,
        ..Response::default()
    }))
}

/// The role rule on a `roles/` write: unless the mount is unconfigured or its `role_rule` is
/// off, the master must hold every role-division `role` assigns, or the write is refused naming
/// the missing pairs. Reads only (one GET of the master's own client).
async fn check_role_rule(org: &Org, storage: &dyn Storage, role: &Role) -> Result<(), LogicalError> {
    let Some(config) = Config::load(storage).await? else {
        return Ok(());
    };
    if !config.role_rule {
        return Ok(());
    }
    let master = org.master(&config).await?;
    let held = genesys::held_by_master(&master).await?;
    let missing = role_rule::missing(&held, &role.role_divisions);
    if missing.is_empty() {
        return Ok(());
    }
    Err(bad(
        "role_divisions",
        format!(
            "the mount's master client {} does not hold {}, so Genesys Cloud's role rule would refuse this role's \
             clients: {}",
            config.client_id,
            role_rule::describe(&missing),
            genesys::ROLE_RULE_REMEDY
        ),
    ))
}

/// `roles/<name>` read.
pub async fn read(ctx: &Context, name: &str) -> Result<Option<Response>, LogicalError> {
    let Some(role) = Role::load(ctx.storage.as_ref(), name).await? else {
        return Ok(None);
    };
    Ok(Some(Response::data(json!({
        "role_divisions": role.role_divisions.iter().map(|g| json!({"role_id": g.role_id, "division_id": g.division_id})).collect::<Vec<Value>>(),
        "token_lifetime": role.token_lifetime,
        "ttl": role.ttl_s,
        "max_ttl": role.max_ttl_s,
        "description": role.description,
    }))))
}

/// `roles/` list.
pub async fn list(ctx: &Context) -> Result<Option<Response>, LogicalError> {
    let keys = store::list(ctx.storage.as_ref(), store::ROLES).await?;
    Ok(Some(Response::data(json!({ "keys": keys }))))
}

/// `roles/<name>` delete: retires the role's `token/` client, then removes the role. Its leases
/// keep their clients until they are revoked or expire, and can no longer be renewed.
pub async fn delete(
    org: &Org,
    locks: &Locks,
    tokens: &TokenCache,
    ctx: &Context,
    name: &str,
) -> Result<Option<Response>, LogicalError> {
    let _guard = locks.role(name).await;
    let storage = ctx.storage.as_ref();
    if Role::load(storage, name).await?.is_none() {
        return Ok(None);
    }
    token::retire_role_client(org, tokens, storage, name).await?;
    store::delete(storage, &key(name)).await?;
    let leases = store::all::<ManagedClient>(storage, store::CLIENTS)
        .await?
        .into_iter()
        .filter(|(_, c)| c.is_live() && matches!(&c.purpose, Purpose::Lease { role, .. } if role == name))
        .count();
    info!(role = %name, live_leases = leases, "role deleted");
    if leases == 0 {
        return Ok(None);
    }
    Ok(Some(Response {
        warnings: vec![format!(
            "{leases} lease(s) of this role keep their clients until they are revoked or expire; they can no longer \
             be renewed"
        )],
        ..Response::default()
    }))
}

#[cfg(all(test, feature = "endpoint-overrides"))]
mod tests {
    use genesys_core::genesys::RoleDivision;
    use serde_json::json;

    use super::*;
    use crate::engine::testing::{Fixture, ROLE_ID};

    fn refused_naming(r: &Result<Option<Response>, LogicalError>, parts: &[&str]) -> bool {
        matches!(r, Err(LogicalError::BadRequest(m)) if parts.iter().all(|p| m.contains(p)))
    }

    #[tokio::test]
    async fn a_role_the_master_does_not_hold_is_refused_naming_the_missing_pairs() {
        // GIVEN a configured mount whose master holds crm-integration-role in every division
        let f = Fixture::new().await;
        f.emu.seed_role("reports", &["analytics:report:view"]);
        f.configure().await;
        // WHEN a role assigns that role in one division (held) and another role (not held)
        let r = f
            .write(
                "roles/wide",
                json!({"role_divisions": format!("{ROLE_ID}:d1,reports:d1,reports:*")}),
            )
            .await;
        // THEN the write is refused naming only the missing pairs, and what to do
        assert!(
            refused_naming(
                &r,
                &[
                    "role_divisions",
                    "reports/d1, reports/*",
                    &f.master.id,
                    "narrow the role",
                    "role_rule=false"
                ]
            ),
            "{r:?}"
        );
        assert!(!format!("{r:?}").contains(&format!("{ROLE_ID}/d1")), "{r:?}");
        assert_eq!(f.read("roles/wide").await.unwrap(), None, "nothing stored");
        // AND an update of a stored role is refused the same way, keeping the stored role
        f.write("roles/crm", json!({"role_divisions": format!("{ROLE_ID}:*")}))
            .await
            .unwrap();
        let r = f.write("roles/crm", json!({"role_divisions": "reports:d1"})).await;
        assert!(refused_naming(&r, &["reports/d1"]), "{r:?}");
        assert_eq!(
            Role::load(f.storage.as_ref(), "crm")
                .await
                .unwrap()
                .unwrap()
                .role_divisions,
            [RoleDivision::new(ROLE_ID, "*")]
        );

        // WHEN the master is given the role in one division
        f.grant_master(&["reports:d1"]).await;
        // THEN a role in that division is accepted, one in every division still not
        let r = f.write("roles/wide", json!({"role_divisions": "reports:*"})).await;
        assert!(refused_naming(&r, &["reports/*"]), "{r:?}");
        f.write("roles/wide", json!({"role_divisions": "reports:d1"}))
            .await
            .unwrap();

        // AND with the rule off in config, the master is not asked
        f.write("config", json!({"role_rule": false})).await.unwrap();
        let calls = f.genesys_calls();
        f.write("roles/wide", json!({"role_divisions": "reports:*"}))
            .await
            .unwrap();
        assert_eq!(f.genesys_calls(), calls, "no Genesys call with the rule off");
    }

    #[tokio::test]
    async fn a_role_written_before_config_is_checked_by_the_config_write() {
        // GIVEN an unconfigured mount: a role is stored without asking Genesys
        let f = Fixture::new().await;
        let calls = f.genesys_calls();
        f.write("roles/reports", json!({"role_divisions": "reports:*"}))
            .await
            .unwrap();
        assert_eq!(f.genesys_calls(), calls);
        // THEN the config write checks it (see config's tests)
        let r = f
            .write(
                "config",
                json!({"client_id": f.master.id, "client_secret": f.master.secret, "region": crate::engine::testing::REGION}),
            )
            .await;
        assert!(refused_naming(&r, &["client_id", "role reports: reports/*"]), "{r:?}");
    }

    #[tokio::test]
    async fn with_the_role_rule_in_force_a_held_role_works_and_a_refusal_names_the_rule() {
        // GIVEN Genesys applies the role rule to the master, which holds crm-integration-role
        let f = Fixture::with_role().await;
        f.emu.seed_role("reports", &["analytics:report:view"]);
        f.emu.set_role_rule(true);
        // WHEN creds of the role it holds are read: a working client
        let resp = f.read("creds/crm").await.unwrap();
        let client_id = Fixture::field(&resp, "client_id");
        let secret = Fixture::field(&resp, "client_secret");
        assert!(f.emu.token_grantable(&client_id, &secret).is_ok());
        // AND revoked: deactivated and deleted (edits the master may make)
        f.lease_op(crate::logical::Operation::Revoke, &Fixture::lease(&resp))
            .await
            .unwrap();
        assert!(f.emu.clients().iter().all(|c| c.id != client_id));
        // WHEN the check is off and a role assigns what the master lacks: Genesys refuses the
        // create, and the error says what that may mean
        f.write("config", json!({"role_rule": false})).await.unwrap();
        f.write("roles/reports", json!({"role_divisions": "reports:*"}))
            .await
            .unwrap();
        let r = f.read("creds/reports").await;
        let text = format!("{r:?}");
        assert!(
            r.is_err() && text.contains("403") && text.contains("role rule") && text.contains("reports"),
            "{text}"
        );
        assert!(f.managed_clients().is_empty());
    }
}
