//! The JSON shapes of the Genesys Cloud integration credentials API
//! (`/api/v2/integrations/credentials/{credentialId}`), per the official SDK's models
//! `Credential`, `CredentialInfo` and `CredentialType`.
//!
//! A Data Actions integration (and others) keeps an OAuth client's id and secret in a credential
//! of type [`OAUTH_CLIENT_CREDENTIAL_TYPE`]. A `PUT` replaces the whole credential, so the body
//! is built from what the `GET` answered ([`Credential::with_client`]): fields this library does
//! not name, at the top level, in `type` and in `credentialFields`, go back as they came.
//!
//! `credentialFields` may hold secrets (the SDK types it as a map of strings; whether the `GET`
//! returns the secret ones is not documented): `Debug` shows only their names.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// The credential type Genesys Cloud Data Actions use for an OAuth client (`type.name`).
pub const OAUTH_CLIENT_CREDENTIAL_TYPE: &str = "pureCloudOAuthClient";
/// The field of an [`OAUTH_CLIENT_CREDENTIAL_TYPE`] credential that holds the client id.
pub const CREDENTIAL_CLIENT_ID_FIELD: &str = "clientId";
/// The field of an [`OAUTH_CLIENT_CREDENTIAL_TYPE`] credential that holds the client secret.
pub const CREDENTIAL_CLIENT_SECRET_FIELD: &str = "clientSecret";

/// The fields of a [`Credential`] answer that Genesys sets and that a `PUT` never sends back
/// (the SDK's `Credential` has `id` and `selfUri`; `CredentialInfo` adds the dates).
pub const CREDENTIAL_READ_ONLY_FIELDS: &[&str] = &["id", "selfUri", "createdDate", "modifiedDate"];

/// A credential's type (`CredentialType`): a request names it by `name`; an answer may add
/// `id`, `properties`, `displayOrder`, `required`, kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialType {
    /// The type's name, e.g. [`OAUTH_CLIENT_CREDENTIAL_TYPE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every other field, as raw JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GET /api/v2/integrations/credentials/{credentialId}` (the SDK's `Credential`).
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// The credential id.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The type.
    #[serde(default, rename = "type")]
    pub credential_type: Option<CredentialType>,
    /// The type's fields as the answer gives them (secret ones perhaps left out or masked).
    /// Values are kept as raw JSON, so that an odd one (`null`) neither fails the read nor is
    /// rewritten.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub credential_fields: Map<String, Value>,
    /// Its API URI.
    #[serde(default)]
    pub self_uri: Option<String>,
    /// Every field this library does not name, as raw JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("type", &self.type_name())
            .field("credential_fields", &self.credential_fields.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// `type.name`, if the answer gave one.
    pub fn type_name(&self) -> Option<&str> {
        self.credential_type.as_ref()?.name.as_deref()
    }

    /// The client id an [`OAUTH_CLIENT_CREDENTIAL_TYPE`] credential holds, if the answer shows
    /// it as a non-empty string.
    pub fn client_id(&self) -> Option<&str> {
        self.credential_fields
            .get(CREDENTIAL_CLIENT_ID_FIELD)?
            .as_str()
            .filter(|s| !s.trim().is_empty())
    }

    /// The full `PUT` body that makes this credential hold `client_id` and `secret`: its name,
    /// type and other fields as answered (unknown ones included, read-only ones left out), with
    /// the client's two fields replaced.
    pub fn with_client(&self, client_id: &str, secret: &SecretString) -> CredentialRequest {
        let mut fields = self.credential_fields.clone();
        fields.insert(CREDENTIAL_CLIENT_ID_FIELD.into(), Value::String(client_id.to_owned()));
        fields.insert(
            CREDENTIAL_CLIENT_SECRET_FIELD.into(),
            Value::String(secret.expose_secret().to_owned()),
        );
        CredentialRequest {
            name: self.name.clone(),
            credential_type: self.credential_type.clone().unwrap_or_default(),
            credential_fields: fields,
            extra: self
                .extra
                .iter()
                .filter(|(k, _)| !CREDENTIAL_READ_ONLY_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

/// The body of `PUT /api/v2/integrations/credentials/{credentialId}` (the SDK's `Credential`
/// without its read-only fields). Holds a secret: `Debug` shows only the field names.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRequest {
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The type (required by the API).
    #[serde(rename = "type")]
    pub credential_type: CredentialType,
    /// The type's fields.
    pub credential_fields: Map<String, Value>,
    /// Fields this library does not name, sent back as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl fmt::Debug for CredentialRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialRequest")
            .field("name", &self.name)
            .field("type", &self.credential_type.name)
            .field("credential_fields", &self.credential_fields.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The answer to a credential `PUT` (the SDK's `CredentialInfo`): no fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialInfo {
    /// The credential id.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Creation time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_date: Option<OffsetDateTime>,
    /// Last modification time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub modified_date: Option<OffsetDateTime>,
    /// The type.
    #[serde(default, rename = "type")]
    pub credential_type: Option<CredentialType>,
    /// Its API URI.
    #[serde(default)]
    pub self_uri: Option<String>,
    /// Every field this library does not name, as raw JSON.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer() -> Credential {
        serde_json::from_value(json!({
            "id": "cred-1",
            "name": "CRM data actions",
            "type": {"id": "t-1", "name": "pureCloudOAuthClient", "required": ["clientId", "clientSecret"]},
            "credentialFields": {"clientId": "old-client", "region": "ie"},
            "selfUri": "/api/v2/integrations/credentials/cred-1",
            "createdDate": "2025-01-01T00:00:00.000Z",
            "futureField": {"kept": true}
        }))
        .unwrap()
    }

    #[test]
    fn a_put_body_keeps_what_it_does_not_know_and_replaces_the_client() {
        let body = answer().with_client("new-client", &SecretString::from("n3w-s3cret"));
        let wire = serde_json::to_value(&body).unwrap();
        assert_eq!(
            wire,
            json!({
                "name": "CRM data actions",
                "type": {"id": "t-1", "name": "pureCloudOAuthClient", "required": ["clientId", "clientSecret"]},
                "credentialFields": {"clientId": "new-client", "clientSecret": "n3w-s3cret", "region": "ie"},
                "futureField": {"kept": true}
            })
        );
        // Debug never shows a field's value.
        let shown = format!("{body:?} {:?}", answer());
        assert!(
            !shown.contains("n3w-s3cret") && !shown.contains("old-client"),
            "{shown}"
        );
    }

    #[test]
    fn the_client_id_is_read_only_from_a_non_empty_string() {
        assert_eq!(answer().client_id(), Some("old-client"));
        assert_eq!(answer().type_name(), Some(OAUTH_CLIENT_CREDENTIAL_TYPE));
        for fields in [json!(null), json!({}), json!({"clientId": ""}), json!({"clientId": 7})] {
            let c: Credential =
                serde_json::from_value(json!({"id": "c", "type": {"name": "x"}, "credentialFields": fields})).unwrap();
            assert_eq!(c.client_id(), None, "{fields}");
        }
        let info: CredentialInfo = serde_json::from_value(json!({
            "id": "cred-1", "name": "n", "createdDate": "2025-01-01T00:00:00.000Z",
            "modifiedDate": "2025-01-02T00:00:00Z", "type": {"name": "pureCloudOAuthClient"}, "selfUri": "/x"
        }))
        .unwrap();
        assert_eq!(info.id.as_deref(), Some("cred-1"));
    }
}
