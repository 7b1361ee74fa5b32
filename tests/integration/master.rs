//! The master secret's own rotation: a new secret for the same master client, a crash at every
//! store and Genesys call of every step then Secrets Manager's retry, recovery with the stored
//! token after a lost new-secret answer, the operator's way out when no recovery is possible,
//! integration rotations during the master's window, and no secret or token in the logs.

use genesys_emulator::{routes, EmulatorConfig, Fault, FaultAction};
use genesys_rotator::rotation::master::RECOVERY_STAGE;
use genesys_rotator::rotation::{RotationError, Step, StepOutcome};
use genesys_rotator::store::{AWSCURRENT, AWSPENDING};
use genesys_rotator::Classify;
use serde_json::{json, Value};

use crate::harness::{tokens_me_status, LogCapture, Org, When, World, PREFIX};

const STEPS: [Step; 4] = [
    Step::CreateSecret,
    Step::SetSecret,
    Step::TestSecret,
    Step::FinishSecret,
];

/// The status of a client-credentials token request with this id and secret.
async fn token_status(org: &Org, id: &str, secret: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/oauth/token", org.emulator.base_url()))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request")
        .status()
        .as_u16()
}

fn live_master_secret(w: &World) -> String {
    w.org().client(&w.org().master_id).expect("master exists").secret
}

/// A master secret with a field this tool does not know, which must be carried forward.
async fn world(config: EmulatorConfig) -> World {
    let w = World::with_config(config).await;
    let org = w.org();
    w.sm.put_secret_value()
        .secret_id(&w.master_arns[0])
        .secret_string(
            json!({"clientId": org.master_id, "clientSecret": org.master_secret, "region": org.domain, "owner": "platform-team"})
                .to_string(),
        )
        .send()
        .await
        .expect("master secret with an extra field");
    w
}

/// What a finished master rotation must leave: AWSCURRENT on `token` holding the master client's
/// live secret (and every other field), no AWSPENDING, no recovery label, the master client still
/// the only one of its name.
async fn assert_master_rotated(w: &World, token: &str) {
    let arn = &w.master_arns[0];
    let org = w.org();
    let desc = w.describe(arn).await;
    assert_eq!(
        desc.version_with(AWSCURRENT),
        Some(token),
        "AWSCURRENT on the new version"
    );
    assert_eq!(desc.version_with(AWSPENDING), None, "AWSPENDING cleared");
    assert_eq!(desc.version_with(RECOVERY_STAGE), None, "recovery label removed");
    let current = w.value(arn, AWSCURRENT).await;
    let secret = current["clientSecret"].as_str().unwrap();
    assert_eq!(
        current,
        json!({"clientId": org.master_id, "clientSecret": secret, "region": org.domain, "owner": "platform-team"})
    );
    assert_eq!(secret, live_master_secret(w), "stored secret is the master's");
    assert_eq!(token_status(org, &org.master_id, secret).await, 200);
    let masters = org
        .emulator
        .clients()
        .into_iter()
        .filter(|c| c.name == "genesys-rotator-master")
        .count();
    assert_eq!(masters, 1, "the same client, no new one");
}

/// An integration rotation works with the master's AWSCURRENT alone: the cache is dropped, so
/// the master authenticates from the stored secret, and AWSPENDING is gone, so nothing else
/// could stand in.
async fn assert_integration_rotates(w: &World, integration: &str) {
    w.rotator.forget_masters();
    let r = w.rotate(integration, 1).await;
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    w.assert_rotated(integration, &r.token, None, 0).await;
}

#[tokio::test]
async fn a_master_rotation_renews_the_secret_of_the_same_client() {
    let w = world(EmulatorConfig::default()).await;
    let org = w.org();
    let integration = w.integration_secret().await;
    let arn = w.master_arns[0].clone();

    let r = w.rotate(&arn, 1).await;

    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!(
        r.outcomes,
        vec![
            StepOutcome::SecretRenewed {
                client_id: org.master_id.clone(),
                recovered: false
            },
            StepOutcome::Confirmed {
                client_id: org.master_id.clone()
            },
            StepOutcome::Tested {
                client_id: org.master_id.clone(),
                attempts: 1
            },
            r.outcomes[3].clone(),
        ]
    );
    assert!(matches!(r.outcomes[3], StepOutcome::Promoted { .. }));
    assert_master_rotated(&w, &r.token).await;
    assert_eq!(
        token_status(org, &org.master_id, &org.master_secret).await,
        401,
        "the old secret is dead"
    );
    assert_eq!(org.emulator.call_counts().get(routes::NEW_SECRET), Some(&1));
    assert!(org.managed(PREFIX).is_empty(), "a master rotation creates no client");
    assert_integration_rotates(&w, &integration).await;

    // And again: each rotation renews once and leaves no recovery label.
    let r2 = w.rotate(&arn, 1).await;
    assert_master_rotated(&w, &r2.token).await;
    assert_eq!(org.emulator.call_counts().get(routes::NEW_SECRET), Some(&2));
    assert_integration_rotates(&w, &integration).await;
}

#[tokio::test]
async fn test_secret_alone_checks_the_master_configuration() {
    let w = world(EmulatorConfig::default()).await;
    let arn = w.master_arns[0].clone();
    w.test_secret_alone(
        &arn,
        StepOutcome::ConfigurationChecked {
            master_client_id: w.org().master_id.clone(),
            current_client_id: w.org().master_id.clone(),
        },
    )
    .await;
    assert_eq!(w.org().emulator.call_counts().get(routes::NEW_SECRET), None);
    assert_eq!(
        w.rotator.check(&arn).await.unwrap(),
        StepOutcome::ConfigurationChecked {
            master_client_id: w.org().master_id.clone(),
            current_client_id: w.org().master_id.clone(),
        }
    );
}

/// Runs the master rotation's steps before `step`, cleanly.
async fn steps_before(w: &World, arn: &str, token: &str, step: Step) {
    for s in STEPS.into_iter().take_while(|s| *s != step) {
        w.step(arn, token, s)
            .await
            .unwrap_or_else(|e| panic!("{s:?} before {step:?}: {e}"));
    }
}

/// Secrets Manager's retry of the whole rotation after a failed step, then the state it must
/// reach and an integration rotation that needs it.
async fn retry_and_check(w: &World, arn: &str, token: &str, integration: &str, label: &str) {
    w.org().emulator.clear_faults();
    w.run_steps(arn, token)
        .await
        .unwrap_or_else(|e| panic!("{label}: retry failed: {e:?}"));
    w.clear_pending(arn, token).await;
    assert_master_rotated(w, token).await;
    assert_integration_rotates(w, integration).await;
}

/// Fails store call `n` of `step` (at `when`), which must fail the step as retryable, then
/// [`retry_and_check`].
#[allow(clippy::too_many_arguments)]
async fn crash_store_call_and_recover(
    w: &World,
    arn: &str,
    token: &str,
    step: Step,
    n: usize,
    when: When,
    integration: &str,
    label: &str,
) {
    w.store.fail_call(n, when);
    let err = w
        .step(arn, token, step)
        .await
        .expect_err(&format!("{label}: the injected crash fails the step"));
    assert!(err.is_retryable(), "{label}: {err:?}");
    retry_and_check(w, arn, token, integration, label).await;
}

#[tokio::test]
async fn a_crash_at_every_store_call_of_every_master_step_is_recovered() {
    let w = world(EmulatorConfig::default()).await;
    let integration = w.integration_secret().await;
    let arn = w.master_arns[0].clone();

    // How many store calls each step makes in a clean rotation.
    let token = w.begin_rotation(&arn, true).await;
    let mut calls = Vec::new();
    for step in STEPS {
        let before = w.store.calls();
        w.step(&arn, &token, step).await.unwrap();
        calls.push((step, w.store.calls() - before));
    }
    w.clear_pending(&arn, &token).await;
    assert_master_rotated(&w, &token).await;
    // createSecret: describe, current, pending, recovery put, pending put; finishSecret:
    // describe, pending, promote, recovery label.
    assert_eq!(calls[0].1, 5, "{:?}", w.store.log());
    assert_eq!(calls[3].1, 4, "{:?}", w.store.log());

    for (step, n_calls) in calls {
        for n in 0..n_calls {
            for when in [When::Before, When::After] {
                let label = format!("{step:?} store call {n} {when:?}");
                let token = w.begin_rotation(&arn, true).await;
                steps_before(&w, &arn, &token, step).await;
                crash_store_call_and_recover(&w, &arn, &token, step, n, when, &integration, &label).await;
            }
        }
    }
}

#[tokio::test]
async fn a_crash_at_every_genesys_call_of_the_master_steps_is_recovered() {
    let w = world(EmulatorConfig::default()).await;
    let integration = w.integration_secret().await;
    let arn = w.master_arns[0].clone();
    let master = w.org().master_id.clone();
    let status = |status| FaultAction::Status {
        status,
        retry_after: None,
    };
    let cases: Vec<(Step, &str, FaultAction, u32)> = vec![
        // createSecret: the token with the current secret, then the new secret.
        (Step::CreateSecret, routes::TOKEN, status(500), 10),
        (Step::CreateSecret, routes::TOKEN, FaultAction::Drop, 10),
        // A refusal that is not real: no recovery token exists, so the step stops; the secret
        // was not changed and the retry goes on.
        (Step::CreateSecret, routes::TOKEN, status(401), 1),
        (Step::CreateSecret, routes::NEW_SECRET, status(500), 1),
        (Step::CreateSecret, routes::NEW_SECRET, status(429), 10),
        (Step::CreateSecret, routes::NEW_SECRET, FaultAction::Drop, 1),
        (Step::CreateSecret, routes::NEW_SECRET, FaultAction::DropAfterApply, 1),
        // setSecret and testSecret read with the pending credential.
        (Step::SetSecret, routes::GET_CLIENT, status(503), 10),
        (Step::SetSecret, routes::GET_CLIENT, FaultAction::Drop, 10),
        (Step::TestSecret, routes::TOKENS_ME, status(403), 1),
        (Step::TestSecret, routes::LIST_CLIENTS, status(403), 1),
        (Step::TestSecret, routes::LIST_CLIENTS, FaultAction::Drop, 10),
    ];
    for (step, route, action, times) in cases {
        let label = format!("{step:?} {route} {action:?}");
        let token = w.begin_rotation(&arn, true).await;
        steps_before(&w, &arn, &token, step).await;
        let mut fault = Fault::new(route, action.clone()).times(times);
        // Only these routes name a client (in the path or the Basic auth) to match on.
        if [routes::TOKEN, routes::NEW_SECRET, routes::GET_CLIENT].contains(&route) {
            fault = fault.for_client(&master);
        }
        w.org().emulator.inject_fault(fault);
        let first = w.step(&arn, &token, step).await;
        assert!(first.is_err(), "{label}: the fault fails the step: {first:?}");
        retry_and_check(&w, &arn, &token, &integration, &label).await;
    }
}

#[tokio::test]
async fn a_lost_new_secret_answer_is_recovered_with_the_stored_token() {
    let w = world(EmulatorConfig::default()).await;
    let org = w.org();
    let integration = w.integration_secret().await;
    let arn = w.master_arns[0].clone();
    let token = w.begin_rotation(&arn, true).await;
    org.emulator
        .inject_fault(Fault::new(routes::NEW_SECRET, FaultAction::DropAfterApply));

    let err = w.step(&arn, &token, Step::CreateSecret).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    // The secret changed to one nobody saw: the stored one is dead.
    assert_ne!(live_master_secret(&w), org.master_secret);
    assert_eq!(token_status(org, &org.master_id, &org.master_secret).await, 401);
    // The recovery version holds a live token of the master, bound to this rotation.
    let recovery = w.value(&arn, RECOVERY_STAGE).await;
    assert_eq!(recovery["rotation"], json!(token));
    assert_eq!(recovery["clientId"], json!(org.master_id));
    let held = recovery["accessToken"].as_str().unwrap();
    assert_eq!(tokens_me_status(org, held).await, 200);

    // Secrets Manager's retry renews the secret again with that token.
    let outcomes = w.run_steps(&arn, &token).await.unwrap();
    assert_eq!(
        outcomes[0],
        StepOutcome::SecretRenewed {
            client_id: org.master_id.clone(),
            recovered: true
        }
    );
    w.clear_pending(&arn, &token).await;
    assert_master_rotated(&w, &token).await;
    assert_eq!(org.emulator.call_counts().get(routes::NEW_SECRET), Some(&2));
    assert_integration_rotates(&w, &integration).await;
}

#[tokio::test]
async fn the_recovering_create_secret_crashing_at_each_store_call_is_recovered() {
    let w = world(EmulatorConfig::default()).await;
    let integration = w.integration_secret().await;
    let arn = w.master_arns[0].clone();
    // The recovering createSecret makes: describe, current, pending, recovery, pending put.
    for n in 0..5 {
        for when in [When::Before, When::After] {
            let label = format!("recovering store call {n} {when:?}");
            let token = w.begin_rotation(&arn, true).await;
            w.org()
                .emulator
                .inject_fault(Fault::new(routes::NEW_SECRET, FaultAction::DropAfterApply));
            assert!(w.step(&arn, &token, Step::CreateSecret).await.is_err());
            crash_store_call_and_recover(&w, &arn, &token, Step::CreateSecret, n, when, &integration, &label).await;
        }
    }
}

#[tokio::test]
async fn without_a_usable_recovery_token_the_step_stops_and_says_how_to_recover() {
    // The service revokes a client's tokens with its secret: the recovery token dies too.
    let w = world(EmulatorConfig {
        revoke_tokens_on_new_secret: true,
        ..EmulatorConfig::default()
    })
    .await;
    let org = w.org();
    let integration = w.integration_secret().await;
    let arn = w.master_arns[0].clone();
    let token = w.begin_rotation(&arn, true).await;
    org.emulator
        .inject_fault(Fault::new(routes::NEW_SECRET, FaultAction::DropAfterApply));
    assert!(w.step(&arn, &token, Step::CreateSecret).await.is_err());
    let lost = live_master_secret(&w);

    let err = w.step(&arn, &token, Step::CreateSecret).await.unwrap_err();
    assert!(matches!(err, RotationError::MasterLocked { .. }), "{err:?}");
    assert!(!err.is_retryable());
    let message = err.to_string();
    for needle in [
        org.master_id.as_str(),
        "reset the client secret",
        "AWSCURRENT",
        token.as_str(),
    ] {
        assert!(message.contains(needle), "the message names {needle}: {message}");
    }
    assert!(!message.contains(&lost) && !message.contains(&org.master_secret));
    let diag = lambda_runtime::Diagnostic::from(err);
    assert_eq!(diag.error_type, "NonRetryable.MasterLocked");
    // Nothing changed: the secret is the lost one, no pending value was stored.
    assert_eq!(live_master_secret(&w), lost);
    let pending =
        w.sm.get_secret_value()
            .secret_id(&arn)
            .version_id(&token)
            .version_stage(AWSPENDING)
            .send()
            .await;
    assert!(pending.is_err(), "AWSPENDING stays empty");

    // The operator follows the message. The Genesys UI's reset stands in as a new secret made
    // with an admin session (the emulator's own token).
    let ui = org.emulator.issue_token_for(&org.master_id).unwrap();
    let reset: Value = reqwest::Client::new()
        .post(format!(
            "{}/api/v2/oauth/clients/{}/secret",
            org.emulator.base_url(),
            org.master_id
        ))
        .bearer_auth(&ui)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fixed = json!({"clientId": org.master_id, "clientSecret": reset["secret"], "region": org.domain, "owner": "platform-team"});
    w.sm.put_secret_value()
        .secret_id(&arn)
        .secret_string(fixed.to_string())
        .send()
        .await
        .unwrap();
    w.clear_pending(&arn, &token).await;
    let r = w.rotate(&arn, 1).await;
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_master_rotated(&w, &r.token).await;
    assert_integration_rotates(&w, &integration).await;
}

#[tokio::test]
async fn a_master_secret_without_a_region_is_refused_before_any_change() {
    let w = World::new().await;
    let org = w.org();
    let arn = w.master_arns[0].clone();
    w.sm.put_secret_value()
        .secret_id(&arn)
        .secret_string(json!({"clientId": org.master_id, "clientSecret": org.master_secret}).to_string())
        .send()
        .await
        .unwrap();
    let token = w.begin_rotation(&arn, true).await;
    let err = w.step(&arn, &token, Step::CreateSecret).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("`region`"), "{err}");
    assert_eq!(live_master_secret(&w), org.master_secret);
    assert_eq!(w.describe(&arn).await.version_with(RECOVERY_STAGE), None);
    assert!(org.emulator.call_counts().is_empty(), "no Genesys call");
}

#[tokio::test]
async fn integration_rotations_in_the_master_window_use_the_pending_master() {
    // Whether the real service revokes a client's tokens with its secret is unconfirmed: both.
    for revoke in [false, true] {
        let w = world(EmulatorConfig {
            revoke_tokens_on_new_secret: revoke,
            ..EmulatorConfig::default()
        })
        .await;
        let org = w.org();
        let integration = w.integration_secret().await;
        // The rotator's cached master client holds a token of the old secret.
        w.rotate(&integration, 1).await;

        let arn = w.master_arns[0].clone();
        let token = w.begin_rotation(&arn, true).await;
        w.step(&arn, &token, Step::CreateSecret).await.unwrap();
        assert_eq!(
            token_status(org, &org.master_id, &org.master_secret).await,
            401,
            "AWSCURRENT's master secret is dead while the rotation is open"
        );

        // With the cached master: its token survives the new secret, or (revoked) the step
        // fails once and the retry falls back to AWSPENDING.
        let r = w.rotate(&integration, 2).await;
        assert_eq!(
            r.failures.len(),
            usize::from(revoke),
            "revoke={revoke}: {:?}",
            r.failures
        );
        w.assert_rotated(&integration, &r.token, None, 0).await;

        // Without a cache: AWSCURRENT is refused at once, AWSPENDING is used.
        w.rotator.forget_masters();
        let r = w.rotate(&integration, 1).await;
        assert!(r.failures.is_empty(), "revoke={revoke}: {:?}", r.failures);
        w.assert_rotated(&integration, &r.token, None, 0).await;
        let pending_secret = w.value(&arn, AWSPENDING).await["clientSecret"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(pending_secret, live_master_secret(&w));

        // The master rotation then finishes, and integration rotations use its new AWSCURRENT.
        for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
            w.step(&arn, &token, step).await.unwrap();
        }
        w.clear_pending(&arn, &token).await;
        assert_master_rotated(&w, &token).await;
        assert_integration_rotates(&w, &integration).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_master_secret_or_recovery_token_is_ever_logged() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let w = world(EmulatorConfig::default()).await;
    let org = w.org();
    let integration = w.integration_secret().await;
    let arn = w.master_arns[0].clone();
    let mut secrets = vec![org.master_secret.clone(), org.legacy_secret.clone()];

    // A rotation whose answer is lost, recovered with the stored token.
    let token = w.begin_rotation(&arn, true).await;
    org.emulator
        .inject_fault(Fault::new(routes::NEW_SECRET, FaultAction::DropAfterApply));
    assert!(w.step(&arn, &token, Step::CreateSecret).await.is_err());
    secrets.push(live_master_secret(&w));
    w.run_steps(&arn, &token).await.unwrap();
    w.clear_pending(&arn, &token).await;
    secrets.push(live_master_secret(&w));

    // A rotation with an integration rotation in its window (the fallback logs a warning).
    let token = w.begin_rotation(&arn, true).await;
    w.step(&arn, &token, Step::CreateSecret).await.unwrap();
    w.rotator.forget_masters();
    w.rotate(&integration, 1).await;
    w.run_steps(&arn, &token).await.unwrap();
    w.clear_pending(&arn, &token).await;

    // A rotation that cannot recover: its error is logged.
    org.emulator.set_revoke_tokens_on_new_secret(true);
    let token = w.begin_rotation(&arn, true).await;
    org.emulator
        .inject_fault(Fault::new(routes::NEW_SECRET, FaultAction::DropAfterApply));
    assert!(w.step(&arn, &token, Step::CreateSecret).await.is_err());
    assert!(matches!(
        w.step(&arn, &token, Step::CreateSecret).await,
        Err(RotationError::MasterLocked { .. })
    ));

    let text = logs.text();
    assert!(text.contains("recovery token stored"), "logs were captured");
    assert!(text.contains("using its AWSPENDING secret"), "the fallback was logged");
    secrets.extend(org.emulator.clients().into_iter().map(|c| c.secret));
    for secret in secrets {
        assert!(!text.contains(&secret), "a client secret appears in the logs");
    }
    for token in org.emulator.issued_tokens() {
        assert!(!text.contains(&token), "an access token appears in the logs");
    }
    assert!(
        !text.to_lowercase().contains("bearer "),
        "an Authorization header appears in the logs"
    );
}
