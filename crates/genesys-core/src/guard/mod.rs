//! The guard: the one room for the rules that decide whether an actor (an AWS secret, an OpenBao
//! mount) may deactivate, re-key, delete or write into an integration credential a Genesys OAuth
//! client. Every such path asks [`decide`] first; a new rule about which clients may be touched
//! belongs here, in this folder:
//!
//! - [`ownership`]: whose a client is (name, version, marker), and since when it is retired;
//! - [`proof`](prove_possession): a stored credential that authenticates as the client it names;
//! - [`Holders`]: who else in the org holds which client, and who could not be read;
//! - [`drain`]: how long a retired client's tokens live on;
//! - [`orphans`]: when an unheld client of the actor's may be deactivated or deleted;
//! - [`masters`]: which clients are someone's master, never to be re-keyed by a bystander;
//! - [`decide`] (here): the decision over all of them.
//!
//! Nothing is taken on its word: what a secret, a queue message or a tag claims is a claim. A
//! client may be touched only if
//! 1. nothing else in the org holds it: no master, no other served secret's current or pending
//!    version ([`Holders`]), and every possible holder could be read (fail closed); and
//! 2. it provably belongs to the actor: owned by the ownership rule
//!    ([`ownership::Owner::judge`]), or **proven**: the actor's stored credential got a
//!    token and `tokens/me` named that very client ([`prove_possession`], [`Proof`]).
//!
//! A client that fails either is kept as it is, and the caller says so (logs, metrics, `status`).
//! The decisions are pure; building the holders and running the proof are the front ends' and
//! [`prove_possession`]'s.

use std::fmt;

pub mod drain;
mod holders;
pub mod masters;
pub mod orphans;
pub mod ownership;
mod proof;

pub use holders::Holders;
use ownership::Foreign;
pub use proof::{judge_proof, prove_possession, NotProven, Proof};

/// What the actor can show for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Owned by the ownership rule, made for this version.
    Owned {
        /// The actor's version the client was made for.
        version: String,
    },
    /// Not owned, but the actor's stored credential authenticated as it.
    Proven(Proof),
    /// Neither.
    Unproven {
        /// Why the ownership rule does not give it to the actor.
        foreign: Foreign,
        /// Why no proof stands (`None`: none was attempted or recorded).
        not_proven: Option<NotProven>,
    },
}

/// Why a client may be touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// The actor owns it: every lifecycle step applies (deactivate, drain, delete).
    Owned,
    /// The actor proved it holds it: it may be deactivated, re-keyed or written into a
    /// credential; its deletion is left to a person (nothing marks it as the rotator's).
    Proven,
}

/// Why a client may not be touched. The client is left as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A possible holder could not be read: nothing proves the client is free.
    Unreadable {
        /// The secret or master that could not be read.
        holder: String,
    },
    /// Another served secret or a master holds it.
    Held {
        /// Who.
        holder: String,
    },
    /// It is neither owned by nor proven for the actor.
    Unproven {
        /// Why, in words.
        reason: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Unreadable { holder } => {
                write!(f, "{holder} could not be read, so nothing proves the client is free")
            }
            Refusal::Held { holder } => write!(f, "{holder} holds it"),
            Refusal::Unproven { reason } => write!(f, "it is neither owned nor proven: {reason}"),
        }
    }
}

/// The decision: may the actor touch `client_id`, for which it has `standing`, given the org's
/// `holders`? Fail closed first (an incomplete view), then holders, then ownership or proof.
pub fn decide(client_id: &str, standing: &Standing, holders: &Holders) -> Result<Grant, Refusal> {
    if let Some((secret, why)) = holders.first_unreadable() {
        return Err(Refusal::Unreadable {
            holder: format!("{secret} ({why})"),
        });
    }
    if let Some(holder) = holders.holder(client_id) {
        return Err(Refusal::Held {
            holder: holder.to_owned(),
        });
    }
    match standing {
        Standing::Owned { .. } => Ok(Grant::Owned),
        Standing::Proven(proof) if proof.client_id == client_id => Ok(Grant::Proven),
        Standing::Proven(proof) => Err(Refusal::Unproven {
            reason: format!("the proof is for client {}", proof.client_id),
        }),
        Standing::Unproven { foreign, not_proven } => Err(Refusal::Unproven {
            reason: match not_proven {
                Some(why) => format!("{foreign}, and {why}"),
                None => format!("{foreign}, and no proof of possession was recorded"),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::OffsetDateTime;

    const NOW: OffsetDateTime = datetime!(2026-12-06 08:00 UTC);

    fn proof(id: &str) -> Standing {
        Standing::Proven(judge_proof(id, Some(id), NOW).unwrap())
    }

    fn unproven() -> Standing {
        Standing::Unproven {
            foreign: Foreign::NoMarker,
            not_proven: Some(NotProven::Refused),
        }
    }

    #[test]
    fn an_owned_client_nobody_else_holds_may_be_touched() {
        let owned = Standing::Owned { version: "v1".into() };
        assert_eq!(decide("c1", &owned, &Holders::default()), Ok(Grant::Owned));
    }

    #[test]
    fn a_proven_client_may_be_touched_but_only_the_one_proven() {
        assert_eq!(decide("c1", &proof("c1"), &Holders::default()), Ok(Grant::Proven));
        assert!(matches!(
            decide("c2", &proof("c1"), &Holders::default()),
            Err(Refusal::Unproven { .. })
        ));
    }

    #[test]
    fn an_unproven_client_is_kept_and_the_reason_says_why() {
        let e = decide("c1", &unproven(), &Holders::default()).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("marker") && text.contains("refused"), "{text}");
        let never_tried = Standing::Unproven {
            foreign: Foreign::Name,
            not_proven: None,
        };
        assert!(decide("c1", &never_tried, &Holders::default())
            .unwrap_err()
            .to_string()
            .contains("no proof"));
    }

    #[test]
    fn a_client_held_elsewhere_is_kept_even_when_owned() {
        let mut holders = Holders::default();
        holders.hold("c1", "AWSCURRENT of h");
        holders.hold("c1", "AWSPENDING of k");
        let owned = Standing::Owned { version: "v1".into() };
        assert_eq!(
            decide("c1", &owned, &holders),
            Err(Refusal::Held {
                holder: "AWSCURRENT of h".into()
            })
        );
        assert_eq!(decide("c2", &owned, &holders), Ok(Grant::Owned));
    }

    #[test]
    fn an_unreadable_holder_keeps_every_client() {
        let mut holders = Holders::default();
        holders.unreadable("secret x", "AccessDenied");
        assert!(!holders.is_complete());
        for standing in [Standing::Owned { version: "v".into() }, proof("c1"), unproven()] {
            assert_eq!(
                decide("c1", &standing, &holders),
                Err(Refusal::Unreadable {
                    holder: "secret x (AccessDenied)".into()
                })
            );
        }
    }

    #[test]
    fn a_proof_needs_tokens_me_to_name_the_claimed_client() {
        assert_eq!(judge_proof("c1", Some("c1"), NOW).unwrap().client_id, "c1");
        assert_eq!(
            judge_proof("c1", Some("c2"), NOW),
            Err(NotProven::NamesOther(Some("c2".into())))
        );
        assert_eq!(judge_proof("c1", None, NOW), Err(NotProven::NamesOther(None)));
    }

    #[test]
    fn a_recorded_proof_round_trips_and_refuses_unknown_fields() {
        let p = judge_proof("c1", Some("c1"), NOW).unwrap();
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["clientId"], "c1");
        assert_eq!(serde_json::from_value::<Proof>(json).unwrap(), p);
        assert!(serde_json::from_value::<Proof>(serde_json::json!({
            "clientId": "c1", "provenAt": "2026-12-06T08:00:00Z", "extra": 1
        }))
        .is_err());
    }
}
