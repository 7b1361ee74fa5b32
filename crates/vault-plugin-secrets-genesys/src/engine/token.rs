//! `token/<role>`: a bearer token only (`access_token`, `expires_in`), minted from a client the
//! engine creates for the role, keeps the secret of and gives a new secret every
//! `token_rotation_period` (periodic pass). The caller never sees a client secret. Tokens are
//! cached in memory (in the client's own token cache) until near expiry, never stored. When the
//! role's grants or token lifetime change, the client is updated in place; when the role is
//! deleted, the client is deactivated and deleted once its tokens have run out.
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use genesys_core::genesys::{GenesysClient, GenesysError};
use genesys_core::secret::{ClientCredentials, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use tracing::{info, warn};

use super::clock::age;
use super::config::Config;
use super::genesys::genesys_error;
use super::identity::Identity;
use super::locks::Locks;
use super::managed::{self, ManagedClient, NewClient, Phase};
use super::org::Org;
use super::purpose::Purpose;
use super::rekey::{self, Holder};
use super::role::Role;
use super::store::{self, StoredSecret};
use super::token_cache::TokenCache;
use super::wal::{SecretTarget, Wal};
use crate::logical::{Context, LogicalError, Response, Storage};

/// `token-clients/<role>`: which client the role's tokens come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPointer {
    /// The uuid of the client's record.
    pub uuid: String,
}

fn pointer_key(role: &str) -> String {
    format!("{}{role}", store::TOKEN_CLIENTS)
}

/// The role's pointer, if any.
pub async fn pointer(storage: &dyn Storage, role: &str) -> Result<Option<TokenPointer>, LogicalError> {
    store::get(storage, &pointer_key(role)).await
}

/// The role's client, from the token cache while its record's secret generation is the same
/// (so its token is reused until near expiry).
fn cached_client(
    org: &Org,
    tokens: &TokenCache,
    config: &Config,
    record: &ManagedClient,
) -> Result<Arc<GenesysClient>, LogicalError> {
    tokens.client(&record.uuid, record.generation, || {
        let credentials = record.credentials().ok_or_else(|| {
            LogicalError::Internal(format!("the token client {} has no stored secret", record.client_id))
        })?;
        Ok(org.connector().client(config.region, credentials))
    })
}

/// `token/<role>` read.
pub async fn read(
    org: &Org,
    locks: &Locks,
    tokens: &TokenCache,
    ctx: &Context,
    role_name: &str,
) -> Result<Option<Response>, LogicalError> {
    let _shared = locks.root_shared().await;
    let storage = ctx.storage.as_ref();
    let config = Config::require(storage).await?;
    let identity = Identity::load(storage)
        .await?
        .ok_or_else(|| LogicalError::Internal("the mount has no owner identity; write config again".into()))?;
    let _guard = locks.role(role_name).await;
    let role = Role::require(storage, role_name).await?;
    let record = match current(storage, role_name).await? {
        Some(record) => sync_with_role(org, tokens, storage, &config, &identity, record, &role).await?,
        None => create(org, storage, &config, &identity, role_name, &role).await?,
    };
    let client = cached_client(org, tokens, &config, &record)?;
    let token = match client.token().await {
        Ok(token) => token,
        Err(e @ GenesysError::InvalidClient { .. }) => {
            let target = SecretTarget::TokenClient {
                uuid: record.uuid.clone(),
            };
            let recovering = Wal::all(storage).await?.iter().any(|w| w.changes(&target));
            tokens.forget(&record.uuid);
            return Err(if recovering {
                LogicalError::Internal(format!(
                    "the role's client {} is getting a new secret after an interrupted rotation; try again in a few \
                     minutes",
                    record.client_id
                ))
            } else {
                genesys_error("minting a token", e)
            });
        }
        Err(e) => return Err(genesys_error("minting a token", e)),
    };
    let expires_in = token.expires_at().saturating_duration_since(Instant::now());
    Ok(Some(Response::data(json!({
        "access_token": token.bearer(),
        "expires_in": expires_in.as_secs(),
    }))))
}

/// The role's live client, if it has one.
async fn current(storage: &dyn Storage, role: &str) -> Result<Option<ManagedClient>, LogicalError> {
    let Some(pointer) = pointer(storage, role).await? else {
        return Ok(None);
    };
    Ok(ManagedClient::load(storage, &pointer.uuid)
        .await?
        .filter(|r| r.is_live() && r.secret.is_some()))
}

async fn create(
    org: &Org,
    storage: &dyn Storage,
    config: &Config,
    identity: &Identity,
    role_name: &str,
    role: &Role,
) -> Result<ManagedClient, LogicalError> {
    // A pointer to a retired or missing record is replaced; its client (if any) is the
    // periodic pass's to clean up.
    org.reserve_client(config).await?;
    let created = managed::create(
        org,
        storage,
        config,
        identity,
        NewClient {
            purpose: Purpose::Token {
                role: role_name.to_owned(),
            },
            role_divisions: role.role_divisions.clone(),
            token_lifetime: role.token_lifetime(),
            note: role.note(role_name, "Token client"),
            keep_secret: true,
        },
    )
    .await?;
    let stored = store::put(
        storage,
        &pointer_key(role_name),
        &TokenPointer {
            uuid: created.record.uuid.clone(),
        },
    )
    .await;
    if let Err(e) = stored {
        managed::abandon(org, storage, config, identity, &created).await;
        return Err(e);
    }
    managed::until_usable(org, storage, config, identity, &created).await?;
    if let Err(e) = managed::commit(storage, &created).await {
        managed::abandon(org, storage, config, identity, &created).await;
        return Err(e);
    }
    info!(client_id = %created.record.client_id, role = %role_name, "token client created");
    Ok(created.record)
}

/// Brings the client's grants and token lifetime to the role's, if the role changed.
async fn sync_with_role(
    org: &Org,
    tokens: &TokenCache,
    storage: &dyn Storage,
    config: &Config,
    identity: &Identity,
    mut record: ManagedClient,
    role: &Role,
) -> Result<ManagedClient, LogicalError> {
    if record.role_divisions == role.role_divisions && record.token_lifetime == role.token_lifetime {
        return Ok(record);
    }
    let master = org.master(config).await?;
    let prefix = config.prefix()?;
    let known = HashSet::from([record.uuid.clone()]);
    let client = master
        .get_client(&record.client_id)
        .await
        .map_err(|e| genesys_error("reading the role's token client", e))?
        .ok_or_else(|| LogicalError::Internal(format!("the role's token client {} is gone", record.client_id)))?;
    managed::owner(identity, &prefix, &known)
        .judge(&client)
        .map_err(|why| {
            LogicalError::Internal(format!(
                "the role's token client {} is not this mount's: {why}",
                client.id
            ))
        })?;
    let mut body = client.to_request();
    body.role_divisions = role.role_divisions.clone();
    body.access_token_validity_seconds = Some(role.token_lifetime);
    master
        .update_client(&client.id, &body)
        .await
        .map_err(|e| genesys_error("updating the role's token client", e))?;
    record.role_divisions = role.role_divisions.clone();
    record.token_lifetime = role.token_lifetime;
    record.save(storage).await?;
    tokens.forget(&record.uuid);
    info!(client_id = %record.client_id, "token client updated to its role");
    Ok(record)
}

/// Retires role `role`'s client (role deleted): deactivated now if possible (it mints no more
/// tokens), deleted by the periodic pass once its tokens have drained.
pub async fn retire_role_client(
    org: &Org,
    tokens: &TokenCache,
    storage: &dyn Storage,
    role: &str,
) -> Result<(), LogicalError> {
    let Some(pointer) = pointer(storage, role).await? else {
        return Ok(());
    };
    if let Some(mut record) = ManagedClient::load(storage, &pointer.uuid).await? {
        if record.is_live() {
            record.phase = Phase::Retiring { since: org.now() };
            record.secret = None;
            record.save(storage).await?;
        }
        tokens.forget(&record.uuid);
        if let Err(e) = deactivate(org, storage, &record).await {
            warn!(client_id = %record.client_id, error = %e, "could not deactivate a retired token client now; the periodic pass does");
        }
    }
    store::delete(storage, &pointer_key(role)).await
}

async fn deactivate(org: &Org, storage: &dyn Storage, record: &ManagedClient) -> Result<(), LogicalError> {
    let config = Config::require(storage).await?;
    let identity = Identity::load(storage)
        .await?
        .ok_or_else(|| LogicalError::Internal("no owner identity".into()))?;
    let prefix = config.prefix()?;
    let known = HashSet::from([record.uuid.clone()]);
    let master = org.master(&config).await?;
    let Some(client) = master
        .get_client(&record.client_id)
        .await
        .map_err(|e| genesys_error("reading a retired client", e))?
    else {
        return Ok(());
    };
    if managed::owner(&identity, &prefix, &known).owns(&client) {
        master
            .deactivate(&client)
            .await
            .map_err(|e| genesys_error("deactivating a retired client", e))?;
    }
    Ok(())
}

/// A `token/` client's record as a [`Holder`] of its secret.
pub struct TokenHolder<'a> {
    /// The record.
    pub record: ManagedClient,
    /// Where cached clients are dropped when the secret changes.
    pub cache: &'a TokenCache,
}

#[async_trait]
impl Holder for TokenHolder<'_> {
    fn target(&self) -> SecretTarget {
        SecretTarget::TokenClient {
            uuid: self.record.uuid.clone(),
        }
    }

    fn client_id(&self) -> &str {
        &self.record.client_id
    }

    fn generation(&self) -> u64 {
        self.record.generation
    }

    fn credentials(&self) -> Option<ClientCredentials> {
        self.record.credentials()
    }

    async fn store_secret(
        &mut self,
        storage: &dyn Storage,
        secret: SecretString,
        now: OffsetDateTime,
    ) -> Result<(), LogicalError> {
        self.record.secret = Some(StoredSecret::new(secret));
        self.record.generation += 1;
        self.record.rotated_at = now;
        self.record.save(storage).await?;
        self.cache.forget(&self.record.uuid);
        Ok(())
    }
}

/// Gives the live `token/` client `record` a new secret if its rotation period has passed
/// (periodic pass).
pub async fn rotate_if_due(
    org: &Org,
    locks: &Locks,
    tokens: &TokenCache,
    storage: &dyn Storage,
    config: &Config,
    record: &ManagedClient,
) -> Result<bool, LogicalError> {
    if !record.is_live() || age(record.rotated_at, org.now()) < config.token_rotation_period() {
        return Ok(false);
    }
    let role = record.purpose.role().to_owned();
    let _guard = locks.role(&role).await;
    // Read again under the lock: a token read may have changed it.
    let Some(record) = ManagedClient::load(storage, &record.uuid)
        .await?
        .filter(ManagedClient::is_live)
    else {
        return Ok(false);
    };
    if age(record.rotated_at, org.now()) < config.token_rotation_period() {
        return Ok(false);
    }
    let mut holder = TokenHolder { record, cache: tokens };
    rekey::rotate(org, storage, config, &mut holder).await?;
    Ok(true)
}

/// Rolls forward a settled new-secret record of `token/` client `uuid`.
pub async fn roll_forward(
    org: &Org,
    locks: &Locks,
    tokens: &TokenCache,
    storage: &dyn Storage,
    config: &Config,
    wal: &Wal,
    uuid: &str,
) -> Result<(), LogicalError> {
    let record = ManagedClient::load(storage, uuid).await?.filter(ManagedClient::is_live);
    let role = record.as_ref().map(|r| r.purpose.role().to_owned());
    let _guard = match &role {
        Some(role) => Some(locks.role(role).await),
        None => None,
    };
    let record = ManagedClient::load(storage, uuid).await?.filter(ManagedClient::is_live);
    match record {
        Some(record) => {
            let mut holder = TokenHolder { record, cache: tokens };
            rekey::roll_forward(org, storage, config, wal, Some(&mut holder)).await
        }
        None => rekey::roll_forward(org, storage, config, wal, None).await,
    }
}

#[cfg(all(test, feature = "endpoint-overrides"))]
mod tests {
    use std::time::Duration;

    use genesys_emulator::{routes, Fault, FaultAction};
    use serde_json::json;

    use super::*;
    use crate::engine::limits::SETTLE;
    use crate::engine::testing::{crash_points, Fixture, Run};
    use crate::logical::{Operation, Request};

    fn token_client(f: &Fixture) -> genesys_emulator::ClientRecord {
        let clients = f.managed_clients();
        assert_eq!(clients.len(), 1, "{clients:?}");
        clients.into_iter().next().unwrap()
    }

    #[tokio::test]
    async fn a_token_read_gives_a_bearer_token_only_from_a_held_client() {
        // GIVEN role crm (token lifetime 2 h)
        let f = Fixture::with_role().await;
        // WHEN a token is read twice
        let first = f.read("token/crm").await.unwrap().unwrap();
        let second = f.read("token/crm").await.unwrap().unwrap();
        // THEN the answer holds a token and its remaining life, and nothing else
        let keys: Vec<&String> = first.data.keys().collect();
        assert_eq!(keys, vec!["access_token", "expires_in"]);
        assert!(first.secret.is_none(), "a token is not leased");
        let expires_in = first.data["expires_in"].as_u64().unwrap();
        assert!((7000..=7200).contains(&expires_in), "{expires_in}");
        // AND the token is cached, not minted again
        assert_eq!(first.data["access_token"], second.data["access_token"]);
        // AND it comes from one client of the mount, whose secret the caller never saw
        let client = token_client(&f);
        assert_eq!(client.access_token_validity_seconds, 7200);
        assert!(!serde_json::to_string(&first.data).unwrap().contains(&client.secret));
    }

    #[tokio::test]
    async fn the_held_client_follows_its_role_and_is_rotated_by_the_periodic_pass() {
        let f = Fixture::with_role().await;
        f.read("token/crm").await.unwrap();
        let before = token_client(&f);
        // WHEN the role's token lifetime changes: the client is updated in place
        f.write("roles/crm", json!({"token_lifetime": 900})).await.unwrap();
        let r = f.read("token/crm").await.unwrap().unwrap();
        assert!(r.data["expires_in"].as_u64().unwrap() <= 900);
        let after = token_client(&f);
        assert_eq!(
            (after.id.as_str(), after.access_token_validity_seconds),
            (before.id.as_str(), 900)
        );
        // WHEN the rotation period passes: the periodic pass gives it a new secret
        f.advance(Duration::from_secs(86_400));
        f.rollback().await;
        let rotated = token_client(&f);
        assert_ne!(rotated.secret, after.secret);
        let record = ManagedClient::all(f.storage.as_ref()).await.unwrap().pop().unwrap();
        assert_eq!(record.secret.unwrap().expose(), rotated.secret);
        assert_eq!(record.generation, 2);
        // AND tokens keep coming
        f.read("token/crm").await.unwrap();
    }

    #[tokio::test]
    async fn a_deleted_roles_client_drains_then_goes() {
        // GIVEN a role with a token client (lifetime 2 h: drain 2 h plus the 1 h margin)
        let f = Fixture::with_role().await;
        f.read("token/crm").await.unwrap();
        let client = token_client(&f);
        // WHEN the role is deleted
        f.call(Operation::Delete, "roles/crm", json!({})).await.unwrap();
        // THEN the client is deactivated at once, and kept while its tokens may live
        let c = f.emu.clients().into_iter().find(|c| c.id == client.id).unwrap();
        assert_eq!(c.state, genesys_emulator::ClientState::Inactive);
        f.advance(Duration::from_secs(3 * 3600 - 60));
        f.rollback().await;
        assert!(f.emu.clients().iter().any(|c| c.id == client.id));
        // AND deleted once drained from its deactivation
        f.advance(Duration::from_secs(120));
        f.rollback().await;
        assert!(f.emu.deleted_client_ids().contains(&client.id));
        assert!(ManagedClient::all(f.storage.as_ref()).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_crash_during_the_held_clients_rotation_is_rolled_forward() {
        // GIVEN a token client whose rotation is due
        let probe = Fixture::with_role().await;
        probe.read("token/crm").await.unwrap();
        probe.advance(Duration::from_secs(86_400));
        probe.storage.set_fault(None);
        let before = probe.genesys_calls();
        probe.rollback().await;
        let (writes, calls) = (probe.storage.writes(), probe.genesys_calls() - before);
        let points = crash_points(writes, calls);
        for (fault, call) in points {
            let mut f = Fixture::with_role().await;
            f.read("token/crm").await.unwrap();
            f.advance(Duration::from_secs(86_400));
            f.storage.set_fault(fault);
            // WHEN the periodic pass crashes there
            let outcome = f.run_crashing(Request::new(Operation::Rollback, ""), call).await;
            assert!(matches!(outcome, Run::Crashed), "{fault:?} {call:?}: {outcome:?}");
            f.restart();
            // THEN after the settle the stored secret is the client's, and tokens come
            f.advance(SETTLE);
            f.rollback().await;
            let client = token_client(&f);
            let record = ManagedClient::all(f.storage.as_ref()).await.unwrap().pop().unwrap();
            assert_eq!(record.secret.unwrap().expose(), client.secret, "{fault:?} {call:?}");
            assert!(Wal::all(f.storage.as_ref()).await.unwrap().is_empty());
            f.read("token/crm").await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_crash_at_any_point_of_the_held_clients_creation_leaves_no_orphan() {
        // GIVEN how many writes and calls the first token read makes (it creates the client)
        let probe = Fixture::with_role().await;
        probe.storage.set_fault(None);
        let before = probe.genesys_calls();
        probe.read("token/crm").await.unwrap();
        let (writes, calls) = (probe.storage.writes(), probe.genesys_calls() - before);
        for (fault, call) in crash_points(writes, calls) {
            let mut f = Fixture::with_role().await;
            f.storage.set_fault(fault);
            // WHEN the read crashes there
            let outcome = f.run_crashing(Request::new(Operation::Read, "token/crm"), call).await;
            assert!(matches!(outcome, Run::Crashed), "{fault:?} {call:?}: {outcome:?}");
            f.restart();
            f.advance(Duration::from_secs(600));
            f.rollback().await;
            // THEN no record is left in flight, and any client left is the role's, recorded
            let storage = f.storage.as_ref();
            assert!(Wal::all(storage).await.unwrap().is_empty(), "{fault:?} {call:?}");
            let pointed = pointer(storage, "crm").await.unwrap().map(|p| p.uuid);
            for client in f.managed_clients() {
                let record = ManagedClient::all(storage)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|r| r.client_id == client.id);
                let record = record.unwrap_or_else(|| panic!("{fault:?} {call:?}: {} has no record", client.name));
                assert_eq!(Some(&record.uuid), pointed.as_ref(), "{fault:?} {call:?}");
            }
            // AND tokens come, from one client
            f.read("token/crm").await.unwrap();
            assert_eq!(f.managed_clients().len(), 1, "{fault:?} {call:?}");
        }
    }

    #[tokio::test]
    async fn token_requests_are_retried_through_a_429_storm() {
        let f = Fixture::with_role().await;
        f.read("token/crm").await.unwrap();
        let client = token_client(&f);
        // A new engine (no cached token) meets three 429s on the token endpoint.
        let mut f = f;
        f.restart();
        f.emu.inject_fault(
            Fault::new(
                routes::TOKEN,
                FaultAction::Status {
                    status: 429,
                    retry_after: None,
                },
            )
            .times(3)
            .for_client(client.id.clone()),
        );
        f.read("token/crm").await.unwrap();
        assert_eq!(f.emu.pending_faults(), 0);
    }
}
