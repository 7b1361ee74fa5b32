//! Secret values that cannot leak by accident.
//!
//! A rotation function handles two kinds of secret: the OAuth client secret it
//! stores in Secrets Manager, and the short-lived bearer tokens it gets from
//! Genesys Cloud with that secret. Either one in a CloudWatch log line, an
//! error message or a panic message is a credential leak.
//!
//! Both are therefore held as [`SecretString`] (from the `secrecy` crate):
//! its `Debug` prints `[REDACTED]`, it has no `Display` and no `Serialize`,
//! and its memory is zeroed on drop. Reading the value takes an explicit
//! [`ExposeSecret::expose_secret`] call, which is easy to find in review.
//! The types here add hand-written `Debug` impls that keep the useful,
//! non-secret parts (the client id, the expiry) visible.

use std::fmt;
use std::time::{Duration, Instant};

pub use secrecy::{ExposeSecret, SecretString};

use crate::domain::ClientId;

/// The id and secret of a Genesys Cloud OAuth client (client-credentials grant).
///
/// The id is not secret and shows in `Debug`; the secret never does.
#[derive(Clone)]
pub struct ClientCredentials {
    /// The OAuth client id (a UUID), valid by construction; safe to log.
    pub client_id: ClientId,
    /// The OAuth client secret; never logged.
    pub client_secret: SecretString,
}

impl ClientCredentials {
    /// Builds credentials from a validated id and a secret.
    pub fn new(client_id: ClientId, client_secret: impl Into<String>) -> Self {
        Self {
            client_id,
            client_secret: SecretString::from(client_secret.into()),
        }
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

/// A Genesys Cloud bearer token and the moment it stops being valid.
///
/// The expiry is a monotonic [`Instant`], so wall-clock jumps cannot make a
/// stale token look fresh.
#[derive(Clone)]
pub struct AccessToken {
    value: SecretString,
    expires_at: Instant,
}

impl AccessToken {
    /// Wraps a token value that expires at `expires_at`.
    pub fn new(value: SecretString, expires_at: Instant) -> Self {
        Self { value, expires_at }
    }

    /// Wraps a token value that expires `lifetime` from now.
    pub fn expiring_in(value: SecretString, lifetime: Duration) -> Self {
        Self::new(value, Instant::now() + lifetime)
    }

    /// The token itself, for an `Authorization: Bearer` header.
    ///
    /// This exposes the secret: pass it to the HTTP client and nowhere else.
    pub fn bearer(&self) -> &str {
        self.value.expose_secret()
    }

    /// When the token stops being valid.
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    /// True if the token is still valid `margin` from now.
    ///
    /// Use a margin that covers the longest request you are about to make, so
    /// that a token does not expire between the check and the server's check.
    pub fn is_fresh(&self, margin: Duration) -> bool {
        match Instant::now().checked_add(margin) {
            Some(deadline) => deadline < self.expires_at,
            None => false,
        }
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let remaining = self.expires_at.saturating_duration_since(Instant::now());
        f.debug_struct("AccessToken")
            .field("value", &"[REDACTED]")
            .field("expires_in", &remaining)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-Value-that-must-not-leak";

    #[test]
    fn credentials_debug_redacts_the_secret() {
        let id = ClientId::parse("7de3af06-c0b3-4f9b-af45-72f4a1403797").unwrap();
        let creds = ClientCredentials::new(id, SECRET);
        let printed = format!("{creds:?} {creds:#?}");
        assert!(!printed.contains(SECRET), "{printed}");
        assert!(printed.contains("7de3af06-c0b3-4f9b-af45-72f4a1403797"));
        assert!(printed.contains("[REDACTED]"));
        assert_eq!(creds.client_secret.expose_secret(), SECRET);
    }

    #[test]
    fn access_token_debug_redacts_the_value() {
        let token = AccessToken::expiring_in(SecretString::from(SECRET), Duration::from_secs(60));
        let printed = format!("{token:?} {token:#?}");
        assert!(!printed.contains(SECRET), "{printed}");
        assert_eq!(token.bearer(), SECRET);
    }

    #[test]
    fn freshness_respects_the_margin() {
        // GIVEN a token valid for 100 s
        let token = AccessToken::expiring_in(SecretString::from("t"), Duration::from_secs(100));
        // THEN it is fresh with a small margin and stale with a margin beyond its life
        assert!(token.is_fresh(Duration::from_secs(10)));
        assert!(!token.is_fresh(Duration::from_secs(101)));
        assert!(!token.is_fresh(Duration::MAX));
    }

    #[test]
    fn expired_token_is_not_fresh() {
        let token = AccessToken::new(SecretString::from("t"), Instant::now());
        assert!(!token.is_fresh(Duration::ZERO));
    }
}
