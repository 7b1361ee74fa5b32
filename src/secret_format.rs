//! The JSON the secrets hold, validated: an integration secret ([`IntegrationSecret`]: the current
//! credential plus what is needed to make the next one: region, master secret, name prefix,
//! roles, token lifetime, the integration credentials inside Genesys to keep in step) and a master secret ([`MasterSecret`]). Fields this tool does not know
//! are kept and carried into the next version. Every error names the field and never quotes a
//! secret value. The format for users: docs/users/secret-format.md.

use secrecy::SecretString;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::config::validate_secret_arn;
use genesys_core::genesys::{OAuthClientRequest, RoleDivision, READ_ONLY_FIELDS};
use genesys_core::guard::Proof;
use genesys_core::region::Region;
use genesys_core::secret::ClientCredentials;

pub use genesys_core::domain::{
    ClientId, CredentialId, NamePrefix, TokenLifetime, DEFAULT_TOKEN_LIFETIME_SECONDS, MAX_PREFIX_LEN,
    TOKEN_LIFETIME_RANGE,
};

/// Why a secret's value is unusable. None of these can be fixed by retrying.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SecretFormatError {
    /// The secret's value is not a JSON object.
    #[error("secret value is not a JSON object: {0}")]
    NotJson(String),
    /// A required field is absent or null.
    #[error("secret field `{0}` is missing")]
    MissingField(&'static str),
    /// A field is present but unusable.
    #[error("secret field `{field}` is invalid: {reason}")]
    InvalidField {
        /// The JSON field name, as written in the secret.
        field: &'static str,
        /// What is wrong with it. Never contains the value of a secret field.
        reason: String,
    },
}

fn invalid(field: &'static str, reason: impl Into<String>) -> SecretFormatError {
    SecretFormatError::InvalidField {
        field,
        reason: reason.into(),
    }
}

/// The fields of a new client the rotator sets itself (from `namePrefix`, `description` with its
/// ownership marker, `tokenLifetimeSeconds`, `roleDivisions`; the grant is always client
/// credentials and the client starts active): `clientFields` may not set them, and they are never
/// carried from the current client.
pub const ROTATOR_OWNED_FIELDS: &[&str] = &[
    "name",
    "description",
    "authorizedGrantType",
    "state",
    "dateToDelete",
    "accessTokenValiditySeconds",
    "roleDivisions",
];

/// The non-secret settings of an integration secret: what is needed to make its next client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationSettings {
    /// Genesys Cloud region of the organization.
    pub region: Region,
    /// ARN of the secret holding the master client that creates and deletes clients.
    pub master_secret_arn: String,
    /// Managed-name prefix.
    pub name_prefix: NamePrefix,
    /// Roles (per division) granted to every new client.
    pub role_divisions: Vec<RoleDivision>,
    /// `accessTokenValiditySeconds` of new clients (`tokenLifetimeSeconds`).
    pub token_lifetime: TokenLifetime,
    /// Optional description copied to new clients.
    pub description: Option<String>,
    /// `clientFields`: fields set explicitly on every new client, over those carried from the
    /// current client; a `null` value means the field is not sent. Never an owned
    /// ([`ROTATOR_OWNED_FIELDS`]) or read-only field; a field the Genesys models type has a
    /// value of that type.
    pub client_fields: Map<String, Value>,
    /// `integrationCredentials`: the Genesys integration credentials that hold this secret's
    /// client and are given each new one before the old one is retired; distinct ids.
    pub integration_credentials: Vec<CredentialId>,
}

/// Most integration credentials one secret may list: each costs a GET at createSecret and a GET
/// and a PUT at finishSecret.
pub const MAX_INTEGRATION_CREDENTIALS: usize = 20;

/// An integration secret's value: the current credential plus its settings.
///
/// The original JSON object is kept so that fields this tool does not know (a consumer's own
/// settings) are carried forward unchanged into the next version.
#[derive(Debug, Clone)]
pub struct IntegrationSecret {
    /// The OAuth client credential.
    pub credentials: ClientCredentials,
    /// The validated settings.
    pub settings: IntegrationSettings,
    /// `possessionProof`: written by createSecret on the version it makes when the client it
    /// replaces is not owned by the secret but its credential proved it holds it
    /// ([`genesys_core::guard::Proof`]). A claim like any other text of the value: finishSecret
    /// acts on it only after proving it again.
    pub possession_proof: Option<Proof>,
    /// Every field of the JSON object except `clientSecret`.
    rest: Map<String, Value>,
}

/// The field of an integration secret that records a proof of possession.
pub const POSSESSION_PROOF_FIELD: &str = "possessionProof";

impl IntegrationSecret {
    /// Parses and validates a secret value. Errors name the field and never quote a secret.
    pub fn parse(json: &str) -> Result<Self, SecretFormatError> {
        let mut obj = parse_object(json)?;
        let credentials = take_credentials(&mut obj)?;
        let region = parse_region(&obj)?;
        let master_secret_arn = required_str(&obj, "masterSecretArn")?.to_owned();
        validate_secret_arn(&master_secret_arn).map_err(|r| invalid("masterSecretArn", r))?;
        let name_prefix = NamePrefix::parse(required_str(&obj, "namePrefix")?).map_err(|r| invalid("namePrefix", r))?;
        let role_divisions = parse_role_divisions(&obj)?;
        let token_lifetime = match obj.get("tokenLifetimeSeconds") {
            None | Some(Value::Null) => TokenLifetime::DEFAULT,
            Some(v) => v
                .as_u64()
                .ok_or_else(|| TokenLifetime::new(u64::MAX).unwrap_err())
                .and_then(TokenLifetime::new)
                .map_err(|reason| invalid("tokenLifetimeSeconds", reason))?,
        };
        let description = match obj.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.len() <= 500 => Some(s.clone()),
            Some(_) => return Err(invalid("description", "must be a string of at most 500 characters")),
        };
        let client_fields = parse_client_fields(&obj)?;
        let integration_credentials = parse_integration_credentials(&obj)?;
        let possession_proof = match obj.get(POSSESSION_PROOF_FIELD) {
            None | Some(Value::Null) => None,
            Some(v) => Some(serde_json::from_value(v.clone()).map_err(|_| {
                invalid(
                    POSSESSION_PROOF_FIELD,
                    "must be {\"clientId\": ..., \"provenAt\": <RFC 3339>} as createSecret writes it; remove it",
                )
            })?),
        };
        Ok(Self {
            credentials,
            settings: IntegrationSettings {
                region,
                master_secret_arn,
                name_prefix,
                role_divisions,
                token_lifetime,
                description,
                client_fields,
                integration_credentials,
            },
            possession_proof,
            rest: obj,
        })
    }

    /// The JSON of the next version: this one's fields, with the credential replaced and
    /// `possessionProof` set to `proof` (the proof that this version's client is held, for the
    /// client being replaced) or removed.
    pub fn successor_json(
        &self,
        client_id: &ClientId,
        client_secret: &SecretString,
        proof: Option<&Proof>,
    ) -> SecretString {
        use secrecy::ExposeSecret;
        let mut obj = self.rest.clone();
        match proof {
            Some(p) => obj.insert(
                POSSESSION_PROOF_FIELD.into(),
                serde_json::to_value(p).expect("a proof serializes"),
            ),
            None => obj.remove(POSSESSION_PROOF_FIELD),
        };
        obj.insert("clientId".into(), Value::String(client_id.as_str().to_owned()));
        obj.insert(
            "clientSecret".into(),
            Value::String(client_secret.expose_secret().to_owned()),
        );
        SecretString::from(Value::Object(obj).to_string())
    }
}

/// The master secret's value: the narrowly scoped client that manages the integration clients.
///
/// Like [`IntegrationSecret`], fields this tool does not know are kept and carried forward when
/// the master's own secret is rotated.
#[derive(Debug, Clone)]
pub struct MasterSecret {
    /// The master OAuth client credential.
    pub credentials: ClientCredentials,
    /// Region, when the master secret states one; it must then match the integration's. The
    /// master's own rotation needs it.
    pub region: Option<Region>,
    /// Every field of the JSON object except `clientSecret`.
    rest: Map<String, Value>,
}

impl MasterSecret {
    /// Parses and validates a master secret value.
    pub fn parse(json: &str) -> Result<Self, SecretFormatError> {
        let mut obj = parse_object(json)?;
        let credentials = take_credentials(&mut obj)?;
        let region = match obj.get("region") {
            None | Some(Value::Null) => None,
            Some(_) => Some(parse_region(&obj)?),
        };
        Ok(Self {
            credentials,
            region,
            rest: obj,
        })
    }

    /// The JSON of the next version after the master client got a new secret: the same client,
    /// the new secret, every other field unchanged.
    pub fn successor_json(&self, client_secret: &SecretString) -> SecretString {
        use secrecy::ExposeSecret;
        let mut obj = self.rest.clone();
        obj.insert(
            "clientSecret".into(),
            Value::String(client_secret.expose_secret().to_owned()),
        );
        SecretString::from(Value::Object(obj).to_string())
    }
}

/// The `clientId` a secret value holds, read leniently (an old version that no longer passes
/// validation still names its client); `None` if the value is not JSON or has no string
/// `clientId`. Never quotes the value.
pub(crate) fn client_id_in(json: &str) -> Option<String> {
    serde_json::from_str::<Value>(json)
        .ok()?
        .get("clientId")?
        .as_str()
        .map(str::to_owned)
}

fn parse_object(json: &str) -> Result<Map<String, Value>, SecretFormatError> {
    // The serde error may quote part of the input, which may be secret: report only where.
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(SecretFormatError::NotJson("the value is JSON but not an object".into())),
        Err(e) => Err(SecretFormatError::NotJson(format!(
            "invalid JSON at line {} column {}",
            e.line(),
            e.column()
        ))),
    }
}

fn required_str<'a>(obj: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, SecretFormatError> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(SecretFormatError::MissingField(field)),
        Some(Value::String(s)) if s.trim().is_empty() => Err(invalid(field, "must not be empty")),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

/// Removes `clientSecret` from the object (so it is never carried or printed twice) and
/// validates both credential fields.
fn take_credentials(obj: &mut Map<String, Value>) -> Result<ClientCredentials, SecretFormatError> {
    let client_id = ClientId::parse(required_str(obj, "clientId")?).map_err(|reason| invalid("clientId", reason))?;
    let secret = match obj.remove("clientSecret") {
        None | Some(Value::Null) => return Err(SecretFormatError::MissingField("clientSecret")),
        Some(Value::String(s)) if s.is_empty() => return Err(invalid("clientSecret", "must not be empty")),
        Some(Value::String(s)) => SecretString::from(s),
        Some(_) => return Err(invalid("clientSecret", "must be a string")),
    };
    Ok(ClientCredentials {
        client_id,
        client_secret: secret,
    })
}

fn parse_region(obj: &Map<String, Value>) -> Result<Region, SecretFormatError> {
    let raw = required_str(obj, "region")?;
    Region::parse(raw).map_err(|e| invalid("region", e.to_string()))
}

/// `clientFields`: absent or an object whose keys are neither owned by the rotator nor read-only,
/// and whose values have the type the request model gives them (any JSON for a field it does
/// not know). Errors name the key, never the value.
fn parse_client_fields(obj: &Map<String, Value>) -> Result<Map<String, Value>, SecretFormatError> {
    const FIELD: &str = "clientFields";
    let fields = match obj.get(FIELD) {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(fields)) => fields,
        Some(_) => return Err(invalid(FIELD, "must be an object of OAuth client fields")),
    };
    for (key, value) in fields {
        if key.trim().is_empty() {
            return Err(invalid(FIELD, "has an empty field name"));
        }
        if ROTATOR_OWNED_FIELDS.contains(&key.as_str()) {
            return Err(invalid(
                FIELD,
                format!("`{key}` is set by the rotator from the secret's own settings and may not be set here"),
            ));
        }
        if READ_ONLY_FIELDS.contains(&key.as_str()) {
            return Err(invalid(
                FIELD,
                format!("`{key}` is set by Genesys Cloud and never sent in a request"),
            ));
        }
        // A field the request model types (e.g. `scope`) must have that type: try it.
        let mut probe = OAuthClientRequest::client_credentials("probe", Vec::new());
        probe.extra.insert(key.clone(), value.clone());
        let probe = serde_json::to_value(&probe).map_err(|_| invalid(FIELD, format!("`{key}` cannot be sent")))?;
        if serde_json::from_value::<OAuthClientRequest>(probe).is_err() {
            return Err(invalid(
                FIELD,
                format!("`{key}` does not have the type Genesys Cloud expects for it"),
            ));
        }
    }
    Ok(fields.clone())
}

/// `integrationCredentials`: absent, `null` or an array of at most
/// [`MAX_INTEGRATION_CREDENTIALS`] distinct credential ids. Errors name the position, and the
/// id only when it is a valid one (a duplicate).
fn parse_integration_credentials(obj: &Map<String, Value>) -> Result<Vec<CredentialId>, SecretFormatError> {
    const FIELD: &str = "integrationCredentials";
    let items = match obj.get(FIELD) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid(FIELD, "must be an array of integration credential ids")),
    };
    if items.len() > MAX_INTEGRATION_CREDENTIALS {
        return Err(invalid(
            FIELD,
            format!("may list at most {MAX_INTEGRATION_CREDENTIALS} credentials"),
        ));
    }
    let mut ids: Vec<CredentialId> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let id = item
            .as_str()
            .ok_or_else(|| invalid(FIELD, format!("item {i} must be a string (a credential id)")))
            .and_then(|s| CredentialId::parse(s).map_err(|rule| invalid(FIELD, format!("item {i} {rule}"))))?;
        if ids.contains(&id) {
            return Err(invalid(FIELD, format!("item {i} repeats credential {id}")));
        }
        ids.push(id);
    }
    Ok(ids)
}

fn parse_role_divisions(obj: &Map<String, Value>) -> Result<Vec<RoleDivision>, SecretFormatError> {
    const FIELD: &str = "roleDivisions";
    let items = match obj.get(FIELD) {
        None | Some(Value::Null) => return Err(SecretFormatError::MissingField(FIELD)),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid(FIELD, "must be an array of {roleId, divisionId}")),
    };
    if items.is_empty() {
        return Err(invalid(
            FIELD,
            "must grant at least one role, or the new client can do nothing",
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let get = |key: &str| {
                item.get(key)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty() && s.len() <= 128)
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(FIELD, format!("item {i} needs a non-empty string `{key}`")))
            };
            Ok(RoleDivision {
                role_id: get("roleId")?,
                division_id: get("divisionId")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use serde_json::json;

    const MASTER: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:genesys/master-AbCdEf";

    fn valid() -> Value {
        json!({
            "clientId": "2f1c8a52-8f0e-4c1e-9d6b-0d3c5c7e9a11",
            "clientSecret": "s3cr3t-value-never-printed",
            "region": "mypurecloud.ie",
            "masterSecretArn": MASTER,
            "namePrefix": "crm-rot-",
            "roleDivisions": [{"roleId": "r1", "divisionId": "*"}],
            "tokenLifetimeSeconds": 3600,
            "consumerSetting": {"keep": true}
        })
    }

    fn with(field: &str, value: Value) -> String {
        let mut v = valid();
        v[field] = value;
        v.to_string()
    }

    fn without(field: &str) -> String {
        let mut v = valid();
        v.as_object_mut().unwrap().remove(field);
        v.to_string()
    }

    #[test]
    fn a_valid_secret_parses_with_every_setting() {
        let s = IntegrationSecret::parse(&valid().to_string()).unwrap();
        assert_eq!(s.credentials.client_id, "2f1c8a52-8f0e-4c1e-9d6b-0d3c5c7e9a11");
        assert_eq!(s.settings.region.domain(), "mypurecloud.ie");
        assert_eq!(s.settings.name_prefix.client_name("tok"), "crm-rot-tok");
        assert_eq!(s.settings.token_lifetime, TokenLifetime::new(3600).unwrap());
        // Absent, the lifetime Genesys applies.
        let default = IntegrationSecret::parse(&without("tokenLifetimeSeconds")).unwrap();
        assert_eq!(default.settings.token_lifetime, TokenLifetime::DEFAULT);
        assert_eq!(s.settings.role_divisions.len(), 1);
    }

    #[test]
    fn integration_credentials_are_optional_distinct_ids_and_carried_forward() {
        assert!(IntegrationSecret::parse(&valid().to_string())
            .unwrap()
            .settings
            .integration_credentials
            .is_empty());
        assert!(IntegrationSecret::parse(&with("integrationCredentials", json!(null)))
            .unwrap()
            .settings
            .integration_credentials
            .is_empty());
        let s = IntegrationSecret::parse(&with("integrationCredentials", json!(["cred-a", "cred-b"]))).unwrap();
        let ids: Vec<&str> = s.settings.integration_credentials.iter().map(|c| c.as_str()).collect();
        assert_eq!(ids, ["cred-a", "cred-b"]);
        // The list goes into the next version as it was.
        let next: Value = serde_json::from_str(
            s.successor_json(&ClientId::parse("new").unwrap(), &SecretString::from("x"), None)
                .expose_secret(),
        )
        .unwrap();
        assert_eq!(next["integrationCredentials"], json!(["cred-a", "cred-b"]));
        for (bad, says) in [
            (json!("cred-a"), "must be an array"),
            (json!([7]), "item 0 must be a string"),
            (json!(["ok", "has space"]), "item 1 must be"),
            (json!(["x/y"]), "item 0 must be"),
            (json!(["cred-a", "cred-a"]), "item 1 repeats credential cred-a"),
            (json!(vec!["c"; MAX_INTEGRATION_CREDENTIALS + 1]), "at most"),
        ] {
            let err = IntegrationSecret::parse(&with("integrationCredentials", bad.clone())).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("`integrationCredentials`") && text.contains(says),
                "{bad}: {text}"
            );
        }
    }

    #[test]
    fn region_may_be_given_by_sdk_name() {
        let s = IntegrationSecret::parse(&with("region", json!("eu_west_1"))).unwrap();
        assert_eq!(s.settings.region.domain(), "mypurecloud.ie");
    }

    #[test]
    fn every_required_field_is_named_when_missing() {
        for field in [
            "clientId",
            "clientSecret",
            "region",
            "masterSecretArn",
            "namePrefix",
            "roleDivisions",
        ] {
            let err = IntegrationSecret::parse(&without(field)).unwrap_err();
            assert_eq!(err, SecretFormatError::MissingField(field), "{field}");
        }
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases: &[(&str, Value)] = &[
            ("clientId", json!(42)),
            ("clientId", json!("has space")),
            ("clientSecret", json!("")),
            ("region", json!("evil.example.com")),
            ("region", json!("api.mypurecloud.com")),
            ("masterSecretArn", json!("not-an-arn")),
            ("namePrefix", json!("a")),
            ("namePrefix", json!("bad prefix!")),
            ("roleDivisions", json!([])),
            ("roleDivisions", json!([{"roleId": "r1"}])),
            ("roleDivisions", json!("r1")),
            ("tokenLifetimeSeconds", json!(10)),
            ("tokenLifetimeSeconds", json!(172_801)),
            ("tokenLifetimeSeconds", json!("3600")),
            ("description", json!(5)),
            ("possessionProof", json!("yes")),
            ("possessionProof", json!({"clientId": "c"})),
        ];
        for (field, value) in cases {
            let err = IntegrationSecret::parse(&with(field, value.clone())).unwrap_err();
            match err {
                SecretFormatError::InvalidField { field: f, .. } => assert_eq!(f, *field, "{value}"),
                other => panic!("{field}={value}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn errors_never_quote_the_secret() {
        let raw = r#"{"clientId": "x", "clientSecret": "TOPSECRET" "#;
        let err = IntegrationSecret::parse(raw).unwrap_err().to_string();
        assert!(!err.contains("TOPSECRET"), "{err}");
        let err = IntegrationSecret::parse(&with("clientSecret", json!(["TOPSECRET"]))).unwrap_err();
        assert!(!format!("{err:?}").contains("TOPSECRET"));
        let parsed = IntegrationSecret::parse(&valid().to_string()).unwrap();
        assert!(!format!("{parsed:?}").contains("s3cr3t"));
    }

    #[test]
    fn non_objects_are_refused() {
        for raw in ["", "[]", "\"x\"", "null", "{"] {
            assert!(
                matches!(IntegrationSecret::parse(raw), Err(SecretFormatError::NotJson(_))),
                "{raw}"
            );
        }
    }

    #[test]
    fn the_successor_carries_every_other_field_forward() {
        let s = IntegrationSecret::parse(&valid().to_string()).unwrap();
        let next = s.successor_json(
            &ClientId::parse("new-id").unwrap(),
            &SecretString::from("new-secret"),
            None,
        );
        let v: Value = serde_json::from_str(next.expose_secret()).unwrap();
        let mut expected = valid();
        expected["clientId"] = json!("new-id");
        expected["clientSecret"] = json!("new-secret");
        assert_eq!(v, expected);
    }

    #[test]
    fn the_successor_records_a_proof_or_drops_an_old_one() {
        // GIVEN a secret whose value carries an earlier rotation's proof
        let proof =
            genesys_core::guard::judge_proof("old-id", Some("old-id"), time::OffsetDateTime::UNIX_EPOCH).unwrap();
        let mut raw = valid();
        raw["possessionProof"] = serde_json::to_value(&proof).unwrap();
        let s = IntegrationSecret::parse(&raw.to_string()).unwrap();
        assert_eq!(s.possession_proof.as_ref(), Some(&proof));
        // WHEN successors are made with and without a new proof
        let with = s.successor_json(&ClientId::parse("n").unwrap(), &SecretString::from("x"), Some(&proof));
        let without = s.successor_json(&ClientId::parse("n").unwrap(), &SecretString::from("x"), None);
        // THEN the proof is written only when given: a stale one never outlives its rotation
        let with: Value = serde_json::from_str(with.expose_secret()).unwrap();
        let without: Value = serde_json::from_str(without.expose_secret()).unwrap();
        assert_eq!(with["possessionProof"]["clientId"], "old-id");
        assert!(without.get("possessionProof").is_none());
    }

    #[test]
    fn client_fields_are_optional_and_kept_as_given() {
        let s = IntegrationSecret::parse(&valid().to_string()).unwrap();
        assert!(s.settings.client_fields.is_empty());
        let fields = json!({"allowedIpAddresses": ["10.0.0.0/8"], "anything": {"a": [1, null]}, "gone": null,
                            "scope": ["s"]});
        let s = IntegrationSecret::parse(&with("clientFields", fields.clone())).unwrap();
        assert_eq!(Value::Object(s.settings.client_fields.clone()), fields);
        // Carried into the next version like any other field.
        let next = s.successor_json(&ClientId::parse("n").unwrap(), &SecretString::from("x"), None);
        let v: Value = serde_json::from_str(next.expose_secret()).unwrap();
        assert_eq!(v["clientFields"], fields);
    }

    #[test]
    fn bad_client_fields_are_refused_naming_the_field() {
        let cases: &[(Value, &str)] = &[
            (json!(["allowedIpAddresses"]), "must be an object"),
            (json!("x"), "must be an object"),
            (json!({"name": "other"}), "`name` is set by the rotator"),
            (json!({"description": "d"}), "`description` is set by the rotator"),
            (
                json!({"authorizedGrantType": "CODE"}),
                "`authorizedGrantType` is set by the rotator",
            ),
            (json!({"state": "disabled"}), "`state` is set by the rotator"),
            (json!({"roleDivisions": []}), "`roleDivisions` is set by the rotator"),
            (
                json!({"accessTokenValiditySeconds": 300}),
                "`accessTokenValiditySeconds` is set by the rotator",
            ),
            (
                json!({"dateToDelete": "2030-01-01T00:00:00Z"}),
                "`dateToDelete` is set by the rotator",
            ),
            (json!({"id": "x"}), "`id` is set by Genesys"),
            (json!({"secret": "TOPSECRET"}), "`secret` is set by Genesys"),
            (json!({"selfUri": "/x"}), "`selfUri` is set by Genesys"),
            (json!({"roleIds": ["r"]}), "`roleIds` is set by Genesys"),
            (json!({"scope": 5}), "`scope` does not have the type"),
            (
                json!({"registeredRedirectUri": "TOPSECRET"}),
                "`registeredRedirectUri` does not have the type",
            ),
            (json!({"": 1}), "empty field name"),
        ];
        for (fields, expected) in cases {
            match IntegrationSecret::parse(&with("clientFields", fields.clone())).unwrap_err() {
                SecretFormatError::InvalidField { field, reason } => {
                    assert_eq!(field, "clientFields", "{fields}");
                    assert!(reason.contains(expected), "{fields}: {reason}");
                    assert!(!reason.contains("TOPSECRET"), "{reason}");
                }
                other => panic!("{fields}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn master_secret_needs_only_the_credential() {
        let m = MasterSecret::parse(r#"{"clientId":"m","clientSecret":"ms"}"#).unwrap();
        assert!(m.region.is_none());
        let m = MasterSecret::parse(r#"{"clientId":"m","clientSecret":"ms","region":"usw2.pure.cloud"}"#).unwrap();
        assert_eq!(m.region.unwrap().domain(), "usw2.pure.cloud");
        assert_eq!(
            MasterSecret::parse(r#"{"clientSecret":"ms"}"#).unwrap_err(),
            SecretFormatError::MissingField("clientId")
        );
    }

    #[test]
    fn the_master_successor_keeps_the_client_and_every_other_field() {
        let raw =
            json!({"clientId": "m", "clientSecret": "old-master-secret", "region": "mypurecloud.ie", "owner": "ops"});
        let m = MasterSecret::parse(&raw.to_string()).unwrap();
        assert!(!format!("{m:?}").contains("old-master-secret"));
        let next: Value = serde_json::from_str(m.successor_json(&SecretString::from("new")).expose_secret()).unwrap();
        let mut expected = raw;
        expected["clientSecret"] = json!("new");
        assert_eq!(next, expected);
    }
}
