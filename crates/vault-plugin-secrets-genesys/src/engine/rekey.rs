//! New secrets for the clients whose secret the engine keeps (static roles' clients, `token/`
//! clients), asked of Genesys by the master (`POST .../clients/{id}/secret`). The old secret dies
//! the moment the new one is issued and the answer is the only place it shows, so the POST runs
//! behind a [`WalKind::NewSecret`] record; after a crash or a lost answer, the periodic pass
//! rolls it forward once settled: if the stored secret still works the POST never landed,
//! otherwise the client gets another secret, which is stored. The master's own secret never
//! changes here, so it can always ask again.
use async_trait::async_trait;
use genesys_core::genesys::GenesysError;
use genesys_core::secret::{ClientCredentials, SecretString};
use time::OffsetDateTime;
use tracing::{info, warn};

use super::clock::age;
use super::config::Config;
use super::genesys::{genesys_error, provably_unapplied};
use super::limits::SETTLE;
use super::org::Org;
use super::wal::{SecretTarget, Wal, WalKind};
use crate::logical::{LogicalError, Storage};

/// A record that keeps a client's secret.
#[async_trait]
pub trait Holder: Send + Sync {
    /// Who it is, in a write-ahead record.
    fn target(&self) -> SecretTarget;
    /// The client.
    fn client_id(&self) -> &str;
    /// The generation of the stored secret (0: none yet).
    fn generation(&self) -> u64;
    /// The stored credentials, if a secret is stored.
    fn credentials(&self) -> Option<ClientCredentials>;
    /// Stores `secret` as the next generation, got at `now`.
    async fn store_secret(
        &mut self,
        storage: &dyn Storage,
        secret: SecretString,
        now: OffsetDateTime,
    ) -> Result<(), LogicalError>;
}

/// Gives `holder`'s client a new secret now and stores it.
pub async fn rotate(
    org: &Org,
    storage: &dyn Storage,
    config: &Config,
    holder: &mut dyn Holder,
) -> Result<(), LogicalError> {
    let client_id = holder.client_id().to_owned();
    // An interrupted rotation of this client comes first: its request may still land and kill
    // the secret this one would store, so it must have settled, and is then finished.
    for earlier in Wal::all(storage).await? {
        if !matches!(&earlier.kind, WalKind::NewSecret { client_id: id, .. } if *id == client_id) {
            continue;
        }
        let wait = SETTLE.saturating_sub(age(earlier.created_at, org.now()));
        if !wait.is_zero() {
            return Err(LogicalError::Internal(format!(
                "an interrupted rotation of client {client_id} is settling; try again in {} s",
                wait.as_secs()
            )));
        }
        roll_forward(org, storage, config, &earlier, Some(&mut *holder)).await?;
    }
    let wal = Wal::begin(
        storage,
        WalKind::NewSecret {
            target: holder.target(),
            client_id: client_id.clone(),
            generation: holder.generation(),
        },
        org.now(),
    )
    .await?;
    let master = org.master(config).await?;
    let secret = match master.new_secret(&client_id).await {
        Ok(answer) if answer.id == client_id && answer.secret.is_some() => answer.secret.expect("checked"),
        Ok(_) => {
            return Err(LogicalError::Internal(format!(
                "new secret for client {client_id} answered without its secret; the periodic pass finishes the rotation"
            )))
        }
        Err(e) if provably_unapplied(&e) => {
            if let Err(end) = wal.end(storage).await {
                warn!(error = %end, "could not drop the write-ahead record of a refused new-secret request");
            }
            return Err(match e {
                GenesysError::NotFound { .. } => {
                    LogicalError::BadRequest(format!("client {client_id} does not exist in Genesys Cloud"))
                }
                e => genesys_error("asking for a new client secret", e),
            });
        }
        Err(e) => {
            warn!(client_id = %client_id, error = %e, "new-secret request failed after it may have landed; the periodic pass finishes the rotation");
            return Err(genesys_error(
                "asking for a new client secret (the periodic pass finishes the rotation)",
                e,
            ));
        }
    };
    holder.store_secret(storage, secret, org.now()).await?;
    info!(client_id = %client_id, generation = holder.generation(), "client has a new secret");
    if let Err(e) = wal.end(storage).await {
        // Harmless: the roll-forward sees the newer generation and only drops it.
        warn!(error = %e, "could not drop the write-ahead record of a finished rotation");
    }
    Ok(())
}

/// Finishes a settled [`WalKind::NewSecret`] record for `holder` (`None`: its record is gone).
pub async fn roll_forward(
    org: &Org,
    storage: &dyn Storage,
    config: &Config,
    wal: &Wal,
    holder: Option<&mut dyn Holder>,
) -> Result<(), LogicalError> {
    let WalKind::NewSecret {
        generation, client_id, ..
    } = &wal.kind
    else {
        return Ok(());
    };
    let Some(holder) = holder else {
        info!(client_id = %client_id, "rotation record dropped: its holder is gone");
        return wal.end(storage).await;
    };
    if holder.generation() > *generation || holder.client_id() != client_id {
        return wal.end(storage).await;
    }
    if let Some(credentials) = holder.credentials() {
        match org.connector().try_token(config.region, &credentials).await {
            Ok(()) => {
                info!(client_id = %client_id, "rotation record dropped: the stored secret still works, the request never landed");
                return wal.end(storage).await;
            }
            Err(GenesysError::InvalidClient { .. }) => {}
            Err(e) => return Err(genesys_error("checking a stored client secret", e)),
        }
    }
    warn!(client_id = %client_id, "the stored secret is lost (a rotation's answer never arrived); asking for another");
    let master = org.master(config).await?;
    let answer = match master.new_secret(client_id).await {
        Ok(answer) => answer,
        Err(e @ GenesysError::Transport { .. }) => {
            // This request may still land: the record settles again before the next attempt.
            wal.restamp(storage, org.now()).await?;
            return Err(genesys_error(
                "recovering a rotation (no answer; trying again once settled)",
                e,
            ));
        }
        Err(e) => return Err(genesys_error("recovering a rotation", e)),
    };
    let Some(secret) = answer.secret.filter(|_| answer.id == *client_id) else {
        return Err(LogicalError::Internal(format!(
            "new secret for client {client_id} answered without its secret"
        )));
    };
    holder.store_secret(storage, secret, org.now()).await?;
    info!(client_id = %client_id, generation = holder.generation(), "rotation recovered: new secret stored");
    wal.end(storage).await
}
