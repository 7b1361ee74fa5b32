//! The one error classification every front end reports by: whether repeating the same call
//! later may succeed with nobody changing anything, a short stable kind naming what went wrong
//! (`GenesysRateLimited`, `SecretsManagerUnavailable`, `InvalidSecret`...), and, when the failure
//! is a failed call, which call (`CreateClient`, `GetSecretValue`, `SendMessage`...). The Lambdas
//! build their `errorType` from all three; alarms and runbooks match on it.
//!
//! The call is carried by the error of the call itself, as a typed name set where the call is
//! made ([`crate::genesys::GenesysCall`], the front end's Secrets Manager calls), and errors that
//! wrap it pass it on; [`qualified_kind`] is the one place that joins kind and call.

/// Retryable or not, which failure, and which call failed.
pub trait Classify {
    /// True if repeating the same call later may succeed with nobody changing anything.
    fn is_retryable(&self) -> bool;

    /// A short stable name of what went wrong (one word, `[A-Za-z0-9]`), for `errorType`,
    /// metrics and reports.
    fn kind(&self) -> &'static str;

    /// The external call that failed (one word, `[A-Za-z0-9]`: `CreateClient`,
    /// `GetSecretValue`...), from the error that made it; `None` when what went wrong is no
    /// failed call (a bad secret, the client limit, a deadline).
    fn call_name(&self) -> Option<&'static str>;
}

/// `<Kind>.<Call>` (`GenesysPermissionDenied.CreateClient`), or `<Kind>` alone when no call
/// failed (`InvalidSecret`): the one rule that joins [`Classify::kind`] and [`Classify::call_name`].
pub fn qualified_kind<E: Classify + ?Sized>(e: &E) -> String {
    match e.call_name() {
        Some(call) => format!("{}.{call}", e.kind()),
        None => e.kind().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failure of a call, or one that is no failed call.
    enum Failure {
        OfCall,
        NoCall,
    }

    impl Classify for Failure {
        fn is_retryable(&self) -> bool {
            matches!(self, Failure::OfCall)
        }
        fn kind(&self) -> &'static str {
            "SomeKind"
        }
        fn call_name(&self) -> Option<&'static str> {
            match self {
                Failure::OfCall => Some("CreateClient"),
                Failure::NoCall => None,
            }
        }
    }

    #[test]
    fn the_call_follows_the_kind_when_a_call_failed() {
        assert_eq!(qualified_kind(&Failure::OfCall), "SomeKind.CreateClient");
        assert_eq!(qualified_kind(&Failure::NoCall), "SomeKind");
    }
}
