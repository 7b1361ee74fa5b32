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
use super::locks::Locks;
use super::managed::{self, ManagedClient, NewClient, NotDeleted, Phase};
use super::org::Org;
use super::purpose::Purpose;
use super::role::Role;
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
pub async fn issue(org: &Org, locks: &Locks, ctx: &Context, role_name: &str) -> Result<Option<Response>, LogicalError> {
    let _shared = locks.root_shared().await;
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
    org.reserve_client(&config).await?;
    let now = org.now();
    let created = managed::create(
        org,
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
    managed::until_usable(org, storage, &config, &identity, &created).await?;
    if let Err(e) = managed::commit(storage, &created).await {
        managed::abandon(org, storage, &config, &identity, &created).await;
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
pub async fn revoke(org: &Org, ctx: &Context, secret: &LeaseSecret) -> Result<Option<Response>, LogicalError> {
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
            record.phase = Phase::Retiring { since: org.now() };
            record.save(storage).await?;
        }
    }
    let prefix = config.prefix()?;
    let known = HashSet::from([uuid.clone()]);
    let master = org.master(&config).await?;
    match managed::delete_owned(&master, &managed::owner(&identity, &prefix, &known), &client_id).await {
        Ok(_) => {}
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
pub async fn renew(org: &Org, ctx: &Context, secret: &LeaseSecret) -> Result<Option<Response>, LogicalError> {
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
    let now = org.now();
    let issued = secret.lease.issue_time.unwrap_or(record.created_at);
    let ttl = lease::renew(issued, now, secret.lease.increment, role.ttl(), mount_default, max)
        .map_err(LogicalError::BadRequest)?;
    if let Purpose::Lease { expires_at, .. } = &mut record.purpose {
        *expires_at = now + ttl;
    }
    record.save(storage).await?;
    shorten_token_lifetime(org, storage, &mut record, ttl).await;
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
    org: &Org,
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
        let master = org.master(&config).await?;
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

#[cfg(all(test, feature = "endpoint-overrides"))]
mod tests {
    use std::time::Duration;

    use genesys_emulator::{routes, Fault, FaultAction};
    use serde_json::json;

    use super::*;
    use crate::engine::config::Config;
    use crate::engine::identity::Identity;
    use crate::engine::limits::SETTLE;
    use crate::engine::testing::{crash_points, Fixture, Run, WriteFault, PREFIX, ROLE_ID};
    use crate::engine::wal::Wal;
    use crate::logical::{Operation, Request};

    #[tokio::test]
    async fn a_lease_gets_a_working_owned_client_whose_tokens_end_with_the_lease() {
        // GIVEN role crm: ttl 1 h, token lifetime 2 h
        let f = Fixture::with_role().await;
        // WHEN creds are read
        let resp = f.read("creds/crm").await.unwrap();
        let lease = Fixture::lease(&resp);
        let client_id = Fixture::field(&resp, "client_id");
        let secret = Fixture::field(&resp, "client_secret");
        // THEN the lease lasts the role's ttl and is renewable
        assert_eq!(lease.lease.ttl, Duration::from_secs(3600));
        assert_eq!(lease.lease.max_ttl, Duration::from_secs(4 * 3600));
        assert!(lease.lease.renewable);
        // AND the client works now, carries the mount's marker, is named <prefix><uuid>, and
        // its token lifetime is cut to the lease
        f.emu.token_grantable(&client_id, &secret).unwrap();
        let identity = Identity::load(f.storage.as_ref()).await.unwrap().unwrap();
        let client = f.emu.clients().into_iter().find(|c| c.id == client_id).unwrap();
        let uuid = lease.internal_data["uuid"].as_str().unwrap();
        assert_eq!(client.name, format!("{PREFIX}{uuid}"));
        assert!(client.description.unwrap().contains(&identity.marker()));
        assert_eq!(client.access_token_validity_seconds, 3600);
        assert_eq!(client.role_divisions.len(), 1);
        // AND no write-ahead record is left
        assert!(Wal::all(f.storage.as_ref()).await.unwrap().is_empty());
        // WHEN the lease is revoked
        f.lease_op(Operation::Revoke, &lease).await.unwrap();
        // THEN the client is gone, and so is its record
        assert!(f.emu.deleted_client_ids().contains(&client_id));
        assert!(f.managed_clients().is_empty());
        assert!(ManagedClient::all(f.storage.as_ref()).await.unwrap().is_empty());
        // AND revoking again is fine (the server retries revocations)
        f.lease_op(Operation::Revoke, &lease).await.unwrap();
    }

    #[tokio::test]
    async fn revocation_works_from_the_lease_alone_after_the_role_is_deleted() {
        let f = Fixture::with_role().await;
        let lease = Fixture::lease(&f.read("creds/crm").await.unwrap());
        // WHEN the role is deleted while the lease lives
        let deleted = f
            .call(Operation::Delete, "roles/crm", json!({}))
            .await
            .unwrap()
            .unwrap();
        assert!(deleted.warnings[0].contains("1 lease(s)"), "{deleted:?}");
        // THEN the lease cannot be renewed, but its revocation deletes the client
        let r = f.lease_op(Operation::Renew, &lease).await;
        assert!(
            matches!(&r, Err(LogicalError::BadRequest(m)) if m.contains("was deleted")),
            "{r:?}"
        );
        f.lease_op(Operation::Revoke, &lease).await.unwrap();
        assert!(f.managed_clients().is_empty());
    }

    #[tokio::test]
    async fn renewals_are_clamped_to_the_max_ttl_and_shorten_the_token_lifetime_at_the_end() {
        // GIVEN a lease of role crm (ttl 1 h, max_ttl 4 h, token lifetime cut to 1 h)
        let f = Fixture::with_role().await;
        let resp = f.read("creds/crm").await.unwrap();
        let client_id = Fixture::field(&resp, "client_id");
        let mut lease = Fixture::lease(&resp);
        lease.lease.issue_time = Some(f.engine.org.now());
        // WHEN renewed with no increment: the role's ttl
        let r = f.lease_op(Operation::Renew, &lease).await.unwrap().unwrap();
        assert_eq!(r.secret.unwrap().lease.ttl, Duration::from_secs(3600));
        // WHEN renewed 3.5 h after issue asking for 10 h: what is left of max_ttl
        f.advance(Duration::from_secs(3 * 3600 + 1800));
        lease.lease.increment = Duration::from_secs(36_000);
        let r = f.lease_op(Operation::Renew, &lease).await.unwrap().unwrap();
        let ttl = r.secret.unwrap().lease.ttl;
        assert!(
            ttl <= Duration::from_secs(1800) && ttl >= Duration::from_secs(1795),
            "{ttl:?}"
        );
        // AND the client's token lifetime is cut to what is left
        let client = f.emu.clients().into_iter().find(|c| c.id == client_id).unwrap();
        assert!(
            client.access_token_validity_seconds <= 1800,
            "{}",
            client.access_token_validity_seconds
        );
        // WHEN renewed at max_ttl: refused
        f.advance(Duration::from_secs(1800));
        let r = f.lease_op(Operation::Renew, &lease).await;
        assert!(
            matches!(&r, Err(LogicalError::BadRequest(m)) if m.contains("max_ttl")),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn bad_requests_change_nothing() {
        let f = Fixture::with_role().await;
        let before = f.storage.inner.keys();
        let clients = f.emu.clients().len();
        // Unknown role.
        let r = f.read("creds/nope").await;
        assert!(
            matches!(&r, Err(LogicalError::BadRequest(m)) if m.contains("nope")),
            "{r:?}"
        );
        // A lease shorter than Genesys' shortest token lifetime (the mount's maximum is 2 min).
        let mut short = Fixture::with_role().await;
        std::sync::Arc::get_mut(&mut short.system).unwrap().max_ttl = Duration::from_secs(120);
        let r = short.read("creds/crm").await;
        assert!(
            matches!(&r, Err(LogicalError::BadRequest(m)) if m.contains("300 s")),
            "{r:?}"
        );
        assert!(short.managed_clients().is_empty());
        // A role whose Genesys role does not exist (written with the role rule off, which would
        // refuse it: the master cannot hold a role that does not exist): Genesys refuses the
        // create, nothing remains.
        f.write("config", json!({"role_rule": false})).await.unwrap();
        f.write("roles/ghost", json!({"role_divisions": "no-such-role:*"}))
            .await
            .unwrap();
        let r = f.read("creds/ghost").await;
        assert!(
            matches!(&r, Err(LogicalError::BadRequest(m)) if m.contains("role_divisions")),
            "{r:?}"
        );
        assert_eq!(f.emu.clients().len(), clients);
        assert!(Wal::all(f.storage.as_ref()).await.unwrap().is_empty());
        let mut after = f.storage.inner.keys();
        after.retain(|k| k != "roles/ghost");
        assert_eq!(after, before);
    }

    #[tokio::test]
    async fn creds_wait_until_the_new_client_gets_tokens() {
        // GIVEN new clients take 2 s to propagate
        let f = Fixture::with_role().await;
        f.emu.set_propagation_delay(Duration::from_secs(2));
        // WHEN creds are read
        let resp = f.read("creds/crm").await.unwrap();
        // THEN they work the moment they are handed out
        f.emu
            .token_grantable(
                &Fixture::field(&resp, "client_id"),
                &Fixture::field(&resp, "client_secret"),
            )
            .unwrap();
    }

    #[tokio::test]
    async fn a_429_storm_is_retried_by_the_core_policy() {
        // GIVEN Genesys answers the next three creates, and a token request, with 429
        let f = Fixture::with_role().await;
        let creates_before = f.emu.call_counts()[routes::CREATE_CLIENT];
        f.emu.inject_fault(
            Fault::new(
                routes::CREATE_CLIENT,
                FaultAction::Status {
                    status: 429,
                    retry_after: None,
                },
            )
            .times(3),
        );
        f.emu.inject_fault(Fault::new(
            routes::TOKEN,
            FaultAction::Status {
                status: 429,
                retry_after: Some(1),
            },
        ));
        // WHEN creds are read
        let resp = f.read("creds/crm").await.unwrap();
        // THEN they came after the storm, with exactly one client made
        assert_eq!(f.emu.pending_faults(), 0);
        assert_eq!(f.managed_clients().len(), 1);
        assert_eq!(f.emu.call_counts()[routes::CREATE_CLIENT] - creates_before, 4);
        f.emu
            .token_grantable(
                &Fixture::field(&resp, "client_id"),
                &Fixture::field(&resp, "client_secret"),
            )
            .unwrap();
    }

    /// After a crash (and a restart), the periodic pass at rollback_min_age leaves no client
    /// without a live lease record, no write-ahead record, and, once every lease has expired, no
    /// client at all.
    async fn assert_no_orphan_after_rollback(f: &mut Fixture, handed_out: Option<&str>) {
        f.restart();
        f.rollback().await;
        f.advance(Duration::from_secs(600));
        f.rollback().await;
        let storage = f.storage.as_ref();
        assert!(
            Wal::all(storage).await.unwrap().is_empty(),
            "write-ahead records remain"
        );
        let records = ManagedClient::all(storage).await.unwrap();
        for client in f.managed_clients() {
            let record = records.iter().find(|r| r.client_id == client.id);
            assert!(
                record.is_some_and(ManagedClient::is_live),
                "client {} has no live lease record",
                client.name
            );
        }
        if let Some(id) = handed_out {
            assert!(
                f.managed_clients().iter().any(|c| c.id == id),
                "a handed-out client was deleted"
            );
        }
        // Past every lease's expiry and the grace, nothing of the mount remains.
        f.advance(Duration::from_secs(3600 + 601));
        f.rollback().await;
        assert!(f.managed_clients().is_empty(), "{:?}", f.managed_clients());
        assert!(ManagedClient::all(storage).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_crash_at_any_point_of_an_issue_leaves_no_orphan() {
        // GIVEN how many storage writes and Genesys calls one issue makes
        let probe = Fixture::with_role().await;
        probe.storage.set_fault(None);
        let calls = probe.genesys_calls();
        probe.read("creds/crm").await.unwrap();
        let (writes, calls) = (probe.storage.writes(), probe.genesys_calls() - calls);
        assert!(writes >= 3 && calls >= 2, "writes {writes}, calls {calls}");
        let points = crash_points(writes, calls);
        let mut crashed = 0;
        let total = points.len();
        for (fault, call) in points {
            // WHEN an issue crashes there
            let mut f = Fixture::with_role().await;
            f.storage.set_fault(fault);
            let outcome = f.run_crashing(Request::new(Operation::Read, "creds/crm"), call).await;
            let handed_out = match &outcome {
                Run::Done(Ok(resp)) => Some(Fixture::field(resp, "client_id")),
                Run::Done(Err(_)) => None,
                Run::Crashed => {
                    crashed += 1;
                    None
                }
            };
            // THEN after the periodic pass at rollback_min_age nothing is orphaned
            assert_no_orphan_after_rollback(&mut f, handed_out.as_deref()).await;
            // AND the master still works
            let config = Config::load(f.storage.as_ref()).await.unwrap().unwrap();
            f.emu
                .token_grantable(&config.client_id, config.client_secret.expose())
                .unwrap();
        }
        assert_eq!(crashed, total, "every point is inside the issue");
        assert!(SETTLE < Duration::from_secs(600));
    }

    #[tokio::test]
    async fn a_create_whose_answer_is_lost_is_rolled_back_not_handed_out() {
        // GIVEN the create's answer is lost after Genesys made the client
        let mut f = Fixture::with_role().await;
        f.emu
            .inject_fault(Fault::new(routes::CREATE_CLIENT, FaultAction::DropAfterApply));
        // WHEN creds are read
        let r = f.read("creds/crm").await;
        // THEN the caller gets an error, the client exists, and the rollback deletes it
        assert!(
            matches!(&r, Err(LogicalError::Internal(m)) if m.contains("may exist")),
            "{r:?}"
        );
        assert_eq!(f.managed_clients().len(), 1);
        f.rollback().await;
        assert_eq!(f.managed_clients().len(), 1, "not before rollback_min_age");
        assert_no_orphan_after_rollback(&mut f, None).await;
    }

    #[tokio::test]
    async fn a_storage_failure_after_the_create_deletes_the_client_at_once() {
        // GIVEN the write of the client's record fails (the second write: after the WAL)
        let f = Fixture::with_role().await;
        f.storage.set_fault(Some(WriteFault::Fail(2)));
        let r = f.read("creds/crm").await;
        assert!(r.is_err());
        // THEN the client made is deleted at once, and nothing is left to roll back
        assert!(f.managed_clients().is_empty());
        assert!(Wal::all(f.storage.as_ref()).await.unwrap().is_empty());
        assert!(ManagedClient::all(f.storage.as_ref()).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_lease_the_server_never_revokes_is_cleaned_after_expiry() {
        let f = Fixture::with_role().await;
        f.read("creds/crm").await.unwrap();
        f.advance(Duration::from_secs(3600 + 300));
        f.rollback().await;
        assert_eq!(
            f.managed_clients().len(),
            1,
            "within the grace the server may still revoke"
        );
        f.advance(Duration::from_secs(301));
        f.rollback().await;
        assert!(f.managed_clients().is_empty());
        let _ = ROLE_ID;
    }
}

/// Leases near the org's client limit ([`super::org_room`]).
#[cfg(all(test, feature = "endpoint-overrides"))]
mod client_limit_tests {
    use std::time::Duration;

    use genesys_emulator::routes;
    use serde_json::json;

    use crate::engine::managed::ManagedClient;
    use crate::engine::testing::Fixture;
    use crate::engine::wal::Wal;
    use crate::logical::{LogicalError, Response};

    fn calls(f: &Fixture, route: &str) -> u64 {
        f.emu.call_counts().get(route).copied().unwrap_or(0)
    }

    fn is_limit_refusal(r: &Result<Option<Response>, LogicalError>) -> bool {
        matches!(r, Err(LogicalError::BadRequest(m))
            if m.contains("client_limit") && m.contains("client_limit_margin") && m.contains("of its limit of"))
    }

    #[tokio::test]
    async fn leases_are_refused_while_the_margin_is_still_free() {
        // GIVEN an org whose limit is 10, and a mount that keeps 3 places free
        let f = Fixture::with_role().await;
        f.emu.set_client_limit(10);
        f.write("config", json!({"client_limit": 10, "client_limit_margin": 3}))
            .await
            .unwrap();
        let before = f.emu.clients().len();
        let creates_before = calls(&f, routes::CREATE_CLIENT);
        assert!(before < 7, "the fixture's org holds {before} clients");
        // WHEN creds are read until the engine refuses
        let mut issued = 0;
        let refusal = loop {
            let r = f.read("creds/crm").await;
            if r.is_err() || issued > 10 {
                break r;
            }
            issued += 1;
        };
        // THEN the refusal is the engine's own, naming the limit and the margin, with 3 places
        // still free: Genesys never refused anything
        assert!(is_limit_refusal(&refusal), "{refusal:?}");
        assert_eq!(f.emu.clients().len(), 7);
        assert_eq!(issued, 7 - before);
        assert_eq!(calls(&f, routes::CREATE_CLIENT) - creates_before, issued as u64);
        // AND a refused read creates nothing and leaves no record
        let creates = calls(&f, routes::CREATE_CLIENT);
        assert!(is_limit_refusal(&f.read("creds/crm").await));
        assert!(is_limit_refusal(&f.read("token/crm").await));
        assert_eq!(calls(&f, routes::CREATE_CLIENT), creates);
        assert!(Wal::all(f.storage.as_ref()).await.unwrap().is_empty());
        assert_eq!(ManagedClient::all(f.storage.as_ref()).await.unwrap().len(), issued);
        // AND once the operator raises the limit, leases are issued again
        f.write("config", json!({"client_limit": 11})).await.unwrap();
        f.emu.set_client_limit(11);
        f.read("creds/crm").await.unwrap();
    }

    #[tokio::test]
    async fn far_from_the_limit_the_org_is_listed_once_a_minute_not_per_lease() {
        let f = Fixture::with_role().await;
        let lists = calls(&f, routes::LIST_CLIENTS);
        for _ in 0..3 {
            f.read("creds/crm").await.unwrap();
        }
        assert_eq!(calls(&f, routes::LIST_CLIENTS), lists + 1);
        f.advance(crate::engine::org_room::RECOUNT_AFTER + Duration::from_secs(1));
        f.read("creds/crm").await.unwrap();
        assert_eq!(calls(&f, routes::LIST_CLIENTS), lists + 2);
    }

    #[tokio::test]
    async fn a_lower_limit_applies_to_the_next_lease_on_a_fresh_count() {
        // GIVEN a count taken far from the default limit
        let f = Fixture::with_role().await;
        f.read("creds/crm").await.unwrap();
        let lists = calls(&f, routes::LIST_CLIENTS);
        // WHEN the operator lowers client_limit to what the org holds plus the margin
        let held = f.emu.clients().len();
        f.write("config", json!({"client_limit": held + 2, "client_limit_margin": 2}))
            .await
            .unwrap();
        // THEN the next lease is refused, after a new listing
        assert!(is_limit_refusal(&f.read("creds/crm").await));
        assert_eq!(calls(&f, routes::LIST_CLIENTS), lists + 1);
        assert_eq!(f.emu.clients().len(), held);
    }

    #[tokio::test]
    async fn the_limit_settings_default_to_the_lambdas_and_bad_ones_change_nothing() {
        let f = Fixture::with_role().await;
        let read = f.read("config").await.unwrap().unwrap();
        assert_eq!(read.data["client_limit"], json!(500));
        assert_eq!(read.data["client_limit_margin"], json!(10));
        for (body, field) in [
            (
                json!({"client_limit": 10, "client_limit_margin": 10}),
                "client_limit_margin",
            ),
            (json!({"client_limit_margin": 500}), "client_limit_margin"),
            (json!({"client_limit": 0}), "client_limit"),
            (json!({"client_limit": "many"}), "client_limit"),
            (json!({"client_limit_margin": -1}), "client_limit_margin"),
        ] {
            let r = f.write("config", body.clone()).await;
            assert!(
                matches!(&r, Err(LogicalError::BadRequest(m)) if m.contains(field)),
                "{body}: {r:?}"
            );
        }
        let after = f.read("config").await.unwrap().unwrap();
        assert_eq!(after.data, read.data);
    }
}
