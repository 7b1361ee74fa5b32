//! The clients the engine creates (`creds/` leases' clients and `token/` clients): their records
//! (`clients/<uuid>`, kept until the client is deleted), their creation behind a write-ahead
//! record, and their deletion, which asks the ownership rule first. A client is the mount's only
//! if its name is `<prefix><uuid>`, that uuid is one the mount recorded, and its description
//! carries the mount's marker ([`genesys_core::guard::ownership`]); nothing else is ever deactivated or
//! deleted.
use std::collections::HashSet;

use genesys_core::domain::{NamePrefix, TokenLifetime};
use genesys_core::genesys::{GenesysClient, GenesysError, RoleDivision};
use genesys_core::guard::ownership::{Foreign, Owner};
use genesys_core::lifecycle::make::{managed_request, Managed};
use genesys_core::lifecycle::renewal::Outcome;
use genesys_core::secret::{ClientCredentials, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::{info, warn};

use super::config::Config;
use super::genesys::genesys_error;
use super::identity::Identity;
use super::org::Org;
use super::purpose::Purpose;
use super::store::{self, StoredSecret};
use super::wal::{Wal, WalKind};
use crate::logical::{LogicalError, Storage};

/// Whether a client is in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Phase {
    /// In use.
    Live,
    /// Being retired since `since`: deactivated, then deleted once its tokens have drained.
    Retiring {
        /// When retirement started (the engine's clock).
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
}

/// The record of a client the engine created, from its creation until its deletion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManagedClient {
    /// The uuid in its name (and the record's key).
    pub uuid: String,
    /// Its name, `<prefix><uuid>`.
    pub name: String,
    /// Its Genesys client id.
    pub client_id: String,
    /// What it is for.
    pub purpose: Purpose,
    /// In use or being retired.
    pub phase: Phase,
    /// Its token lifetime in seconds.
    pub token_lifetime: u32,
    /// The roles it was given.
    pub role_divisions: Vec<RoleDivision>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Its secret, for a `token/` client (a lease's client secret is handed out, not kept).
    #[serde(default)]
    pub secret: Option<StoredSecret>,
    /// Counts the secrets it has had (1: the one from the create).
    pub generation: u64,
    /// When it got its current secret.
    #[serde(with = "time::serde::rfc3339")]
    pub rotated_at: OffsetDateTime,
}

impl ManagedClient {
    /// The record `uuid`, if any.
    pub async fn load(storage: &dyn Storage, uuid: &str) -> Result<Option<ManagedClient>, LogicalError> {
        store::get(storage, &key(uuid)).await
    }

    /// Stores it.
    pub async fn save(&self, storage: &dyn Storage) -> Result<(), LogicalError> {
        store::put(storage, &key(&self.uuid), self).await
    }

    /// Removes the record (the client is deleted).
    pub async fn forget(storage: &dyn Storage, uuid: &str) -> Result<(), LogicalError> {
        store::delete(storage, &key(uuid)).await
    }

    /// Every record.
    pub async fn all(storage: &dyn Storage) -> Result<Vec<ManagedClient>, LogicalError> {
        Ok(store::all::<ManagedClient>(storage, store::CLIENTS)
            .await?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }

    /// Whether it is in use.
    pub fn is_live(&self) -> bool {
        self.phase == Phase::Live
    }

    /// The credentials of a `token/` client.
    pub fn credentials(&self) -> Option<ClientCredentials> {
        self.secret
            .as_ref()
            .and_then(|s| super::genesys::stored_credentials(&self.client_id, s.secret()).ok())
    }
}

fn key(uuid: &str) -> String {
    format!("{}{uuid}", store::CLIENTS)
}

/// The owner `identity` with prefix `prefix` and the uuids `known`, for the ownership rule.
pub fn owner<'a>(identity: &'a Identity, prefix: &'a NamePrefix, known: &'a HashSet<String>) -> Owner<'a> {
    Owner {
        id: &identity.owner,
        prefix,
        versions: known,
    }
}

/// What to create.
#[derive(Debug, Clone)]
pub struct NewClient {
    /// What it is for.
    pub purpose: Purpose,
    /// Its roles.
    pub role_divisions: Vec<RoleDivision>,
    /// Its token lifetime.
    pub token_lifetime: TokenLifetime,
    /// Text before the marker in its description.
    pub note: String,
    /// Whether the record keeps its secret (`token/` clients).
    pub keep_secret: bool,
}

/// A client created and recorded, whose write-ahead record is still open: [`commit`] closes it
/// (the client is then the record's), [`abandon`] deletes the client instead.
#[derive(Debug)]
pub struct Created {
    /// Its record (stored).
    pub record: ManagedClient,
    /// Its secret, from the create's answer (the only place Genesys shows it).
    pub secret: SecretString,
    /// The open write-ahead record.
    pub wal: Wal,
}

impl Created {
    /// Its credentials.
    pub fn credentials(&self) -> Result<ClientCredentials, LogicalError> {
        super::genesys::stored_credentials(&self.record.client_id, self.secret.clone())
    }
}

/// Creates a client for `spec`: a write-ahead record first, then the create, then the record.
/// A crash anywhere leaves the write-ahead record, and the periodic pass deletes whatever the
/// create made once the record is older than `rollback_min_age`.
pub async fn create(
    org: &Org,
    storage: &dyn Storage,
    config: &Config,
    identity: &Identity,
    spec: NewClient,
) -> Result<Created, LogicalError> {
    let prefix = config.prefix()?;
    let uuid = uuid::Uuid::new_v4().to_string();
    let name = prefix.client_name(&uuid);
    let now = org.now();
    let wal = Wal::begin(
        storage,
        WalKind::CreateClient {
            uuid: uuid.clone(),
            name: name.clone(),
            purpose: spec.purpose.clone(),
        },
        now,
    )
    .await?;
    let master = org.master(config).await?;
    let request = managed_request(Managed {
        name: &name,
        owner: &identity.owner,
        note: Some(&spec.note),
        token_lifetime_seconds: spec.token_lifetime.seconds(),
        role_divisions: spec.role_divisions.clone(),
    });
    let client = match master.create_client(&request).await {
        Ok(client) => client,
        Err(e) if Outcome::of(&e) == Outcome::Unapplied => {
            // Genesys refused before acting: nothing to roll back.
            if let Err(end) = wal.end(storage).await {
                warn!(error = %end, "could not drop the write-ahead record of a refused create; the periodic pass drops it");
            }
            return Err(match e {
                GenesysError::Http { status: 400, .. } => LogicalError::BadRequest(format!(
                    "Genesys Cloud refused the new client (check the role's role_divisions and token_lifetime): {e}"
                )),
                e => genesys_error("creating a client", e),
            });
        }
        Err(e) => {
            warn!(name = %name, error = %e, "create failed after it may have reached Genesys; the periodic pass deletes the client if it exists");
            return Err(genesys_error(
                "creating a client (it may exist; the periodic pass deletes it after rollback_min_age)",
                e,
            ));
        }
    };
    let Some(secret) = client.secret.clone() else {
        return Err(LogicalError::Internal(format!(
            "the create of client {} answered without its secret; the periodic pass deletes it after rollback_min_age",
            client.id
        )));
    };
    let record = ManagedClient {
        uuid,
        name,
        client_id: client.id.clone(),
        purpose: spec.purpose,
        phase: Phase::Live,
        token_lifetime: spec.token_lifetime.seconds(),
        role_divisions: spec.role_divisions,
        created_at: now,
        secret: spec.keep_secret.then(|| StoredSecret::new(secret.clone())),
        generation: 1,
        rotated_at: now,
    };
    if let Err(e) = record.save(storage).await {
        // Without its record the client cannot be handed out: delete it now if possible (the
        // write-ahead record's rollback does otherwise).
        let known = HashSet::from([record.uuid.clone()]);
        match delete_owned(&master, &owner(identity, &prefix, &known), &record.client_id).await {
            Ok(Gone::Deleted) => {
                info!(client_id = %record.client_id, "client deleted: its record could not be stored");
                if let Err(end) = wal.end(storage).await {
                    warn!(error = %end, "could not drop the write-ahead record of a deleted client");
                }
            }
            Ok(Gone::NotShown) => {
                warn!(client_id = %record.client_id, "a client whose record could not be stored does not show yet; the periodic pass deletes it")
            }
            Err(not) => {
                warn!(client_id = %record.client_id, error = %LogicalError::from(not), "could not delete a client whose record could not be stored; the periodic pass deletes it")
            }
        }
        return Err(e);
    }
    info!(client_id = %record.client_id, name = %record.name, role = %record.purpose.role(), "client created");
    Ok(Created { record, secret, wal })
}

/// Closes the write-ahead record: from now on the client is the record's (and, for a lease,
/// the server's). Fails if the record cannot be closed, in which case the caller must not hand
/// the client out (the rollback would delete it).
pub async fn commit(storage: &dyn Storage, created: &Created) -> Result<(), LogicalError> {
    created.wal.end(storage).await
}

/// Deletes a client that will not be handed out, then its records; best effort: whatever
/// fails is left to the write-ahead record's rollback.
pub async fn abandon(org: &Org, storage: &dyn Storage, config: &Config, identity: &Identity, created: &Created) {
    let done = async {
        let prefix = config.prefix()?;
        let known = HashSet::from([created.record.uuid.clone()]);
        let master = org.master(config).await?;
        if delete_owned(&master, &owner(identity, &prefix, &known), &created.record.client_id).await? == Gone::NotShown
        {
            return Err(LogicalError::Internal("the new client does not show yet".into()));
        }
        ManagedClient::forget(storage, &created.record.uuid).await?;
        created.wal.end(storage).await
    };
    match done.await {
        Ok(()) => info!(client_id = %created.record.client_id, "client abandoned and deleted"),
        Err(e) => {
            warn!(client_id = %created.record.client_id, error = %e, "could not delete an abandoned client now; the periodic pass deletes it")
        }
    }
}

/// Why a client was not deleted.
#[derive(Debug)]
pub enum NotDeleted {
    /// It is not provably the mount's: never touched.
    Foreign(Foreign),
    /// Genesys failed.
    Failed(LogicalError),
}

impl From<NotDeleted> for LogicalError {
    fn from(n: NotDeleted) -> LogicalError {
        match n {
            NotDeleted::Foreign(why) => {
                LogicalError::Internal(format!("refusing to delete a client that is not this mount's: {why}"))
            }
            NotDeleted::Failed(e) => e,
        }
    }
}

/// What [`delete_owned`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// It existed and is deleted now.
    Deleted,
    /// Genesys does not show it. For a client created a moment ago that proves nothing (a new
    /// client may take a while to show), so callers that just created it keep their
    /// write-ahead record for the rollback.
    NotShown,
}

/// Deactivates and deletes client `client_id` if `owner` owns it.
pub async fn delete_owned(master: &GenesysClient, owner: &Owner<'_>, client_id: &str) -> Result<Gone, NotDeleted> {
    let client = master
        .get_client(client_id)
        .await
        .map_err(|e| NotDeleted::Failed(genesys_error("reading a client before deleting it", e)))?;
    let Some(client) = client else {
        return Ok(Gone::NotShown);
    };
    owner.judge(&client).map_err(|why| {
        warn!(client_id = %client.id, reason = %why, "not deleting a client that is not provably this mount's");
        NotDeleted::Foreign(why)
    })?;
    master
        .retire_and_delete(&client)
        .await
        .map_err(|e| NotDeleted::Failed(genesys_error("deleting a client", e)))?;
    Ok(Gone::Deleted)
}

/// Waits until a created client gets tokens; if it never does, abandons it.
pub async fn until_usable(
    org: &Org,
    storage: &dyn Storage,
    config: &Config,
    identity: &Identity,
    created: &Created,
) -> Result<(), LogicalError> {
    if let Err(e) = org
        .connector()
        .wait_usable(config.region, &created.credentials()?)
        .await
    {
        abandon(org, storage, config, identity, created).await;
        return Err(genesys_error(
            "the new client never got a token, so it was not handed out",
            e,
        ));
    }
    Ok(())
}
