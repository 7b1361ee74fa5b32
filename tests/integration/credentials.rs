//! Integration credentials kept in step (`integrationCredentials`), end to end over moto and the
//! emulator: a rotation that writes the new client into a Data Actions credential and leaves
//! another team's alone; a credential update that keeps failing, which stops the rotation before
//! the old client is touched until a retry finishes it; and `check` run as a real process naming
//! a credential that does not exist.

use genesys_emulator::{routes, ClientState, CredentialRecord, Fault, FaultAction, SeedClient, SeedCredential};
use genesys_rotator::rotation::{RotationError, Step};
use genesys_rotator::store::{AWSCURRENT, AWSPENDING};
use serde_json::{json, Value};

use crate::harness::World;

fn credential(w: &World, id: &str) -> CredentialRecord {
    w.org()
        .emulator
        .credentials()
        .into_iter()
        .find(|c| c.id == id)
        .expect("the credential exists")
}

/// A Data Actions credential in org 0 holding its legacy client.
fn legacy_credential(w: &World) -> String {
    let org = w.org();
    org.emulator
        .seed_credential(SeedCredential::oauth_client(
            "crm-data-actions",
            &org.legacy_id,
            &org.legacy_secret,
        ))
        .id
}

async fn secret_listing(w: &World, name: &str, credentials: &[&str]) -> String {
    let mut value = w.integration_json(0);
    value["integrationCredentials"] = json!(credentials);
    w.create_secret(name, &value).await
}

#[tokio::test]
async fn a_rotation_keeps_the_listed_credential_in_step_and_no_other() {
    let w = World::new().await;
    let ours = legacy_credential(&w);
    let other_team = w.org().emulator.seed_client(SeedClient::new("erp", &[]));
    let theirs = w
        .org()
        .emulator
        .seed_credential(SeedCredential::oauth_client(
            "erp-data-actions",
            &other_team.id,
            &other_team.secret,
        ))
        .id;
    let arn = secret_listing(&w, "genesys/crm-with-credentials", &[&ours]).await;

    let r = w.rotate(&arn, 1).await;

    assert!(r.failures.is_empty(), "{:?}", r.failures);
    let current: Value = w.value(&arn, AWSCURRENT).await;
    let c = credential(&w, &ours);
    assert_eq!(c.fields["clientId"], current["clientId"].as_str().unwrap());
    assert_eq!(c.fields["clientSecret"], current["clientSecret"].as_str().unwrap());
    assert_eq!(c.updates, 1);
    assert_eq!(credential(&w, &theirs).updates, 0);
    // The list travels with the secret, for the next rotation.
    assert_eq!(current["integrationCredentials"], json!([ours]));
    // The new client works where the credential holds it.
    w.org()
        .emulator
        .token_grantable(&c.fields["clientId"], &c.fields["clientSecret"])
        .unwrap();
}

#[tokio::test]
async fn an_update_that_keeps_failing_stops_before_the_old_client_and_a_retry_finishes() {
    let w = World::new().await;
    let ours = legacy_credential(&w);
    let arn = secret_listing(&w, "genesys/crm-failing-credential", &[&ours]).await;
    let token = w.begin_rotation(&arn, true).await;
    for step in [Step::CreateSecret, Step::SetSecret, Step::TestSecret] {
        w.step(&arn, &token, step).await.unwrap();
    }
    // More 503s than one step's attempts: the step fails.
    w.org().emulator.inject_fault(
        Fault::new(
            routes::UPDATE_CREDENTIAL,
            FaultAction::Status {
                status: 503,
                retry_after: None,
            },
        )
        .times(5),
    );

    let failed = w.step(&arn, &token, Step::FinishSecret).await;

    assert!(
        matches!(&failed, Err(RotationError::Genesys(e)) if e.call() == genesys_rotator::genesys::GenesysCall::UpdateCredential),
        "{failed:?}"
    );
    assert_eq!(w.client_id(&arn, AWSCURRENT).await, w.org().legacy_id);
    assert_eq!(w.describe(&arn).await.version_with(AWSPENDING), Some(token.as_str()));
    assert_eq!(w.org().client(&w.org().legacy_id).unwrap().state, ClientState::Active);
    assert_eq!(credential(&w, &ours).fields["clientId"], w.org().legacy_id);

    // Secrets Manager's retry finishes the rotation.
    w.step(&arn, &token, Step::FinishSecret).await.unwrap();
    w.clear_pending(&arn, &token).await;
    let id = w.assert_rotated(&arn, &token, None, 0).await;
    assert_eq!(credential(&w, &ours).fields["clientId"], id);
}

#[cfg(feature = "cli")]
#[tokio::test]
async fn check_names_a_listed_credential_that_does_not_exist() {
    let w = World::new().await;
    let cli = crate::cli::cli(&w).await;
    let ours = legacy_credential(&w);
    let good = secret_listing(&w, "genesys/crm-check-good", &[&ours]).await;
    let out = cli.run(&["check", "--secret", &good]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let missing = "0d9a3f4e-0000-4000-8000-00000000beef";
    let bad = secret_listing(&w, "genesys/crm-check-bad", &[&ours, missing]).await;
    let clients_before = w.org().emulator.clients().len();
    let out = cli.run(&["check", "--secret", &bad]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(missing) && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert_eq!(w.org().emulator.clients().len(), clients_before);
    assert_eq!(credential(&w, &ours).updates, 0);
}
