//! What the guard must withstand: strangers' tagged secrets, a managed client pasted into a
//! secret that goes through the org's second master, and a served secret made unreadable for a
//! while (fail closed: nothing is retired, by any path, until it can be read again).

use std::collections::HashSet;

use genesys_emulator::ClientState;
use genesys_rotator::store::{SecretStore, AWSCURRENT, AWSPENDING, SERVED_TAG};
use rand::Rng;
use serde_json::json;
use time::OffsetDateTime;

use super::campaign::Campaign;
use super::crash::ChaosStore;
use super::invariants::{client_of, value_of};
use crate::harness::{FaultyStore, World};

/// The deployment's rotation function, as the campaign's configuration names it: the function
/// [`World::begin_rotation`] sets as each secret's `RotationLambdaARN`.
pub(super) const ROTATION_FUNCTION: &str = "genesys-rotation";
/// The label a pasted version is put with, before AWSCURRENT moves onto it.
const PASTE_STAGE: &str = "PASTING";
/// Another team's rotation function, which a stranger's tagged secret names.
const STRANGER_FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:someone-elses-rotation";

/// A served secret made unreadable to the functions under test, for a number of step
/// invocations (invariant 13).
pub(super) struct Unreadable {
    pub(super) arn: String,
    /// Step invocations left before it can be read again.
    pub(super) left: usize,
    /// Every client active at the last check (across orgs).
    pub(super) active: HashSet<String>,
    /// How many of each org's deletions were seen at the last check.
    pub(super) deleted_base: Vec<usize>,
}

/// Two tagged secrets the deployment must never be blocked by: one rotated by another team's
/// function that this one may not read (every GetSecretValue of it is refused), and one rotated
/// by this deployment's function whose value is not a credential at all. Returns their ARNs.
pub(super) async fn strangers(w: &World, store: &FaultyStore<ChaosStore>) -> Vec<String> {
    // Its value names org 0's hand-made legacy client: were it taken for a holder it could only
    // keep that client; unreadable, it would block every retirement.
    let elsewhere = w
        .create_secret(
            "genesys/stranger-rotated-elsewhere",
            &w.integration_json_with_prefix(0, "stranger-"),
        )
        .await;
    let moved =
        w.sm.rotate_secret()
            .secret_id(&elsewhere)
            .rotation_lambda_arn(STRANGER_FUNCTION)
            .rotate_immediately(false)
            .send()
            .await;
    assert!(
        moved
            .as_ref()
            .err()
            .and_then(|e| e.as_service_error())
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "moto's RotateSecret should fail to find the Lambda: {moved:?}"
    );
    let desc = w.describe(&elsewhere).await;
    if let Some(pending) = desc
        .version_with(AWSPENDING)
        .filter(|v| Some(*v) != desc.version_with(AWSCURRENT))
    {
        w.clear_pending(&elsewhere, pending).await;
    }
    store.set_unreadable(&elsewhere, true);

    let note =
        w.sm.create_secret()
            .name("genesys/stranger-not-a-credential")
            .secret_string("a note someone tagged genesys-rotator: not a credential")
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(SERVED_TAG)
                    .value("integration")
                    .build(),
            )
            .send()
            .await
            .expect("create the note")
            .arn()
            .unwrap()
            .to_owned();
    let token = w.begin_rotation(&note, false).await;
    w.clear_pending(&note, &token).await;
    vec![elsewhere, note]
}

impl Campaign {
    /// Pastes the current managed client of a secret of org `o` (id and secret) into the org's
    /// secret that goes through its second master, as one puts a working credential into a
    /// second system. From then on that client is held twice, through two masters.
    pub(super) async fn paste(&mut self, o: usize) {
        let target = self.via_second[o];
        let mut sources = Vec::new();
        let clients = self.w.orgs[o].emulator.clients();
        for (s, m) in self.secrets.iter().enumerate() {
            if m.org != o || s == target || self.liars.contains(&s) {
                continue;
            }
            let Some(v) = value_of(&self.plain, &m.arn, AWSCURRENT).await else {
                continue;
            };
            let id = v["clientId"].as_str().unwrap_or_default();
            if clients
                .iter()
                .any(|c| c.id == id && c.state == ClientState::Active && client_of(&m.arn, &m.prefix, c))
            {
                sources.push((
                    s,
                    id.to_owned(),
                    v["clientSecret"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
        if sources.is_empty() {
            return;
        }
        let (source, id, secret) = sources.swap_remove(self.rng.random_range(0..sources.len()));
        let arn = self.secrets[target].arn.clone();
        let mut value = value_of(&self.plain, &arn, AWSCURRENT)
            .await
            .expect("the target's value");
        value["clientId"] = json!(id);
        value["clientSecret"] = json!(secret);
        if let Some(fields) = value.as_object_mut() {
            fields.remove("possessionProof");
        }
        // Put as a new version, then AWSCURRENT moved onto it: moto's PutSecretValue with
        // AWSCURRENT moves the label from the version it created the secret with, not from the
        // one AWSCURRENT was moved to since (it would leave two versions labelled AWSCURRENT);
        // moving the label is what AWS does either way.
        let current = self
            .plain
            .describe(&arn)
            .await
            .expect("describe the target")
            .version_with(AWSCURRENT)
            .expect("the target's current version")
            .to_owned();
        let version = uuid::Uuid::new_v4().to_string();
        self.w
            .sm
            .put_secret_value()
            .secret_id(&arn)
            .client_request_token(&version)
            .secret_string(value.to_string())
            .version_stages(PASTE_STAGE)
            .send()
            .await
            .expect("paste the client");
        self.w
            .sm
            .update_secret_version_stage()
            .secret_id(&arn)
            .version_stage(AWSCURRENT)
            .move_to_version_id(&version)
            .remove_from_version_id(&current)
            .send()
            .await
            .expect("make the pasted version current");
        self.w
            .sm
            .update_secret_version_stage()
            .secret_id(&arn)
            .version_stage(PASTE_STAGE)
            .remove_from_version_id(&version)
            .send()
            .await
            .expect("unlabel the paste");
        self.shared.insert(id, vec![source, target]);
        self.stats.pasted += 1;
        self.check_all(&format!(
            "after pasting the client of {} into {arn}",
            self.secrets[source].arn
        ))
        .await;
    }

    /// Makes served secret `s` unreadable to the functions under test for `invocations` step
    /// invocations, then runs the scheduled sweep, which must retire nothing and say why.
    pub(super) async fn open_unreadable(&mut self, s: usize, invocations: usize) {
        let arn = self.secrets[s].arn.clone();
        self.store.set_unreadable(&arn, true);
        self.stats.windows += 1;
        let active = self
            .w
            .orgs
            .iter()
            .flat_map(|o| o.emulator.clients())
            .filter(|c| c.state == ClientState::Active)
            .map(|c| c.id)
            .collect();
        let deleted_base = self
            .w
            .orgs
            .iter()
            .map(|o| o.emulator.deleted_client_ids().len())
            .collect();
        self.unreadable = Some(Unreadable {
            arn: arn.clone(),
            left: invocations,
            active,
            deleted_base,
        });
        let arns: Vec<String> = self.secrets.iter().map(|m| m.arn.clone()).collect();
        let report = genesys_rotator::sweep::reconcile_all_with(
            self.rotator.deployment(),
            self.rotator.deployment().reconcile_config(),
            &arns,
            OffsetDateTime::now_utc() + self.sim,
        )
        .await;
        if !report.deleted.is_empty() || !report.deactivated.is_empty() {
            self.violation(format!(
                "(13) the sweep retired clients while {arn} was unreadable: deleted {:?}, deactivated {:?}",
                report.deleted, report.deactivated
            ));
        }
        if report.errors.iter().any(|e| e.kind.starts_with("GuardUnreadable")) {
            self.stats.sweeps_refused += 1;
        } else {
            self.violation(format!(
                "(13) the sweep did not report its unreadable holder {arn}: {:?}",
                report.errors
            ));
        }
        self.check_all(&format!("after a sweep while {arn} is unreadable"))
            .await;
    }

    /// Called before every step invocation: counts the invocation against an open window, or
    /// closes it once spent.
    pub(super) fn tick_unreadable(&mut self) {
        let Some(u) = self.unreadable.as_mut() else {
            return;
        };
        if u.left == 0 {
            self.close_unreadable();
        } else {
            u.left -= 1;
            self.stats.window_invocations += 1;
        }
    }

    /// Makes the unreadable secret, if any, readable again.
    pub(super) fn close_unreadable(&mut self) {
        if let Some(u) = self.unreadable.take() {
            self.store.set_unreadable(&u.arn, false);
        }
    }
}
