//! Proof before retirement and the one org-wide guard, on the real `rotation` and `cleanup`
//! binaries (under a Lambda Runtime API, against moto and the emulator): the two sequences that
//! once cut off a live credential.
//!
//! 1. A secret's `clientId` set to another team's client with a made-up secret (whoever may write
//!    the secret, or a typo): the rotation finishes with a new client, and the named client stays
//!    active and working.
//! 2. Two master secrets for one org; secret P's managed client pasted into secret H, served
//!    through the second master; P's version of it unlabelled and old: the scheduled pass keeps
//!    it active, since H's AWSCURRENT holds it.

use std::time::Duration;

use genesys_emulator::{routes, ClientState, SeedClient};
use genesys_rotator::store::{AWSCURRENT, AWSPREVIOUS};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::harness::{Function, Seeded, SqsPlayer, World, PREFIX};

const MASTER_PERMISSIONS: [&str; 4] = [
    "oauth:client:add",
    "oauth:client:edit",
    "oauth:client:delete",
    "oauth:client:view",
];

fn rotation_event(arn: &str, token: &str, step: &str) -> Value {
    json!({"Step": step, "SecretId": arn, "ClientRequestToken": token})
}

/// A whole rotation of `arn` through the real rotation function, as Secrets Manager runs it
/// once; returns the token and each step's answer.
async fn rotate(w: &World, f: &mut Function, arn: &str) -> (String, Vec<Result<Value, Value>>) {
    let token = w.begin_rotation(arn, true).await;
    let mut answers = Vec::new();
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let answer = f.invoke(rotation_event(arn, &token, step)).await;
        let failed = answer.is_err();
        answers.push(answer);
        if failed {
            return (token, answers);
        }
    }
    w.clear_pending(arn, &token).await;
    (token, answers)
}

#[tokio::test]
async fn a_secret_naming_another_teams_client_never_gets_it_deactivated() {
    // GIVEN another team's hand-made client, and a served secret (legitimately made) whose
    // writer then set clientId to that client with a made-up clientSecret
    let w = World::new().await;
    let queue = SqsPlayer::create(w._moto.sqs(), "proof-drain", 3).await;
    let victim = w
        .org()
        .emulator
        .seed_client(SeedClient::new("erp-team-integration", &["routing:queue:edit"]));
    let arn = w.integration_secret().await;
    let mut lying = w.value(&arn, AWSCURRENT).await;
    lying["clientId"] = json!(victim.id);
    lying["clientSecret"] = json!("made-up-secret");
    w.sm.put_secret_value()
        .secret_id(&arn)
        .secret_string(lying.to_string())
        .version_stages(AWSCURRENT)
        .send()
        .await
        .unwrap();
    // WHEN the real rotation function rotates it
    let mut f = Function::start("rotation", &w, &queue.queue_url, &[]).await;
    let (token, answers) = rotate(&w, &mut f, &arn).await;
    // THEN every step succeeds: consumers get a working new client...
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(w.describe(&arn).await.version_with(AWSCURRENT), Some(token.as_str()));
    let current = w.value(&arn, AWSCURRENT).await;
    w.org()
        .emulator
        .token_grantable(
            current["clientId"].as_str().unwrap(),
            current["clientSecret"].as_str().unwrap(),
        )
        .expect("the new client works");
    // ...and the named client is still active, its real secret still works, nothing is queued
    assert_eq!(w.org().client(&victim.id).unwrap().state, ClientState::Active);
    w.org()
        .emulator
        .token_grantable(&victim.id, &victim.secret)
        .expect("the other team's credential still works");
    assert_eq!(queue.depth(&queue.queue_url).await, 0);
    assert_eq!(w.client_id(&arn, AWSPREVIOUS).await, victim.id);

    // AND a secret that holds its hand-made client for real still has it retired (proven)
    let honest = w
        .create_secret("genesys/honest", &w.integration_json_with_prefix(0, "crm-honest-"))
        .await;
    let old = w.client_id(&honest, AWSCURRENT).await;
    let (_, answers) = rotate(&w, &mut f, &honest).await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(w.org().client(&old).unwrap().state, ClientState::Inactive);
}

#[tokio::test]
async fn the_scheduled_pass_keeps_a_managed_client_another_masters_secret_holds() {
    // GIVEN one org with two master secrets, both allowed
    let mut w = World::new().await;
    let second = w
        .org()
        .emulator
        .seed_client(SeedClient::new("genesys-rotator-master-2", &MASTER_PERMISSIONS));
    let master_2 = w
        .create_secret(
            "genesys/master-2",
            &json!({"clientId": second.id, "clientSecret": second.secret, "region": w.org().domain}),
        )
        .await;
    // (a master secret is not served: it must not carry the served tag)
    w.sm.untag_resource()
        .secret_id(&master_2)
        .tag_keys(genesys_rotator::store::SERVED_TAG)
        .send()
        .await
        .unwrap();
    w.master_arns.push(master_2.clone());
    // AND secret P (first master) owning client C, made for a version that lost its labels
    // long ago (P rotated on since), still active
    let p = w.integration_secret().await;
    let long_ago = OffsetDateTime::now_utc() - Duration::from_secs(30 * 24 * 3600);
    let (c, _) = w.seed_owned(0, &p, PREFIX, long_ago, Seeded::Unretired).await;
    let c_secret = w.org().client(&c).unwrap().secret;
    // AND C pasted into secret H, served through the second master
    let mut h_value = w.integration_json_with_prefix(0, "erp-rot-");
    h_value["masterSecretArn"] = json!(master_2);
    h_value["clientId"] = json!(c);
    h_value["clientSecret"] = json!(c_secret);
    let h = w.create_secret("genesys/h", &h_value).await;
    // (both served by this deployment: rotation set up with its rotation function)
    for arn in [&p, &h] {
        let token = w.begin_rotation(arn, false).await;
        w.clear_pending(arn, &token).await;
    }
    // WHEN the real cleanup function runs its scheduled pass
    let queue = SqsPlayer::create(w._moto.sqs(), "proof-drain", 3).await;
    let mut cleanup = Function::start("cleanup", &w, &queue.queue_url, &[]).await;
    let listings = || {
        w.org()
            .emulator
            .call_counts()
            .get(routes::LIST_CLIENTS)
            .copied()
            .unwrap_or(0)
    };
    let listed_before = listings();
    let report = cleanup
        .invoke(json!({
            "version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-12-06T00:00:00Z", "region": "us-east-1",
            "resources": [], "detail": {}
        }))
        .await
        .expect("the pass answers a report");
    // THEN C stays active and H's credential works
    assert_eq!(w.org().client(&c).unwrap().state, ClientState::Active, "{report}");
    w.org()
        .emulator
        .token_grantable(&c, &c_secret)
        .expect("H's credential still works");
    assert_eq!(w.client_id(&h, AWSCURRENT).await, c);
    assert!(report["deactivated"].as_array().unwrap().is_empty(), "{report}");
    // AND the org, whose secrets go through two masters, was listed once (the emulator answers
    // a listing in one page), not once per master
    assert_eq!(listings() - listed_before, 1, "{report}");
}
