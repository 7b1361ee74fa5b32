//! The master secret's own rotation: a new secret for the same master client, a crash at every
//! store and Genesys call of every step then Secrets Manager's retry, recovery with the stored
//! token after a lost new-secret answer, the operator's way out when no recovery is possible,
//! integration rotations during the master's window, and no secret or token in the logs.

use std::time::{Duration, Instant};

use genesys_emulator::{routes, EmulatorConfig, Fault, FaultAction};
use genesys_rotator::config::RotatorConfig;
use genesys_rotator::rotation::master::{lock_version, LEASE_GRACE, RECOVERY_STAGE};
use genesys_rotator::rotation::{RotationError, Rotator, Step, StepOutcome};
use genesys_rotator::store::{SecretStore, AWSCURRENT, AWSPENDING};
use genesys_rotator::Classify;
use secrecy::SecretString;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::harness::{event, step_with, tokens_me_status, LogCapture, Org, TestRotator, When, World, PREFIX};

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
    w.rotator.deployment().forget_masters();
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

/// Secrets Manager's retry of the whole rotation after a failed step (again once the lease has
/// ended if the lock of a stopped attempt is still held), then the state it must reach and an
/// integration rotation that needs it.
async fn retry_and_check(w: &World, arn: &str, token: &str, integration: &str, label: &str) {
    w.org().emulator.clear_faults();
    w.run_steps_after_lease(arn, token)
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
    // createSecret: describe, current, pending, the newest lock (by its label: none), recovery
    // put, pending put; finishSecret: describe, pending, promote, recovery label.
    assert_eq!(calls[0].1, 6, "{:?}", w.store.log());
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
    // It is the lock, still held: the answer was lost, so the request might still be on its way.
    assert_eq!(recovery["generation"], json!(0));
    assert_eq!(
        w.describe(&arn).await.version_with(RECOVERY_STAGE),
        Some(lock_version(&token, 0).as_str())
    );
    let busy = w.step(&arn, &token, Step::CreateSecret).await.unwrap_err();
    assert!(
        matches!(busy, RotationError::MasterRotationBusy { generation: 0, .. }),
        "{busy:?}"
    );
    assert_eq!(org.emulator.call_counts().get(routes::NEW_SECRET), Some(&1));

    // Secrets Manager's retry, once the lease has ended, renews the secret again with that token.
    let outcomes = w.run_steps_after_lease(&arn, &token).await.unwrap();
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

/// A gateway's 502 to the new-secret request after Genesys issued the secret.
fn status_after_apply(org: &Org) -> Fault {
    Fault::new(routes::NEW_SECRET, FaultAction::StatusAfterApply { status: 502 }).for_client(&org.master_id)
}

/// The rest of the rotation after createSecret, then what it must leave: the master's live
/// secret current, the old one dead, no client made, integration rotations working.
async fn finish_and_check(w: &World, arn: &str, token: &str, integration: &str) {
    let org = w.org();
    for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        w.step(arn, token, step)
            .await
            .unwrap_or_else(|e| panic!("{step:?}: {e}"));
    }
    w.clear_pending(arn, token).await;
    assert_master_rotated(w, token).await;
    assert_eq!(token_status(org, &org.master_id, &org.master_secret).await, 401);
    assert!(
        org.managed(PREFIX).is_empty(),
        "a master rotation leaves no client behind"
    );
    assert_integration_rotates(w, integration).await;
}

#[tokio::test]
async fn a_5xx_after_the_new_secret_was_issued_is_recovered_by_the_same_create_secret() {
    let w = world(EmulatorConfig::default()).await;
    let org = w.org();
    let integration = w.integration_secret().await;
    let arn = w.master_arns[0].clone();
    let token = w.begin_rotation(&arn, true).await;
    org.emulator.inject_fault(status_after_apply(org));

    // The 502 proves nothing: the step finds the current secret refused (the secret changed) and
    // asks again with its recovery token, under the lock it holds.
    let outcome = w.step(&arn, &token, Step::CreateSecret).await.unwrap();
    assert_eq!(
        outcome,
        StepOutcome::SecretRenewed {
            client_id: org.master_id.clone(),
            recovered: true
        }
    );
    assert_eq!(new_secret_requests(org), 2);
    assert_eq!(
        w.master_lock(&arn).await["generation"],
        json!(0),
        "one holder, no retry"
    );
    finish_and_check(&w, &arn, &token, &integration).await;
}

#[tokio::test]
async fn a_5xx_after_the_new_secret_was_issued_that_cannot_be_checked_at_once_is_recovered_by_the_retry() {
    let w = world(EmulatorConfig::default()).await;
    let org = w.org();
    let integration = w.integration_secret().await;
    let arn = w.master_arns[0].clone();
    let token = w.begin_rotation(&arn, true).await;
    org.emulator.inject_fault(status_after_apply(org));
    // The login host fails every token request after the step's first one: the check of the
    // current secret cannot be made.
    org.emulator.inject_fault(
        Fault::new(
            routes::TOKEN,
            FaultAction::Status {
                status: 503,
                retry_after: None,
            },
        )
        .for_client(&org.master_id)
        .skip(1)
        .times(1000),
    );

    let err = w.step(&arn, &token, Step::CreateSecret).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains("502"), "{err}");
    // The check was tried: a token request of the master after the new-secret request.
    let calls = org.emulator.calls();
    let renewal = calls
        .iter()
        .position(|c| c.route == routes::NEW_SECRET)
        .expect("asked once");
    assert!(
        calls[renewal..]
            .iter()
            .any(|c| c.route == routes::TOKEN && c.status == Some(503)),
        "{calls:?}"
    );
    org.emulator.clear_faults();
    // The secret changed to one nobody saw; the answered failure released the lock (generation
    // 0 taken, 1 put with its lease ended), since nothing is in flight.
    assert_eq!(token_status(org, &org.master_id, &org.master_secret).await, 401);
    assert_eq!(w.master_lock(&arn).await["generation"], json!(1));
    assert_eq!(new_secret_requests(org), 1);

    // Secrets Manager's retry goes on at once (not busy): the current secret is refused, and the
    // lock record's recovery token renews it.
    let outcome = w.step(&arn, &token, Step::CreateSecret).await.unwrap();
    assert_eq!(
        outcome,
        StepOutcome::SecretRenewed {
            client_id: org.master_id.clone(),
            recovered: true
        }
    );
    assert_eq!(new_secret_requests(org), 2);
    finish_and_check(&w, &arn, &token, &integration).await;
}

#[tokio::test]
async fn the_recovering_create_secret_crashing_at_each_store_call_is_recovered() {
    let w = world(EmulatorConfig::default()).await;
    let integration = w.integration_secret().await;
    let arn = w.master_arns[0].clone();
    let lose_the_answer = |w: &World| {
        w.org()
            .emulator
            .inject_fault(Fault::new(routes::NEW_SECRET, FaultAction::DropAfterApply))
    };

    // The recovering createSecret makes: describe, current, pending, the newest lock (by its
    // label), the next lock generation, pending again (an earlier holder may have stored it),
    // pending put.
    let token = w.begin_rotation(&arn, true).await;
    lose_the_answer(&w);
    assert!(w.step(&arn, &token, Step::CreateSecret).await.is_err());
    w.wait_for_master_lease(&arn).await;
    let before = w.store.calls();
    let outcome = w.step(&arn, &token, Step::CreateSecret).await.unwrap();
    assert!(matches!(outcome, StepOutcome::SecretRenewed { recovered: true, .. }));
    assert_eq!(w.store.calls() - before, 7, "{:?}", w.store.log());
    retry_and_check(&w, &arn, &token, &integration, "recovering, clean").await;

    for n in 0..7 {
        for when in [When::Before, When::After] {
            let label = format!("recovering store call {n} {when:?}");
            let token = w.begin_rotation(&arn, true).await;
            lose_the_answer(&w);
            assert!(w.step(&arn, &token, Step::CreateSecret).await.is_err());
            // Secrets Manager's retry after the lease of the attempt that lost the answer.
            w.wait_for_master_lease(&arn).await;
            crash_store_call_and_recover(&w, &arn, &token, Step::CreateSecret, n, when, &integration, &label).await;
        }
    }
}

/// A createSecret stopped right after its lock was stored (the put landed, its answer did not:
/// store call 4 of describe, current, pending, the newest lock (none), lock), then the wait for
/// its lease to end.
async fn stop_a_holder_after_its_lock(w: &World, token: &str) {
    let arn = &w.master_arns[0];
    w.store.fail_call(4, When::After);
    let err = w.step(arn, token, Step::CreateSecret).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(w.master_lock(arn).await["generation"], json!(0));
    w.wait_for_master_lease(arn).await;
}

#[tokio::test]
async fn a_takeover_from_a_stopped_holder_crashing_at_each_store_call_is_recovered() {
    let w = world(EmulatorConfig::default()).await;
    let integration = w.integration_secret().await;
    let arn = w.master_arns[0].clone();
    // The takeover (the current secret still works): describe, current, pending, the stopped
    // holder's lock, the next generation, pending again, pending put.
    let token = w.begin_rotation(&arn, true).await;
    stop_a_holder_after_its_lock(&w, &token).await;
    let before = w.store.calls();
    let outcome = w.step(&arn, &token, Step::CreateSecret).await.unwrap();
    assert!(matches!(outcome, StepOutcome::SecretRenewed { recovered: false, .. }));
    assert_eq!(w.store.calls() - before, 7, "{:?}", w.store.log());
    assert_eq!(w.master_lock(&arn).await["generation"], json!(1));
    retry_and_check(&w, &arn, &token, &integration, "takeover, clean").await;

    for n in 0..7 {
        for when in [When::Before, When::After] {
            let label = format!("takeover store call {n} {when:?}");
            let token = w.begin_rotation(&arn, true).await;
            stop_a_holder_after_its_lock(&w, &token).await;
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

    // Secrets Manager's retry, once the lease of the attempt that lost the answer has ended.
    let err = w.step_after_lease(&arn, &token, Step::CreateSecret).await.unwrap_err();
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
        w.rotator.deployment().forget_masters();
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
    w.run_steps_after_lease(&arn, &token).await.unwrap();
    w.clear_pending(&arn, &token).await;
    secrets.push(live_master_secret(&w));

    // A rotation with an integration rotation in its window (the fallback logs a warning).
    let token = w.begin_rotation(&arn, true).await;
    w.step(&arn, &token, Step::CreateSecret).await.unwrap();
    w.rotator.deployment().forget_masters();
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
        Err(RotationError::MasterRotationBusy { .. })
    ));
    assert!(matches!(
        w.step_after_lease(&arn, &token, Step::CreateSecret).await,
        Err(RotationError::MasterLocked { .. })
    ));

    let text = logs.text();
    assert!(text.contains("recovery token stored"), "logs were captured");
    assert!(text.contains("MasterRotationBusy"), "the busy refusal was logged");
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

// ---------------------------------------------------------------------------------------------
// The lock: concurrent invocations, a retry racing a live holder, releases, leases.

/// NEW_SECRET requests the emulator has received (finished, answered or not).
fn new_secret_requests(org: &Org) -> u64 {
    org.emulator.call_counts().get(routes::NEW_SECRET).copied().unwrap_or(0)
}

/// Polls `done` until it holds; fails after 10 s.
async fn wait_for<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let give_up = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(Instant::now() < give_up, "waited 10 s for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether the master can authenticate from what Secrets Manager holds: the secret in
/// AWSCURRENT or the one in AWSPENDING gets a token, by the emulator's own state (no request).
async fn stored_master_works(w: &World, arn: &str) -> bool {
    let org = w.org();
    for stage in [AWSCURRENT, AWSPENDING] {
        let Ok(out) = w.sm.get_secret_value().secret_id(arn).version_stage(stage).send().await else {
            continue;
        };
        let Some(value) = out.secret_string() else { continue };
        let value: Value = serde_json::from_str(value).unwrap();
        let secret = value["clientSecret"].as_str().unwrap_or_default();
        if org.emulator.token_grantable(&org.master_id, secret).is_ok() {
            return true;
        }
    }
    false
}

/// Another invocation of the rotation function (another sandbox: its own caches), in front of
/// the same Secrets Manager, with a lease of `lease_s` seconds.
fn another_invocation(w: &World, lease_s: u64) -> TestRotator {
    Rotator::new(
        w.store.clone(),
        RotatorConfig {
            master_lock: Duration::from_secs(lease_s),
            ..w.rotator_config()
        },
    )
}

fn parse_time(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().expect("a time"), &Rfc3339).expect("RFC 3339")
}

#[tokio::test]
async fn two_create_secrets_at_once_never_lock_the_master_out() {
    two_create_secrets_at_once(false).await;
}

#[tokio::test]
async fn two_create_secrets_at_once_never_lock_the_master_out_with_deprecated_versions_purged() {
    two_create_secrets_at_once(true).await;
}

/// Two invocations of createSecret at once, twelve times; `purge`: Secrets Manager deletes every
/// deprecated version (older lock generations) at once.
async fn two_create_secrets_at_once(purge: bool) {
    let w = world(EmulatorConfig::default()).await;
    w._moto.sm.purge_deprecated(purge);
    let org = w.org();
    let integration = w.integration_secret().await;
    let arn = w.master_arns[0].clone();
    let master = org.master_id.clone();
    // A lease longer than any delay below: the holder is never overtaken while it works.
    let (x, y) = (another_invocation(&w, 30), another_invocation(&w, 30));
    let delay =
        |route: &str, ms: u64| Fault::new(route, FaultAction::Delay(Duration::from_millis(ms))).for_client(&master);
    for round in 0..12usize {
        let token = w.begin_rotation(&arn, true).await;
        // The emulator delays answers: the new secret (both still see the old secret working),
        // the first token request (the other takes the lock, and may renew the secret before
        // this one is granted: that one finds the secret refused), or both.
        let faults = match round % 4 {
            0 => vec![],
            1 => vec![delay(routes::NEW_SECRET, 300)],
            2 => vec![delay(routes::TOKEN, 200)],
            _ => vec![delay(routes::TOKEN, 100), delay(routes::NEW_SECRET, 200)],
        };
        let label = format!("round {round} (faults {faults:?})");
        for f in faults {
            org.emulator.inject_fault(f);
        }
        let stagger = Duration::from_millis([0, 10, 60][round / 4]);
        let before = new_secret_requests(org);

        let (rx, ry) = tokio::join!(step_with(&x, &arn, &token, Step::CreateSecret), async {
            tokio::time::sleep(stagger).await;
            step_with(&y, &arn, &token, Step::CreateSecret).await
        });

        assert_eq!(
            new_secret_requests(org),
            before + 1,
            "{label}: exactly one new-secret request: {rx:?} / {ry:?}"
        );
        let renewed = [&rx, &ry]
            .iter()
            .filter(|r| matches!(r, Ok(StepOutcome::SecretRenewed { recovered: false, .. })))
            .count();
        assert_eq!(renewed, 1, "{label}: one renewed the secret: {rx:?} / {ry:?}");
        for r in [&rx, &ry] {
            match r {
                Ok(StepOutcome::SecretRenewed { .. } | StepOutcome::AlreadyCreated) => {}
                Err(e @ RotationError::MasterRotationBusy { .. }) => assert!(e.is_retryable()),
                other => panic!("{label}: the other found the value stored or was refused as busy: {other:?}"),
            }
        }
        assert!(
            stored_master_works(&w, &arn).await,
            "{label}: AWSCURRENT or AWSPENDING still gets a token"
        );

        // Secrets Manager's retry, then the rest of the rotation; after every step the master
        // still authenticates from what is stored.
        org.emulator.clear_faults();
        for step in STEPS {
            let outcome = step_with(&y, &arn, &token, step)
                .await
                .unwrap_or_else(|e| panic!("{label}: {step:?}: {e}"));
            if step == Step::CreateSecret {
                assert_eq!(outcome, StepOutcome::AlreadyCreated, "{label}");
            }
            assert!(stored_master_works(&w, &arn).await, "{label}: after {step:?}");
        }
        w.clear_pending(&arn, &token).await;
        assert!(stored_master_works(&w, &arn).await, "{label}: finished");
        assert_master_rotated(&w, &token).await;
    }
    assert_integration_rotates(&w, &integration).await;
}

#[tokio::test]
async fn a_retry_racing_a_live_holder_is_refused_as_busy_and_asks_for_nothing() {
    let w = world(EmulatorConfig::default()).await;
    let org = w.org();
    let arn = w.master_arns[0].clone();
    let (holder, retry) = (another_invocation(&w, 30), another_invocation(&w, 30));

    // 1. The retry comes while the holder's new-secret request is on its way (the emulator holds
    // the answer): the current secret still works, the lock is taken.
    let token = w.begin_rotation(&arn, true).await;
    org.emulator.inject_fault(
        Fault::new(routes::NEW_SECRET, FaultAction::Delay(Duration::from_millis(1500))).for_client(&org.master_id),
    );
    let (held, refused) = tokio::join!(step_with(&holder, &arn, &token, Step::CreateSecret), async {
        wait_for("the holder's lock record", || async {
            w.describe(&arn).await.version_with(RECOVERY_STAGE).is_some()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        step_with(&retry, &arn, &token, Step::CreateSecret).await
    });
    assert_eq!(
        held.unwrap(),
        StepOutcome::SecretRenewed {
            client_id: org.master_id.clone(),
            recovered: false
        }
    );
    let refused = refused.unwrap_err();
    let lock = w.master_lock(&arn).await;
    match &refused {
        RotationError::MasterRotationBusy {
            arn: busy_arn,
            version,
            generation,
            lease_until,
        } => {
            assert_eq!((busy_arn, version, *generation), (&arn, &token, 0));
            assert_eq!(*lease_until, parse_time(&lock["leaseUntil"]), "the holder's lease");
        }
        other => panic!("expected MasterRotationBusy: {other:?}"),
    }
    assert!(refused.is_retryable());
    let message = refused.to_string();
    assert!(
        message.contains(&token) && message.contains("nothing was changed"),
        "{message}"
    );
    assert!(!message.contains(lock["accessToken"].as_str().unwrap()));
    assert_eq!(
        lambda_runtime::Diagnostic::from(refused).error_type,
        "Retryable.MasterRotationBusy"
    );
    assert_eq!(new_secret_requests(org), 1, "the retry asked for no new secret");
    // Secrets Manager's retry of the refused invocation finds the value stored.
    assert_eq!(
        step_with(&retry, &arn, &token, Step::CreateSecret).await.unwrap(),
        StepOutcome::AlreadyCreated
    );
    w.run_steps(&arn, &token).await.unwrap();
    w.clear_pending(&arn, &token).await;
    assert_master_rotated(&w, &token).await;

    // 2. The retry comes after the holder's new secret, before its PutSecretValue (a slow
    // holder): the current secret is refused, and the recovery token must not be used while the
    // holder lives, or its answer would be killed.
    let token = w.begin_rotation(&arn, true).await;
    w.store.slow_next_put_pending(Duration::from_millis(1500));
    let (held, refused) = tokio::join!(step_with(&holder, &arn, &token, Step::CreateSecret), async {
        wait_for("the holder's new secret", || async { new_secret_requests(org) >= 2 }).await;
        let refused = step_with(&retry, &arn, &token, Step::CreateSecret).await;
        assert!(
            !stored_master_works(&w, &arn).await,
            "in the window, only the holder knows the working secret"
        );
        refused
    });
    assert_eq!(
        held.unwrap(),
        StepOutcome::SecretRenewed {
            client_id: org.master_id.clone(),
            recovered: false
        }
    );
    assert!(
        matches!(refused, Err(RotationError::MasterRotationBusy { generation: 0, .. })),
        "{refused:?}"
    );
    assert_eq!(new_secret_requests(org), 2, "the retry asked for no new secret");
    assert!(stored_master_works(&w, &arn).await);
    assert_eq!(
        step_with(&retry, &arn, &token, Step::CreateSecret).await.unwrap(),
        StepOutcome::AlreadyCreated
    );
    w.run_steps(&arn, &token).await.unwrap();
    w.clear_pending(&arn, &token).await;
    assert_master_rotated(&w, &token).await;
}

#[tokio::test]
async fn an_answered_failure_releases_the_lock_and_an_unanswered_one_keeps_it() {
    let w = world(EmulatorConfig::default()).await;
    let org = w.org();
    let integration = w.integration_secret().await;
    let arn = w.master_arns[0].clone();
    let token = w.begin_rotation(&arn, true).await;

    // Answered (500): nothing of the request is on its way, so the holder releases the lock:
    // generation 1, its lease already ended, the same recovery token.
    org.emulator.inject_fault(
        Fault::new(
            routes::NEW_SECRET,
            FaultAction::Status {
                status: 500,
                retry_after: None,
            },
        )
        .for_client(&org.master_id),
    );
    let err = w.step(&arn, &token, Step::CreateSecret).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let held = lock_record(&w, &arn, &token, 0).await;
    let released = w.master_lock(&arn).await;
    assert_eq!(released["generation"], json!(1));
    assert!(parse_time(&released["leaseUntil"]) <= OffsetDateTime::now_utc());
    assert_eq!(released["accessToken"], held["accessToken"]);
    assert_ne!(released["holder"], held["holder"]);

    // So Secrets Manager's retry goes on at once, at generation 2.
    let outcome = w.step(&arn, &token, Step::CreateSecret).await.unwrap();
    assert!(matches!(outcome, StepOutcome::SecretRenewed { recovered: false, .. }));
    assert_eq!(w.master_lock(&arn).await["generation"], json!(2));
    // As AWS answers: DescribeSecret lists the labelled generation only; the older ones are
    // deprecated versions, found by id or with ListSecretVersionIds(IncludeDeprecated).
    let desc = w.describe(&arn).await;
    let ids = w.store.version_ids(&arn).await.unwrap();
    for g in 0..=2 {
        assert_eq!(
            desc.versions.contains_key(&lock_version(&token, g)),
            g == 2,
            "generation {g} listed by DescribeSecret: {:?}",
            desc.versions
        );
        assert!(
            ids.contains(&lock_version(&token, g)),
            "generation {g} among the version ids"
        );
    }
    retry_and_check(&w, &arn, &token, &integration, "after a release").await;

    // No answer (the connection dropped before the service acted, which the holder cannot
    // tell from after): the lock is kept until its lease ends.
    let token = w.begin_rotation(&arn, true).await;
    org.emulator
        .inject_fault(Fault::new(routes::NEW_SECRET, FaultAction::Drop).for_client(&org.master_id));
    assert!(w.step(&arn, &token, Step::CreateSecret).await.is_err());
    assert_eq!(w.master_lock(&arn).await["generation"], json!(0));
    let before = new_secret_requests(org);
    assert!(matches!(
        w.step(&arn, &token, Step::CreateSecret).await,
        Err(RotationError::MasterRotationBusy { generation: 0, .. })
    ));
    assert_eq!(new_secret_requests(org), before);
    w.wait_for_master_lease(&arn).await;
    let outcome = w.step(&arn, &token, Step::CreateSecret).await.unwrap();
    assert!(matches!(outcome, StepOutcome::SecretRenewed { recovered: false, .. }));
    retry_and_check(&w, &arn, &token, &integration, "after a lease").await;
}

/// Lock record `generation` of rotation `token`, read by its version id (the label moves on to
/// newer generations).
async fn lock_record(w: &World, arn: &str, token: &str, generation: u32) -> Value {
    let out =
        w.sm.get_secret_value()
            .secret_id(arn)
            .version_id(lock_version(token, generation))
            .send()
            .await
            .unwrap_or_else(|e| panic!("lock generation {generation}: {e}"));
    serde_json::from_str(out.secret_string().unwrap()).unwrap()
}

#[tokio::test]
async fn a_step_with_a_deadline_holds_the_lock_until_a_grace_after_it() {
    let w = world(EmulatorConfig::default()).await;
    let org = w.org();
    let arn = w.master_arns[0].clone();
    let token = w.begin_rotation(&arn, true).await;
    org.emulator
        .inject_fault(Fault::new(routes::NEW_SECRET, FaultAction::DropAfterApply));

    // A Lambda invocation with 20 s left: stopped there at the latest.
    let started = OffsetDateTime::now_utc();
    let deadline = Instant::now() + Duration::from_secs(20);
    let err = w
        .rotator
        .handle_until(&event(&arn, &token, Step::CreateSecret), Some(deadline))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let until = parse_time(&w.master_lock(&arn).await["leaseUntil"]);
    let expected = started + Duration::from_secs(20) + LEASE_GRACE;
    assert!(
        (until - expected).abs() < time::Duration::seconds(2),
        "lease until {until}, expected about {expected}"
    );

    // Its retry, even one without a deadline of its own, waits for that lease.
    let before = new_secret_requests(org);
    match w.step(&arn, &token, Step::CreateSecret).await {
        Err(RotationError::MasterRotationBusy { lease_until, .. }) => assert_eq!(lease_until, until),
        other => panic!("expected MasterRotationBusy: {other:?}"),
    }
    assert_eq!(new_secret_requests(org), before);
}

#[tokio::test]
async fn the_harness_refuses_to_change_a_stored_version_as_aws_does() {
    let w = World::new().await;
    let arn = w.create_secret("harness/versions", &json!({"v": 0})).await;
    let value = |s: &str| SecretString::from(s.to_owned());
    let id = uuid::Uuid::new_v4().to_string();

    w.store
        .put_staged(&arn, &id, &value("\"a\""), "LOCK", None)
        .await
        .unwrap();
    // The same content again is accepted (an idempotent retry), other content is refused.
    w.store
        .put_staged(&arn, &id, &value("\"a\""), "LOCK", None)
        .await
        .unwrap();
    let err = w
        .store
        .put_staged(&arn, &id, &value("\"b\""), "LOCK", None)
        .await
        .unwrap_err();
    assert!(err.is_version_exists(), "{err:?}");
    assert_eq!(w.value(&arn, "LOCK").await, json!("a"));

    // An AWSPENDING version that holds a value: moto itself would overwrite it.
    let token = uuid::Uuid::new_v4().to_string();
    w.store.put_pending(&arn, &token, &value("\"p1\""), None).await.unwrap();
    let err = w
        .store
        .put_pending(&arn, &token, &value("\"p2\""), None)
        .await
        .unwrap_err();
    assert!(err.is_version_exists(), "{err:?}");
    assert_eq!(w.value(&arn, AWSPENDING).await, json!("p1"));

    // Two writers of one new version at once: exactly one wins, many times over.
    for n in 0..20 {
        let id = uuid::Uuid::new_v4().to_string();
        let (x, y) = (value("\"x\""), value("\"y\""));
        let (a, b) = tokio::join!(
            w.store.put_staged(&arn, &id, &x, "RACE", None),
            w.store.put_staged(&arn, &id, &y, "RACE", None)
        );
        assert!(a.is_ok() != b.is_ok(), "round {n}: {a:?} / {b:?}");
    }
}

/// Secrets Manager's retries of a rotation whose new-secret request is answered with an error
/// `failures` times: each retry comes at once (within the failed holder's lease, which is long
/// here), as Secrets Manager's own retries do. The holder that got the answer released the lock,
/// so each retry takes the next generation and asks again; none is refused as busy.
async fn retries_after_answered_failures_go_on(w: &World, failures: u32, label: &str) {
    let org = w.org();
    let arn = w.master_arns[0].clone();
    let function = another_invocation(w, 600);
    let token = w.begin_rotation(&arn, true).await;
    let answered = FaultAction::Status {
        status: 500,
        retry_after: None,
    };
    org.emulator.inject_fault(
        Fault::new(routes::NEW_SECRET, answered)
            .for_client(&org.master_id)
            .times(failures),
    );
    let before = new_secret_requests(org);
    let mut seen = Vec::new();
    let outcome = loop {
        match step_with(&function, &arn, &token, Step::CreateSecret).await {
            Ok(outcome) => break outcome,
            Err(e) => {
                assert!(
                    !matches!(e, RotationError::MasterRotationBusy { .. }),
                    "{label}: retry {} after {} answered failures refused as busy: {e}",
                    seen.len(),
                    seen.len()
                );
                assert!(e.is_retryable(), "{label}: {e:?}");
                seen.push(e);
                assert!(
                    seen.len() <= failures as usize,
                    "{label}: more failures than injected: {seen:?}"
                );
            }
        }
    };
    assert!(
        matches!(outcome, StepOutcome::SecretRenewed { recovered: false, .. }),
        "{label}: {outcome:?}"
    );
    assert_eq!(seen.len(), failures as usize, "{label}");
    assert_eq!(new_secret_requests(org), before + u64::from(failures) + 1, "{label}");
    // Each answered attempt took a generation and released it with the next: the holder that
    // renewed the secret took generation 2 * failures.
    assert_eq!(w.master_lock(&arn).await["generation"], json!(2 * failures), "{label}");
    for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        step_with(&function, &arn, &token, step)
            .await
            .unwrap_or_else(|e| panic!("{label}: {step:?}: {e}"));
    }
    w.clear_pending(&arn, &token).await;
    assert_master_rotated(w, &token).await;
}

#[tokio::test]
async fn retries_after_answered_new_secret_failures_are_never_refused_as_busy() {
    // Measured against Secrets Manager that lists only labelled versions (issue 21): after one
    // answered failure, every retry was refused as busy until the first holder's lease ended,
    // since generation 0, whose lease still ran, was the newest generation listed.
    let w = world(EmulatorConfig::default()).await;
    let integration = w.integration_secret().await;
    retries_after_answered_failures_go_on(&w, 1, "one failure").await;
    retries_after_answered_failures_go_on(&w, 30, "30 failures").await;
    // And with Secrets Manager deleting every deprecated version at once: the older generations
    // are gone, the newest (labelled) one is enough.
    w._moto.sm.purge_deprecated(true);
    retries_after_answered_failures_go_on(&w, 1, "one failure, purged").await;
    retries_after_answered_failures_go_on(&w, 30, "30 failures, purged").await;
    assert_integration_rotates(&w, &integration).await;
}

#[tokio::test]
async fn a_lost_answer_is_recovered_when_older_lock_generations_were_deleted() {
    let w = world(EmulatorConfig::default()).await;
    let org = w.org();
    let integration = w.integration_secret().await;
    let arn = w.master_arns[0].clone();
    w._moto.sm.purge_deprecated(true);
    let token = w.begin_rotation(&arn, true).await;
    // An answered failure (generation 0 taken, released with 1), then a lost answer (generation 2,
    // kept until its lease ends): generations 0 and 1 lose the label and are deleted.
    org.emulator.inject_fault(
        Fault::new(
            routes::NEW_SECRET,
            FaultAction::Status {
                status: 500,
                retry_after: None,
            },
        )
        .for_client(&org.master_id),
    );
    assert!(w.step(&arn, &token, Step::CreateSecret).await.is_err());
    org.emulator
        .inject_fault(Fault::new(routes::NEW_SECRET, FaultAction::DropAfterApply));
    assert!(w.step(&arn, &token, Step::CreateSecret).await.is_err());
    assert_eq!(w.master_lock(&arn).await["generation"], json!(2));
    assert!(matches!(
        w.step(&arn, &token, Step::CreateSecret).await,
        Err(RotationError::MasterRotationBusy { generation: 2, .. })
    ));
    let ids = w.store.version_ids(&arn).await.unwrap();
    for g in 0..2 {
        assert!(w._moto.sm.is_purged(&lock_version(&token, g)), "generation {g} deleted");
        assert!(!ids.contains(&lock_version(&token, g)), "generation {g} deleted");
    }

    // The retry after the lease: the secret is refused, the newest record's token recovers it.
    let outcomes = w.run_steps_after_lease(&arn, &token).await.unwrap();
    assert_eq!(
        outcomes[0],
        StepOutcome::SecretRenewed {
            client_id: org.master_id.clone(),
            recovered: true
        }
    );
    w.clear_pending(&arn, &token).await;
    assert_master_rotated(&w, &token).await;
    assert_eq!(new_secret_requests(org), 3);
    assert_integration_rotates(&w, &integration).await;
}
