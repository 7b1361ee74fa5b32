//! The JSON shapes of the Genesys Cloud OAuth client API, per the official
//! SDK models (`OAuthClientRequest`, `OAuthClient`, `TokenInfo`, ...).
//!
//! Requests serialize only what we mean to send. Responses tolerate unknown
//! fields, missing optional fields and `null`s, and keep enum values they do
//! not know (see [`GrantType::Other`], [`ClientState::Other`]) so that a
//! value Genesys adds tomorrow neither breaks a listing nor gets rewritten by
//! a read-modify-write `PUT`.
//!
//! Fields neither model knows (a field Genesys adds before this library names it, such as the
//! allowed IP addresses announced for client-credentials clients) are kept as raw JSON in
//! `extra` on both [`OAuthClient`] and [`OAuthClientRequest`], so a GET, then
//! [`OAuthClient::to_request`], then a POST or PUT keeps them. The response-only fields that
//! never go back into a request are listed once, in [`READ_ONLY_FIELDS`].

use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// The fields of an [`OAuthClient`] answer that Genesys sets and that are never sent back in an
/// [`OAuthClientRequest`]: [`OAuthClient::to_request`] drops them, typed or not. `roleIds` is
/// here too: deprecated, and derived by Genesys from `roleDivisions`.
pub const READ_ONLY_FIELDS: &[&str] = &[
    "id",
    "secret",
    "dateCreated",
    "dateModified",
    "createdBy",
    "modifiedBy",
    "selfUri",
    "organization",
    "roleIds",
];

/// The JSON keys [`OAuthClientRequest`] has typed fields for; any other key of a request lives
/// in its `extra`.
pub const REQUEST_FIELDS: &[&str] = &[
    "name",
    "authorizedGrantType",
    "description",
    "accessTokenValiditySeconds",
    "roleDivisions",
    "registeredRedirectUri",
    "scope",
    "state",
    "dateToDelete",
];

/// How an OAuth client gets tokens (`authorizedGrantType`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GrantType {
    /// `CODE`: authorization code.
    Code,
    /// `TOKEN`: implicit grant.
    Token,
    /// `SAML2-BEARER`.
    Saml2Bearer,
    /// `PASSWORD`: resource owner password.
    Password,
    /// `CLIENT-CREDENTIALS`: the grant this rotator manages.
    ClientCredentials,
    /// A value this library does not know; written back unchanged.
    Other(String),
}

impl GrantType {
    /// The exact wire value, e.g. `CLIENT-CREDENTIALS`.
    pub fn as_str(&self) -> &str {
        match self {
            GrantType::Code => "CODE",
            GrantType::Token => "TOKEN",
            GrantType::Saml2Bearer => "SAML2-BEARER",
            GrantType::Password => "PASSWORD",
            GrantType::ClientCredentials => "CLIENT-CREDENTIALS",
            GrantType::Other(s) => s,
        }
    }

    fn from_wire(s: String) -> Self {
        match s.as_str() {
            "CODE" => GrantType::Code,
            "TOKEN" => GrantType::Token,
            "SAML2-BEARER" => GrantType::Saml2Bearer,
            "PASSWORD" => GrantType::Password,
            "CLIENT-CREDENTIALS" => GrantType::ClientCredentials,
            _ => GrantType::Other(s),
        }
    }
}

/// The lifecycle state of an OAuth client (`state`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientState {
    /// `active` (the default): tokens can be made.
    Active,
    /// `inactive`: no new tokens; due for deletion. Tokens already issued are
    /// taken to work until they expire.
    Inactive,
    /// `disabled`: no new tokens, and existing tokens stop working.
    Disabled,
    /// `deleted`: reported by GET while a deletion completes (the Terraform
    /// provider polls for it).
    Deleted,
    /// A value this library does not know; written back unchanged.
    Other(String),
}

impl ClientState {
    /// The exact wire value, e.g. `inactive`.
    pub fn as_str(&self) -> &str {
        match self {
            ClientState::Active => "active",
            ClientState::Inactive => "inactive",
            ClientState::Disabled => "disabled",
            ClientState::Deleted => "deleted",
            ClientState::Other(s) => s,
        }
    }

    fn from_wire(s: String) -> Self {
        match s.as_str() {
            "active" => ClientState::Active,
            "inactive" => ClientState::Inactive,
            "disabled" => ClientState::Disabled,
            "deleted" => ClientState::Deleted,
            _ => ClientState::Other(s),
        }
    }
}

macro_rules! wire_string_enum {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map($ty::from_wire)
            }
        }
    };
}
wire_string_enum!(GrantType);
wire_string_enum!(ClientState);

/// A role granted in a division (`roleDivisions[]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDivision {
    /// The role id.
    pub role_id: String,
    /// The division id (`*` is accepted by Genesys for "all divisions").
    pub division_id: String,
}

impl RoleDivision {
    /// Builds a role/division pair.
    pub fn new(role_id: impl Into<String>, division_id: impl Into<String>) -> Self {
        Self {
            role_id: role_id.into(),
            division_id: division_id.into(),
        }
    }
}

/// The body of `POST /api/v2/oauth/clients` and of `PUT /api/v2/oauth/clients/{id}`.
///
/// Absent optional fields take the server default (`accessTokenValiditySeconds`
/// 86400, `state` active). `roleIds` (deprecated) is deliberately not offered:
/// roles go in `role_divisions`.
///
/// `Deserialize` reads a request back from JSON (e.g. one built by overlaying fields on
/// another); keys without a typed field go to `extra`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientRequest {
    /// Display name (required).
    pub name: String,
    /// Grant type (required); `ClientCredentials` for this rotator.
    pub authorized_grant_type: GrantType,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Token lifetime, 300 to 172800 seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_validity_seconds: Option<u32>,
    /// Roles and the divisions they apply in.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub role_divisions: Vec<RoleDivision>,
    /// Redirect URIs (not used by client credentials).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub registered_redirect_uri: Vec<String>,
    /// Scopes (not used by client credentials).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
    /// Lifecycle state; absent means `active` on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ClientState>,
    /// When Genesys should delete the client.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date_to_delete: Option<OffsetDateTime>,
    /// Fields this library does not name, as raw JSON, sent as they are. Keep the keys of
    /// [`REQUEST_FIELDS`] and [`READ_ONLY_FIELDS`] out (a key both typed and here would be sent
    /// twice); [`OAuthClient::to_request`] does.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl OAuthClientRequest {
    /// A client-credentials client with the given name and roles; everything
    /// else at server defaults.
    pub fn client_credentials(name: impl Into<String>, role_divisions: Vec<RoleDivision>) -> Self {
        Self {
            name: name.into(),
            authorized_grant_type: GrantType::ClientCredentials,
            description: None,
            access_token_validity_seconds: None,
            role_divisions,
            registered_redirect_uri: Vec::new(),
            scope: Vec::new(),
            state: None,
            date_to_delete: None,
            extra: Map::new(),
        }
    }
}

/// `{id, selfUri}` references such as `createdBy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EntityRef {
    /// The referenced entity's id.
    pub id: String,
    /// Its name, when Genesys includes it.
    pub name: Option<String>,
    /// Its API URI.
    pub self_uri: Option<String>,
}

/// An OAuth client as Genesys returns it.
///
/// `secret` is present only in the answer to create (and to new-secret).
/// `Debug` shows it as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClient {
    /// The client id (also the OAuth `client_id`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Token lifetime in seconds.
    #[serde(default)]
    pub access_token_validity_seconds: Option<u32>,
    /// The client secret: only in create / new-secret answers.
    #[serde(default)]
    pub secret: Option<SecretString>,
    /// Grant type.
    pub authorized_grant_type: GrantType,
    /// Roles and their divisions.
    #[serde(default, deserialize_with = "null_as_default")]
    pub role_divisions: Vec<RoleDivision>,
    /// Deprecated flat role list; read only.
    #[serde(default, deserialize_with = "null_as_default")]
    pub role_ids: Vec<String>,
    /// Redirect URIs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub registered_redirect_uri: Vec<String>,
    /// Scopes.
    #[serde(default, deserialize_with = "null_as_default")]
    pub scope: Vec<String>,
    /// Lifecycle state (absent is treated by Genesys as active).
    #[serde(default)]
    pub state: Option<ClientState>,
    /// Creation time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub date_created: Option<OffsetDateTime>,
    /// Last modification time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub date_modified: Option<OffsetDateTime>,
    /// Scheduled deletion time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub date_to_delete: Option<OffsetDateTime>,
    /// Who created it.
    #[serde(default)]
    pub created_by: Option<EntityRef>,
    /// Who last modified it.
    #[serde(default)]
    pub modified_by: Option<EntityRef>,
    /// Its API URI.
    #[serde(default)]
    pub self_uri: Option<String>,
    /// Every field this library does not name, as raw JSON (read-only ones such as
    /// `organization` included: [`to_request`](Self::to_request) leaves those out).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl OAuthClient {
    /// The full request body that recreates this client as it is: for a
    /// `PUT`, which replaces the whole client. Change what you need (e.g.
    /// `state`) on the result. Fields this library does not name are copied
    /// as raw JSON; the [`READ_ONLY_FIELDS`] (the deprecated `roleIds`
    /// among them) are not.
    pub fn to_request(&self) -> OAuthClientRequest {
        OAuthClientRequest {
            name: self.name.clone(),
            authorized_grant_type: self.authorized_grant_type.clone(),
            description: self.description.clone(),
            access_token_validity_seconds: self.access_token_validity_seconds,
            role_divisions: self.role_divisions.clone(),
            registered_redirect_uri: self.registered_redirect_uri.clone(),
            scope: self.scope.clone(),
            state: self.state.clone(),
            date_to_delete: self.date_to_delete,
            extra: self
                .extra
                .iter()
                .filter(|(k, _)| !READ_ONLY_FIELDS.contains(&k.as_str()) && !REQUEST_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// The state, with absence read as `active` (the server default).
    pub fn effective_state(&self) -> ClientState {
        self.state.clone().unwrap_or(ClientState::Active)
    }

    /// Whether the client is deleted but still listed: Genesys soft-deletes a client created
    /// more than 30 days ago (inactive, `dateToDelete` set, restorable for 7 days). For
    /// retirement it is gone (never deleted again); it still takes room under the client limit.
    pub fn is_soft_deleted(&self) -> bool {
        self.date_to_delete.is_some() && self.effective_state() != ClientState::Active
    }
}

/// One item of a client listing: a client, or an item this library cannot read as one (before
/// SDK v250 the listing's items were `OAuthClientListing`s, without `authorizedGrantType`; an
/// odd item may lack any other field). Such an item is kept aside, never a failed listing: it
/// counts against the client limit, and since nothing about it can be judged, it is foreign.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ListedItem {
    /// A client.
    Client(Box<OAuthClient>),
    /// Anything else, as raw JSON.
    Undecoded(Value),
}

/// One page of `GET /api/v2/oauth/clients`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientEntityListing {
    /// The items on this page.
    #[serde(default, deserialize_with = "null_as_default")]
    pub entities: Vec<ListedItem>,
    /// Page size.
    #[serde(default)]
    pub page_size: Option<u32>,
    /// 1-based page number.
    #[serde(default)]
    pub page_number: Option<u32>,
    /// Total number of clients.
    #[serde(default)]
    pub total: Option<u64>,
    /// Number of pages.
    #[serde(default)]
    pub page_count: Option<u32>,
    /// The next page, relative to the API base; absent on the last page.
    #[serde(default)]
    pub next_uri: Option<String>,
}

/// The answer of `POST /oauth/token`. `Debug` redacts the token.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: SecretString,
    /// `bearer`.
    #[serde(default)]
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// `{id, name, selfUri}` entities in [`TokenInfo`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NamedEntity {
    /// Id.
    pub id: String,
    /// Name.
    pub name: Option<String>,
    /// API URI.
    pub self_uri: Option<String>,
}

/// The OAuth client a token belongs to, as `GET /api/v2/tokens/me` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TokenInfoClient {
    /// The client id.
    pub id: String,
    /// Its name.
    pub name: Option<String>,
    /// Its organization.
    pub organization: Option<NamedEntity>,
}

/// The answer of `GET /api/v2/tokens/me`: who the token belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TokenInfo {
    /// The organization the token acts in.
    pub organization: Option<NamedEntity>,
    /// The organization that owns the client.
    pub home_organization: Option<NamedEntity>,
    /// Granted scopes.
    #[serde(deserialize_with = "null_as_default")]
    pub authorized_scope: Vec<String>,
    /// The OAuth client the token was issued to (JSON key `OAuthClient`).
    #[serde(rename = "OAuthClient")]
    pub o_auth_client: Option<TokenInfoClient>,
}

/// The error body of the Platform API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorBody {
    /// Human-readable message.
    pub message: Option<String>,
    /// Machine code, e.g. `not.found`, `missing.permissions`.
    pub code: Option<String>,
    /// HTTP status, repeated.
    pub status: Option<u16>,
    /// Correlation id for Genesys support.
    pub context_id: Option<String>,
}

/// The error body of the OAuth token endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct OAuthErrorBody {
    /// e.g. `invalid_client`.
    pub error: Option<String>,
    /// Genesys' description.
    pub description: Option<String>,
    /// The RFC 6749 description.
    pub error_description: Option<String>,
}

/// Reads `null` like an absent field.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use time::macros::datetime;

    const SECRET: &str = "Zx9-SuperSecretClientSecretValue_42";

    fn created_json() -> String {
        format!(
            r#"{{
              "id": "7de3af06-c0b3-4f9b-af45-72f4a1403797",
              "name": "rotator-2025-01-01",
              "description": "made by the rotator",
              "accessTokenValiditySeconds": 86400,
              "authorizedGrantType": "CLIENT-CREDENTIALS",
              "roleIds": ["r1"],
              "roleDivisions": [{{"roleId": "r1", "divisionId": "d1"}}],
              "scope": null,
              "state": "active",
              "secret": "{SECRET}",
              "dateCreated": "2025-01-01T00:00:00.000Z",
              "dateModified": "2025-01-02T03:04:05.678Z",
              "createdBy": {{"id": "u1", "selfUri": "/api/v2/users/u1"}},
              "modifiedBy": {{"id": "u1", "selfUri": "/api/v2/users/u1"}},
              "organization": {{"id": "org"}},
              "someFutureField": {{"nested": [1, 2, 3]}},
              "selfUri": "/api/v2/oauth/clients/7de3af06-c0b3-4f9b-af45-72f4a1403797"
            }}"#
        )
    }

    #[test]
    fn grant_type_wire_values_are_exact() {
        let cases = [
            (GrantType::Code, "\"CODE\""),
            (GrantType::Token, "\"TOKEN\""),
            (GrantType::Saml2Bearer, "\"SAML2-BEARER\""),
            (GrantType::Password, "\"PASSWORD\""),
            (GrantType::ClientCredentials, "\"CLIENT-CREDENTIALS\""),
        ];
        for (value, wire) in cases {
            assert_eq!(serde_json::to_string(&value).unwrap(), wire);
            assert_eq!(serde_json::from_str::<GrantType>(wire).unwrap(), value);
        }
        // The underscore form is not the same value: it stays unknown.
        let odd: GrantType = serde_json::from_str("\"CLIENT_CREDENTIALS\"").unwrap();
        assert_eq!(odd, GrantType::Other("CLIENT_CREDENTIALS".into()));
        assert_eq!(serde_json::to_string(&odd).unwrap(), "\"CLIENT_CREDENTIALS\"");
    }

    #[test]
    fn client_state_wire_values_round_trip() {
        for (value, wire) in [
            (ClientState::Active, "\"active\""),
            (ClientState::Inactive, "\"inactive\""),
            (ClientState::Disabled, "\"disabled\""),
            (ClientState::Deleted, "\"deleted\""),
            (ClientState::Other("paused".into()), "\"paused\""),
        ] {
            assert_eq!(serde_json::to_string(&value).unwrap(), wire);
            assert_eq!(serde_json::from_str::<ClientState>(wire).unwrap(), value);
        }
    }

    #[test]
    fn minimal_request_sends_only_required_fields() {
        let req = OAuthClientRequest::client_credentials("n", vec![]);
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            serde_json::json!({"name": "n", "authorizedGrantType": "CLIENT-CREDENTIALS"})
        );
    }

    #[test]
    fn full_request_is_camel_case() {
        let mut req = OAuthClientRequest::client_credentials("n", vec![RoleDivision::new("r", "d")]);
        req.description = Some("x".into());
        req.access_token_validity_seconds = Some(3600);
        req.state = Some(ClientState::Inactive);
        req.date_to_delete = Some(datetime!(2025-03-01 00:00:00 UTC));
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            serde_json::json!({
                "name": "n",
                "authorizedGrantType": "CLIENT-CREDENTIALS",
                "description": "x",
                "accessTokenValiditySeconds": 3600,
                "roleDivisions": [{"roleId": "r", "divisionId": "d"}],
                "state": "inactive",
                "dateToDelete": "2025-03-01T00:00:00Z"
            })
        );
    }

    #[test]
    fn realistic_client_deserializes() {
        let c: OAuthClient = serde_json::from_str(&created_json()).unwrap();
        assert_eq!(c.id, "7de3af06-c0b3-4f9b-af45-72f4a1403797");
        assert_eq!(c.authorized_grant_type, GrantType::ClientCredentials);
        assert_eq!(c.state, Some(ClientState::Active));
        assert_eq!(c.date_created, Some(datetime!(2025-01-01 00:00:00 UTC)));
        assert_eq!(c.date_modified, Some(datetime!(2025-01-02 03:04:05.678 UTC)));
        assert_eq!(c.role_divisions, vec![RoleDivision::new("r1", "d1")]);
        assert!(c.scope.is_empty());
        assert_eq!(c.created_by.as_ref().unwrap().id, "u1");
        assert_eq!(c.secret.as_ref().unwrap().expose_secret(), SECRET);
    }

    #[test]
    fn sparse_client_deserializes() {
        let c: OAuthClient =
            serde_json::from_str(r#"{"id":"a","name":"b","authorizedGrantType":"CODE","dateCreated":null}"#).unwrap();
        assert!(c.secret.is_none());
        assert!(c.state.is_none());
        assert_eq!(c.effective_state(), ClientState::Active);
        assert!(c.date_created.is_none());
    }

    #[test]
    fn client_debug_does_not_print_the_secret() {
        let c: OAuthClient = serde_json::from_str(&created_json()).unwrap();
        let printed = format!("{c:?} {c:#?}");
        assert!(!printed.contains(SECRET), "{printed}");
        assert!(printed.contains("7de3af06"));
    }

    #[test]
    fn to_request_copies_everything_but_the_secret() {
        // GIVEN a created client
        let c: OAuthClient = serde_json::from_str(&created_json()).unwrap();
        // WHEN it is turned into a PUT body to deactivate it
        let mut req = c.to_request();
        req.state = Some(ClientState::Inactive);
        let body = serde_json::to_value(&req).unwrap();
        // THEN the body keeps the client's settings and carries no secret
        assert_eq!(
            body,
            serde_json::json!({
                "name": "rotator-2025-01-01",
                "authorizedGrantType": "CLIENT-CREDENTIALS",
                "description": "made by the rotator",
                "accessTokenValiditySeconds": 86400,
                "roleDivisions": [{"roleId": "r1", "divisionId": "d1"}],
                "state": "inactive",
                "someFutureField": {"nested": [1, 2, 3]}
            })
        );
        assert!(!body.to_string().contains(SECRET));
    }

    #[test]
    fn unknown_fields_survive_get_to_request_to_post_and_read_only_ones_do_not() {
        // GIVEN a client as GET answers it, with a field this library does not know and the
        // read-only fields Genesys sets
        let c: OAuthClient = serde_json::from_value(serde_json::json!({
            "id": "c1", "name": "n", "authorizedGrantType": "CLIENT-CREDENTIALS",
            "allowedIpAddresses": ["10.0.0.0/8", "192.0.2.7"],
            "futureFlag": true,
            "organization": {"id": "org"},
            "dateCreated": "2025-01-01T00:00:00.000Z",
            "selfUri": "/api/v2/oauth/clients/c1",
            "roleIds": ["r1"]
        }))
        .unwrap();
        assert_eq!(c.extra.len(), 3, "unknown ones kept, organization among them");
        // WHEN it becomes a request
        let body = serde_json::to_value(c.to_request()).unwrap();
        // THEN the unknown fields go with it, as they were, and no read-only field does
        assert_eq!(
            body["allowedIpAddresses"],
            serde_json::json!(["10.0.0.0/8", "192.0.2.7"])
        );
        assert_eq!(body["futureFlag"], serde_json::json!(true));
        for key in READ_ONLY_FIELDS {
            assert!(body.get(*key).is_none(), "{key} copied");
        }
        // AND the request reads back the same (keys without a typed field land in extra)
        let back: OAuthClientRequest = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), body);
        assert_eq!(back.extra.len(), 2);
    }

    #[test]
    fn listing_token_and_error_bodies() {
        let page: OAuthClientEntityListing = serde_json::from_str(
            r#"{"entities":[{"id":"a","name":"b","authorizedGrantType":"FUTURE-GRANT"}],
                "pageSize":25,"pageNumber":1,"total":1,"pageCount":1,
                "firstUri":"/api/v2/oauth/clients?pageNumber=1"}"#,
        )
        .unwrap();
        assert_eq!(page.entities.len(), 1);
        let ListedItem::Client(client) = &page.entities[0] else {
            panic!("{:?}", page.entities[0])
        };
        assert_eq!(client.authorized_grant_type, GrantType::Other("FUTURE-GRANT".into()));
        // An item of the old listing model (no authorizedGrantType) is kept aside, not an error.
        let old: OAuthClientEntityListing =
            serde_json::from_str(r#"{"entities":[{"id":"a","name":"b"},{"name":"no id"}],"total":2}"#).unwrap();
        assert!(old.entities.iter().all(|e| matches!(e, ListedItem::Undecoded(_))));
        assert!(page.next_uri.is_none());

        let t: TokenResponse =
            serde_json::from_str(r#"{"access_token":"tok-VALUE-xyz","token_type":"bearer","expires_in":86399}"#)
                .unwrap();
        assert_eq!(t.expires_in, 86399);
        assert!(!format!("{t:?}").contains("tok-VALUE-xyz"));

        let info: TokenInfo = serde_json::from_str(
            r#"{"organization":{"id":"o","name":"Org"},"homeOrganization":{"id":"o"},
                "authorizedScope":["oauth"],"OAuthClient":{"id":"c1","name":"n",
                "organization":{"id":"o"}},"clonedUser":null}"#,
        )
        .unwrap();
        assert_eq!(info.o_auth_client.unwrap().id, "c1");
        assert_eq!(info.authorized_scope, vec!["oauth"]);

        let e: ErrorBody = serde_json::from_str(
            r#"{"message":"no","code":"not.found","status":404,"contextId":"ctx",
                "details":[],"errors":[],"messageParams":{}}"#,
        )
        .unwrap();
        assert_eq!(e.code.as_deref(), Some("not.found"));
        assert_eq!(e.context_id.as_deref(), Some("ctx"));

        let o: OAuthErrorBody =
            serde_json::from_str(r#"{"error":"invalid_client","description":"bad","error_description":"bad client"}"#)
                .unwrap();
        assert_eq!(o.error.as_deref(), Some("invalid_client"));
    }

    #[test]
    fn a_role_reads_as_the_sdk_shapes_it_and_keeps_unknown_fields() {
        // GIVEN a DomainOrganizationRole as the SDK documents it, with a field it does not name
        let role: OrganizationRole = serde_json::from_value(serde_json::json!({
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
        assert_eq!(role.permission_policies[0].extra["policyName"], serde_json::json!("p"));
        assert!(role.extra.contains_key("somethingNew"));
        // AND a bare or null-filled role reads as granting nothing
        let bare: OrganizationRole =
            serde_json::from_value(serde_json::json!({"id": "r2", "permissions": null, "permissionPolicies": null}))
                .unwrap();
        assert!(bare.granted().is_empty());
    }
}
