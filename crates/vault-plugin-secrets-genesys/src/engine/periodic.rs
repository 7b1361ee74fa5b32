//! The periodic pass: the server's `rollback` operation, sent to the mount about once a minute.
//! In order: recover a settled root rotation; roll forward settled new-secret records; reconcile
//! (roll back create records older than `rollback_min_age`, retire and delete the mount's own
//! clients that are due, by [`super::reconcile`]'s rules); give due `token/` clients and static
//! roles their new secret. Each part stands alone: a failure is logged and the next part runs;
//! whatever is left is tried again on the next pass. Nothing here fails the operation.
//!
//! Only the active node runs it: an OpenBao HA standby also mounts the plugin and sends it the
//! periodic call, but its storage is a read-only replica, so a pass there would change Genesys
//! (delete a client, give one a new secret) and then fail to store the outcome.
use std::collections::HashMap;
use std::time::Duration;

use tracing::{info, warn};

use super::clock::age;
use super::config::Config;
use super::identity::Identity;
use super::last_listing::LastListing;
use super::limits::SETTLE;
use super::locks::Locks;
use super::managed::{self, ManagedClient, NotDeleted, Phase};
use super::org::Org;
use super::purpose::Purpose;
use super::reconcile::{self, Known, Step};
use super::static_roles;
use super::store;
use super::token::{self, TokenPointer};
use super::token_cache::TokenCache;
use super::wal::{SecretTarget, Wal, WalKind};
use crate::logical::{Context, LogicalError, Response, Storage};

/// How often the pass lists the org's clients when nothing is due: to report clients carrying
/// this mount's marker that it does not own, and to notice clients deleted by hand.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(3600);

/// What a pass did (for logs and tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// The root rotation record was finished or dropped.
    pub root_recovered: bool,
    /// New-secret records rolled forward or dropped.
    pub rolled_forward: usize,
    /// Whether the org's clients were listed.
    pub listed: bool,
    /// Clients deleted.
    pub deleted: usize,
    /// Clients deactivated.
    pub deactivated: usize,
    /// `token/` clients and static roles given a new secret.
    pub rotated: usize,
    /// Parts that failed (messages; never secrets).
    pub errors: Vec<String>,
    /// This node is an HA standby: the pass did nothing (the active node runs it).
    pub standby: bool,
}

/// The `rollback` operation.
pub async fn run(
    org: &Org,
    locks: &Locks,
    tokens: &TokenCache,
    last_listing: &LastListing,
    ctx: &Context,
) -> Result<Option<Response>, LogicalError> {
    let report = pass(org, locks, tokens, last_listing, ctx).await;
    if report.standby {
        tracing::debug!("periodic pass skipped: this node is a standby, the active node runs it");
    } else if report.errors.is_empty() {
        tracing::debug!(?report, "periodic pass done");
    } else {
        warn!(?report, "periodic pass done with errors; the next pass tries again");
    }
    Ok(None)
}

/// One pass; what it did.
pub async fn pass(
    org: &Org,
    locks: &Locks,
    tokens: &TokenCache,
    last_listing: &LastListing,
    ctx: &Context,
) -> PassReport {
    let mut report = PassReport::default();
    match ctx.system.standby().await {
        Ok(false) => {}
        Ok(true) => {
            report.standby = true;
            return report;
        }
        Err(e) => {
            report
                .errors
                .push(format!("asking the server whether this node is a standby: {e}"));
            return report;
        }
    }
    let storage = ctx.storage.as_ref();
    match super::root::recover_if_due(org, locks, ctx).await {
        Ok(Some(_)) => report.root_recovered = true,
        Ok(None) => {}
        Err(e) => report.errors.push(format!("root rotation recovery: {e}")),
    }
    let (config, identity) = match (Config::load(storage).await, Identity::load(storage).await) {
        (Ok(Some(c)), Ok(Some(i))) => (c, i),
        (Ok(_), Ok(_)) => return report,
        (Err(e), _) | (_, Err(e)) => {
            report.errors.push(format!("reading config: {e}"));
            return report;
        }
    };
    if let Err(e) = roll_forward(org, locks, tokens, storage, &config, &mut report).await {
        report.errors.push(format!("new-secret records: {e}"));
    }
    if let Err(e) = sweep(org, tokens, last_listing, storage, &config, &identity, &mut report).await {
        report.errors.push(format!("reconciliation: {e}"));
    }
    if let Err(e) = rotate_token_clients(org, locks, tokens, storage, &config, &mut report).await {
        report.errors.push(format!("token client rotation: {e}"));
    }
    match static_roles::rotate_due(org, locks, storage, &config).await {
        Ok(n) => report.rotated += n,
        Err(e) => report.errors.push(format!("static role rotation: {e}")),
    }
    report
}

async fn roll_forward(
    org: &Org,
    locks: &Locks,
    tokens: &TokenCache,
    storage: &dyn Storage,
    config: &Config,
    report: &mut PassReport,
) -> Result<(), LogicalError> {
    for wal in Wal::all(storage).await? {
        let WalKind::NewSecret { target, .. } = &wal.kind else {
            continue;
        };
        if age(wal.created_at, org.now()) < SETTLE {
            continue;
        }
        let done = match target {
            SecretTarget::Static { role, creating } => {
                static_roles::roll_forward(org, locks, storage, config, &wal, role, *creating).await
            }
            SecretTarget::TokenClient { uuid } => {
                token::roll_forward(org, locks, tokens, storage, config, &wal, uuid).await
            }
        };
        match done {
            Ok(()) => report.rolled_forward += 1,
            Err(e) => report.errors.push(format!("rolling forward {}: {e}", wal.id)),
        }
    }
    Ok(())
}

async fn sweep(
    org: &Org,
    tokens: &TokenCache,
    last_listing: &LastListing,
    storage: &dyn Storage,
    config: &Config,
    identity: &Identity,
    report: &mut PassReport,
) -> Result<(), LogicalError> {
    let records = ManagedClient::all(storage).await?;
    let wals = Wal::all(storage).await?;
    let pointers: HashMap<String, String> = store::all::<TokenPointer>(storage, store::TOKEN_CLIENTS)
        .await?
        .into_iter()
        .map(|(role, p)| (role, p.uuid))
        .collect();
    let known = Known {
        records: &records,
        wals: &wals,
        pointers: &pointers,
    };
    let now = org.now();
    let due = last_listing.older_than(RECONCILE_INTERVAL, now);
    if !due && !reconcile::needs_listing(&known, now, config.rollback_min_age()) {
        return Ok(());
    }
    let master = org.master(config).await?;
    let listing = master
        .list_clients()
        .await
        .map_err(|e| super::genesys::genesys_error("listing the org's clients", e))?;
    last_listing.listed(now);
    report.listed = true;
    let prefix = config.prefix()?;
    let plan = reconcile::plan(&listing, known, identity, &prefix, now, config.rollback_min_age());
    for id in &plan.foreign_with_marker {
        warn!(client_id = %id, "a client carries this mount's marker but is not provably its own (unknown id or renamed): left alone");
    }
    let uuids = known.uuids();
    let owner = managed::owner(identity, &prefix, &uuids);
    for step in plan.steps {
        let done: Result<(), LogicalError> = async {
            match &step {
                Step::Delete { client_id, uuid, reason } => {
                    match managed::delete_owned(&master, &owner, client_id).await {
                        Ok(_) => {}
                        Err(NotDeleted::Foreign(_)) => return Ok(()),
                        Err(NotDeleted::Failed(e)) => return Err(e),
                    }
                    info!(client_id = %client_id, reason = %reason, "periodic pass deleted a client of this mount");
                    report.deleted += 1;
                    forget(tokens, storage, &records, &wals, &pointers, uuid).await
                }
                Step::Deactivate { client_id, uuid, reason } => {
                    if let Some(mut record) = records.iter().find(|r| r.uuid == *uuid).cloned() {
                        if record.is_live() {
                            record.phase = Phase::Retiring { since: org.now() };
                            record.secret = None;
                            record.save(storage).await?;
                            tokens.forget(uuid);
                        }
                    }
                    let Some(client) = listing.iter().find(|c| c.id == *client_id) else {
                        return Ok(());
                    };
                    if owner.owns(client) {
                        master
                            .deactivate(client)
                            .await
                            .map_err(|e| super::genesys::genesys_error("deactivating a client", e))?;
                        info!(client_id = %client_id, reason = %reason, "periodic pass deactivated a client of this mount; it is deleted once drained");
                        report.deactivated += 1;
                    }
                    Ok(())
                }
                Step::Forget { uuid } => forget(tokens, storage, &records, &wals, &pointers, uuid).await,
                Step::EndWal { id, uuid } => {
                    info!(uuid = %uuid, "create record ended: the create made no client");
                    store::delete(storage, &format!("{}{id}", store::WAL)).await?;
                    forget(tokens, storage, &records, &wals, &pointers, uuid).await
                }
            }
        }
        .await;
        if let Err(e) = done {
            report.errors.push(format!("{step:?}: {e}"));
        }
    }
    Ok(())
}

/// Forgets everything that refers to client `uuid`: its record, its create records, the token
/// pointer that names it.
async fn forget(
    tokens: &TokenCache,
    storage: &dyn Storage,
    records: &[ManagedClient],
    wals: &[Wal],
    pointers: &HashMap<String, String>,
    uuid: &str,
) -> Result<(), LogicalError> {
    ManagedClient::forget(storage, uuid).await?;
    tokens.forget(uuid);
    for wal in wals {
        if matches!(&wal.kind, WalKind::CreateClient { uuid: u, .. } if u == uuid) {
            wal.end(storage).await?;
        }
    }
    let role = records
        .iter()
        .find(|r| r.uuid == uuid)
        .map(|r| r.purpose.role().to_owned())
        .or_else(|| {
            wals.iter().find_map(|w| match &w.kind {
                WalKind::CreateClient {
                    uuid: u,
                    purpose: Purpose::Token { role },
                    ..
                } if u == uuid => Some(role.clone()),
                _ => None,
            })
        });
    if let Some(role) = role {
        if pointers.get(&role).map(String::as_str) == Some(uuid) {
            store::delete(storage, &format!("{}{role}", store::TOKEN_CLIENTS)).await?;
        }
    }
    Ok(())
}

async fn rotate_token_clients(
    org: &Org,
    locks: &Locks,
    tokens: &TokenCache,
    storage: &dyn Storage,
    config: &Config,
    report: &mut PassReport,
) -> Result<(), LogicalError> {
    for record in ManagedClient::all(storage).await? {
        if !matches!(record.purpose, Purpose::Token { .. }) || !record.is_live() {
            continue;
        }
        match token::rotate_if_due(org, locks, tokens, storage, config, &record).await {
            Ok(true) => report.rotated += 1,
            Ok(false) => {}
            Err(e) => report
                .errors
                .push(format!("rotating token client {}: {e}", record.client_id)),
        }
    }
    Ok(())
}

#[cfg(all(test, feature = "endpoint-overrides"))]
mod tests {
    use genesys_emulator::{routes, Fault, FaultAction, SeedClient};
    use serde_json::json;

    use std::sync::Arc;

    use super::*;
    use crate::engine::testing::{Fixture, PREFIX, ROLE_ID};
    use crate::logical::MemoryStorage;

    const LONG: Duration = Duration::from_secs(400 * 86_400);

    /// One pass of `f`'s engine, over `ctx`.
    async fn pass_of(f: &Fixture, ctx: &Context) -> PassReport {
        let e = &f.engine;
        pass(&e.org, &e.locks, &e.tokens, &e.last_listing, ctx).await
    }

    #[tokio::test]
    async fn reconciliation_never_touches_a_foreign_client() {
        // GIVEN mount A and mount B on one org with the same prefix, each with a live lease
        let a = Fixture::with_role().await;
        let b = a.another_mount();
        b.configure().await;
        b.write(
            "roles/crm",
            json!({"role_divisions": [{"role_id": ROLE_ID, "division_id": "*"}]}),
        )
        .await
        .unwrap();
        let a_client = Fixture::field(&a.read("creds/crm").await.unwrap(), "client_id");
        let b_client = Fixture::field(&b.read("creds/crm").await.unwrap(), "client_id");
        // AND a hand-made client named like A's, one carrying A's marker under an id A never
        // made, and the master; all of them old and inactive where they can be
        let a_owner = Identity::load(a.storage.as_ref()).await.unwrap().unwrap();
        let stray_uuid = "0b0e7c9e-5c1f-4d6e-9f7a-2b8c1d3e4f5a";
        let hand = a.emu.seed_client(SeedClient {
            name: format!("{PREFIX}{stray_uuid}"),
            state: genesys_emulator::ClientState::Inactive,
            ..SeedClient::default()
        });
        let marked = a.emu.seed_client(SeedClient {
            name: format!("{PREFIX}{stray_uuid}"),
            description: Some(a_owner.marker()),
            state: genesys_emulator::ClientState::Inactive,
            ..SeedClient::default()
        });
        // WHEN A's periodic pass runs long after every lease has expired
        a.advance(LONG);
        a.rollback().await;
        a.rollback().await;
        // THEN only A's own client is gone
        let deleted = a.emu.deleted_client_ids();
        assert_eq!(deleted, vec![a_client.clone()]);
        let left: Vec<String> = a.emu.clients().into_iter().map(|c| c.id).collect();
        for foreign in [&b_client, &hand.id, &marked.id, &a.master.id] {
            assert!(left.contains(foreign), "{foreign} was touched");
        }
    }

    #[tokio::test]
    async fn an_incomplete_or_failed_listing_decides_nothing() {
        // GIVEN an expired lease and a pass that is due
        let f = Fixture::with_role().await;
        f.read("creds/crm").await.unwrap();
        f.advance(Duration::from_secs(2 * 3600));
        // WHEN the listing misses a client, or fails
        f.emu
            .inject_fault(Fault::new(routes::LIST_CLIENTS, FaultAction::ShortListing).times(5));
        let report = pass_of(&f, &f.ctx()).await;
        assert!(!report.errors.is_empty() && report.deleted == 0, "{report:?}");
        f.emu.clear_faults();
        f.emu.inject_fault(
            Fault::new(
                routes::LIST_CLIENTS,
                FaultAction::Status {
                    status: 503,
                    retry_after: None,
                },
            )
            .times(5),
        );
        let report = pass_of(&f, &f.ctx()).await;
        assert!(!report.errors.is_empty() && report.deleted == 0, "{report:?}");
        assert_eq!(f.managed_clients().len(), 1);
        // THEN the next complete pass does it
        f.emu.clear_faults();
        let report = pass_of(&f, &f.ctx()).await;
        assert_eq!((report.deleted, report.errors.len()), (1, 0), "{report:?}");
        assert!(f.managed_clients().is_empty());
    }

    #[tokio::test]
    async fn an_unconfigured_mount_passes_quietly() {
        let f = Fixture::new().await;
        let report = pass_of(&f, &f.ctx()).await;
        assert_eq!(report, PassReport::default());
        f.rollback().await;
        assert_eq!(f.genesys_calls(), 0);
    }

    #[tokio::test]
    async fn a_standby_leaves_the_pass_to_the_active_node() {
        // GIVEN a lease long expired and never revoked: its client is due for deletion
        let f = Fixture::with_role().await;
        f.read("creds/crm").await.unwrap();
        f.advance(LONG);
        let calls = f.genesys_calls();
        // WHEN the pass runs on an HA standby
        let standby = Context {
            storage: f.ctx().storage,
            system: Arc::new(MemoryStorage::standby()),
        };
        let report = pass_of(&f, &standby).await;
        // THEN it does nothing: no Genesys call, the client and its record stay
        assert_eq!(
            report,
            PassReport {
                standby: true,
                ..PassReport::default()
            }
        );
        assert_eq!(f.genesys_calls(), calls);
        assert_eq!(f.managed_clients().len(), 1);
        // AND the active node's pass does the work
        assert_eq!(pass_of(&f, &f.ctx()).await.deleted, 1);
    }

    #[tokio::test]
    async fn a_quiet_mount_lists_the_org_at_most_hourly() {
        let f = Fixture::with_role().await;
        assert!(pass_of(&f, &f.ctx()).await.listed);
        assert!(!pass_of(&f, &f.ctx()).await.listed);
        f.advance(RECONCILE_INTERVAL);
        assert!(pass_of(&f, &f.ctx()).await.listed);
    }
}
