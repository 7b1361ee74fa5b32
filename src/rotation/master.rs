//! Rotation of a master secret itself: the master OAuth client (the one that creates and deletes
//! the integration clients) gets a new secret from `POST /api/v2/oauth/clients/{id}/secret`.
//!
//! The master cannot be replaced by a new client the way an integration is (see the README's
//! trade-off), so there is no drain: the old secret dies the moment the new one is issued. The
//! dangerous window is between that POST and the PutSecretValue that stores the new secret as
//! AWSPENDING: a crash there loses the only working secret. So before the POST, createSecret gets
//! a token with the current secret and stores it in a *recovery* version of the master secret
//! (staging label [`RECOVERY_STAGE`], JSON [`RecoveryRecord`]). A retry that finds the current
//! secret refused uses that token, which outlives the secret it came from, to ask for another
//! new secret. Other rotations that read the master meanwhile fall back to its AWSPENDING value
//! (`Rotator::master`).
//!
//! - createSecret: a value already stored for the token is the answer. Current secret works:
//!   store a recovery token, POST, store AWSPENDING. Current secret refused: use this
//!   rotation's recovery token to POST, store AWSPENDING. Neither: [`RotationError::MasterLocked`],
//!   which tells the operator how to recover by hand.
//! - setSecret: the pending credential gets a token and finds its own client active.
//! - testSecret: the pending credential's token names the master client and can list clients.
//! - finishSecret: AWSCURRENT moves, then the recovery label is removed (again on a retry).
//!
//! The recovery token is as powerful as the master secret and kept in the same secret, under the
//! same access control; it stays in an unlabelled version until it expires.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;
use tracing::{info, warn};

use super::{expect_owner, RotationError, RotationEvent, Rotator, Step, StepOutcome};
use crate::config::{ConfigError, MasterSecret};
use crate::drain::Retirement;
use crate::store::{SecretDescription, SecretStore, Version, AWSCURRENT, AWSPENDING};
use genesys_core::genesys::{ClientState, GenesysClient, GenesysError, HttpSettings};
use genesys_core::region::Region;
use genesys_core::secret::AccessToken;

/// Staging label of the master secret's recovery version.
pub const RECOVERY_STAGE: &str = "GENESYS_ROTATOR_RECOVERY";
/// `format` of the recovery JSON this code writes and reads.
const RECOVERY_FORMAT: u32 = 1;
/// A recovery token with less than this left is not used: the calls it must make take time.
const RECOVERY_MIN_LEFT: Duration = Duration::from_secs(60);

/// The value of a recovery version: a token of the master client, taken with the secret that was
/// current before this rotation asked for a new one, and bound to that rotation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecoveryRecord {
    /// [`RECOVERY_FORMAT`].
    pub format: u32,
    /// The rotation (ClientRequestToken) that stored it; any other rotation ignores it.
    pub rotation: String,
    /// The master client the token belongs to.
    pub client_id: String,
    /// The token; never logged (its `Debug` is redacted).
    pub access_token: SecretString,
    /// When the token stops working (wall clock, counted from before it was requested).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl RecoveryRecord {
    /// The JSON stored in the recovery version.
    pub fn to_json(&self) -> SecretString {
        let expires_at = self
            .expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .expect("a UTC date formats as RFC 3339");
        SecretString::from(
            serde_json::json!({
                "format": self.format,
                "rotation": self.rotation,
                "clientId": self.client_id,
                "accessToken": self.access_token.expose_secret(),
                "expiresAt": expires_at,
            })
            .to_string(),
        )
    }

    /// Parses a recovery version's value. The error says where parsing failed, never what the
    /// value holds.
    pub fn parse(json: &str) -> Result<Self, String> {
        let record: Self = serde_json::from_str(json)
            .map_err(|e| format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column()))?;
        if record.format != RECOVERY_FORMAT {
            return Err(format!("unknown format {}", record.format));
        }
        Ok(record)
    }

    /// The token, if it belongs to rotation `rotation` of client `client_id` and has at least
    /// [`RECOVERY_MIN_LEFT`] to live at `now`; otherwise why not.
    pub fn usable_token(self, rotation: &str, client_id: &str, now: OffsetDateTime) -> Result<AccessToken, String> {
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
                self.expires_at
            ));
        }
        let left = Duration::try_from(left).unwrap_or(RECOVERY_MIN_LEFT);
        Ok(AccessToken::new(self.access_token, Instant::now() + left))
    }
}

impl<S: SecretStore, R: Retirement> Rotator<S, R> {
    /// Whether `desc` is one of the master secrets this function may use: its rotation is a
    /// master rotation.
    pub(super) fn is_master(&self, desc: &SecretDescription) -> bool {
        self.config.master_allowed(&desc.arn)
    }

    async fn read_master(&self, arn: &str, version: Version<'_>) -> Result<Option<MasterSecret>, RotationError> {
        let Some(value) = self.store.get_value(arn, version).await? else {
            return Ok(None);
        };
        MasterSecret::parse(value.value.expose_secret())
            .map(Some)
            .map_err(|source| RotationError::MasterSecret {
                arn: arn.to_owned(),
                source,
            })
    }

    async fn read_master_current(&self, arn: &str) -> Result<MasterSecret, RotationError> {
        self.read_master(arn, Version::Stage(AWSCURRENT))
            .await?
            .ok_or_else(|| RotationError::NoCurrent(arn.to_owned()))
    }

    async fn read_master_pending(&self, arn: &str, token: &str) -> Result<MasterSecret, RotationError> {
        self.read_master(arn, Version::IdAndStage(token, AWSPENDING))
            .await?
            .ok_or_else(|| RotationError::MissingValue {
                secret_id: arn.to_owned(),
                version: token.to_owned(),
            })
    }

    pub(super) async fn create_master_secret(
        &self,
        desc: &SecretDescription,
        event: &RotationEvent,
    ) -> Result<StepOutcome, RotationError> {
        let arn = desc.arn.as_str();
        let token = event.client_request_token.as_str();
        let current = self.read_master_current(arn).await?;
        // Secrets Manager retries with the same token: a value already stored is the answer.
        if self
            .store
            .get_value(arn, Version::IdAndStage(token, AWSPENDING))
            .await?
            .is_some()
        {
            return Ok(StepOutcome::AlreadyCreated);
        }
        let region = master_region(arn, &current)?;
        let client_id = current.credentials.client_id.clone();
        let with_secret = self.genesys_client(region, current.credentials.clone());
        let requested_at = OffsetDateTime::now_utc();
        let (renewer, recovered) = match with_secret.fresh_token().await {
            Ok((access, lifetime)) => {
                // The current secret works, so no earlier attempt changed it. Keep a token that
                // outlives it before asking for the new one. A new version id each time: Secrets
                // Manager refuses to re-put a version id with other content, and a retry needs a
                // fresh token; the label moves to the newest.
                let record = RecoveryRecord {
                    format: RECOVERY_FORMAT,
                    rotation: token.to_owned(),
                    client_id: client_id.clone(),
                    access_token: SecretString::from(access.bearer().to_owned()),
                    expires_at: requested_at + lifetime,
                };
                let version = uuid::Uuid::new_v4().to_string();
                self.store
                    .put_staged(
                        arn,
                        &version,
                        &record.to_json(),
                        RECOVERY_STAGE,
                        event.rotation_token.as_deref(),
                    )
                    .await?;
                info!(client_id = %client_id, recovery_version = %version, expires_in_s = lifetime.as_secs(), "recovery token stored");
                (with_secret, false)
            }
            Err(refused @ GenesysError::InvalidClient { .. }) => {
                let access = self.recovery_token(arn, token, &client_id, &refused).await?;
                warn!(client_id = %client_id, error = %refused, "the master's current secret is refused; renewing it with this rotation's recovery token");
                let renewer = GenesysClient::with_access_token(
                    self.http.clone(),
                    self.config.endpoint_overrides.resolve(region),
                    client_id.clone(),
                    access,
                    HttpSettings {
                        request_timeout: self.config.request_timeout,
                        ..HttpSettings::default()
                    },
                );
                (renewer, true)
            }
            Err(e) => return Err(e.into()),
        };

        // From here until the put below lands, the only working secret is in flight.
        let renewed = match renewer.new_secret(&client_id).await {
            Ok(renewed) => renewed,
            Err(e @ GenesysError::InvalidClient { .. }) if recovered => {
                return Err(RotationError::MasterLocked {
                    arn: arn.to_owned(),
                    client_id,
                    version: token.to_owned(),
                    reason: format!(
                        "the recovery token stored by this rotation was refused ({e}): the service may revoke a \
                         client's tokens when its secret changes"
                    ),
                })
            }
            Err(e) => return Err(e.into()),
        };
        // Retryable: the secret changed to one nobody saw, and the retry recovers with the token.
        let secret = match renewed.secret {
            Some(secret) if renewed.id == client_id => secret,
            _ => {
                return Err(RotationError::PendingClient(format!(
                    "new secret for client {client_id} answered without the client's secret"
                )))
            }
        };
        info!(client_id = %client_id, recovered, "master client has a new secret");
        // On failure nothing is undone: the put may have landed, and the retry looks.
        self.store
            .put_pending(
                arn,
                token,
                &current.successor_json(&secret),
                event.rotation_token.as_deref(),
            )
            .await?;
        Ok(StepOutcome::SecretRenewed { client_id, recovered })
    }

    /// This rotation's recovery token, or why there is none that can be used.
    async fn recovery_token(
        &self,
        arn: &str,
        token: &str,
        client_id: &str,
        refused: &GenesysError,
    ) -> Result<AccessToken, RotationError> {
        let locked = |reason: String| RotationError::MasterLocked {
            arn: arn.to_owned(),
            client_id: client_id.to_owned(),
            version: token.to_owned(),
            reason,
        };
        let Some(value) = self.store.get_value(arn, Version::Stage(RECOVERY_STAGE)).await? else {
            // The POST comes only after a recovery token is stored: without one, this rotation
            // never asked for a new secret.
            return Err(locked(format!(
                "this rotation stored no recovery token, so it did not change the secret (AWSCURRENT holds a \
                 wrong secret, or it was reset elsewhere): {refused}"
            )));
        };
        let record = RecoveryRecord::parse(value.value.expose_secret())
            .map_err(|e| locked(format!("the recovery version {} is unreadable: {e}", value.version_id)))?;
        record
            .usable_token(token, client_id, OffsetDateTime::now_utc())
            .map_err(locked)
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
        let client = self.genesys_client(master_region(arn, &pending)?, pending.credentials);
        self.until_propagated(Step::SetSecret, || client.token()).await?;
        let found = client
            .get_client(&id)
            .await?
            .ok_or_else(|| RotationError::PendingClient(format!("client {id} does not exist")))?;
        if found.effective_state() != ClientState::Active {
            return Err(RotationError::PendingClient(format!("client {id} is not active")));
        }
        Ok(StepOutcome::Confirmed { client_id: id })
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
        let client = self.genesys_client(master_region(arn, &pending)?, pending.credentials);
        let (_, attempts) = self.until_propagated(Step::TestSecret, || client.token()).await?;
        expect_owner(&client.token_info().await?, &id, "pending master")?;
        // What the master is for: it must still be able to see the clients it manages.
        client.list_clients().await?;
        Ok(StepOutcome::Tested {
            client_id: id,
            attempts,
        })
    }

    /// The master's current credential gets a token that tokens/me names, and lists clients.
    async fn check_master(&self, arn: &str, current: &MasterSecret) -> Result<StepOutcome, RotationError> {
        let id = current.credentials.client_id.clone();
        let client = self.genesys_client(master_region(arn, current)?, current.credentials.clone());
        expect_owner(&client.token_info().await?, &id, "current master")?;
        client.list_clients().await?;
        info!(master_client_id = %id, "master configuration checked: current credential works and can list clients");
        Ok(StepOutcome::ConfigurationChecked {
            master_client_id: id.clone(),
            current_client_id: id,
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
            .ok_or_else(|| RotationError::NoCurrent(arn.to_owned()))?
            .to_owned();
        let pending = self.read_master_pending(arn, token).await?;
        self.store.promote(arn, token, &current_version).await?;
        info!(previous_version = %current_version, client_id = %pending.credentials.client_id, "master AWSCURRENT moved");
        self.clear_recovery(desc).await?;
        Ok(StepOutcome::Promoted {
            previous_version: current_version,
            client_id: pending.credentials.client_id,
        })
    }

    /// Removes the recovery label once the new secret is current; nothing to do if it is gone.
    /// Secrets Manager keeps the unlabelled version (and its token, until it expires).
    pub(super) async fn clear_recovery(&self, desc: &SecretDescription) -> Result<(), RotationError> {
        if let Some(version) = desc.version_with(RECOVERY_STAGE) {
            self.store.remove_stage(&desc.arn, RECOVERY_STAGE, version).await?;
            info!(recovery_version = %version, "recovery label removed");
        }
        Ok(())
    }
}

/// The master's region, which its own rotation cannot do without (integration rotations take it
/// from the integration secret).
fn master_region(arn: &str, master: &MasterSecret) -> Result<Region, RotationError> {
    master.region.ok_or_else(|| RotationError::MasterSecret {
        arn: arn.to_owned(),
        source: ConfigError::MissingField("region"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROTATION: &str = "5a1b3c4d-0000-4000-8000-00000000abcd";

    fn record(expires_at: OffsetDateTime) -> RecoveryRecord {
        RecoveryRecord {
            format: RECOVERY_FORMAT,
            rotation: ROTATION.into(),
            client_id: "master".into(),
            access_token: SecretString::from("tok-NEVER-PRINTED"),
            expires_at,
        }
    }

    #[test]
    fn a_record_round_trips_and_never_prints_its_token() {
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let r = record(now + Duration::from_secs(3600));
        assert!(!format!("{r:?}").contains("NEVER"));
        let back = RecoveryRecord::parse(r.to_json().expose_secret()).unwrap();
        assert_eq!(back.expires_at, r.expires_at);
        let token = back.usable_token(ROTATION, "master", now).unwrap();
        assert_eq!(token.bearer(), "tok-NEVER-PRINTED");
        assert!(token.is_fresh(Duration::from_secs(3000)));
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
        for raw in [
            r#"{"format":1,"rotation":"r","clientId":"m","accessToken":"tok-SECRET","expiresAt":"soon"}"#,
            r#"{"format":2,"rotation":"r","clientId":"m","accessToken":"tok-SECRET","expiresAt":"2030-01-01T00:00:00Z"}"#,
            r#"{"format":1,"rotation":"r","clientId":"m","accessToken":"tok-SECRET","expiresAt":"2030-01-01T00:00:00Z","x":1}"#,
            r#"not json tok-SECRET"#,
        ] {
            let err = RecoveryRecord::parse(raw).unwrap_err();
            assert!(!err.contains("SECRET"), "{err}");
        }
    }
}
