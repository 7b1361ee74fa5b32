//! Reconciliation end to end: which clients go and which stay, dry run, the client limit in
//! createSecret, fail-closed reads, and 200 crashed rotations cleaned up by one pass.

use genesys_rotator::Classify;
use std::collections::HashSet;
use std::time::Duration;

use genesys_emulator::{routes, ClientState, EmulatorConfig, Fault, FaultAction};
use genesys_rotator::config::ReconcileConfig;
use genesys_rotator::genesys::GenesysError;
use genesys_rotator::reconcile::{ReconcileError, ReconcileReport};
use genesys_rotator::rotation::{RotationError, Step};
use genesys_rotator::store::{SecretStore, Version, AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::harness::{LogCapture, Seeded, When, World, PREFIX};

const HOUR: Duration = Duration::from_secs(3600);

fn ids(candidates: &[genesys_rotator::reconcile::Candidate]) -> HashSet<String> {
    candidates.iter().map(|c| c.client_id.clone()).collect()
}

fn set(items: &[&String]) -> HashSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The integration JSON of org 0 with another client id in it.
fn value_for(w: &World, prefix: &str, client_id: &str) -> Value {
    let mut v = w.integration_json_with_prefix(0, prefix);
    v["clientId"] = json!(client_id);
    v
}

/// Puts `value` as a new version carrying `stages` (none: AWSCURRENT, which moves AWSPREVIOUS).
async fn put_version(w: &World, arn: &str, value: &Value, stages: &[&str]) -> String {
    let mut req = w.sm.put_secret_value().secret_id(arn).secret_string(value.to_string());
    for s in stages {
        req = req.version_stages(*s);
    }
    req.send()
        .await
        .expect("put secret value")
        .version_id()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "current_thread")]
async fn only_owned_clients_past_the_horizon_since_their_retirement_go_and_every_other_client_stays() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let w = World::new().await;
    let org = w.org();
    let now = OffsetDateTime::now_utc();
    let ago = |h: u32| now - h * HOUR;

    // GIVEN secret A with one old client per staging label...
    let previous = org.seed_managed(PREFIX, Some(ago(100)));
    let current = org.seed_managed(PREFIX, Some(ago(100)));
    let pending = org.seed_managed(PREFIX, Some(ago(100)));
    let custom = org.seed_managed(PREFIX, Some(ago(100)));
    let arn = w
        .create_secret("genesys/reconcile", &value_for(&w, PREFIX, &previous))
        .await;
    put_version(&w, &arn, &value_for(&w, PREFIX, &current), &[]).await;
    put_version(&w, &arn, &value_for(&w, PREFIX, &pending), &[AWSPENDING]).await;
    put_version(&w, &arn, &value_for(&w, PREFIX, &custom), &["CRM_ROLLBACK"]).await;
    let desc = w.describe(&arn).await;
    for stage in [AWSCURRENT, AWSPREVIOUS, AWSPENDING, "CRM_ROLLBACK"] {
        assert!(desc.version_with(stage).is_some(), "{stage} staged: {desc:?}");
    }
    // ...clients A owns that no staged version holds...
    let (retired_long_ago, _) = w
        .seed_owned(0, &arn, PREFIX, ago(100), Seeded::RetiredAt(ago(49)))
        .await;
    let (lost_old, _) = w.seed_owned(0, &arn, PREFIX, ago(49), Seeded::LostSecret).await;
    let (unretired_old, _) = w.seed_owned(0, &arn, PREFIX, ago(100), Seeded::Unretired).await;
    // (a week old, retired an hour ago: its tokens may still be in use)
    let (retired_recently, _) = w.seed_owned(0, &arn, PREFIX, ago(168), Seeded::RetiredAt(ago(1))).await;
    let (lost_young, _) = w.seed_owned(0, &arn, PREFIX, ago(47), Seeded::LostSecret).await;
    // ...secret B with the very same prefix, and its own long-retired client...
    let b = w.create_secret("genesys/reconcile-b", &w.integration_json(0)).await;
    let (b_retired, _) = w.seed_owned(0, &b, PREFIX, ago(100), Seeded::RetiredAt(ago(100))).await;
    // ...and clients nobody here owns, all old.
    let same_prefix_no_version = org.seed_managed(PREFIX, Some(ago(100)));
    let foreign = org.seed_named("some-other-tool", Some(ago(100)));
    let foreign_other_prefix = org.seed_managed("erp-rot-", Some(ago(100)));
    let prefixed_by_hand = org.seed_named("crm-rot-kept-by-hand", Some(ago(100)));
    let before = org.emulator.clients();
    let arns = vec![arn.clone()];

    // WHEN a dry run reconciles A alone: the candidates are listed and logged, nothing changes.
    let dry = w.reconcile(&arns, now, true).await;
    assert!(dry.errors.is_empty(), "{:?}", dry.errors);
    assert!(dry.deleted.is_empty() && dry.deactivated.is_empty());
    assert_eq!(ids(&dry.would_delete), set(&[&retired_long_ago, &lost_old]));
    assert_eq!(ids(&dry.would_deactivate), set(&[&unretired_old]));
    assert_eq!(dry.examined, before.len());
    assert_eq!((dry.managed, dry.kept_referenced, dry.kept_young), (5, 0, 2));
    assert_eq!(org.emulator.clients(), before, "a dry run changes nothing");
    let calls = org.emulator.call_counts();
    assert_eq!(calls.get("PUT /api/v2/oauth/clients/{id}"), None);
    assert_eq!(calls.get("DELETE /api/v2/oauth/clients/{id}"), None);

    // THEN for real: the same candidates; B's client with the same prefix is not A's.
    let real = w.reconcile(&arns, now, false).await;
    assert!(real.errors.is_empty(), "{:?}", real.errors);
    assert_eq!(
        real.deleted, dry.would_delete,
        "the dry run listed exactly what is deleted"
    );
    assert_eq!(real.deactivated, dry.would_deactivate);
    assert_eq!(
        org.emulator.deleted_client_ids().into_iter().collect::<HashSet<_>>(),
        set(&[&retired_long_ago, &lost_old])
    );
    assert_eq!(org.client(&unretired_old).unwrap().state, ClientState::Inactive);
    for id in [
        &retired_recently,
        &lost_young,
        &b_retired,
        &same_prefix_no_version,
        &foreign,
        &foreign_other_prefix,
        &prefixed_by_hand,
        &previous,
        &current,
        &pending,
        &custom,
        &org.master_id,
        &org.legacy_id,
    ] {
        let now_client = org.client(id).unwrap_or_else(|| panic!("{id} kept"));
        let was = before.iter().find(|c| &c.id == id).unwrap();
        assert_eq!(&now_client, was, "kept clients are untouched");
    }

    // A second pass finds nothing more to do; B's own pass deletes B's client only.
    let again = w.reconcile(&arns, now, false).await;
    assert!(
        again.deleted.is_empty() && again.deactivated.is_empty() && again.errors.is_empty(),
        "{again:?}"
    );
    let with_b = w.reconcile(&[arn.clone(), b.clone()], now, false).await;
    assert_eq!(ids(&with_b.deleted), set(&[&b_retired]));

    // Every deletion (and every dry-run candidate) is logged with the client id and reason.
    let text = logs.text();
    for (id, reason) in [(&retired_long_ago, "reason=retired"), (&lost_old, "reason=orphaned")] {
        for message in ["dry run: would delete client", "deleting client"] {
            let line = text
                .lines()
                .find(|l| l.contains(message) && l.contains(id.as_str()))
                .unwrap_or_else(|| panic!("no {message:?} log line for {id}:\n{text}"));
            assert!(line.contains(reason), "{line}");
            assert!(line.contains("horizon 172800 s"), "{line}");
        }
    }
}

#[tokio::test]
async fn at_the_client_limit_create_secret_is_refused_before_the_post_until_reconciliation_frees_room() {
    // master + legacy + 3 old orphans + 1 foreign client: the org is at its limit of 6.
    let mut w = World::with_config(EmulatorConfig {
        client_limit: 6,
        ..EmulatorConfig::default()
    })
    .await;
    let old = OffsetDateTime::now_utc() - 100 * HOUR;
    let arn = w.integration_secret().await;
    let mut orphans = Vec::new();
    for _ in 0..3 {
        orphans.push(w.seed_owned(0, &arn, PREFIX, old, Seeded::LostSecret).await.0);
    }
    w.org().seed_named("some-other-tool", Some(old));
    assert_eq!(w.org().emulator.clients().len(), 6);
    let limit = ReconcileConfig {
        client_limit: 6,
        limit_margin: 0,
        ..ReconcileConfig::default()
    };

    // With a horizon the orphans have not reached, nothing frees room: refused before the POST.
    w.rotator = w.rotator.with_reconcile(ReconcileConfig {
        horizon: 1000 * HOUR,
        ..limit.clone()
    });
    let token = w.begin_rotation(&arn, true).await;
    let err = w.step(&arn, &token, Step::CreateSecret).await.unwrap_err();
    assert!(
        matches!(
            err,
            RotationError::Reconcile(ReconcileError::ClientLimit {
                count: 6,
                limit: 6,
                margin: 0
            })
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("client limit is 6") && message.contains("CLIENT_LIMIT"),
        "{message}"
    );
    assert!(!err.is_retryable());
    assert_eq!(
        lambda_runtime::Diagnostic::from(err).error_type,
        "NonRetryable.ClientLimit"
    );
    assert_eq!(
        w.org().emulator.call_counts().get("POST /api/v2/oauth/clients"),
        None,
        "no POST was made"
    );
    assert_eq!(w.org().emulator.clients().len(), 6);

    // With the default 48 h horizon, createSecret's reconciliation deletes the old orphans
    // first, and Secrets Manager's retry with the same token succeeds.
    w.rotator = w.rotator.with_reconcile(limit);
    w.run_steps(&arn, &token).await.expect("rotation after room was freed");
    w.clear_pending(&arn, &token).await;
    w.assert_rotated(&arn, &token, None, 0).await;
    assert_eq!(
        w.org().emulator.call_counts().get("POST /api/v2/oauth/clients"),
        Some(&1)
    );
    for id in &orphans {
        assert!(w.org().client(id).is_none(), "orphan {id} deleted");
    }
    assert_eq!(w.org().managed(PREFIX).len(), 1);
}

#[tokio::test]
async fn a_failure_reading_any_version_spares_every_client_of_that_secret_and_a_holder_every_client() {
    let w = World::with_orgs(&[
        ("mypurecloud.ie", EmulatorConfig::default()),
        ("usw2.pure.cloud", EmulatorConfig::default()),
    ])
    .await;
    let org = w.org();
    let now = OffsetDateTime::now_utc();
    let old_at = now - 100 * HOUR;
    let old = Some(old_at);
    // Secret A: AWSCURRENT, AWSPREVIOUS and a custom label; secret B (another prefix) in
    // another org, so a failure on one spares the other. Each has old orphans it owns.
    let a_prev = org.seed_managed(PREFIX, old);
    let a_cur = org.seed_managed(PREFIX, old);
    let a_custom = org.seed_managed(PREFIX, old);
    let a = w.create_secret("genesys/a", &value_for(&w, PREFIX, &a_prev)).await;
    put_version(&w, &a, &value_for(&w, PREFIX, &a_cur), &[]).await;
    put_version(&w, &a, &value_for(&w, PREFIX, &a_custom), &["CRM_ROLLBACK"]).await;
    let b_prefix = "erp-rot-";
    let b = w
        .create_secret("genesys/b", &w.integration_json_with_prefix(1, b_prefix))
        .await;
    let a_orphans = [
        w.seed_owned(0, &a, PREFIX, old_at, Seeded::RetiredAt(old_at)).await.0,
        w.seed_owned(0, &a, PREFIX, old_at, Seeded::RetiredAt(old_at)).await.0,
    ];
    let b_orphan = w.seed_owned(1, &b, b_prefix, old_at, Seeded::LostSecret).await.0;
    let arns = vec![a.clone(), b.clone()];

    let calls_before = w.store.calls();
    let clean = w.reconcile(&arns, now, true).await;
    let n_calls = w.store.calls() - calls_before;
    assert!(clean.errors.is_empty(), "{:?}", clean.errors);
    assert_eq!(
        ids(&clean.would_delete),
        set(&[&a_orphans[0], &a_orphans[1], &b_orphan])
    );

    // Fail each Secrets Manager call of the pass in turn. A read of a possible holder (the
    // guard's, first) spares every client of the pass: nothing proves any is free. A read of a
    // secret's own versions spares all of that secret's candidates; the other keeps its own.
    let mut a_version_read = None;
    let mut holder_reads = 0;
    for n in 0..n_calls {
        w.store.fail_call(n, When::Before);
        let report = w.reconcile(&arns, now, true).await;
        assert_eq!(report.errors.len(), 1, "call {n}: {:?}", report.errors);
        let failed = &report.errors[0];
        assert!(failed.retryable, "{failed:?}");
        if failed.kind == "GuardUnreadable" {
            holder_reads += 1;
            assert!(report.would_delete.is_empty(), "call {n}: {:?}", report.would_delete);
            continue;
        }
        for c in &report.would_delete {
            assert_ne!(
                c.secret_arn, failed.secret_arn,
                "call {n}: {c:?} listed although its secret failed"
            );
        }
        let expected: HashSet<String> = clean
            .would_delete
            .iter()
            .filter(|c| c.secret_arn != failed.secret_arn)
            .map(|c| c.client_id.clone())
            .collect();
        assert_eq!(ids(&report.would_delete), expected, "call {n}");
        if failed.kind == "VersionUnreadable.GetSecretValue" && failed.secret_arn == a {
            a_version_read.get_or_insert(n);
        }
    }

    // ListSecrets, the master secrets' two stages, each served secret's AWSCURRENT.
    assert!(holder_reads >= 4, "{holder_reads}");
    // For real, with a version of A unreadable: A's orphans stay, B's goes.
    let n = a_version_read.expect("some call read a version of A");
    w.store.fail_call(n, When::Before);
    let report = w.reconcile(&arns, now, false).await;
    assert!(
        report.errors[0].message.contains("none of its clients is deleted"),
        "{:?}",
        report.errors
    );
    assert!(w.orgs[1].client(&b_orphan).is_none(), "B's orphan deleted");
    assert_eq!(ids(&report.deleted), set(&[&b_orphan]));
    for id in a_orphans.iter().chain([&a_prev, &a_cur, &a_custom]) {
        assert!(org.client(id).is_some(), "{id} kept");
    }

    // A staged value without a readable clientId fails closed the same way.
    put_version(&w, &a, &json!("not an object"), &["BROKEN"]).await;
    let report = w.reconcile(&arns, now, false).await;
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].kind, "VersionUndecodable");
    assert!(!report.errors[0].retryable);
    assert!(report.deleted.is_empty());
    assert!(a_orphans.iter().all(|id| org.client(id).is_some()));
}

#[tokio::test]
async fn a_horizon_shorter_than_the_drain_deletes_nothing() {
    let mut w = World::new().await;
    let now = OffsetDateTime::now_utc();
    let orphan = w.org().seed_managed(PREFIX, Some(now - 100 * HOUR));
    let arn = w.integration_secret().await; // tokenLifetimeSeconds 3600: drains 2 h
    w.rotator = w.rotator.with_reconcile(ReconcileConfig {
        horizon: 2 * HOUR,
        ..ReconcileConfig::default()
    });
    let report = w.reconcile(std::slice::from_ref(&arn), now, false).await;
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].kind, "HorizonTooShort");
    assert!(report.errors[0].message.contains("RECONCILE_HORIZON_SECONDS"));
    assert!(w.org().client(&orphan).is_some());
    // createSecret refuses the same way, before creating anything.
    let token = w.begin_rotation(&arn, true).await;
    let err = w.step(&arn, &token, Step::CreateSecret).await.unwrap_err();
    assert!(
        matches!(err, RotationError::Reconcile(ReconcileError::HorizonTooShort { .. })),
        "{err:?}"
    );
    assert!(w.org().managed(PREFIX).iter().all(|c| c.id == orphan));
}

/// Calls that change the org: none may follow an incomplete listing.
fn writes(w: &World) -> Vec<(String, u64)> {
    let calls = w.org().emulator.call_counts();
    [
        routes::CREATE_CLIENT,
        routes::UPDATE_CLIENT,
        routes::DELETE_CLIENT,
        routes::NEW_SECRET,
    ]
    .iter()
    .filter_map(|r| calls.get(*r).map(|n| (r.to_string(), *n)))
    .collect()
}

fn short_listing() -> Fault {
    Fault::new(routes::LIST_CLIENTS, FaultAction::ShortListing)
}

#[tokio::test]
async fn a_short_listing_fails_create_secret_closed_creating_and_deleting_nothing() {
    // GIVEN an org at its limit of 6: master, legacy (the secret's current client), 3 old
    // orphans and, created last, a foreign client that a short listing leaves out
    let mut w = World::with_config(EmulatorConfig {
        client_limit: 6,
        ..EmulatorConfig::default()
    })
    .await;
    let old = OffsetDateTime::now_utc() - 100 * HOUR;
    let arn = w.integration_secret().await;
    let mut orphans = Vec::new();
    for _ in 0..3 {
        orphans.push(w.seed_owned(0, &arn, PREFIX, old, Seeded::LostSecret).await.0);
    }
    let foreign = w.org().seed_named("some-other-tool", Some(old));
    let before = w.org().emulator.clients();
    assert_eq!(before.len(), 6);
    assert_eq!(
        before.last().map(|c| &c.id),
        Some(&foreign),
        "the listing's last client"
    );
    let limit = ReconcileConfig {
        client_limit: 6,
        limit_margin: 0,
        ..ReconcileConfig::default()
    };
    let token = w.begin_rotation(&arn, true).await;

    // WHEN createSecret meets a listing of 5 that announces 6, with a horizon the orphans have
    // not reached (a listing of 5 would pass the limit check and POST a 7th client)
    w.rotator = w.rotator.with_reconcile(ReconcileConfig {
        horizon: 1000 * HOUR,
        ..limit.clone()
    });
    w.org().emulator.inject_fault(short_listing());
    let err = w.step(&arn, &token, Step::CreateSecret).await.unwrap_err();

    // THEN it fails with the retryable incomplete-listing error and changes nothing
    assert!(
        matches!(
            err,
            RotationError::Genesys(GenesysError::IncompleteListing {
                listed: 5,
                total: Some(6),
                pages: 1,
                page_count: Some(1),
            })
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(
        lambda_runtime::Diagnostic::from(err).error_type,
        "Retryable.GenesysIncompleteListing.ListClients"
    );
    assert_eq!(w.org().emulator.pending_faults(), 0, "the listing was short");
    assert_eq!(writes(&w), [], "no create, deactivation or delete");
    assert_eq!(w.org().emulator.clients(), before);
    let pending = w
        .rotator
        .deployment()
        .store()
        .get_value(&arn, Version::IdAndStage(&token, AWSPENDING))
        .await
        .expect("read AWSPENDING");
    assert!(pending.is_none(), "nothing stored");

    // AND with old orphans due for deletion (the default horizon), a short listing still
    // deletes none of them
    w.rotator = w.rotator.with_reconcile(limit);
    w.org().emulator.inject_fault(short_listing());
    let err = w.step(&arn, &token, Step::CreateSecret).await.unwrap_err();
    assert!(
        matches!(err, RotationError::Genesys(GenesysError::IncompleteListing { .. })),
        "{err:?}"
    );
    assert_eq!(writes(&w), []);
    assert_eq!(w.org().emulator.clients(), before);

    // AND Secrets Manager's retry over a whole listing deletes those orphans and rotates
    w.run_steps(&arn, &token)
        .await
        .expect("rotation over a complete listing");
    w.clear_pending(&arn, &token).await;
    w.assert_rotated(&arn, &token, None, 0).await;
    for id in &orphans {
        assert!(
            w.org().client(id).is_none(),
            "orphan {id} deleted once the listing was whole"
        );
    }
    assert!(w.org().client(&foreign).is_some());
}

#[tokio::test]
async fn a_short_listing_makes_the_scheduled_reconciliation_delete_nothing() {
    // GIVEN two secrets of one org (one listing serves both) with old orphans each
    let w = World::new().await;
    let org = w.org();
    let now = OffsetDateTime::now_utc();
    let old = now - 100 * HOUR;
    let b_prefix = "erp-rot-";
    let a = w.integration_secret().await;
    let b = w
        .create_secret("genesys/b", &w.integration_json_with_prefix(0, b_prefix))
        .await;
    let a_orphan = w.seed_owned(0, &a, PREFIX, old, Seeded::LostSecret).await.0;
    let b_orphan = w.seed_owned(0, &b, b_prefix, old, Seeded::LostSecret).await.0;
    let arns = vec![a.clone(), b.clone()];
    let before = org.emulator.clients();

    // WHEN the pass meets a listing that leaves out a client its total counts
    org.emulator.inject_fault(short_listing());
    let report = w.reconcile(&arns, now, false).await;

    // THEN it records the failure for both secrets and deletes nothing
    assert_eq!(org.emulator.pending_faults(), 0, "the listing was short");
    assert!(report.deleted.is_empty(), "{report:?}");
    assert_eq!(report.examined, 0, "nothing was judged on the short listing");
    let failed: Vec<_> = report.errors.iter().map(|e| e.secret_arn.as_str()).collect();
    assert_eq!(failed, [a.as_str(), b.as_str()]);
    for e in &report.errors {
        assert_eq!(e.kind, "GenesysIncompleteListing.ListClients");
        assert!(e.retryable, "{e:?}");
        assert!(e.message.contains("incomplete client listing"), "{}", e.message);
    }
    assert_eq!(writes(&w), []);
    assert_eq!(org.emulator.clients(), before);

    // AND the next pass, over a whole listing, deletes both orphans
    let report = w.reconcile(&arns, now, false).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(ids(&report.deleted), set(&[&a_orphan, &b_orphan]));
}

/// One crash per rotation, somewhere: a Secrets Manager call (before or after it lands) or a
/// Genesys call (an answer lost after the create, or a refusal).
fn inject_random_crash(w: &World, rng: &mut StdRng) {
    if rng.random_bool(0.5) {
        let when = if rng.random_bool(0.5) {
            When::Before
        } else {
            When::After
        };
        w.store.fail_call(rng.random_range(0..20), when);
        return;
    }
    let (route, action) = match rng.random_range(0..5) {
        0 => ("POST /api/v2/oauth/clients", FaultAction::DropAfterApply),
        1 => (
            "POST /api/v2/oauth/clients",
            FaultAction::Status {
                status: 500,
                retry_after: None,
            },
        ),
        2 => (
            "GET /api/v2/oauth/clients",
            FaultAction::Status {
                status: 400,
                retry_after: None,
            },
        ),
        3 => (
            "GET /api/v2/oauth/clients/{id}",
            FaultAction::Status {
                status: 400,
                retry_after: None,
            },
        ),
        _ => (
            "GET /api/v2/tokens/me",
            FaultAction::Status {
                status: 400,
                retry_after: None,
            },
        ),
    };
    w.org()
        .emulator
        .inject_fault(Fault::new(route, action).skip(rng.random_range(0..2)));
}

#[tokio::test]
async fn two_hundred_crashed_rotations_leave_only_current_and_previous_after_one_pass() {
    let w = World::new().await;
    let arn = w.integration_secret().await;
    let mut rng = StdRng::seed_from_u64(0x5eed_2025);
    let mut failures = 0;
    let mut tokens = Vec::new();
    for i in 0..200 {
        inject_random_crash(&w, &mut rng);
        // Secrets Manager retries the whole rotation with the same token.
        let r = w.rotate(&arn, 4).await;
        failures += r.failures.len();
        w.org().emulator.clear_faults();
        w.store.fail_call(1_000_000, When::Before); // disarm an injection that did not fire
        let managed = w.org().managed(PREFIX);
        let names: HashSet<&str> = managed.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), managed.len(), "rotation {i}: two clients for one token");
        tokens.push(r.token);
    }
    assert!(failures >= 100, "most rotations crashed at least once: {failures}");
    let current_id = w.client_id(&arn, AWSCURRENT).await;
    let previous_id = w.client_id(&arn, AWSPREVIOUS).await;

    // One pass with the clock past the horizon: the rotator kept its old clients (no
    // retirement policy), so they were live in a stage: deactivated now (lost ones deleted).
    w.org().emulator.advance_clock(49 * HOUR);
    let now = OffsetDateTime::now_utc() + 49 * HOUR;
    let report: ReconcileReport = w.reconcile(std::slice::from_ref(&arn), now, false).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        report.deleted.len() + report.deactivated.len() + 2,
        200,
        "every other rotated-out client retired or deleted"
    );
    // A second pass a horizon after those deactivations deletes them.
    w.org().emulator.advance_clock(49 * HOUR);
    let later = now + 49 * HOUR;
    let second: ReconcileReport = w.reconcile(std::slice::from_ref(&arn), later, false).await;
    assert!(second.errors.is_empty(), "{:?}", second.errors);
    assert_eq!(ids(&second.deleted), ids(&report.deactivated));
    let left: HashSet<String> = w.org().managed(PREFIX).into_iter().map(|c| c.id).collect();
    assert!(left.len() <= 3, "at most current, pending and previous: {left:?}");
    assert_eq!(left, set(&[&current_id, &previous_id]));
    assert_eq!(
        w.org().client(&current_id).unwrap().name,
        format!("{PREFIX}{}", tokens[199])
    );
    assert!(
        w.org().client(&w.org().legacy_id).is_some(),
        "the legacy client is not managed"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_retired_client_whose_version_was_deleted_is_kept_and_reported() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let w = World::new().await;
    let org = w.org();
    let now = OffsetDateTime::now_utc();
    let ago = |h: u32| now - h * HOUR;
    let arn = w.integration_secret().await;
    // Secrets Manager deletes deprecated versions: two long-retired clients of the secret, the
    // version of one deleted, the other's kept (as AWS keeps recent or few versions).
    w._moto.sm.purge_deprecated(true);
    let (unproven, gone) = w
        .seed_owned(0, &arn, PREFIX, ago(100), Seeded::RetiredAt(ago(49)))
        .await;
    let (owned, kept) = w
        .seed_owned(0, &arn, PREFIX, ago(100), Seeded::RetiredAt(ago(49)))
        .await;
    w._moto.sm.keep(&kept);
    let arns = vec![arn.clone()];

    let dry = w.reconcile(&arns, now, true).await;
    assert!(dry.errors.is_empty(), "{:?}", dry.errors);
    assert!(w._moto.sm.is_purged(&gone) && !w._moto.sm.is_purged(&kept));
    assert_eq!(ids(&dry.would_delete), set(&[&owned]));
    assert_eq!((dry.managed, dry.kept_unproven), (1, 1));

    // For real: the client whose version is gone is no longer provably the secret's: kept, and
    // said so (a possible orphan, for the operator).
    let real = w.reconcile(&arns, now, false).await;
    assert!(real.errors.is_empty(), "{:?}", real.errors);
    assert_eq!(ids(&real.deleted), set(&[&owned]));
    assert_eq!(real.kept_unproven, 1);
    assert!(org.client(&owned).is_none());
    assert!(org.client(&unproven).is_some(), "the unproven client is kept");
    let text = logs.text();
    assert!(
        text.lines()
            .any(|l| l.contains(&unproven) && l.contains("nothing proves the secret owns it")),
        "the kept client is logged: {text}"
    );

    // createSecret's own pass keeps it too, and the rotation goes on.
    let r = w.rotate(&arn, 1).await;
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert!(org.client(&unproven).is_some(), "createSecret's pass keeps it");
}
