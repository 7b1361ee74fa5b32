//! New secrets for the clients whose secret the engine keeps (static roles' clients, `token/`
//! clients), asked of Genesys by the master (`POST .../clients/{id}/secret`). The old secret dies
//! the moment the new one is issued and the answer is the only place it shows, so the POST runs
//! behind a [`WalKind::NewSecret`] record; after a crash or a lost answer, the periodic pass
//! rolls it forward once settled: if the stored secret still works the POST never landed,
//! otherwise the client gets another secret, which is stored. A failure that was answered (a
//! 5xx, an answer without the secret) has nothing in flight, so that roll-forward runs at once
//! ([`Outcome::Settled`]); a refusal drops the record, a lost answer leaves it to settle. The
//! master's own secret never changes here, so it can always ask again.
use async_trait::async_trait;
use genesys_core::genesys::GenesysError;
use genesys_core::lifecycle::renewal::{self, Outcome, RenewalError};
use genesys_core::secret::{ClientCredentials, SecretString};
use time::OffsetDateTime;
use tracing::{info, warn};

use super::clock::age;
use super::config::Config;
use super::genesys::{genesys_error, renewal_error};
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
    let secret = match renewal::renew(&master, &client_id).await {
        Ok(secret) => secret,
        Err(e) => match e.outcome() {
            Outcome::Unapplied => {
                if let Err(end) = wal.end(storage).await {
                    warn!(error = %end, "could not drop the write-ahead record of a refused new-secret request");
                }
                return Err(match e {
                    RenewalError::Call(GenesysError::NotFound { .. }) => {
                        LogicalError::BadRequest(format!("client {client_id} does not exist in Genesys Cloud"))
                    }
                    e => renewal_error("asking for a new client secret", e),
                });
            }
            Outcome::InFlight => {
                warn!(client_id = %client_id, error = %e, "no answer to the new-secret request; the periodic pass finishes the rotation once settled");
                return Err(renewal_error(
                    "asking for a new client secret (no answer: the periodic pass finishes the rotation once it has settled)",
                    e,
                ));
            }
            Outcome::Settled => {
                // Answered, so nothing is in flight (a 5xx may still have changed the secret):
                // the roll-forward can tell now, and stores another secret if it changed.
                warn!(client_id = %client_id, error = %e, "new-secret request failed after it may have landed; finishing the rotation now");
                let before = holder.generation();
                roll_forward(org, storage, config, &wal, Some(&mut *holder)).await?;
                if holder.generation() > before {
                    return Ok(());
                }
                return Err(renewal_error("asking for a new client secret", e));
            }
        },
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
    let secret = match renewal::renew(&master, client_id).await {
        Ok(secret) => secret,
        Err(e) if e.outcome() == Outcome::InFlight => {
            // This request may still land: the record settles again before the next attempt.
            wal.restamp(storage, org.now()).await?;
            return Err(renewal_error(
                "recovering a rotation (no answer; trying again once settled)",
                e,
            ));
        }
        // Refused, or answered after it may have landed: the record stays, and the next attempt
        // checks the stored secret again.
        Err(e) => return Err(renewal_error("recovering a rotation", e)),
    };
    holder.store_secret(storage, secret, org.now()).await?;
    info!(client_id = %client_id, generation = holder.generation(), "rotation recovered: new secret stored");
    wal.end(storage).await
}

#[cfg(all(test, feature = "endpoint-overrides"))]
mod tests {
    use genesys_emulator::{routes, Fault, FaultAction, SeedClient, SeededClient};
    use serde_json::json;

    use crate::engine::testing::Fixture;
    use crate::engine::wal::Wal;
    use crate::logical::LogicalError;

    /// A static role over a client a CRM uses.
    async fn static_role(f: &Fixture) -> SeededClient {
        let crm = f.emu.seed_client(SeedClient::new(
            "crm-prod-integration",
            &["conversation:communication:view"],
        ));
        f.write("static-roles/crm", json!({"client_id": crm.id})).await.unwrap();
        crm
    }

    fn live_secret(f: &Fixture, id: &str) -> String {
        f.emu.clients().into_iter().find(|c| c.id == id).unwrap().secret
    }

    async fn stored_secret(f: &Fixture) -> String {
        Fixture::field(&f.read("static-creds/crm").await.unwrap(), "client_secret")
    }

    fn new_secret_calls(f: &Fixture) -> u64 {
        f.emu.call_counts().get(routes::NEW_SECRET).copied().unwrap_or(0)
    }

    #[tokio::test]
    async fn a_5xx_after_genesys_issued_the_secret_is_finished_by_the_same_rotation() {
        // GIVEN a static role, and a gateway that answers 502 after Genesys issued the new secret
        let f = Fixture::with_role().await;
        let crm = static_role(&f).await;
        let before = (stored_secret(&f).await, new_secret_calls(&f));
        f.emu.inject_fault(
            Fault::new(routes::NEW_SECRET, FaultAction::StatusAfterApply { status: 502 }).for_client(&crm.id),
        );
        // WHEN it is rotated
        f.write("rotate-role/crm", json!({})).await.unwrap();
        // THEN the same call found the stored secret refused, asked again and stored the answer
        assert_eq!(new_secret_calls(&f), before.1 + 2);
        let stored = stored_secret(&f).await;
        assert_ne!(stored, before.0);
        assert_eq!(stored, live_secret(&f, &crm.id));
        f.emu.token_grantable(&crm.id, &stored).unwrap();
        // AND no record is left, and static-creds carry no warning
        assert!(Wal::all(f.storage.as_ref()).await.unwrap().is_empty());
        let r = f.read("static-creds/crm").await.unwrap().unwrap();
        assert!(r.warnings.is_empty(), "{r:?}");

        // GIVEN a 502 that Genesys did not act on
        f.emu.inject_fault(
            Fault::new(
                routes::NEW_SECRET,
                FaultAction::Status {
                    status: 502,
                    retry_after: None,
                },
            )
            .for_client(&crm.id),
        );
        // WHEN it is rotated
        let r = f.write("rotate-role/crm", json!({})).await;
        // THEN it fails, the stored secret still works, no record is left
        assert!(
            matches!(&r, Err(LogicalError::Internal(m)) if m.contains("502")),
            "{r:?}"
        );
        assert_eq!(stored_secret(&f).await, stored);
        f.emu.token_grantable(&crm.id, &stored).unwrap();
        assert!(Wal::all(f.storage.as_ref()).await.unwrap().is_empty());
        // AND the next rotation works
        f.write("rotate-role/crm", json!({})).await.unwrap();
        assert_eq!(stored_secret(&f).await, live_secret(&f, &crm.id));
    }

    #[tokio::test]
    async fn a_static_role_whose_first_secret_met_a_5xx_after_it_was_issued_holds_the_live_one() {
        // GIVEN a gateway that answers 502 after Genesys issued the client's first new secret
        let f = Fixture::with_role().await;
        let crm = f.emu.seed_client(SeedClient::new(
            "crm-prod-integration",
            &["conversation:communication:view"],
        ));
        f.emu.inject_fault(
            Fault::new(routes::NEW_SECRET, FaultAction::StatusAfterApply { status: 502 }).for_client(&crm.id),
        );
        // WHEN a static role takes the client
        f.write("static-roles/crm", json!({"client_id": crm.id})).await.unwrap();
        // THEN the role holds the client's live secret, and no record is left
        let stored = stored_secret(&f).await;
        assert_eq!(stored, live_secret(&f, &crm.id));
        f.emu.token_grantable(&crm.id, &stored).unwrap();
        assert!(Wal::all(f.storage.as_ref()).await.unwrap().is_empty());
    }
}
