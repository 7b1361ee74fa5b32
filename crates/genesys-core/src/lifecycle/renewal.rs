//! One renewal of an existing client's secret (`POST /api/v2/oauth/clients/{id}/secret`), the
//! call both front ends make for the master's own rotation and for the clients whose secret they
//! keep, and the one rule for what a failed change may have done ([`Outcome`]).
//!
//! The old secret dies the moment Genesys issues the new one, and the answer is the only place
//! the new one shows, so every caller guards the request (a lock record, a write-ahead record)
//! and, when it fails, must know two things: may the request still land later, and did it
//! provably change nothing? [`Outcome::of`] answers both from the failure alone. The guards and
//! what they do with the answer stay in each front end.

use secrecy::SecretString;
use thiserror::Error;

use crate::classify::Classify;
use crate::genesys::{GenesysCall, GenesysClient, GenesysError, OAuthClient};

/// What a failed call that changes a client (a new secret, a create) may have done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It provably changed nothing: Genesys refused it before acting (429, 404, another 4xx but
    /// 408), our own pacing never sent it, or the token request before it failed. The guard can
    /// go: the old secret still works.
    Unapplied,
    /// No answer (timeout, dropped connection, body cut short): it may have changed the client,
    /// and may still land later. The guard stays until no request of this attempt can arrive.
    InFlight,
    /// Answered, but not with a refusal (a 5xx or 408, an answer that is not what the API
    /// promises): it may have changed the client, but nothing of it is on its way any more.
    /// Whether it did shows now (does the old secret still work?).
    Settled,
}

impl Outcome {
    /// What the failed change `e` may have done. A 5xx is no proof that nothing changed: a
    /// gateway can answer 502 after the backend committed the change.
    pub fn of(e: &GenesysError) -> Outcome {
        match e {
            GenesysError::RateLimited { .. }
            | GenesysError::Paced { .. }
            | GenesysError::InvalidClient { .. }
            | GenesysError::NotFound { .. } => Outcome::Unapplied,
            GenesysError::Http { status, .. } if (400..500).contains(status) && *status != 408 => Outcome::Unapplied,
            GenesysError::Http { .. } => Outcome::Settled,
            GenesysError::Transport { .. } => Outcome::InFlight,
            GenesysError::Decode { .. } | GenesysError::IncompleteListing { .. } => Outcome::Settled,
        }
    }
}

/// What was wrong with a successful answer to a new-secret request. Never quotes the answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BadAnswer {
    /// The answer names another client than the one asked about.
    #[error("names client {named}")]
    OtherClient {
        /// The client the answer names.
        named: String,
    },
    /// The answer carries no secret (or an empty one).
    #[error("carries no secret")]
    NoSecret,
}

/// A renewal that failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RenewalError {
    /// The request failed.
    #[error(transparent)]
    Call(#[from] GenesysError),
    /// Genesys accepted the request, but its answer is not the new secret of the client asked
    /// about: the secret has most likely changed to one nobody saw.
    #[error("the new-secret answer for client {client_id} {problem}")]
    Answer {
        /// The client asked about.
        client_id: String,
        /// What is wrong with the answer.
        problem: BadAnswer,
    },
}

impl RenewalError {
    /// What the failed renewal may have done.
    pub fn outcome(&self) -> Outcome {
        match self {
            RenewalError::Call(e) => Outcome::of(e),
            // Accepted: Genesys acted, and nothing more is on its way.
            RenewalError::Answer { .. } => Outcome::Settled,
        }
    }
}

impl Classify for RenewalError {
    fn is_retryable(&self) -> bool {
        match self {
            RenewalError::Call(e) => e.is_retryable(),
            RenewalError::Answer { .. } => false,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            RenewalError::Call(e) => e.kind(),
            RenewalError::Answer { .. } => "GenesysBadAnswer",
        }
    }

    fn call_name(&self) -> Option<&'static str> {
        Some(GenesysCall::NewSecret.as_str())
    }
}

/// Asks Genesys for a new secret of client `id`, as `client` (the client itself, or a master),
/// and returns it once the answer is shown to name that client and carry a secret. Not retried
/// after the request may have reached Genesys ([`GenesysClient::new_secret`]); a failure says
/// what it may have done ([`RenewalError::outcome`]).
pub async fn renew(client: &GenesysClient, id: &str) -> Result<SecretString, RenewalError> {
    let answer = client.new_secret(id).await?;
    new_secret_of(id, answer)
}

/// The new secret `answer` carries for client `id`, or why it carries none.
fn new_secret_of(id: &str, answer: OAuthClient) -> Result<SecretString, RenewalError> {
    use secrecy::ExposeSecret as _;
    let problem = if answer.id != id {
        BadAnswer::OtherClient { named: answer.id }
    } else {
        match answer.secret {
            Some(secret) if !secret.expose_secret().is_empty() => return Ok(secret),
            _ => BadAnswer::NoSecret,
        }
    };
    Err(RenewalError::Answer {
        client_id: id.to_owned(),
        problem,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use secrecy::ExposeSecret as _;

    use super::*;

    const CALL: GenesysCall = GenesysCall::NewSecret;

    fn http(status: u16) -> GenesysError {
        GenesysError::Http {
            call: CALL,
            status,
            code: None,
            message: String::new(),
        }
    }

    #[test]
    fn every_failure_has_one_outcome() {
        // Refused before acting, or never sent: nothing changed.
        for e in [
            GenesysError::RateLimited {
                call: CALL,
                retry_after: Some(Duration::from_secs(3)),
            },
            GenesysError::RateLimited {
                call: CALL,
                retry_after: None,
            },
            GenesysError::Paced {
                call: CALL,
                per_minute: 300,
            },
            GenesysError::InvalidClient {
                status: 401,
                description: "invalid_client".into(),
            },
            GenesysError::NotFound { call: CALL },
        ] {
            assert_eq!(Outcome::of(&e), Outcome::Unapplied, "{e:?}");
        }
        // No answer: it may still land.
        let lost = GenesysError::Transport {
            call: CALL,
            message: "request timed out".into(),
        };
        assert_eq!(Outcome::of(&lost), Outcome::InFlight);
        // Answered, but no refusal: it may have acted, and nothing is on its way.
        for e in [
            GenesysError::Decode {
                call: CALL,
                message: "new secret: syntax error at line 1 column 2".into(),
            },
            GenesysError::IncompleteListing {
                listed: 1,
                total: Some(2),
                pages: 1,
                page_count: None,
            },
        ] {
            assert_eq!(Outcome::of(&e), Outcome::Settled, "{e:?}");
        }
    }

    #[test]
    fn each_status_class_has_one_outcome() {
        // Every 4xx is a refusal before acting, except 408 (the server gave up on the request,
        // which says nothing of what it did).
        for status in (400..500).filter(|s| *s != 408) {
            assert_eq!(Outcome::of(&http(status)), Outcome::Unapplied, "{status}");
        }
        assert_eq!(Outcome::of(&http(408)), Outcome::Settled);
        // A 5xx proves nothing: a gateway may answer 502 after the backend committed.
        for status in 500..600 {
            assert_eq!(Outcome::of(&http(status)), Outcome::Settled, "{status}");
        }
        // The statuses as the client builds them from answers.
        for (status, outcome) in [
            (400, Outcome::Unapplied),
            (403, Outcome::Unapplied),
            (404, Outcome::Unapplied),
            (409, Outcome::Unapplied),
            (429, Outcome::Unapplied),
            (408, Outcome::Settled),
            (500, Outcome::Settled),
            (502, Outcome::Settled),
            (503, Outcome::Settled),
            (504, Outcome::Settled),
        ] {
            let e = GenesysError::from_api_response(CALL, status, None, b"{}");
            assert_eq!(Outcome::of(&e), outcome, "{status}: {e:?}");
        }
    }

    fn answer(id: &str, secret: Option<&str>) -> OAuthClient {
        let mut body = serde_json::json!({
            "id": id,
            "name": "master",
            "authorizedGrantType": "CLIENT-CREDENTIALS",
        });
        if let Some(secret) = secret {
            body["secret"] = serde_json::json!(secret);
        }
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn an_answer_must_name_the_client_and_carry_its_secret() {
        let secret = new_secret_of("c-1", answer("c-1", Some("s-NEW"))).unwrap();
        assert_eq!(secret.expose_secret(), "s-NEW");
        for (bad, problem) in [
            (
                answer("c-2", Some("s-OTHER")),
                BadAnswer::OtherClient { named: "c-2".into() },
            ),
            (answer("c-1", None), BadAnswer::NoSecret),
            (answer("c-1", Some("")), BadAnswer::NoSecret),
        ] {
            let e = new_secret_of("c-1", bad).unwrap_err();
            assert_eq!(
                e,
                RenewalError::Answer {
                    client_id: "c-1".into(),
                    problem
                }
            );
            // Accepted by Genesys: the secret has changed to one nobody saw.
            assert_eq!(e.outcome(), Outcome::Settled);
            let text = e.to_string();
            assert!(!text.contains("s-OTHER") && text.contains("c-1"), "{text}");
            assert!(!e.is_retryable());
            assert_eq!(crate::classify::qualified_kind(&e), "GenesysBadAnswer.NewSecret");
        }
    }

    #[test]
    fn a_failed_call_keeps_its_outcome_and_classification() {
        for e in [
            http(502),
            http(403),
            GenesysError::Transport {
                call: CALL,
                message: "reset".into(),
            },
        ] {
            let failed = RenewalError::from(e.clone());
            assert_eq!(failed.outcome(), Outcome::of(&e));
            assert_eq!(failed.is_retryable(), e.is_retryable());
            assert_eq!(failed.kind(), e.kind());
            assert_eq!(failed.to_string(), e.to_string());
        }
    }
}
