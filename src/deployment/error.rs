//! Errors of the deployment context ([`super::Deployment`]): reading a served secret or a master
//! and reaching Genesys as that master. Classified by the one [`Classify`]; each front end's own
//! error (a rotation step's, the cleanup's) carries these as they are, so the `errorType` of a
//! failed read is the same wherever it was read.

use genesys_core::classify::Classify;
use thiserror::Error;

use crate::secret_format::SecretFormatError;
use crate::store::StoreError;
use genesys_core::genesys::GenesysError;

/// Why reading the deployment's secrets or masters failed. Messages carry ids and labels, never
/// secret values.
#[derive(Debug, Error)]
pub enum DeploymentError {
    /// The integration secret's value is unusable.
    #[error("secret {secret_id} version {version}: {source}")]
    Secret {
        /// The secret.
        secret_id: String,
        /// The version (id or stage) that was read.
        version: String,
        /// What is wrong with it.
        source: SecretFormatError,
    },
    /// The master secret is unusable.
    #[error("master secret {arn}: {source}")]
    MasterSecret {
        /// The master secret's ARN.
        arn: String,
        /// What is wrong with it.
        source: SecretFormatError,
    },
    /// The secret names a master this function is not configured to use.
    #[error(
        "secret names master secret {0}, which this function is not allowed to use (see ALLOWED_MASTER_SECRET_ARNS)"
    )]
    MasterNotAllowed(String),
    /// The master does not hold every role-division it must assign or edit
    /// ([`genesys_core::role_rule`]): if the role rule binds masters, Genesys refuses the create
    /// (or the old client's deactivation).
    #[error(
        "the master client {master_client_id} does not hold these role-divisions that the secret's clients get or          that its current client has: {missing}. If your organization applies the role rule to client-credentials          clients, rotation will be refused: give the master's roles these role-divisions (see the deploy guide), or          narrow the secret's roleDivisions"
    )]
    MasterLacksRoles {
        /// The master client.
        master_client_id: String,
        /// The missing pairs, `role/division`, comma-separated.
        missing: String,
    },
    /// The master secret states a region other than the integration secret's.
    #[error("master secret is for region {master}, the integration secret for {integration}")]
    RegionMismatch {
        /// The master's region domain.
        master: String,
        /// The integration's region domain.
        integration: String,
    },
    /// A version that must hold a value holds none.
    #[error("secret {secret_id} has no value at {version}")]
    MissingValue {
        /// The secret.
        secret_id: String,
        /// The version id or stage.
        version: String,
    },
    /// The secret has no AWSCURRENT version.
    #[error("secret {0} has no AWSCURRENT version")]
    NoCurrent(String),
    /// A Secrets Manager call failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A Genesys Cloud call failed.
    #[error(transparent)]
    Genesys(#[from] GenesysError),
}

/// Retryable: whether reading again may succeed. Only a failed call may: a secret's value, a
/// master's region or the allow-list do not change by themselves.
impl Classify for DeploymentError {
    fn is_retryable(&self) -> bool {
        match self {
            DeploymentError::Store(e) => e.is_retryable(),
            DeploymentError::Genesys(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// The variant's name, or for a failure of a call the kind of that call's failure.
    fn kind(&self) -> &'static str {
        match self {
            DeploymentError::Secret { .. } => "InvalidSecret",
            DeploymentError::MasterSecret { .. } => "InvalidMasterSecret",
            DeploymentError::MasterNotAllowed(_) => "MasterNotAllowed",
            DeploymentError::MasterLacksRoles { .. } => "MasterLacksRoles",
            DeploymentError::RegionMismatch { .. } => "RegionMismatch",
            DeploymentError::MissingValue { .. } => "MissingValue",
            DeploymentError::NoCurrent(_) => "NoCurrent",
            DeploymentError::Store(e) => e.kind(),
            DeploymentError::Genesys(e) => e.kind(),
        }
    }

    /// The call whose failure this is, as the failed call's own error names it.
    fn call_name(&self) -> Option<&'static str> {
        match self {
            DeploymentError::Store(e) => e.call_name(),
            DeploymentError::Genesys(e) => e.call_name(),
            _ => None,
        }
    }
}
