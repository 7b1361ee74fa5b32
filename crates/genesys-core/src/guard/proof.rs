//! Proof of possession: a stored credential gets a token and `tokens/me` names the client it
//! claims. What a secret or a record names is a claim; this is what turns it into a fact.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::classify::Classify;
use crate::genesys::{GenesysClient, GenesysError};

/// A proof of possession: the actor's stored credential got a token, and `tokens/me` named
/// `client_id`. Recorded where the actor keeps its state (for the Lambdas, on the pending
/// version's value as `possessionProof`), so later steps act on a proof, not on a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Proof {
    /// The client the credential authenticated as.
    pub client_id: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub proven_at: OffsetDateTime,
}

/// Why a credential did not prove that it holds the client it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotProven {
    /// Genesys refused the credential (wrong secret, or the client is inactive, disabled or gone).
    Refused,
    /// The credential works, but `tokens/me` names another client (or none).
    NamesOther(Option<String>),
}

impl fmt::Display for NotProven {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotProven::Refused => f.write_str("Genesys Cloud refused the stored credential"),
            NotProven::NamesOther(Some(id)) => write!(f, "the stored credential authenticates as client {id}"),
            NotProven::NamesOther(None) => f.write_str("tokens/me names no client for the stored credential"),
        }
    }
}

/// Runs the proof: `client` is built from the actor's *stored* credential (id and secret), and
/// `claimed` is the client id the actor's record names. Transient failures are errors (retry);
/// a refused credential or another client is a definite [`NotProven`].
pub async fn prove_possession(
    client: &GenesysClient,
    claimed: &str,
    now: OffsetDateTime,
) -> Result<Result<Proof, NotProven>, GenesysError> {
    match client.token_info().await {
        Ok(info) => {
            let seen = info.o_auth_client.map(|c| c.id);
            Ok(judge_proof(claimed, seen.as_deref(), now))
        }
        Err(GenesysError::InvalidClient { .. }) => Ok(Err(NotProven::Refused)),
        Err(e) if e.is_retryable() => Err(e),
        // A definite refusal of another kind (403 on tokens/me, say) proves nothing either.
        Err(_) => Ok(Err(NotProven::Refused)),
    }
}

/// The pure half of [`prove_possession`]: `seen` is the client `tokens/me` named.
pub fn judge_proof(claimed: &str, seen: Option<&str>, now: OffsetDateTime) -> Result<Proof, NotProven> {
    match seen {
        Some(id) if id == claimed => Ok(Proof {
            client_id: claimed.to_owned(),
            proven_at: now,
        }),
        other => Err(NotProven::NamesOther(other.map(str::to_owned))),
    }
}
