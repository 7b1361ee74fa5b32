//! The `errorType` a failed invocation reports to Lambda (the runtime's [`Diagnostic`]), which
//! Secrets Manager shows as the rotation's failure and CloudWatch Logs keeps.
//!
//! The scheme is `<Class>.<Kind>` or, when a call failed, `<Class>.<Kind>.<Call>`:
//! - `<Class>` is `Retryable` when the same call may succeed later with nobody changing anything
//!   (throttling, 5xx, timeouts, a new client still propagating), else `NonRetryable`: an
//!   operator must act (bad secret JSON, a master that is not allowed, missing permissions, the
//!   client limit).
//! - `<Kind>` names the failure: `GenesysRateLimited`, `InvalidSecret`, `ClientLimit`... It comes
//!   from each error's own `kind()`.
//! - `<Call>` names the Secrets Manager, Genesys Cloud or SQS call that failed
//!   (`GetSecretValue`, `CreateClient`, `SendMessage`...), from the failed call's own error.
//!
//! All three are stable; alarms and runbooks may match on them, the class alone included
//! (`Retryable.*`). [`genesys_core::classify::qualified_kind`] joins kind and call; this module
//! adds the class, for the `Diagnostic` and the log line alike. The kinds and calls, for operators:
//! docs/operators/alarms-and-runbooks.md.
//!
//! The message is the error's `Display`, which by design never holds a secret or a token.
//!
//! Each error type converts itself with [`diagnostic`] (`impl From<...> for Diagnostic` beside
//! it), so this module depends on nothing of the front end.

use genesys_core::classify::{qualified_kind, Classify};
use lambda_runtime::Diagnostic;

/// The class of a failure that may pass on its own.
pub const RETRYABLE: &str = "Retryable";
/// The class of a failure that needs an operator.
pub const NON_RETRYABLE: &str = "NonRetryable";

/// The `errorType` of `e`: `<Class>.<Kind>` or `<Class>.<Kind>.<Call>`.
pub fn error_type<E: Classify + ?Sized>(e: &E) -> String {
    let class = if e.is_retryable() { RETRYABLE } else { NON_RETRYABLE };
    format!("{class}.{}", qualified_kind(e))
}

/// The one conversion of a failure into the runtime's [`Diagnostic`]: its [`error_type`], its
/// `Display` as the message.
pub fn diagnostic<E: Classify + std::fmt::Display>(e: &E) -> Diagnostic {
    Diagnostic {
        error_type: error_type(e),
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
        call: Option<&'static str>,
    }

    impl Classify for Failure {
        fn is_retryable(&self) -> bool {
            self.retryable
        }
        fn kind(&self) -> &'static str {
            self.kind
        }
        fn call_name(&self) -> Option<&'static str> {
            self.call
        }
    }

    #[test]
    fn the_class_always_agrees_with_is_retryable_and_the_call_follows_the_kind() {
        for retryable in [true, false] {
            for call in [None, Some("SomeCall")] {
                let e = Failure {
                    retryable,
                    kind: "SomeKind",
                    call,
                };
                let d = diagnostic(&e);
                let (class, rest) = d.error_type.split_once('.').expect("<Class>.<Kind>");
                assert_eq!(class, if retryable { RETRYABLE } else { NON_RETRYABLE });
                match call {
                    Some(_) => assert_eq!(rest, "SomeKind.SomeCall"),
                    None => assert_eq!(rest, "SomeKind"),
                }
                assert_eq!(d.error_message, e.to_string(), "the message is the error's Display");
            }
        }
    }
}
