//! The organization roles a client holds (`GET /api/v2/authorization/roles/{roleId}`, the
//! official SDK's `DomainOrganizationRole` with its `DomainPermissionPolicy` list), read to tell
//! what a client may do: a client whose roles grant `oauth:client:*` manages other clients.
//!
//! Kept apart from the OAuth client calls: one model, one call, through the one retry policy.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::{decode, GenesysCall, GenesysClient, GenesysError, Idempotency};

/// A role's permission policy (`DomainPermissionPolicy`): the actions of `actionSet` on
/// `domain:entityName`, where `*` stands for every entity or action.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionPolicy {
    /// e.g. `oauth`.
    #[serde(default)]
    pub domain: Option<String>,
    /// e.g. `client`, or `*`.
    #[serde(default)]
    pub entity_name: Option<String>,
    /// e.g. `["add", "edit"]`, or `["*"]`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub action_set: Vec<String>,
    /// Every other field (`policyName`, `resourceConditionNode`, ...), as raw JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An organization role (`DomainOrganizationRole`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationRole {
    /// The role id.
    #[serde(default)]
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its permissions as `domain:entity:action` strings.
    #[serde(default, deserialize_with = "null_as_default")]
    pub permissions: Vec<String>,
    /// Its permission policies.
    #[serde(default, deserialize_with = "null_as_default")]
    pub permission_policies: Vec<PermissionPolicy>,
    /// Every other field, as raw JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl OrganizationRole {
    /// Every permission the role grants, as `domain:entity:action` (segments may be `*`): its
    /// `permissions` and one per action of each policy.
    pub fn granted(&self) -> Vec<String> {
        let from_policies = self.permission_policies.iter().flat_map(|p| {
            let domain = p.domain.as_deref().unwrap_or("*");
            let entity = p.entity_name.as_deref().unwrap_or("*");
            p.action_set
                .iter()
                .map(move |action| format!("{domain}:{entity}:{action}"))
        });
        self.permissions.iter().cloned().chain(from_policies).collect()
    }
}

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

/// Reads `null` like an absent field.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_role_reads_as_the_sdk_shapes_it_and_keeps_unknown_fields() {
        // GIVEN a DomainOrganizationRole as the SDK documents it, with a field it does not name
        let role: OrganizationRole = serde_json::from_value(json!({
            "id": "r1",
            "name": "Client admin",
            "permissions": ["oauth:client:view"],
            "permissionPolicies": [
                {"domain": "oauth", "entityName": "client", "actionSet": ["add", "edit"], "policyName": "p"},
                {"domain": "conversation", "entityName": "*", "actionSet": null}
            ],
            "userCount": 0,
            "somethingNew": {"a": 1}
        }))
        .unwrap();
        // THEN every grant reads as domain:entity:action, unknown fields are kept
        assert_eq!(
            role.granted(),
            ["oauth:client:view", "oauth:client:add", "oauth:client:edit"]
        );
        assert_eq!(role.permission_policies[0].extra["policyName"], json!("p"));
        assert!(role.extra.contains_key("somethingNew"));
        // AND a bare or null-filled role reads as granting nothing
        let bare: OrganizationRole =
            serde_json::from_value(json!({"id": "r2", "permissions": null, "permissionPolicies": null})).unwrap();
        assert!(bare.granted().is_empty());
    }
}
