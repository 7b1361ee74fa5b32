//! Malformed and hostile input changes nothing: random malformed rotation events, secret values
//! and queue bodies (drawn with a fixed seed from the same kind of mutations as the properties
//! in `tests/bad_input.rs`) go through the real functions against moto and the emulator, and
//! the emulator's inventory, the secret's versions and the calls made are compared before and
//! after.

use genesys_rotator::rotation::{RotationError, Step};
use genesys_rotator::store::{AWSCURRENT, AWSPENDING};
use genesys_rotator::Classify;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::harness::{DrainWorld, PREFIX};

/// A value that is wrong for most fields: of another type, empty, hostile or huge.
fn junk(rng: &mut StdRng) -> Value {
    match rng.random_range(0..9) {
        0 => Value::Null,
        1 => json!(rng.random::<i64>()),
        2 => json!([]),
        3 => json!({"nested": {"deeper": [1, 2, 3]}}),
        4 => json!(""),
        5 => json!("evil.example.com"),
        6 => json!("../../../../etc/passwd"),
        7 => json!("x".repeat(5000)),
        _ => json!("\u{0}\u{7f}\n"),
    }
}

/// A value `field` of the integration secret must not accept: of another type, empty, or
/// hostile in the way that field could be.
fn invalid_for(field: &str, rng: &mut StdRng) -> Value {
    let hostile = match field {
        "region" => {
            json!(["evil.example.com", "mypurecloud.ie.evil.com", "api.mypurecloud.ie"][rng.random_range(0..3)])
        }
        "masterSecretArn" => json!("arn:aws:secretsmanager:us-east-1:123456789012:secret:someone-elses-master"),
        "namePrefix" => json!(["x", "../../", "a b c", "y".repeat(200).as_str()][rng.random_range(0..4)]),
        "clientId" => json!(["has space", "z".repeat(500).as_str()][rng.random_range(0..2)]),
        _ => json!(""),
    };
    match rng.random_range(0..5) {
        0 => Value::Null,
        1 => json!(rng.random::<i64>()),
        2 => json!({"nested": [1, 2]}),
        _ => hostile,
    }
}

/// `doc` with one field removed or replaced by junk.
fn break_one(doc: &Value, rng: &mut StdRng) -> Value {
    let mut doc = doc.clone();
    let obj = doc.as_object_mut().unwrap();
    let keys: Vec<String> = obj.keys().cloned().collect();
    let key = &keys[rng.random_range(0..keys.len())];
    if rng.random_bool(0.3) {
        obj.remove(key);
    } else {
        obj.insert(key.clone(), junk(rng));
    }
    doc
}

/// Fields whose absence or junk value the secret's parser must refuse (the others are optional
/// or carried forward as they are).
const REQUIRED: [&str; 6] = [
    "clientId",
    "clientSecret",
    "region",
    "masterSecretArn",
    "namePrefix",
    "roleDivisions",
];

#[tokio::test]
async fn malformed_events_secrets_and_queue_bodies_change_nothing() {
    let dw = DrainWorld::new(&[]).await;
    let org = dw.w.org();
    let arn = dw.w.integration_secret().await;
    // One real rotation first, so there is a managed client and a drain message to forge from.
    let r1 = dw.rotate(&arn, 1).await;
    let mut rng = StdRng::seed_from_u64(0xbad_1fa7);
    let inventory = org.emulator.clients();
    let versions = dw.w.describe(&arn).await.versions;
    let writes = |calls: &[genesys_emulator::CallRecord]| {
        calls
            .iter()
            .filter(|c| !c.route.starts_with("GET ") && c.route != genesys_emulator::routes::TOKEN)
            .count()
    };
    let calls_before = org.emulator.calls().len();

    // Events: refused, most before any call; a junk SecretId that is still a possible secret
    // name is looked up and not found.
    let token = "5a1b3c4d-0000-4000-8000-00000000abcd";
    let valid = json!({"Step": "createSecret", "SecretId": arn, "ClientRequestToken": token});
    for _ in 0..40 {
        let event = break_one(&valid, &mut rng);
        match dw.rotator.handle_json(&event, None).await {
            Err(RotationError::Event(_)) => {}
            Err(RotationError::Store(_)) | Err(RotationError::UnknownVersion { .. }) => {}
            Err(e) => panic!("{event}: unexpected error: {e:?}"),
            Ok(o) => panic!("{event}: accepted: {o:?}"),
        }
    }
    assert_eq!(
        org.emulator.calls().len(),
        calls_before,
        "no Genesys call for a malformed event"
    );

    // Secret values: each as a fresh secret's AWSCURRENT; createSecret refuses it, nothing is
    // created, AWSPENDING stays empty.
    let good = dw.w.integration_json(0);
    for i in 0..12 {
        let field = REQUIRED[i % REQUIRED.len()];
        let mut bad = good.clone();
        if rng.random_bool(0.3) {
            bad.as_object_mut().unwrap().remove(field);
        } else {
            bad[field] = invalid_for(field, &mut rng);
        }
        let bad_arn = dw.w.create_secret(&format!("genesys/malformed-{i}"), &bad).await;
        let pending = dw.w.begin_rotation(&bad_arn, true).await;
        let err = dw.step(&bad_arn, &pending, Step::CreateSecret).await.unwrap_err();
        assert!(!err.is_retryable(), "{field}: {err:?}");
        assert!(
            !err.to_string().contains(&org.legacy_secret),
            "{field}: the error quotes the secret"
        );
        let stored =
            dw.w.sm
                .get_secret_value()
                .secret_id(&bad_arn)
                .version_id(&pending)
                .version_stage(AWSPENDING)
                .send()
                .await;
        assert!(stored.is_err(), "{field}: AWSPENDING must stay empty");
    }

    // Queue bodies: garbage and broken copies of a real message, due long ago.
    let real = serde_json::to_value(&dw.queue.sent()[0].0).unwrap();
    let now = OffsetDateTime::now_utc() + time::Duration::days(30);
    for _ in 0..40 {
        let body = match rng.random_range(0..3) {
            0 => break_one(&real, &mut rng).to_string(),
            1 => junk(&mut rng).to_string(),
            _ => (0..rng.random_range(0..200)).map(|_| rng.random::<char>()).collect(),
        };
        let d = dw.cleanup.process(&body, now).await;
        assert!(
            !matches!(
                d,
                genesys_rotator::cleanup::Disposition::Deleted | genesys_rotator::cleanup::Disposition::AlreadyGone
            ),
            "{body}: {d:?}"
        );
    }

    // Nothing changed: the same clients in the same state, the same versions of the secret,
    // and no Genesys call but reads.
    assert_eq!(
        org.emulator.clients(),
        inventory,
        "the emulator's clients are unchanged"
    );
    assert_eq!(
        dw.w.describe(&arn).await.versions,
        versions,
        "the secret's versions are unchanged"
    );
    assert_eq!(writes(&org.emulator.calls()[calls_before..]), 0, "no Genesys write");
    assert!(org.emulator.deleted_client_ids().is_empty());
    dw.w.assert_rotated(&arn, &r1.token, None, 0).await;
    assert_eq!(dw.w.value(&arn, AWSCURRENT).await["namePrefix"], json!(PREFIX));
}
