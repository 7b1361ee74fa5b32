//! One Genesys org shared by several secrets: identical and nested prefixes, one hand-made
//! client pasted into two secrets, and rotations of one secret next to the others' live clients.
//! The three ways the product once cut off another secret's consumers, end to end.

use genesys_rotator::Classify;
use std::time::Duration;

use genesys_emulator::{ClientState, SeedClient};
use genesys_rotator::rotation::RotationError;
use genesys_rotator::store::{AWSCURRENT, AWSPREVIOUS};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::harness::{DrainWorld, LogCapture, World};

/// The JSON of an integration secret of org 0 with `prefix`, holding a hand-made client of its own.
fn own_secret(w: &World, prefix: &str, name: &str) -> Value {
    let hand_made = w
        .org()
        .emulator
        .seed_client(SeedClient::new(name, &["conversation:communication:view"]));
    let mut v = w.integration_json_with_prefix(0, prefix);
    v["clientId"] = json!(hand_made.id);
    v["clientSecret"] = json!(hand_made.secret);
    v
}

/// Whether the secret's AWSCURRENT credential can still get a token.
async fn current_works(w: &World, arn: &str) -> Result<(), String> {
    let v = w.value(arn, AWSCURRENT).await;
    w.org()
        .emulator
        .token_grantable(v["clientId"].as_str().unwrap(), v["clientSecret"].as_str().unwrap())
}

#[tokio::test]
async fn rotating_one_secret_never_touches_the_clients_of_secrets_with_the_same_or_a_nested_prefix() {
    // GIVEN secrets A and B with the same prefix and C with a nested one, in one org
    let dw = DrainWorld::new(&[]).await;
    let w = &dw.w;
    let a = w
        .create_secret("genesys/a", &own_secret(w, "crm-rot-", "a-hand-made"))
        .await;
    let b = w
        .create_secret("genesys/b", &own_secret(w, "crm-rot-", "b-hand-made"))
        .await;
    let c = w
        .create_secret("genesys/c", &own_secret(w, "crm-rot-eu-", "c-hand-made"))
        .await;
    // AND B and C rotated, so their live clients carry the shared prefix
    dw.rotate(&b, 3).await;
    dw.rotate(&c, 3).await;
    let b_current = w.client_id(&b, AWSCURRENT).await;
    let c_current = w.client_id(&c, AWSCURRENT).await;

    // WHEN A rotates several times, and A's scheduled reconciliation runs a week later
    for _ in 0..3 {
        dw.rotate(&a, 3).await;
    }
    let week_later = OffsetDateTime::now_utc() + Duration::from_secs(8 * 24 * 3600);
    let report = w.reconcile(std::slice::from_ref(&a), week_later, false).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);

    // THEN B's and C's live clients are untouched and still work; A touched only A's clients
    for (arn, id) in [(&b, &b_current), (&c, &c_current)] {
        assert_eq!(w.org().client(id).expect("kept").state, ClientState::Active);
        current_works(w, arn)
            .await
            .expect("the other secret's credential works");
    }
    for touched in report.deleted.iter().chain(&report.deactivated) {
        assert_eq!(touched.secret_arn, a, "{touched:?}");
    }
    current_works(w, &a).await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_hand_made_client_shared_by_two_secrets_stays_active_until_no_secret_holds_it() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    // GIVEN one hand-made client pasted into two secrets
    let dw = DrainWorld::new(&[]).await;
    let w = &dw.w;
    let shared = w.org().legacy_id.clone();
    let a = w
        .create_secret("genesys/a", &w.integration_json_with_prefix(0, "crm-a-"))
        .await;
    let b = w
        .create_secret("genesys/b", &w.integration_json_with_prefix(0, "crm-b-"))
        .await;

    // WHEN A rotates
    dw.rotate(&a, 3).await;

    // THEN the shared client stays active, as B still holds it, and that is reported
    assert_eq!(w.client_id(&a, AWSPREVIOUS).await, shared);
    assert_eq!(w.org().client(&shared).unwrap().state, ClientState::Active);
    current_works(w, &b).await.expect("B's credential still works");
    assert!(dw.queue.sent().is_empty(), "no deletion queued");
    let text = logs.text();
    assert!(
        text.lines()
            .any(|l| l.contains("still held elsewhere") && l.contains(&shared) && l.contains(&b)),
        "{text}"
    );

    // WHEN B rotates too: nobody holds the hand-made client any more
    dw.rotate(&b, 3).await;

    // THEN it is retired as usual: inactive, its deletion queued
    assert_eq!(w.org().client(&shared).unwrap().state, ClientState::Inactive);
    assert_eq!(dw.queue.sent().len(), 1);
    assert_eq!(dw.queue.sent()[0].0.client_id, shared);
    current_works(w, &a).await.unwrap();
    current_works(w, &b).await.unwrap();
}

#[tokio::test]
async fn an_untagged_secret_is_refused_and_nothing_changes() {
    let w = World::new().await;
    let arn =
        w.sm.create_secret()
            .name("genesys/untagged")
            .secret_string(w.integration_json(0).to_string())
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_owned();
    let before = w.org().emulator.clients();
    let token = w.begin_rotation(&arn, true).await;
    let err = w
        .step(&arn, &token, genesys_rotator::rotation::Step::CreateSecret)
        .await
        .unwrap_err();
    assert!(matches!(err, RotationError::NotServed(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("tag-resource"), "{err}");
    assert_eq!(w.org().emulator.clients(), before);
}

/// The JSON of a secret of org 0 holding a fresh hand-made client that has `fields` (fields the
/// SDK does not name, such as an allowed-IP list).
fn secret_with_client_fields(w: &World, prefix: &str, name: &str, fields: Value) -> Value {
    let mut seed = SeedClient::new(name, &["conversation:communication:view"]);
    seed.fields = fields.as_object().cloned().unwrap_or_default();
    let hand_made = w.org().emulator.seed_client(seed);
    let mut v = w.integration_json_with_prefix(0, prefix);
    v["clientId"] = json!(hand_made.id);
    v["clientSecret"] = json!(hand_made.secret);
    v
}

#[tokio::test]
async fn in_an_org_requiring_a_new_field_each_secret_carries_its_own_clients_value_and_one_without_is_refused_until_its_secret_sets_it(
) {
    // GIVEN an org that requires an allowed-IP field on new client-credentials clients (as Genesys
    // announced), secrets A and B whose hand-made clients hold different values, and secret C
    // whose client predates the rule and has none
    const FIELD: &str = "allowedIpAddresses";
    let w = World::with_config(genesys_emulator::EmulatorConfig {
        required_client_fields: vec![FIELD.to_owned()],
        ..genesys_emulator::EmulatorConfig::default()
    })
    .await;
    let a_fields = json!({FIELD: ["192.0.2.0/24"], "futureSetting": {"x": 1}});
    let b_fields = json!({FIELD: ["198.51.100.7"]});
    let a = w
        .create_secret(
            "genesys/a",
            &secret_with_client_fields(&w, "crm-a-", "a-hand-made", a_fields.clone()),
        )
        .await;
    let b = w
        .create_secret(
            "genesys/b",
            &secret_with_client_fields(&w, "crm-b-", "b-hand-made", b_fields.clone()),
        )
        .await;
    let c_value = secret_with_client_fields(&w, "crm-c-", "c-hand-made", json!({}));
    let c = w.create_secret("genesys/c", &c_value).await;

    // WHEN A and B rotate twice each, interleaved
    for _ in 0..2 {
        w.rotate(&a, 1).await;
        w.rotate(&b, 1).await;
    }
    // THEN every new client carries its own secret's client's fields, and the credentials work
    for (arn, fields) in [(&a, &a_fields), (&b, &b_fields)] {
        let id = w.client_id(arn, AWSCURRENT).await;
        assert_eq!(&Value::Object(w.org().client(&id).unwrap().fields), fields);
        current_works(&w, arn).await.unwrap();
    }

    // WHEN C rotates THEN createSecret is refused, not retryable, naming the field, and nothing
    // changed: no client for C, AWSCURRENT as it was
    let clients_before = w.org().emulator.clients().len();
    let token = w.begin_rotation(&c, true).await;
    let (step, err) = w.run_steps(&c, &token).await.unwrap_err();
    assert_eq!(step, genesys_rotator::rotation::Step::CreateSecret);
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains(FIELD), "{err}");
    assert_eq!(w.org().emulator.clients().len(), clients_before);
    assert!(w.org().managed("crm-c-").is_empty());
    assert_eq!(w.value(&c, AWSCURRENT).await, c_value);
    current_works(&w, &c).await.unwrap();

    // WHEN C's owner sets the field in clientFields and Secrets Manager retries the rotation
    let mut fixed = c_value.clone();
    fixed["clientFields"] = json!({FIELD: ["203.0.113.9"]});
    w.sm.put_secret_value()
        .secret_id(&c)
        .secret_string(fixed.to_string())
        .version_stages(AWSCURRENT)
        .send()
        .await
        .expect("put the fixed value");
    w.run_steps(&c, &token).await.expect("the retried rotation succeeds");
    w.clear_pending(&c, &token).await;
    // THEN C's new client has the field and the next version keeps clientFields
    let id = w.client_id(&c, AWSCURRENT).await;
    assert_eq!(w.org().client(&id).unwrap().fields[FIELD], json!(["203.0.113.9"]));
    assert_eq!(w.value(&c, AWSCURRENT).await["clientFields"], fixed["clientFields"]);
    current_works(&w, &c).await.unwrap();
}
