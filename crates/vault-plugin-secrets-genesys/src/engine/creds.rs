//! `creds/<role>`: a new Genesys client per lease, named `<prefix><uuid>`, handed out only once
//! it gets a token; its token lifetime is the role's cut to the lease. Revocation (or expiry)
//! deactivates and deletes it, from the lease's own data alone: the role may be gone. Renewal
//! extends the lease up to its max_ttl and, near the end, shortens the client's token lifetime so
//! no new token outlives the lease.
use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tracing::{info, warn};

use super::config::Config;
use super::identity::Identity;
use super::lease::{self, MIN_LEASE};
use super::managed::{self, ManagedClient, NewClient, NotDeleted, Phase, Purpose};
use super::roles::Role;
use super::GenesysBackend;
use crate::logical::{Context, LeaseOptions, LeaseSecret, LogicalError, Response};

/// `secret_type` in a lease's internal data.
pub const SECRET_TYPE: &str = "creds";

/// The lease's internal data: everything revocation needs.
fn internal_data(record: &ManagedClient) -> Map<String, Value> {
    let Value::Object(map) = json!({
        "secret_type": SECRET_TYPE,
        "uuid": record.uuid,
        "client_id": record.client_id,
        "name": record.name,
        "role": record.purpose.role(),
    }) else {
        unreachable!("a JSON object literal")
    };
    map
}

fn internal<'a>(data: &'a Map<String, Value>, field: &str) -> Result<&'a str, LogicalError> {
    data.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| LogicalError::BadRequest(format!("the lease's internal data lacks \"{field}\"")))
}

/// `creds/<role>` read: issues a lease.
pub async fn issue(b: &GenesysBackend, ctx: &Context, role_name: &str) -> Result<Option<Response>, LogicalError> {
    let storage = ctx.storage.as_ref();
    let config = Config::require(storage).await?;
    let identity = Identity::load(storage)
        .await?
        .ok_or_else(|| LogicalError::Internal("the mount has no owner identity; write config again".into()))?;
    let role = Role::require(storage, role_name).await?;
    let mount_default = ctx.system.default_lease_ttl().await?;
    let mount_max = ctx.system.max_lease_ttl().await?;
    let terms = lease::issue(role.ttl(), role.max_ttl(), mount_default, mount_max).map_err(LogicalError::BadRequest)?;
    let lifetime = lease::token_lifetime(role.token_lifetime(), terms.ttl);
    let now = b.now();
    let created = managed::create(
        b,
        storage,
        &config,
        &identity,
        NewClient {
            purpose: Purpose::Lease {
                role: role_name.to_owned(),
                expires_at: now + terms.ttl,
            },
            role_divisions: role.role_divisions.clone(),
            token_lifetime: lifetime,
            note: role.note(role_name, "Lease"),
            keep_secret: false,
        },
    )
    .await?;
    managed::until_usable(b, storage, &config, &identity, &created).await?;
    if let Err(e) = managed::commit(storage, &created).await {
        managed::abandon(b, storage, &config, &identity, &created).await;
        return Err(e);
    }
    info!(client_id = %created.record.client_id, role = %role_name, ttl_s = terms.ttl.as_secs(), token_lifetime_s = lifetime.seconds(), "lease issued");
    let mut response = Response::data(json!({
        "client_id": created.record.client_id,
        "client_secret": secrecy::ExposeSecret::expose_secret(&created.secret),
        "name": created.record.name,
        "region": config.region.domain(),
        "token_lifetime": lifetime.seconds(),
    }));
    response.secret = Some(LeaseSecret {
        lease: LeaseOptions {
            ttl: terms.ttl,
            max_ttl: terms.max_ttl,
            renewable: true,
            ..LeaseOptions::default()
        },
        internal_data: internal_data(&created.record),
        lease_id: String::new(),
    });
    Ok(Some(response))
}

/// Revocation (or expiry) of a lease: deactivates and deletes its client. Needs only the lease's
/// internal data and the config: the role may be gone.
pub async fn revoke(b: &GenesysBackend, ctx: &Context, secret: &LeaseSecret) -> Result<Option<Response>, LogicalError> {
    let storage = ctx.storage.as_ref();
    let data = &secret.internal_data;
    let uuid = internal(data, "uuid")?.to_owned();
    let client_id = internal(data, "client_id")?.to_owned();
    let config = Config::load(storage).await?.ok_or_else(|| {
        LogicalError::Internal(format!(
            "cannot delete client {client_id}: the engine has no config (write config, and the revocation is retried)"
        ))
    })?;
    let identity = Identity::load(storage)
        .await?
        .ok_or_else(|| LogicalError::Internal("the mount has no owner identity".into()))?;
    if let Some(mut record) = ManagedClient::load(storage, &uuid).await? {
        if record.is_live() {
            // Recorded first: if the deletion fails, the periodic pass finishes it.
            record.phase = Phase::Retiring { since: b.now() };
            record.save(storage).await?;
        }
    }
    let prefix = config.prefix()?;
    let known = HashSet::from([uuid.clone()]);
    let master = b.master(&config).await;
    match managed::delete_owned(&master, &managed::owner(&identity, &prefix, &known), &client_id).await {
        Ok(()) => {}
        Err(NotDeleted::Foreign(why)) => {
            warn!(client_id = %client_id, reason = %why, "lease revoked; its client is no longer provably this mount's and is left alone");
        }
        Err(NotDeleted::Failed(e)) => return Err(e),
    }
    ManagedClient::forget(storage, &uuid).await?;
    info!(client_id = %client_id, "lease revoked: client deleted");
    Ok(None)
}

/// Renewal of a lease: a new ttl up to the lease's max_ttl, from its issue time.
pub async fn renew(b: &GenesysBackend, ctx: &Context, secret: &LeaseSecret) -> Result<Option<Response>, LogicalError> {
    let storage = ctx.storage.as_ref();
    let data = &secret.internal_data;
    let uuid = internal(data, "uuid")?;
    let role_name = internal(data, "role")?;
    let role = Role::load(storage, role_name).await?.ok_or_else(|| {
        LogicalError::BadRequest(format!(
            "role \"{role_name}\" was deleted: its leases cannot be renewed, they end at their expiry"
        ))
    })?;
    let mut record = ManagedClient::load(storage, uuid)
        .await?
        .filter(ManagedClient::is_live)
        .ok_or_else(|| LogicalError::BadRequest("the lease's client is revoked or gone".into()))?;
    let mount_default = ctx.system.default_lease_ttl().await?;
    let mount_max = ctx.system.max_lease_ttl().await?;
    let max = lease::max_ttl(role.max_ttl(), mount_max);
    let now = b.now();
    let issued = secret.lease.issue_time.unwrap_or(record.created_at);
    let ttl = lease::renew(issued, now, secret.lease.increment, role.ttl(), mount_default, max)
        .map_err(LogicalError::BadRequest)?;
    if let Purpose::Lease { expires_at, .. } = &mut record.purpose {
        *expires_at = now + ttl;
    }
    record.save(storage).await?;
    shorten_token_lifetime(b, storage, &mut record, ttl).await;
    info!(client_id = %record.client_id, ttl_s = ttl.as_secs(), "lease renewed");
    Ok(Some(Response {
        secret: Some(LeaseSecret {
            lease: LeaseOptions {
                ttl,
                max_ttl: max,
                renewable: true,
                ..LeaseOptions::default()
            },
            internal_data: data.clone(),
            lease_id: secret.lease_id.clone(),
        }),
        ..Response::default()
    }))
}

/// When a lease has less left than its client's token lifetime, shortens the lifetime to what
/// is left (not below Genesys' minimum), so tokens minted from now on end with the lease. Best
/// effort: the lease's revocation deletes the client (and its tokens) anyway.
async fn shorten_token_lifetime(
    b: &GenesysBackend,
    storage: &dyn crate::logical::Storage,
    record: &mut ManagedClient,
    left: Duration,
) {
    let wanted = left.max(MIN_LEASE).as_secs();
    if wanted >= u64::from(record.token_lifetime) {
        return;
    }
    let outcome = async {
        let config = Config::require(storage).await?;
        let master = b.master(&config).await;
        let Some(client) = master
            .get_client(&record.client_id)
            .await
            .map_err(|e| super::genesys::genesys_error("reading the lease's client", e))?
        else {
            return Ok(());
        };
        if client.name != record.name {
            return Ok(());
        }
        let mut body = client.to_request();
        body.access_token_validity_seconds = Some(wanted as u32);
        master
            .update_client(&client.id, &body)
            .await
            .map_err(|e| super::genesys::genesys_error("shortening the client's token lifetime", e))?;
        record.token_lifetime = wanted as u32;
        record.save(storage).await
    };
    if let Err(e) = outcome.await {
        warn!(client_id = %record.client_id, error = %e, "could not shorten the client's token lifetime to the lease");
    }
}
