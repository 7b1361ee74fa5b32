//! Unit tests of what the org-wide guard reads and how often: the served secrets' AWSCURRENT
//! values in batches of [`BATCH_LIMIT`], AWSPENDING only where a rotation is pending, each
//! master once per invocation; and that reading in batches is as strict as reading one by one
//! (an error entry fails closed, a pending holder is protected).
//!
//! Each test says what it starts from (GIVEN), what it does (WHEN) and what must hold (THEN).

use genesys_emulator::ClientState;
use serde_json::json;

use super::{new_token, Fixture};
use crate::deployment::scope;
use crate::rotation::{RotationError, Step};
use crate::store::{SecretsManagerCall, AWSCURRENT, AWSPENDING, BATCH_LIMIT};
use genesys_core::region::Region;

impl Fixture {
    /// `n` other served secrets, each holding a client of its own (made up: the guard only reads
    /// ids); the first `pending` of them with a rotation pending whose AWSPENDING holds another.
    /// Returns their ARNs.
    fn other_served(&self, n: usize, pending: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let value = self.integration_json(&format!("held-{i}"), "x", &format!("team{i}-"));
                let arn = self
                    .store
                    .create_served_secret(&format!("genesys/other-{i}"), &value.to_string());
                if i < pending {
                    let token = self.store.begin_rotation(&arn);
                    let next = self.integration_json(&format!("pending-{i}"), "y", &format!("team{i}-"));
                    self.store
                        .insert_version(&arn, &token, Some(&next.to_string()), &[AWSPENDING]);
                }
                arn
            })
            .collect()
    }

    /// The calls of `operation` made while `f` runs.
    async fn calls_during<T>(
        &self,
        operation: SecretsManagerCall,
        f: impl std::future::Future<Output = T>,
    ) -> (T, usize) {
        let before = self.store.call_count(operation);
        let out = f.await;
        (out, self.store.call_count(operation) - before)
    }
}

#[tokio::test]
async fn the_guard_reads_served_secrets_twenty_to_a_call_and_pending_ones_once_more() {
    // GIVEN 45 other served secrets, 3 of them with a rotation pending
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let (n, pending) = (45, 3);
    f.other_served(n, pending);
    // WHEN the guard gathers the holders for `arn`, in one invocation
    let calls = |op| f.store.call_count(op);
    let before: Vec<usize> = SecretsManagerCall::ALL.iter().map(|&op| calls(op)).collect();
    let holders = scope(f.rotator.deployment().holders(&arn)).await;
    let made = |op: SecretsManagerCall| {
        let i = SecretsManagerCall::ALL.iter().position(|&o| o == op).unwrap();
        calls(op) - before[i]
    };
    // THEN every holder was read and holds its client, current and pending alike...
    assert!(holders.is_complete(), "{:?}", holders.first_unreadable());
    assert!(holders.holder("held-44").is_some() && holders.holder("pending-2").is_some());
    assert!(holders.holder("pending-3").is_none());
    // ...with one listing, ceil(N/20) batch reads, one read per pending rotation and the
    // master's two labels, and nothing else
    assert_eq!(made(SecretsManagerCall::ListSecrets), 1);
    assert_eq!(made(SecretsManagerCall::BatchGetSecretValue), n.div_ceil(BATCH_LIMIT));
    assert_eq!(made(SecretsManagerCall::GetSecretValue), pending + 2);
    let total: usize = SecretsManagerCall::ALL.iter().map(|&op| made(op)).sum();
    assert_eq!(total, 1 + n.div_ceil(BATCH_LIMIT) + pending + 2);
}

#[tokio::test]
async fn a_finish_secret_reads_no_more_single_values_with_more_served_secrets() {
    // GIVEN two deployments alike but for how many other secrets they serve (5 and 60)
    let mut single_reads = Vec::new();
    let mut batch_reads = Vec::new();
    for n in [5, 60] {
        let f = Fixture::new().await;
        let arn = f.integration_secret();
        f.other_served(n, 0);
        let token = f.created(&arn).await;
        for step in [Step::SetSecret, Step::TestSecret] {
            f.step(&arn, &token, step).await.unwrap();
        }
        // WHEN finishSecret runs
        let (finished, gets) = f
            .calls_during(
                SecretsManagerCall::GetSecretValue,
                f.step(&arn, &token, Step::FinishSecret),
            )
            .await;
        finished.unwrap();
        assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Inactive);
        single_reads.push(gets);
        batch_reads.push(f.store.call_count(SecretsManagerCall::BatchGetSecretValue));
    }
    // THEN its single reads are the same, and only its batch reads grow, one per 20 secrets
    assert_eq!(single_reads[0], single_reads[1], "{single_reads:?}");
    assert_eq!(
        batch_reads,
        vec![5usize.div_ceil(BATCH_LIMIT), 60usize.div_ceil(BATCH_LIMIT)]
    );
}

#[tokio::test]
async fn an_error_entry_in_a_batch_keeps_the_replaced_client_and_names_the_secret() {
    // GIVEN a rotation at finishSecret, and 25 other served secrets of which one, in the second
    // batch, the batch read answers with AccessDeniedException
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.created(&arn).await;
    let others = f.other_served(25, 0);
    f.store.deny_batch_read(&others[22]);
    // WHEN finishSecret runs
    let e = f.step(&arn, &token, Step::FinishSecret).await.unwrap_err();
    // THEN it fails closed, retryably, naming that secret and the error; the old client is still
    // active and nothing is queued
    assert!(matches!(e, RotationError::GuardUnreadable { .. }), "{e:?}");
    assert!(genesys_core::classify::Classify::is_retryable(&e));
    let text = e.to_string();
    assert!(
        text.contains(&others[22]) && text.contains("AccessDeniedException"),
        "{text}"
    );
    assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Active);
    assert!(f.queue.sent().is_empty());
}

#[tokio::test]
async fn a_secret_missing_from_the_batch_answer_fails_closed() {
    // GIVEN a rotation at finishSecret, and another served secret deleted between the listing
    // and the batch read (the batch answers ResourceNotFoundException for it)
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.created(&arn).await;
    let others = f.other_served(3, 0);
    let gone = others[1].clone();
    f.store
        .before_next(SecretsManagerCall::BatchGetSecretValue, move |store| {
            store.deny_batch_read(&gone);
        });
    // WHEN finishSecret runs
    let e = f.step(&arn, &token, Step::FinishSecret).await.unwrap_err();
    // THEN the guard refuses to retire anything
    assert!(matches!(e, RotationError::GuardUnreadable { .. }), "{e:?}");
    assert!(e.to_string().contains(&others[1]), "{e}");
    assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Active);
}

#[tokio::test]
async fn a_pending_rotations_awspending_still_holds_its_client() {
    // GIVEN a rotation at finishSecret, and another served secret mid-rotation whose AWSPENDING
    // (not its AWSCURRENT) holds the same hand-made client
    let f = Fixture::new().await;
    let arn = f.integration_secret();
    let token = f.created(&arn).await;
    let other = f.store.create_served_secret(
        "genesys/mid-rotation",
        &f.integration_json("someone-else", "x", "erp-").to_string(),
    );
    let pending = f.store.begin_rotation(&other);
    let holding = f.integration_json(&f.legacy_id, &f.legacy_secret, "erp-");
    f.store
        .insert_version(&other, &pending, Some(&holding.to_string()), &[AWSPENDING]);
    // WHEN finishSecret runs
    f.step(&arn, &token, Step::FinishSecret).await.unwrap();
    // THEN the rotation finished, but the client the pending version holds stays active and
    // no deletion is queued
    assert_eq!(f.store.version_with(&arn, AWSCURRENT).as_deref(), Some(token.as_str()));
    assert_eq!(f.client(&f.legacy_id).unwrap().state, ClientState::Active);
    assert!(f.queue.sent().is_empty());
}

#[tokio::test]
async fn each_master_is_read_once_per_invocation_and_again_in_the_next() {
    // GIVEN the fixture's master and no other served secret
    let f = Fixture::new().await;
    let region = Region::parse(super::DOMAIN).unwrap();
    // WHEN one invocation gathers the holders twice and asks for the master client
    let ((), first) = f
        .calls_during(
            SecretsManagerCall::GetSecretValue,
            scope(async {
                f.rotator.deployment().holders("").await;
                f.rotator.deployment().holders("").await;
                f.rotator.deployment().master_of(&f.master_arn, region).await.unwrap();
            }),
        )
        .await;
    // THEN the master's AWSCURRENT and AWSPENDING were read once each
    assert_eq!(first, 2);
    // AND the next invocation reads them again (a rotated master is seen at once)
    let (_, second) = f
        .calls_during(
            SecretsManagerCall::GetSecretValue,
            scope(f.rotator.deployment().holders("")),
        )
        .await;
    assert_eq!(second, 2);
    // AND outside an invocation nothing is remembered
    let (_, bare) = f
        .calls_during(SecretsManagerCall::GetSecretValue, f.rotator.deployment().holders(""))
        .await;
    assert_eq!(bare, 2);
}

#[tokio::test]
async fn a_master_rotated_between_invocations_is_read_anew() {
    // GIVEN an invocation that read the master
    let f = Fixture::new().await;
    scope(f.rotator.deployment().holders("")).await;
    // WHEN the master secret's AWSCURRENT changes, and the next invocation gathers the holders
    let value = json!({"clientId": "renewed-master", "clientSecret": "s", "region": super::DOMAIN});
    f.store
        .insert_version(&f.master_arn, &new_token(), Some(&value.to_string()), &[AWSCURRENT]);
    let holders = scope(f.rotator.deployment().holders("")).await;
    // THEN it sees the new value
    assert!(holders.holder("renewed-master").is_some());
}
