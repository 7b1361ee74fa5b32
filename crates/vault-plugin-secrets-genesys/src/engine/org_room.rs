//! Room under the org's OAuth client limit before the engine creates a client (`creds/`, and a
//! `token/` role's first client): the core's one rule ([`genesys_core::client_limit`], the
//! Lambdas' createSecret applies the same), with the mount's `client_limit` and
//! `client_limit_margin`. The engine refuses with a clear error while `margin` places are still
//! free, rather than meet Genesys Cloud's own refusal.
//!
//! Listing the org costs a page per 25 clients (Genesys' default page size), all made with the
//! master's token and so from the same per-token rate limit as the creates, so the count is kept
//! in memory: one listing, plus the clients this process has created since. It is listed again
//! when it is older than [`RECOUNT_AFTER`], when the master changes, and on every create once
//! fewer than `2 * margin` creates are left: near the limit every decision rests on a fresh
//! listing, so a refusal is never a stale estimate's. Far from it, clients others create between
//! two listings (a Lambda's rotation, an administrator) are what the margin is for. Deletions are
//! not subtracted (a soft-deleted client may still count): the estimate only errs high, and the
//! next listing corrects it.
use std::time::Duration;

use genesys_core::client_limit::ClientLimit;
use time::OffsetDateTime;
use tracing::{debug, warn};

use super::config::Config;
use super::genesys::genesys_error;
use super::GenesysBackend;
use crate::logical::LogicalError;

/// How long a listing's count is trusted far from the limit.
pub const RECOUNT_AFTER: Duration = Duration::from_secs(60);

/// Which master's view a count is (another master may act in another org).
#[derive(Debug, Clone, PartialEq, Eq)]
struct CountKey {
    client_id: String,
    generation: u64,
}

/// The org's count as this process knows it.
#[derive(Debug, Clone)]
struct Count {
    key: CountKey,
    /// What the last listing counted.
    listed: usize,
    /// When (the engine's clock).
    at: OffsetDateTime,
    /// Clients this process created (or began to) since.
    created_since: usize,
}

impl Count {
    fn estimate(&self) -> usize {
        self.listed + self.created_since
    }
}

/// Whether a create must wait for a new listing of the org.
fn must_list(count: Option<&Count>, key: &CountKey, rule: ClientLimit, now: OffsetDateTime) -> bool {
    let Some(count) = count else { return true };
    count.key != *key
        || now - count.at >= RECOUNT_AFTER
        || now < count.at
        || rule.creates_left(count.estimate()) < 2 * rule.margin.max(1)
}

/// The org's client count, shared by the engine's creates.
#[derive(Debug, Default)]
pub struct OrgRoom {
    count: tokio::sync::Mutex<Option<Count>>,
}

impl OrgRoom {
    /// Takes a place for one new client under `config`'s client limit, or refuses (a bad request
    /// naming the count, the limit and the margin). Concurrent callers wait for one listing; a
    /// place taken is counted whether or not the create then succeeds (erring high).
    pub async fn reserve(&self, b: &GenesysBackend, config: &Config) -> Result<(), LogicalError> {
        let rule = config.client_limit();
        let key = CountKey {
            client_id: config.client_id.clone(),
            generation: config.generation,
        };
        let mut count = self.count.lock().await;
        let now = b.now();
        if must_list(count.as_ref(), &key, rule, now) {
            let master = b.master(config).await?;
            let listing = master
                .list_all_clients()
                .await
                .map_err(|e| genesys_error("counting the organization's clients against client_limit", e))?;
            let listed = ClientLimit::counted(&listing);
            debug!(listed, limit = rule.limit, "organization's clients counted");
            *count = Some(Count {
                key,
                listed,
                at: now,
                created_since: 0,
            });
        }
        let count = count.as_mut().expect("counted above");
        let held = count.estimate();
        if rule.refuses(held) {
            warn!(
                held,
                limit = rule.limit,
                margin = rule.margin,
                "organization is near its client limit; refusing to create a client"
            );
            return Err(LogicalError::BadRequest(format!(
                "the organization holds {held} OAuth clients (soft-deleted ones included) of its limit of {} \
                 (client_limit), and the engine keeps {} of them free (client_limit_margin): no new client is \
                 made. Revoke leases or delete unused clients, or raise client_limit if the organization's limit \
                 is higher",
                rule.limit, rule.margin
            )));
        }
        count.created_since += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CountKey {
        CountKey {
            client_id: "m".into(),
            generation: 1,
        }
    }

    fn count(listed: usize, created_since: usize, at: OffsetDateTime) -> Count {
        Count {
            key: key(),
            listed,
            at,
            created_since,
        }
    }

    #[test]
    fn far_from_the_limit_a_young_count_is_trusted() {
        let rule = ClientLimit::new(500, 10).unwrap();
        let t = OffsetDateTime::UNIX_EPOCH;
        assert!(must_list(None, &key(), rule, t));
        let c = count(100, 50, t);
        assert!(!must_list(Some(&c), &key(), rule, t + Duration::from_secs(59)));
        // Old, or another master's (or generation's): listed again.
        assert!(must_list(Some(&c), &key(), rule, t + RECOUNT_AFTER));
        let other = CountKey { generation: 2, ..key() };
        assert!(must_list(Some(&c), &other, rule, t));
        // A clock that went back: listed again.
        assert!(must_list(Some(&c), &key(), rule, t - Duration::from_secs(1)));
    }

    #[test]
    fn near_the_limit_every_create_lists() {
        // 490 refuses; fewer than 20 creates left from 471 on.
        let rule = ClientLimit::new(500, 10).unwrap();
        let t = OffsetDateTime::UNIX_EPOCH;
        assert!(!must_list(Some(&count(400, 70, t)), &key(), rule, t));
        assert!(must_list(Some(&count(400, 71, t)), &key(), rule, t));
        // A margin of 0 still lists for the last create.
        let tight = ClientLimit::new(10, 0).unwrap();
        assert!(!must_list(Some(&count(8, 0, t)), &key(), tight, t));
        assert!(must_list(Some(&count(9, 0, t)), &key(), tight, t));
    }
}

#[cfg(all(test, feature = "endpoint-overrides"))]
mod engine_tests {
    use std::time::Duration;

    use genesys_emulator::routes;
    use serde_json::json;

    use crate::engine::managed::ManagedClient;
    use crate::engine::testing::Fixture;
    use crate::engine::wal::Wal;
    use crate::logical::{LogicalError, Response};

    fn calls(f: &Fixture, route: &str) -> u64 {
        f.emu.call_counts().get(route).copied().unwrap_or(0)
    }

    fn is_limit_refusal(r: &Result<Option<Response>, LogicalError>) -> bool {
        matches!(r, Err(LogicalError::BadRequest(m))
            if m.contains("client_limit") && m.contains("client_limit_margin") && m.contains("of its limit of"))
    }

    #[tokio::test]
    async fn leases_are_refused_while_the_margin_is_still_free() {
        // GIVEN an org whose limit is 10, and a mount that keeps 3 places free
        let f = Fixture::with_role().await;
        f.emu.set_client_limit(10);
        f.write("config", json!({"client_limit": 10, "client_limit_margin": 3}))
            .await
            .unwrap();
        let before = f.emu.clients().len();
        let creates_before = calls(&f, routes::CREATE_CLIENT);
        assert!(before < 7, "the fixture's org holds {before} clients");
        // WHEN creds are read until the engine refuses
        let mut issued = 0;
        let refusal = loop {
            let r = f.read("creds/crm").await;
            if r.is_err() || issued > 10 {
                break r;
            }
            issued += 1;
        };
        // THEN the refusal is the engine's own, naming the limit and the margin, with 3 places
        // still free: Genesys never refused anything
        assert!(is_limit_refusal(&refusal), "{refusal:?}");
        assert_eq!(f.emu.clients().len(), 7);
        assert_eq!(issued, 7 - before);
        assert_eq!(calls(&f, routes::CREATE_CLIENT) - creates_before, issued as u64);
        // AND a refused read creates nothing and leaves no record
        let creates = calls(&f, routes::CREATE_CLIENT);
        assert!(is_limit_refusal(&f.read("creds/crm").await));
        assert!(is_limit_refusal(&f.read("token/crm").await));
        assert_eq!(calls(&f, routes::CREATE_CLIENT), creates);
        assert!(Wal::all(f.storage.as_ref()).await.unwrap().is_empty());
        assert_eq!(ManagedClient::all(f.storage.as_ref()).await.unwrap().len(), issued);
        // AND once the operator raises the limit, leases are issued again
        f.write("config", json!({"client_limit": 11})).await.unwrap();
        f.emu.set_client_limit(11);
        f.read("creds/crm").await.unwrap();
    }

    #[tokio::test]
    async fn far_from_the_limit_the_org_is_listed_once_a_minute_not_per_lease() {
        let f = Fixture::with_role().await;
        let lists = calls(&f, routes::LIST_CLIENTS);
        for _ in 0..3 {
            f.read("creds/crm").await.unwrap();
        }
        assert_eq!(calls(&f, routes::LIST_CLIENTS), lists + 1);
        f.advance(super::RECOUNT_AFTER + Duration::from_secs(1));
        f.read("creds/crm").await.unwrap();
        assert_eq!(calls(&f, routes::LIST_CLIENTS), lists + 2);
    }

    #[tokio::test]
    async fn a_lower_limit_applies_to_the_next_lease_on_a_fresh_count() {
        // GIVEN a count taken far from the default limit
        let f = Fixture::with_role().await;
        f.read("creds/crm").await.unwrap();
        let lists = calls(&f, routes::LIST_CLIENTS);
        // WHEN the operator lowers client_limit to what the org holds plus the margin
        let held = f.emu.clients().len();
        f.write("config", json!({"client_limit": held + 2, "client_limit_margin": 2}))
            .await
            .unwrap();
        // THEN the next lease is refused, after a new listing
        assert!(is_limit_refusal(&f.read("creds/crm").await));
        assert_eq!(calls(&f, routes::LIST_CLIENTS), lists + 1);
        assert_eq!(f.emu.clients().len(), held);
    }

    #[tokio::test]
    async fn the_limit_settings_default_to_the_lambdas_and_bad_ones_change_nothing() {
        let f = Fixture::with_role().await;
        let read = f.read("config").await.unwrap().unwrap();
        assert_eq!(read.data["client_limit"], json!(500));
        assert_eq!(read.data["client_limit_margin"], json!(10));
        for (body, field) in [
            (
                json!({"client_limit": 10, "client_limit_margin": 10}),
                "client_limit_margin",
            ),
            (json!({"client_limit_margin": 500}), "client_limit_margin"),
            (json!({"client_limit": 0}), "client_limit"),
            (json!({"client_limit": "many"}), "client_limit"),
            (json!({"client_limit_margin": -1}), "client_limit_margin"),
        ] {
            let r = f.write("config", body.clone()).await;
            assert!(
                matches!(&r, Err(LogicalError::BadRequest(m)) if m.contains(field)),
                "{body}: {r:?}"
            );
        }
        let after = f.read("config").await.unwrap().unwrap();
        assert_eq!(after.data, read.data);
    }
}
