//! The `errorType` a failed invocation reports to Lambda (the runtime's [`Diagnostic`]), which
//! Secrets Manager shows as the rotation's failure and CloudWatch Logs keeps.
//!
//! The scheme is `<Class>.<Kind>`:
//! - `<Class>` is `Retryable` when the same call may succeed later with nobody changing anything
//!   (throttling, 5xx, timeouts, a new client still propagating), else `NonRetryable`: an
//!   operator must act (bad secret JSON, a master that is not allowed, missing permissions, the
//!   client limit).
//! - `<Kind>` names the failure: `GenesysRateLimited`, `InvalidSecret`, `ClientLimit`... It comes
//!   from each error's own `kind()`, is stable, and alarms and runbooks may match on it.
//!
//! The message is the error's `Display`, which by design never holds a secret or a token.
//!
//! Each error type converts itself with [`diagnostic`] (`impl From<...> for Diagnostic` beside
//! it), so this module depends on nothing of the front end.

use genesys_core::classify::Classify;
use lambda_runtime::Diagnostic;

/// The class of a failure that may pass on its own.
pub const RETRYABLE: &str = "Retryable";
/// The class of a failure that needs an operator.
pub const NON_RETRYABLE: &str = "NonRetryable";

/// `<Class>.<Kind>`.
pub fn error_type(retryable: bool, kind: &str) -> String {
    let class = if retryable { RETRYABLE } else { NON_RETRYABLE };
    format!("{class}.{kind}")
}

/// The one conversion of a failure into the runtime's [`Diagnostic`]: `<Class>.<Kind>` from its
/// [`Classify`], its `Display` as the message.
pub fn diagnostic<E: Classify + std::fmt::Display>(e: &E) -> Diagnostic {
    Diagnostic {
        error_type: error_type(e.is_retryable(), e.kind()),
        error_message: e.to_string(),
    }
}

/// The `errorType` of a function whose environment failed its start-up check.
pub const INVALID_CONFIGURATION: &str = "NonRetryable.InvalidConfiguration";

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("a failure of kind {kind}")]
    struct Failure {
        retryable: bool,
        kind: &'static str,
    }

    impl Classify for Failure {
        fn is_retryable(&self) -> bool {
            self.retryable
        }
        fn kind(&self) -> &'static str {
            self.kind
        }
    }

    #[test]
    fn the_class_always_agrees_with_is_retryable() {
        for retryable in [true, false] {
            let e = Failure {
                retryable,
                kind: "SomeKind",
            };
            let d = diagnostic(&e);
            let (class, kind) = d.error_type.split_once('.').expect("<Class>.<Kind>");
            assert_eq!(class, if retryable { RETRYABLE } else { NON_RETRYABLE });
            assert_eq!(kind, "SomeKind");
            assert_eq!(d.error_message, e.to_string(), "the message is the error's Display");
        }
    }
}
