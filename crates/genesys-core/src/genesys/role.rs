//! The organization roles a client holds (`GET /api/v2/authorization/roles/{roleId}`, answered
//! as the official SDK's `DomainOrganizationRole`: [`OrganizationRole`], with the other models),
//! read to tell what a client may do: a client whose roles grant `oauth:client:*` manages other
//! clients.
//!
//! Kept apart from the OAuth client calls: one call, through the one retry policy.

use super::{decode, GenesysCall, GenesysClient, GenesysError, Idempotency, OrganizationRole};

impl GenesysClient {
    /// One organization role (`GET /api/v2/authorization/roles/{roleId}?userCount=false`: the
    /// member count is not wanted and can be slow); `None` if there is none. Needs
    /// `authorization:role:view`.
    pub async fn get_role(&self, id: &str) -> Result<Option<OrganizationRole>, GenesysError> {
        const CALL: GenesysCall = GenesysCall::GetRole;
        let mut url = self.api_url(CALL, &["api", "v2", "authorization", "roles", id])?;
        url.query_pairs_mut().append_pair("userCount", "false");
        match self.send(CALL, url, None, Idempotency::Idempotent).await {
            Ok(body) => decode(CALL, &body, "role", false).map(Some),
            Err(GenesysError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
