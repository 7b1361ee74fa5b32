//! `token/<role>`: a bearer token only (`access_token`, `expires_in`), minted from a client the
//! engine creates for the role, keeps the secret of and gives a new secret every
//! `token_rotation_period` (periodic pass). The caller never sees a client secret. Tokens are
//! cached in memory (in the client's own token cache) until near expiry, never stored. When the
//! role's grants or token lifetime change, the client is updated in place; when the role is
//! deleted, the client is deactivated and deleted once its tokens have run out.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use genesys_core::genesys::{GenesysClient, GenesysError};
use genesys_core::secret::{ClientCredentials, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use tracing::{info, warn};

use super::config::Config;
use super::genesys::genesys_error;
use super::identity::Identity;
use super::managed::{self, ManagedClient, NewClient, Phase, Purpose};
use super::rekey::{self, Holder};
use super::roles::Role;
use super::store::{self, StoredSecret};
use super::wal::{SecretTarget, Wal};
use super::GenesysBackend;
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

/// In-memory clients of the `token/` roles (each with its token cache), by record uuid and
/// secret generation. Never stored.
#[derive(Default)]
pub struct TokenCache {
    clients: Mutex<HashMap<String, (u64, Arc<GenesysClient>)>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").finish_non_exhaustive()
    }
}

impl TokenCache {
    fn client(
        &self,
        b: &GenesysBackend,
        config: &Config,
        record: &ManagedClient,
    ) -> Result<Arc<GenesysClient>, LogicalError> {
        let mut clients = self.clients.lock().expect("token cache lock");
        if let Some((generation, client)) = clients.get(&record.uuid) {
            if *generation == record.generation {
                return Ok(client.clone());
            }
        }
        let credentials = record.credentials().ok_or_else(|| {
            LogicalError::Internal(format!("the token client {} has no stored secret", record.client_id))
        })?;
        let client = Arc::new(b.connector.client(config.region, credentials));
        clients.insert(record.uuid.clone(), (record.generation, client.clone()));
        Ok(client)
    }

    /// Drops the cached client (and token) of record `uuid`.
    pub fn forget(&self, uuid: &str) {
        self.clients.lock().expect("token cache lock").remove(uuid);
    }
}

/// `token/<role>` read.
pub async fn read(b: &GenesysBackend, ctx: &Context, role_name: &str) -> Result<Option<Response>, LogicalError> {
    let storage = ctx.storage.as_ref();
    let config = Config::require(storage).await?;
    let identity = Identity::load(storage)
        .await?
        .ok_or_else(|| LogicalError::Internal("the mount has no owner identity; write config again".into()))?;
    let _guard = b.locks.lock(&format!("role/{role_name}")).await;
    let role = Role::require(storage, role_name).await?;
    let record = match current(storage, role_name).await? {
        Some(record) => sync_with_role(b, storage, &config, &identity, record, &role).await?,
        None => create(b, storage, &config, &identity, role_name, &role).await?,
    };
    let client = b.tokens.client(b, &config, &record)?;
    let token = match client.token().await {
        Ok(token) => token,
        Err(e @ GenesysError::InvalidClient { .. }) => {
            let target = SecretTarget::TokenClient {
                uuid: record.uuid.clone(),
            };
            let recovering = Wal::all(storage).await?.iter().any(|w| w.changes(&target));
            b.tokens.forget(&record.uuid);
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
    b: &GenesysBackend,
    storage: &dyn Storage,
    config: &Config,
    identity: &Identity,
    role_name: &str,
    role: &Role,
) -> Result<ManagedClient, LogicalError> {
    // A pointer to a retired or missing record is replaced; its client (if any) is the
    // periodic pass's to clean up.
    let created = managed::create(
        b,
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
        managed::abandon(b, storage, config, identity, &created).await;
        return Err(e);
    }
    managed::until_usable(b, storage, config, identity, &created).await?;
    if let Err(e) = managed::commit(storage, &created).await {
        managed::abandon(b, storage, config, identity, &created).await;
        return Err(e);
    }
    info!(client_id = %created.record.client_id, role = %role_name, "token client created");
    Ok(created.record)
}

/// Brings the client's grants and token lifetime to the role's, if the role changed.
async fn sync_with_role(
    b: &GenesysBackend,
    storage: &dyn Storage,
    config: &Config,
    identity: &Identity,
    mut record: ManagedClient,
    role: &Role,
) -> Result<ManagedClient, LogicalError> {
    if record.role_divisions == role.role_divisions && record.token_lifetime == role.token_lifetime {
        return Ok(record);
    }
    let master = b.master(config).await;
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
    b.tokens.forget(&record.uuid);
    info!(client_id = %record.client_id, "token client updated to its role");
    Ok(record)
}

/// Retires role `role`'s client (role deleted): deactivated now if possible (it mints no more
/// tokens), deleted by the periodic pass once its tokens have drained.
pub async fn retire_role_client(b: &GenesysBackend, storage: &dyn Storage, role: &str) -> Result<(), LogicalError> {
    let Some(pointer) = pointer(storage, role).await? else {
        return Ok(());
    };
    if let Some(mut record) = ManagedClient::load(storage, &pointer.uuid).await? {
        if record.is_live() {
            record.phase = Phase::Retiring { since: b.now() };
            record.secret = None;
            record.save(storage).await?;
        }
        b.tokens.forget(&record.uuid);
        if let Err(e) = deactivate(b, storage, &record).await {
            warn!(client_id = %record.client_id, error = %e, "could not deactivate a retired token client now; the periodic pass does");
        }
    }
    store::delete(storage, &pointer_key(role)).await
}

async fn deactivate(b: &GenesysBackend, storage: &dyn Storage, record: &ManagedClient) -> Result<(), LogicalError> {
    let config = Config::require(storage).await?;
    let identity = Identity::load(storage)
        .await?
        .ok_or_else(|| LogicalError::Internal("no owner identity".into()))?;
    let prefix = config.prefix()?;
    let known = HashSet::from([record.uuid.clone()]);
    let master = b.master(&config).await;
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
    b: &GenesysBackend,
    storage: &dyn Storage,
    config: &Config,
    record: &ManagedClient,
) -> Result<bool, LogicalError> {
    if !record.is_live() || super::age(record.rotated_at, b.now()) < config.token_rotation_period() {
        return Ok(false);
    }
    let role = record.purpose.role().to_owned();
    let _guard = b.locks.lock(&format!("role/{role}")).await;
    // Read again under the lock: a token read may have changed it.
    let Some(record) = ManagedClient::load(storage, &record.uuid)
        .await?
        .filter(ManagedClient::is_live)
    else {
        return Ok(false);
    };
    if super::age(record.rotated_at, b.now()) < config.token_rotation_period() {
        return Ok(false);
    }
    let mut holder = TokenHolder {
        record,
        cache: &b.tokens,
    };
    rekey::rotate(b, storage, config, &mut holder).await?;
    Ok(true)
}

/// Rolls forward a settled new-secret record of `token/` client `uuid`.
pub async fn roll_forward(
    b: &GenesysBackend,
    storage: &dyn Storage,
    config: &Config,
    wal: &Wal,
    uuid: &str,
) -> Result<(), LogicalError> {
    let record = ManagedClient::load(storage, uuid).await?.filter(ManagedClient::is_live);
    let role = record.as_ref().map(|r| r.purpose.role().to_owned());
    let _guard = match &role {
        Some(role) => Some(b.locks.lock(&format!("role/{role}")).await),
        None => None,
    };
    let record = ManagedClient::load(storage, uuid).await?.filter(ManagedClient::is_live);
    match record {
        Some(record) => {
            let mut holder = TokenHolder {
                record,
                cache: &b.tokens,
            };
            rekey::roll_forward(b, storage, config, wal, Some(&mut holder)).await
        }
        None => rekey::roll_forward(b, storage, config, wal, None).await,
    }
}
