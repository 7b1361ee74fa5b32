//! Wire models of the Genesys Cloud API, as the official SDK (`PureCloudPlatformClientV2` v269:
//! `OAuthClientRequest`, `OAuthClient`, `OAuthClientEntityListing`, `TokenInfo`, `OrgOAuthClient`,
//! `RoleDivision`, `DomainEntityRef`, `NamedEntity`, `ErrorBody`, `DomainOrganizationRole`,
//! `DomainPermissionPolicy`) names them, plus the login
//! host's `/oauth/token` answers.
//!
//! Every JSON key is camelCase like the real API, except the token endpoint (snake_case, as OAuth
//! 2.0 defines it) and `TokenInfo.OAuthClient` (capitalised in the real API and the SDK).
//! The models derive both `Serialize` and `Deserialize` so Rust tests can parse the emulator's
//! answers with the same types it writes them with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::clock::genesys_time;

/// `state` of an OAuth client.
///
/// `active` is the default; `disabled` invalidates existing tokens and refuses new ones;
/// `inactive` refuses new tokens but lets existing ones run until they expire (inferred from the
/// docs' wording, see REFERENCE.md) and is the only state in which a client may be deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientState {
    #[default]
    Active,
    Inactive,
    Disabled,
}

impl ClientState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientState::Active => "active",
            ClientState::Inactive => "inactive",
            ClientState::Disabled => "disabled",
        }
    }
}

/// `authorizedGrantType`: exactly these spellings (hyphens, not underscores); anything else is a
/// 400 from the real API, which serde reproduces by refusing to parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GrantType {
    #[serde(rename = "CODE")]
    Code,
    #[serde(rename = "TOKEN")]
    Token,
    #[serde(rename = "SAML2-BEARER")]
    Saml2Bearer,
    #[serde(rename = "PASSWORD")]
    Password,
    #[serde(rename = "CLIENT-CREDENTIALS")]
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::Code => "CODE",
            GrantType::Token => "TOKEN",
            GrantType::Saml2Bearer => "SAML2-BEARER",
            GrantType::Password => "PASSWORD",
            GrantType::ClientCredentials => "CLIENT-CREDENTIALS",
        }
    }
}

/// A role granted in a division (`RoleDivision`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDivision {
    pub role_id: String,
    pub division_id: String,
}

/// `DomainEntityRef` as used by `createdBy` / `modifiedBy`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UriReference {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// Body of `POST /api/v2/oauth/clients` and `PUT /api/v2/oauth/clients/{id}`.
///
/// Fields the SDK does not name are kept in `extra` and stored with the client, as the real API
/// keeps a field it knows and the SDK does not yet (the allowed IP addresses of 2026); the
/// response-only ones ([`READ_ONLY_FIELDS`]) are ignored.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientRequest {
    pub name: String,
    pub authorized_grant_type: GrantType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Checked against 300..=172800 by the store, so a bad value gets a readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_validity_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_redirect_uri: Option<Vec<String>>,
    /// Deprecated in the real API in favour of `roleDivisions`; still honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_divisions: Option<Vec<RoleDivision>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ClientState>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "genesys_time::option")]
    pub date_to_delete: Option<OffsetDateTime>,
    /// Every other field, as raw JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Fields of an [`OAuthClient`] answer that the server sets: a request carrying them is not
/// refused, but they are not stored.
pub const READ_ONLY_FIELDS: &[&str] = &[
    "id",
    "secret",
    "dateCreated",
    "dateModified",
    "createdBy",
    "modifiedBy",
    "selfUri",
    "organization",
];

/// `OAuthClient`: the answer of create, read, update and new-secret.
///
/// `secret` is present only in the answers of create and new-secret (the real API's behaviour
/// since mid-2025).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClient {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub access_token_validity_seconds: u32,
    #[serde(default)]
    pub registered_redirect_uri: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default)]
    pub role_ids: Vec<String>,
    #[serde(with = "genesys_time")]
    pub date_created: OffsetDateTime,
    #[serde(with = "genesys_time")]
    pub date_modified: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<UriReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_by: Option<UriReference>,
    pub authorized_grant_type: GrantType,
    #[serde(default)]
    pub scope: Vec<String>,
    #[serde(default)]
    pub role_divisions: Vec<RoleDivision>,
    pub state: ClientState,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "genesys_time::option")]
    pub date_to_delete: Option<OffsetDateTime>,
    pub self_uri: String,
    /// Fields stored from the create or update body that the SDK does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `OAuthClientEntityListing`: the answer of `GET /api/v2/oauth/clients`.
///
/// The real endpoint takes no paging parameters and answers everything on one page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientEntityListing {
    pub entities: Vec<OAuthClient>,
    pub page_size: u64,
    pub page_number: u64,
    pub total: u64,
    pub page_count: u64,
    pub first_uri: String,
    pub last_uri: String,
    pub self_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_uri: Option<String>,
}

/// `NamedEntity` (the SDK model has `id` and `name`; the API also sends `selfUri`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedEntity {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// `OrgOAuthClient`: the client behind a token, inside `TokenInfo`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgOAuthClient {
    pub id: String,
    pub name: String,
    #[serde(with = "genesys_time")]
    pub date_created: OffsetDateTime,
    #[serde(with = "genesys_time")]
    pub date_modified: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<UriReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_by: Option<UriReference>,
    pub authorized_grant_type: GrantType,
    #[serde(default)]
    pub scope: Vec<String>,
    #[serde(default)]
    pub role_divisions: Vec<RoleDivision>,
    pub state: ClientState,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "genesys_time::option")]
    pub date_to_delete: Option<OffsetDateTime>,
    pub organization: NamedEntity,
}

/// `TokenInfo`: the answer of `GET /api/v2/tokens/me`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    pub organization: NamedEntity,
    pub home_organization: NamedEntity,
    pub authorized_scope: Vec<String>,
    /// Capitalised exactly like this in the API and in the SDK's `attribute_map`.
    #[serde(rename = "OAuthClient")]
    pub o_auth_client: OrgOAuthClient,
}

/// `DomainPermissionPolicy`: the actions of a role on one `domain:entityName`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainPermissionPolicy {
    pub domain: String,
    pub entity_name: String,
    pub action_set: Vec<String>,
    pub allow_conditions: bool,
}

/// `DomainOrganizationRole`: the answer of `GET /api/v2/authorization/roles/{roleId}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainOrganizationRole {
    pub id: String,
    pub name: String,
    pub permissions: Vec<String>,
    pub permission_policies: Vec<DomainPermissionPolicy>,
    pub default: bool,
    pub base: bool,
    pub self_uri: String,
}

/// `ErrorBody`: every non-2xx answer under `/api/v2`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub message: String,
    pub code: String,
    pub status: u16,
    pub context_id: String,
    #[serde(default)]
    pub details: Vec<serde_json::Value>,
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
    #[serde(default)]
    pub message_params: BTreeMap<String, String>,
}

/// Form body of `POST /oauth/token`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TokenRequest {
    #[serde(default)]
    pub grant_type: Option<String>,
}

/// Success answer of `POST /oauth/token`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `"bearer"` (lower case, as the real login host sends it).
    pub token_type: String,
    pub expires_in: u32,
}

/// Error answer of `POST /oauth/token`: the login host sends both `description` and the OAuth 2.0
/// standard `error_description`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthErrorResponse {
    pub error: String,
    pub description: String,
    pub error_description: String,
}
