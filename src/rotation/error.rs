//! Errors of a rotation step, each classified retryable or not and named by a stable kind; the
//! Lambda runtime's `errorType` is built from both (see [`crate::error_type`]).

use genesys_core::classify::Classify;
use thiserror::Error;
use time::OffsetDateTime;

use super::event::EventError;
use crate::deployment::DeploymentError;
use crate::drain::DrainError;
use crate::reconcile::ReconcileError;
use crate::store::StoreError;
use genesys_core::genesys::GenesysError;
use genesys_core::guard::ownership::CredentialRefused;

/// Why a rotation step failed. Messages carry ids and labels, never secret values.
#[derive(Debug, Error)]
pub enum RotationError {
    /// The event itself is malformed.
    #[error(transparent)]
    Event(#[from] EventError),
    /// Reading the deployment's secrets or masters failed ([`crate::deployment`]).
    #[error(transparent)]
    Deployment(DeploymentError),
    /// Rotation is not enabled on the secret.
    #[error("secret {0} does not have rotation enabled")]
    RotationNotEnabled(String),
    /// The token is not a version of the secret.
    #[error("secret {secret_id} has no version {token}")]
    UnknownVersion {
        /// The secret.
        secret_id: String,
        /// The ClientRequestToken.
        token: String,
    },
    /// The token's version is neither AWSCURRENT nor AWSPENDING.
    #[error("secret {secret_id} version {token} is not set as AWSPENDING for rotation")]
    NotPending {
        /// The secret.
        secret_id: String,
        /// The ClientRequestToken.
        token: String,
    },
    /// Another rotation holds AWSPENDING (a rotation run by hand waits for it to finish).
    #[error("secret {secret_id} has a rotation in progress: AWSPENDING is on version {version}")]
    InProgress {
        /// The secret.
        secret_id: String,
        /// The version holding AWSPENDING.
        version: String,
    },
    /// The secret lacks the tag that marks the secrets this deployment serves.
    #[error(
        "secret {0} does not carry the tag {tag}: this function rotates only the secrets it serves, and finds \
         them by that tag so that no rotation retires a client another secret still holds. Tag the secret \
         (aws secretsmanager tag-resource --secret-id {0} --tags Key={tag},Value=integration) and rotate again",
        tag = crate::store::SERVED_TAG
    )]
    NotServed(String),
    /// A possible holder (a served secret, a master) the guard must read could not be read, so
    /// nothing proves the client is free: none is retired (fail closed). Retryable: a throttled
    /// or refused read may pass once the cause is fixed.
    #[error(
        "{holder} could not be read, so nothing proves the replaced client is free: no client is retired (fail closed)"
    )]
    GuardUnreadable {
        /// Who could not be read, and why.
        holder: String,
    },
    /// The pending credential does not match what Genesys Cloud holds.
    #[error("pending client check failed: {0}")]
    PendingClient(String),
    /// An integration credential the secret lists may not be touched (it does not exist, is of
    /// another type, or does not provably hold this secret's client).
    #[error("secret {secret_id}: {source}")]
    Credential {
        /// The secret that lists it.
        secret_id: String,
        /// Which credential, and why.
        source: CredentialRefused,
    },
    /// A Secrets Manager call failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A Genesys Cloud call failed.
    #[error("Genesys Cloud: {0}")]
    Genesys(#[from] GenesysError),
    /// Retiring the rotated-out client (deactivate, queue its deletion) failed.
    #[error("retiring the old client: {0}")]
    Retirement(DrainError),
    /// Reconciliation before the create failed, or the org is too close to its client limit.
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    /// A master rotation cannot go on: the master client refuses AWSCURRENT's secret and no
    /// usable recovery token of this rotation is stored. Only an operator can fix it.
    #[error(
        "master secret {arn}: client {client_id} refuses the AWSCURRENT secret and {reason}. To recover: in \
         Genesys Cloud (Admin > Integrations > OAuth, client {client_id}) reset the client secret; store it as \
         AWSCURRENT (aws secretsmanager put-secret-value --secret-id {arn} --secret-string with clientId, \
         clientSecret and the other fields as before); remove the stuck AWSPENDING label (aws secretsmanager \
         update-secret-version-stage --secret-id {arn} --version-stage AWSPENDING --remove-from-version-id \
         {version}); then rotate again"
    )]
    MasterLocked {
        /// The master secret.
        arn: String,
        /// The master client.
        client_id: String,
        /// The version (ClientRequestToken) of the rotation that is stuck.
        version: String,
        /// Why no recovery was possible (no secret or token in it).
        reason: String,
    },
    /// Another invocation of the same master rotation holds the lock that guards the master's
    /// new-secret request, and its lease has not ended: this one changed nothing. Retryable: the
    /// holder stores its answer (the retry finds it), or its lease ends (the retry takes over).
    #[error(
        "master secret {arn}: another invocation of rotation {version} holds the master rotation lock (generation \
         {generation}) until {}; nothing was changed, retry after that",
        rfc3339(.lease_until)
    )]
    MasterRotationBusy {
        /// The master secret.
        arn: String,
        /// The version (ClientRequestToken) of the rotation.
        version: String,
        /// The generation of the lock record that is held.
        generation: u32,
        /// When the holder's lease ends (wall clock).
        lease_until: OffsetDateTime,
    },
    /// The step stopped at its deadline (the Lambda's, less a safety margin) with work left;
    /// what it did is kept and the retry finishes it.
    #[error("{step} stopped at its deadline: {detail}")]
    DeadlineExceeded {
        /// The step's wire name.
        step: &'static str,
        /// What it was doing (or waiting for).
        detail: String,
    },
}

/// Retryable: whether running the step again (as Secrets Manager does) may succeed.
impl Classify for RotationError {
    fn is_retryable(&self) -> bool {
        match self {
            RotationError::Deployment(e) => e.is_retryable(),
            RotationError::Store(e) => e.is_retryable(),
            RotationError::Genesys(e) => e.is_retryable(),
            RotationError::Retirement(e) => e.is_retryable(),
            RotationError::Reconcile(e) => e.is_retryable(),
            RotationError::Credential { source, .. } => source.is_retryable(),
            // Eventual consistency: a client just made may not be visible yet.
            RotationError::PendingClient(_)
            | RotationError::GuardUnreadable { .. }
            | RotationError::DeadlineExceeded { .. }
            | RotationError::MasterRotationBusy { .. } => true,
            _ => false,
        }
    }

    /// The variant's name, or for a failure of a call the kind of that call's failure.
    fn kind(&self) -> &'static str {
        match self {
            RotationError::Event(_) => "InvalidEvent",
            RotationError::RotationNotEnabled(_) => "RotationNotEnabled",
            RotationError::UnknownVersion { .. } => "UnknownVersion",
            RotationError::NotPending { .. } => "NotPending",
            RotationError::NotServed(_) => "NotServed",
            RotationError::GuardUnreadable { .. } => "GuardUnreadable",
            RotationError::InProgress { .. } => "InProgress",
            RotationError::PendingClient(_) => "PendingClient",
            RotationError::Deployment(e) => e.kind(),
            RotationError::Store(e) => e.kind(),
            RotationError::Genesys(e) => e.kind(),
            RotationError::Retirement(e) => e.kind(),
            RotationError::Reconcile(e) => e.kind(),
            RotationError::Credential { source, .. } => source.kind(),
            RotationError::MasterLocked { .. } => "MasterLocked",
            RotationError::MasterRotationBusy { .. } => "MasterRotationBusy",
            RotationError::DeadlineExceeded { .. } => "DeadlineExceeded",
        }
    }

    /// The call whose failure this is, as the failed call's own error names it.
    fn call_name(&self) -> Option<&'static str> {
        match self {
            RotationError::Deployment(e) => e.call_name(),
            RotationError::Store(e) => e.call_name(),
            RotationError::Genesys(e) => e.call_name(),
            RotationError::Retirement(e) => e.call_name(),
            RotationError::Reconcile(e) => e.call_name(),
            _ => None,
        }
    }
}

/// A failed read of the deployment's secrets or masters, in a step: a failed call stays the
/// failure of that call, as when the step makes it itself.
impl From<DeploymentError> for RotationError {
    fn from(e: DeploymentError) -> Self {
        match e {
            DeploymentError::Store(e) => RotationError::Store(e),
            DeploymentError::Genesys(e) => RotationError::Genesys(e),
            e => RotationError::Deployment(e),
        }
    }
}

/// A wall-clock time as RFC 3339, for messages.
pub(crate) fn rfc3339(t: &OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

impl From<RotationError> for lambda_runtime::Diagnostic {
    fn from(e: RotationError) -> Self {
        crate::error_type::diagnostic(&e)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::drain::{DrainTooShort, QueueError};
    use crate::error_type::{NON_RETRYABLE, RETRYABLE};
    use crate::secret_format::SecretFormatError;
    use crate::store::SecretsManagerCall;
    use genesys_core::genesys::GenesysCall;
    use lambda_runtime::Diagnostic;

    fn diagnostic(e: RotationError) -> Diagnostic {
        Diagnostic::from(e)
    }

    fn answered(call: GenesysCall, status: u16) -> GenesysError {
        GenesysError::Http {
            call,
            status,
            code: None,
            message: "m".into(),
        }
    }

    fn http(call: GenesysCall, status: u16) -> RotationError {
        RotationError::Genesys(answered(call, status))
    }

    fn unavailable(call: SecretsManagerCall) -> StoreError {
        StoreError::Transient {
            call,
            message: "throttled".into(),
        }
    }

    #[test]
    fn each_failure_maps_to_its_class_kind_and_call() {
        let cases: Vec<(RotationError, &str)> = vec![
            (
                RotationError::Genesys(GenesysError::RateLimited {
                    call: GenesysCall::CreateClient,
                    retry_after: Some(Duration::from_secs(5)),
                }),
                "Retryable.GenesysRateLimited.CreateClient",
            ),
            (
                RotationError::Genesys(GenesysError::Transport {
                    call: GenesysCall::Token,
                    message: "reset".into(),
                }),
                "Retryable.GenesysUnreachable.Token",
            ),
            (
                http(GenesysCall::ListClients, 503),
                "Retryable.GenesysServerError.ListClients",
            ),
            (
                http(GenesysCall::GetClient, 408),
                "Retryable.GenesysServerError.GetClient",
            ),
            (
                http(GenesysCall::CreateClient, 403),
                "NonRetryable.GenesysPermissionDenied.CreateClient",
            ),
            (
                http(GenesysCall::DeleteClient, 403),
                "NonRetryable.GenesysPermissionDenied.DeleteClient",
            ),
            (
                http(GenesysCall::UpdateClient, 400),
                "NonRetryable.GenesysRequestRefused.UpdateClient",
            ),
            (
                RotationError::Genesys(GenesysError::InvalidClient {
                    status: 401,
                    description: "invalid_client".into(),
                }),
                "NonRetryable.GenesysInvalidClient.Token",
            ),
            (
                RotationError::Genesys(GenesysError::IncompleteListing {
                    listed: 4,
                    total: Some(5),
                    pages: 1,
                    page_count: Some(1),
                }),
                "Retryable.GenesysIncompleteListing.ListClients",
            ),
            (
                RotationError::Genesys(GenesysError::Decode {
                    call: GenesysCall::NewSecret,
                    message: "bad json".into(),
                }),
                "NonRetryable.GenesysBadAnswer.NewSecret",
            ),
            (
                RotationError::Genesys(GenesysError::NotFound {
                    call: GenesysCall::TokensMe,
                }),
                "NonRetryable.GenesysNotFound.TokensMe",
            ),
            (
                RotationError::Store(unavailable(SecretsManagerCall::GetSecretValue)),
                "Retryable.SecretsManagerUnavailable.GetSecretValue",
            ),
            (
                RotationError::Store(StoreError::Refused {
                    call: SecretsManagerCall::PutSecretValue,
                    code: "AccessDeniedException".into(),
                    message: "no".into(),
                }),
                "NonRetryable.SecretsManagerRefused.PutSecretValue",
            ),
            (
                RotationError::Store(StoreError::NotFound {
                    call: SecretsManagerCall::DescribeSecret,
                    message: "no such secret".into(),
                }),
                "NonRetryable.SecretsManagerNotFound.DescribeSecret",
            ),
            (
                RotationError::Store(unavailable(SecretsManagerCall::UpdateSecretVersionStage)),
                "Retryable.SecretsManagerUnavailable.UpdateSecretVersionStage",
            ),
            (
                RotationError::Store(unavailable(SecretsManagerCall::ListSecrets)),
                "Retryable.SecretsManagerUnavailable.ListSecrets",
            ),
            (
                RotationError::Retirement(DrainError::Genesys(answered(GenesysCall::UpdateClient, 503))),
                "Retryable.GenesysServerError.UpdateClient",
            ),
            (
                RotationError::Retirement(DrainError::Queue(QueueError::Transient("throttled".into()))),
                "Retryable.SqsUnavailable.SendMessage",
            ),
            (
                RotationError::Retirement(DrainError::Queue(QueueError::Refused {
                    code: "AccessDenied".into(),
                    message: "no".into(),
                })),
                "NonRetryable.SqsRefused.SendMessage",
            ),
            (
                RotationError::Retirement(DrainError::TooShort {
                    client_id: "c".into(),
                    source: DrainTooShort {
                        configured_s: 60,
                        token_lifetime_s: 86400,
                        margin_s: 300,
                        needed_s: 86700,
                    },
                }),
                "NonRetryable.DrainTooShort",
            ),
            (
                RotationError::Reconcile(ReconcileError::List(answered(GenesysCall::ListClients, 500))),
                "Retryable.GenesysServerError.ListClients",
            ),
            (
                RotationError::Reconcile(ReconcileError::Delete {
                    client_id: "c".into(),
                    source: answered(GenesysCall::DeleteClient, 403),
                }),
                "NonRetryable.GenesysPermissionDenied.DeleteClient",
            ),
            (
                RotationError::Reconcile(ReconcileError::VersionUnreadable {
                    secret_arn: "arn".into(),
                    version_id: "v".into(),
                    source: unavailable(SecretsManagerCall::GetSecretValue),
                }),
                "Retryable.VersionUnreadable.GetSecretValue",
            ),
            (
                DeploymentError::Secret {
                    secret_id: "arn".into(),
                    version: "AWSCURRENT".into(),
                    source: SecretFormatError::MissingField("clientId"),
                }
                .into(),
                "NonRetryable.InvalidSecret",
            ),
            (
                DeploymentError::MasterNotAllowed("arn".into()).into(),
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
    fn every_genesys_and_secrets_manager_call_is_named_in_the_error_type() {
        for call in GenesysCall::ALL {
            let d = diagnostic(http(call, 503));
            assert_eq!(d.error_type, format!("Retryable.GenesysServerError.{}", call.as_str()));
        }
        for call in SecretsManagerCall::ALL {
            let d = diagnostic(RotationError::Store(unavailable(call)));
            assert_eq!(
                d.error_type,
                format!("Retryable.SecretsManagerUnavailable.{}", call.as_str())
            );
        }
    }

    #[test]
    fn a_failed_read_of_the_deployment_keeps_its_error_type_in_a_step() {
        // A failed call stays that call's failure, as when the step makes the call itself.
        let e: RotationError = DeploymentError::Store(unavailable(SecretsManagerCall::GetSecretValue)).into();
        assert!(matches!(e, RotationError::Store(_)), "{e:?}");
        assert_eq!(
            diagnostic(e).error_type,
            "Retryable.SecretsManagerUnavailable.GetSecretValue"
        );
        let e: RotationError = DeploymentError::NoCurrent("arn".into()).into();
        assert!(
            matches!(e, RotationError::Deployment(DeploymentError::NoCurrent(_))),
            "{e:?}"
        );
        assert_eq!(diagnostic(e).error_type, "NonRetryable.NoCurrent");
    }

    #[test]
    fn the_class_always_agrees_with_is_retryable() {
        for (error, retryable) in [
            (http(GenesysCall::DeleteClient, 500), true),
            (http(GenesysCall::GetClient, 404), false),
            (DeploymentError::NoCurrent("arn".into()).into(), false),
        ] {
            assert_eq!(error.is_retryable(), retryable);
            let d = diagnostic(error);
            let (class, kind) = d.error_type.split_once('.').expect("<Class>.<Kind>");
            assert_eq!(class, if retryable { RETRYABLE } else { NON_RETRYABLE });
            // <Kind> or <Kind>.<Call>, each one word.
            let parts: Vec<&str> = kind.split('.').collect();
            assert!(
                (1..=2).contains(&parts.len())
                    && parts
                        .iter()
                        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric())),
                "{kind}"
            );
        }
    }
}
