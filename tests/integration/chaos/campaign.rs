//! The campaign driver: the orgs, secrets and planted clients it starts with, one rotation as
//! Secrets Manager runs it, the simulated clock, the final drain and reconciliation, and the
//! table of what happened.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use genesys_emulator::{ClientRecord, ClientState, Emulator, EmulatorConfig, SeedClient};
use genesys_rotator::cleanup::Cleanup;
use genesys_rotator::config::{DrainConfig, ReconcileConfig};
use genesys_rotator::drain::DrainRetirement;
use genesys_rotator::rotation::{Rotator, Step};
use genesys_rotator::store::{AwsSecretStore, SecretStore, AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use time::OffsetDateTime;

use super::crash::{ChaosStore, Crash};
use super::guard::{strangers, Unreadable, ROTATION_FUNCTION};
use super::invariants::{client_of, labels, value_of, Seen};
use super::plan::{Kind, MAX_ATTEMPTS, REQUEST_TIMEOUT};
use super::queue::{ChaosQueue, Forged};
use crate::harness::{FaultyStore, SqsPlayer, World, MASTER_PERMISSIONS, ROLE};

#[derive(Default)]
pub(super) struct Stats {
    pub(super) rotations: u64,
    pub(super) invocations: u64,
    pub(super) concurrent: u64,
    pub(super) crashes: u64,
    pub(super) cleanup_crashes: u64,
    retries: u64,
    pub(super) errors: BTreeMap<String, u64>,
    pub(super) injected: BTreeMap<Kind, (u64, u64)>,
    pub(super) batches: u64,
    pub(super) violations: Vec<String>,
    pub(super) max_managed: Vec<usize>,
    pub(super) max_orphans: Vec<usize>,
    pub(super) orphans_left: usize,
    /// Clients soft-deleted and still listed at the end (Genesys removes them a week later).
    pub(super) soft_deleted_left: usize,
    pub(super) log_bytes: usize,
    pub(super) log_lines: usize,
    time_steps: Duration,
    time_checks: Duration,
    pub(super) time_queue: Duration,
    pub(super) searched_values: usize,
    /// Extra rotations of a secret just rotated, before the next drain round.
    pub(super) burst_rotations: u64,
    /// Rotations that left the replaced client active because another secret holds it.
    shared_kept: u64,
    /// Forged drain messages: sent, refused (acknowledged, nothing deleted or re-queued),
    /// returned after a fault or crash in their batch.
    pub(super) forged_sent: u64,
    pub(super) forged_refused: u64,
    pub(super) forged_returned: u64,
    /// Forged messages dead-lettered after faults returned them maxReceiveCount times.
    forged_dlq: u64,
    /// Rotations of a liar, and those whose replaced client (the named one, never proven)
    /// was left active.
    pub(super) liar_rotations: u64,
    pub(super) unproven_kept: u64,
    /// Managed clients pasted into a secret that goes through the second master.
    pub(super) pasted: u64,
    /// Unreadable windows opened, step invocations made while one was open, sweeps run in one
    /// that retired nothing and said why (GuardUnreadable).
    pub(super) windows: u64,
    pub(super) window_invocations: u64,
    pub(super) sweeps_refused: u64,
    /// Clients deleted after their drain, the shortest time from deactivation to deletion, and
    /// clients of lost createSecret attempts deleted without a drain (no version held them).
    pub(super) drained_deleted: u64,
    pub(super) shortest_drain: Option<time::Duration>,
    pub(super) lost_deleted: u64,
}

impl Stats {
    pub(super) fn inject(&mut self, kind: Kind) {
        self.injected.entry(kind).or_default().0 += 1;
    }
    pub(super) fn hit(&mut self, kind: Kind) {
        self.injected.entry(kind).or_default().1 += 1;
    }

    /// Counts the fault armed on `emulator` as hit if the step used it up, then clears what
    /// is left so it cannot land in a later step.
    pub(super) fn settle_fault(&mut self, emulator: &Emulator, kind: Option<Kind>) {
        if let Some(kind) = kind {
            if emulator.pending_faults() == 0 {
                self.hit(kind);
            }
        }
        emulator.clear_faults();
    }
}

pub(super) struct ManagedSecret {
    pub(super) arn: String,
    pub(super) org: usize,
    pub(super) prefix: String,
    /// The integration credential the secret lists (`integrationCredentials`), if any.
    pub(super) credential: Option<String>,
}

type ChaosRotator = Rotator<FaultyStore<ChaosStore>, DrainRetirement<ChaosQueue>>;

pub(super) struct Campaign {
    pub(super) w: World,
    pub(super) secrets: Vec<ManagedSecret>,
    pub(super) rotator: ChaosRotator,
    pub(super) cleanup: Cleanup<FaultyStore<ChaosStore>, ChaosQueue>,
    pub(super) store: FaultyStore<ChaosStore>,
    /// Unwrapped, for the checks (no crash point, no injected failure).
    pub(super) plain: AwsSecretStore,
    pub(super) queue: ChaosQueue,
    pub(super) player: SqsPlayer,
    pub(super) crash: Crash,
    pub(super) rng: StdRng,
    pub(super) stats: Stats,
    /// Clients outside every managed namespace, as they were at the start.
    pub(super) foreign: Vec<(usize, ClientRecord)>,
    /// How far the cleanup's clock is ahead of the real one.
    pub(super) sim: Duration,
    pub(super) horizon: Duration,
    pub(super) client_limits: Vec<usize>,
    /// (secret, version id) -> (client id, client secret) of every stored version read so far.
    pub(super) values: std::collections::HashMap<(String, String), (String, String)>,
    /// The drain margin the cleanup and the retirement use.
    pub(super) margin: Duration,
    /// Every client seen in any org, by id (invariant 7).
    pub(super) seen: std::collections::HashMap<String, Seen>,
    /// How many deletions of each org's `deleted_client_ids()` were already accounted for.
    pub(super) deletions_seen: Vec<usize>,
    /// The master secrets' versions and labels at the start (invariant 8).
    pub(super) masters: Vec<(String, BTreeMap<String, Vec<String>>)>,
    /// Hand-made clients held by several secrets at the start: client id -> those secrets.
    pub(super) shared: std::collections::HashMap<String, Vec<usize>>,
    /// Forged drain messages not yet acknowledged, by body.
    pub(super) forged: std::collections::HashMap<String, Forged>,
    /// The liars (secret indices): their first version names another team's client.
    pub(super) liars: Vec<usize>,
    /// Per org, the secret that goes through its second master (paste target).
    pub(super) via_second: Vec<usize>,
    /// (secret, version) of each lie: AWSCURRENT there gets no token, by design (invariant 1
    /// does not apply to it).
    pub(super) lies: HashSet<(String, String)>,
    /// Clients that must keep working whatever happens (invariant 11): (org, id, secret, what):
    /// the masters, the second masters, the clients the liars name.
    pub(super) protected: Vec<(usize, String, String, &'static str)>,
    /// The strangers' tagged secrets (never rotated by the campaign).
    pub(super) strangers: Vec<String>,
    /// The served secret made unreadable just now, if any (invariant 13).
    pub(super) unreadable: Option<Unreadable>,
}

impl Campaign {
    /// Two orgs, each with two master secrets and four secrets: two sharing the prefix
    /// `chaos-<org>-` and the hand-made client they both start with (the second through the
    /// org's second master), one with the nested prefix `chaos-<org>-eu-`, and a liar
    /// (`chaos-<org>-liar-`) whose `clientId` names another team's client with a made-up
    /// secret. Two strangers' tagged secrets sit beside them (see [`Campaign::strangers`]).
    pub(super) async fn new(seed: u64) -> Campaign {
        let mut w = World::with_orgs(&[
            ("mypurecloud.ie", EmulatorConfig::default()),
            ("usw2.pure.cloud", EmulatorConfig::default()),
        ])
        .await;
        // A second master client and master secret per org (untagged: a master is not
        // served), allowed like the first.
        let mut second_masters = Vec::new();
        let mut protected = Vec::new();
        for (o, org) in w.orgs.iter().enumerate() {
            let m = org
                .emulator
                .seed_client(SeedClient::new("genesys-rotator-master-2", &MASTER_PERMISSIONS));
            let arn = w
                .sm
                .create_secret()
                .name(format!("genesys/master-2/{}", org.domain))
                .secret_string(json!({"clientId": m.id, "clientSecret": m.secret, "region": org.domain}).to_string())
                .send()
                .await
                .expect("create the second master secret")
                .arn()
                .unwrap()
                .to_owned();
            protected.push((o, org.master_id.clone(), org.master_secret.clone(), "master"));
            protected.push((o, m.id, m.secret, "second master"));
            second_masters.push(arn);
        }
        w.master_arns.extend(second_masters.iter().cloned());
        let mut rng = StdRng::seed_from_u64(seed);
        let player = SqsPlayer::create(w._moto.sqs(), "chaos-drain", 5).await;
        let crash = Crash::new();
        let plain = AwsSecretStore::new(w.sm.clone());
        let store = FaultyStore::over_aws_like(ChaosStore {
            inner: plain.clone(),
            crash: crash.clone(),
            put_lock: Arc::default(),
        });
        let url = player.queue_url.clone();
        let drain = DrainConfig::from_lookup(|k| (k == "DRAIN_QUEUE_URL").then(|| url.clone())).expect("drain config");
        let queue = ChaosQueue {
            sqs: player.sqs.clone(),
            queue_url: drain.queue_url.clone(),
            crash: crash.clone(),
            state: Arc::default(),
            rng: Arc::new(Mutex::new(StdRng::seed_from_u64(rng.random()))),
        };
        let mut config = w.rotator_config();
        config.request_timeout = REQUEST_TIMEOUT;
        // As deployed: a tagged secret is served only if it names this rotation function.
        config.rotation_function = Some(ROTATION_FUNCTION.to_owned());
        let reconcile = ReconcileConfig::default();
        let horizon = reconcile.horizon;
        let rotator = Rotator::with_retirement(
            store.clone(),
            config.clone(),
            DrainRetirement::new(queue.clone(), drain.settings),
        )
        .with_reconcile(reconcile.clone());
        let cleanup = Cleanup::new(store.clone(), config, queue.clone(), drain.settings).with_reconcile(reconcile);

        // Other teams' clients, and names that only resemble managed ones, all old enough for
        // reconciliation to delete if it ever mistook them for orphans.
        let long_ago = OffsetDateTime::now_utc() - time::Duration::days(90);
        let mut secrets = Vec::new();
        let mut shared: std::collections::HashMap<String, Vec<usize>> = Default::default();
        let mut liars = Vec::new();
        let mut via_second = Vec::new();
        for (o, org) in w.orgs.iter().enumerate() {
            // The liar's victim: another team's client, which no secret holds.
            let team_b = org.emulator.seed_client(SeedClient {
                date_created: Some(long_ago),
                ..SeedClient::new("team-b-integration", &["conversation:communication:view"])
            });
            protected.push((o, team_b.id.clone(), team_b.secret.clone(), "named by a liar"));
            let mut planted = HashSet::new();
            let mut shared_legacy = None;
            for (k, prefix) in [
                format!("chaos-{o}-"),
                format!("chaos-{o}-"),
                format!("chaos-{o}-eu-"),
                format!("chaos-{o}-liar-"),
            ]
            .into_iter()
            .enumerate()
            {
                let mut value = w.integration_json_with_prefix(o, &prefix);
                value["roleDivisions"] = json!([{"roleId": ROLE, "divisionId": "*"}]);
                let mut credential = None;
                if k == 3 {
                    // The liar: another team's client, with a secret its writer made up.
                    value["clientId"] = json!(team_b.id);
                    value["clientSecret"] = json!(format!("made-up-secret-{o}"));
                } else {
                    // Secrets 0 and 1 of the org start with the same hand-made client.
                    let legacy = match (k, &shared_legacy) {
                        (1, Some(l)) => Clone::clone(l),
                        _ => org.emulator.seed_client(SeedClient::new(
                            format!("legacy-{o}{k}"),
                            &["conversation:communication:view"],
                        )),
                    };
                    if k == 0 {
                        shared_legacy = Some(legacy.clone());
                    }
                    if k <= 1 {
                        shared.entry(legacy.id.clone()).or_default().push(secrets.len());
                    }
                    value["clientId"] = json!(legacy.id);
                    value["clientSecret"] = json!(legacy.secret);
                    // The nested-prefix secret, which holds its own client, keeps a Data
                    // Actions credential in step.
                    credential = (k == 2).then(|| {
                        org.emulator
                            .seed_credential(genesys_emulator::SeedCredential::oauth_client(
                                format!("data-actions-{o}{k}"),
                                &legacy.id,
                                &legacy.secret,
                            ))
                            .id
                    });
                    if let Some(id) = &credential {
                        value["integrationCredentials"] = json!([id]);
                    }
                }
                // The second secret of the org goes through the org's second master.
                if k == 1 {
                    value["masterSecretArn"] = json!(second_masters[o]);
                }
                let arn = w.create_secret(&format!("genesys/chaos-{o}{k}"), &value).await;
                match k {
                    1 => via_second.push(secrets.len()),
                    3 => liars.push(secrets.len()),
                    _ => {}
                }
                let uuid = uuid::Uuid::new_v4();
                let names = if planted.insert(prefix.clone()) {
                    vec![
                        format!("{}{uuid}", prefix.trim_end_matches('-')),
                        format!("{}{uuid}", prefix.to_uppercase()),
                        format!("x{prefix}{uuid}"),
                        format!("{prefix}not-a-version-id"),
                        // Shaped like a managed client of this prefix (and, for `chaos-<org>-`,
                        // of the nested ones), but hand-made: no version, no marker.
                        format!("{prefix}{uuid}"),
                    ]
                } else {
                    vec![format!("{prefix}{}", uuid::Uuid::new_v4())]
                };
                for name in names {
                    org.emulator.seed_client(SeedClient {
                        date_created: Some(long_ago),
                        ..SeedClient::new(&name, &["conversation:communication:view"])
                    });
                }
                secrets.push(ManagedSecret {
                    arn,
                    org: o,
                    prefix,
                    credential,
                });
            }
        }
        // Served from the start: rotation set up with the deployment's function (moto records
        // it, then fails to find the Lambda), no rotation left pending.
        for m in &secrets {
            let token = w.begin_rotation(&m.arn, false).await;
            w.clear_pending(&m.arn, &token).await;
        }
        let mut lies = HashSet::new();
        for &l in &liars {
            let desc = plain.describe(&secrets[l].arn).await.expect("describe the liar");
            let version = desc.version_with(AWSCURRENT).expect("the lie is current").to_owned();
            lies.insert((secrets[l].arn.clone(), version));
        }
        let strangers = strangers(&w, &store).await;
        // The clients the secrets start with, the liars' victims excepted: those are foreign.
        let legacy: HashSet<String> = {
            let mut ids = HashSet::new();
            for s in secrets
                .iter()
                .enumerate()
                .filter(|(i, _)| !liars.contains(i))
                .map(|(_, s)| s)
            {
                let v = value_of(&plain, &s.arn, AWSCURRENT).await.expect("current value");
                ids.insert(v["clientId"].as_str().unwrap().to_owned());
            }
            ids
        };
        let foreign = w
            .orgs
            .iter()
            .enumerate()
            .flat_map(|(o, org)| org.emulator.clients().into_iter().map(move |c| (o, c)))
            .filter(|(_, c)| !legacy.contains(&c.id))
            .collect();
        let client_limits = vec![EmulatorConfig::default().client_limit; w.orgs.len()];
        let n = secrets.len();
        let mut masters = Vec::new();
        for arn in &w.master_arns {
            masters.push((
                arn.clone(),
                labels(&plain.describe(arn).await.expect("describe master")),
            ));
        }
        shared.retain(|_, holders| holders.len() > 1);
        let deletions_seen = vec![0; w.orgs.len()];
        let margin = drain.settings.margin();
        Campaign {
            w,
            secrets,
            rotator,
            cleanup,
            store,
            plain,
            queue,
            player,
            crash,
            rng,
            stats: Stats {
                max_managed: vec![0; n],
                max_orphans: vec![0; n],
                ..Stats::default()
            },
            foreign,
            sim: Duration::ZERO,
            horizon,
            client_limits,
            values: Default::default(),
            margin,
            seen: Default::default(),
            deletions_seen,
            masters,
            shared,
            forged: Default::default(),
            liars,
            via_second,
            lies,
            protected,
            strangers,
            unreadable: None,
        }
    }

    pub(super) fn violation(&mut self, what: String) {
        if self.stats.violations.len() < 1000 {
            self.stats.violations.push(what);
        }
    }

    /// One rotation of secret `s`, as Secrets Manager runs it.
    pub(super) async fn rotate(&mut self, s: usize) {
        let arn = self.secrets[s].arn.clone();
        let replaced = value_of(&self.plain, &arn, AWSCURRENT)
            .await
            .and_then(|v| v["clientId"].as_str().map(str::to_owned));
        let token = self.w.begin_rotation(&arn, true).await;
        let mut attempts = 0;
        'rotation: loop {
            // An attempt made while a served secret is unreadable may fail for that alone
            // (GuardUnreadable, fail closed): it does not count against liveness; the window
            // closes after a bounded number of invocations.
            if self.unreadable.is_none() {
                attempts += 1;
            }
            if attempts > MAX_ATTEMPTS {
                self.violation(format!(
                    "rotation {token} of {arn} did not finish in {MAX_ATTEMPTS} attempts"
                ));
                return;
            }
            for step in Step::ALL {
                let t = Instant::now();
                let ok = self.invoke(s, &token, step).await;
                self.stats.time_steps += t.elapsed();
                let t = Instant::now();
                self.check_all(&format!("after {} of {token} of {arn}", step.as_str()))
                    .await;
                self.stats.time_checks += t.elapsed();
                if !ok {
                    // Secrets Manager retries the rotation with the same token.
                    self.stats.retries += 1;
                    continue 'rotation;
                }
            }
            break;
        }
        self.w.clear_pending(&arn, &token).await;
        self.stats.rotations += 1;
        // A liar's replaced client, named but never proven, must have stayed active (invariant
        // 11 checks it after every step; this counts the rotations that met it).
        if self.liars.contains(&s) {
            self.stats.liar_rotations += 1;
            let org = self.secrets[s].org;
            if let Some(old) = replaced.as_deref() {
                if self.protected.iter().any(|(o, id, _, _)| *o == org && id == old) {
                    let active = self.w.orgs[org]
                        .emulator
                        .clients()
                        .iter()
                        .any(|c| c.id == old && c.state == ClientState::Active);
                    if active {
                        self.stats.unproven_kept += 1;
                    } else {
                        self.violation(format!(
                            "(11) {arn}: rotation {token} retired client {old}, which it named but never held"
                        ));
                    }
                }
            }
        }
        // The replaced client, if another secret still holds it, must have stayed active
        // (invariant 6 checks every holder; this counts the rotations that met the guard).
        if let Some(old) = replaced.filter(|id| self.shared.contains_key(id)) {
            let mut held_elsewhere = false;
            for (o, other) in self.secrets.iter().enumerate() {
                if o == s {
                    continue;
                }
                for stage in [AWSCURRENT, AWSPENDING] {
                    if let Some(v) = value_of(&self.plain, &other.arn, stage).await {
                        held_elsewhere |= v["clientId"].as_str() == Some(old.as_str());
                    }
                }
            }
            let org = self.secrets[s].org;
            let active = self.w.orgs[org]
                .emulator
                .clients()
                .iter()
                .any(|c| c.id == old && c.state == ClientState::Active);
            if held_elsewhere {
                if active {
                    self.stats.shared_kept += 1;
                } else {
                    self.violation(format!(
                        "{arn}: rotation {token} retired client {old}, which another secret holds"
                    ));
                }
            }
        }
    }

    /// Moves the campaign's clock and every emulator's clock forward together, so the cleanup's
    /// `now` and the dates Genesys shows agree.
    pub(super) fn advance(&mut self, by: Duration) {
        self.sim += by;
        for org in &self.w.orgs {
            org.emulator.advance_clock(by);
        }
    }

    /// The emulators' clock (real time plus the same offset).
    pub(super) fn emulator_now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.sim
    }

    /// The end: every copy delivered past every drain, then a reconciliation pass past the
    /// horizon; invariant 4's last clause is that no orphan is left.
    pub(super) async fn finish(&mut self) {
        self.close_unreadable();
        for _ in 0..40 {
            self.advance(Duration::from_secs(8 * 24 * 3600));
            self.sqs_round(true, 10).await;
            if self.player.depth(&self.player.queue_url).await == 0 && self.queue.state.lock().unwrap().held.is_empty()
            {
                break;
            }
        }
        // Scheduled passes past the horizon: one deactivates what a version once held and was
        // never retired (a secret's own client left behind when another client was pasted over
        // it), the next, past the horizon again, deletes it.
        let past = self.horizon + Duration::from_secs(3600);
        let arns: Vec<String> = self.secrets.iter().map(|s| s.arn.clone()).collect();
        for pass in 0..3 {
            self.advance(past);
            let report = genesys_rotator::sweep::reconcile_all_with(
                self.rotator.deployment(),
                self.rotator.deployment().reconcile_config(),
                &arns,
                OffsetDateTime::now_utc() + self.sim,
            )
            .await;
            self.check_all(&format!("after final reconciliation pass {pass}")).await;
            if !report.errors.is_empty() {
                self.violation(format!("final reconciliation failed: {:?}", report.errors));
            }
            if report.deactivated.is_empty() {
                break;
            }
            self.sqs_round(true, 10).await;
        }
        for s in 0..self.secrets.len() {
            let (arn, org, prefix) = {
                let m = &self.secrets[s];
                (m.arn.clone(), m.org, m.prefix.clone())
            };
            let mut referenced = HashSet::new();
            for stage in [AWSCURRENT, AWSPENDING, AWSPREVIOUS] {
                if let Some(v) = value_of(&self.plain, &arn, stage).await {
                    referenced.insert(v["clientId"].as_str().unwrap_or_default().to_owned());
                }
            }
            let left: Vec<String> = self.w.orgs[org]
                .emulator
                .clients()
                .into_iter()
                // A soft-deleted client (DELETE of one over 30 days old in the emulator's clock,
                // which the final drain and passes advance by weeks) is deleted: Genesys lists it
                // until its dateToDelete.
                .filter(|c| client_of(&arn, &prefix, c) && !referenced.contains(&c.id) && !c.soft_deleted)
                .map(|c| c.id)
                .collect();
            self.stats.orphans_left += left.len();
            if !left.is_empty() {
                self.violation(format!("{arn}: orphans left after reconciliation: {left:?}"));
            }
        }
        // Org-wide: every client left that the campaign did not plant was made by the rotator
        // and is held by a labelled version of some secret (managed names shared by several
        // secrets, unmarked or marked for another secret, included).
        let planted: HashSet<String> = self.foreign.iter().map(|(_, c)| c.id.clone()).collect();
        let mut referenced = HashSet::new();
        for m in &self.secrets {
            for stage in [AWSCURRENT, AWSPENDING, AWSPREVIOUS] {
                if let Some(v) = value_of(&self.plain, &m.arn, stage).await {
                    referenced.insert(v["clientId"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
        let unheld: Vec<String> = self
            .w
            .orgs
            .iter()
            .flat_map(|o| o.emulator.clients())
            .filter(|c| {
                !planted.contains(&c.id)
                    && !referenced.contains(&c.id)
                    && !c.name.starts_with("legacy-")
                    && !c.soft_deleted
            })
            .map(|c| format!("{} ({})", c.id, c.name))
            .collect();
        self.stats.soft_deleted_left = self
            .w
            .orgs
            .iter()
            .flat_map(|o| o.emulator.clients())
            .filter(|c| c.soft_deleted)
            .count();
        self.stats.orphans_left += unheld.len();
        if !unheld.is_empty() {
            self.violation(format!("clients left that no secret holds: {unheld:?}"));
        }
        self.check_foreign();
        self.check_protected("at the end");
        // Invariant 9: every forged message was acknowledged (or, after faults, dead-lettered).
        let dlq = self.player.dlq_bodies().await;
        let mut stuck = Vec::new();
        for (body, f) in &self.forged {
            if dlq.contains(body) {
                self.stats.forged_dlq += 1;
            } else {
                stuck.push(format!(
                    "forged message ({}) for client {} was never acknowledged",
                    f.kind, f.client_id
                ));
            }
        }
        for v in stuck {
            self.violation(v);
        }
    }

    pub(super) fn table(&self, seed: u64, elapsed: Duration) -> String {
        let s = &self.stats;
        let mut out = String::new();
        let mut row = |k: &str, v: String| out.push_str(&format!("| {k} | {v} |\n"));
        row("seed", format!("{seed:#x}"));
        row(
            "secrets (orgs), master secrets, strangers' tagged secrets",
            format!(
                "{} ({}), {}, {}",
                self.secrets.len(),
                self.w.orgs.len(),
                self.masters.len(),
                self.strangers.len()
            ),
        );
        row("rotations", s.rotations.to_string());
        row("step invocations", s.invocations.to_string());
        row(
            "concurrent invocations (same step twice at once)",
            s.concurrent.to_string(),
        );
        row("crashes of the rotation function", s.crashes.to_string());
        row(
            "retries (rotation restarted with the same token)",
            s.retries.to_string(),
        );
        for (kind, (injected, hit)) in &s.injected {
            row(
                &format!("fault: {}", kind.label()),
                format!("{injected} injected, {hit} hit"),
            );
        }
        let errors: Vec<String> = s.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
        row("step errors by kind and call", errors.join(", "));
        let q = self.queue.state.lock().unwrap();
        row(
            "drain queue: batches, cleanup crashes",
            format!("{}, {}", s.batches, s.cleanup_crashes),
        );
        row(
            "drain queue: copies delayed, duplicated, batches reordered",
            format!("{}, {}, {}", q.delayed, q.duplicated, q.reordered),
        );
        row(
            "rotations of a secret just rotated (faster than its drain)",
            s.burst_rotations.to_string(),
        );
        row(
            "shared clients kept active (replaced, but another secret holds them)",
            s.shared_kept.to_string(),
        );
        row(
            "liars' rotations, named clients kept active (neither owned nor proven)",
            format!("{}, {}", s.liar_rotations, s.unproven_kept),
        );
        row(
            "managed clients pasted into a second-master secret",
            s.pasted.to_string(),
        );
        let guard_unreadable: u64 = s
            .errors
            .iter()
            .filter(|(k, _)| k.starts_with("GuardUnreadable"))
            .map(|(_, n)| n)
            .sum();
        row(
            "unreadable windows: opened, step invocations in them, GuardUnreadable step errors, sweeps that retired nothing",
            format!(
                "{}, {}, {}, {}",
                s.windows, s.window_invocations, guard_unreadable, s.sweeps_refused
            ),
        );
        row(
            "forged drain messages: sent, refused, returned after faults, dead-lettered",
            format!(
                "{}, {}, {}, {}",
                s.forged_sent, s.forged_refused, s.forged_returned, s.forged_dlq
            ),
        );
        row(
            "clients deleted after a drain (shortest drain), lost ones deleted at once",
            format!(
                "{} ({}), {}",
                s.drained_deleted,
                s.shortest_drain
                    .map_or("-".into(), |d| format!("{} s", d.whole_seconds())),
                s.lost_deleted
            ),
        );
        row("invariant violations", s.violations.len().to_string());
        row("max managed clients seen per secret", format!("{:?}", s.max_managed));
        row("max orphans seen per secret", format!("{:?}", s.max_orphans));
        row("orphans left after reconciliation", s.orphans_left.to_string());
        row(
            "soft-deleted clients still listed at the end (deleted; Genesys removes them a week later)",
            s.soft_deleted_left.to_string(),
        );
        row(
            "log lines searched (bytes) for secrets and tokens",
            format!("{} ({}) for {} values", s.log_lines, s.log_bytes, s.searched_values),
        );
        row(
            "wall time (steps, checks, drain queue)",
            format!(
                "{:.0} s ({:.0} s, {:.0} s, {:.0} s)",
                elapsed.as_secs_f64(),
                s.time_steps.as_secs_f64(),
                s.time_checks.as_secs_f64(),
                s.time_queue.as_secs_f64()
            ),
        );
        out
    }
}
