//! Integration credentials (`/api/v2/integrations/credentials`): the copies of a client id and
//! secret (and other integrations' keys) that Genesys keeps for Data Actions and other
//! integrations. Wire models as the official SDK names them (`Credential`, `CredentialInfo`,
//! `CredentialInfoListing`, `CredentialType`), the seeds and records of the admin API, and the
//! rules, free of HTTP.
//!
//! Choices where the real API is undocumented:
//! - A `GET` of one credential answers its `credentialFields` without the type's secret fields
//!   (`clientSecret`, `password`): the Genesys UI shows them masked and the Terraform provider
//!   never reads fields back. The client id is shown, unless
//!   [`crate::EmulatorConfig::credential_get_hides_client_id`] is set (which fields the real GET
//!   redacts is undocumented): then `clientId` is left out too.
//! - A `PUT` (or `POST`) names a type this emulator knows ([`KNOWN_TYPES`]) and carries each of
//!   its required fields as a non-empty string, or is a 400 `bad.request` naming what is wrong;
//!   every field value must be a string (the SDK's `dict(str, str)`). It replaces name, type and
//!   fields; keys the SDK does not name are ignored.
//! - Permissions (Genesys announcement of 2024-07-01): `GET` needs
//!   `integrations:integration:view`, `POST` `...:add`, `PUT` `...:edit`, `DELETE` `...:delete`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::clock::genesys_time;
use crate::error::ApiError;

/// The collection's URI.
pub const CREDENTIALS_URI: &str = "/api/v2/integrations/credentials";

/// Credential types the emulator knows: name, required fields, secret fields (never answered).
pub const KNOWN_TYPES: &[(&str, &[&str], &[&str])] = &[
    ("pureCloudOAuthClient", &["clientId", "clientSecret"], &["clientSecret"]),
    ("basicAuth", &["userName"], &["password"]),
    ("userDefined", &[], &[]),
    ("userDefinedOAuth", &[], &[]),
];

/// `CredentialType` (a request names it by `name`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialType {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<Vec<String>>,
}

/// `Credential`: the body of `POST`/`PUT` and the answer to `GET` one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub credential_type: Option<CredentialType>,
    /// Raw JSON, so a value that is no string is refused with a 400 rather than a parse error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_fields: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// `CredentialInfo`: the answer to `POST`/`PUT` and the listing's entities.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialInfo {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(with = "genesys_time")]
    pub created_date: OffsetDateTime,
    #[serde(with = "genesys_time")]
    pub modified_date: OffsetDateTime,
    #[serde(rename = "type")]
    pub credential_type: CredentialType,
    pub self_uri: String,
}

/// `CredentialInfoListing`: one page of `GET /api/v2/integrations/credentials`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialInfoListing {
    pub entities: Vec<CredentialInfo>,
    pub page_size: u64,
    pub page_number: u64,
    pub total: u64,
    pub page_count: u64,
    pub first_uri: String,
    pub last_uri: String,
    pub self_uri: String,
}

/// Body of `POST /__admin/credentials` (and [`crate::Emulator::seed_credential`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedCredential {
    pub name: String,
    /// E.g. `"pureCloudOAuthClient"`; not checked, so a test can plant any type.
    pub type_name: String,
    pub fields: BTreeMap<String, String>,
}

impl SeedCredential {
    /// A `pureCloudOAuthClient` credential holding `client_id` and `secret`.
    pub fn oauth_client(name: impl Into<String>, client_id: &str, secret: &str) -> Self {
        SeedCredential {
            name: name.into(),
            type_name: "pureCloudOAuthClient".into(),
            fields: BTreeMap::from([
                ("clientId".to_string(), client_id.to_string()),
                ("clientSecret".to_string(), secret.to_string()),
            ]),
        }
    }
}

/// Inventory view of one credential, secret fields included (`GET /__admin/credentials`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRecord {
    pub id: String,
    pub name: String,
    pub type_name: String,
    pub fields: BTreeMap<String, String>,
    /// How many times a `PUT` replaced it.
    pub updates: u32,
    #[serde(with = "genesys_time")]
    pub modified_date: OffsetDateTime,
}

#[derive(Clone, Debug)]
struct Stored {
    id: String,
    name: String,
    type_name: String,
    fields: BTreeMap<String, String>,
    updates: u32,
    created: OffsetDateTime,
    modified: OffsetDateTime,
}

impl Stored {
    fn uri(&self) -> String {
        format!("{CREDENTIALS_URI}/{}", self.id)
    }

    fn info(&self) -> CredentialInfo {
        CredentialInfo {
            id: self.id.clone(),
            name: Some(self.name.clone()),
            created_date: self.created,
            modified_date: self.modified,
            credential_type: CredentialType {
                name: Some(self.type_name.clone()),
                ..CredentialType::default()
            },
            self_uri: self.uri(),
        }
    }

    /// The answer to a GET: no secret field, and no `clientId` if `hide_client_id`.
    fn to_wire(&self, hide_client_id: bool) -> Credential {
        let secret = secret_fields(&self.type_name);
        let fields = self
            .fields
            .iter()
            .filter(|(k, _)| {
                let hidden = secret.contains(&k.as_str()) || (hide_client_id && k.as_str() == "clientId");
                !hidden
            })
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        Credential {
            id: Some(self.id.clone()),
            name: Some(self.name.clone()),
            credential_type: Some(CredentialType {
                name: Some(self.type_name.clone()),
                ..CredentialType::default()
            }),
            credential_fields: Some(fields),
            self_uri: Some(self.uri()),
        }
    }

    fn record(&self) -> CredentialRecord {
        CredentialRecord {
            id: self.id.clone(),
            name: self.name.clone(),
            type_name: self.type_name.clone(),
            fields: self.fields.clone(),
            updates: self.updates,
            modified_date: self.modified,
        }
    }
}

fn secret_fields(type_name: &str) -> &'static [&'static str] {
    KNOWN_TYPES
        .iter()
        .find(|(name, _, _)| *name == type_name)
        .map(|(_, _, secret)| *secret)
        .unwrap_or(&[])
}

/// The org's credentials, in creation order.
#[derive(Debug, Default)]
pub(crate) struct Credentials {
    items: Vec<Stored>,
}

/// A valid `POST`/`PUT` body: name, type name, fields.
type Spec = (String, String, BTreeMap<String, String>);

fn validate(body: Credential) -> Result<Spec, ApiError> {
    let type_name = body
        .credential_type
        .and_then(|t| t.name)
        .ok_or_else(|| ApiError::bad_request("The credential type is required (type.name)."))?;
    let (_, required, _) = KNOWN_TYPES
        .iter()
        .find(|(name, _, _)| *name == type_name)
        .ok_or_else(|| ApiError::bad_request(format!("Unknown credential type {type_name}.")))?;
    let mut fields = BTreeMap::new();
    for (key, value) in body.credential_fields.unwrap_or_default() {
        match value {
            Value::String(s) => {
                fields.insert(key, s);
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Credential field {key} must be a string."
                )))
            }
        }
    }
    for field in *required {
        if fields.get(*field).is_none_or(|v| v.trim().is_empty()) {
            return Err(ApiError::bad_request(format!(
                "Credential field {field} is required for type {type_name}."
            )));
        }
    }
    Ok((body.name.unwrap_or_default(), type_name, fields))
}

impl Credentials {
    pub(crate) fn seed(&mut self, seed: SeedCredential, now: OffsetDateTime) -> CredentialRecord {
        let stored = Stored {
            id: uuid::Uuid::new_v4().to_string(),
            name: seed.name,
            type_name: seed.type_name,
            fields: seed.fields,
            updates: 0,
            created: now,
            modified: now,
        };
        let record = stored.record();
        self.items.push(stored);
        record
    }

    pub(crate) fn records(&self) -> Vec<CredentialRecord> {
        self.items.iter().map(Stored::record).collect()
    }

    pub(crate) fn list(&self) -> CredentialInfoListing {
        let n = self.items.len() as u64;
        let page_uri = format!("{CREDENTIALS_URI}?pageSize={n}&pageNumber=1");
        CredentialInfoListing {
            entities: self.items.iter().map(Stored::info).collect(),
            page_size: n,
            page_number: 1,
            total: n,
            page_count: 1,
            first_uri: page_uri.clone(),
            last_uri: page_uri.clone(),
            self_uri: page_uri,
        }
    }

    pub(crate) fn get(&self, id: &str, hide_client_id: bool) -> Result<Credential, ApiError> {
        self.items
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.to_wire(hide_client_id))
            .ok_or_else(|| ApiError::not_found(id))
    }

    pub(crate) fn create(&mut self, body: Credential, now: OffsetDateTime) -> Result<CredentialInfo, ApiError> {
        let (name, type_name, fields) = validate(body)?;
        let record = self.seed(
            SeedCredential {
                name,
                type_name,
                fields,
            },
            now,
        );
        Ok(self
            .items
            .iter()
            .find(|c| c.id == record.id)
            .expect("just added")
            .info())
    }

    /// 404 before 400: the order the client API answers in.
    pub(crate) fn update(
        &mut self,
        id: &str,
        body: Credential,
        now: OffsetDateTime,
    ) -> Result<CredentialInfo, ApiError> {
        let index = self
            .items
            .iter()
            .position(|c| c.id == id)
            .ok_or_else(|| ApiError::not_found(id))?;
        let (name, type_name, fields) = validate(body)?;
        let stored = &mut self.items[index];
        stored.name = name;
        stored.type_name = type_name;
        stored.fields = fields;
        stored.updates += 1;
        stored.modified = now;
        Ok(stored.info())
    }

    pub(crate) fn delete(&mut self, id: &str) -> Result<(), ApiError> {
        let before = self.items.len();
        self.items.retain(|c| c.id != id);
        if self.items.len() == before {
            return Err(ApiError::not_found(id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Credential {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_get_hides_secret_fields_and_a_put_replaces_the_credential() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut c = Credentials::default();
        let id = c
            .seed(SeedCredential::oauth_client("crm", "client-1", "s3cret"), now)
            .id;
        let got = serde_json::to_value(c.get(&id, false).unwrap()).unwrap();
        assert_eq!(got["credentialFields"], json!({"clientId": "client-1"}));
        let hidden = serde_json::to_value(c.get(&id, true).unwrap()).unwrap();
        assert_eq!(hidden["credentialFields"], json!({}), "clientId hidden when asked");
        assert_eq!(got["type"], json!({"name": "pureCloudOAuthClient"}));
        let info = c
            .update(
                &id,
                body(json!({"name": "crm", "type": {"name": "pureCloudOAuthClient"},
                            "credentialFields": {"clientId": "client-2", "clientSecret": "n3w"}})),
                now,
            )
            .unwrap();
        assert_eq!(info.id, id);
        let rec = &c.records()[0];
        assert_eq!(
            (rec.fields["clientId"].as_str(), rec.fields["clientSecret"].as_str()),
            ("client-2", "n3w")
        );
        assert_eq!(rec.updates, 1);
    }

    #[test]
    fn bad_bodies_and_unknown_ids_are_refused_and_change_nothing() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut c = Credentials::default();
        let id = c
            .seed(SeedCredential::oauth_client("crm", "client-1", "s3cret"), now)
            .id;
        for bad in [
            json!({"credentialFields": {"clientId": "x", "clientSecret": "y"}}),
            json!({"type": {"name": "noSuchType"}, "credentialFields": {}}),
            json!({"type": {"name": "pureCloudOAuthClient"}, "credentialFields": {"clientId": "x"}}),
            json!({"type": {"name": "pureCloudOAuthClient"}, "credentialFields": {"clientId": "x", "clientSecret": 1}}),
        ] {
            let e = c.update(&id, body(bad.clone()), now).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
        }
        assert_eq!(c.update("nope", body(json!({})), now).unwrap_err().status, 404);
        assert_eq!(c.records()[0].updates, 0);
        assert_eq!(c.delete("nope").unwrap_err().status, 404);
        c.delete(&id).unwrap();
        assert!(c.records().is_empty());
    }
}
