//! Rotation of a master secret itself: the master OAuth client (the one that creates and deletes
//! the integration clients) gets a new secret from `POST /api/v2/oauth/clients/{id}/secret`.
//!
//! The old secret dies the moment the new one is issued, so the window between that POST and
//! the PutSecretValue storing the new one is guarded twice: a token of the current secret is kept
//! in a lock record ([`LockRecord`], label [`RECOVERY_STAGE`]) so a retry after a crash can ask
//! again, and only the holder of that lock, taken in Secrets Manager itself (first writer of a
//! version id wins; [`lock_version`] per generation; a lease until the holder's deadline plus
//! [`LEASE_GRACE`]), may POST: two invocations at once never kill each other's secret
//! ([`RotationError::MasterRotationBusy`]). No usable token: [`RotationError::MasterLocked`],
//! naming the operator's fix. The protocol, step by step: docs/operators/master-recovery.md.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;
use tracing::{info, warn};
use uuid::Uuid;

use super::error::rfc3339;
use super::{expect_owner, RotationError, RotationEvent, Rotator, Step, StepOutcome};
use crate::deployment::DeploymentError;
use crate::drain::Retirement;
use crate::secret_format::{MasterSecret, SecretFormatError};
use crate::store::{SecretDescription, SecretStore, SecretsManagerCall, StoreError, Version, AWSCURRENT, AWSPENDING};
use genesys_core::genesys::{ClientState, GenesysClient, GenesysError};
use genesys_core::lifecycle::renewal::{self, Outcome, RenewalError};
use genesys_core::region::Region;
use genesys_core::secret::AccessToken;

/// Staging label of the master secret's newest lock record (which holds the recovery token).
pub const RECOVERY_STAGE: &str = "GENESYS_ROTATOR_RECOVERY";
/// `format` of the lock JSON this code writes and reads.
const LOCK_FORMAT: u32 = 2;
/// A recovery token with less than this left is not used: the calls it must make take time.
const RECOVERY_MIN_LEFT: Duration = Duration::from_secs(60);
/// How long after its holder's step deadline a lease ends: a request sent just before the
/// deadline may still reach Secrets Manager or Genesys Cloud a little later, and the hosts'
/// clocks may differ a little. Without a deadline, the holder stops this long (at most a quarter
/// of the lease) before its lease ends.
pub const LEASE_GRACE: Duration = Duration::from_secs(30);
/// Takeovers of ended leases one attempt makes before it gives up as busy.
const MAX_TAKEOVERS: u32 = 16;
/// The namespace of the lock version ids (UUID v5 of `"<rotation token>/<generation>"`).
const LOCK_NAMESPACE: Uuid = Uuid::from_u128(0x6d1c_3a0e_55b2_4f7e_9a43_2f0d_8c1e_b7a5);

/// The version id of generation `generation` of rotation `rotation`'s lock: the same in every
/// invocation, so two that want the same generation put the same version and one is refused.
pub fn lock_version(rotation: &str, generation: u32) -> String {
    Uuid::new_v5(&LOCK_NAMESPACE, format!("{rotation}/{generation}").as_bytes()).to_string()
}

/// How far [`newest_generation_among`] looks: far more generations than any rotation takes (an
/// attempt takes at most [`MAX_TAKEOVERS`] + 2).
const GENERATION_SCAN: u32 = 1 << 14;

/// The newest generation of `rotation`'s lock among `ids`, every version id of the secret
/// (ListSecretVersionIds with deprecated versions). Older generations may be missing (Secrets
/// Manager may delete versions without a label), so this is the highest present, not the end of
/// a chain from 0.
pub fn newest_generation_among(ids: &HashSet<String>, rotation: &str) -> Option<u32> {
    if ids.is_empty() {
        return None;
    }
    (0..GENERATION_SCAN)
        .rev()
        .find(|g| ids.contains(&lock_version(rotation, *g)))
}

/// When a lock taken at `now` ends: [`LEASE_GRACE`] after the step's deadline (`step_left`
/// from now), which stops the holder; for a step without one (`configured` is `Some`), after the
/// configured lease (the step stops itself a grace before, see `create_master_secret`).
pub fn lease_until(now: OffsetDateTime, step_left: Option<Duration>, configured: Option<Duration>) -> OffsetDateTime {
    match configured {
        Some(lease) => now + lease,
        None => now + step_left.unwrap_or_default() + LEASE_GRACE,
    }
}

/// The value of a lock record: which rotation and generation it is, who holds it until when, and
/// a token of the master client taken with the secret that was current before this rotation
/// asked for a new one.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockRecord {
    /// `LOCK_FORMAT` (2).
    pub format: u32,
    /// The rotation (ClientRequestToken) whose lock this is.
    pub rotation: String,
    /// The generation: the record's version id is [`lock_version`]`(rotation, generation)`.
    pub generation: u32,
    /// A random nonce of the invocation that put it.
    pub holder: String,
    /// When the holder's lease ends (wall clock); after it, the holder is provably stopped.
    #[serde(with = "time::serde::rfc3339")]
    pub lease_until: OffsetDateTime,
    /// The master client the token belongs to.
    pub client_id: String,
    /// The recovery token; never logged (its `Debug` is redacted).
    pub access_token: SecretString,
    /// When the token stops working (wall clock, counted from before it was requested).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl LockRecord {
    /// A record of generation `generation` with a new holder nonce.
    fn new(
        rotation: &str,
        generation: u32,
        lease_until: OffsetDateTime,
        client_id: &str,
        access_token: &SecretString,
        expires_at: OffsetDateTime,
    ) -> Self {
        Self {
            format: LOCK_FORMAT,
            rotation: rotation.to_owned(),
            generation,
            holder: Uuid::new_v4().to_string(),
            lease_until,
            client_id: client_id.to_owned(),
            access_token: SecretString::from(access_token.expose_secret().to_owned()),
            expires_at,
        }
    }

    /// The version id this record is stored under.
    pub fn version_id(&self) -> String {
        lock_version(&self.rotation, self.generation)
    }

    /// Whether the holder's lease has ended at `now`.
    pub fn lease_ended(&self, now: OffsetDateTime) -> bool {
        now >= self.lease_until
    }

    /// The JSON stored in the lock version.
    pub fn to_json(&self) -> SecretString {
        SecretString::from(
            serde_json::json!({
                "format": self.format,
                "rotation": self.rotation,
                "generation": self.generation,
                "holder": self.holder,
                "leaseUntil": rfc3339(&self.lease_until),
                "clientId": self.client_id,
                "accessToken": self.access_token.expose_secret(),
                "expiresAt": rfc3339(&self.expires_at),
            })
            .to_string(),
        )
    }

    /// Parses a lock version's value. The error says where parsing failed, never what the value
    /// holds.
    pub fn parse(json: &str) -> Result<Self, String> {
        let record: Self = serde_json::from_str(json)
            .map_err(|e| format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column()))?;
        if record.format != LOCK_FORMAT {
            return Err(format!("unknown format {}", record.format));
        }
        Ok(record)
    }

    /// The token, if it belongs to rotation `rotation` of client `client_id` and has at least
    /// a minute to live at `now`; otherwise why not.
    pub fn usable_token(&self, rotation: &str, client_id: &str, now: OffsetDateTime) -> Result<AccessToken, String> {
        if self.rotation != rotation || self.client_id != client_id {
            return Err(format!(
                "the stored recovery token belongs to rotation {} of client {}, not to this one",
                self.rotation, self.client_id
            ));
        }
        let left = self.expires_at - now;
        if left < RECOVERY_MIN_LEFT {
            return Err(format!(
                "the recovery token stored by this rotation expired at {}",
                rfc3339(&self.expires_at)
            ));
        }
        let left = Duration::try_from(left).unwrap_or(RECOVERY_MIN_LEFT);
        Ok(AccessToken::new(
            SecretString::from(self.access_token.expose_secret().to_owned()),
            Instant::now() + left,
        ))
    }
}

impl<S: SecretStore, R: Retirement> Rotator<S, R> {
    async fn read_master(&self, arn: &str, version: Version<'_>) -> Result<Option<MasterSecret>, RotationError> {
        let Some(value) = self.deployment.store().get_value(arn, version).await? else {
            return Ok(None);
        };
        MasterSecret::parse(value.value.expose_secret())
            .map(Some)
            .map_err(|source| {
                DeploymentError::MasterSecret {
                    arn: arn.to_owned(),
                    source,
                }
                .into()
            })
    }

    async fn read_master_current(&self, arn: &str) -> Result<MasterSecret, RotationError> {
        self.read_master(arn, Version::Stage(AWSCURRENT))
            .await?
            .ok_or_else(|| DeploymentError::NoCurrent(arn.to_owned()).into())
    }

    async fn read_master_pending(&self, arn: &str, token: &str) -> Result<MasterSecret, RotationError> {
        self.read_master(arn, Version::IdAndStage(token, AWSPENDING))
            .await?
            .ok_or_else(|| {
                DeploymentError::MissingValue {
                    secret_id: arn.to_owned(),
                    version: token.to_owned(),
                }
                .into()
            })
    }

    pub(super) async fn create_master_secret(
        &self,
        desc: &SecretDescription,
        event: &RotationEvent,
    ) -> Result<StepOutcome, RotationError> {
        if genesys_core::deadline::remaining().is_some() {
            return self.create_master(desc, event, None).await;
        }
        // Without a deadline (the command line, tests), the step gives itself one a grace before
        // the configured lease of any lock it takes ends (a lease starts later than the step).
        let lease = self.deployment.config().master_lock;
        let work_until = Instant::now() + lease - LEASE_GRACE.min(lease / 4);
        genesys_core::deadline::run_until(Some(work_until), Box::pin(self.create_master(desc, event, Some(lease))))
            .await
            .unwrap_or_else(|genesys_core::deadline::Elapsed| {
                Err(RotationError::DeadlineExceeded {
                    step: Step::CreateSecret.as_str(),
                    detail: "the master rotation lock's lease was about to end".into(),
                })
            })
    }

    /// createSecret of a master secret; `lease`: the configured lease of a step without a
    /// deadline, `None` for a step with one.
    async fn create_master(
        &self,
        desc: &SecretDescription,
        event: &RotationEvent,
        lease: Option<Duration>,
    ) -> Result<StepOutcome, RotationError> {
        let arn = desc.arn.as_str();
        let token = event.client_request_token.as_str();
        let current = self.read_master_current(arn).await?;
        // Secrets Manager retries with the same token: a value already stored is the answer.
        if self
            .deployment
            .store()
            .get_value(arn, Version::IdAndStage(token, AWSPENDING))
            .await?
            .is_some()
        {
            return Ok(StepOutcome::AlreadyCreated);
        }
        let region = master_region(arn, &current)?;
        let client_id = current.credentials.client_id.clone();
        let with_secret = self.deployment.genesys_client(region, current.credentials.clone());
        let requested_at = OffsetDateTime::now_utc();
        // The lock record to put first, and whether the current secret was already refused.
        let (first, recovered) = match with_secret.fresh_token().await {
            Ok((access, lifetime)) => {
                // The current secret works: no holder of this rotation's lock has changed it yet
                // (or the token would be refused). Take the lock with this token as the recovery
                // token, after the newest generation if its holder is stopped.
                let generation = match self.newest_generation(arn, token, &client_id).await? {
                    None => 0,
                    Some(record) => {
                        if !record.lease_ended(OffsetDateTime::now_utc()) {
                            return Err(busy(arn, &record));
                        }
                        record.generation + 1
                    }
                };
                let recovery = SecretString::from(access.bearer().to_owned());
                let first = LockRecord::new(
                    token,
                    generation,
                    OffsetDateTime::UNIX_EPOCH,
                    &client_id,
                    &recovery,
                    requested_at + lifetime,
                );
                (first, false)
            }
            Err(refused @ GenesysError::InvalidClient { .. }) => {
                // An earlier holder renewed the secret and its answer was lost (or AWSCURRENT is
                // wrong). Its recovery token is in the newest lock record; use it only once that
                // holder is stopped, under the lock.
                let newest = self.newest_lock(arn, token, &client_id, &refused).await?;
                if !newest.lease_ended(OffsetDateTime::now_utc()) {
                    return Err(busy(arn, &newest));
                }
                warn!(client_id = %client_id, error = %refused, generation = newest.generation, "the master's current secret is refused; taking over the lock to renew it with this rotation's recovery token");
                let first = LockRecord::new(
                    token,
                    newest.generation + 1,
                    OffsetDateTime::UNIX_EPOCH,
                    &client_id,
                    &newest.access_token,
                    newest.expires_at,
                );
                (first, true)
            }
            Err(e) => return Err(e.into()),
        };
        let held = self.acquire(arn, event, first, lease).await?;

        // The holder. A failure before the request, or one the service answered, releases the
        // lock (nothing of this attempt is on its way any more); one without an answer keeps it
        // until its lease ends, as the request may still arrive. What a failed request may have
        // done is the core's one rule (`renewal::Outcome`).
        let renewed: Result<(SecretString, bool), (RotationError, bool)> = 'holder: {
            if held.generation > 0 {
                // Every earlier holder is stopped: what they stored is final.
                match self
                    .deployment
                    .store()
                    .get_value(arn, Version::IdAndStage(token, AWSPENDING))
                    .await
                {
                    Ok(Some(_)) => return Ok(StepOutcome::AlreadyCreated),
                    Ok(None) => {}
                    Err(e) => break 'holder Err((e.into(), true)),
                }
            }
            let access = match held.usable_token(token, &client_id, OffsetDateTime::now_utc()) {
                Ok(access) => access,
                Err(reason) => break 'holder Err((self.locked_by(arn, token, &client_id, reason), true)),
            };
            let renewer = GenesysClient::with_access_token(
                self.deployment.http().clone(),
                self.deployment.config().endpoint_overrides.resolve(region),
                client_id.clone(),
                access,
                self.deployment.config().http_settings(),
            );
            // A failed renewal as the step reports it: a refused recovery token locks the master.
            let failure = |e: RenewalError, recovered: bool| match e {
                RenewalError::Call(e @ GenesysError::InvalidClient { .. }) if recovered => self.locked_by(
                    arn,
                    token,
                    &client_id,
                    format!(
                        "the recovery token stored by this rotation was refused ({e}): the service may revoke a \
                         client's tokens when its secret changes"
                    ),
                ),
                RenewalError::Call(e) => e.into(),
                e @ RenewalError::Answer { .. } => RotationError::PendingClient(e.to_string()),
            };
            // From here until the put below lands, the only working secret is in flight.
            let failed = match renewal::renew(&renewer, &client_id).await {
                Ok(secret) => break 'holder Ok((secret, recovered)),
                Err(e) => e,
            };
            match failed.outcome() {
                // Nothing changed: the current secret still works, and the retry goes on with it.
                Outcome::Unapplied => break 'holder Err((failure(failed, recovered), true)),
                // The request may still land: the retry waits for the lease, then checks.
                Outcome::InFlight => break 'holder Err((failure(failed, recovered), false)),
                Outcome::Settled => {}
            }
            // Answered, so nothing is in flight, but the secret may have changed (a gateway's
            // 502 after Genesys issued it): whether it did shows now. If it did, this holder's
            // recovery token asks again under the same lock, as the retry would, so the master is
            // not left with a dead AWSCURRENT until Secrets Manager retries. Otherwise, or if the
            // check fails, the lock is released and the retry checks again.
            match with_secret.fresh_token().await {
                Err(GenesysError::InvalidClient { .. }) => {}
                Ok(_) => {
                    info!(client_id = %client_id, error = %failed, "the new-secret request failed and the current secret still works");
                    break 'holder Err((failure(failed, recovered), true));
                }
                Err(check) => {
                    warn!(client_id = %client_id, error = %failed, check = %check, "the new-secret request failed and whether it changed the secret cannot be checked now; the retry checks");
                    break 'holder Err((failure(failed, recovered), true));
                }
            }
            warn!(client_id = %client_id, error = %failed, "the new-secret request failed after it changed the secret; asking again with the recovery token");
            match renewal::renew(&renewer, &client_id).await {
                Ok(secret) => Ok((secret, true)),
                Err(e) => {
                    let release = e.outcome() != Outcome::InFlight;
                    Err((failure(e, true), release))
                }
            }
        };
        let (secret, recovered) = match renewed {
            Ok(renewed) => renewed,
            Err((e, release)) => {
                if release {
                    self.release(arn, event, &held).await;
                }
                return Err(e);
            }
        };
        info!(client_id = %client_id, recovered, generation = held.generation, "master client has a new secret");
        // On failure nothing is undone and the lock is kept: the put may have landed, and the
        // retry looks once the lease has ended.
        self.deployment
            .store()
            .put_pending(
                arn,
                token,
                &current.successor_json(&secret),
                event.rotation_token.as_deref(),
            )
            .await?;
        Ok(StepOutcome::SecretRenewed {
            client_id: client_id.into(),
            recovered,
        })
    }

    /// Takes the lock: puts `record` (its generation, token and client) with a new lease, or,
    /// where that generation exists with an ended lease, the next one the same way.
    /// [`RotationError::MasterRotationBusy`] if a live holder has it. `lease` as for
    /// `create_master`.
    async fn acquire(
        &self,
        arn: &str,
        event: &RotationEvent,
        mut record: LockRecord,
        lease: Option<Duration>,
    ) -> Result<LockRecord, RotationError> {
        let mut takeovers = 0;
        loop {
            record.lease_until = lease_until(OffsetDateTime::now_utc(), genesys_core::deadline::remaining(), lease);
            let version = record.version_id();
            match self.put_lock(arn, event, &record).await {
                Ok(()) => {
                    info!(client_id = %record.client_id, generation = record.generation, lock_version = %version, lease_until = %rfc3339(&record.lease_until), "master rotation lock taken; recovery token stored");
                    return Ok(record);
                }
                Err(e) if e.is_version_exists() => {
                    let other = self
                        .read_lock(arn, &record.rotation, &record.client_id, record.generation)
                        .await?;
                    if !other.lease_ended(OffsetDateTime::now_utc()) || takeovers == MAX_TAKEOVERS {
                        return Err(busy(arn, &other));
                    }
                    info!(generation = record.generation, lock_version = %version, "the master rotation lock's holder is stopped (its lease ended); taking the next generation");
                    record.generation += 1;
                    takeovers += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Gives the lock up: puts the next generation with its lease already ended and the same
    /// recovery token. Only for a holder with nothing in flight. A failure is only logged: the
    /// lock then ends with its lease.
    async fn release(&self, arn: &str, event: &RotationEvent, held: &LockRecord) {
        let record = LockRecord::new(
            &held.rotation,
            held.generation + 1,
            OffsetDateTime::now_utc(),
            &held.client_id,
            &held.access_token,
            held.expires_at,
        );
        match self.put_lock(arn, event, &record).await {
            Ok(()) => {
                info!(generation = record.generation, lock_version = %record.version_id(), "master rotation lock released")
            }
            Err(e) => {
                warn!(error = %e, generation = held.generation, "could not release the master rotation lock; it ends with its lease")
            }
        }
    }

    /// Puts `record` as its own version (one per rotation and generation), labelled
    /// [`RECOVERY_STAGE`]: the one write of the lock, whether it is taken or given up. Secrets
    /// Manager refuses it ([`StoreError::is_version_exists`]) when another writer put that
    /// generation first.
    async fn put_lock(&self, arn: &str, event: &RotationEvent, record: &LockRecord) -> Result<(), StoreError> {
        self.deployment
            .store()
            .put_staged(
                arn,
                &record.version_id(),
                &record.to_json(),
                RECOVERY_STAGE,
                event.rotation_token.as_deref(),
            )
            .await
    }

    /// Lock record `generation` of rotation `token`, which exists (a put of it was refused, or
    /// ListSecretVersionIds lists it). If it cannot be read (Secrets Manager may have deleted
    /// it since, once a newer generation took the label), the step fails as retryable and its
    /// retry starts again from the newest generation.
    async fn read_lock(
        &self,
        arn: &str,
        token: &str,
        client_id: &str,
        generation: u32,
    ) -> Result<LockRecord, RotationError> {
        let version = lock_version(token, generation);
        let Some(value) = self.deployment.store().get_value(arn, Version::Id(&version)).await? else {
            return Err(RotationError::Store(StoreError::Transient {
                call: SecretsManagerCall::GetSecretValue,
                message: format!("master rotation lock version {version} exists but could not be read yet"),
            }));
        };
        match LockRecord::parse(value.value.expose_secret()) {
            Ok(record) if record.rotation == token && record.generation == generation => Ok(record),
            Ok(_) => Err(self.locked_by(
                arn,
                token,
                client_id,
                format!("the lock version {version} holds another rotation's record"),
            )),
            Err(e) => Err(self.locked_by(
                arn,
                token,
                client_id,
                format!("the lock version {version} is unreadable: {e}"),
            )),
        }
    }

    /// The newest lock record of rotation `token`, if it has one, read now (not from the
    /// step's DescribeSecret, which AWS answers with labelled versions only, and which may be
    /// older than a generation put since).
    ///
    /// Every lock put moves [`RECOVERY_STAGE`] onto its own version, and generation `g + 1` is
    /// put only after `g` exists, so the version under the label is the newest generation of
    /// the rotation that put last; it carries a label, so Secrets Manager never deletes it. Only
    /// the newest generation matters: one with a successor has no live holder (its holder gave
    /// the lock up, or the successor's writer found its lease ended), so older generations,
    /// which Secrets Manager may delete once unlabelled, are never needed. When the label is on
    /// another rotation's record (or on none that parses), this rotation's generations are looked
    /// for among every version id, deprecated ones included ([`newest_generation_among`]).
    async fn newest_generation(
        &self,
        arn: &str,
        token: &str,
        client_id: &str,
    ) -> Result<Option<LockRecord>, RotationError> {
        let Some(value) = self
            .deployment
            .store()
            .get_value(arn, Version::Stage(RECOVERY_STAGE))
            .await?
        else {
            // No lock record at all: this rotation took no lock (a put of generation 0 by an
            // attempt running now is refused to this one's, which then reads it).
            return Ok(None);
        };
        match LockRecord::parse(value.value.expose_secret()) {
            Ok(record) if record.rotation == token && record.version_id() == value.version_id => {
                return Ok(Some(record))
            }
            _ => {}
        }
        let ids = self.deployment.store().version_ids(arn).await?;
        match newest_generation_among(&ids, token) {
            None => Ok(None),
            Some(newest) => self.read_lock(arn, token, client_id, newest).await.map(Some),
        }
    }

    /// The newest lock record of this rotation (the one [`RECOVERY_STAGE`] is on), or
    /// [`RotationError::MasterLocked`] if there is none: the current secret is `refused`, and
    /// this rotation never asked for a new one.
    async fn newest_lock(
        &self,
        arn: &str,
        token: &str,
        client_id: &str,
        refused: &GenesysError,
    ) -> Result<LockRecord, RotationError> {
        let Some(value) = self
            .deployment
            .store()
            .get_value(arn, Version::Stage(RECOVERY_STAGE))
            .await?
        else {
            // The POST comes only after a lock record is stored: without one, this rotation
            // never asked for a new secret.
            return Err(self.locked_by(
                arn,
                token,
                client_id,
                format!(
                    "this rotation stored no recovery token, so it did not change the secret (AWSCURRENT holds a \
                     wrong secret, or it was reset elsewhere): {refused}"
                ),
            ));
        };
        let record = LockRecord::parse(value.value.expose_secret()).map_err(|e| {
            self.locked_by(
                arn,
                token,
                client_id,
                format!("the recovery version {} is unreadable: {e}", value.version_id),
            )
        })?;
        if record.rotation != token || record.version_id() != value.version_id {
            return Err(self.locked_by(
                arn,
                token,
                client_id,
                format!(
                    "the stored recovery token belongs to rotation {} of client {}, not to this one, so this \
                     rotation did not change the secret: {refused}",
                    record.rotation, record.client_id
                ),
            ));
        }
        Ok(record)
    }

    fn locked_by(&self, arn: &str, token: &str, client_id: &str, reason: String) -> RotationError {
        RotationError::MasterLocked {
            arn: arn.to_owned(),
            client_id: client_id.to_owned(),
            version: token.to_owned(),
            reason,
        }
    }

    pub(super) async fn set_master_secret(
        &self,
        desc: &SecretDescription,
        token: &str,
    ) -> Result<StepOutcome, RotationError> {
        let arn = desc.arn.as_str();
        let current = self.read_master_current(arn).await?;
        let pending = self.read_master_pending(arn, token).await?;
        let id = pending.credentials.client_id.clone();
        if id != current.credentials.client_id {
            return Err(RotationError::PendingClient(format!(
                "the pending master names client {id}, AWSCURRENT client {}: a master rotation renews the secret \
                 of the same client",
                current.credentials.client_id
            )));
        }
        let client = self
            .deployment
            .genesys_client(master_region(arn, &pending)?, pending.credentials);
        self.until_propagated(Step::SetSecret, || client.token()).await?;
        let found = client
            .get_client(&id)
            .await?
            .ok_or_else(|| RotationError::PendingClient(format!("client {id} does not exist")))?;
        if found.effective_state() != ClientState::Active {
            return Err(RotationError::PendingClient(format!("client {id} is not active")));
        }
        Ok(StepOutcome::Confirmed { client_id: id.into() })
    }

    pub(super) async fn test_master_secret(
        &self,
        desc: &SecretDescription,
        token: &str,
    ) -> Result<StepOutcome, RotationError> {
        let arn = desc.arn.as_str();
        let current = self.read_master_current(arn).await?;
        let pending = self.read_master(arn, Version::IdAndStage(token, AWSPENDING)).await?;
        // `rotate-secret --no-rotate-immediately`: no pending secret (AWS) or a copy of the
        // current one (moto): check the current credential instead.
        let pending = match pending {
            Some(p)
                if p.credentials.client_secret.expose_secret() != current.credentials.client_secret.expose_secret() =>
            {
                p
            }
            _ => return self.check_master(arn, &current).await,
        };
        let id = pending.credentials.client_id.clone();
        let client = self
            .deployment
            .genesys_client(master_region(arn, &pending)?, pending.credentials);
        let (_, attempts) = self.until_propagated(Step::TestSecret, || client.token()).await?;
        expect_owner(&client.token_info().await?, &id, "pending master")?;
        // What the master is for: it must still be able to see the clients it manages.
        client.list_clients().await?;
        Ok(StepOutcome::Tested {
            client_id: id.into(),
            attempts,
        })
    }

    /// The master's current credential gets a token that tokens/me names, and lists clients.
    async fn check_master(&self, arn: &str, current: &MasterSecret) -> Result<StepOutcome, RotationError> {
        let id = current.credentials.client_id.clone();
        let client = self
            .deployment
            .genesys_client(master_region(arn, current)?, current.credentials.clone());
        expect_owner(&client.token_info().await?, &id, "current master")?;
        client.list_clients().await?;
        info!(master_client_id = %id, "master configuration checked: current credential works and can list clients");
        Ok(StepOutcome::ConfigurationChecked {
            master_client_id: id.clone().into(),
            current_client_id: id.into(),
        })
    }

    /// [`Rotator::check`] for a master secret.
    pub(super) async fn check_master_secret(&self, desc: &SecretDescription) -> Result<StepOutcome, RotationError> {
        let current = self.read_master_current(&desc.arn).await?;
        self.check_master(&desc.arn, &current).await
    }

    pub(super) async fn finish_master_secret(
        &self,
        desc: &SecretDescription,
        token: &str,
    ) -> Result<StepOutcome, RotationError> {
        let arn = desc.arn.as_str();
        let current_version = desc
            .version_with(AWSCURRENT)
            .ok_or_else(|| DeploymentError::NoCurrent(arn.to_owned()))?
            .to_owned();
        let pending = self.read_master_pending(arn, token).await?;
        self.deployment.store().promote(arn, token, &current_version).await?;
        info!(previous_version = %current_version, client_id = %pending.credentials.client_id, "master AWSCURRENT moved");
        self.clear_recovery(desc).await?;
        Ok(StepOutcome::Promoted {
            previous_version: current_version,
            client_id: pending.credentials.client_id.into(),
        })
    }

    /// Removes the recovery label once the new secret is current; nothing to do if it is gone.
    /// Secrets Manager keeps the unlabelled version (and its token, until it expires).
    pub(super) async fn clear_recovery(&self, desc: &SecretDescription) -> Result<(), RotationError> {
        if let Some(version) = desc.version_with(RECOVERY_STAGE) {
            self.deployment
                .store()
                .remove_stage(&desc.arn, RECOVERY_STAGE, version)
                .await?;
            info!(recovery_version = %version, "recovery label removed");
        }
        Ok(())
    }
}

/// [`RotationError::MasterRotationBusy`] for the lock `record` holds.
fn busy(arn: &str, record: &LockRecord) -> RotationError {
    RotationError::MasterRotationBusy {
        arn: arn.to_owned(),
        version: record.rotation.clone(),
        generation: record.generation,
        lease_until: record.lease_until,
    }
}

/// The master's region, which its own rotation cannot do without (integration rotations take it
/// from the integration secret).
fn master_region(arn: &str, master: &MasterSecret) -> Result<Region, RotationError> {
    master.region.ok_or_else(|| {
        DeploymentError::MasterSecret {
            arn: arn.to_owned(),
            source: SecretFormatError::MissingField("region"),
        }
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROTATION: &str = "5a1b3c4d-0000-4000-8000-00000000abcd";

    fn record(expires_at: OffsetDateTime) -> LockRecord {
        LockRecord::new(
            ROTATION,
            3,
            expires_at - Duration::from_secs(1800),
            "master",
            &SecretString::from("tok-NEVER-PRINTED"),
            expires_at,
        )
    }

    #[test]
    fn a_record_round_trips_and_never_prints_its_token() {
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let r = record(now + Duration::from_secs(3600));
        assert!(!format!("{r:?}").contains("NEVER"));
        let back = LockRecord::parse(r.to_json().expose_secret()).unwrap();
        assert_eq!(back.expires_at, r.expires_at);
        assert_eq!(back.lease_until, r.lease_until);
        assert_eq!((back.generation, back.holder.as_str()), (3, r.holder.as_str()));
        assert_eq!(back.version_id(), lock_version(ROTATION, 3));
        let token = back.usable_token(ROTATION, "master", now).unwrap();
        assert_eq!(token.bearer(), "tok-NEVER-PRINTED");
        assert!(token.is_fresh(Duration::from_secs(3000)));
    }

    #[test]
    fn each_record_has_its_own_holder() {
        let now = OffsetDateTime::now_utc();
        assert_ne!(record(now).holder, record(now).holder);
    }

    #[test]
    fn a_token_of_another_rotation_or_client_or_near_its_end_is_not_used() {
        let now = OffsetDateTime::now_utc();
        let fresh = || record(now + Duration::from_secs(3600));
        assert!(fresh().usable_token("another-rotation", "master", now).is_err());
        assert!(fresh().usable_token(ROTATION, "another-client", now).is_err());
        let err = record(now + Duration::from_secs(30))
            .usable_token(ROTATION, "master", now)
            .unwrap_err();
        assert!(err.contains("expired"), "{err}");
        assert!(record(now - Duration::from_secs(1))
            .usable_token(ROTATION, "master", now)
            .is_err());
    }

    #[test]
    fn a_bad_record_is_refused_without_quoting_it() {
        let ok = r#""rotation":"r","generation":0,"holder":"h","leaseUntil":"2030-01-01T00:00:00Z","clientId":"m","accessToken":"tok-SECRET""#;
        for raw in [
            format!(r#"{{"format":2,{ok},"expiresAt":"soon"}}"#),
            format!(r#"{{"format":1,{ok},"expiresAt":"2030-01-01T00:00:00Z"}}"#),
            format!(r#"{{"format":2,{ok},"expiresAt":"2030-01-01T00:00:00Z","x":1}}"#),
            // The format of the recovery records before the lock: no generation, holder or lease.
            r#"{"format":1,"rotation":"r","clientId":"m","accessToken":"tok-SECRET","expiresAt":"2030-01-01T00:00:00Z"}"#
                .to_owned(),
            r#"{"format":2,"rotation":"r","generation":-1,"holder":"h","leaseUntil":"2030-01-01T00:00:00Z","clientId":"m","accessToken":"tok-SECRET","expiresAt":"2030-01-01T00:00:00Z"}"#.to_owned(),
            "not json tok-SECRET".to_owned(),
        ] {
            let err = LockRecord::parse(&raw).unwrap_err();
            assert!(!err.contains("SECRET"), "{err}");
        }
        let good = format!(r#"{{"format":2,{ok},"expiresAt":"2030-01-01T00:00:00Z"}}"#);
        assert!(LockRecord::parse(&good).is_ok());
    }

    #[test]
    fn a_lease_ends_at_its_end_and_not_before() {
        let now = OffsetDateTime::now_utc();
        let mut r = record(now + Duration::from_secs(3600));
        r.lease_until = now + Duration::from_secs(5);
        assert!(!r.lease_ended(now));
        assert!(!r.lease_ended(now + Duration::from_millis(4999)));
        assert!(r.lease_ended(now + Duration::from_secs(5)));
        assert!(r.lease_ended(now + Duration::from_secs(60)));
    }

    #[test]
    fn a_lease_ends_a_grace_after_the_step_deadline_or_after_the_configured_lease() {
        let now = OffsetDateTime::now_utc();
        // A Lambda step: its own deadline stops it; the lease adds the grace.
        assert_eq!(
            lease_until(now, Some(Duration::from_secs(298)), None),
            now + Duration::from_secs(298) + LEASE_GRACE
        );
        assert_eq!(lease_until(now, Some(Duration::ZERO), None), now + LEASE_GRACE);
        // No deadline of its own: the configured lease (the step stops itself a grace before).
        assert_eq!(
            lease_until(now, Some(Duration::from_secs(5)), Some(Duration::from_secs(900))),
            now + Duration::from_secs(900)
        );
        assert_eq!(
            lease_until(now, None, Some(Duration::from_secs(2))),
            now + Duration::from_secs(2)
        );
    }

    #[test]
    fn generation_ids_are_fixed_per_rotation_and_generation() {
        let g0 = lock_version(ROTATION, 0);
        assert_eq!(g0, lock_version(ROTATION, 0), "every invocation derives the same id");
        let parsed = Uuid::parse_str(&g0).unwrap();
        assert_eq!(parsed.get_version_num(), 5);
        assert_ne!(g0, lock_version(ROTATION, 1));
        assert_ne!(g0, lock_version("5a1b3c4d-0000-4000-8000-00000000abce", 0));
        assert_ne!(g0, ROTATION);
        // Fixed forever: a deployment that derived other ids would not see older holders.
        assert_eq!(
            lock_version("00000000-0000-4000-8000-000000000000", 0),
            Uuid::new_v5(&LOCK_NAMESPACE, b"00000000-0000-4000-8000-000000000000/0").to_string()
        );
    }

    #[test]
    fn the_newest_generation_is_the_highest_present_even_with_older_ones_deleted() {
        let ids = |generations: &[u32]| {
            generations
                .iter()
                .map(|g| lock_version(ROTATION, *g))
                .chain([ROTATION.to_owned(), "cur".to_owned()])
                .collect::<HashSet<_>>()
        };
        assert_eq!(newest_generation_among(&HashSet::new(), ROTATION), None);
        assert_eq!(newest_generation_among(&ids(&[]), ROTATION), None);
        assert_eq!(newest_generation_among(&ids(&[0]), ROTATION), Some(0));
        assert_eq!(newest_generation_among(&ids(&[0, 1, 2]), ROTATION), Some(2));
        // Older generations deleted as deprecated versions: the newest is still found.
        assert_eq!(newest_generation_among(&ids(&[41]), ROTATION), Some(41));
        assert_eq!(newest_generation_among(&ids(&[7, 300]), ROTATION), Some(300));
        // Another rotation's generations are not this one's.
        assert_eq!(newest_generation_among(&ids(&[0, 1]), "other"), None);
    }
}
