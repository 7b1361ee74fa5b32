//! `rotate-root`: the master client gets a new secret (`POST .../clients/{id}/secret`), and the
//! recovery that makes it crash-safe. The old secret dies the moment Genesys issues the new one,
//! so before that POST the engine stores a [`RootRotation`] record holding a token of the current
//! secret; after a crash or a lost answer, the record's token can ask for another secret. At
//! every instant either the stored secret works or the record holds a token that can replace it
//! (the argument, step by step: docs/design/openbao-engine.md#rotate-root). Recovery waits until
//! the record has settled ([`SETTLE`]): a request of a crashed process can no longer land.
use std::time::Duration;

use genesys_core::genesys::GenesysError;
use genesys_core::lifecycle::renewal::{self, Outcome, RenewalError};
use serde_json::json;
use tracing::{error, info, warn};

use super::clock::{age, rfc3339};
use super::config::Config;
use super::genesys::{genesys_error, renewal_error};
use super::limits::SETTLE;
use super::locks::Locks;
use super::org::Org;
use super::root_rotation::RootRotation;
use super::store::{self, StoredSecret};
use crate::logical::{Context, LogicalError, Request, Response, Storage};

/// A recovery token must have this long left when the rotation starts: the record settles, then
/// the next periodic pass (about a minute later) uses it. Genesys' shortest token lifetime, 300
/// s, leaves room.
const RECOVERY_LIFE: Duration = Duration::from_secs(SETTLE.as_secs() + 90);
/// What a recovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// The stored config is newer than the rotation (its secret was stored, or an operator wrote
    /// one): the record was dropped.
    Superseded,
    /// The stored secret still works: the POST never landed; the record was dropped.
    Unchanged,
    /// The POST had landed and its answer was lost: the record's token got another secret,
    /// which is now stored.
    Renewed,
    /// Recovery is impossible (the token expired or was refused): the record says why.
    Locked(String),
}

/// `rotate-root` write.
pub async fn rotate(org: &Org, locks: &Locks, ctx: &Context, req: &Request) -> Result<Option<Response>, LogicalError> {
    super::fields::Fields::parse(&req.data, "rotate-root", &[])?;
    let _root = locks.root_exclusive().await;
    let storage = ctx.storage.as_ref();
    Config::require(storage).await?;
    if let Some(record) = RootRotation::load(storage).await? {
        if let Some(reason) = &record.locked {
            return Err(locked_error(&record.client_id, reason));
        }
        let settled_in = SETTLE.saturating_sub(age(record.started_at, org.now()));
        if !settled_in.is_zero() {
            return Err(LogicalError::Internal(format!(
                "a root rotation started at {} has not finished; try again in {} s",
                rfc3339(record.started_at),
                settled_in.as_secs()
            )));
        }
        match recover(org, storage, record).await? {
            Recovery::Renewed => return Ok(Some(rotated(storage).await?)),
            Recovery::Locked(reason) => {
                let id = Config::require(storage).await?.client_id;
                return Err(locked_error(&id, &reason));
            }
            Recovery::Superseded | Recovery::Unchanged => {}
        }
    }
    let mut config = Config::require(storage).await?;
    let id = config.client_id.clone();
    let master = org.connector().client(config.region, config.credentials()?);
    let (token, lifetime) = master.fresh_token().await.map_err(|e| match e {
        e @ GenesysError::InvalidClient { .. } => LogicalError::BadRequest(format!(
            "the stored master secret is refused, and no root rotation of this mount changed it: write config \
             with a working secret ({e})"
        )),
        e => genesys_error("getting a token of the master", e),
    })?;
    if lifetime < RECOVERY_LIFE {
        return Err(LogicalError::BadRequest(format!(
            "the master's tokens live {} s; a root rotation needs at least {} s to be recoverable after a crash: \
             raise the master client's token lifetime in Genesys Cloud",
            lifetime.as_secs(),
            RECOVERY_LIFE.as_secs()
        )));
    }
    let now = org.now();
    let record = RootRotation {
        client_id: id.clone(),
        generation: config.generation,
        recovery_token: StoredSecret::new(genesys_core::secret::SecretString::from(token.bearer().to_owned())),
        token_expires_at: now + lifetime,
        started_at: now,
        locked: None,
    };
    record.save(storage).await?;
    info!(client_id = %id, "root rotation: recovery token stored; asking for a new secret");

    let renewer = org.connector().with_token(config.region, &id, token);
    // From here until the config put lands, the only working secret may be in flight.
    let secret = match renewal::renew(&renewer, &id).await {
        Ok(secret) => secret,
        Err(e) => match e.outcome() {
            Outcome::Unapplied => {
                store::delete(storage, store::ROOT_ROTATION).await?;
                return Err(renewal_error("asking for a new master secret", e));
            }
            Outcome::InFlight => {
                warn!(client_id = %id, error = %e, "root rotation: no answer to the new-secret request; the periodic pass recovers it once settled");
                return Err(renewal_error(
                    "asking for a new master secret (no answer: the periodic pass finishes the rotation once it has settled)",
                    e,
                ));
            }
            Outcome::Settled => {
                // Answered, so nothing is in flight (a 5xx may still have changed the secret):
                // whether it changed shows now.
                warn!(client_id = %id, error = %e, "root rotation: new-secret request failed after it may have landed; checking the stored secret");
                return match recover(org, storage, record).await? {
                    Recovery::Renewed => Ok(Some(rotated(storage).await?)),
                    Recovery::Locked(reason) => Err(locked_error(&id, &reason)),
                    Recovery::Superseded | Recovery::Unchanged => {
                        Err(renewal_error("asking for a new master secret", e))
                    }
                };
            }
        },
    };
    config.client_secret = StoredSecret::new(secret);
    config.generation += 1;
    config.root_rotated_at = Some(org.now());
    config.save(storage).await?;
    org.connector().forget_master().await;
    info!(client_id = %id, generation = config.generation, "root rotation: new master secret stored");
    if let Err(e) = store::delete(storage, store::ROOT_ROTATION).await {
        // Harmless: the next recovery sees a newer config and drops the record.
        warn!(error = %e, "root rotation: could not drop the record; the periodic pass drops it");
    }
    Ok(Some(rotated(storage).await?))
}

async fn rotated(storage: &dyn Storage) -> Result<Response, LogicalError> {
    let config = Config::require(storage).await?;
    Ok(Response::data(json!({
        "client_id": config.client_id,
        "root_rotated_at": config.root_rotated_at.map(rfc3339),
    })))
}

fn locked_error(client_id: &str, reason: &str) -> LogicalError {
    LogicalError::Internal(format!(
        "the master client {client_id} is locked out: {reason}. Reset its secret in Genesys Cloud (Admin > OAuth) \
         and write config with client_secret"
    ))
}

/// Finishes or drops a settled root rotation record. The caller holds the root lock and has
/// checked that the record has settled. An error leaves the record for the next attempt.
pub async fn recover(org: &Org, storage: &dyn Storage, mut record: RootRotation) -> Result<Recovery, LogicalError> {
    if let Some(reason) = &record.locked {
        return Ok(Recovery::Locked(reason.clone()));
    }
    let Some(mut config) = Config::load(storage).await? else {
        store::delete(storage, store::ROOT_ROTATION).await?;
        return Ok(Recovery::Superseded);
    };
    if config.generation > record.generation || config.client_id != record.client_id {
        store::delete(storage, store::ROOT_ROTATION).await?;
        info!(client_id = %record.client_id, "root rotation record dropped: config is newer");
        return Ok(Recovery::Superseded);
    }
    let current = org.connector().client(config.region, config.credentials()?);
    match current.fresh_token().await {
        Ok(_) => {
            store::delete(storage, store::ROOT_ROTATION).await?;
            info!(client_id = %record.client_id, "root rotation record dropped: the stored secret still works, the new-secret request never landed");
            return Ok(Recovery::Unchanged);
        }
        Err(GenesysError::InvalidClient { .. }) => {}
        Err(e) => return Err(genesys_error("checking the stored master secret", e)),
    }
    let now = org.now();
    let Some(token) = record.token(now) else {
        return lock(
            storage,
            record,
            "the stored secret is refused and the recovery token has expired".into(),
        )
        .await;
    };
    warn!(client_id = %record.client_id, "root rotation: the stored secret is refused; asking again with the recovery token");
    let renewer = org.connector().with_token(config.region, &record.client_id, token);
    match renewal::renew(&renewer, &record.client_id).await {
        Ok(secret) => {
            config.client_secret = StoredSecret::new(secret);
            config.generation += 1;
            config.root_rotated_at = Some(org.now());
            config.save(storage).await?;
            org.connector().forget_master().await;
            store::delete(storage, store::ROOT_ROTATION).await?;
            info!(client_id = %record.client_id, generation = config.generation, "root rotation recovered: new master secret stored");
            Ok(Recovery::Renewed)
        }
        Err(RenewalError::Call(e @ GenesysError::InvalidClient { .. })) => {
            lock(
                storage,
                record,
                format!("the stored secret and the recovery token are both refused ({e})"),
            )
            .await
        }
        Err(RenewalError::Call(GenesysError::Http { status: 401, .. })) => {
            lock(
                storage,
                record,
                "the stored secret and the recovery token are both refused".into(),
            )
            .await
        }
        Err(e) if e.outcome() == Outcome::InFlight => {
            // This request may still land: the record settles again before the next attempt.
            record.started_at = org.now();
            record.save(storage).await?;
            Err(renewal_error(
                "recovering the root rotation (no answer; trying again once settled)",
                e,
            ))
        }
        // Refused, or answered after it may have landed: the record stays, and the next attempt
        // checks the stored secret again.
        Err(e) => Err(renewal_error("recovering the root rotation", e)),
    }
}

async fn lock(storage: &dyn Storage, mut record: RootRotation, reason: String) -> Result<Recovery, LogicalError> {
    error!(client_id = %record.client_id, reason = %reason, "root rotation cannot recover: the master is locked out until an operator writes config with a secret reset in Genesys Cloud");
    record.locked = Some(reason.clone());
    record.save(storage).await?;
    Ok(Recovery::Locked(reason))
}

/// The periodic pass's part: recovers a settled, unlocked record.
pub async fn recover_if_due(org: &Org, locks: &Locks, ctx: &Context) -> Result<Option<Recovery>, LogicalError> {
    let storage = ctx.storage.as_ref();
    let Some(record) = RootRotation::load(storage).await? else {
        return Ok(None);
    };
    if record.locked.is_some() || age(record.started_at, org.now()) < SETTLE {
        return Ok(None);
    }
    let _root = locks.root_exclusive().await;
    // Read again under the lock: a rotate-root may have finished meanwhile.
    let Some(record) = RootRotation::load(storage).await? else {
        return Ok(None);
    };
    if record.locked.is_some() || age(record.started_at, org.now()) < SETTLE {
        return Ok(None);
    }
    recover(org, storage, record).await.map(Some)
}

#[cfg(all(test, feature = "endpoint-overrides"))]
mod tests {
    use genesys_emulator::{routes, Fault, FaultAction};
    use serde_json::json;

    use super::*;
    use crate::engine::testing::{crash_points, Fixture, Run};
    use crate::logical::{Operation, Request};

    async fn stored_secret(f: &Fixture) -> String {
        Config::load(f.storage.as_ref())
            .await
            .unwrap()
            .unwrap()
            .client_secret
            .expose()
            .to_owned()
    }

    #[tokio::test]
    async fn rotate_root_stores_a_new_working_secret_and_the_engine_keeps_working() {
        // GIVEN a configured mount with a role
        let f = Fixture::with_role().await;
        f.read("creds/crm").await.unwrap();
        // WHEN the root is rotated
        let r = f.write("rotate-root", json!({})).await.unwrap().unwrap();
        // THEN the answer names the client, never a secret
        assert_eq!(r.data["client_id"], json!(f.master.id));
        assert!(!serde_json::to_string(&r.data)
            .unwrap()
            .contains(&stored_secret(&f).await));
        // AND the old secret is dead, the stored one works, no record is left
        assert!(f.emu.token_grantable(&f.master.id, &f.master.secret).is_err());
        f.emu.token_grantable(&f.master.id, &stored_secret(&f).await).unwrap();
        assert!(RootRotation::load(f.storage.as_ref()).await.unwrap().is_none());
        // AND the engine goes on with the new secret
        f.read("creds/crm").await.unwrap();
        assert!(f.read("config").await.unwrap().unwrap().data["root_rotated_at"].is_string());
        // AND unknown fields are refused
        let r = f.write("rotate-root", json!({"force": true})).await;
        assert!(matches!(r, Err(LogicalError::BadRequest(m)) if m.contains("force")));
    }

    #[tokio::test]
    async fn a_crash_at_any_point_of_rotate_root_never_loses_the_master() {
        // GIVEN how many writes and Genesys calls a root rotation makes
        let probe = Fixture::with_role().await;
        probe.storage.set_fault(None);
        let before = probe.genesys_calls();
        probe.write("rotate-root", json!({})).await.unwrap();
        let (writes, calls) = (probe.storage.writes(), probe.genesys_calls() - before);
        assert!(writes >= 3 && calls >= 2, "writes {writes}, calls {calls}");
        let points = crash_points(writes, calls);
        for (fault, call) in points {
            // WHEN rotate-root crashes there
            let mut f = Fixture::with_role().await;
            f.storage.set_fault(fault);
            let outcome = f
                .run_crashing(Request::new(Operation::Update, "rotate-root"), call)
                .await;
            assert!(matches!(outcome, Run::Crashed), "{fault:?} {call:?}: {outcome:?}");
            f.restart();
            // THEN before the record settles, rotate-root refuses to start another
            if RootRotation::load(f.storage.as_ref()).await.unwrap().is_some() {
                let r = f.write("rotate-root", json!({})).await;
                assert!(
                    matches!(&r, Err(LogicalError::Internal(m)) if m.contains("has not finished")),
                    "{r:?}"
                );
            }
            // AND once settled, the periodic pass leaves a stored secret that works
            f.advance(SETTLE);
            f.rollback().await;
            assert!(
                RootRotation::load(f.storage.as_ref()).await.unwrap().is_none(),
                "{fault:?} {call:?}"
            );
            f.emu.token_grantable(&f.master.id, &stored_secret(&f).await).unwrap();
            // AND the engine works
            f.read("creds/crm").await.unwrap();
            f.write("rotate-root", json!({})).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_lost_answer_is_recovered_by_the_next_rotate_root_once_settled() {
        // GIVEN the new-secret answer is lost after Genesys changed the secret
        let f = Fixture::with_role().await;
        f.emu
            .inject_fault(Fault::new(routes::NEW_SECRET, FaultAction::DropAfterApply));
        let r = f.write("rotate-root", json!({})).await;
        assert!(r.is_err());
        // THEN the stored secret is dead, but rotate-root after the settle recovers
        assert!(f.emu.token_grantable(&f.master.id, &stored_secret(&f).await).is_err());
        f.advance(SETTLE);
        f.write("rotate-root", json!({})).await.unwrap();
        f.emu.token_grantable(&f.master.id, &stored_secret(&f).await).unwrap();
    }

    fn new_secret_calls(f: &Fixture) -> u64 {
        f.emu.call_counts().get(routes::NEW_SECRET).copied().unwrap_or(0)
    }

    #[tokio::test]
    async fn a_5xx_after_genesys_issued_the_secret_is_recovered_by_the_same_rotate_root() {
        // GIVEN a gateway that answers 502 after Genesys issued the master's new secret
        let f = Fixture::with_role().await;
        f.read("creds/crm").await.unwrap();
        let before = new_secret_calls(&f);
        f.emu.inject_fault(Fault::new(
            routes::NEW_SECRET,
            FaultAction::StatusAfterApply { status: 502 },
        ));
        // WHEN the root is rotated
        let r = f.write("rotate-root", json!({})).await.unwrap().unwrap();
        // THEN the same call found the stored secret refused and asked again with the recovery
        // token (a 502 is no proof that nothing changed)
        assert_eq!(r.data["client_id"], json!(f.master.id));
        assert_eq!(new_secret_calls(&f), before + 2);
        // AND the stored secret is the live one, the old one is dead, no record is left
        assert!(f.emu.token_grantable(&f.master.id, &f.master.secret).is_err());
        let stored = stored_secret(&f).await;
        f.emu.token_grantable(&f.master.id, &stored).unwrap();
        assert!(RootRotation::load(f.storage.as_ref()).await.unwrap().is_none());
        // AND the engine goes on with it
        f.read("creds/crm").await.unwrap();

        // GIVEN a 502 that Genesys did not act on
        f.emu.inject_fault(Fault::new(
            routes::NEW_SECRET,
            FaultAction::Status {
                status: 502,
                retry_after: None,
            },
        ));
        // WHEN the root is rotated
        let r = f.write("rotate-root", json!({})).await;
        // THEN it fails, the stored secret still works and no record is left
        assert!(
            matches!(&r, Err(LogicalError::Internal(m)) if m.contains("502")),
            "{r:?}"
        );
        assert_eq!(stored_secret(&f).await, stored);
        f.emu.token_grantable(&f.master.id, &stored).unwrap();
        assert!(RootRotation::load(f.storage.as_ref()).await.unwrap().is_none());
        // AND the next rotate-root works
        f.write("rotate-root", json!({})).await.unwrap();
        f.emu.token_grantable(&f.master.id, &stored_secret(&f).await).unwrap();
        f.read("creds/crm").await.unwrap();
    }

    #[tokio::test]
    async fn when_recovery_is_impossible_the_operator_is_told_and_a_new_config_clears_it() {
        // GIVEN Genesys revokes a client's tokens with its secret, and the answer is lost
        let f = Fixture::with_role().await;
        f.emu.set_revoke_tokens_on_new_secret(true);
        f.emu
            .inject_fault(Fault::new(routes::NEW_SECRET, FaultAction::DropAfterApply));
        assert!(f.write("rotate-root", json!({})).await.is_err());
        // WHEN the periodic pass tries to recover
        f.advance(SETTLE);
        f.rollback().await;
        // THEN the mount is locked, config says so, rotate-root names the fix
        let read = f.read("config").await.unwrap().unwrap();
        assert!(read.data["root_rotation_in_progress"]["locked"].is_string(), "{read:?}");
        let r = f.write("rotate-root", json!({})).await;
        assert!(
            matches!(&r, Err(LogicalError::Internal(m)) if m.contains("write config with client_secret")),
            "{r:?}"
        );
        // WHEN the operator writes the secret reset in Genesys
        let reset = f
            .emu
            .clients()
            .into_iter()
            .find(|c| c.id == f.master.id)
            .unwrap()
            .secret;
        f.write("config", json!({"client_secret": reset})).await.unwrap();
        // THEN the record is gone and rotation works again
        assert!(RootRotation::load(f.storage.as_ref()).await.unwrap().is_none());
        f.write("rotate-root", json!({})).await.unwrap();
    }
}
