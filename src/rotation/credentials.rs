//! The integration credentials inside Genesys that hold an integration secret's client (its
//! `integrationCredentials`, e.g. a Data Actions integration's OAuth credential), kept in step
//! with the secret.
//!
//! - createSecret (and `check`) reads each one before any client is made: it must exist, be an
//!   OAuth client credential and hold the secret's current client, which the secret owns or
//!   proved it holds ([`genesys_core::guard`]; the rule is
//!   [`genesys_core::guard::ownership::judge_credential`]). Bad input fails there and changes nothing.
//! - finishSecret, once testSecret has passed and before AWSCURRENT moves and the old client is
//!   retired, reads each one again and writes the new client's id and secret into it. A PUT is
//!   idempotent, so a retry redoes them all; a credential already holding the new client counts
//!   as ours. Any failure fails the step before the old client is touched.

use genesys_core::genesys::{GenesysClient, GenesysError};
use genesys_core::guard::ownership::{judge_credential, CredentialHolds, CredentialRefusal, CredentialRefused};
use secrecy::SecretString;
use tracing::info;

use super::{RotationError, Rotator};
use crate::drain::Retirement;
use crate::secret_format::IntegrationSecret;
use crate::store::SecretStore;

impl<S: SecretStore, R: Retirement> Rotator<S, R> {
    /// Fails unless every credential `secret` lists exists, holds an OAuth client and holds the
    /// secret's current client, which the secret owns or proved it holds (`current_vouched`).
    /// Reads only.
    pub(super) async fn check_credentials(
        &self,
        master: &GenesysClient,
        secret_id: &str,
        secret: &IntegrationSecret,
        current_vouched: bool,
    ) -> Result<(), RotationError> {
        let current = secret.credentials.client_id.as_str();
        for id in &secret.settings.integration_credentials {
            let credential = master.get_credential(id).await?;
            judge_credential(id, credential.as_ref(), current, current_vouched, None)
                .map_err(|e| refused(secret_id, e))?;
        }
        Ok(())
    }

    /// Writes `next`'s client (id and secret) into every credential `next` lists, each checked
    /// first to hold `previous` (the client being replaced, which the secret owns or proved it
    /// holds: `previous_vouched`) or already `next`'s. Returns how many were written.
    pub(super) async fn update_credentials(
        &self,
        master: &GenesysClient,
        secret_id: &str,
        next: &IntegrationSecret,
        previous: &str,
        previous_vouched: bool,
    ) -> Result<usize, RotationError> {
        let ids = &next.settings.integration_credentials;
        if ids.is_empty() {
            return Ok(0);
        }
        let next_id = next.credentials.client_id.as_str();
        let secret: &SecretString = &next.credentials.client_secret;
        // Judged all before any is written: one that is not ours stops the step with none
        // changed, rather than half of them.
        let mut judged = Vec::with_capacity(ids.len());
        for id in ids {
            let credential = master.get_credential(id).await?;
            let holds = judge_credential(id, credential.as_ref(), previous, previous_vouched, Some(next_id))
                .map_err(|e| refused(secret_id, e))?;
            judged.push((id, credential.expect("judged credentials exist"), holds));
        }
        for (id, credential, holds) in &judged {
            let body = credential.with_client(next_id, secret);
            match master.update_credential(id, &body).await {
                Ok(_) => {}
                // Deleted since it was read: as bad as never having existed.
                Err(GenesysError::NotFound { .. }) => {
                    return Err(refused(
                        secret_id,
                        CredentialRefused {
                            credential_id: (*id).clone(),
                            refusal: CredentialRefusal::NotFound,
                        },
                    ))
                }
                Err(e) => return Err(e.into()),
            }
            let already = *holds == CredentialHolds::Next;
            info!(credential_id = %id, client_id = %next_id, already_held = already, "integration credential given the new client");
        }
        Ok(judged.len())
    }
}

fn refused(secret_id: &str, source: CredentialRefused) -> RotationError {
    RotationError::Credential {
        secret_id: secret_id.to_owned(),
        source,
    }
}
