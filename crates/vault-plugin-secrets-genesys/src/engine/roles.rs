//! `roles/<name>` and `roles/`: what a `creds/` lease's client and a `token/` client are made
//! with (`role_divisions`, `token_lifetime`) and the lease terms (`ttl`, `max_ttl`). A write
//! merges into the stored role and is checked whole before it is stored. Deleting a role leaves
//! its leases' clients to their leases (revocation needs only the lease's own data) and retires
//! its `token/` client, which is deleted once its tokens have run out.
use std::time::Duration;

use genesys_core::domain::TokenLifetime;
use genesys_core::genesys::RoleDivision;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::info;

use super::fields::{bad, Fields};
use super::lease::MIN_LEASE;
use super::managed::{ManagedClient, Purpose};
use super::store;
use super::{token, GenesysBackend};
use crate::logical::{Context, LogicalError, Request, Response, Storage};

/// The token lifetime of a role's clients when the role names none: an hour.
pub const DEFAULT_TOKEN_LIFETIME: u32 = 3600;
/// Longest description.
const MAX_DESCRIPTION: usize = 200;

const FIELDS: [&str; 5] = ["role_divisions", "token_lifetime", "ttl", "max_ttl", "description"];

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

fn key(name: &str) -> String {
    format!("{}{name}", store::ROLES)
}

/// `roles/<name>` write: creates or updates (fields not named keep their stored value).
pub async fn write(
    b: &GenesysBackend,
    ctx: &Context,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, LogicalError> {
    let f = Fields::parse(&req.data, &format!("roles/{name}"), &FIELDS)?;
    let _guard = b.locks.lock(&format!("role/{name}")).await;
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
pub async fn delete(b: &GenesysBackend, ctx: &Context, name: &str) -> Result<Option<Response>, LogicalError> {
    let _guard = b.locks.lock(&format!("role/{name}")).await;
    let storage = ctx.storage.as_ref();
    if Role::load(storage, name).await?.is_none() {
        return Ok(None);
    }
    token::retire_role_client(b, storage, name).await?;
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
