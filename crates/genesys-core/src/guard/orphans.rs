//! Which of its own listed clients a front end may retire now: a pure function of the client
//! (as one listing shows it), what the front end knows of it (a [`Claim`]) and the clock. Both
//! reconciliation passes ask it: the Lambdas' (`src/reconcile.rs`, whose claims come from the
//! secrets' staged versions) and the engine's (`engine/reconcile.rs`, from its records and
//! write-ahead log). Which clients are the front end's own is the ownership rule's answer, and
//! whether one may be touched at all the guard's ([`crate::guard::decide`]); this judges time.
//!
//! Ages count from a moment that errs towards keeping: a retirement from the client's own
//! `dateModified` ([`retired_since`]), which is at or after the deactivation; a client that
//! shows no such moment is kept. A soft-deleted client is gone, never deleted again.

use std::time::Duration;

use time::OffsetDateTime;

use super::ownership::retired_since;
use crate::genesys::{ClientState, OAuthClient};

/// What the front end knows of one of its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Something holds it (a staged version, a live lease or role): it stays.
    Held,
    /// Nothing holds it and nothing ever will (its secret was never handed out, or the front end
    /// let go of it): it may go once `after` has passed since `since`. `None`: the moment is
    /// unknown, so it stays.
    Unclaimed {
        /// From when its age counts (its creation, the record of its create).
        since: Option<OffsetDateTime>,
        /// How old it must be.
        after: Duration,
    },
    /// It was handed out and has been released: deactivated first, unless `drain` is zero (its
    /// tokens died with it), then deleted once deactivated for `drain`, counted from
    /// the client's `dateModified` and, if the front end recorded its own release, from that too.
    Released {
        /// When the front end recorded the release, if it did.
        recorded: Option<OffsetDateTime>,
        /// How long its tokens may live on after its deactivation.
        drain: Duration,
    },
}

/// What may become of a client now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Deleted already, only still listed (Genesys soft-deletes a client older than 30 days):
    /// gone, for every purpose but the client limit.
    Gone,
    /// It stays for now.
    Keep(Kept),
    /// Deactivate it: it drains before it may be deleted.
    Deactivate,
    /// Delete it (deactivating it first if it is active).
    Delete {
        /// How long it has been unclaimed or retired, as counted.
        age: Duration,
    },
}

/// Why a client stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Something holds it.
    Held,
    /// Not old enough yet, or its age cannot be proven.
    Young,
}

/// `now - then`, zero if `then` is in the future.
pub fn age(then: OffsetDateTime, now: OffsetDateTime) -> Duration {
    Duration::try_from(now - then).unwrap_or(Duration::ZERO)
}

/// The age of `then` if `span` has passed since; an unknown `then` never has.
fn past(then: Option<OffsetDateTime>, span: Duration, now: OffsetDateTime) -> Option<Duration> {
    let age = age(then?, now);
    (age >= span).then_some(age)
}

/// What may become of `client`, given what the front end knows of it, at `now`.
pub fn judge(client: &OAuthClient, claim: Claim, now: OffsetDateTime) -> Verdict {
    if client.is_soft_deleted() {
        return Verdict::Gone;
    }
    let active = client.effective_state() == ClientState::Active;
    match claim {
        Claim::Held => Verdict::Keep(Kept::Held),
        Claim::Unclaimed { since, after } => match past(since, after, now) {
            Some(age) => Verdict::Delete { age },
            None => Verdict::Keep(Kept::Young),
        },
        Claim::Released { drain, .. } if drain.is_zero() => Verdict::Delete {
            age: retired_since(client).map_or(Duration::ZERO, |at| age(at, now)),
        },
        Claim::Released { .. } if active => Verdict::Deactivate,
        Claim::Released { recorded, drain } => {
            let recorded_drained = recorded.is_none_or(|at| age(at, now) >= drain);
            match past(retired_since(client), drain, now) {
                Some(age) if recorded_drained => Verdict::Delete { age },
                _ => Verdict::Keep(Kept::Young),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOUR: Duration = Duration::from_secs(3600);

    fn t(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).unwrap()
    }

    fn client(state: &str, modified: i64, to_delete: bool) -> OAuthClient {
        let mut v = json!({
            "id": "c1", "name": "n", "authorizedGrantType": "CLIENT-CREDENTIALS",
            "state": state, "dateCreated": "2026-01-01T00:00:00Z",
            "dateModified": t(modified).format(&time::format_description::well_known::Rfc3339).unwrap(),
        });
        if to_delete {
            v["dateToDelete"] = json!("2027-01-01T00:00:00Z");
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_soft_deleted_client_is_gone_whatever_is_claimed() {
        let c = client("inactive", 0, true);
        for claim in [
            Claim::Held,
            Claim::Unclaimed {
                since: Some(t(0)),
                after: HOUR,
            },
            Claim::Released {
                recorded: None,
                drain: Duration::ZERO,
            },
        ] {
            assert_eq!(judge(&c, claim, t(100 * 3600)), Verdict::Gone, "{claim:?}");
        }
    }

    #[test]
    fn a_held_client_stays_however_old() {
        assert_eq!(
            judge(&client("inactive", 0, false), Claim::Held, t(1_000 * 3600)),
            Verdict::Keep(Kept::Held)
        );
    }

    #[test]
    fn an_unclaimed_client_goes_once_older_than_its_span_and_never_without_a_moment() {
        let c = client("active", 0, false);
        let claim = |since| Claim::Unclaimed { since, after: HOUR };
        assert_eq!(judge(&c, claim(Some(t(0))), t(3599)), Verdict::Keep(Kept::Young));
        assert_eq!(
            judge(&c, claim(Some(t(0))), t(3600)),
            Verdict::Delete {
                age: Duration::from_secs(3600)
            }
        );
        assert_eq!(judge(&c, claim(None), t(1_000 * 3600)), Verdict::Keep(Kept::Young));
    }

    #[test]
    fn a_released_client_is_deactivated_then_deleted_once_drained_from_its_own_retirement() {
        let released = |recorded| Claim::Released { recorded, drain: HOUR };
        assert_eq!(
            judge(&client("active", 0, false), released(None), t(10)),
            Verdict::Deactivate
        );
        let retired = client("inactive", 100, false);
        assert_eq!(
            judge(&retired, released(None), t(100 + 3599)),
            Verdict::Keep(Kept::Young)
        );
        assert_eq!(
            judge(&retired, released(None), t(100 + 3600)),
            Verdict::Delete {
                age: Duration::from_secs(3600)
            }
        );
        // A release the front end recorded later than the client's dateModified counts too.
        assert_eq!(
            judge(&retired, released(Some(t(2000))), t(100 + 3600)),
            Verdict::Keep(Kept::Young)
        );
        assert!(matches!(
            judge(&retired, released(Some(t(2000))), t(2000 + 3600)),
            Verdict::Delete { .. }
        ));
    }

    #[test]
    fn a_retired_client_without_a_modification_date_stays() {
        let mut c = client("inactive", 0, false);
        c.date_modified = None;
        assert_eq!(
            judge(
                &c,
                Claim::Released {
                    recorded: None,
                    drain: HOUR
                },
                t(1_000 * 3600)
            ),
            Verdict::Keep(Kept::Young)
        );
    }

    #[test]
    fn a_client_without_a_drain_goes_at_once_active_or_not() {
        let claim = Claim::Released {
            recorded: Some(t(0)),
            drain: Duration::ZERO,
        };
        assert!(matches!(
            judge(&client("active", 0, false), claim, t(1)),
            Verdict::Delete { .. }
        ));
        assert!(matches!(
            judge(&client("inactive", 0, false), claim, t(1)),
            Verdict::Delete { .. }
        ));
    }
}
