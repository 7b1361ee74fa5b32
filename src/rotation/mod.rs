//! The four rotation steps (createSecret, setSecret, testSecret, finishSecret) over a
//! [`SecretStore`] and Genesys Cloud.
//!
//! Every step may be run again after a crash at any point, by Secrets Manager's own retries with
//! the same ClientRequestToken, so each one first looks at what is already done:
//! - createSecret names the new client after the token. A retry that finds such a client whose
//!   secret never reached AWSPENDING makes a fresh one, stores it, and only then deletes the
//!   other (its secret is lost: Genesys shows it only once). Deleting after the store, not
//!   before, is what keeps two invocations running at once safe: until a value is stored, any
//!   client named for the token may be the one another invocation is about to store, and once
//!   one is stored Secrets Manager never changes it. A finished createSecret leaves exactly one
//!   live client for its token.
//! - setSecret and testSecret only read.
//! - finishSecret first gives the new client to the integration credentials the secret lists
//!   (see [`credentials`]; an idempotent PUT each), then moves AWSCURRENT once; a retry finds it
//!   moved and re-runs the credential updates and retirement.
//!
//! A secret that is one of the allowed master secrets gets the master's own rotation instead (a
//! new secret for the same client, see [`master`]).

mod carry;
mod credentials;
mod error;
mod event;
mod failure;
pub mod master;
// The steps' unit tests reach the in-process emulator through `RotatorConfig::endpoint_overrides`,
// which only a build with the feature can fill; `make test-unit` enables it.
#[cfg(all(test, feature = "endpoint-overrides"))]
mod tests;

use genesys_core::classify::Classify;
use std::collections::HashSet;
use std::time::Instant;

use serde::Serialize;
use tracing::{info, warn};

pub use error::RotationError;
pub use event::{EventError, RotationEvent, Step};

use crate::config::{ReconcileConfig, RotatorConfig};
use crate::deployment::guard::Recorded;
use crate::deployment::{self, Deployment, DeploymentError};
use crate::drain::{KeepOldClient, Retirement, RetiringClient};
use crate::secret_format::{ClientId, IntegrationSecret};
use crate::store::{SecretDescription, SecretStore, Version, AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use genesys_core::genesys::{ClientState, GenesysClient, GenesysError, OAuthClient, TokenInfo};
use genesys_core::guard::ownership::Owner;
use genesys_core::guard::{Grant, Refusal, Standing};
use genesys_core::lifecycle::propagation::{self, NotUsable};
use genesys_core::region::Region;

/// What a step did. Returned to the caller (and shown by the demo); holds no secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum StepOutcome {
    /// The token's version is already AWSCURRENT: nothing to do.
    AlreadyCurrent,
    /// createSecret made a client and stored it as AWSPENDING.
    #[serde(rename_all = "camelCase")]
    Created {
        /// The new client.
        client_id: String,
        /// Clients of earlier failed attempts for this token that were deleted first.
        replaced_lost_clients: usize,
    },
    /// createSecret found AWSPENDING already holding a value for this token.
    AlreadyCreated,
    /// createSecret (master rotation) gave the master client a new secret and stored it as
    /// AWSPENDING.
    #[serde(rename_all = "camelCase")]
    SecretRenewed {
        /// The master client.
        client_id: String,
        /// The current secret was already refused (an earlier attempt renewed it and lost the
        /// answer), and this rotation's recovery token made the request.
        recovered: bool,
    },
    /// setSecret found the pending client present and active.
    #[serde(rename_all = "camelCase")]
    Confirmed {
        /// The pending client.
        client_id: String,
    },
    /// testSecret got a token with the pending credential and tokens/me named the client.
    #[serde(rename_all = "camelCase")]
    Tested {
        /// The pending client.
        client_id: String,
        /// Token requests made before one succeeded (propagation).
        attempts: u32,
    },
    /// testSecret ran without a pending credential (rotate-secret --no-rotate-immediately) and
    /// checked the configuration instead.
    #[serde(rename_all = "camelCase")]
    ConfigurationChecked {
        /// The master client that authenticated and listed clients.
        master_client_id: String,
        /// The current client, which got a working token.
        current_client_id: String,
    },
    /// finishSecret moved AWSCURRENT to the new version.
    #[serde(rename_all = "camelCase")]
    Promoted {
        /// The version that held AWSCURRENT before.
        previous_version: String,
        /// The client now in AWSCURRENT.
        client_id: String,
    },
}

impl StepOutcome {
    /// The client the step made, checked or promoted (for configuration checks, the current one).
    pub fn client_id(&self) -> Option<&str> {
        match self {
            StepOutcome::AlreadyCurrent | StepOutcome::AlreadyCreated => None,
            StepOutcome::Created { client_id, .. }
            | StepOutcome::SecretRenewed { client_id, .. }
            | StepOutcome::Confirmed { client_id }
            | StepOutcome::Tested { client_id, .. }
            | StepOutcome::Promoted { client_id, .. }
            | StepOutcome::ConfigurationChecked {
                current_client_id: client_id,
                ..
            } => Some(client_id),
        }
    }
}

/// Runs rotation steps over a [`Deployment`] (the store, the masters, the guard's reads), with
/// a retirement policy for the clients a rotation replaces. Build one per process and share it:
/// its deployment caches master clients (and so their tokens) across invocations.
pub struct Rotator<S, R = KeepOldClient> {
    deployment: Deployment<S>,
    retirement: R,
}

impl<S: SecretStore> Rotator<S, KeepOldClient> {
    /// A rotator that leaves rotated-out clients alone.
    pub fn new(store: S, config: RotatorConfig) -> Self {
        Self::with_retirement(store, config, KeepOldClient)
    }
}

impl<S: SecretStore, R: Retirement> Rotator<S, R> {
    /// A rotator with the given retirement policy for rotated-out clients.
    pub fn with_retirement(store: S, config: RotatorConfig, retirement: R) -> Self {
        Self::over(Deployment::new(store, config), retirement)
    }

    /// A rotator over `deployment`, with the given retirement policy.
    pub fn over(deployment: Deployment<S>, retirement: R) -> Self {
        Self { deployment, retirement }
    }

    /// The same rotator with these reconciliation settings (default: [`ReconcileConfig::default`]).
    pub fn with_reconcile(mut self, reconcile: ReconcileConfig) -> Self {
        self.deployment = self.deployment.with_reconcile(reconcile);
        self
    }

    /// The deployment this rotator reads and serves.
    pub fn deployment(&self) -> &Deployment<S> {
        &self.deployment
    }

    /// The one entry point for a Lambda payload: parses it and runs the step it names, returning
    /// by `deadline` if one is given (see [`handle_until`](Self::handle_until)).
    ///
    /// A payload that is not a rotation event is refused with [`RotationError::Event`], logged
    /// (without the payload, which is not ours to log) and counted as a failed step of
    /// [`crate::metrics::INVALID_EVENT`], so the alarms see it as they see any failed step.
    pub async fn handle_json(
        &self,
        payload: &serde_json::Value,
        deadline: Option<Instant>,
    ) -> Result<StepOutcome, RotationError> {
        let event = match RotationEvent::from_json(payload) {
            Ok(event) => event,
            Err(e) => {
                let e = RotationError::from(e);
                let error_type = crate::error_type::error_type(&e);
                warn!(error = %e, error_type = %error_type, "rotation event refused");
                crate::metrics::step_outcome(crate::metrics::INVALID_EVENT, Some(&e));
                return Err(e);
            }
        };
        self.handle_until(&event, deadline).await
    }

    /// [`handle`](Self::handle) that returns by `deadline`: waits inside give up before it, and
    /// whatever still runs there is stopped (a state every step's retry can finish, as after a
    /// crash) and reported as a retryable [`RotationError::DeadlineExceeded`].
    pub async fn handle_until(
        &self,
        event: &RotationEvent,
        deadline: Option<Instant>,
    ) -> Result<StepOutcome, RotationError> {
        match genesys_core::deadline::run_until(deadline, self.handle(event)).await {
            Ok(result) => result,
            Err(genesys_core::deadline::Elapsed) => {
                warn!(step = event.step.as_str(), secret_id = %event.secret_id, version = %event.client_request_token, "step stopped at its deadline; the retry finishes it");
                Err(RotationError::DeadlineExceeded {
                    step: event.step.as_str(),
                    detail: "a call was still running".into(),
                })
            }
        }
    }

    /// Runs one rotation step, after the checks every step shares. Logs one line per step with
    /// the secret, step, version, client id and duration (the span carries the first three), and
    /// records the step's outcome metric.
    #[tracing::instrument(skip_all, fields(step = event.step.as_str(), secret_id = %event.secret_id, version = %event.client_request_token))]
    pub async fn handle(&self, event: &RotationEvent) -> Result<StepOutcome, RotationError> {
        let started = Instant::now();
        let result = self.run_step(event).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(outcome) => {
                let client_id = outcome.client_id().unwrap_or("-");
                info!(elapsed_ms, client_id, ?outcome, "step done");
                crate::metrics::step_outcome(event.step.as_str(), None);
            }
            Err(e) => {
                let retryable = e.is_retryable();
                let error_type = crate::error_type::error_type(e);
                warn!(elapsed_ms, error = %e, error_type = %error_type, retryable, "step failed");
                crate::metrics::step_outcome(event.step.as_str(), Some(e));
                self.record_failure(&event.secret_id, event.step, e, &error_type).await;
            }
        }
        result
    }

    /// Checks a secret without changing anything: its JSON validates, its master is allowed and
    /// can list clients, and its current credential gets a token that tokens/me names.
    pub async fn check(&self, secret_id: &str) -> Result<StepOutcome, RotationError> {
        let desc = self.deployment.store().describe(secret_id).await?;
        if self.deployment.is_master(&desc) {
            return self.check_master_secret(&desc).await;
        }
        if !desc.is_served() {
            return Err(RotationError::NotServed(desc.arn.clone()));
        }
        let current = self.deployment.read_current(&desc).await?;
        self.check_configuration(&desc.arn, &current).await
    }

    /// Runs a whole rotation here and now, with version id `token`, as Secrets Manager would:
    /// for operators (break-glass) and local use against the emulator. The steps are the same
    /// as the Lambda's; only the start differs: Secrets Manager would first label an empty
    /// version AWSPENDING, here createSecret's PutSecretValue makes the version. Refused while
    /// another rotation is in progress. AWSPENDING stays on the new, now current, version (the
    /// state a finished rotation leaves in AWS).
    pub async fn rotate_locally(&self, secret_id: &str, token: &str) -> Result<Vec<StepOutcome>, RotationError> {
        // The same checks the event parser makes, on the secret id and the token.
        let event = RotationEvent::from_json(&serde_json::json!({
            "Step": "createSecret", "SecretId": secret_id, "ClientRequestToken": token
        }))?;
        let desc = self.deployment.store().describe(secret_id).await?;
        if let Some(pending) = desc.version_with(AWSPENDING) {
            if Some(pending) != desc.version_with(AWSCURRENT) && pending != token {
                return Err(RotationError::InProgress {
                    secret_id: desc.arn.clone(),
                    version: pending.to_owned(),
                });
            }
        }
        let mut outcomes = Vec::with_capacity(4);
        let mut steps = vec![
            Step::CreateSecret,
            Step::SetSecret,
            Step::TestSecret,
            Step::FinishSecret,
        ];
        if desc.stages_of(token).is_none() {
            // No version yet: createSecret makes it (the guard would refuse an unknown token).
            outcomes.push(self.create_secret(&desc, &event).await?);
            steps.remove(0);
        }
        for step in steps {
            let mut desc = self.deployment.store().describe(secret_id).await?;
            // Rotation need not be switched on for a rotation run by hand.
            desc.rotation_enabled = true;
            outcomes.push(
                self.guarded_step(&desc, &RotationEvent { step, ..event.clone() })
                    .await?,
            );
        }
        Ok(outcomes)
    }

    async fn run_step(&self, event: &RotationEvent) -> Result<StepOutcome, RotationError> {
        let desc = self.deployment.store().describe(&event.secret_id).await?;
        if self.deployment.is_master(&desc) {
            // A master's own rotation writes the values the cache would hold.
            return self.guarded_step(&desc, event).await;
        }
        deployment::scope(self.guarded_step(&desc, event)).await
    }

    /// The template's checks, then the step.
    async fn guarded_step(
        &self,
        desc: &SecretDescription,
        event: &RotationEvent,
    ) -> Result<StepOutcome, RotationError> {
        let token = event.client_request_token.as_str();
        if !desc.rotation_enabled {
            return Err(RotationError::RotationNotEnabled(desc.arn.clone()));
        }
        let master = self.deployment.is_master(desc);
        if !master && !desc.is_served() {
            return Err(RotationError::NotServed(desc.arn.clone()));
        }
        let stages = desc.stages_of(token).ok_or_else(|| RotationError::UnknownVersion {
            secret_id: desc.arn.clone(),
            token: token.to_owned(),
        })?;
        if stages.iter().any(|s| s == AWSCURRENT) {
            if event.step == Step::FinishSecret {
                // A finishSecret retried after the label moved still owes what follows the move.
                if master {
                    self.clear_recovery(desc).await?;
                } else {
                    self.credentials_after_move(desc).await?;
                    self.retire_previous(desc).await?;
                }
            }
            return Ok(StepOutcome::AlreadyCurrent);
        }
        if !stages.iter().any(|s| s == AWSPENDING) {
            return Err(RotationError::NotPending {
                secret_id: desc.arn.clone(),
                token: token.to_owned(),
            });
        }
        match (event.step, master) {
            // Boxed, and not through `create_secret`: the master's createSecret is a long chain
            // of calls, and in a debug build each nested step adds a large stack frame.
            (Step::CreateSecret, true) => Box::pin(self.create_master_secret(desc, event)).await,
            (Step::CreateSecret, false) => self.create_secret(desc, event).await,
            (Step::SetSecret, false) => self.set_secret(desc, token).await,
            (Step::TestSecret, false) => self.test_secret(desc, token).await,
            (Step::FinishSecret, false) => self.finish_secret(desc, token).await,
            (Step::SetSecret, true) => self.set_master_secret(desc, token).await,
            (Step::TestSecret, true) => self.test_master_secret(desc, token).await,
            (Step::FinishSecret, true) => self.finish_master_secret(desc, token).await,
        }
    }

    async fn create_secret(
        &self,
        desc: &SecretDescription,
        event: &RotationEvent,
    ) -> Result<StepOutcome, RotationError> {
        if self.deployment.is_master(desc) {
            return Box::pin(self.create_master_secret(desc, event)).await;
        }
        let token = event.client_request_token.as_str();
        let current = self.deployment.read_current(desc).await?;
        let name = current.settings.name_prefix.client_name(token);
        // The token is a version of this secret (the guard checked): the clients made for it
        // are this secret's by the ownership rule, whatever else the org holds.
        let this_version = HashSet::from([token.to_owned()]);
        let owner = Owner {
            id: &desc.arn,
            prefix: &current.settings.name_prefix,
            versions: &this_version,
        };
        let current_id = current.credentials.client_id.as_str();
        // Secrets Manager retries with the same token: a value already stored is the answer.
        // Clients other attempts made for this token are then provably unreferenced (a version's
        // value never changes once put) and go.
        if let Some(pending) = self
            .deployment
            .read_integration(&desc.arn, Version::IdAndStage(token, AWSPENDING))
            .await?
        {
            let master = self.deployment.master(&current).await?;
            let clients = master.list_clients().await?;
            delete_lost(&master, &clients, owner, &pending.credentials.client_id, current_id).await?;
            return Ok(StepOutcome::AlreadyCreated);
        }
        let settings = &current.settings;
        let master = self.deployment.master(&current).await?;
        let listing = master.list_all_clients().await?;
        // Listed items not readable as clients are foreign to everyone, but take room.
        let unreadable_items = listing.undecoded.len();
        let mut clients = listing.clients;
        let version_ids = self.deployment.store().version_ids(&desc.arn).await?;
        // Before anything changes: what this secret can show for the client it names. Owned, or
        // proven now by its stored credential; else the name is only a claim, and the client is
        // neither carried from, written into a credential, nor retired (see deployment/guard.rs).
        let standing = self
            .deployment
            .standing_of_current(&desc.arn, &current, &version_ids, &clients)
            .await?;
        let vouched = !matches!(standing, Standing::Unproven { .. });
        if let Standing::Unproven { foreign, not_proven } = &standing {
            let why = not_proven.as_ref().map(|n| n.to_string()).unwrap_or_default();
            warn!(current_client_id = %current_id, foreign = %foreign, not_proven = %why, "the secret's current client is neither owned nor proven: a new client is made from the secret alone, and the named client will be kept active");
        }
        // The credentials to keep in step are checked before anything changes: a listed one that
        // is missing, of another type or not holding this secret's (vouched) client stops the
        // step here.
        self.check_credentials(&master, &desc.arn, &current, vouched).await?;

        // Orphans of earlier rotations older than the horizon go first (the versions read
        // above are not read again), then the org's room is checked before the POST.
        let known = [
            (
                desc.version_with(AWSCURRENT).unwrap_or_default(),
                Some(current.credentials.client_id.as_str()),
            ),
            (token, None),
        ];
        let report = crate::reconcile::before_create(
            || self.deployment.holders(&desc.arn),
            self.deployment.store(),
            &master,
            desc,
            &current,
            &known,
            &version_ids,
            &clients,
            self.deployment.reconcile_config(),
            time::OffsetDateTime::now_utc(),
        )
        .await?;
        clients.retain(|c| !report.deleted.iter().any(|d| d.client_id == c.id));
        // Clients already named for this token (an attempt that crashed before PutSecretValue,
        // or one running alongside this one) still count here: they are deleted only once this
        // attempt's value is stored, since until then another attempt may be about to store one
        // of them.
        crate::reconcile::check_client_limit(
            clients.len() + unreadable_items,
            master.client_id(),
            self.deployment.reconcile_config(),
        )?;

        // The new client is the current one carried forward (fields this code does not know
        // included), with the rotator's own fields and the secret's clientFields over it.
        // Only from a client the secret owns or proved it holds: carrying a client it merely
        // names would copy someone else's roles into a client this secret's readers get.
        let carried = if vouched {
            self.carried_client(&master, current_id).await?
        } else {
            None
        };
        // The marker naming this secret is the ownership rule's second, independent proof.
        let request = carry::new_client_request(&name, &desc.arn, settings, carried.as_ref()).map_err(|source| {
            DeploymentError::Secret {
                secret_id: desc.arn.clone(),
                version: AWSCURRENT.to_owned(),
                source,
            }
        })?;
        let created = match master.create_client(&request).await {
            Ok(created) => created,
            Err(e) => {
                if carried.is_none() && !e.is_retryable() {
                    warn!(error = %e, current_client_id = %current_id, "the new client was refused and was built from the secret alone (the current client's definition could not be carried): if the organization requires a field, set it in the secret's clientFields");
                }
                return Err(e.into());
            }
        };
        let usable = match (created.secret.clone(), ClientId::parse(&created.id)) {
            (Some(secret), Ok(new_id)) => Ok((secret, new_id)),
            (None, _) => Err("without a secret"),
            (Some(_), Err(_)) => Err("with an id no secret may hold"),
        };
        let (secret, new_id) = match usable {
            Ok(usable) => usable,
            Err(why) => {
                // A client without its secret, or one no secret may name, is useless: remove it
                // rather than leave an orphan.
                master.retire_and_delete(&created).await?;
                return Err(RotationError::PendingClient(format!(
                    "create of client {} answered {why}",
                    created.id
                )));
            }
        };
        info!(client_id = %created.id, client_name = %name, "created client");
        let proof = match &standing {
            Standing::Proven(proof) => Some(proof),
            _ => None,
        };
        let value = current.successor_json(&new_id, &secret, proof);
        if let Err(put_error) = self
            .deployment
            .store()
            .put_pending(&desc.arn, token, &value, event.rotation_token.as_deref())
            .await
        {
            // The put may have landed with its answer lost, or another attempt may have stored
            // its own client first (Secrets Manager refuses to change a stored version). Look:
            // if what is stored is not this client, this client is the lost one.
            match self
                .deployment
                .read_integration(&desc.arn, Version::IdAndStage(token, AWSPENDING))
                .await
            {
                // This client's put landed: finish as if it had answered.
                Ok(Some(stored)) if stored.credentials.client_id == created.id => {}
                Ok(Some(stored)) => {
                    warn!(client_id = %created.id, stored_client_id = %stored.credentials.client_id, "another attempt stored its client first; deleting this one");
                    master.retire_and_delete(&created).await?;
                    delete_lost(&master, &clients, owner, &stored.credentials.client_id, current_id).await?;
                    return Ok(StepOutcome::AlreadyCreated);
                }
                // Nothing stored: the retry finds this client by name and deletes it once its
                // own value is stored.
                _ => return Err(put_error.into()),
            }
        }
        let replaced_lost_clients = delete_lost(&master, &clients, owner, &created.id, current_id).await?;
        Ok(StepOutcome::Created {
            client_id: created.id,
            replaced_lost_clients,
        })
    }

    /// The current client's definition, to carry to the new client; `None` (with a warning) when
    /// it cannot be carried: the client is gone, is not a client-credentials client, or reading
    /// it failed for good. A rotation that worked before never fails only because the old client
    /// cannot be read; a transient failure fails the step (retryable), so a blip never drops a
    /// field the organization may require.
    async fn carried_client(
        &self,
        master: &GenesysClient,
        current_id: &str,
    ) -> Result<Option<OAuthClient>, RotationError> {
        let why = match master.get_client(current_id).await {
            Ok(Some(client)) => match carry::not_carried_reason(&client) {
                None => return Ok(Some(client)),
                Some(why) => why,
            },
            Ok(None) => "it does not exist".to_owned(),
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => format!("reading it failed: {e}"),
        };
        warn!(current_client_id = %current_id, reason = %why, "the current client's definition is not carried: the new client is built from the secret alone");
        Ok(None)
    }

    async fn read_pending(&self, desc: &SecretDescription, token: &str) -> Result<IntegrationSecret, RotationError> {
        self.deployment
            .read_integration(&desc.arn, Version::IdAndStage(token, AWSPENDING))
            .await?
            .ok_or_else(|| {
                DeploymentError::MissingValue {
                    secret_id: desc.arn.clone(),
                    version: token.to_owned(),
                }
                .into()
            })
    }

    async fn set_secret(&self, desc: &SecretDescription, token: &str) -> Result<StepOutcome, RotationError> {
        let pending = self.read_pending(desc, token).await?;
        let master = self.deployment.master(&pending).await?;
        let id = &pending.credentials.client_id;
        let client = master
            .get_client(id)
            .await?
            .ok_or_else(|| RotationError::PendingClient(format!("client {id} does not exist")))?;
        let expected_name = pending.settings.name_prefix.client_name(token);
        if client.name != expected_name {
            return Err(RotationError::PendingClient(format!(
                "client {id} is named {:?}, expected {expected_name:?}",
                client.name
            )));
        }
        if client.effective_state() != ClientState::Active {
            return Err(RotationError::PendingClient(format!("client {id} is not active")));
        }
        Ok(StepOutcome::Confirmed { client_id: client.id })
    }

    async fn test_secret(&self, desc: &SecretDescription, token: &str) -> Result<StepOutcome, RotationError> {
        let current = self.deployment.read_current(desc).await?;
        let pending = self
            .deployment
            .read_integration(&desc.arn, Version::IdAndStage(token, AWSPENDING))
            .await?;
        // `rotate-secret --no-rotate-immediately` runs testSecret alone, on an AWSPENDING that
        // is empty (AWS) or a copy of AWSCURRENT (moto): check the configuration instead.
        let pending = match pending {
            Some(p) if p.credentials.client_id != current.credentials.client_id => p,
            _ => return self.check_configuration(&desc.arn, &current).await,
        };
        let id = pending.credentials.client_id.clone();
        let client = self
            .deployment
            .genesys_client(pending.settings.region, pending.credentials);
        let (info, attempts) = self.until_propagated(Step::TestSecret, || client.token_info()).await?;
        expect_owner(&info, &id, "pending")?;
        Ok(StepOutcome::Tested {
            client_id: id.into(),
            attempts,
        })
    }

    /// Waits until a fresh client works ([`genesys_core::lifecycle::propagation`]). A wait
    /// that would pass the step's deadline fails as retryable [`RotationError::DeadlineExceeded`],
    /// since the client may yet propagate.
    async fn until_propagated<T, F, Fut>(&self, step: Step, call: F) -> Result<(T, u32), RotationError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, GenesysError>>,
    {
        propagation::until_usable(
            self.deployment.config().propagation_timeout,
            self.deployment.config().request_timeout,
            call,
        )
        .await
        .map_err(|e| match e {
            NotUsable::Failed(e) => e.into(),
            deadline @ NotUsable::Deadline { .. } => RotationError::DeadlineExceeded {
                step: step.as_str(),
                detail: deadline.to_string(),
            },
        })
    }

    /// Reads only: the master can list clients, the credentials the secret lists hold its current
    /// client, and the current credential gets a token that tokens/me names.
    async fn check_configuration(
        &self,
        secret_id: &str,
        current: &IntegrationSecret,
    ) -> Result<StepOutcome, RotationError> {
        let master = self.deployment.master(current).await?;
        master.list_clients().await?;
        // The current credential proves it holds its client first; the credentials are then
        // judged with that proof.
        let id = current.credentials.client_id.clone();
        let client = self
            .deployment
            .genesys_client(current.settings.region, current.credentials.clone());
        expect_owner(&client.token_info().await?, &id, "current")?;
        self.check_credentials(&master, secret_id, current, true).await?;
        info!(master_client_id = %master.client_id(), current_client_id = %id, "configuration checked: master can list clients, current credential works");
        Ok(StepOutcome::ConfigurationChecked {
            master_client_id: master.client_id().to_owned(),
            current_client_id: id.into(),
        })
    }

    async fn finish_secret(&self, desc: &SecretDescription, token: &str) -> Result<StepOutcome, RotationError> {
        let current_version = desc
            .version_with(AWSCURRENT)
            .ok_or_else(|| DeploymentError::NoCurrent(desc.arn.clone()))?
            .to_owned();
        let pending = self.read_pending(desc, token).await?;
        if !pending.settings.integration_credentials.is_empty() {
            // testSecret has passed: the credentials get the new client before the old one is
            // retired (and before AWSCURRENT moves, so a failure leaves the rotation to retry).
            let current = self.deployment.read_current(desc).await?;
            let master = self.deployment.master(&pending).await?;
            let vouched = self
                .vouched_at_finish(&master, &desc.arn, &current_version, &current, &pending)
                .await?;
            self.update_credentials(&master, &desc.arn, &pending, &current.credentials.client_id, vouched)
                .await?;
        }
        self.deployment
            .store()
            .promote(&desc.arn, token, &current_version)
            .await?;
        info!(previous_version = %current_version, client_id = %pending.credentials.client_id, "AWSCURRENT moved");
        let desc = self.deployment.store().describe(&desc.arn).await?;
        self.retire_previous(&desc).await?;
        Ok(StepOutcome::Promoted {
            previous_version: current_version,
            client_id: pending.credentials.client_id.into(),
        })
    }

    /// For a finishSecret retried after AWSCURRENT moved: the credentials get the current (new)
    /// client again before the previous one can be retired, in case the first attempt stopped
    /// between the two. A credential may still hold the previous client or already the current.
    async fn credentials_after_move(&self, desc: &SecretDescription) -> Result<(), RotationError> {
        let current = self.deployment.read_current(desc).await?;
        if current.settings.integration_credentials.is_empty() {
            return Ok(());
        }
        let master = self.deployment.master(&current).await?;
        let previous = match desc.version_with(AWSPREVIOUS) {
            Some(v) => self
                .deployment
                .read_integration(&desc.arn, Version::IdAndStage(v, AWSPREVIOUS))
                .await?
                .map(|value| (v, value)),
            None => None,
        };
        let (previous_id, vouched) = match previous {
            Some((version, value)) => (
                value.credentials.client_id.to_string(),
                self.vouched_at_finish(&master, &desc.arn, version, &value, &current)
                    .await?,
            ),
            // No previous client: a credential may only already hold the current one.
            None => (current.credentials.client_id.to_string(), false),
        };
        self.update_credentials(&master, &desc.arn, &current, &previous_id, vouched)
            .await?;
        Ok(())
    }

    /// Whether the secret owns, or proves it holds, the client `old` (the value of its version
    /// `old_version`) names, at finishSecret: the proof createSecret recorded in `next` (the
    /// version replacing it) must hold again now ([`Self::standing_at_finish`]).
    async fn vouched_at_finish(
        &self,
        master: &GenesysClient,
        arn: &str,
        old_version: &str,
        old: &IntegrationSecret,
        next: &IntegrationSecret,
    ) -> Result<bool, RotationError> {
        let Some(client) = master.get_client(&old.credentials.client_id).await? else {
            return Ok(false);
        };
        let standing = self
            .deployment
            .standing_at_finish(
                arn,
                old_version,
                old,
                &client,
                next.possession_proof.as_ref(),
                Recorded::NeedsLiveProof,
            )
            .await?;
        Ok(!matches!(standing, Standing::Unproven { .. }))
    }

    /// Retires the client held by AWSPREVIOUS, unless AWSCURRENT or AWSPENDING still holds it, if
    /// the guard allows ([`genesys_core::guard::decide`]): nobody else holds it, every possible
    /// holder was read, and the secret owns it or proves it holds it. Either goes to the
    /// retirement policy (deactivate, then the drain message; the cleanup deletes only an owned
    /// one, so a proven hand-made client's deletion is a person's); any other is kept active,
    /// logged and counted.
    async fn retire_previous(&self, desc: &SecretDescription) -> Result<(), RotationError> {
        let Some(previous_version) = desc.version_with(AWSPREVIOUS) else {
            return Ok(());
        };
        let current = self.deployment.read_current(desc).await?;
        let Some(previous) = self
            .deployment
            .read_integration(&desc.arn, Version::IdAndStage(previous_version, AWSPREVIOUS))
            .await?
        else {
            return Ok(());
        };
        let pending_id = match desc.version_with(AWSPENDING) {
            Some(v) if Some(v) != desc.version_with(AWSCURRENT) => self
                .deployment
                .read_integration(&desc.arn, Version::IdAndStage(v, AWSPENDING))
                .await?
                .map(|p| p.credentials.client_id),
            _ => None,
        };
        let old_id = previous.credentials.client_id.clone();
        if old_id == current.credentials.client_id || pending_id.as_deref() == Some(old_id.as_str()) {
            return Ok(());
        }
        // Org-wide, and fail closed: a client another served secret or a master still holds
        // stays active, whoever made it (one hand-made client pasted into several secrets is
        // the usual case); so does every client while a possible holder cannot be read.
        let holders = self.deployment.holders(&desc.arn).await;
        let master = self.deployment.master(&current).await?;
        let Some(client) = master.get_client(&old_id).await? else {
            info!(old_client_id = %old_id, "rotated-out client is already gone; nothing to retire");
            return Ok(());
        };
        let standing = self
            .deployment
            .standing_at_finish(
                &desc.arn,
                previous_version,
                &previous,
                &client,
                current.possession_proof.as_ref(),
                Recorded::EnoughWhenInactive,
            )
            .await?;
        let grant = genesys_core::guard::decide(&old_id, &standing, &holders);
        match grant {
            Ok(grant) => {
                if grant == Grant::Proven {
                    // The hand-made client a user first stored, proven by its own credential:
                    // retiring it is the point of the tool, but the cleanup deletes only clients
                    // the secret owns. The operator deletes it by hand after the drain.
                    warn!(
                        old_client_id = %old_id,
                        client_name = %client.name,
                        "rotated-out client was not made by the rotator (its credential proved it is this secret's): deactivating it, but the cleanup will not delete it; delete it by hand after the drain"
                    );
                }
                self.retirement
                    .retire(
                        &master,
                        &RetiringClient {
                            secret_arn: desc.arn.clone(),
                            version_id: previous_version.to_owned(),
                            client,
                            current_client_id: current.credentials.client_id.into(),
                        },
                    )
                    .await
                    .map_err(RotationError::Retirement)
            }
            Err(Refusal::Unreadable { holder }) => Err(RotationError::GuardUnreadable { holder }),
            Err(Refusal::Held { holder }) => {
                warn!(
                    old_client_id = %old_id,
                    held_by = holder,
                    "the replaced client is still held elsewhere: left active, not retired; retire it by hand once nothing holds it"
                );
                crate::metrics::shared_client_kept();
                Ok(())
            }
            Err(refusal @ Refusal::Unproven { .. }) => {
                warn!(
                    old_client_id = %old_id,
                    reason = %refusal,
                    "the replaced client is neither owned by this secret nor proven by its credential: left active, not retired"
                );
                crate::metrics::unproven_client_kept();
                Ok(())
            }
        }
    }
}

/// A Genesys client for `credentials` in `region`, configured as a rotator's are, for a command
/// that reads no secret from Secrets Manager (`conformance --master-file`).
pub fn standalone_client(
    config: &RotatorConfig,
    region: Region,
    credentials: genesys_core::secret::ClientCredentials,
) -> GenesysClient {
    GenesysClient::new(
        config.http_settings().http_client(),
        config.endpoint_overrides.resolve(region),
        credentials,
        config.http_settings(),
    )
}

/// Fails unless `tokens/me` names client `id`: the credential (the `which` one) belongs to the
/// client its secret says, not to some other client of the org.
fn expect_owner(info: &TokenInfo, id: &str, which: &str) -> Result<(), RotationError> {
    let seen = info.o_auth_client.as_ref().map(|c| c.id.as_str());
    if seen != Some(id) {
        return Err(RotationError::PendingClient(format!(
            "tokens/me for the {which} credential names client {seen:?}, expected {id}"
        )));
    }
    Ok(())
}

/// Deletes the clients of `owner` (made for its one version: this token) other than `keep` (the
/// one AWSPENDING holds) and the current client: their secrets were never stored, or stored by
/// nobody, so nothing can use them. Returns how many went.
async fn delete_lost(
    master: &GenesysClient,
    clients: &[OAuthClient],
    owner: Owner<'_>,
    keep: &str,
    current_id: &str,
) -> Result<usize, RotationError> {
    let lost: Vec<&OAuthClient> = clients
        .iter()
        .filter(|c| c.id != keep && c.id != current_id && owner.owns(c))
        .collect();
    for client in &lost {
        warn!(client_id = %client.id, client_name = %client.name, "deleting client whose secret an earlier attempt lost");
        master.retire_and_delete(client).await?;
        crate::metrics::clients_deleted(crate::metrics::DeleteReason::LostSecret, 1);
    }
    Ok(lost.len())
}
