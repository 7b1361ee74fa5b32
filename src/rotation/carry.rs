//! The definition of createSecret's new client: the current client's, carried forward, with the
//! fields the rotator owns set from the secret and the secret's `clientFields` over both.
//!
//! Genesys adds fields to OAuth clients (in 2026, a required allowed-IP list for new
//! client-credentials clients) before the SDK names them. A client built only from the secret's
//! own settings would be refused the day such a field becomes required; one built from the
//! current client keeps whatever that client has, known to this code or not. Precedence, lowest
//! first:
//! 1. every field of the current client (`GET` of AWSCURRENT's client id), unknown ones as raw
//!    JSON, except the read-only ones ([`genesys_core::genesys::READ_ONLY_FIELDS`]);
//! 2. the secret's `clientFields` (a `null` value drops a carried field);
//! 3. the fields the rotator owns ([`ROTATOR_OWNED_FIELDS`]): name, description with its
//!    ownership marker, client-credentials grant, token lifetime, roles; no `state` (active) and
//!    no `dateToDelete`.

use serde_json::{Map, Value};

use crate::secret_format::{IntegrationSettings, SecretFormatError, ROTATOR_OWNED_FIELDS};
use genesys_core::genesys::{GrantType, OAuthClient, OAuthClientRequest};
use genesys_core::lifecycle::make::{mark_managed, Managed};

/// Why the current client's definition is not carried (logged; the new client is then built
/// from the secret alone).
pub(crate) fn not_carried_reason(current: &OAuthClient) -> Option<String> {
    (current.authorized_grant_type != GrantType::ClientCredentials).then(|| {
        format!(
            "its grant type is {}, not CLIENT-CREDENTIALS",
            current.authorized_grant_type
        )
    })
}

/// The request that creates the new client named `name` for secret `owner` (its marker in the
/// description, [`genesys_core::lifecycle::make`]), from `carried` (the current client, when it
/// could be read and may be carried) and `settings`.
pub(crate) fn new_client_request(
    name: &str,
    owner: &str,
    settings: &IntegrationSettings,
    carried: Option<&OAuthClient>,
) -> Result<OAuthClientRequest, SecretFormatError> {
    let base = match carried {
        Some(current) => current.to_request(),
        None => OAuthClientRequest::client_credentials(name, Vec::new()),
    };
    let mut obj = match serde_json::to_value(&base) {
        Ok(Value::Object(obj)) => obj,
        _ => Map::new(),
    };
    for (key, value) in &settings.client_fields {
        if value.is_null() {
            obj.remove(key);
        } else {
            obj.insert(key.clone(), value.clone());
        }
    }
    for key in ROTATOR_OWNED_FIELDS {
        obj.remove(*key);
    }
    // The two fields a request cannot be read without; set again, typed, below.
    obj.insert("name".into(), Value::String(name.to_owned()));
    obj.insert(
        "authorizedGrantType".into(),
        Value::String(GrantType::ClientCredentials.as_str().to_owned()),
    );
    // A field the request model types, carried or set, must have its type (`clientFields`
    // values were checked when the secret was read; a carried one comes from the typed model).
    let mut request: OAuthClientRequest =
        serde_json::from_value(Value::Object(obj)).map_err(|_| SecretFormatError::InvalidField {
            field: "clientFields",
            reason: "a field does not have the type Genesys Cloud expects for it".into(),
        })?;
    mark_managed(
        &mut request,
        Managed {
            name,
            owner,
            note: settings.description.as_deref(),
            token_lifetime_seconds: settings.token_lifetime.seconds(),
            role_divisions: settings.role_divisions.clone(),
        },
    );
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret_format::IntegrationSecret;
    use serde_json::json;

    fn settings(client_fields: Option<Value>) -> IntegrationSettings {
        let mut v = json!({
            "clientId": "current-id",
            "clientSecret": "s3cr3t",
            "region": "mypurecloud.ie",
            "masterSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:genesys/master-AbCdEf",
            "namePrefix": "crm-rot-",
            "roleDivisions": [{"roleId": "r-new", "divisionId": "*"}],
            "tokenLifetimeSeconds": 3600
        });
        if let Some(f) = client_fields {
            v["clientFields"] = f;
        }
        IntegrationSecret::parse(&v.to_string()).unwrap().settings
    }

    fn current() -> OAuthClient {
        serde_json::from_value(json!({
            "id": "current-id",
            "name": "crm-legacy",
            "description": "hand made",
            "authorizedGrantType": "CLIENT-CREDENTIALS",
            "accessTokenValiditySeconds": 172800,
            "roleDivisions": [{"roleId": "r-old", "divisionId": "d"}],
            "roleIds": ["r-old"],
            "state": "inactive",
            "dateToDelete": "2030-01-01T00:00:00.000Z",
            "dateCreated": "2025-01-01T00:00:00.000Z",
            "createdBy": {"id": "u1"},
            "selfUri": "/api/v2/oauth/clients/current-id",
            "organization": {"id": "org"},
            "allowedIpAddresses": ["10.0.0.0/8"],
            "futureSetting": {"nested": [1, 2]}
        }))
        .unwrap()
    }

    #[test]
    fn the_new_client_carries_the_current_clients_unknown_fields_and_the_rotator_sets_its_own() {
        // GIVEN a current client with fields this code does not know, and a secret without
        // clientFields
        let req = new_client_request("crm-rot-tok", "arn:owner", &settings(None), Some(&current())).unwrap();
        let body = serde_json::to_value(&req).unwrap();
        // THEN the request is the current client's, unknown fields included, with the owned
        // fields from the secret and nothing read-only
        assert_eq!(
            body,
            json!({
                "name": "crm-rot-tok",
                "authorizedGrantType": "CLIENT-CREDENTIALS",
                "description": genesys_core::guard::ownership::marker("arn:owner"),
                "accessTokenValiditySeconds": 3600,
                "roleDivisions": [{"roleId": "r-new", "divisionId": "*"}],
                "allowedIpAddresses": ["10.0.0.0/8"],
                "futureSetting": {"nested": [1, 2]}
            })
        );
    }

    #[test]
    fn client_fields_win_over_carried_ones_and_null_drops_one() {
        let s = settings(Some(json!({
            "allowedIpAddresses": ["192.0.2.1"],
            "futureSetting": null,
            "scope": ["extra:scope"]
        })));
        let body = serde_json::to_value(new_client_request("n", "arn:owner", &s, Some(&current())).unwrap()).unwrap();
        assert_eq!(body["allowedIpAddresses"], json!(["192.0.2.1"]));
        assert!(body.get("futureSetting").is_none());
        assert_eq!(body["scope"], json!(["extra:scope"]));
        assert_eq!(body["name"], json!("n"));
    }

    #[test]
    fn without_a_current_client_the_request_is_the_secrets_alone() {
        let s = settings(Some(json!({"allowedIpAddresses": ["192.0.2.1"]})));
        let body = serde_json::to_value(new_client_request("n", "arn:owner", &s, None).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "name": "n",
                "authorizedGrantType": "CLIENT-CREDENTIALS",
                "description": genesys_core::guard::ownership::marker("arn:owner"),
                "accessTokenValiditySeconds": 3600,
                "roleDivisions": [{"roleId": "r-new", "divisionId": "*"}],
                "allowedIpAddresses": ["192.0.2.1"]
            })
        );
        let plain = serde_json::to_value(new_client_request("n", "arn:owner", &settings(None), None).unwrap()).unwrap();
        assert_eq!(plain.as_object().unwrap().len(), 5);
    }

    #[test]
    fn only_a_client_credentials_client_is_carried() {
        assert!(not_carried_reason(&current()).is_none());
        let mut code = current();
        code.authorized_grant_type = GrantType::Code;
        assert!(not_carried_reason(&code).unwrap().contains("CODE"));
    }
}
