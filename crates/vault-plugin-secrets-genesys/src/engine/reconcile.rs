//! Reconciliation's rules, as a pure function of one complete client listing, the mount's
//! records and the time: which of the mount's own clients go, and when. A client is considered
//! only if the ownership rule says it is the mount's (name `<prefix><uuid>`, a uuid the mount
//! recorded, the mount's marker); everything else (the master, other mounts' and secrets'
//! clients, hand-made look-alikes) is foreign and never touched, only reported if it carries this
//! mount's marker. What the mount knows of a client becomes a claim, and the core judges it
//! ([`genesys_core::guard::orphans`], as the Lambdas' pass does): age counts from
//! deactivation (`dateModified` of an inactive client and the record's own retirement time,
//! both past the drain), except for a client whose create never committed: its secret was never
//! handed out, and it goes once its write-ahead record is `rollback_min_age` old. A soft-deleted
//! client counts as absent from the listing.
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use genesys_core::domain::NamePrefix;
use genesys_core::genesys::OAuthClient;
use genesys_core::guard::drain::DrainSettings;
use genesys_core::guard::orphans::{self, Claim, Verdict};
use time::OffsetDateTime;

use super::clock::{age, rfc3339};
use super::identity::Identity;
use super::managed::{self, ManagedClient, Phase};
use super::purpose::Purpose;
use super::wal::{Wal, WalKind};

/// How long past its expiry a lease's client waits for the server's revocation before the
/// periodic pass retires it anyway (the server lost the lease, or never got it).
pub const LEASE_GRACE: Duration = Duration::from_secs(600);

/// What the mount knows: its client records, its write-ahead records, its `token/` pointers
/// (role to record uuid).
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    /// `clients/*`.
    pub records: &'a [ManagedClient],
    /// `wal/*`.
    pub wals: &'a [Wal],
    /// `token-clients/*`, role to uuid.
    pub pointers: &'a HashMap<String, String>,
}

/// One thing the pass does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Deactivate and delete the client; then forget record `uuid`, end the create record
    /// `wal` and drop the role's token pointer if they refer to it.
    Delete {
        /// The client.
        client_id: String,
        /// Its uuid.
        uuid: String,
        /// Why.
        reason: String,
    },
    /// Deactivate the client (it drains before deletion); mark record `uuid` retiring.
    Deactivate {
        /// The client.
        client_id: String,
        /// Its uuid.
        uuid: String,
        /// Why.
        reason: String,
    },
    /// Forget record `uuid`: its client is gone.
    Forget {
        /// The record.
        uuid: String,
    },
    /// End create record `id`: its create never made a client.
    EndWal {
        /// The write-ahead record.
        id: String,
        /// The uuid it announced.
        uuid: String,
    },
}

/// What one pass found and plans.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// What to do, in order.
    pub steps: Vec<Step>,
    /// Clients of the mount kept (live, young, or draining).
    pub kept: usize,
    /// Clients that carry this mount's marker but that the rule does not give it (an id the
    /// mount never recorded, a wrong name): reported, never touched.
    pub foreign_with_marker: Vec<String>,
}

impl Known<'_> {
    fn create_wals(&self) -> impl Iterator<Item = (&Wal, &str)> {
        self.wals.iter().filter_map(|w| match &w.kind {
            WalKind::CreateClient { uuid, .. } => Some((w, uuid.as_str())),
            WalKind::NewSecret { .. } => None,
        })
    }

    /// Every uuid the mount recorded.
    pub fn uuids(&self) -> HashSet<String> {
        self.records
            .iter()
            .map(|r| r.uuid.clone())
            .chain(self.create_wals().map(|(_, u)| u.to_owned()))
            .collect()
    }

    fn pointed(&self, record: &ManagedClient) -> bool {
        self.pointers.get(record.purpose.role()) == Some(&record.uuid)
    }
}

/// Whether a record wants a decision now (which needs a listing).
fn record_wants_action(record: &ManagedClient, known: &Known<'_>, now: OffsetDateTime) -> bool {
    match (&record.phase, &record.purpose) {
        (Phase::Retiring { .. }, _) => true,
        (Phase::Live, Purpose::Lease { expires_at, .. }) => now > *expires_at + LEASE_GRACE,
        (Phase::Live, Purpose::Token { .. }) => !known.pointed(record),
    }
}

/// Whether anything is due that needs a listing: a create record older than `min_age`, a
/// retiring client, an expired lease, a `token/` client its role no longer points to.
pub fn needs_listing(known: &Known<'_>, now: OffsetDateTime, min_age: Duration) -> bool {
    known.create_wals().any(|(w, _)| age(w.created_at, now) >= min_age)
        || known.records.iter().any(|r| record_wants_action(r, known, now))
}

/// How long a retiring client drains after its deactivation: none for a lease's client (its
/// lease ended: it stops now), its token lifetime plus the core's margin for a `token/` client
/// (its tokens were handed out and live on).
pub fn drain(record: &ManagedClient) -> Duration {
    match record.purpose {
        Purpose::Lease { .. } => Duration::ZERO,
        Purpose::Token { .. } => DrainSettings::default()
            .drain_for(Some(record.token_lifetime))
            .unwrap_or(genesys_core::guard::drain::MAX_DRAIN),
    }
}

/// The pass's plan over the complete `listing`.
pub fn plan(
    listing: &[OAuthClient],
    known: Known<'_>,
    identity: &Identity,
    prefix: &NamePrefix,
    now: OffsetDateTime,
    min_age: Duration,
) -> Plan {
    let uuids = known.uuids();
    let owner = managed::owner(identity, prefix, &uuids);
    let marker = identity.marker();
    let records: HashMap<&str, &ManagedClient> = known.records.iter().map(|r| (r.uuid.as_str(), r)).collect();
    let creates: HashMap<&str, &Wal> = known.create_wals().map(|(w, u)| (u, w)).collect();
    let mut out = Plan::default();
    let mut listed: HashSet<String> = HashSet::new();

    for client in listing {
        let uuid = match owner.judge(client) {
            Ok(uuid) => uuid,
            Err(_) => {
                if client.description.as_deref().is_some_and(|d| d.contains(&marker)) {
                    out.foreign_with_marker.push(client.id.clone());
                }
                continue;
            }
        };
        let step = |delete: bool, reason: String| {
            if delete {
                Step::Delete {
                    client_id: client.id.clone(),
                    uuid: uuid.clone(),
                    reason,
                }
            } else {
                Step::Deactivate {
                    client_id: client.id.clone(),
                    uuid: uuid.clone(),
                    reason,
                }
            }
        };
        // What the mount knows of the client, for the core's judgement; `why` says it in the
        // words of a record.
        let (claim, why) = if let Some(wal) = creates.get(uuid.as_str()) {
            // The create never committed: the secret was never handed out.
            let wal_age = age(wal.created_at, now);
            let claim = Claim::Unclaimed {
                since: Some(wal.created_at),
                after: min_age,
            };
            let why = format!(
                "its create never finished: write-ahead record {} s old (rollback_min_age {} s)",
                wal_age.as_secs(),
                min_age.as_secs()
            );
            (claim, why)
        } else if let Some(record) = records.get(uuid.as_str()) {
            let drain = drain(record);
            match (&record.phase, &record.purpose) {
                (Phase::Live, Purpose::Lease { expires_at, .. }) if now > *expires_at + LEASE_GRACE => (
                    Claim::Released {
                        recorded: None,
                        drain: Duration::ZERO,
                    },
                    format!("its lease expired at {} and was never revoked", rfc3339(*expires_at)),
                ),
                (Phase::Live, Purpose::Token { role }) if !known.pointed(record) && !client.is_soft_deleted() => {
                    // Deactivated now and marked retiring, whatever its state: the record's
                    // retirement then counts its drain.
                    out.steps
                        .push(step(false, format!("role {role:?} no longer mints from it")));
                    listed.insert(uuid.clone());
                    continue;
                }
                (Phase::Live, _) => (Claim::Held, String::new()),
                (Phase::Retiring { since }, _) => (
                    Claim::Released {
                        recorded: Some(*since),
                        drain,
                    },
                    format!("retired, and drained for {} s", drain.as_secs()),
                ),
            }
        } else {
            (Claim::Held, String::new())
        };
        match orphans::judge(client, claim, now) {
            // Deleted already, only still listed: as good as absent from the listing (its
            // record is forgotten, its create record ended, below).
            Verdict::Gone => continue,
            Verdict::Keep(_) => out.kept += 1,
            Verdict::Deactivate => out.steps.push(step(false, "retired but still active".into())),
            Verdict::Delete { .. } => out.steps.push(step(true, why)),
        }
        listed.insert(uuid.clone());
    }

    for record in known.records {
        if listed.contains(&record.uuid) || creates.contains_key(record.uuid.as_str()) {
            continue;
        }
        // Its client is not in the (complete) listing: gone, unless the record is younger than
        // rollback_min_age (a new client may take a while to show in listings).
        if age(record.created_at, now) < min_age {
            continue;
        }
        let gone_matters = match (&record.phase, &record.purpose) {
            (Phase::Retiring { .. }, _) | (Phase::Live, Purpose::Token { .. }) => true,
            (Phase::Live, Purpose::Lease { expires_at, .. }) => now > *expires_at + LEASE_GRACE,
        };
        if gone_matters {
            out.steps.push(Step::Forget {
                uuid: record.uuid.clone(),
            });
        }
    }
    for (uuid, wal) in &creates {
        if !listed.contains(*uuid) && age(wal.created_at, now) >= min_age {
            out.steps.push(Step::EndWal {
                id: wal.id.clone(),
                uuid: (*uuid).to_owned(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::purpose::Purpose;
    use serde_json::json;

    const H: u64 = 3600;

    fn t(secs: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000) + time::Duration::seconds(secs)
    }

    fn identity(n: u8) -> Identity {
        Identity {
            owner: format!("vault-plugin-secrets-genesys/0000000{n}-0000-4000-8000-000000000000"),
            created_at: t(0),
        }
    }

    fn prefix() -> NamePrefix {
        NamePrefix::parse("vault-genesys-").unwrap()
    }

    fn uuid(n: u8) -> String {
        format!("1111111{n}-2222-4333-8444-555555555555")
    }

    fn client(id: &str, name: &str, owner: Option<&Identity>, state: &str, modified: OffsetDateTime) -> OAuthClient {
        let description =
            owner.map(|o| genesys_core::guard::ownership::description(&o.owner, Some("Lease of role crm")));
        serde_json::from_value(json!({
            "id": id, "name": name, "description": description,
            "authorizedGrantType": "CLIENT-CREDENTIALS", "state": state,
            "dateCreated": crate::engine::clock::rfc3339(t(0)), "dateModified": crate::engine::clock::rfc3339(modified),
        }))
        .unwrap()
    }

    fn record(n: u8, purpose: Purpose, phase: Phase) -> ManagedClient {
        ManagedClient {
            uuid: uuid(n),
            name: prefix().client_name(&uuid(n)),
            client_id: format!("c{n}"),
            purpose,
            phase,
            token_lifetime: 3600,
            role_divisions: Vec::new(),
            created_at: t(0),
            secret: None,
            generation: 1,
            rotated_at: t(0),
        }
    }

    fn lease(expires: i64) -> Purpose {
        Purpose::Lease {
            role: "crm".into(),
            expires_at: t(expires),
        }
    }

    fn create_wal(n: u8, at: i64) -> Wal {
        Wal {
            id: format!("w{n}"),
            created_at: t(at),
            kind: WalKind::CreateClient {
                uuid: uuid(n),
                name: prefix().client_name(&uuid(n)),
                purpose: lease(10 * H as i64),
            },
        }
    }

    #[test]
    fn foreign_clients_are_never_touched_whatever_their_name_or_age() {
        // GIVEN this mount (A), another mount (B) on the same org with the same prefix, a
        // hand-made client named like A's, one with A's marker but an id A never recorded, and
        // the master; all of them long retired
        let (a, b) = (identity(1), identity(2));
        let old = t(0);
        let listing = vec![
            client("b1", &prefix().client_name(&uuid(1)), Some(&b), "inactive", old),
            client("hand", &prefix().client_name(&uuid(1)), None, "inactive", old),
            client("stray", &prefix().client_name(&uuid(9)), Some(&a), "inactive", old),
            client("master", "genesys-master", None, "active", old),
        ];
        let records = vec![record(1, lease(0), Phase::Retiring { since: old })];
        let pointers = HashMap::new();
        let known = Known {
            records: &records,
            wals: &[],
            pointers: &pointers,
        };
        // WHEN A plans a pass far in the future
        let plan = plan(
            &listing,
            known,
            &a,
            &prefix(),
            t(1000 * H as i64),
            Duration::from_secs(600),
        );
        // THEN nothing foreign is touched: the only step forgets A's record, whose client is gone
        assert_eq!(plan.steps, vec![Step::Forget { uuid: uuid(1) }]);
        assert_eq!(plan.foreign_with_marker, vec!["stray".to_string()]);
    }

    #[test]
    fn an_uncommitted_create_goes_once_its_record_is_older_than_the_minimum_age() {
        let a = identity(1);
        let listing = vec![client("c3", &prefix().client_name(&uuid(3)), Some(&a), "active", t(0))];
        let wals = vec![create_wal(3, 0), create_wal(4, 0)];
        let pointers = HashMap::new();
        let known = Known {
            records: &[],
            wals: &wals,
            pointers: &pointers,
        };
        // WHEN it is younger than rollback_min_age: kept
        let young = plan(&listing, known, &a, &prefix(), t(599), Duration::from_secs(600));
        assert!(young.steps.is_empty() && young.kept == 1);
        assert!(!needs_listing(&known, t(599), Duration::from_secs(600)));
        // WHEN it is older: the client is deleted, and the record of a create that made
        // nothing ends
        let due = plan(&listing, known, &a, &prefix(), t(600), Duration::from_secs(600));
        assert!(needs_listing(&known, t(600), Duration::from_secs(600)));
        assert!(matches!(&due.steps[0], Step::Delete { client_id, .. } if client_id == "c3"));
        assert_eq!(
            due.steps[1],
            Step::EndWal {
                id: "w4".into(),
                uuid: uuid(4)
            }
        );
    }

    #[test]
    fn a_token_client_drains_from_its_deactivation_not_its_creation() {
        // GIVEN a token client retired at 10 h, created long before, lifetime 1 h (drain 2 h)
        let a = identity(1);
        let token = Purpose::Token { role: "crm".into() };
        let retired = t(10 * H as i64);
        let records = vec![record(5, token, Phase::Retiring { since: retired })];
        let pointers = HashMap::new();
        let known = Known {
            records: &records,
            wals: &[],
            pointers: &pointers,
        };
        let name = prefix().client_name(&uuid(5));
        // WHEN still active: deactivated first
        let active = vec![client("c5", &name, Some(&a), "active", t(0))];
        let p = plan(&active, known, &a, &prefix(), retired, Duration::from_secs(600));
        assert!(matches!(&p.steps[0], Step::Deactivate { .. }));
        // WHEN inactive since 10 h: kept until 12 h, deleted after
        let inactive = vec![client("c5", &name, Some(&a), "inactive", retired)];
        let p = plan(
            &inactive,
            known,
            &a,
            &prefix(),
            t(12 * H as i64 - 1),
            Duration::from_secs(600),
        );
        assert!(p.steps.is_empty() && p.kept == 1);
        let p = plan(
            &inactive,
            known,
            &a,
            &prefix(),
            t(12 * H as i64),
            Duration::from_secs(600),
        );
        assert!(matches!(&p.steps[0], Step::Delete { client_id, .. } if client_id == "c5"));
        // AND a client deactivated later than the record says waits for the later time
        let late = vec![client("c5", &name, Some(&a), "inactive", t(11 * H as i64))];
        let p = plan(&late, known, &a, &prefix(), t(12 * H as i64), Duration::from_secs(600));
        assert!(p.steps.is_empty());
    }

    #[test]
    fn a_soft_deleted_client_is_gone_never_deleted_again_and_its_record_forgotten() {
        // GIVEN a retired token client that Genesys soft-deleted (inactive, dateToDelete set;
        // it still lists), long drained, and a create record whose client was soft-deleted
        let a = identity(1);
        let token = Purpose::Token { role: "crm".into() };
        let records = vec![record(7, token, Phase::Retiring { since: t(0) })];
        let wals = vec![create_wal(8, 0)];
        let pointers = HashMap::new();
        let known = Known {
            records: &records,
            wals: &wals,
            pointers: &pointers,
        };
        let soft_deleted = |id: &str, n: u8| {
            let mut c = client(id, &prefix().client_name(&uuid(n)), Some(&a), "inactive", t(0));
            c.date_to_delete = Some(t(40 * 24 * H as i64));
            c
        };
        let listing = vec![soft_deleted("c7", 7), soft_deleted("c8", 8)];
        // WHEN the pass plans, long after
        let p = plan(
            &listing,
            known,
            &a,
            &prefix(),
            t(100 * H as i64),
            Duration::from_secs(600),
        );
        // THEN neither is deleted again: the record is forgotten, the create record ends
        assert_eq!(
            p.steps,
            vec![
                Step::Forget { uuid: uuid(7) },
                Step::EndWal {
                    id: "w8".into(),
                    uuid: uuid(8)
                }
            ]
        );
    }

    #[test]
    fn a_lease_never_revoked_is_retired_after_its_expiry_and_grace() {
        let a = identity(1);
        let records = vec![record(6, lease(H as i64), Phase::Live)];
        let pointers = HashMap::new();
        let known = Known {
            records: &records,
            wals: &[],
            pointers: &pointers,
        };
        let listing = vec![client("c6", &prefix().client_name(&uuid(6)), Some(&a), "active", t(0))];
        let grace = LEASE_GRACE.as_secs() as i64;
        assert!(plan(
            &listing,
            known,
            &a,
            &prefix(),
            t(H as i64 + grace),
            Duration::from_secs(600)
        )
        .steps
        .is_empty());
        let p = plan(
            &listing,
            known,
            &a,
            &prefix(),
            t(H as i64 + grace + 1),
            Duration::from_secs(600),
        );
        assert!(matches!(&p.steps[0], Step::Delete { client_id, .. } if client_id == "c6"));
    }

    #[test]
    fn a_young_record_whose_client_does_not_show_yet_is_kept() {
        let a = identity(1);
        let token = Purpose::Token { role: "crm".into() };
        let mut young = record(9, token, Phase::Live);
        young.created_at = t(1000);
        let records = vec![young];
        let pointers = HashMap::from([("crm".to_string(), uuid(9))]);
        let known = Known {
            records: &records,
            wals: &[],
            pointers: &pointers,
        };
        assert!(plan(&[], known, &a, &prefix(), t(1000 + 599), Duration::from_secs(600))
            .steps
            .is_empty());
        assert_eq!(
            plan(&[], known, &a, &prefix(), t(1000 + 600), Duration::from_secs(600)).steps,
            vec![Step::Forget { uuid: uuid(9) }]
        );
    }

    #[test]
    fn a_token_client_its_role_no_longer_points_to_is_retired() {
        let a = identity(1);
        let token = Purpose::Token { role: "crm".into() };
        let records = vec![record(7, token.clone(), Phase::Live), record(8, token, Phase::Live)];
        let pointers = HashMap::from([("crm".to_string(), uuid(8))]);
        let known = Known {
            records: &records,
            wals: &[],
            pointers: &pointers,
        };
        let listing = vec![
            client("c7", &prefix().client_name(&uuid(7)), Some(&a), "active", t(0)),
            client("c8", &prefix().client_name(&uuid(8)), Some(&a), "active", t(0)),
        ];
        let p = plan(&listing, known, &a, &prefix(), t(0), Duration::from_secs(600));
        assert_eq!(p.steps.len(), 1);
        assert!(matches!(&p.steps[0], Step::Deactivate { client_id, .. } if client_id == "c7"));
    }
}
