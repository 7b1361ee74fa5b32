//! Unit tests of the step logic: every branch of the template's guards and of the four steps,
//! with the in-memory store and drain queue ([`crate::store::memory`], [`crate::drain::memory`])
//! and the Genesys emulator started in-process on a loopback port. No moto, no venv.
//!
//! Compiled only with the `endpoint-overrides` feature (see the `mod tests` declaration): the
//! rotator reaches the emulator through `RotatorConfig::endpoint_overrides`, which a build without
//! the feature cannot fill. `make test-unit` enables it.
//!
//! Each test says what it starts from (GIVEN), what it does (WHEN) and what must hold (THEN).

use genesys_core::classify::Classify;
use std::time::Duration;

use genesys_emulator::{ClientRecord, ClientState, Emulator, EmulatorConfig, SeedClient};
use serde_json::{json, Value};

use super::master::RECOVERY_STAGE;
use super::{RotationError, RotationEvent, Rotator, Step, StepOutcome};
use crate::config::RotatorConfig;
use crate::drain::memory::MemoryDrainQueue;
use crate::drain::{DrainRetirement, DrainSettings, MAX_SQS_DELAY};
use crate::store::memory::MemorySecretStore;
use crate::store::{SecretStore, SecretsManagerCall, StoreError, AWSCURRENT, AWSPENDING, AWSPREVIOUS};

const DOMAIN: &str = "mypurecloud.ie";
const ROLE: &str = "crm-integration-role";
const PREFIX: &str = "crm-rot-";
const MASTER_PERMISSIONS: [&str; 6] = [
    "oauth:client:add",
    "oauth:client:edit",
    "oauth:client:delete",
    "oauth:client:view",
    // For the integration credentials a secret may list (see `credentials`).
    "integrations:integration:view",
    "integrations:integration:edit",
];

// The integration credentials a secret keeps in step, over the same fixture.
mod credentials;
// Proof before retirement and the org-wide guard, over the same fixture.
mod proof;
// What the guard reads, and how often: in batches, masters once per invocation.
mod reads;

type TestRotator = Rotator<MemorySecretStore, DrainRetirement<MemoryDrainQueue>>;

/// One org in the emulator (a master client and a hand-made legacy integration client), its
/// master secret in the memory store, and a rotator that retires through the memory queue.
struct Fixture {
    emulator: Emulator,
    master_id: String,
    legacy_id: String,
    legacy_secret: String,
    master_arn: String,
    store: MemorySecretStore,
    queue: MemoryDrainQueue,
    rotator: TestRotator,
}

impl Fixture {
    async fn new() -> Fixture {
        Self::with_config(EmulatorConfig::default()).await
    }

    async fn with_config(config: EmulatorConfig) -> Fixture {
        let emulator = Emulator::start(config).await.expect("start emulator");
        emulator.seed_role(ROLE, &["conversation:communication:view"]);
        let master = emulator.seed_client(SeedClient::new("genesys-rotator-master", &MASTER_PERMISSIONS));
        let legacy = emulator.seed_client(SeedClient::new(
            "crm-legacy-integration",
            &["conversation:communication:view"],
        ));
        let store = MemorySecretStore::new();
        let master_arn = store.create_secret(
            "genesys/master",
            &json!({"clientId": master.id, "clientSecret": master.secret, "region": DOMAIN}).to_string(),
            &[],
        );
        let overrides = format!("{DOMAIN}={}", emulator.base_url());
        let config = RotatorConfig::from_lookup(|k| match k {
            "ALLOWED_MASTER_SECRET_ARNS" => Some(master_arn.clone()),
            "GENESYS_ENDPOINT_OVERRIDES" => Some(overrides.clone()),
            "GENESYS_REQUEST_TIMEOUT_SECONDS" => Some("5".into()),
            "PROPAGATION_TIMEOUT_SECONDS" => Some("20".into()),
            _ => None,
        })
        .expect("config");
        let queue = MemoryDrainQueue::new();
        let rotator = Rotator::with_retirement(
            store.clone(),
            config,
            DrainRetirement::new(queue.clone(), DrainSettings::default()),
        );
        Fixture {
            emulator,
            master_id: master.id,
            legacy_id: legacy.id,
            legacy_secret: legacy.secret,
            master_arn,
            store,
            queue,
            rotator,
        }
    }

    /// An integration secret's JSON holding `client_id`/`secret`, with `prefix`.
    fn integration_json(&self, client_id: &str, secret: &str, prefix: &str) -> Value {
        json!({
            "clientId": client_id,
            "clientSecret": secret,
            "region": DOMAIN,
            "masterSecretArn": self.master_arn,
            "namePrefix": prefix,
            "roleDivisions": [{"roleId": ROLE, "divisionId": "*"}],
            "tokenLifetimeSeconds": 3600
        })
    }

    /// The served integration secret holding the legacy client; returns its ARN.
    fn integration_secret(&self) -> String {
        let value = self.integration_json(&self.legacy_id, &self.legacy_secret, PREFIX);
        self.store
            .create_served_secret("genesys/crm-integration", &value.to_string())
    }

    async fn step(&self, arn: &str, token: &str, step: Step) -> Result<StepOutcome, RotationError> {
        self.rotator
            .handle(&RotationEvent {
                step,
                secret_id: arn.to_owned(),
                client_request_token: genesys_core::domain::VersionId::parse(token).expect("a version id"),
                rotation_token: None,
            })
            .await
    }

    /// Begins a rotation of `arn` and runs its createSecret; returns the token.
    async fn created(&self, arn: &str) -> String {
        let token = self.store.begin_rotation(arn);
        self.step(arn, &token, Step::CreateSecret).await.unwrap();
        token
    }

    fn client(&self, id: &str) -> Option<ClientRecord> {
        self.emulator.clients().into_iter().find(|c| c.id == id)
    }

    /// The JSON of the version of `arn` holding `stage`.
    fn value(&self, arn: &str, stage: &str) -> Value {
        serde_json::from_str(&self.store.value(arn, stage).expect("a value")).expect("JSON")
    }

    /// A client planted as an attempt for `token` of secret `arn` would have made it (name and
    /// ownership marker), whose secret the test knows.
    fn seed_attempt_client(&self, arn: &str, token: &str) -> genesys_emulator::SeededClient {
        self.emulator.seed_client(SeedClient {
            description: Some(genesys_core::guard::ownership::description(arn, None)),
            access_token_validity_seconds: 3600,
            ..SeedClient::new(format!("{PREFIX}{token}"), &["conversation:communication:view"])
        })
    }
}

fn new_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

// ---------------------------------------------------------------------------------------------
// The template's guards

#[tokio::test]
async fn a_step_on_a_secret_whose_rotation_is_not_enabled_is_refused() {
    // GIVEN a served secret with a pending version, but rotation turned off
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.store.begin_rotation(&arn);
    f.store.set_rotation_enabled(&arn, false);
    let clients_before = f.emulator.clients().len();
    // WHEN createSecret runs
    let result = f.step(&arn, &token, Step::CreateSecret).await;
    // THEN it is refused as RotationNotEnabled and nothing is created or stored
    assert!(
        matches!(&result, Err(RotationError::RotationNotEnabled(a)) if *a == arn),
        "{result:?}"
    );
    assert_eq!(f.emulator.clients().len(), clients_before);
    assert_eq!(f.store.call_count(SecretsManagerCall::PutSecretValue), 0);
}

#[tokio::test]
async fn a_token_that_is_no_version_of_the_secret_is_refused() {
    // GIVEN a rotation in progress
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    f.store.begin_rotation(&arn);
    let unknown = new_token();
    // WHEN a step names a version the secret does not have
    let result = f.step(&arn, &unknown, Step::SetSecret).await;
    // THEN it is refused as UnknownVersion naming the token
    assert!(
        matches!(&result, Err(RotationError::UnknownVersion { token, .. }) if *token == unknown),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_step_on_the_version_already_current_does_nothing() {
    // GIVEN a secret with rotation on, and the token of its AWSCURRENT version
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    f.store.set_rotation_enabled(&arn, true);
    let current = f.store.version_with(&arn, AWSCURRENT).unwrap();
    let clients_before = f.emulator.clients().len();
    for step in [Step::CreateSecret, Step::SetSecret, Step::TestSecret] {
        // WHEN a step runs for that token
        let result = f.step(&arn, &current, step).await;
        // THEN it answers AlreadyCurrent and changes nothing
        assert_eq!(result.unwrap(), StepOutcome::AlreadyCurrent, "{step:?}");
    }
    assert_eq!(f.emulator.clients().len(), clients_before);
    assert_eq!(f.store.call_count(SecretsManagerCall::PutSecretValue), 0);
    assert_eq!(f.store.call_count(SecretsManagerCall::UpdateSecretVersionStage), 0);
}

#[tokio::test]
async fn a_version_that_is_not_pending_is_refused() {
    // GIVEN a secret with rotation on and a version labelled AWSPREVIOUS only
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    f.store.set_rotation_enabled(&arn, true);
    let previous = new_token();
    let value = f.integration_json(&f.legacy_id, &f.legacy_secret, PREFIX).to_string();
    f.store.insert_version(&arn, &previous, Some(&value), &[AWSPREVIOUS]);
    // WHEN createSecret runs for that version
    let result = f.step(&arn, &previous, Step::CreateSecret).await;
    // THEN it is refused as NotPending and nothing is stored
    assert!(
        matches!(&result, Err(RotationError::NotPending { token, .. }) if *token == previous),
        "{result:?}"
    );
    assert_eq!(f.store.call_count(SecretsManagerCall::PutSecretValue), 0);
}

#[tokio::test]
async fn a_secret_without_the_served_tag_is_not_served() {
    // GIVEN an integration secret without the genesys-rotator tag, with a rotation begun
    let f = Fixture::new().await;
    let value = f.integration_json(&f.legacy_id, &f.legacy_secret, PREFIX).to_string();
    let arn = f.store.create_secret("genesys/untagged", &value, &[]);
    let token = f.store.begin_rotation(&arn);
    let clients_before = f.emulator.clients().len();
    // WHEN createSecret runs
    let result = f.step(&arn, &token, Step::CreateSecret).await;
    // THEN it is refused as NotServed and no client is made
    assert!(
        matches!(&result, Err(RotationError::NotServed(a)) if *a == arn),
        "{result:?}"
    );
    assert_eq!(f.emulator.clients().len(), clients_before);
}

// ---------------------------------------------------------------------------------------------
// createSecret

#[tokio::test]
async fn create_secret_makes_a_new_client_and_stores_it_as_pending() {
    // GIVEN a served secret holding the legacy client, with a rotation begun
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.store.begin_rotation(&arn);
    // WHEN createSecret runs
    let outcome = f.step(&arn, &token, Step::CreateSecret).await.unwrap();
    // THEN a new client named for the token, marked as the secret's and active, is stored in
    // AWSPENDING with its secret, and AWSCURRENT still holds the legacy client
    let StepOutcome::Created {
        client_id,
        replaced_lost_clients,
    } = outcome
    else {
        panic!("expected Created, got {outcome:?}");
    };
    assert_eq!(replaced_lost_clients, 0);
    let client = f.client(&client_id).expect("the new client exists");
    assert_eq!(client.name, format!("{PREFIX}{token}"));
    assert_eq!(client.state, ClientState::Active);
    assert!(client
        .description
        .as_deref()
        .is_some_and(|d| d.contains(&genesys_core::guard::ownership::description(&arn, None))));
    assert_eq!(f.store.version_with(&arn, AWSPENDING).as_deref(), Some(token.as_str()));
    let pending = f.value(&arn, AWSPENDING);
    assert_eq!(pending["clientId"], client_id.as_str());
    assert_eq!(pending["clientSecret"], client.secret.as_str());
    assert_eq!(pending["namePrefix"], PREFIX, "other fields are carried forward");
    assert_eq!(f.value(&arn, AWSCURRENT)["clientId"], f.legacy_id.as_str());
}

#[tokio::test]
async fn a_retried_create_secret_with_a_stored_value_answers_already_created_and_deletes_lost_clients() {
    // GIVEN a createSecret that stored its client, and a lost client of an earlier attempt for
    // the same token (named and marked for it, its secret never stored)
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.store.begin_rotation(&arn);
    let stored = f.step(&arn, &token, Step::CreateSecret).await.unwrap();
    let stored_id = stored.client_id().unwrap().to_owned();
    let lost = f.seed_attempt_client(&arn, &token);
    // WHEN createSecret is retried with the same token
    let outcome = f.step(&arn, &token, Step::CreateSecret).await.unwrap();
    // THEN it answers AlreadyCreated, deletes the lost client, keeps the stored one and its value
    assert_eq!(outcome, StepOutcome::AlreadyCreated);
    assert!(f.client(&lost.id).is_none(), "the lost client is deleted");
    assert_eq!(f.emulator.deleted_client_ids(), vec![lost.id]);
    assert_eq!(f.client(&stored_id).unwrap().state, ClientState::Active);
    assert_eq!(f.value(&arn, AWSPENDING)["clientId"], stored_id.as_str());
}

#[tokio::test]
async fn a_create_secret_whose_put_is_refused_because_another_attempt_stored_first_deletes_its_client() {
    // GIVEN a rotation begun, and another attempt that makes its client and stores it just before
    // this attempt's PutSecretValue
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.store.begin_rotation(&arn);
    let theirs = f.seed_attempt_client(&arn, &token);
    let their_value = f.integration_json(&theirs.id, &theirs.secret, PREFIX).to_string();
    let (a, t) = (arn.clone(), token.clone());
    f.store.before_next(SecretsManagerCall::PutSecretValue, move |store| {
        store.insert_version(&a, &t, Some(&their_value), &[AWSPENDING]);
    });
    let clients_before: Vec<String> = f.emulator.clients().into_iter().map(|c| c.id).collect();
    // WHEN createSecret runs (its put is refused: the version holds other content)
    let outcome = f.step(&arn, &token, Step::CreateSecret).await.unwrap();
    // THEN it answers AlreadyCreated, the client it made is deleted, and the other attempt's
    // client and value stay
    assert_eq!(outcome, StepOutcome::AlreadyCreated);
    assert!(!f.store.armed(), "the other attempt stored first");
    let deleted = f.emulator.deleted_client_ids();
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert!(
        !clients_before.contains(&deleted[0]),
        "the deleted client is the one this attempt made"
    );
    assert_eq!(f.client(&theirs.id).unwrap().state, ClientState::Active);
    assert_eq!(f.value(&arn, AWSPENDING)["clientId"], theirs.id.as_str());
    assert_eq!(f.emulator.clients().len(), clients_before.len());
}

// ---------------------------------------------------------------------------------------------
// setSecret

#[tokio::test]
async fn set_secret_confirms_a_pending_client_that_is_present_and_active() {
    // GIVEN a createSecret that stored a new client
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.store.begin_rotation(&arn);
    let created = f.step(&arn, &token, Step::CreateSecret).await.unwrap();
    // WHEN setSecret runs
    let outcome = f.step(&arn, &token, Step::SetSecret).await.unwrap();
    // THEN it confirms that client
    assert_eq!(
        outcome,
        StepOutcome::Confirmed {
            client_id: created.client_id().unwrap().to_owned()
        }
    );
}

#[tokio::test]
async fn set_secret_refuses_a_pending_client_that_does_not_exist() {
    // GIVEN a pending value naming a client the org does not have
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.store.begin_rotation(&arn);
    let missing = "00000000-0000-4000-8000-000000000000";
    let value = f.integration_json(missing, "not-a-real-secret", PREFIX).to_string();
    f.store.put_pending(&arn, &token, &value.into(), None).await.unwrap();
    // WHEN setSecret runs
    let result = f.step(&arn, &token, Step::SetSecret).await;
    // THEN it fails as PendingClient saying the client does not exist
    assert!(
        matches!(&result, Err(RotationError::PendingClient(m)) if m.contains("does not exist")),
        "{result:?}"
    );
}

#[tokio::test]
async fn set_secret_refuses_a_pending_client_with_the_wrong_name() {
    // GIVEN a pending value naming an existing, active client not named for the token (the
    // legacy one)
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.store.begin_rotation(&arn);
    let value = f.integration_json(&f.legacy_id, &f.legacy_secret, PREFIX).to_string();
    f.store.put_pending(&arn, &token, &value.into(), None).await.unwrap();
    // WHEN setSecret runs
    let result = f.step(&arn, &token, Step::SetSecret).await;
    // THEN it fails as PendingClient naming the expected name
    let expected = format!("{PREFIX}{token}");
    assert!(
        matches!(&result, Err(RotationError::PendingClient(m)) if m.contains("is named") && m.contains(&expected)),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// testSecret

#[tokio::test]
async fn test_secret_gets_a_token_that_names_the_pending_client() {
    // GIVEN a createSecret that stored a new client (no propagation delay)
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.store.begin_rotation(&arn);
    let created = f.step(&arn, &token, Step::CreateSecret).await.unwrap();
    // WHEN testSecret runs
    let outcome = f.step(&arn, &token, Step::TestSecret).await.unwrap();
    // THEN the pending credential worked at the first attempt
    assert_eq!(
        outcome,
        StepOutcome::Tested {
            client_id: created.client_id().unwrap().to_owned(),
            attempts: 1
        }
    );
}

#[tokio::test]
async fn test_secret_waits_for_a_new_client_to_propagate() {
    // GIVEN an org whose new clients get no token for 700 ms, and a client just created there
    let f = Fixture::with_config(EmulatorConfig {
        propagation_delay: Duration::from_millis(700),
        ..EmulatorConfig::default()
    })
    .await;
    let arn = f.integration_secret();
    let token = f.store.begin_rotation(&arn);
    let created = f.step(&arn, &token, Step::CreateSecret).await.unwrap();
    // WHEN testSecret runs at once
    let outcome = f.step(&arn, &token, Step::TestSecret).await.unwrap();
    // THEN it retries until the client works, and reports the attempts it took
    let StepOutcome::Tested { client_id, attempts } = outcome else {
        panic!("expected Tested, got {outcome:?}");
    };
    assert_eq!(Some(client_id.as_str()), created.client_id());
    assert!(attempts >= 2, "attempts: {attempts}");
}

#[tokio::test]
async fn test_secret_alone_without_a_pending_value_checks_the_configuration() {
    // GIVEN a rotation begun with nothing stored yet (rotate-secret --no-rotate-immediately)
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.store.begin_rotation(&arn);
    let clients_before = f.emulator.clients().len();
    // WHEN testSecret runs alone
    let outcome = f.step(&arn, &token, Step::TestSecret).await.unwrap();
    // THEN it checks the master and the current credential instead, changing nothing
    assert_eq!(
        outcome,
        StepOutcome::ConfigurationChecked {
            master_client_id: f.master_id.clone(),
            current_client_id: f.legacy_id.clone(),
        }
    );
    assert_eq!(f.emulator.clients().len(), clients_before);
    assert_eq!(f.store.value(&arn, AWSPENDING), None);
}

// ---------------------------------------------------------------------------------------------
// finishSecret

#[tokio::test]
async fn finish_secret_promotes_the_pending_version_and_retires_the_old_client_through_the_drain_queue() {
    // GIVEN a createSecret that stored a new client in place of the legacy one
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let old_version = f.store.version_with(&arn, AWSCURRENT).unwrap();
    let token = f.store.begin_rotation(&arn);
    let created = f.step(&arn, &token, Step::CreateSecret).await.unwrap();
    let new_id = created.client_id().unwrap().to_owned();
    // WHEN finishSecret runs
    let outcome = f.step(&arn, &token, Step::FinishSecret).await.unwrap();
    // THEN AWSCURRENT is on the token, AWSPREVIOUS on the old version; the legacy client is
    // deactivated and its deletion queued for after its tokens' lifetime plus the margin
    assert_eq!(
        outcome,
        StepOutcome::Promoted {
            previous_version: old_version.clone(),
            client_id: new_id.clone()
        }
    );
    assert_eq!(f.store.version_with(&arn, AWSCURRENT).as_deref(), Some(token.as_str()));
    assert_eq!(f.store.version_with(&arn, AWSPREVIOUS), Some(old_version.clone()));
    assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Inactive);
    assert_eq!(f.client(&new_id).unwrap().state, ClientState::Active);
    let sent = f.queue.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let message = &sent[0].message;
    assert_eq!(message.client_id, f.legacy_id);
    assert_eq!(message.secret_arn, arn);
    assert_eq!(message.secret_version_id, old_version);
    assert_eq!(message.client_name, "crm-legacy-integration");
    // The legacy client's tokens live 86400 s (the seed's default); the margin is one hour.
    assert_eq!(
        message.not_before - message.retired_at,
        time::Duration::seconds(86_400 + 3600)
    );
    assert_eq!(sent[0].delay, MAX_SQS_DELAY);
}

#[tokio::test]
async fn a_finish_secret_retried_after_the_move_only_retires() {
    // GIVEN a finishSecret whose UpdateSecretVersionStage applied but whose answer was lost
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.created(&arn).await;
    f.store.fail_next_after(SecretsManagerCall::UpdateSecretVersionStage);
    let first = f.step(&arn, &token, Step::FinishSecret).await;
    assert!(
        matches!(&first, Err(RotationError::Store(e @ StoreError::Transient { .. })) if e.is_retryable()),
        "{first:?}"
    );
    assert_eq!(
        crate::error_type::error_type(&first.unwrap_err()),
        "Retryable.SecretsManagerUnavailable.UpdateSecretVersionStage",
        "the errorType names the call that failed"
    );
    assert_eq!(f.store.version_with(&arn, AWSCURRENT).as_deref(), Some(token.as_str()));
    assert!(f.queue.sent().is_empty(), "nothing retired yet");
    // WHEN finishSecret is retried
    let outcome = f.step(&arn, &token, Step::FinishSecret).await.unwrap();
    // THEN it answers AlreadyCurrent without moving a label again, and retires the old client
    assert_eq!(outcome, StepOutcome::AlreadyCurrent);
    assert_eq!(f.store.call_count(SecretsManagerCall::UpdateSecretVersionStage), 1);
    assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Inactive);
    let sent = f.queue.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].message.client_id, f.legacy_id);
}

#[tokio::test]
async fn a_finish_secret_whose_drain_message_is_lost_names_the_send_and_its_retry_sends_it() {
    // GIVEN a rotation at finishSecret, and a drain queue that fails the next send
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.created(&arn).await;
    f.queue.fail_next();
    // WHEN finishSecret runs
    let first = f.step(&arn, &token, Step::FinishSecret).await.unwrap_err();
    // THEN it fails retryably with an errorType naming SQS's SendMessage, the old client
    // already inactive; the retry sends the message
    assert_eq!(
        crate::error_type::error_type(&first),
        "Retryable.SqsUnavailable.SendMessage",
        "{first}"
    );
    assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Inactive);
    assert!(f.queue.sent().is_empty());
    assert_eq!(
        f.step(&arn, &token, Step::FinishSecret).await.unwrap(),
        StepOutcome::AlreadyCurrent
    );
    assert_eq!(f.queue.sent().len(), 1);
}

#[tokio::test]
async fn the_retirement_guard_keeps_a_client_another_served_secret_holds() {
    // GIVEN two served secrets holding the same legacy client, one of them rotating
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let other = f.integration_json(&f.legacy_id, &f.legacy_secret, "crm-other-");
    f.store.create_served_secret("genesys/other", &other.to_string());
    let token = f.created(&arn).await;
    // WHEN finishSecret runs
    let outcome = f.step(&arn, &token, Step::FinishSecret).await.unwrap();
    // THEN AWSCURRENT moves, but the legacy client stays active and no deletion is queued
    assert!(matches!(outcome, StepOutcome::Promoted { .. }), "{outcome:?}");
    assert_eq!(f.store.version_with(&arn, AWSCURRENT).as_deref(), Some(token.as_str()));
    assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Active);
    assert!(f.queue.sent().is_empty());
}

#[tokio::test]
async fn the_retirement_guard_keeps_a_masters_client() {
    // GIVEN a served secret whose current client is the master's own, rotating
    let f = Fixture::new().await;
    let master_secret = f.value(&f.master_arn, AWSCURRENT)["clientSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    let value = f.integration_json(&f.master_id, &master_secret, PREFIX);
    let arn = f
        .store
        .create_served_secret("genesys/pasted-master", &value.to_string());
    let token = f.created(&arn).await;
    // WHEN finishSecret runs
    let outcome = f.step(&arn, &token, Step::FinishSecret).await.unwrap();
    // THEN AWSCURRENT moves, but the master client stays active and no deletion is queued
    assert!(matches!(outcome, StepOutcome::Promoted { .. }), "{outcome:?}");
    assert_eq!(f.client(&f.master_id).unwrap().state, ClientState::Active);
    assert!(f.queue.sent().is_empty());
}

// ---------------------------------------------------------------------------------------------
// The master's own rotation

#[tokio::test]
async fn a_master_rotation_renews_the_secret_of_the_same_client() {
    // GIVEN the master secret, with a rotation begun
    let f = Fixture::new().await;
    let old_version = f.store.version_with(&f.master_arn, AWSCURRENT).unwrap();
    let old_secret = f.value(&f.master_arn, AWSCURRENT)["clientSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = f.store.begin_rotation(&f.master_arn);
    // WHEN the four steps run
    let mut outcomes = Vec::new();
    for step in Step::ALL {
        outcomes.push(f.step(&f.master_arn, &token, step).await.unwrap());
    }
    // THEN the same client got a new secret, now in AWSCURRENT; the old secret is refused; the
    // recovery label is gone (its version kept, unlabelled); nothing was retired
    let id = f.master_id.clone();
    assert_eq!(
        outcomes,
        vec![
            StepOutcome::SecretRenewed {
                client_id: id.clone(),
                recovered: false
            },
            StepOutcome::Confirmed { client_id: id.clone() },
            StepOutcome::Tested {
                client_id: id.clone(),
                attempts: 1
            },
            StepOutcome::Promoted {
                previous_version: old_version.clone(),
                client_id: id.clone()
            },
        ]
    );
    let current = f.value(&f.master_arn, AWSCURRENT);
    assert_eq!(current["clientId"], id.as_str());
    let master = f.client(&id).unwrap();
    assert_eq!(current["clientSecret"], master.secret.as_str());
    assert_eq!(master.state, ClientState::Active);
    assert!(f.emulator.token_grantable(&id, &old_secret).is_err());
    assert_eq!(f.store.version_with(&f.master_arn, AWSPREVIOUS), Some(old_version));
    assert_eq!(f.store.version_with(&f.master_arn, RECOVERY_STAGE), None);
    let versions = f.store.version_ids(&f.master_arn).await.unwrap();
    assert_eq!(
        versions.len(),
        3,
        "old, new and the unlabelled recovery version: {versions:?}"
    );
    assert!(f.queue.sent().is_empty());
}

// ---- carrying the current client's definition (issue 14) -------------------------------------

const IP_FIELD: &str = "allowedIpAddresses";

fn requiring_ip_field() -> EmulatorConfig {
    EmulatorConfig {
        required_client_fields: vec![IP_FIELD.to_owned()],
        ..EmulatorConfig::default()
    }
}

impl Fixture {
    /// A served secret holding a fresh hand-made client with `fields` (unknown to the SDK), and
    /// `extra` merged into the secret's JSON. Returns the ARN and the client id.
    fn secret_for_client_with(&self, name: &str, fields: Value, extra: Value) -> (String, String) {
        let mut seed = SeedClient::new(name, &["conversation:communication:view"]);
        seed.fields = fields.as_object().cloned().unwrap_or_default();
        let client = self.emulator.seed_client(seed);
        let mut value = self.integration_json(&client.id, &client.secret, PREFIX);
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            value[k] = v;
        }
        let arn = self
            .store
            .create_served_secret(&format!("genesys/{name}"), &value.to_string());
        (arn, client.id)
    }

    async fn rotate(&self, arn: &str) -> Result<String, RotationError> {
        let token = self.store.begin_rotation(arn);
        for step in [
            Step::CreateSecret,
            Step::SetSecret,
            Step::TestSecret,
            Step::FinishSecret,
        ] {
            self.step(arn, &token, step).await?;
        }
        Ok(self.value(arn, AWSCURRENT)["clientId"].as_str().unwrap().to_owned())
    }
}

#[tokio::test]
async fn in_an_org_requiring_a_field_the_new_client_carries_it_from_the_current_one_and_the_rotation_succeeds() {
    // GIVEN an org that requires an allowed-IP field on new clients, and a current client that
    // holds it and another field this code does not know
    let f = Fixture::with_config(requiring_ip_field()).await;
    let fields = json!({IP_FIELD: ["192.0.2.0/24"], "futureSetting": {"mode": "strict"}});
    let (arn, old_id) = f.secret_for_client_with("crm-ip", fields.clone(), json!({}));
    // WHEN the secret is rotated, twice
    let first = f.rotate(&arn).await.expect("the first rotation succeeds");
    let second = f.rotate(&arn).await.expect("the second rotation succeeds");
    // THEN each new client carries both fields as they were, and AWSCURRENT holds the last one
    for id in [&first, &second] {
        assert_ne!(id, &old_id);
        let client = f.client(id).expect("the new client exists");
        assert_eq!(Value::Object(client.fields), fields, "{id}");
        assert!(client.name.starts_with(PREFIX));
    }
    assert_eq!(f.value(&arn, AWSCURRENT)["clientId"], second.as_str());
}

#[tokio::test]
async fn in_an_org_requiring_a_field_a_current_client_without_it_makes_create_secret_fail_and_nothing_changes() {
    // GIVEN an org that requires the field, and a current client (the legacy one) without it
    let f = Fixture::with_config(requiring_ip_field()).await;
    let arn = f.integration_secret();
    let before = f.emulator.clients();
    let current_before = f.value(&arn, AWSCURRENT);
    let token = f.store.begin_rotation(&arn);
    // WHEN createSecret runs
    let err = f.step(&arn, &token, Step::CreateSecret).await.unwrap_err();
    // THEN it fails, not retryable, with Genesys' message naming the field
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains(IP_FIELD), "{err}");
    assert!(
        crate::error_type::error_type(&err).starts_with("NonRetryable."),
        "{}",
        crate::error_type::error_type(&err)
    );
    // AND no client was made or changed, AWSPENDING holds no value, AWSCURRENT is unchanged
    assert_eq!(f.emulator.clients(), before);
    assert!(f.store.value_of_version(&arn, &token).is_none());
    assert_eq!(f.value(&arn, AWSCURRENT), current_before);
}

#[tokio::test]
async fn client_fields_in_the_secret_set_a_field_the_current_client_lacks() {
    // GIVEN an org requiring the field, a current client without it, and the secret's
    // clientFields setting it (and overriding nothing else)
    let f = Fixture::with_config(requiring_ip_field()).await;
    let (arn, _) = f.secret_for_client_with(
        "crm-no-ip",
        json!({"futureSetting": 1}),
        json!({"clientFields": {IP_FIELD: ["198.51.100.0/24"]}}),
    );
    // WHEN rotated THEN the new client has the explicit field and the carried one
    let id = f.rotate(&arn).await.expect("the rotation succeeds");
    let client = f.client(&id).unwrap();
    assert_eq!(client.fields[IP_FIELD], json!(["198.51.100.0/24"]));
    assert_eq!(client.fields["futureSetting"], json!(1));
    // AND the next version still holds clientFields, so the next rotation sets it too
    assert_eq!(
        f.value(&arn, AWSCURRENT)["clientFields"],
        json!({IP_FIELD: ["198.51.100.0/24"]})
    );
}

#[tokio::test]
async fn client_fields_naming_an_owned_field_fail_create_secret_before_any_call() {
    // GIVEN a secret whose clientFields tries to set the client's name
    let f = Fixture::new().await;
    let (arn, _) = f.secret_for_client_with("crm-bad", json!({}), json!({"clientFields": {"name": "mine"}}));
    let before = f.emulator.clients();
    let token = f.store.begin_rotation(&arn);
    // WHEN createSecret runs
    let err = f.step(&arn, &token, Step::CreateSecret).await.unwrap_err();
    // THEN it fails as an invalid secret naming the field, and Genesys saw no call
    assert_eq!(crate::error_type::error_type(&err), "NonRetryable.InvalidSecret");
    assert!(
        err.to_string().contains("clientFields") && err.to_string().contains("`name`"),
        "{err}"
    );
    assert_eq!(f.emulator.clients(), before);
    assert!(f.emulator.call_counts().is_empty(), "{:?}", f.emulator.call_counts());
    assert!(f.store.value_of_version(&arn, &token).is_none());
}

#[tokio::test]
async fn a_current_client_that_is_gone_does_not_stop_a_rotation_that_needs_nothing_carried() {
    // GIVEN a secret whose current client no longer exists in Genesys (an org requiring no field)
    let f = Fixture::new().await;
    let value = f.integration_json("7e1c0000-0000-4000-8000-00000000dead", "gone-secret", PREFIX);
    let arn = f.store.create_served_secret("genesys/gone", &value.to_string());
    let token = f.store.begin_rotation(&arn);
    // WHEN createSecret runs THEN it builds the client from the secret alone and succeeds
    let outcome = f.step(&arn, &token, Step::CreateSecret).await.unwrap();
    let id = outcome.client_id().unwrap();
    let client = f.client(id).unwrap();
    assert!(client.fields.is_empty());
    assert_eq!(client.access_token_validity_seconds, 3600);
}

#[tokio::test]
async fn a_failed_step_records_its_time_step_and_error_type_on_the_secret_and_keeps_its_error() {
    // GIVEN a rotation whose PutSecretValue fails
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.store.begin_rotation(&arn);
    f.store.fail_next(SecretsManagerCall::PutSecretValue);
    // WHEN createSecret runs
    let err = f.step(&arn, &token, Step::CreateSecret).await.unwrap_err();
    // THEN the step's own error comes back, and the secret's tags record it beside the served tag
    assert_eq!(
        crate::error_type::error_type(&err),
        "Retryable.SecretsManagerUnavailable.PutSecretValue"
    );
    let tags = f.store.describe(&arn).await.unwrap().tags;
    let [at, step, error_type] = crate::store::LAST_FAILURE_TAGS;
    assert_eq!(tags[step], "createSecret");
    assert_eq!(tags[error_type], "Retryable.SecretsManagerUnavailable.PutSecretValue");
    assert!(time::OffsetDateTime::parse(&tags[at], &time::format_description::well_known::Rfc3339).is_ok());
    assert!(tags.contains_key(crate::store::SERVED_TAG));

    // GIVEN the record cannot be written WHEN a step fails THEN its own error is unchanged
    let before = f.store.call_count(SecretsManagerCall::TagResource);
    f.store.fail_next(SecretsManagerCall::TagResource);
    let other = f
        .step(&arn, "00000000-0000-4000-8000-000000000000", Step::SetSecret)
        .await
        .unwrap_err();
    assert!(matches!(other, RotationError::UnknownVersion { .. }), "{other:?}");
    assert_eq!(f.store.call_count(SecretsManagerCall::TagResource), before + 1);
}
