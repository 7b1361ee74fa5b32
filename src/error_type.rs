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

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};

use crate::cleanup::TriggerError;
use crate::config::ConfigError;
use crate::rotation::RotationError;

/// The class of a failure that may pass on its own.
pub const RETRYABLE: &str = "Retryable";
/// The class of a failure that needs an operator.
pub const NON_RETRYABLE: &str = "NonRetryable";

/// `<Class>.<Kind>`.
pub fn error_type(retryable: bool, kind: &str) -> String {
    let class = if retryable { RETRYABLE } else { NON_RETRYABLE };
    format!("{class}.{kind}")
}

impl From<RotationError> for Diagnostic {
    fn from(e: RotationError) -> Self {
        Diagnostic {
            error_type: error_type(e.is_retryable(), e.kind()),
            error_message: e.to_string(),
        }
    }
}

impl From<TriggerError> for Diagnostic {
    fn from(e: TriggerError) -> Self {
        Diagnostic {
            error_type: error_type(e.is_retryable(), e.kind()),
            error_message: e.to_string(),
        }
    }
}

/// The `errorType` of a function whose environment failed its start-up check.
pub const INVALID_CONFIGURATION: &str = "NonRetryable.InvalidConfiguration";

impl From<&ConfigError> for Diagnostic {
    fn from(e: &ConfigError) -> Self {
        Diagnostic {
            error_type: INVALID_CONFIGURATION.to_owned(),
            error_message: format!("the function's configuration is invalid: {e}"),
        }
    }
}

/// Serves a function whose environment failed its start-up check: every invocation answers
/// [`INVALID_CONFIGURATION`] with the reason, and changes nothing. Exiting instead would show
/// only `Runtime.ExitError` to Secrets Manager and the alarms, and hide which variable is wrong.
pub async fn serve_invalid_configuration(e: ConfigError) -> Result<(), lambda_runtime::Error> {
    tracing::error!(error = %e, "invalid configuration: every invocation fails until it is fixed");
    let e = &e;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| async move {
        Err::<serde_json::Value, Diagnostic>(Diagnostic::from(e))
    }))
    .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::ConfigError;
    use crate::genesys::GenesysError;
    use crate::reconcile::ReconcileError;
    use crate::rotation::EventError;
    use crate::store::StoreError;

    fn diagnostic(e: RotationError) -> Diagnostic {
        Diagnostic::from(e)
    }

    fn http(status: u16) -> RotationError {
        RotationError::Genesys(GenesysError::Http {
            status,
            code: None,
            message: "m".into(),
        })
    }

    #[test]
    fn each_failure_maps_to_its_class_and_kind() {
        let cases: Vec<(RotationError, &str)> = vec![
            (
                RotationError::Genesys(GenesysError::RateLimited {
                    retry_after: Some(Duration::from_secs(5)),
                }),
                "Retryable.GenesysRateLimited",
            ),
            (
                RotationError::Genesys(GenesysError::Transport("reset".into())),
                "Retryable.GenesysUnreachable",
            ),
            (http(503), "Retryable.GenesysServerError"),
            (http(408), "Retryable.GenesysServerError"),
            (http(403), "NonRetryable.GenesysPermissionDenied"),
            (http(400), "NonRetryable.GenesysRequestRefused"),
            (
                RotationError::Genesys(GenesysError::InvalidClient {
                    status: 401,
                    description: "invalid_client".into(),
                }),
                "NonRetryable.GenesysInvalidClient",
            ),
            (
                RotationError::Genesys(GenesysError::Decode("bad json".into())),
                "NonRetryable.GenesysBadAnswer",
            ),
            (
                RotationError::Store(StoreError::Transient {
                    operation: "GetSecretValue",
                    message: "throttled".into(),
                }),
                "Retryable.SecretsManagerUnavailable",
            ),
            (
                RotationError::Store(StoreError::Refused {
                    operation: "PutSecretValue",
                    code: "AccessDeniedException".into(),
                    message: "no".into(),
                }),
                "NonRetryable.SecretsManagerRefused",
            ),
            (
                RotationError::Secret {
                    secret_id: "arn".into(),
                    version: "AWSCURRENT".into(),
                    source: ConfigError::MissingField("clientId"),
                },
                "NonRetryable.InvalidSecret",
            ),
            (
                RotationError::MasterNotAllowed("arn".into()),
                "NonRetryable.MasterNotAllowed",
            ),
            (
                RotationError::Event(EventError::Missing("Step")),
                "NonRetryable.InvalidEvent",
            ),
            (
                RotationError::PendingClient("not visible yet".into()),
                "Retryable.PendingClient",
            ),
            (
                RotationError::MasterRotationBusy {
                    arn: "arn".into(),
                    version: "v".into(),
                    generation: 0,
                    lease_until: time::OffsetDateTime::UNIX_EPOCH,
                },
                "Retryable.MasterRotationBusy",
            ),
            (
                RotationError::Reconcile(ReconcileError::ClientLimit {
                    count: 495,
                    limit: 500,
                    margin: 10,
                }),
                "NonRetryable.ClientLimit",
            ),
        ];
        for (error, expected) in cases {
            let message = error.to_string();
            let d = diagnostic(error);
            assert_eq!(d.error_type, expected, "{message}");
            assert_eq!(d.error_message, message, "the message is the error's Display");
        }
    }

    #[test]
    fn the_class_always_agrees_with_is_retryable() {
        for (error, retryable) in [
            (http(500), true),
            (http(404), false),
            (RotationError::NoCurrent("arn".into()), false),
        ] {
            assert_eq!(error.is_retryable(), retryable);
            let d = diagnostic(error);
            let (class, kind) = d.error_type.split_once('.').expect("<Class>.<Kind>");
            assert_eq!(class, if retryable { RETRYABLE } else { NON_RETRYABLE });
            assert!(
                !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphanumeric()),
                "{kind}"
            );
        }
    }

    #[test]
    fn an_unrecognised_cleanup_event_is_not_retryable() {
        let err = crate::cleanup::Trigger::from_json(serde_json::json!({"hello": 1})).unwrap_err();
        let d = Diagnostic::from(err);
        assert_eq!(d.error_type, "NonRetryable.UnrecognisedEvent");
        assert!(d.error_message.contains("not recognised"), "{}", d.error_message);
    }

    #[test]
    fn a_bad_environment_is_non_retryable_and_names_the_variable() {
        let d = Diagnostic::from(&ConfigError::MissingEnv("DRAIN_QUEUE_URL"));
        assert_eq!(d.error_type, "NonRetryable.InvalidConfiguration");
        assert!(d.error_message.contains("DRAIN_QUEUE_URL"), "{}", d.error_message);
    }
}
