//! Unit tests of proof before retirement and the one org-wide guard: a secret's `clientId` is a
//! claim; the client it names is retired, carried from or written into a credential only if the
//! secret owns it or its stored credential proves it holds it, and nobody else holds it.
//!
//! Each test says what it starts from (GIVEN), what it does (WHEN) and what must hold (THEN).

use genesys_emulator::{ClientState, RoleDivision, SeedClient, SeedCredential};

use super::{Fixture, PREFIX};
use crate::rotation::{RotationError, Step, StepOutcome};
use crate::store::{AWSCURRENT, AWSPENDING};

impl Fixture {
    /// Another team's hand-made client, with a role of its own: never this secret's.
    fn other_teams_client(&self) -> String {
        self.emulator.seed_role("other-team-role", &["routing:queue:edit"]);
        self.emulator
            .seed_client(SeedClient {
                role_divisions: vec![RoleDivision {
                    role_id: "other-team-role".into(),
                    division_id: "*".into(),
                }],
                ..SeedClient::new("other-team-erp", &["routing:queue:edit"])
            })
            .id
    }

    /// A whole rotation of `arn`; returns the token and finishSecret's outcome.
    async fn rotate_fully(&self, arn: &str) -> (String, StepOutcome) {
        let token = self.created(arn).await;
        for step in [Step::SetSecret, Step::TestSecret] {
            self.step(arn, &token, step).await.unwrap();
        }
        let finished = self.step(arn, &token, Step::FinishSecret).await.unwrap();
        (token, finished)
    }
}

#[tokio::test]
async fn a_secret_naming_a_client_it_does_not_hold_never_retires_it() {
    // GIVEN a served secret whose clientId was set to another team's client, with a made-up
    // secret (a writer of the secret, or a typo)
    let f = Fixture::new().await;
    let victim = f.other_teams_client();
    let value = f.integration_json(&victim, "made-up-secret", PREFIX);
    let arn = f.store.create_served_secret("genesys/liar", &value.to_string());
    // WHEN it rotates
    let (token, finished) = f.rotate_fully(&arn).await;
    // THEN the rotation finishes with a working new client...
    assert!(matches!(finished, StepOutcome::Promoted { .. }), "{finished:?}");
    let current = f.value(&arn, AWSCURRENT);
    let new_id = current["clientId"].as_str().unwrap();
    assert_eq!(f.store.version_with(&arn, AWSCURRENT).as_deref(), Some(token.as_str()));
    // ...built from the secret alone: the named client's roles were not carried over
    let new = f.client(new_id).unwrap();
    assert!(
        new.role_divisions.iter().all(|rd| rd.role_id != "other-team-role"),
        "{:?}",
        new.role_divisions
    );
    // ...and the named client is untouched, nothing queued, no proof recorded
    assert_eq!(f.client(&victim).unwrap().state, ClientState::Active);
    assert!(f.queue.sent().is_empty(), "{:?}", f.queue.sent());
    assert!(current.get("possessionProof").is_none(), "{current}");
}

#[tokio::test]
async fn a_hand_made_client_proven_by_its_credential_is_retired_and_the_proof_recorded() {
    // GIVEN the usual first rotation: a served secret holding a hand-made client and its secret
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    // WHEN createSecret runs
    let token = f.created(&arn).await;
    // THEN the pending version records which client its credential proved it holds
    let pending = f.value(&arn, AWSPENDING);
    assert_eq!(
        pending["possessionProof"]["clientId"],
        f.legacy_id.as_str(),
        "{pending}"
    );
    assert!(pending["possessionProof"]["provenAt"].is_string());
    // AND WHEN the rotation finishes, the proven client is retired
    for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        f.step(&arn, &token, step).await.unwrap();
    }
    assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Inactive);
    // AND the next rotation, over a client the secret owns, records no proof
    let token = f.created(&arn).await;
    let pending = f.store.value_of_version(&arn, &token).unwrap();
    assert!(!pending.contains("possessionProof"), "the owned client needs none");
}

#[tokio::test]
async fn a_secret_may_not_claim_another_teams_integration_credential() {
    // GIVEN another team's Data Action credential holding their client, and a served secret
    // whose clientId names that client (made-up secret) and which lists the credential
    let f = Fixture::new().await;
    let victim = f.other_teams_client();
    let victim_secret = f.client(&victim).unwrap().secret;
    let credential = f
        .emulator
        .seed_credential(SeedCredential::oauth_client(
            "erp-data-actions",
            &victim,
            &victim_secret,
        ))
        .id;
    let mut value = f.integration_json(&victim, "made-up-secret", PREFIX);
    value["integrationCredentials"] = serde_json::json!([credential]);
    let arn = f.store.create_served_secret("genesys/liar", &value.to_string());
    let clients_before = f.emulator.clients().len();
    // WHEN createSecret runs
    let token = f.store.begin_rotation(&arn);
    let result = f.step(&arn, &token, Step::CreateSecret).await;
    // THEN it is refused as not owned, naming the credential, and nothing changed
    let e = result.unwrap_err();
    assert!(matches!(e, RotationError::Credential { .. }), "{e:?}");
    assert_eq!(
        genesys_core::classify::Classify::kind(&e),
        "IntegrationCredentialNotOwned"
    );
    assert!(e.to_string().contains(&credential), "{e}");
    assert_eq!(f.emulator.clients().len(), clients_before);
    let held = f
        .emulator
        .credentials()
        .into_iter()
        .find(|c| c.id == credential)
        .unwrap();
    assert_eq!(held.fields["clientId"], victim.as_str());
}

#[tokio::test]
async fn an_unreadable_possible_holder_keeps_the_replaced_client_and_is_named() {
    // GIVEN a rotation at finishSecret, and another served secret whose AWSCURRENT cannot be
    // read (it shows no value)
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.created(&arn).await;
    let other = f.store.create_served_secret(
        "genesys/unreadable",
        &f.integration_json("someone", "x", "erp-").to_string(),
    );
    f.store.insert_version(&other, &super::new_token(), None, &[AWSCURRENT]);
    // WHEN finishSecret runs
    let e = f.step(&arn, &token, Step::FinishSecret).await.unwrap_err();
    // THEN it fails retryably naming that secret, AWSCURRENT has moved, the old client is
    // still active and nothing is queued
    assert!(matches!(e, RotationError::GuardUnreadable { .. }), "{e:?}");
    assert!(genesys_core::classify::Classify::is_retryable(&e));
    assert!(e.to_string().contains(&other), "{e}");
    assert_eq!(f.store.version_with(&arn, AWSCURRENT).as_deref(), Some(token.as_str()));
    assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Active);
    assert!(f.queue.sent().is_empty());
}

#[tokio::test]
async fn a_served_secret_whose_value_is_no_credential_holds_nothing_and_blocks_nothing() {
    // GIVEN a rotation at finishSecret, and a tagged secret whose value is not a credential
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.created(&arn).await;
    f.store
        .create_served_secret("genesys/not-a-credential", "just some text");
    // WHEN finishSecret runs
    f.step(&arn, &token, Step::FinishSecret).await.unwrap();
    // THEN the old client is retired as usual
    assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Inactive);
    assert_eq!(f.queue.sent().len(), 1);
}

/// The fixture's rotator as a deployment whose rotation function is `genesys-rotation`: a tagged
/// secret is served only if it names that function.
fn deployment_rotator(f: &Fixture) -> super::TestRotator {
    let mut config = f.rotator.deployment().config().clone();
    config.rotation_function = Some(FUNCTION.to_owned());
    crate::rotation::Rotator::with_retirement(
        f.store.clone(),
        config,
        crate::drain::DrainRetirement::new(f.queue.clone(), crate::drain::DrainSettings::default()),
    )
}

const FUNCTION: &str = "genesys-rotation";
const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:genesys-rotation";

#[tokio::test]
async fn a_strangers_tag_neither_blocks_retirement_nor_poses_as_a_holder() {
    // GIVEN a deployment that knows its rotation function, a rotation at finishSecret, and a
    // secret someone tagged that this function does not rotate, unreadable and naming the client
    let f = Fixture::new().await;
    let rotator = deployment_rotator(&f);
    let arn = f.integration_secret();
    f.store.set_rotation_lambda(&arn, FUNCTION_ARN);
    let token = f.created(&arn).await;
    let stranger = f.store.create_served_secret(
        "team-x/tagged",
        &f.integration_json(&f.legacy_id, &f.legacy_secret, "x-").to_string(),
    );
    f.store
        .insert_version(&stranger, &super::new_token(), None, &[AWSCURRENT]);
    // WHEN this deployment's finishSecret runs
    let finished = rotator
        .handle(&super::super::RotationEvent {
            step: Step::FinishSecret,
            secret_id: arn.clone(),
            client_request_token: genesys_core::domain::VersionId::parse(&token).unwrap(),
            rotation_token: None,
        })
        .await;
    // THEN the stranger's secret is no holder: the old client is retired
    assert!(matches!(finished, Ok(StepOutcome::Promoted { .. })), "{finished:?}");
    assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Inactive);
}

#[tokio::test]
async fn a_secret_this_deployment_rotates_still_holds_its_client() {
    // GIVEN a deployment that knows its rotation function, and a second secret it rotates that
    // holds the same hand-made client
    let f = Fixture::new().await;
    let rotator = deployment_rotator(&f);
    let arn = f.integration_secret();
    let other = f.store.create_served_secret(
        "genesys/other",
        &f.integration_json(&f.legacy_id, &f.legacy_secret, "crm-other-")
            .to_string(),
    );
    f.store.set_rotation_lambda(&other, FUNCTION_ARN);
    let token = f.created(&arn).await;
    // WHEN this deployment's finishSecret runs
    rotator
        .handle(&super::super::RotationEvent {
            step: Step::FinishSecret,
            secret_id: arn.clone(),
            client_request_token: genesys_core::domain::VersionId::parse(&token).unwrap(),
            rotation_token: None,
        })
        .await
        .unwrap();
    // THEN the client the other secret holds stays active
    assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Active);
    assert!(f.queue.sent().is_empty());
}

#[tokio::test]
async fn check_roles_names_what_the_master_does_not_hold() {
    // GIVEN a master holding no role, and a secret whose clients get one
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    // WHEN the role rule is checked
    let e = f.rotator.deployment().check_roles(&arn).await.unwrap_err();
    // THEN it names the missing pair
    assert!(
        matches!(e, crate::deployment::DeploymentError::MasterLacksRoles { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains(&format!("{}/*", super::ROLE)), "{e}");
}
