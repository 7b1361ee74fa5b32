//! The rotation function end to end: clean rotations, crashes at every call of createSecret,
//! 429 storms, propagation delay, a step deadline, malformed events and secrets, the
//! testSecret-only mode, and two regions served by one function.

use genesys_rotator::Classify;
use std::time::Duration;

use genesys_emulator::{EmulatorConfig, Fault, FaultAction};
use genesys_rotator::deployment::DeploymentError;
use genesys_rotator::rotation::{RotationError, Step, StepOutcome};
use genesys_rotator::store::{AWSCURRENT, AWSPENDING};
use serde_json::{json, Value};

use crate::harness::{event, LogCapture, When, World, PREFIX};

fn fault(route: &str, skip: u32, times: u32, action: FaultAction) -> Fault {
    Fault {
        route: route.into(),
        skip,
        times,
        action,
        client_id: None,
    }
}

fn status(status: u16) -> FaultAction {
    FaultAction::Status {
        status,
        retry_after: None,
    }
}

#[tokio::test]
async fn a_clean_rotation_moves_current_to_a_new_working_client() {
    let w = World::new().await;
    let arn = w.integration_secret().await;
    let before = w.describe(&arn).await.version_with(AWSCURRENT).unwrap().to_owned();

    let r = w.rotate(&arn, 1).await;

    assert!(r.failures.is_empty());
    assert!(matches!(
        r.outcomes[0],
        StepOutcome::Created {
            replaced_lost_clients: 0,
            ..
        }
    ));
    assert!(matches!(r.outcomes[1], StepOutcome::Confirmed { .. }));
    assert!(matches!(r.outcomes[2], StepOutcome::Tested { .. }));
    assert!(matches!(r.outcomes[3], StepOutcome::Promoted { .. }));
    let id = w.assert_rotated(&arn, &r.token, Some(&before), 0).await;
    assert_ne!(id, w.org().legacy_id);

    // The new version carries every non-secret field forward, including ones we do not know,
    // and records that the hand-made client it replaced was proven by its own credential.
    let mut expected = w.integration_json(0);
    let current = w.value(&arn, AWSCURRENT).await;
    expected["clientId"] = current["clientId"].clone();
    expected["clientSecret"] = current["clientSecret"].clone();
    assert_eq!(current["possessionProof"]["clientId"], w.org().legacy_id.as_str());
    expected["possessionProof"] = current["possessionProof"].clone();
    assert_eq!(current, expected);

    // The new client has what the secret asked for.
    let client = w.org().client(&id).unwrap();
    assert_eq!(client.access_token_validity_seconds, 3600);
    assert_eq!(client.authorized_grant_type, "CLIENT-CREDENTIALS");
    assert_eq!(client.role_divisions.len(), 1);
    assert_eq!(w.org().managed(PREFIX).len(), 1);
    // This slice leaves the rotated-out client alone (retirement is a later policy).
    assert!(w.org().client(&w.org().legacy_id).is_some());
}

#[tokio::test]
async fn three_rotations_in_a_row_each_make_one_client() {
    let w = World::new().await;
    let arn = w.integration_secret().await;
    let mut previous = w.describe(&arn).await.version_with(AWSCURRENT).unwrap().to_owned();
    let mut ids = vec![w.org().legacy_id.clone()];
    for _ in 0..3 {
        let r = w.rotate(&arn, 1).await;
        let id = w.assert_rotated(&arn, &r.token, Some(&previous), 0).await;
        assert!(!ids.contains(&id));
        ids.push(id);
        previous = r.token;
    }
    assert_eq!(w.org().managed(PREFIX).len(), 3);
    // One create per rotation, and the master authenticated once: its token is cached.
    let calls = w.org().emulator.call_counts();
    assert_eq!(calls.get("POST /api/v2/oauth/clients"), Some(&3));
}

#[tokio::test]
async fn the_master_token_is_fetched_once_and_reused() {
    let w = World::new().await;
    let arn = w.integration_secret().await;
    w.rotate(&arn, 1).await;
    w.rotate(&arn, 1).await;
    let master_tokens = w
        .org()
        .emulator
        .calls()
        .into_iter()
        .filter(|c| c.route == "POST /oauth/token" && c.client_id.as_deref() == Some(w.org().master_id.as_str()))
        .count();
    assert_eq!(master_tokens, 1);
}

/// After each injected failure and the retries Secrets Manager makes, exactly one live managed
/// client must exist for the token, it must be the one in AWSCURRENT, and no other client with
/// the secret's prefix may be left behind.
async fn assert_one_client_for(w: &World, arn: &str, token: &str, prefix: &str) {
    let managed = w.org().managed(prefix);
    assert_eq!(managed.len(), 1, "exactly one managed client: {managed:?}");
    assert_eq!(managed[0].name, format!("{prefix}{token}"));
    let current = w.value(arn, AWSCURRENT).await;
    assert_eq!(current["clientId"].as_str().unwrap(), managed[0].id);
}

/// Secrets Manager's retry of the whole rotation with the same token after the failure `after`,
/// then the state it must leave: rotated, and one managed client (see `assert_one_client_for`).
async fn retry_leaves_one_client(w: &World, arn: &str, token: &str, prefix: &str, after: &str) {
    w.run_steps(arn, token)
        .await
        .unwrap_or_else(|e| panic!("retry after {after}: {e:?}"));
    w.clear_pending(arn, token).await;
    w.assert_rotated(arn, token, None, 0).await;
    assert_one_client_for(w, arn, token, prefix).await;
}

#[tokio::test]
async fn a_crash_at_every_aws_call_of_create_secret_is_recovered() {
    let w = World::new().await;
    // createSecret makes 5 store calls: describe, current, pending, master, put.
    let mut case = 0;
    for when in [When::Before, When::After] {
        for n in 0..5 {
            case += 1;
            let prefix = format!("aws-crash-{case}-");
            let arn = w
                .create_secret(
                    &format!("genesys/aws-crash-{case}"),
                    &w.integration_json_with_prefix(0, &prefix),
                )
                .await;
            let token = w.begin_rotation(&arn, true).await;
            w.store.fail_call(n, when);
            match w.step(&arn, &token, Step::CreateSecret).await {
                Err(err) => assert!(err.is_retryable(), "{err:?} after {:?}", w.store.log()),
                // A put that landed with its answer lost: the step reads its version back and
                // finds its own client there, so it has succeeded.
                Ok(outcome) => assert!(
                    n == 4 && when == When::After && matches!(outcome, StepOutcome::Created { .. }),
                    "call {n} {when:?} must fail the step: {outcome:?}"
                ),
            }
            // Secrets Manager retries the whole rotation with the same token.
            retry_leaves_one_client(&w, &arn, &token, &prefix, &format!("call {n} {when:?}")).await;
        }
    }
}

#[tokio::test]
async fn a_crash_at_every_genesys_call_of_create_secret_is_recovered() {
    let w = World::new().await;
    // createSecret's Genesys calls: master token, list, create. A crash after the create was
    // applied loses the secret, which the retry must clean up (PUT inactive, DELETE): those
    // calls fail in the second round, after a lost client exists.
    let routes = [
        "POST /oauth/token",
        "GET /api/v2/oauth/clients",
        "POST /api/v2/oauth/clients",
    ];
    let actions = [status(500), FaultAction::Drop, FaultAction::DropAfterApply, status(400)];
    let mut case = 0;
    for route in routes {
        for action in &actions {
            case += 1;
            let prefix = format!("gc-crash-{case}-");
            let arn = w
                .create_secret(
                    &format!("genesys/gc-crash-{case}"),
                    &w.integration_json_with_prefix(0, &prefix),
                )
                .await;
            let token = w.begin_rotation(&arn, true).await;
            // A fresh master client each case, so the token call is really made.
            w.rotator.deployment().forget_masters();
            // Enough failures that the client's own retries give up and the step fails.
            w.org().emulator.inject_fault(fault(route, 0, 10, action.clone()));
            let first = w.step(&arn, &token, Step::CreateSecret).await;
            assert!(first.is_err(), "{route} {action:?} must fail the step");
            w.org().emulator.clear_faults();
            retry_leaves_one_client(&w, &arn, &token, &prefix, &format!("{route} {action:?}")).await;
        }
    }
    // The cleanup of a lost client can itself crash at each of its calls.
    for route in ["PUT /api/v2/oauth/clients/{id}", "DELETE /api/v2/oauth/clients/{id}"] {
        for action in [status(503), FaultAction::Drop, FaultAction::DropAfterApply] {
            case += 1;
            let prefix = format!("gc-crash-{case}-");
            let arn = w
                .create_secret(
                    &format!("genesys/gc-crash-{case}"),
                    &w.integration_json_with_prefix(0, &prefix),
                )
                .await;
            let token = w.begin_rotation(&arn, true).await;
            w.org()
                .emulator
                .inject_fault(fault("POST /api/v2/oauth/clients", 0, 1, FaultAction::DropAfterApply));
            assert!(w.step(&arn, &token, Step::CreateSecret).await.is_err());
            w.org().emulator.inject_fault(fault(route, 0, 10, action.clone()));
            assert!(
                w.step(&arn, &token, Step::CreateSecret).await.is_err(),
                "{route} {action:?}"
            );
            w.org().emulator.clear_faults();
            retry_leaves_one_client(&w, &arn, &token, &prefix, &format!("{route} {action:?}")).await;
        }
    }
}

#[tokio::test]
async fn a_client_whose_secret_was_lost_is_deleted_and_replaced() {
    let w = World::new().await;
    let arn = w.integration_secret().await;
    let token = w.begin_rotation(&arn, true).await;
    w.org()
        .emulator
        .inject_fault(fault("POST /api/v2/oauth/clients", 0, 1, FaultAction::DropAfterApply));
    assert!(w.step(&arn, &token, Step::CreateSecret).await.is_err());
    let lost = w.org().managed(PREFIX);
    assert_eq!(lost.len(), 1, "the crashed create made a client");

    let outcome = w.step(&arn, &token, Step::CreateSecret).await.unwrap();
    assert!(
        matches!(
            outcome,
            StepOutcome::Created {
                replaced_lost_clients: 1,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(w.org().client(&lost[0].id).is_none(), "lost client deleted");
    assert!(w.org().emulator.deleted_client_ids().contains(&lost[0].id));
    // A retry of a createSecret that succeeded changes nothing.
    assert_eq!(
        w.step(&arn, &token, Step::CreateSecret).await.unwrap(),
        StepOutcome::AlreadyCreated
    );
    assert_eq!(w.org().managed(PREFIX).len(), 1);
}

#[tokio::test]
async fn a_429_storm_is_waited_out() {
    let w = World::new().await;
    let arn = w.integration_secret().await;
    for route in [
        "POST /oauth/token",
        "GET /api/v2/oauth/clients",
        "POST /api/v2/oauth/clients",
        "GET /api/v2/oauth/clients/{id}",
        "GET /api/v2/tokens/me",
    ] {
        w.org().emulator.inject_fault(fault(
            route,
            0,
            2,
            FaultAction::Status {
                status: 429,
                retry_after: Some(1),
            },
        ));
    }
    let r = w.rotate(&arn, 1).await;
    assert!(
        r.failures.is_empty(),
        "429s are retried inside a step: {:?}",
        r.failures
    );
    w.assert_rotated(&arn, &r.token, None, 0).await;
    let calls = w.org().emulator.call_counts();
    assert!(calls["POST /api/v2/oauth/clients"] >= 3, "{calls:?}");
    assert_eq!(w.org().managed(PREFIX).len(), 1);
}

#[tokio::test]
async fn test_secret_waits_out_propagation() {
    let w = World::with_config(EmulatorConfig {
        propagation_delay: Duration::from_secs(2),
        ..EmulatorConfig::default()
    })
    .await;
    let arn = w.integration_secret().await;
    let r = w.rotate(&arn, 1).await;
    match &r.outcomes[2] {
        StepOutcome::Tested { attempts, .. } => assert!(*attempts > 1, "propagation made the first attempt fail"),
        other => panic!("{other:?}"),
    }
    w.assert_rotated(&arn, &r.token, None, 0).await;
}

#[tokio::test]
async fn a_step_at_its_deadline_stops_with_a_retryable_error_and_its_retry_finishes() {
    // A new client needs 60 s to work; the Lambda has 3 s left (2 s after the safety margin).
    let w = World::with_config(EmulatorConfig {
        propagation_delay: Duration::from_secs(60),
        ..EmulatorConfig::default()
    })
    .await;
    let arn = w.integration_secret().await;
    let token = w.begin_rotation(&arn, true).await;
    w.step(&arn, &token, Step::CreateSecret).await.unwrap();
    w.step(&arn, &token, Step::SetSecret).await.unwrap();
    let deadline = genesys_rotator::deadline::from_wall_clock(std::time::SystemTime::now() + Duration::from_secs(3));
    let err = w
        .rotator
        .handle_until(&event(&arn, &token, Step::TestSecret), Some(deadline))
        .await
        .unwrap_err();
    assert!(matches!(err, RotationError::DeadlineExceeded { .. }), "{err:?}");
    assert_eq!(
        lambda_runtime::Diagnostic::from(err).error_type,
        "Retryable.DeadlineExceeded"
    );
    // The state is one a retry finishes: once the client works, the same steps complete.
    w.org().emulator.advance_clock(Duration::from_secs(61));
    w.step(&arn, &token, Step::TestSecret).await.unwrap();
    w.step(&arn, &token, Step::FinishSecret).await.unwrap();
    w.clear_pending(&arn, &token).await;
    w.assert_rotated(&arn, &token, None, 0).await;
    assert_eq!(w.org().managed(PREFIX).len(), 1);
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_is_not_slept_through() {
    let w = World::new().await;
    let arn = w.integration_secret().await;
    let token = w.begin_rotation(&arn, true).await;
    // 30 s is within what the client would otherwise wait (60 s); the step has 2 s.
    w.org().emulator.inject_fault(fault(
        "GET /api/v2/oauth/clients",
        0,
        1,
        FaultAction::Status {
            status: 429,
            retry_after: Some(30),
        },
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let err = w
        .rotator
        .handle_until(&event(&arn, &token, Step::CreateSecret), Some(deadline))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RotationError::Genesys(genesys_rotator::genesys::GenesysError::RateLimited { .. })
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(w.org().managed(PREFIX).is_empty(), "nothing was created");
    // Secrets Manager's retry, with time to spare, finishes the rotation.
    w.step(&arn, &token, Step::CreateSecret).await.unwrap();
}

#[tokio::test]
async fn test_secret_alone_checks_the_configuration() {
    let w = World::new().await;
    let arn = w.integration_secret().await;
    w.test_secret_alone(
        &arn,
        StepOutcome::ConfigurationChecked {
            master_client_id: w.org().master_id.clone(),
            current_client_id: w.org().legacy_id.clone(),
        },
    )
    .await;
    assert!(w.org().managed(PREFIX).is_empty(), "checking creates nothing");
}

#[tokio::test]
async fn test_secret_alone_reports_a_broken_current_credential() {
    let w = World::new().await;
    let mut value = w.integration_json(0);
    value["clientSecret"] = json!("wrong-secret");
    let arn = w.create_secret("genesys/broken", &value).await;
    let token = w.begin_rotation(&arn, true).await;
    let err = w.step(&arn, &token, Step::TestSecret).await.unwrap_err();
    assert!(matches!(err, RotationError::Genesys(_)), "{err:?}");
}

#[tokio::test]
async fn two_secrets_in_two_regions_are_served_by_one_function() {
    let w = World::with_orgs(&[
        ("mypurecloud.ie", EmulatorConfig::default()),
        ("usw2.pure.cloud", EmulatorConfig::default()),
    ])
    .await;
    let ie = w.create_secret("genesys/ie", &w.integration_json(0)).await;
    let mut us = w.integration_json(1);
    us["region"] = json!("us_west_2");
    let us = w.create_secret("genesys/us", &us).await;
    for _ in 0..2 {
        let a = w.rotate(&ie, 1).await;
        w.assert_rotated(&ie, &a.token, None, 0).await;
        let b = w.rotate(&us, 1).await;
        w.assert_rotated(&us, &b.token, None, 1).await;
    }
    assert_eq!(w.orgs[0].managed(PREFIX).len(), 2);
    assert_eq!(w.orgs[1].managed(PREFIX).len(), 2);
}

#[tokio::test]
async fn the_step_guards_refuse_what_secrets_manager_would() {
    let w = World::new().await;
    let arn = w.integration_secret().await;
    let current = w.describe(&arn).await.version_with(AWSCURRENT).unwrap().to_owned();

    // Rotation not enabled yet: refused.
    let err = w.step(&arn, &current, Step::CreateSecret).await.unwrap_err();
    assert!(matches!(err, RotationError::RotationNotEnabled(_)), "{err:?}");

    let token = w.begin_rotation(&arn, true).await;
    // A token that is no version of the secret.
    let err = w
        .step(&arn, "00000000-0000-4000-8000-000000000000", Step::CreateSecret)
        .await
        .unwrap_err();
    assert!(matches!(err, RotationError::UnknownVersion { .. }), "{err:?}");
    // AWSCURRENT's version: nothing to do.
    assert_eq!(
        w.step(&arn, &current, Step::CreateSecret).await.unwrap(),
        StepOutcome::AlreadyCurrent
    );

    let steps = w.run_steps(&arn, &token).await.unwrap();
    assert_eq!(steps.len(), 4);
    w.clear_pending(&arn, &token).await;
    // The old version is now AWSPREVIOUS, not AWSPENDING: refused.
    let err = w.step(&arn, &current, Step::SetSecret).await.unwrap_err();
    assert!(matches!(err, RotationError::NotPending { .. }), "{err:?}");
    // A retried finishSecret after success is a no-op.
    assert_eq!(
        w.step(&arn, &token, Step::FinishSecret).await.unwrap(),
        StepOutcome::AlreadyCurrent
    );
}

#[tokio::test]
async fn malformed_events_are_refused_and_change_nothing() {
    let w = World::new().await;
    let arn = w.integration_secret().await;
    let token = w.begin_rotation(&arn, true).await;
    let events = [
        json!(null),
        json!("createSecret"),
        json!({}),
        json!({"Step": "createSecret", "SecretId": arn}),
        json!({"Step": "rotate", "SecretId": arn, "ClientRequestToken": token}),
        json!({"Step": "createSecret", "SecretId": 5, "ClientRequestToken": token}),
        json!({"Step": "createSecret", "SecretId": arn, "ClientRequestToken": "x"}),
        json!({"Step": "createSecret", "SecretId": arn, "ClientRequestToken": token, "RotationToken": 1}),
    ];
    let calls_before = w.store.calls();
    // As the Lambda calls it: with the invocation's deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for event in events {
        let err = w.rotator.handle_json(&event, Some(deadline)).await.unwrap_err();
        assert!(matches!(err, RotationError::Event(_)), "{event}: {err:?}");
        assert!(!err.is_retryable());
        let diag = lambda_runtime::Diagnostic::from(err);
        assert!(diag.error_type.starts_with("NonRetryable."), "{}", diag.error_type);
    }
    assert_eq!(w.store.calls(), calls_before, "no AWS call for a malformed event");
    assert!(w.org().emulator.call_counts().values().all(|n| *n == 0));
}

#[tokio::test]
async fn every_bad_secret_field_is_refused_by_name_and_changes_nothing() {
    let w = World::new().await;
    let cases: Vec<(&str, Option<Value>)> = vec![
        ("clientId", None),
        ("clientSecret", None),
        ("region", None),
        ("masterSecretArn", None),
        ("namePrefix", None),
        ("roleDivisions", None),
        ("region", Some(json!("evil.example.com"))),
        ("region", Some(json!("mars_north_1"))),
        (
            "masterSecretArn",
            Some(json!(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-master"
            )),
        ),
        ("namePrefix", Some(json!("x"))),
        ("roleDivisions", Some(json!([]))),
        ("tokenLifetimeSeconds", Some(json!(60))),
        ("clientId", Some(json!(12))),
    ];
    for (i, (field, value)) in cases.into_iter().enumerate() {
        let mut secret = w.integration_json(0);
        match &value {
            None => {
                secret.as_object_mut().unwrap().remove(field);
            }
            Some(v) => secret[field] = v.clone(),
        }
        let arn = w.create_secret(&format!("genesys/bad-{i}"), &secret).await;
        let token = w.begin_rotation(&arn, true).await;
        let err = w.step(&arn, &token, Step::CreateSecret).await.unwrap_err();
        assert!(!err.is_retryable(), "{field}: {err:?}");
        let msg = err.to_string();
        if field == "masterSecretArn" && value.is_some() {
            assert!(
                matches!(err, RotationError::Deployment(DeploymentError::MasterNotAllowed(_))),
                "{err:?}"
            );
        } else {
            assert!(msg.contains(&format!("`{field}`")), "error names {field}: {msg}");
        }
        assert!(!msg.contains(&w.org().legacy_secret), "error leaks the secret: {msg}");
        // Nothing changed: no pending value, no client created.
        let pending =
            w.sm.get_secret_value()
                .secret_id(&arn)
                .version_id(&token)
                .version_stage(AWSPENDING)
                .send()
                .await;
        assert!(pending.is_err(), "{field}: AWSPENDING must stay empty");
    }
    assert!(w.org().managed(PREFIX).is_empty());
    assert_eq!(
        w.org()
            .emulator
            .call_counts()
            .get("POST /api/v2/oauth/clients")
            .copied()
            .unwrap_or(0),
        0
    );
}

#[tokio::test]
async fn a_master_secret_for_another_region_is_refused() {
    let w = World::new().await;
    // Point the master secret at another region than the integration's.
    w.sm.put_secret_value()
        .secret_id(&w.master_arns[0])
        .secret_string(
            json!({"clientId": w.org().master_id, "clientSecret": w.org().master_secret, "region": "mypurecloud.de"})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let arn = w.integration_secret().await;
    let token = w.begin_rotation(&arn, true).await;
    let err = w.step(&arn, &token, Step::CreateSecret).await.unwrap_err();
    assert!(
        matches!(err, RotationError::Deployment(DeploymentError::RegionMismatch { .. })),
        "{err:?}"
    );
    assert!(w.org().managed(PREFIX).is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_or_token_is_ever_logged() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let w = World::with_config(EmulatorConfig {
        propagation_delay: Duration::from_secs(1),
        ..EmulatorConfig::default()
    })
    .await;
    let arn = w.integration_secret().await;
    w.org()
        .emulator
        .inject_fault(fault("POST /api/v2/oauth/clients", 0, 1, FaultAction::DropAfterApply));
    let r = w.rotate(&arn, 3).await;
    assert!(!r.failures.is_empty());
    w.rotate(&arn, 1).await;
    // A failing step too: its error is logged.
    let mut bad = w.integration_json(0);
    bad["clientSecret"] = json!("wrong-secret-value-xyz");
    let broken = w.create_secret("genesys/broken", &bad).await;
    let token = w.begin_rotation(&broken, true).await;
    assert!(w.step(&broken, &token, Step::TestSecret).await.is_err());

    let text = logs.text();
    assert!(text.contains("step done"), "logs were captured");
    let mut secrets: Vec<String> = w.org().emulator.clients().into_iter().map(|c| c.secret).collect();
    secrets.push(w.org().master_secret.clone());
    secrets.push("wrong-secret-value-xyz".into());
    for secret in secrets {
        assert!(!text.contains(&secret), "a client secret appears in the logs");
    }
    for token in w.org().emulator.issued_tokens() {
        assert!(!text.contains(&token), "an access token appears in the logs");
    }
    assert!(
        !text.to_lowercase().contains("bearer "),
        "an Authorization header appears in the logs"
    );
}
