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
use genesys_core::genesys::GenesysClient;
use time::OffsetDateTime;
use tracing::{debug, warn};

use super::genesys::genesys_error;
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
    /// Takes a place for one new client under `rule`, or refuses (a bad request naming the count,
    /// the limit and the margin). `master` lists the org when the count must be taken again;
    /// `generation` is its stored credential's (a new one may be another org's master).
    /// Concurrent callers wait for one listing; a place taken is counted whether or not the
    /// create then succeeds (erring high).
    pub async fn reserve(
        &self,
        master: &GenesysClient,
        generation: u64,
        rule: ClientLimit,
        now: OffsetDateTime,
    ) -> Result<(), LogicalError> {
        let key = CountKey {
            client_id: master.client_id().to_owned(),
            generation,
        };
        let mut count = self.count.lock().await;
        if must_list(count.as_ref(), &key, rule, now) {
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
