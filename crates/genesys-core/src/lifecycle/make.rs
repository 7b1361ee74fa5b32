//! How a managed client is made: whatever else its request carries (a front end may copy fields
//! from the client it replaces), its name, grant, ownership marker, token lifetime and
//! role-divisions are set here, and nothing of another client's state (`state`,
//! `dateToDelete`) goes with it. Without the marker the ownership rule could never give the
//! client back to its owner, so both front ends make their clients through [`mark_managed`].

use crate::genesys::{GrantType, OAuthClientRequest, RoleDivision};
use crate::guard::ownership;

/// What a managed client is made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Managed<'a> {
    /// Its name (`<prefix><id>`, the id the owner records).
    pub name: &'a str,
    /// Its owner's id, for the marker (a secret's ARN, a mount's identity).
    pub owner: &'a str,
    /// Words after the marker in its description, for people reading the client list.
    pub note: Option<&'a str>,
    /// Its tokens' lifetime (`accessTokenValiditySeconds`).
    pub token_lifetime_seconds: u32,
    /// Its roles and divisions.
    pub role_divisions: Vec<RoleDivision>,
}

/// Sets on `request` what makes it a managed client of `managed.owner`.
pub fn mark_managed(request: &mut OAuthClientRequest, managed: Managed<'_>) {
    request.name = managed.name.to_owned();
    request.authorized_grant_type = GrantType::ClientCredentials;
    request.description = Some(ownership::description(managed.owner, managed.note));
    request.access_token_validity_seconds = Some(managed.token_lifetime_seconds);
    request.role_divisions = managed.role_divisions;
    request.state = None;
    request.date_to_delete = None;
}

/// A new client-credentials request for a managed client, carrying nothing else.
pub fn managed_request(managed: Managed<'_>) -> OAuthClientRequest {
    let mut request = OAuthClientRequest::client_credentials(managed.name, Vec::new());
    mark_managed(&mut request, managed);
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesys::ClientState;

    fn managed(name: &str) -> Managed<'_> {
        Managed {
            name,
            owner: "arn:aws:secretsmanager:us-east-1:1:secret:s",
            note: Some("CRM"),
            token_lifetime_seconds: 3600,
            role_divisions: vec![RoleDivision {
                role_id: "r".into(),
                division_id: "*".into(),
            }],
        }
    }

    #[test]
    fn a_managed_request_carries_the_marker_the_ownership_rule_reads() {
        let request = managed_request(managed("crm-1"));
        let description = request.description.as_deref().unwrap();
        assert!(description.contains(&ownership::marker("arn:aws:secretsmanager:us-east-1:1:secret:s")));
        assert!(description.starts_with("CRM "), "{description}");
        assert_eq!(request.name, "crm-1");
        assert_eq!(request.access_token_validity_seconds, Some(3600));
        assert_eq!(request.role_divisions.len(), 1);
    }

    #[test]
    fn nothing_of_a_copied_clients_state_goes_with_it() {
        let mut request = OAuthClientRequest::client_credentials("old", Vec::new());
        request.state = Some(ClientState::Inactive);
        request.description = Some("someone else's".into());
        request.date_to_delete = Some(time::OffsetDateTime::UNIX_EPOCH);
        mark_managed(&mut request, managed("crm-2"));
        assert_eq!(request.state, None);
        assert_eq!(request.date_to_delete, None);
        assert_eq!(request.name, "crm-2");
        assert!(!request.description.unwrap().contains("someone else's"));
    }
}
