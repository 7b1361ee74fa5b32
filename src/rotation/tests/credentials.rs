//! Unit tests of the integration credentials a secret keeps in step (`integrationCredentials`):
//! checked at createSecret before anything changes, given the new client at finishSecret before
//! the old one is retired, with a fault at each of the new calls and the retry finishing.
//!
//! Each test says what it starts from (GIVEN), what it does (WHEN) and what must hold (THEN).

use genesys_core::classify::Classify;
use genesys_core::guard::ownership::CredentialRefusal;
use genesys_emulator::{routes, ClientState, CredentialRecord, Fault, FaultAction, SeedClient, SeedCredential};
use serde_json::{json, Value};

use super::{Fixture, PREFIX};
use crate::rotation::{RotationError, Step, StepOutcome};
use crate::secret_format::IntegrationSecret;
use crate::store::{SecretsManagerCall, AWSCURRENT, AWSPENDING};

/// More failures than the client's retry policy makes attempts (5): the step fails.
const PERSISTENT: u32 = 5;

impl Fixture {
    /// A Data Actions credential holding `client_id` (with `secret`).
    fn credential_for(&self, client_id: &str, secret: &str) -> String {
        self.emulator
            .seed_credential(SeedCredential::oauth_client("crm-data-actions", client_id, secret))
            .id
    }

    /// A served integration secret holding the legacy client and listing `credentials` (named
    /// after the first one, so a test may make several).
    fn secret_listing(&self, credentials: &[&str]) -> String {
        let mut value = self.integration_json(&self.legacy_id, &self.legacy_secret, PREFIX);
        value["integrationCredentials"] = json!(credentials);
        let name = format!("genesys/crm-{}", credentials.first().copied().unwrap_or("none"));
        self.store.create_served_secret(&name, &value.to_string())
    }

    fn credential(&self, id: &str) -> CredentialRecord {
        self.emulator
            .credentials()
            .into_iter()
            .find(|c| c.id == id)
            .expect("the credential exists")
    }

    /// setSecret, testSecret and finishSecret of `token`.
    async fn to_the_end(&self, arn: &str, token: &str) -> Result<StepOutcome, RotationError> {
        self.step(arn, token, Step::SetSecret).await?;
        self.step(arn, token, Step::TestSecret).await?;
        self.step(arn, token, Step::FinishSecret).await
    }

    /// Asserts that the credential holds the client AWSCURRENT of `arn` holds, with its secret.
    fn assert_holds_current(&self, arn: &str, credential_id: &str) {
        let current: Value = self.value(arn, AWSCURRENT);
        let c = self.credential(credential_id);
        assert_eq!(c.fields["clientId"], current["clientId"].as_str().unwrap());
        assert_eq!(c.fields["clientSecret"], current["clientSecret"].as_str().unwrap());
    }

    /// Asserts the rotation did not get past the old client: AWSCURRENT still holds it, and it
    /// is active and not queued for deletion.
    fn assert_old_client_untouched(&self, arn: &str) {
        assert_eq!(self.value(arn, AWSCURRENT)["clientId"], self.legacy_id.as_str());
        assert_eq!(self.client(&self.legacy_id).unwrap().state, ClientState::Active);
        assert!(self.queue.sent().is_empty(), "{:?}", self.queue.sent());
    }
}

fn refusal(result: &Result<StepOutcome, RotationError>) -> (&str, &CredentialRefusal) {
    match result {
        Err(RotationError::Credential { source, .. }) => (source.credential_id.as_str(), &source.refusal),
        other => panic!("expected a refused credential, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rotation_gives_each_listed_credential_the_new_client_before_retiring_the_old_one() {
    // GIVEN a secret listing two Data Actions credentials that hold its client
    let f = Fixture::new().await;
    let a = f.credential_for(&f.legacy_id, &f.legacy_secret);
    let b = f.credential_for(&f.legacy_id, &f.legacy_secret);
    let arn = f.secret_listing(&[&a, &b]);
    // WHEN a whole rotation runs
    let token = f.created(&arn).await;
    assert_eq!(f.credential(&a).updates, 0, "createSecret only reads them");
    let outcome = f.to_the_end(&arn, &token).await.unwrap();
    // THEN both hold the new client and its secret, once each, and the old client is retired
    // only after both were written
    assert!(matches!(outcome, StepOutcome::Promoted { .. }), "{outcome:?}");
    for id in [&a, &b] {
        f.assert_holds_current(&arn, id);
        assert_eq!(f.credential(id).updates, 1);
    }
    assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Inactive);
    let routes: Vec<String> = f.emulator.calls().into_iter().map(|c| c.route).collect();
    let last_put = routes.iter().rposition(|r| r == routes::UPDATE_CREDENTIAL).unwrap();
    let deactivation = routes.iter().position(|r| r == routes::UPDATE_CLIENT).unwrap();
    assert!(last_put < deactivation, "{routes:?}");
    assert_eq!(f.queue.sent().len(), 1);
}

#[tokio::test]
async fn a_credential_id_that_does_not_exist_fails_create_secret_before_anything_changes() {
    // GIVEN a secret listing one real credential and one id the org does not have
    let f = Fixture::new().await;
    let a = f.credential_for(&f.legacy_id, &f.legacy_secret);
    let arn = f.secret_listing(&[&a, "7e1d0c1a-0000-4000-8000-00000000dead"]);
    let token = f.store.begin_rotation(&arn);
    let clients_before = f.emulator.clients().len();
    // WHEN createSecret runs
    let result = f.step(&arn, &token, Step::CreateSecret).await;
    // THEN it fails for good naming the id, and no client is made, nothing stored or written
    let (id, why) = refusal(&result);
    assert_eq!(
        (id, why),
        ("7e1d0c1a-0000-4000-8000-00000000dead", &CredentialRefusal::NotFound)
    );
    let e = result.unwrap_err();
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("7e1d0c1a-0000-4000-8000-00000000dead") && e.to_string().contains(&arn));
    assert_eq!(
        crate::error_type::error_type(&e),
        "NonRetryable.IntegrationCredentialNotFound"
    );
    assert_eq!(f.emulator.clients().len(), clients_before);
    assert_eq!(f.store.call_count(SecretsManagerCall::PutSecretValue), 0);
    assert_eq!(f.credential(&a).updates, 0);
}

#[tokio::test]
async fn a_credential_holding_another_client_or_of_another_type_is_refused_and_left_alone() {
    // GIVEN credentials holding a client of another team, and a basic-auth credential
    let f = Fixture::new().await;
    let theirs = f
        .emulator
        .seed_client(SeedClient::new("erp-integration", &["conversation:communication:view"]));
    let foreign = f.credential_for(&theirs.id, &theirs.secret);
    let basic = f
        .emulator
        .seed_credential(SeedCredential {
            name: "web service".into(),
            type_name: "basicAuth".into(),
            fields: [("userName".to_string(), f.legacy_id.clone())].into(),
        })
        .id;
    for (listed, expected) in [
        (&foreign, CredentialRefusal::HeldByOther(theirs.id.clone())),
        (&basic, CredentialRefusal::UnsupportedType(Some("basicAuth".into()))),
    ] {
        let arn = f.secret_listing(&[listed]);
        let token = f.store.begin_rotation(&arn);
        let clients_before = f.emulator.clients().len();
        // WHEN createSecret runs
        let result = f.step(&arn, &token, Step::CreateSecret).await;
        // THEN it is refused for good, naming the credential, and nothing changes
        assert_eq!(refusal(&result), (listed.as_str(), &expected));
        assert!(!result.unwrap_err().is_retryable());
        assert_eq!(f.emulator.clients().len(), clients_before);
        assert_eq!(f.credential(listed).updates, 0);
    }
    assert_eq!(f.credential(&foreign).fields["clientId"], theirs.id);
}

#[tokio::test]
async fn a_credential_taken_over_by_another_client_before_finish_stops_the_rotation_with_none_written() {
    // GIVEN a rotation past testSecret whose second credential meanwhile holds another client
    let f = Fixture::new().await;
    let a = f.credential_for(&f.legacy_id, &f.legacy_secret);
    let b = f.credential_for(&f.legacy_id, &f.legacy_secret);
    let arn = f.secret_listing(&[&a, &b]);
    let token = f.created(&arn).await;
    f.step(&arn, &token, Step::TestSecret).await.unwrap();
    let theirs = f.emulator.seed_client(SeedClient::new("other-team", &[]));
    let current = IntegrationSecret::parse(&f.store.value(&arn, AWSCURRENT).unwrap()).unwrap();
    let master = f.rotator.deployment().master(&current).await.unwrap();
    let b_id = genesys_core::domain::CredentialId::parse(&b).unwrap();
    let held = master.get_credential(&b_id).await.unwrap().unwrap();
    master
        .update_credential(&b_id, &held.with_client(&theirs.id, &theirs.secret.clone().into()))
        .await
        .unwrap();
    // WHEN finishSecret runs
    let result = f.step(&arn, &token, Step::FinishSecret).await;
    // THEN it is refused for good, no credential is written, and the old client is untouched
    assert_eq!(
        refusal(&result),
        (b.as_str(), &CredentialRefusal::HeldByOther(theirs.id.clone()))
    );
    assert_eq!(f.credential(&a).updates, 0);
    assert_eq!(f.credential(&b).fields["clientId"], theirs.id);
    f.assert_old_client_untouched(&arn);
}

#[tokio::test]
async fn a_failing_read_at_create_secret_fails_it_retryably_with_nothing_made_and_the_retry_goes_on() {
    // GIVEN a secret listing a credential, and Genesys failing its reads for a while
    let f = Fixture::new().await;
    let a = f.credential_for(&f.legacy_id, &f.legacy_secret);
    let arn = f.secret_listing(&[&a]);
    let token = f.store.begin_rotation(&arn);
    let clients_before = f.emulator.clients().len();
    f.emulator.inject_fault(
        Fault::new(
            routes::GET_CREDENTIAL,
            FaultAction::Status {
                status: 503,
                retry_after: None,
            },
        )
        .times(PERSISTENT),
    );
    // WHEN createSecret runs, then again
    let first = f.step(&arn, &token, Step::CreateSecret).await;
    // THEN the first fails retryably naming the call, before any client is made
    let e = first.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert_eq!(
        crate::error_type::error_type(&e),
        "Retryable.GenesysServerError.GetCredential"
    );
    assert_eq!(f.emulator.clients().len(), clients_before);
    // and the retry makes the client, and the rotation finishes with the credential in step
    assert!(matches!(
        f.step(&arn, &token, Step::CreateSecret).await.unwrap(),
        StepOutcome::Created { .. }
    ));
    f.to_the_end(&arn, &token).await.unwrap();
    f.assert_holds_current(&arn, &a);
}

#[tokio::test]
async fn a_failing_read_at_finish_secret_stops_it_before_the_old_client_is_touched_and_the_retry_finishes() {
    // GIVEN a rotation past testSecret, and Genesys failing credential reads for a while
    let f = Fixture::new().await;
    let a = f.credential_for(&f.legacy_id, &f.legacy_secret);
    let arn = f.secret_listing(&[&a]);
    let token = f.created(&arn).await;
    f.step(&arn, &token, Step::TestSecret).await.unwrap();
    f.emulator.inject_fault(
        Fault::new(
            routes::GET_CREDENTIAL,
            FaultAction::Status {
                status: 500,
                retry_after: None,
            },
        )
        .times(PERSISTENT),
    );
    // WHEN finishSecret runs
    let first = f.step(&arn, &token, Step::FinishSecret).await;
    // THEN it fails retryably with nothing written and the old client untouched
    let e = first.unwrap_err();
    assert_eq!(
        crate::error_type::error_type(&e),
        "Retryable.GenesysServerError.GetCredential"
    );
    assert_eq!(f.credential(&a).updates, 0);
    f.assert_old_client_untouched(&arn);
    // WHEN it is retried, THEN it finishes
    f.step(&arn, &token, Step::FinishSecret).await.unwrap();
    f.assert_holds_current(&arn, &a);
    assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Inactive);
}

#[tokio::test]
async fn an_update_whose_answers_are_lost_fails_the_step_and_the_retry_redoes_it() {
    // GIVEN a rotation past testSecret, and every answer to a credential PUT lost for a while
    // (Genesys applied each one)
    let f = Fixture::new().await;
    let a = f.credential_for(&f.legacy_id, &f.legacy_secret);
    let arn = f.secret_listing(&[&a]);
    let token = f.created(&arn).await;
    f.step(&arn, &token, Step::TestSecret).await.unwrap();
    f.emulator
        .inject_fault(Fault::new(routes::UPDATE_CREDENTIAL, FaultAction::DropAfterApply).times(PERSISTENT));
    // WHEN finishSecret runs
    let first = f.step(&arn, &token, Step::FinishSecret).await;
    // THEN it fails retryably (the credential already holds the new client), old client untouched
    let e = first.unwrap_err();
    assert_eq!(
        crate::error_type::error_type(&e),
        "Retryable.GenesysUnreachable.UpdateCredential"
    );
    let pending: Value = f.value(&arn, AWSPENDING);
    assert_eq!(
        f.credential(&a).fields["clientId"],
        pending["clientId"].as_str().unwrap()
    );
    f.assert_old_client_untouched(&arn);
    // WHEN it is retried, THEN the credential (holding the new client: still ours) is written
    // again and the rotation finishes
    f.step(&arn, &token, Step::FinishSecret).await.unwrap();
    f.assert_holds_current(&arn, &a);
    assert_eq!(f.credential(&a).updates, PERSISTENT + 1);
    assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Inactive);
}

#[tokio::test]
async fn an_update_that_keeps_failing_leaves_the_old_client_active_and_unqueued() {
    // GIVEN a rotation past testSecret whose credential updates Genesys keeps refusing
    let f = Fixture::new().await;
    let a = f.credential_for(&f.legacy_id, &f.legacy_secret);
    let arn = f.secret_listing(&[&a]);
    let token = f.created(&arn).await;
    f.step(&arn, &token, Step::TestSecret).await.unwrap();
    let refused = FaultAction::Status {
        status: 403,
        retry_after: None,
    };
    f.emulator
        .inject_fault(Fault::new(routes::UPDATE_CREDENTIAL, refused.clone()).times(3));
    // WHEN finishSecret runs, again and again
    for _ in 0..3 {
        let e = f.step(&arn, &token, Step::FinishSecret).await.unwrap_err();
        // THEN each fails for good naming the call (the master lacks the permission), and the
        // rotation never gets past the old client
        assert_eq!(
            crate::error_type::error_type(&e),
            "NonRetryable.GenesysPermissionDenied.UpdateCredential"
        );
        f.assert_old_client_untouched(&arn);
        assert_eq!(f.store.version_with(&arn, AWSPENDING).as_deref(), Some(token.as_str()));
    }
    assert_eq!(f.credential(&a).fields["clientId"], f.legacy_id);
}

#[tokio::test]
async fn a_finish_secret_retried_after_the_move_writes_the_credentials_again_before_retiring() {
    // GIVEN a finishSecret whose UpdateSecretVersionStage applied but whose answer was lost
    let f = Fixture::new().await;
    let a = f.credential_for(&f.legacy_id, &f.legacy_secret);
    let arn = f.secret_listing(&[&a]);
    let token = f.created(&arn).await;
    f.step(&arn, &token, Step::TestSecret).await.unwrap();
    f.store.fail_next_after(SecretsManagerCall::UpdateSecretVersionStage);
    f.step(&arn, &token, Step::FinishSecret).await.unwrap_err();
    assert_eq!(f.credential(&a).updates, 1);
    assert!(f.queue.sent().is_empty(), "nothing retired yet");
    let calls_before = f.emulator.calls().len();
    // WHEN finishSecret is retried
    let outcome = f.step(&arn, &token, Step::FinishSecret).await.unwrap();
    // THEN the credential is written again (holding the current client) before the old client
    // is deactivated and queued
    assert_eq!(outcome, StepOutcome::AlreadyCurrent);
    f.assert_holds_current(&arn, &a);
    assert_eq!(f.credential(&a).updates, 2);
    let routes: Vec<String> = f.emulator.calls()[calls_before..]
        .iter()
        .map(|c| c.route.clone())
        .collect();
    let put = routes.iter().position(|r| r == routes::UPDATE_CREDENTIAL).unwrap();
    let deactivation = routes.iter().position(|r| r == routes::UPDATE_CLIENT).unwrap();
    assert!(put < deactivation, "{routes:?}");
    assert_eq!(f.queue.sent().len(), 1);
}

#[tokio::test]
async fn two_secrets_of_one_org_each_keep_only_their_own_credentials_in_step() {
    // GIVEN two secrets (two teams) in one org, each with its own client and credential
    let f = Fixture::new().await;
    let erp = f.emulator.seed_client(SeedClient::new(
        "erp-legacy-integration",
        &["conversation:communication:view"],
    ));
    let crm_cred = f.credential_for(&f.legacy_id, &f.legacy_secret);
    let erp_cred = f.credential_for(&erp.id, &erp.secret);
    let crm = f.secret_listing(&[&crm_cred]);
    let mut erp_value = f.integration_json(&erp.id, &erp.secret, "erp-rot-");
    erp_value["integrationCredentials"] = json!([erp_cred]);
    let erp_arn = f
        .store
        .create_served_secret("genesys/erp-integration", &erp_value.to_string());
    // WHEN the CRM secret rotates
    let token = f.created(&crm).await;
    f.to_the_end(&crm, &token).await.unwrap();
    // THEN only its credential moved
    f.assert_holds_current(&crm, &crm_cred);
    assert_eq!(f.credential(&erp_cred).fields["clientId"], erp.id);
    assert_eq!(f.credential(&erp_cred).updates, 0);
    // WHEN the ERP secret rotates, THEN its own credential moves and the CRM's stays
    let erp_token = f.created(&erp_arn).await;
    f.to_the_end(&erp_arn, &erp_token).await.unwrap();
    f.assert_holds_current(&erp_arn, &erp_cred);
    f.assert_holds_current(&crm, &crm_cred);
    assert_eq!(f.credential(&crm_cred).updates, 1);
    // AND a secret listing the other's credential is refused at createSecret
    let mut crossed = f.integration_json(&erp.id, &erp.secret, "erp-rot-");
    crossed["integrationCredentials"] = json!([crm_cred]);
    let crossed_arn = f.store.create_served_secret("genesys/crossed", &crossed.to_string());
    let t = f.store.begin_rotation(&crossed_arn);
    let result = f.step(&crossed_arn, &t, Step::CreateSecret).await;
    assert!(matches!(refusal(&result).1, CredentialRefusal::HeldByOther(_)));
}

#[tokio::test]
async fn check_reads_the_listed_credentials_and_names_a_bad_one() {
    // GIVEN a secret listing a credential that holds its client, and one that holds another's
    let f = Fixture::new().await;
    let a = f.credential_for(&f.legacy_id, &f.legacy_secret);
    let good = f.secret_listing(&[&a]);
    // WHEN check runs, THEN it passes
    assert!(matches!(
        f.rotator.check(&good).await.unwrap(),
        StepOutcome::ConfigurationChecked { .. }
    ));
    let other = f.emulator.seed_client(SeedClient::new("other", &[]));
    let b = f.credential_for(&other.id, &other.secret);
    let bad = f.secret_listing(&[&b, &a]);
    let result = f.rotator.check(&bad).await;
    assert_eq!(refusal(&result).0, b.as_str());
    assert_eq!(f.credential(&a).updates + f.credential(&b).updates, 0);
}
