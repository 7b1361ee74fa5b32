//! The harness's Secrets Manager answers as AWS does where moto does not (harness/fidelity.rs):
//! DescribeSecret and ListSecrets list only labelled versions, and deprecated versions can be
//! purged as AWS may delete them.

use genesys_rotator::store::{AwsSecretStore, SecretStore, Version, AWSCURRENT, AWSPREVIOUS};
use serde_json::json;

use crate::harness::World;

/// Puts version `id` of `arn` holding `value` with label `stage`.
async fn put(w: &World, arn: &str, id: &str, value: &str, stage: &str) {
    w.sm.put_secret_value()
        .secret_id(arn)
        .client_request_token(id)
        .secret_string(value)
        .version_stages(stage)
        .send()
        .await
        .expect("put a version");
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test]
async fn describe_and_list_secrets_show_only_labelled_versions() {
    let w = World::new().await;
    let arn = w.create_secret("fidelity/labels", &json!({"v": 0})).await;
    let first = w.describe(&arn).await.version_with(AWSCURRENT).unwrap().to_owned();
    // Two versions under one label: the first loses it and is deprecated.
    let (a, b) = (new_id(), new_id());
    put(&w, &arn, &a, "a", "LOCK").await;
    put(&w, &arn, &b, "b", "LOCK").await;
    let store = AwsSecretStore::new(w.sm.clone());

    let desc = store.describe(&arn).await.unwrap();
    assert_eq!(desc.versions.len(), 2, "{:?}", desc.versions);
    assert_eq!(desc.stages_of(&first), Some(&[AWSCURRENT.to_owned()][..]));
    assert_eq!(desc.stages_of(&b), Some(&["LOCK".to_owned()][..]));
    assert_eq!(desc.stages_of(&a), None, "a deprecated version is not listed");
    // The raw answer too, under both names moto gives the map.
    let raw = w.sm.describe_secret().secret_id(&arn).send().await.unwrap();
    assert!(!raw.version_ids_to_stages().unwrap().contains_key(&a));
    let listed = store.served_secrets().await.unwrap();
    let entry = listed
        .iter()
        .find(|d| d.arn == arn)
        .expect("the served secret is listed");
    assert_eq!(entry.versions, desc.versions);

    // Still there by id, and among every version id.
    let by_id = store.get_value(&arn, Version::Id(&a)).await.unwrap().expect("by id");
    assert_eq!(by_id.version_id, a);
    let ids = store.version_ids(&arn).await.unwrap();
    assert!(ids.contains(&a) && ids.contains(&b) && ids.contains(&first), "{ids:?}");
    // The layer did answer (the clients do not go straight to moto).
    assert!(w._moto.sm.requests() > 0);
}

#[tokio::test]
async fn purged_deprecated_versions_are_gone_except_those_kept() {
    let w = World::new().await;
    let arn = w.create_secret("fidelity/purge", &json!({"v": 0})).await;
    let store = AwsSecretStore::new(w.sm.clone());
    let first = w.describe(&arn).await.version_with(AWSCURRENT).unwrap().to_owned();
    let (a, b, kept) = (new_id(), new_id(), new_id());
    put(&w, &arn, &kept, "kept", "LOCK").await;
    put(&w, &arn, &a, "a", "LOCK").await;
    put(&w, &arn, &b, "b", "LOCK").await;
    w._moto.sm.keep(&kept);
    w._moto.sm.purge_deprecated(true);

    let ids = store.version_ids(&arn).await.unwrap();
    assert!(!ids.contains(&a), "a purged version is not listed: {ids:?}");
    assert!(
        ids.contains(&b) && ids.contains(&kept) && ids.contains(&first),
        "{ids:?}"
    );
    assert!(w._moto.sm.is_purged(&a) && !w._moto.sm.is_purged(&kept));
    assert!(store.get_value(&arn, Version::Id(&a)).await.unwrap().is_none());
    let raw = w.sm.get_secret_value().secret_id(&arn).version_id(&a).send().await;
    assert!(
        raw.unwrap_err()
            .as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "ResourceNotFoundException"
    );
    let moved =
        w.sm.update_secret_version_stage()
            .secret_id(&arn)
            .version_stage("LOCK")
            .move_to_version_id(&a)
            .remove_from_version_id(&b)
            .send()
            .await;
    assert!(moved.is_err(), "a label cannot move onto a purged version");
    assert_eq!(
        store
            .get_value(&arn, Version::Id(&kept))
            .await
            .unwrap()
            .unwrap()
            .version_id,
        kept
    );

    // The labelled versions are never purged; a version that loses its label is.
    let next = new_id();
    w.sm.put_secret_value()
        .secret_id(&arn)
        .client_request_token(&next)
        .secret_string("next")
        .send()
        .await
        .unwrap();
    let desc = store.describe(&arn).await.unwrap();
    assert_eq!(desc.version_with(AWSCURRENT), Some(next.as_str()));
    assert_eq!(desc.version_with(AWSPREVIOUS), Some(first.as_str()));
    put(&w, &arn, &new_id(), "c", "LOCK").await;
    assert!(
        store.get_value(&arn, Version::Id(&b)).await.unwrap().is_none(),
        "b lost its label"
    );
    assert!(store.get_value(&arn, Version::Id(&first)).await.unwrap().is_some());
}

#[tokio::test]
async fn batch_get_secret_value_reads_awscurrent_twenty_at_most_with_an_error_per_unreadable_secret() {
    let w = World::new().await;
    let store = AwsSecretStore::new(w.sm.clone());
    let arn = w.create_secret("fidelity/batch", &json!({"v": 0})).await;
    let current = w.describe(&arn).await.version_with(AWSCURRENT).unwrap().to_owned();
    // A newer version under another label: moto's own default version, not AWSCURRENT.
    put(&w, &arn, &new_id(), "other", "LOCK").await;
    let gone = w.create_secret("fidelity/batch-gone", &json!({"v": 1})).await;
    w.sm.delete_secret()
        .secret_id(&gone)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete a secret");
    let scheduled = w.create_secret("fidelity/batch-scheduled", &json!({"v": 2})).await;
    w.sm.delete_secret()
        .secret_id(&scheduled)
        .recovery_window_in_days(7)
        .send()
        .await
        .expect("schedule a deletion");

    let batch = store.current_values(&[&arn, &gone, &scheduled]).await.unwrap();
    let value = batch.answer_for(&arn).expect("answered").expect("read");
    assert_eq!(value.version_id, current);
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&value.value),
        json!({"v": 0}).to_string()
    );
    for unreadable in [&gone, &scheduled] {
        let why = batch.answer_for(unreadable).expect("answered").unwrap_err();
        assert!(why.contains("Exception"), "{why}");
    }

    let many: Vec<&str> = std::iter::repeat_n(arn.as_str(), 21).collect();
    let refused = store.current_values(&many).await.unwrap_err();
    assert!(refused.to_string().contains("ValidationException"), "{refused}");
    assert!(store.current_values(&many[..20]).await.is_ok());
}
