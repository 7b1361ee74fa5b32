//! The one error classification every front end reports by: whether repeating the same call
//! later may succeed with nobody changing anything, and a short stable kind naming what failed
//! (`GenesysRateLimited`, `SecretsManagerUnavailable`, `SendDrainMessage`...). The Lambdas build
//! their `errorType` from both; alarms and runbooks match on the kind.

/// Retryable or not, and which failure.
pub trait Classify {
    /// True if repeating the same call later may succeed with nobody changing anything.
    fn is_retryable(&self) -> bool;

    /// A short stable name of the failure, for `errorType`, metrics and reports.
    fn kind(&self) -> &'static str;
}
