//! Bad and hostile input, as properties: the three documents the functions take from outside
//! (the rotation event, the secret JSON, the drain-queue message) and the region value. Any
//! input, whether arbitrary bytes, arbitrary JSON or a valid document with one field broken,
//! yields a typed error or a valid value, never a panic; a refused secret never quotes its
//! client secret; a region is accepted only if it is one of the known Genesys Cloud regions.
//!
//! That a refused input also changes nothing (in Secrets Manager or Genesys) is shown end to end
//! in `tests/integration/bad_input.rs`.

use genesys_rotator::drain::{DrainMessage, DRAIN_MESSAGE_VERSION};
use genesys_rotator::region::Region;
use genesys_rotator::rotation::RotationEvent;
use genesys_rotator::secret_format::{IntegrationSecret, MasterSecret, MAX_PREFIX_LEN, TOKEN_LIFETIME_RANGE};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const SECRET_MARKER: &str = "S3cr3t-Marker-Value-7f2c";
const MASTER_ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:genesys/master-AbCdEf";

fn valid_event() -> Value {
    json!({
        "Step": "createSecret",
        "SecretId": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:crm-AbCdEf",
        "ClientRequestToken": "5a1b3c4d-0000-4000-8000-00000000abcd",
        "RotationToken": "opaque"
    })
}

fn valid_secret() -> Value {
    json!({
        "clientId": "0b5ed1c4-1111-4222-8333-944455556666",
        "clientSecret": SECRET_MARKER,
        "region": "mypurecloud.ie",
        "masterSecretArn": MASTER_ARN,
        "namePrefix": "crm-rot-",
        "roleDivisions": [{"roleId": "r1", "divisionId": "*"}],
        "tokenLifetimeSeconds": 3600,
        "description": "CRM",
        "crmBaseUrl": "https://crm.example.com"
    })
}

fn valid_master() -> Value {
    json!({"clientId": "m", "clientSecret": SECRET_MARKER, "region": "usw2.pure.cloud"})
}

fn valid_message() -> Value {
    json!({
        "version": DRAIN_MESSAGE_VERSION,
        "secretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:crm-AbCdEf",
        "clientId": "0b5ed1c4-1111-4222-8333-944455556666",
        "clientName": "crm-rot-5a1b3c4d-0000-4000-8000-00000000abcd",
        "secretVersionId": "5a1b3c4d-0000-4000-8000-00000000abcd",
        "retiredAt": "2025-01-01T00:00:00Z",
        "notBefore": "2025-01-02T00:00:00Z"
    })
}

/// Strings that look like what the fields hold, and anything else.
fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9_.:/*-]{0,80}",
        "[a-z]{2,12}\\.(pure\\.cloud|mypurecloud\\.(com|ie|de|jp))",
        Just(String::new()),
        Just("\u{0}\u{7f}\n\r".to_owned()),
    ]
}

/// Arbitrary JSON, nested a few levels.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(arb_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `doc` with one or two fields removed, replaced by arbitrary JSON, or added.
fn mutated(doc: Value) -> impl Strategy<Value = Value> {
    let keys: Vec<String> = doc.as_object().unwrap().keys().cloned().collect();
    let n = keys.len();
    prop::collection::vec((0..n, 0..3u8, arb_json(), arb_string()), 1..3).prop_map(move |edits| {
        let mut doc = doc.clone();
        let obj = doc.as_object_mut().unwrap();
        for (i, op, value, name) in edits {
            match op {
                0 => {
                    obj.remove(&keys[i]);
                }
                1 => {
                    obj.insert(keys[i].clone(), value);
                }
                _ => {
                    obj.insert(name, value);
                }
            }
        }
        doc
    })
}

/// Arbitrary bytes read the way a Lambda runtime hands over text.
fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        arb_json().prop_map(|v| v.to_string()),
    ]
}

fn check_event(payload: &Value) {
    if let Ok(e) = RotationEvent::from_json(payload) {
        let t = &e.client_request_token;
        assert!((32..=64).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        assert!(!e.secret_id.is_empty() && e.secret_id.len() <= 2048);
        assert!(!e.secret_id.chars().any(char::is_control));
    }
}

fn check_secret(text: &str) {
    match IntegrationSecret::parse(text) {
        Ok(s) => {
            let settings = &s.settings;
            assert_eq!(Region::parse(settings.region.domain()).ok(), Some(settings.region));
            let prefix = settings.name_prefix.as_str();
            assert!((3..=MAX_PREFIX_LEN).contains(&prefix.len()), "{prefix:?}");
            assert!(TOKEN_LIFETIME_RANGE.contains(&settings.token_lifetime.seconds()));
            assert!(!settings.role_divisions.is_empty());
            assert!(!s.credentials.client_id.is_empty());
        }
        Err(e) => assert!(
            !e.to_string().contains(SECRET_MARKER),
            "the error quotes the secret: {e}"
        ),
    }
}

fn check_master(text: &str) {
    if let Err(e) = MasterSecret::parse(text) {
        assert!(
            !e.to_string().contains(SECRET_MARKER),
            "the error quotes the secret: {e}"
        );
    }
}

fn check_message(body: &str) {
    if let Ok(m) = DrainMessage::parse(body) {
        assert_eq!(m.version, DRAIN_MESSAGE_VERSION);
        assert_eq!(
            DrainMessage::parse(&m.to_body()).ok(),
            Some(m.clone()),
            "a valid message round-trips"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_event_is_an_event_or_a_typed_error(payload in arb_json()) {
        check_event(&payload);
    }

    #[test]
    fn a_broken_event_is_an_event_or_a_typed_error(payload in mutated(valid_event())) {
        check_event(&payload);
    }

    #[test]
    fn any_secret_text_is_a_secret_or_a_typed_error(text in arb_text()) {
        check_secret(&text);
        check_master(&text);
    }

    #[test]
    fn a_broken_secret_is_refused_without_quoting_its_secret(doc in mutated(valid_secret())) {
        check_secret(&doc.to_string());
    }

    #[test]
    fn a_broken_master_secret_is_refused_without_quoting_its_secret(doc in mutated(valid_master())) {
        check_master(&doc.to_string());
    }

    #[test]
    fn any_queue_body_is_a_message_or_a_typed_error(body in arb_text()) {
        check_message(&body);
    }

    #[test]
    fn a_broken_queue_message_is_a_message_or_a_typed_error(doc in mutated(valid_message())) {
        check_message(&doc.to_string());
    }

    #[test]
    fn only_known_regions_parse(value in arb_string()) {
        if let Ok(region) = Region::parse(&value) {
            // Accepted only as a region's own domain or key: never a host or URL of our choosing.
            let v = value.trim().to_ascii_lowercase();
            prop_assert!(v == region.domain() || v.replace('-', "_") == region.key(), "{value:?}");
        }
    }
}

#[test]
fn the_valid_documents_are_valid() {
    check_event(&valid_event());
    assert!(RotationEvent::from_json(&valid_event()).is_ok());
    assert!(IntegrationSecret::parse(&valid_secret().to_string()).is_ok());
    assert!(MasterSecret::parse(&valid_master().to_string()).is_ok());
    assert!(DrainMessage::parse(&valid_message().to_string()).is_ok());
}

#[test]
fn hostile_regions_are_refused() {
    for value in [
        "evil.example.com",
        "mypurecloud.ie.evil.com",
        "evil.com/mypurecloud.ie",
        "mypurecloud.ie@evil.com",
        "https://api.mypurecloud.ie",
        "api.mypurecloud.ie",
        "login.mypurecloud.ie",
        "127.0.0.1",
        "localhost",
        "pure.cloud",
        "",
    ] {
        assert!(Region::parse(value).is_err(), "{value:?} must be refused");
        let mut secret = valid_secret();
        secret["region"] = json!(value);
        let err = IntegrationSecret::parse(&secret.to_string()).unwrap_err();
        assert!(err.to_string().contains("`region`"), "{value:?}: {err}");
    }
}
