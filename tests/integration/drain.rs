//! Drain and delete end to end: finishSecret deactivates the rotated-out client and queues its
//! deletion; the cleanup (driven by an SQS event-source-mapping player against moto) deletes it
//! once the drain has passed, refusing wrong deletes, retrying 429s, re-sending not-yet-due
//! messages every 15 minutes for drains of a day or a week, and sending malformed messages to
//! the DLQ. Time is an input: the tests advance `now` (and the emulator's clock) instead of
//! sleeping.

use genesys_rotator::Classify;
use std::time::Duration;

use genesys_emulator::{routes, ClientState, Fault, FaultAction};
use genesys_rotator::cleanup::{Disposition, Refusal};
use genesys_rotator::drain::{DrainMessage, DRAIN_MESSAGE_VERSION};
use genesys_rotator::rotation::{RotationError, Step};
use genesys_rotator::store::{SecretStore, AWSCURRENT};
use serde_json::json;
use time::OffsetDateTime;

use crate::harness::{tokens_me_status, DrainWorld, LogCapture, SqsPlayer, When, World, PREFIX};

const DAY: u64 = 24 * 3600;

fn later(d: Duration) -> OffsetDateTime {
    OffsetDateTime::now_utc() + d
}

/// Delivers at `now`, and while the cleanup re-sends (not due), advances `now` (and the
/// emulator's clock) by the delay it asked for. Checks every copy is received exactly once.
/// Returns the number of hops, the final `now`, and whether the queue settled (no re-send).
async fn hop(dw: &DrainWorld, mut now: OffsetDateTime, max_hops: usize) -> (usize, OffsetDateTime, bool) {
    for hops in 0..max_hops {
        let before = dw.queue.sent().len();
        let d = dw.player.deliver(&dw.cleanup, now).await;
        assert!(d.failed.is_empty(), "no failures expected: {d:?}");
        for r in &d.received {
            assert_eq!(r.receive_count, 1, "a healthy copy is received once");
        }
        let sent = dw.queue.sent();
        if sent.len() == before {
            return (hops, now, true);
        }
        let delay = sent[before..].iter().map(|(_, d)| *d).max().unwrap();
        assert!(delay <= Duration::from_secs(900) && delay > Duration::ZERO, "{delay:?}");
        now += delay;
        dw.w.org().emulator.advance_clock(delay);
    }
    (max_hops, now, false)
}

#[tokio::test]
async fn a_drained_client_keeps_its_tokens_until_the_delete_then_401() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let dw = DrainWorld::new(&[]).await;
    let org = dw.w.org();
    let arn = dw.w.integration_secret().await;

    // Rotation 1 retires the legacy client (outside the prefix: deactivated, not deleted).
    let r1 = dw.rotate(&arn, 1).await;
    let client1 = dw.w.client_id(&arn, AWSCURRENT).await;
    assert_eq!(org.client(&org.legacy_id).unwrap().state, ClientState::Inactive);
    let token1 = org.emulator.issue_token_for(&client1).expect("token for client 1");

    // Rotation 2 retires client 1 (managed).
    let r2 = dw.rotate(&arn, 1).await;
    let client2 = dw.w.client_id(&arn, AWSCURRENT).await;
    let retired = org.client(&client1).unwrap();
    assert_eq!(retired.state, ClientState::Inactive, "old client deactivated");
    assert_eq!(retired.name, format!("{PREFIX}{}", r1.token));
    assert_eq!(tokens_me_status(org, &token1).await, 200, "its tokens keep working");
    assert!(org.emulator.issue_token_for(&client1).is_none(), "it mints no new ones");

    let sent = dw.queue.sent();
    assert_eq!(sent.len(), 2);
    let (m, delay) = &sent[1];
    assert_eq!(m.version, DRAIN_MESSAGE_VERSION);
    assert_eq!(m.client_id, client1);
    assert_eq!(m.secret_arn, arn);
    assert_eq!(m.secret_version_id, r1.token);
    assert_eq!(*delay, Duration::from_secs(900));
    // Token lifetime 3600 s (from the secret) + default margin 3600 s.
    assert_eq!(m.not_before - m.retired_at, time::Duration::seconds(7200));

    // Not due: both messages are re-sent, nothing deleted, the token still works.
    let d = dw.player.deliver(&dw.cleanup, OffsetDateTime::now_utc()).await;
    assert_eq!(d.received.len(), 2);
    assert!(d.failed.is_empty());
    assert_eq!(dw.queue.sent().len(), 4);
    assert!(org.client(&client1).is_some());
    assert_eq!(tokens_me_status(org, &token1).await, 200);

    // Due: client 1 is deleted; the legacy client's delete is refused (outside the prefix).
    let d = dw
        .player
        .deliver(&dw.cleanup, later(Duration::from_secs(26 * 3600)))
        .await;
    assert_eq!(d.received.len(), 2);
    assert!(d.failed.is_empty(), "a refusal is acknowledged, not retried");
    assert!(org.client(&client1).is_none(), "client 1 deleted");
    assert_eq!(tokens_me_status(org, &token1).await, 401, "its tokens die with it");
    assert_eq!(
        org.client(&org.legacy_id).unwrap().state,
        ClientState::Inactive,
        "legacy left for the operator"
    );
    assert_eq!(
        org.client(&client2).unwrap().state,
        ClientState::Active,
        "current untouched"
    );
    assert_eq!(dw.player.depth(&dw.player.queue_url).await, 0);
    dw.w.assert_rotated(&arn, &r2.token, Some(&r1.token), 0).await;

    let text = logs.text();
    assert!(text.contains("delete refused"), "legacy refusal logged");
    let mut secrets = vec![org.master_secret.clone(), org.legacy_secret.clone(), token1];
    secrets.extend(org.emulator.clients().into_iter().map(|c| c.secret));
    secrets.extend(org.emulator.issued_tokens());
    for s in secrets {
        assert!(!text.contains(&s), "a secret or token reached the logs");
    }
}

#[tokio::test]
async fn a_24_hour_drain_hops_through_15_minute_copies_and_ends_deleted() {
    let dw = DrainWorld::new(&[("DRAIN_SECONDS", &(DAY + 3600).to_string())]).await;
    let org = dw.w.org();
    let arn = dw.w.integration_secret().await;
    dw.rotate(&arn, 1).await;
    let client1 = dw.w.client_id(&arn, AWSCURRENT).await;
    let token1 = org.emulator.issue_token_for(&client1).unwrap();
    dw.rotate(&arn, 1).await;
    let not_before = dw.queue.sent()[1].0.not_before;
    assert_eq!(
        not_before - dw.queue.sent()[1].0.retired_at,
        time::Duration::seconds((DAY + 3600) as i64)
    );

    // Half-way: still draining, token still valid on the emulator's clock (3600 s lifetime:
    // advance less than that first).
    let (_, now, settled) = hop(&dw, OffsetDateTime::now_utc(), 2).await;
    assert!(!settled);
    assert!(org.client(&client1).is_some());
    assert_eq!(tokens_me_status(org, &token1).await, 200);
    let (hops, now, settled) = hop(&dw, now, 200).await;
    assert!(settled);
    assert!(now >= not_before);
    assert!((95..=110).contains(&hops), "{hops} hops for 25 h");
    assert!(org.client(&client1).is_none());
    assert_eq!(dw.player.depth(&dw.player.queue_url).await, 0);
    assert!(
        dw.player.dlq_bodies().await.is_empty(),
        "no healthy message reached the DLQ"
    );
}

#[tokio::test]
async fn a_7_day_drain_works_too() {
    let dw = DrainWorld::new(&[("DRAIN_SECONDS", &(7 * DAY).to_string())]).await;
    let org = dw.w.org();
    let arn = dw.w.integration_secret().await;
    dw.rotate(&arn, 1).await;
    let client1 = dw.w.client_id(&arn, AWSCURRENT).await;
    dw.rotate(&arn, 1).await;
    let (hops, _, settled) = hop(&dw, OffsetDateTime::now_utc(), 800).await;
    assert!(settled);
    assert!((672..=680).contains(&hops), "{hops} hops for 7 days");
    assert!(org.client(&client1).is_none());
    assert!(dw.player.dlq_bodies().await.is_empty());
}

#[tokio::test]
async fn a_configured_drain_shorter_than_the_token_lifetime_is_refused_before_any_change() {
    // The legacy client's tokens live 86400 s; 7200 s cannot cover them.
    let dw = DrainWorld::new(&[("DRAIN_SECONDS", "7200")]).await;
    let org = dw.w.org();
    let arn = dw.w.integration_secret().await;
    let token = dw.w.begin_rotation(&arn, true).await;
    let err = dw.run_steps(&arn, &token).await.unwrap_err();
    assert_eq!(err.0, Step::FinishSecret);
    assert!(matches!(err.1, RotationError::Retirement(_)));
    assert!(!err.1.is_retryable());
    let text = err.1.to_string();
    assert!(
        text.contains("7200") && text.contains("86400") && text.contains("90000"),
        "{text}"
    );
    assert_eq!(
        org.client(&org.legacy_id).unwrap().state,
        ClientState::Active,
        "nothing changed"
    );
    assert!(dw.queue.sent().is_empty());
}

#[tokio::test]
async fn duplicate_and_reordered_deliveries_delete_once() {
    let dw = DrainWorld::new(&[]).await;
    let org = dw.w.org();
    let arn = dw.w.integration_secret().await;
    let r1 = dw.rotate(&arn, 1).await;
    let client1 = dw.w.client_id(&arn, AWSCURRENT).await;
    let r2 = dw.rotate(&arn, 1).await;
    let client2 = dw.w.client_id(&arn, AWSCURRENT).await;
    // finishSecret run again (a retry after a lost answer) sends a duplicate.
    assert!(dw.step(&arn, &r2.token, Step::FinishSecret).await.is_ok());
    let r3 = dw.rotate(&arn, 1).await;
    let sent: Vec<DrainMessage> = dw.queue.sent().into_iter().map(|(m, _)| m).collect();
    assert_eq!(
        sent.iter().map(|m| m.client_id.as_str()).collect::<Vec<_>>(),
        [org.legacy_id.as_str(), &client1, &client1, &client2]
    );

    // Newest first, each twice, once all are due (the legacy client drains 25 h).
    let due = later(Duration::from_secs(26 * 3600));
    let mut outcomes = Vec::new();
    for m in sent.iter().rev().chain(sent.iter().rev()) {
        outcomes.push(match dw.process(m, due).await {
            Disposition::Deleted => "deleted",
            Disposition::AlreadyGone => "gone",
            Disposition::Refused(Refusal::NotManaged { .. }) => "not-managed",
            other => panic!("{other:?}"),
        });
    }
    assert_eq!(
        outcomes,
        [
            "deleted",
            "deleted",
            "gone",
            "not-managed",
            "gone",
            "gone",
            "gone",
            "not-managed"
        ]
    );
    assert_eq!(org.emulator.deleted_client_ids(), [client2.clone(), client1.clone()]);
    dw.w.assert_rotated(&arn, &r3.token, Some(&r2.token), 0).await;

    // And the queue copies, in whatever order moto hands them out, change nothing more.
    let deliveries = dw.player.deliver_all(&dw.cleanup, due, 10).await;
    assert!(deliveries.iter().all(|d| d.failed.is_empty()));
    assert_eq!(org.emulator.deleted_client_ids().len(), 2);
    assert!(r1.failures.is_empty());
}

#[tokio::test]
async fn forged_messages_delete_nothing_and_malformed_ones_end_in_the_dlq() {
    let dw = DrainWorld::new(&[]).await;
    let org = dw.w.org();
    let arn = dw.w.integration_secret().await;
    let r1 = dw.rotate(&arn, 1).await;
    let current = dw.w.client_id(&arn, AWSCURRENT).await;
    // A second secret in the same org, with its own prefix.
    let mut other_json = dw.w.integration_json_with_prefix(0, "other-");
    let other_legacy = org
        .emulator
        .seed_client(genesys_emulator::SeedClient::new("other-legacy", &[]));
    other_json["clientId"] = json!(other_legacy.id);
    other_json["clientSecret"] = json!(other_legacy.secret);
    let other_arn = dw.w.create_secret("genesys/other", &other_json).await;
    let o1 = dw.rotate(&other_arn, 1).await;
    let other_current = dw.w.client_id(&other_arn, AWSCURRENT).await;
    let now = OffsetDateTime::now_utc();
    let forge = |secret: &str, id: &str, name: String, version: &str| DrainMessage {
        version: DRAIN_MESSAGE_VERSION,
        secret_arn: secret.to_owned(),
        client_id: id.to_owned(),
        client_name: name,
        secret_version_id: version.to_owned(),
        retired_at: now - time::Duration::days(2),
        not_before: now - time::Duration::days(1),
    };
    let cases = [
        // The live client of this secret.
        (
            forge(&arn, &current, format!("{PREFIX}{}", r1.token), &r1.token),
            "current",
        ),
        // The other secret's live client, named as its own.
        (
            forge(&other_arn, &other_current, format!("other-{}", o1.token), &o1.token),
            "current",
        ),
        // The other secret's client, claimed under this secret's ARN with its real name: the
        // other secret's version is no version of this one.
        (
            forge(&arn, &other_current, format!("other-{}", o1.token), &o1.token),
            "version-mismatch",
        ),
        // The other secret's client, under this secret with a name in this prefix.
        (
            forge(&arn, &other_current, format!("{PREFIX}{}", o1.token), &o1.token),
            "version-mismatch",
        ),
        // A client outside any prefix.
        (
            forge(
                &arn,
                &org.master_id,
                "genesys-rotator-master".into(),
                "7d2f9a10-1111-4c2d-8e3f-4a5b6c7d8e9f",
            ),
            "version-mismatch",
        ),
        // This secret's real first version, which held the legacy client, naming another client.
        (
            forge(&arn, &other_current, format!("{PREFIX}{}", r1.token), &r1.token),
            "version-mismatch",
        ),
    ];
    for (m, want) in &cases {
        let got = match dw.process(m, now).await {
            Disposition::Refused(Refusal::Current) => "current",
            Disposition::Refused(Refusal::VersionMismatch) => "version-mismatch",
            Disposition::Refused(Refusal::NotManaged { .. }) => "not-managed",
            Disposition::Refused(Refusal::NameMismatch { .. }) => "name-mismatch",
            other => panic!("{want}: {other:?}"),
        };
        assert_eq!(got, *want, "{m:?}");
    }
    // A pending client is refused too.
    let token = dw.w.begin_rotation(&arn, true).await;
    dw.step(&arn, &token, Step::CreateSecret).await.unwrap();
    let pending = dw.w.client_id(&arn, "AWSPENDING").await;
    let m = forge(&arn, &pending, format!("{PREFIX}{token}"), &token);
    assert!(matches!(
        dw.process(&m, now).await,
        Disposition::Refused(Refusal::Pending)
    ));
    assert!(org.emulator.deleted_client_ids().is_empty(), "nothing deleted");

    // Malformed: garbage, a wrong version, a notBefore far beyond any drain.
    let mut v2 = serde_json::to_value(&cases[0].0).unwrap();
    v2["version"] = json!(2);
    let mut far = cases[0].0.clone();
    far.not_before = now + time::Duration::days(60);
    let bodies = ["not json at all".to_owned(), v2.to_string(), far.to_body()];
    // On a queue of their own, so the drain messages of the rotations above stay out of it.
    let player = SqsPlayer::create(dw.w._moto.sqs(), "forged", 3).await;
    for b in &bodies {
        player
            .sqs
            .send_message()
            .queue_url(&player.queue_url)
            .message_body(b)
            .send()
            .await
            .unwrap();
    }
    // A cleanup fed by that queue (the world's takes records from its own drain queue only).
    let cleanup = genesys_rotator::cleanup::Cleanup::new(
        dw.w.store.clone(),
        dw.w.rotator_config(),
        dw.queue.clone(),
        genesys_rotator::drain::DrainSettings::default(),
    )
    .accept_only_from(&player.queue_url);
    let deliveries = player.deliver_all(&cleanup, now, 10).await;
    let receives: Vec<u32> = deliveries
        .iter()
        .flat_map(|d| d.received.iter().map(|r| r.receive_count))
        .collect();
    assert!(
        deliveries.iter().all(|d| d.failed.len() == d.received.len()),
        "every malformed message fails"
    );
    assert_eq!(receives.iter().max(), Some(&3), "received up to maxReceiveCount");
    let mut dlq = player.dlq_bodies().await;
    dlq.sort();
    let mut want = bodies.to_vec();
    want.sort();
    assert_eq!(dlq, want, "malformed messages end in the DLQ");
    assert!(org.emulator.deleted_client_ids().is_empty());
}

#[tokio::test]
async fn a_404_on_delete_is_done_and_a_429_comes_back_later() {
    let dw = DrainWorld::new(&[]).await;
    let org = dw.w.org();
    let arn = dw.w.integration_secret().await;
    dw.rotate(&arn, 1).await;
    let client1 = dw.w.client_id(&arn, AWSCURRENT).await;
    dw.rotate(&arn, 1).await;
    let client2 = dw.w.client_id(&arn, AWSCURRENT).await;
    dw.rotate(&arn, 1).await;
    let due = later(Duration::from_secs(3 * 3600));
    let sent: Vec<DrainMessage> = dw.queue.sent().into_iter().map(|(m, _)| m).collect();
    let m1 = sent.iter().find(|m| m.client_id == client1).unwrap();
    let m2 = sent.iter().find(|m| m.client_id == client2).unwrap();

    // 404 on DELETE (someone deleted it between our GET and DELETE): done.
    org.emulator.inject_fault(
        Fault::new(
            routes::DELETE_CLIENT,
            FaultAction::Status {
                status: 404,
                retry_after: None,
            },
        )
        .for_client(&client1),
    );
    assert!(matches!(dw.process(m1, due).await, Disposition::AlreadyGone));

    // 429 asking for longer than the client will sleep: a batch item failure, then success.
    org.emulator.inject_fault(
        Fault::new(
            routes::DELETE_CLIENT,
            FaultAction::Status {
                status: 429,
                retry_after: Some(120),
            },
        )
        .for_client(&client2),
    );
    let d = dw.process(m2, due).await;
    assert!(matches!(d, Disposition::Retry(ref e) if e.is_retryable()), "{d:?}");
    assert!(d.is_batch_failure());
    assert!(org.client(&client2).is_some());
    assert!(matches!(dw.process(m2, due).await, Disposition::Deleted));

    // Through the queue: a 429 on the first delivery of the remaining copies comes back.
    let _ = dw
        .player
        .deliver_all(&dw.cleanup, later(Duration::from_secs(26 * 3600)), 10)
        .await;
    assert_eq!(dw.player.depth(&dw.player.queue_url).await, 0);
    dw.rotate(&arn, 1).await;
    let client3 = dw.queue.sent().last().unwrap().0.client_id.clone();
    org.emulator.inject_fault(
        Fault::new(
            routes::DELETE_CLIENT,
            FaultAction::Status {
                status: 429,
                retry_after: Some(120),
            },
        )
        .for_client(&client3),
    );
    let first = dw.player.deliver(&dw.cleanup, due).await;
    assert_eq!(first.failed.len(), 1);
    assert!(org.client(&client3).is_some());
    let second = dw.player.deliver(&dw.cleanup, due).await;
    assert_eq!(second.received[0].receive_count, 2);
    assert!(second.failed.is_empty());
    assert!(org.client(&client3).is_none());
}

/// What every crashed-then-retried finishSecret must leave: the old client inactive, and among
/// the queued messages exactly one delete that does something.
async fn assert_retired_once(dw: &DrainWorld, old: &str, sent_before: usize) {
    let org = dw.w.org();
    assert_eq!(
        org.client(old).unwrap().state,
        ClientState::Inactive,
        "old client inactive"
    );
    let new: Vec<DrainMessage> = dw.queue.sent()[sent_before..].iter().map(|(m, _)| m.clone()).collect();
    assert!(!new.is_empty(), "its deletion is queued");
    assert!(new.iter().all(|m| m.client_id == old), "only the old client is queued");
    let due = new.iter().map(|m| m.not_before).max().unwrap() + time::Duration::seconds(1);
    let deleted_before = org.emulator.deleted_client_ids().len();
    let deliveries = dw.player.deliver_all(&dw.cleanup, due, 10).await;
    assert!(deliveries.iter().all(|d| d.failed.is_empty()));
    assert_eq!(
        org.emulator.deleted_client_ids().len(),
        deleted_before + 1,
        "exactly one delete"
    );
    assert_eq!(org.emulator.deleted_client_ids().last().map(String::as_str), Some(old));
}

#[tokio::test]
async fn finish_secret_crashing_at_any_call_then_retried_retires_once() {
    let dw = DrainWorld::new(&[]).await;
    let org = dw.w.org();
    let arn = dw.w.integration_secret().await;
    dw.rotate(&arn, 1).await;
    let _ = dw
        .player
        .deliver_all(&dw.cleanup, later(Duration::from_secs(30 * 3600)), 10)
        .await; // legacy: refused

    // How many store calls a clean finishSecret makes.
    let token = dw.w.begin_rotation(&arn, true).await;
    for step in [Step::CreateSecret, Step::SetSecret, Step::TestSecret] {
        dw.step(&arn, &token, step).await.unwrap();
    }
    let old = dw.w.client_id(&arn, AWSCURRENT).await;
    let (calls, sent) = (dw.w.store.calls(), dw.queue.sent().len());
    dw.step(&arn, &token, Step::FinishSecret).await.unwrap();
    dw.w.clear_pending(&arn, &token).await;
    let store_calls = dw.w.store.calls() - calls;
    assert!(store_calls >= 5, "{:?}", dw.w.store.log());
    assert_retired_once(&dw, &old, sent).await;

    enum Crash {
        Store(usize, When),
        Genesys(&'static str, FaultAction),
        Queue(When),
    }
    let drop5 = |route| Crash::Genesys(route, FaultAction::DropAfterApply);
    let mut crashes = Vec::new();
    for n in 0..store_calls {
        crashes.push(Crash::Store(n, When::Before));
        crashes.push(Crash::Store(n, When::After));
    }
    crashes.push(drop5(routes::GET_CLIENT));
    crashes.push(drop5(routes::UPDATE_CLIENT));
    crashes.push(Crash::Genesys(
        routes::UPDATE_CLIENT,
        FaultAction::Status {
            status: 503,
            retry_after: None,
        },
    ));
    crashes.push(Crash::Queue(When::Before));
    crashes.push(Crash::Queue(When::After));

    for crash in crashes {
        let token = dw.w.begin_rotation(&arn, true).await;
        for step in [Step::CreateSecret, Step::SetSecret, Step::TestSecret] {
            dw.step(&arn, &token, step).await.unwrap();
        }
        let old = dw.w.client_id(&arn, AWSCURRENT).await;
        let sent = dw.queue.sent().len();
        let label = match &crash {
            Crash::Store(n, when) => {
                dw.w.store.fail_call(*n, *when);
                format!("store call {n} {when:?}")
            }
            Crash::Genesys(route, action) => {
                // Five in a row: the client's own retries are exhausted, the step fails.
                org.emulator
                    .inject_fault(Fault::new(*route, action.clone()).times(5).for_client(&old));
                format!("{route} {action:?}")
            }
            Crash::Queue(when) => {
                dw.queue.fail_send(0, *when);
                format!("SQS send {when:?}")
            }
        };
        let first = dw.step(&arn, &token, Step::FinishSecret).await;
        assert!(first.is_err(), "{label}: the injected crash fails the step");
        org.emulator.clear_faults();
        dw.step(&arn, &token, Step::FinishSecret)
            .await
            .unwrap_or_else(|e| panic!("{label}: retry failed: {e}"));
        dw.w.clear_pending(&arn, &token).await;
        dw.w.assert_rotated(&arn, &token, None, 0).await;
        assert_retired_once(&dw, &old, sent).await;
    }
}

#[tokio::test]
async fn sqs_honours_the_delay_on_a_real_send() {
    let w = World::new().await;
    let player = SqsPlayer::create(w._moto.sqs(), "delay-check", 3).await;
    let queue = genesys_rotator::drain::SqsDrainQueue::new(player.sqs.clone(), &player.queue_url);
    let now = OffsetDateTime::now_utc();
    let m = DrainMessage {
        version: DRAIN_MESSAGE_VERSION,
        secret_arn: w.master_arns[0].clone(),
        client_id: "2f1c8a52-8f0e-4c1e-9d6b-0d3c5c7e9a11".into(),
        client_name: "crm-rot-0b0e7c9e-5c1f-4d6e-9f7a-2b8c1d3e4f5a".into(),
        secret_version_id: "0b0e7c9e-5c1f-4d6e-9f7a-2b8c1d3e4f5a".into(),
        retired_at: now,
        not_before: now + time::Duration::days(1),
    };
    use genesys_rotator::drain::DrainQueue;
    queue.send(&m, Duration::from_secs(86_400)).await.unwrap(); // clamped to 900 s
    let got = player
        .sqs
        .receive_message()
        .queue_url(&player.queue_url)
        .send()
        .await
        .unwrap();
    assert!(got.messages().is_empty(), "a delayed message is not visible yet");
    assert_eq!(player.depth(&player.queue_url).await, 1);
    queue.send(&m, Duration::ZERO).await.unwrap();
    let got = player
        .sqs
        .receive_message()
        .queue_url(&player.queue_url)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 1);
    assert_eq!(DrainMessage::parse(got.messages()[0].body().unwrap()).unwrap(), m);
}

#[tokio::test]
async fn a_drain_message_is_verified_against_the_secret_and_the_deactivation_not_trusted() {
    // GIVEN a managed client retired by a rotation (its version held it; the secret owns it)
    let dw = DrainWorld::new(&[]).await;
    let org = dw.w.org();
    let arn = dw.w.integration_secret().await;
    dw.rotate(&arn, 1).await;
    let client1 = dw.w.client_id(&arn, AWSCURRENT).await;
    dw.rotate(&arn, 1).await;
    let genuine = dw
        .queue
        .sent()
        .into_iter()
        .map(|(m, _)| m)
        .find(|m| m.client_id == client1)
        .expect("the retirement queued client 1");
    let drain = genuine.not_before - genuine.retired_at;
    assert_eq!(
        drain,
        time::Duration::seconds(2 * 3600),
        "token lifetime 3600 s plus the 1 h margin"
    );

    // WHEN a forged copy claims a shorter drain: refused, nothing deleted
    let mut short = genuine.clone();
    short.not_before = short.retired_at + time::Duration::seconds(60);
    let at = short.not_before + time::Duration::seconds(1);
    assert!(
        matches!(
            dw.process(&short, at).await,
            Disposition::Refused(Refusal::TooEarly { drain_s: 7200 })
        ),
        "a notBefore short of the drain is refused"
    );
    // WHEN a forged copy backdates the retirement: the drain still counts from the deactivation
    // Genesys shows, so the message goes back to the queue
    let mut backdated = genuine.clone();
    backdated.retired_at -= time::Duration::days(3);
    backdated.not_before -= time::Duration::days(3);
    let now = OffsetDateTime::now_utc();
    assert!(
        matches!(dw.process(&backdated, now).await, Disposition::Requeued { .. }),
        "not due before the real deactivation plus the drain"
    );
    assert!(org.client(&client1).is_some(), "nothing deleted early");
    assert_eq!(org.client(&client1).unwrap().state, ClientState::Inactive);

    // THEN the genuine message, once due in Genesys' clock too, deletes it
    dw.w.org().emulator.advance_clock(Duration::from_secs(2 * 3600 + 60));
    let due = genuine.not_before + time::Duration::seconds(60);
    assert!(matches!(dw.process(&genuine, due).await, Disposition::Deleted));
    assert!(org.client(&client1).is_none());
}

#[tokio::test]
async fn messages_not_started_before_the_deadline_come_back_untouched() {
    use aws_lambda_events::event::sqs::SqsEvent;
    let dw = DrainWorld::new(&[]).await;
    let arn = dw.w.integration_secret().await;
    dw.rotate(&arn, 1).await;
    dw.rotate(&arn, 1).await;
    let (message, _) = dw.queue.sent().pop().expect("a retirement was queued");
    let records: Vec<_> = (0..3)
        .map(|i| {
            json!({"messageId": format!("m{i}"), "body": message.to_body(), "attributes": {}, "messageAttributes": {},
                        "eventSource": "aws:sqs", "eventSourceARN": dw.player.queue_arn})
        })
        .collect();
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    let due = message.not_before + time::Duration::seconds(1);
    dw.w.org().emulator.advance_clock(Duration::from_secs(3 * 3600));
    let calls_before = dw.w.org().emulator.calls().len();

    // WHEN the invocation has too little time left to start any message
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    let response = genesys_rotator::deadline::scope(deadline, dw.cleanup.handle_batch(event.clone(), due)).await;

    // THEN every message comes back, and nothing was called or deleted
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m0", "m1", "m2"]);
    assert_eq!(dw.w.org().emulator.calls().len(), calls_before);
    assert!(dw.w.org().client(&message.client_id).is_some());

    // AND the scheduled pass stops before its first secret the same way
    let report = genesys_rotator::deadline::scope(
        std::time::Instant::now() + Duration::from_secs(1),
        dw.w.reconcile(std::slice::from_ref(&arn), due, false),
    )
    .await;
    assert_eq!(report.examined, 0, "{report:?}");

    // WHEN there is time: the batch is processed (one delete, two already gone)
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let response = genesys_rotator::deadline::scope(deadline, dw.cleanup.handle_batch(event, due)).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert!(dw.w.org().client(&message.client_id).is_none());
}

#[tokio::test]
async fn a_batch_not_from_the_drain_queue_is_refused_unread_and_nothing_is_re_sent() {
    use aws_lambda_events::event::sqs::SqsEvent;
    // GIVEN a genuine drain message, not yet due
    let dw = DrainWorld::new(&[]).await;
    let arn = dw.w.integration_secret().await;
    dw.rotate(&arn, 1).await;
    dw.rotate(&arn, 1).await;
    let (message, _) = dw.queue.sent().pop().expect("a retirement was queued");
    let sent_before = dw.queue.sent().len();
    // WHEN it arrives in a batch whose records name another source, or none (a direct invocation)
    let records: Vec<_> = [
        json!("arn:aws:sqs:us-east-1:123456789012:someone-elses-queue"),
        json!(null),
    ]
    .iter()
    .enumerate()
    .map(|(i, source)| {
        json!({"messageId": format!("m{i}"), "body": message.to_body(), "attributes": {},
                                  "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": source})
    })
    .collect();
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    let response = dw.cleanup.handle_batch(event, OffsetDateTime::now_utc()).await;
    // THEN each is acknowledged unread: nothing re-sent, nothing deleted
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(dw.queue.sent().len(), sent_before);
    assert!(dw.w.org().client(&message.client_id).is_some());
    // AND a message whose retiredAt lies in the future, or whose notBefore is past the longest
    // drain after its retiredAt, is refused as malformed (a forged message's life is capped)
    let mut future = message.clone();
    future.retired_at = OffsetDateTime::now_utc() + Duration::from_secs(3600);
    future.not_before = future.retired_at + Duration::from_secs(3600);
    assert!(matches!(
        dw.process(&future, OffsetDateTime::now_utc()).await,
        Disposition::Malformed(_)
    ));
    let mut endless = message.clone();
    endless.retired_at = OffsetDateTime::now_utc() - Duration::from_secs(30 * 24 * 3600);
    endless.not_before = OffsetDateTime::now_utc() + Duration::from_secs(3600);
    assert!(matches!(
        dw.process(&endless, OffsetDateTime::now_utc()).await,
        Disposition::Malformed(_)
    ));
    assert_eq!(dw.queue.sent().len(), sent_before);
}

#[tokio::test]
async fn a_drain_message_whose_version_was_deleted_deletes_nothing() {
    let dw = DrainWorld::new(&[]).await;
    let org = dw.w.org();
    let arn = dw.w.integration_secret().await;
    // Secrets Manager deletes every deprecated version at once.
    dw.w._moto.sm.purge_deprecated(true);
    let r1 = dw.rotate(&arn, 1).await;
    let client1 = dw.w.client_id(&arn, AWSCURRENT).await;
    dw.rotate(&arn, 1).await;
    let client2 = dw.w.client_id(&arn, AWSCURRENT).await;
    // The third rotation retires client2; client1's version loses AWSPREVIOUS and is deleted
    // before client1's drain message comes due.
    dw.rotate(&arn, 1).await;
    let sent: Vec<DrainMessage> = dw.queue.sent().into_iter().map(|(m, _)| m).collect();
    assert_eq!(
        sent.iter().map(|m| m.client_id.as_str()).collect::<Vec<_>>(),
        [org.legacy_id.as_str(), &client1, &client2]
    );
    assert_eq!(sent[1].secret_version_id, r1.token);
    assert!(dw.w.store.version_ids(&arn).await.unwrap().len() >= 2);
    assert!(dw.w._moto.sm.is_purged(&r1.token), "client1's version is deleted");

    let due = later(Duration::from_secs(26 * 3600));
    // Nothing proves the secret's version held client1 any more: refused, and logged as such.
    assert!(matches!(
        dw.process(&sent[1], due).await,
        Disposition::Refused(Refusal::VersionMismatch)
    ));
    assert!(matches!(dw.process(&sent[2], due).await, Disposition::Deleted));
    assert!(org.client(&client1).is_some(), "client1 is kept: nothing proves it");
    assert!(org.client(&client2).is_none());
}
