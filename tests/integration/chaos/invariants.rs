//! The invariants checked after every step and every round (numbered as in the campaign's
//! description in mod.rs), and what the campaign records of each client to check them.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use aho_corasick::AhoCorasick;
use genesys_emulator::{ClientRecord, ClientState};
use genesys_rotator::store::{
    AwsSecretStore, SecretDescription, SecretStore, Version, AWSCURRENT, AWSPENDING, AWSPREVIOUS,
};
use secrecy::ExposeSecret;
use serde_json::Value;
use time::OffsetDateTime;

use super::campaign::Campaign;
use super::guard::ROTATION_FUNCTION;

/// What the campaign knows of one client (invariant 7).
pub(super) struct Seen {
    /// The campaign's clock offset when it was first seen: its `dateCreated` less this is when it
    /// was created in real time (the rotator's clock).
    offset: Duration,
    /// `dateModified` when it was first seen inactive: its deactivation, in the emulator's clock.
    inactive_since: Option<OffsetDateTime>,
    /// `accessTokenValiditySeconds`.
    lifetime: u32,
    gone: bool,
}

/// A client name `prefix` manages: the prefix, then a version id (as reconciliation decides).
pub(super) fn managed_by(prefix: &str, name: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| {
        (32..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// A client of secret `arn`: a managed name for its prefix and its marker in the description.
/// With identical and nested prefixes in one org, the name alone would also claim the other
/// secrets' clients.
pub(super) fn client_of(arn: &str, prefix: &str, c: &ClientRecord) -> bool {
    managed_by(prefix, &c.name)
        && c.description
            .as_deref()
            .is_some_and(|d| d.contains(&genesys_rotator::guard::ownership::marker(arn)))
}

impl Campaign {
    /// Every invariant that holds at any moment, for every secret of every org.
    pub(super) async fn check_all(&mut self, when: &str) {
        for s in 0..self.secrets.len() {
            self.check_secret(s, when).await;
        }
        self.check_foreign();
        self.check_protected(when);
        self.check_masters(when).await;
        self.check_served(when).await;
        self.observe(when);
        self.check_unreadable(when);
    }

    /// Invariant 11, the clients that must keep working: the masters, the second masters and
    /// the clients the liars name stay active, and their original secret still gets a token.
    pub(super) fn check_protected(&mut self, when: &str) {
        let mut violations = Vec::new();
        for (o, id, secret, what) in &self.protected {
            if let Err(e) = self.w.orgs[*o].emulator.token_grantable(id, secret) {
                violations.push(format!("(11) {when}: {what} client {id} no longer works: {e}"));
            }
        }
        for v in violations {
            self.violation(v);
        }
    }

    /// Invariant 12: every client that a served secret (as the deployment finds them: tagged,
    /// rotated by its function, ListSecrets) holds in AWSCURRENT or AWSPENDING is active, in
    /// whichever org it lives, whatever master the secret goes through.
    async fn check_served(&mut self, when: &str) {
        let served = match self.plain.served_secrets().await {
            Ok(served) => served,
            Err(e) => {
                self.violation(format!("(12) {when}: the served secrets could not be listed: {e}"));
                return;
            }
        };
        let mut held = Vec::new();
        for d in served.iter().filter(|d| {
            d.rotation_lambda_arn
                .as_deref()
                .is_some_and(|arn| genesys_rotator::config::function_name(arn) == ROTATION_FUNCTION)
        }) {
            let current = d.version_with(AWSCURRENT);
            for stage in [AWSCURRENT, AWSPENDING] {
                let Some(version) = d.version_with(stage) else {
                    continue;
                };
                if stage == AWSPENDING && Some(version) == current {
                    continue;
                }
                let key = (d.arn.clone(), version.to_owned());
                if !self.values.contains_key(&key) {
                    let read = self
                        .plain
                        .get_value(&d.arn, Version::IdAndStage(version, stage))
                        .await
                        .expect("get value");
                    let Some(read) = read else { continue };
                    // A served value need not be a credential (a stranger's note): it holds none.
                    let pair = serde_json::from_str::<Value>(read.value.expose_secret())
                        .ok()
                        .map(|v| {
                            (
                                v["clientId"].as_str().unwrap_or_default().to_owned(),
                                v["clientSecret"].as_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .unwrap_or_default();
                    self.values.insert(key.clone(), pair);
                }
                let id = self.values[&key].0.clone();
                if !id.is_empty() {
                    held.push((d.arn.clone(), stage, id));
                }
            }
        }
        let states: std::collections::HashMap<String, ClientState> = self
            .w
            .orgs
            .iter()
            .flat_map(|o| o.emulator.clients())
            .map(|c| (c.id, c.state))
            .collect();
        let mut violations = Vec::new();
        for (arn, stage, id) in held {
            match states.get(&id) {
                Some(ClientState::Active) => {}
                Some(state) => violations.push(format!(
                    "(12) {when}: client {id}, held by {stage} of {arn}, is {state:?}"
                )),
                None if self.seen.contains_key(&id) => violations.push(format!(
                    "(12) {when}: client {id}, held by {stage} of {arn}, was deleted"
                )),
                None => {}
            }
        }
        for v in violations {
            self.violation(v);
        }
    }

    /// Invariant 13: while a served secret is unreadable, no client that a stored version ever
    /// held is deactivated or deleted, by any path (the rotation's retirement, the cleanup, a
    /// reconciliation). Clients no version ever held (a createSecret attempt's lost client) may
    /// go: no holder can exist.
    fn check_unreadable(&mut self, when: &str) {
        let Some(u) = self.unreadable.as_mut() else {
            return;
        };
        let held_ever: HashSet<&String> = self.values.values().map(|(id, _)| id).collect();
        let mut now_active = HashSet::new();
        let mut exists = HashSet::new();
        for o in &self.w.orgs {
            for c in o.emulator.clients() {
                if c.state == ClientState::Active {
                    now_active.insert(c.id.clone());
                }
                exists.insert(c.id);
            }
        }
        let mut violations = Vec::new();
        for id in &u.active {
            if held_ever.contains(id) && !now_active.contains(id) {
                let what = if exists.contains(id) { "deactivated" } else { "deleted" };
                violations.push(format!(
                    "(13) {when}: client {id} was {what} while {} was unreadable",
                    u.arn
                ));
            }
        }
        for (o, org) in self.w.orgs.iter().enumerate() {
            let deleted = org.emulator.deleted_client_ids();
            for id in &deleted[u.deleted_base[o]..] {
                if held_ever.contains(id) && !u.active.contains(id) {
                    violations.push(format!(
                        "(13) {when}: client {id} was deleted while {} was unreadable",
                        u.arn
                    ));
                }
            }
            u.deleted_base[o] = deleted.len();
        }
        u.active = now_active;
        for v in violations {
            self.violation(v);
        }
    }

    /// Invariant 8: the master secrets' versions and labels are as they were.
    async fn check_masters(&mut self, when: &str) {
        let mut violations = Vec::new();
        for (arn, before) in &self.masters {
            let now = labels(&self.plain.describe(arn).await.expect("describe master"));
            if &now != before {
                violations.push(format!("{when}: master secret {arn} changed: {before:?} -> {now:?}"));
            }
        }
        for v in violations {
            self.violation(v);
        }
    }

    /// Invariant 7: records when each client was first seen inactive and first seen gone, and
    /// checks that no client went sooner than its token lifetime plus the margin after its
    /// deactivation.
    fn observe(&mut self, when: &str) {
        let now = self.emulator_now();
        let held_ever: HashSet<String> = self.values.values().map(|(id, _)| id.clone()).collect();
        let mut violations = Vec::new();
        for o in 0..self.w.orgs.len() {
            let emulator = &self.w.orgs[o].emulator;
            for c in emulator.clients() {
                let seen = self.seen.entry(c.id.clone()).or_insert(Seen {
                    offset: self.sim,
                    inactive_since: None,
                    lifetime: c.access_token_validity_seconds,
                    gone: false,
                });
                seen.lifetime = c.access_token_validity_seconds;
                if c.state != ClientState::Active && seen.inactive_since.is_none() {
                    seen.inactive_since = Some(c.date_modified);
                    // Invariant 11: a client deactivated is owned by a secret (the ownership
                    // rule) or was held by a stored version with its real secret (provable).
                    let owned = self
                        .secrets
                        .iter()
                        .any(|m| m.org == o && client_of(&m.arn, &m.prefix, &c));
                    let provable = self
                        .values
                        .values()
                        .any(|(id, secret)| *id == c.id && *secret == c.secret);
                    if !owned && !provable {
                        violations.push(format!(
                            "(11) {when}: client {} ({}) was deactivated, though no secret owns it or ever held its secret",
                            c.id, c.name
                        ));
                    }
                }
            }
            let deleted = emulator.deleted_client_ids();
            for id in &deleted[self.deletions_seen[o]..] {
                let Some(seen) = self.seen.get_mut(id) else {
                    // Created and deleted within one step, never seen: a version that held it
                    // would have been read after the step that stored it.
                    if held_ever.contains(id) {
                        violations.push(format!("{when}: client {id}, held by a version, was deleted unseen"));
                    } else {
                        self.stats.lost_deleted += 1;
                    }
                    continue;
                };
                seen.gone = true;
                match seen.inactive_since {
                    // A client no version ever held (its secret was never stored: a createSecret
                    // attempt lost it) has no tokens anyone could use: deleting it at once is
                    // right, even when a crash had left it deactivated but not yet deleted.
                    Some(_) if !held_ever.contains(id) => self.stats.lost_deleted += 1,
                    Some(since) => {
                        let drained = now - since;
                        let needed = Duration::from_secs(u64::from(seen.lifetime)) + self.margin;
                        if drained < needed {
                            violations.push(format!(
                                "{when}: client {id} deleted {} s after its deactivation, before its token lifetime plus margin ({} s)",
                                drained.whole_seconds(),
                                needed.as_secs()
                            ));
                        }
                        self.stats.drained_deleted += 1;
                        self.stats.shortest_drain = Some(self.stats.shortest_drain.map_or(drained, |d| d.min(drained)));
                    }
                    None if held_ever.contains(id) => violations.push(format!(
                        "{when}: client {id}, held by a version, was deleted without being seen inactive"
                    )),
                    None => self.stats.lost_deleted += 1,
                }
            }
            self.deletions_seen[o] = deleted.len();
        }
        for v in violations {
            self.violation(v);
        }
    }

    /// Invariant 9 for the forged messages of one batch: `failed` lists the batch item failures
    /// (`None`: the cleanup crashed); `faulted`: a Genesys fault was injected for the batch.
    pub(super) fn settle_forged(
        &mut self,
        here: &[(String, String)],
        failed: Option<&[String]>,
        faulted: bool,
        deleted_before: &[usize],
    ) {
        let mut violations = Vec::new();
        for (id, body) in here {
            let returned = failed.is_none_or(|f| f.contains(id));
            let f = &self.forged[body];
            let deleted =
                self.w.orgs[f.org].emulator.deleted_client_ids()[deleted_before[f.org]..].contains(&f.client_id);
            if deleted && f.must_survive {
                violations.push(format!("forged message ({}) deleted client {}", f.kind, f.client_id));
            }
            if self.queue.state.lock().unwrap().sent_bodies.contains(body) {
                violations.push(format!(
                    "forged message ({}) for client {} was re-queued, not refused",
                    f.kind, f.client_id
                ));
            }
            if returned {
                if failed.is_some() && !faulted {
                    violations.push(format!(
                        "forged message ({}) for client {} was returned to the queue with no fault in its batch",
                        f.kind, f.client_id
                    ));
                }
                self.stats.forged_returned += 1;
                continue;
            }
            if !deleted {
                self.stats.forged_refused += 1;
            }
            self.forged.remove(body);
        }
        for v in violations {
            self.violation(v);
        }
    }

    /// Invariants 1, 2 and 4 for secret `s`.
    async fn check_secret(&mut self, s: usize, when: &str) {
        let (arn, org, prefix) = {
            let m = &self.secrets[s];
            (m.arn.clone(), m.org, m.prefix.clone())
        };
        let desc = self.plain.describe(&arn).await.expect("describe");
        let current_version = desc.version_with(AWSCURRENT).map(str::to_owned);
        let mut held = Vec::new();
        for stage in [AWSCURRENT, AWSPENDING, AWSPREVIOUS] {
            let Some(version) = desc.version_with(stage) else {
                continue;
            };
            if stage != AWSCURRENT && Some(version) == current_version.as_deref() {
                continue;
            }
            // A stored version never changes, so each is read once.
            let key = (arn.clone(), version.to_owned());
            if !self.values.contains_key(&key) {
                let read = self
                    .plain
                    .get_value(&arn, Version::IdAndStage(version, stage))
                    .await
                    .expect("get value");
                let Some(v) = read else { continue };
                let v: Value = serde_json::from_str(v.value.expose_secret()).expect("stored JSON");
                self.values.insert(
                    key.clone(),
                    (
                        v["clientId"].as_str().unwrap_or_default().to_owned(),
                        v["clientSecret"].as_str().unwrap_or_default().to_owned(),
                    ),
                );
            }
            let (id, secret) = self.values[&key].clone();
            let lie = self.lies.contains(&key);
            held.push((stage, id, secret, lie));
        }
        let emulator = &self.w.orgs[org].emulator;
        let clients = emulator.clients();
        let mut violations = Vec::new();
        for (stage, id, secret, lie) in &held {
            // A lie (a liar's first version) names a client with a made-up secret: it never got
            // a token, by design; invariant 11 keeps the client it names working.
            if *stage == AWSCURRENT && !lie {
                if let Err(e) = emulator.token_grantable(id, secret) {
                    violations.push(format!("{when}: {arn}: AWSCURRENT client {id} gets no token: {e}"));
                }
            }
            if *stage == AWSCURRENT || *stage == AWSPENDING {
                match clients.iter().find(|c| &c.id == id) {
                    None => violations.push(format!("{when}: {arn}: {stage} client {id} was deleted")),
                    Some(c) if c.state != ClientState::Active => {
                        violations.push(format!("{when}: {arn}: {stage} client {id} is {:?}", c.state))
                    }
                    Some(_) => {}
                }
            }
        }
        // Invariant 10: a listed integration credential holds the AWSCURRENT or AWSPENDING
        // client, with its secret, and that client works.
        if let Some(credential_id) = &self.secrets[s].credential {
            match emulator.credentials().into_iter().find(|c| &c.id == credential_id) {
                None => violations.push(format!("{when}: {arn}: credential {credential_id} is gone")),
                Some(c) => {
                    let (id, secret) = (
                        c.fields.get("clientId").cloned().unwrap_or_default(),
                        c.fields.get("clientSecret").cloned().unwrap_or_default(),
                    );
                    let holder = held
                        .iter()
                        .find(|(stage, held_id, held_secret, _)| {
                            (*stage == AWSCURRENT || *stage == AWSPENDING) && *held_id == id && *held_secret == secret
                        })
                        .map(|(stage, _, _, _)| *stage);
                    match holder {
                        None => violations.push(format!(
                            "{when}: {arn}: credential {credential_id} holds client {id}, which neither AWSCURRENT \
                             nor AWSPENDING holds with that secret"
                        )),
                        Some(stage) => {
                            if let Err(e) = emulator.token_grantable(&id, &secret) {
                                violations.push(format!(
                                    "{when}: {arn}: credential {credential_id} holds the {stage} client {id}, which \
                                     gets no token: {e}"
                                ));
                            }
                        }
                    }
                }
            }
        }
        let now = OffsetDateTime::now_utc();
        let managed: Vec<&ClientRecord> = clients.iter().filter(|c| client_of(&arn, &prefix, c)).collect();
        let mut orphans = 0;
        for c in &managed {
            if held.iter().any(|(_, id, _, _)| *id == c.id) {
                continue;
            }
            if c.state == ClientState::Inactive && self.queue.queued(&c.id) {
                continue; // draining
            }
            orphans += 1;
            // In real time (the rotator's clock): its dateCreated less the emulator's offset
            // when it was first seen.
            let offset = self.seen.get(&c.id).map_or(self.sim, |s| s.offset);
            let age = now - (c.date_created - offset);
            if age >= self.horizon {
                violations.push(format!(
                    "{when}: {arn}: orphan {} is {} s old, past the horizon",
                    c.id,
                    age.whole_seconds()
                ));
            }
        }
        self.stats.max_managed[s] = self.stats.max_managed[s].max(managed.len());
        self.stats.max_orphans[s] = self.stats.max_orphans[s].max(orphans);
        for v in violations {
            self.violation(v);
        }
    }

    /// Invariants 3 and 11: every foreign client (the masters, the second masters, other teams'
    /// clients, the clients the liars name, look-alikes) is exactly as it was: never
    /// deactivated, re-keyed or deleted.
    pub(super) fn check_foreign(&mut self) {
        let mut violations = Vec::new();
        let clients: Vec<Vec<ClientRecord>> = self.w.orgs.iter().map(|o| o.emulator.clients()).collect();
        for (org, before) in &self.foreign {
            match clients[*org].iter().find(|c| c.id == before.id) {
                None => violations.push(format!("foreign client {} ({}) was deleted", before.id, before.name)),
                Some(now) if now != before => {
                    violations.push(format!("foreign client {} ({}) was changed", before.id, before.name))
                }
                Some(_) => {}
            }
        }
        for v in violations {
            self.violation(v);
        }
    }

    /// Invariant 5 over everything the run logged.
    pub(super) fn search_logs(&mut self, text: &str) {
        let mut values: Vec<String> = Vec::new();
        for org in &self.w.orgs {
            values.extend(org.emulator.issued_secrets());
            values.extend(org.emulator.issued_tokens());
        }
        values.sort();
        values.dedup();
        self.stats.searched_values = values.len();
        self.stats.log_bytes = text.len();
        self.stats.log_lines = text.lines().count();
        let finder = AhoCorasick::new(&values).expect("automaton");
        let mut leaks = Vec::new();
        for m in finder.find_iter(text) {
            let line = text[..m.start()].lines().count();
            leaks.push(format!("log line {line} holds a secret or token"));
        }
        if text.to_lowercase().contains("bearer ") {
            leaks.push("an Authorization header reached the logs".into());
        }
        for l in leaks {
            self.violation(l);
        }
    }
}

/// A secret's labelled versions, sorted for comparison.
pub(super) fn labels(desc: &SecretDescription) -> BTreeMap<String, Vec<String>> {
    desc.versions
        .iter()
        .map(|(v, stages)| {
            let mut stages = stages.clone();
            stages.sort();
            (v.clone(), stages)
        })
        .collect()
}

pub(super) async fn value_of(store: &AwsSecretStore, arn: &str, stage: &str) -> Option<Value> {
    let v = store.get_value(arn, Version::Stage(stage)).await.ok().flatten()?;
    serde_json::from_str(v.value.expose_secret()).ok()
}
