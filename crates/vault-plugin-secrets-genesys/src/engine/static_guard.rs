//! A static role's check that its client is no master, before it is written and before every
//! re-key: the rule and its reasons are the core's guard
//! ([`genesys_core::guard::masters`]: this mount's master, a client with any ownership marker, a
//! client whose roles grant `oauth:client:*`); this gathers the facts (the client's roles, read
//! by the master, which needs `authorization:role:view`; a role that cannot be read refuses the
//! client: fail closed) and answers in the engine's terms.
use genesys_core::genesys::{GenesysClient, GenesysError, OAuthClient};
pub use genesys_core::guard::masters::ROLE_VIEW_PERMISSION;
use genesys_core::guard::masters::{judge, role_ids, Refusal};
use tracing::warn;

use super::genesys::genesys_error;
use crate::logical::LogicalError;

/// Checks that a static role may re-key `client` (read just now by `master`): refuses a client
/// [`judge`] refuses, or one whose roles cannot all be read. Changes nothing. The error is a
/// sentence about the client (`client <id> is a master: ...`): a bad request when the operator
/// must act, an internal error when trying again later may help; [`prefixed`] puts it in
/// context.
pub async fn check(
    master: &GenesysClient,
    master_id: &str,
    own_marker: Option<&str>,
    client: &OAuthClient,
) -> Result<(), LogicalError> {
    let id = &client.id;
    let refuse = |r: Refusal| LogicalError::BadRequest(format!("client {id} {r}"));
    // The rules that need no call first: a marker or the master is refused without reading roles.
    judge(client, master_id, own_marker, &[]).map_err(refuse)?;
    let mut roles = Vec::new();
    for role_id in role_ids(client) {
        match master.get_role(role_id).await {
            Ok(Some(role)) => roles.push((role_id.to_owned(), role.granted())),
            Ok(None) => {
                return Err(LogicalError::BadRequest(format!(
                    "client {id} is refused: its role {role_id} cannot be found, so whether the client is a master \
                     (a role granting oauth:client:*) cannot be told; check the client's roles in Genesys Cloud"
                )))
            }
            Err(GenesysError::Http { status: 403, .. }) => {
                return Err(LogicalError::BadRequest(format!(
                    "client {id} is refused: the master may not read its role {role_id} (it lacks \
                     {ROLE_VIEW_PERMISSION}), so whether the client is a master (a role granting oauth:client:*) \
                     cannot be told; give the master a role with {ROLE_VIEW_PERMISSION}"
                )))
            }
            Err(e) => {
                warn!(client_id = %id, role_id, error = %e, "could not read a static role client's role; refused");
                return Err(genesys_error(
                    &format!(
                        "client {id} is refused for now: reading its role {role_id} (needed to tell whether the \
                         client is a master) failed"
                    ),
                    e,
                ));
            }
        }
    }
    judge(client, master_id, own_marker, &roles).map_err(refuse)
}

/// `e` with `prefix` before its message (same kind).
pub fn prefixed(prefix: &str, e: LogicalError) -> LogicalError {
    match e {
        LogicalError::BadRequest(m) => LogicalError::BadRequest(format!("{prefix}{m}")),
        LogicalError::Internal(m) => LogicalError::Internal(format!("{prefix}{m}")),
        other => other,
    }
}
