//! The event Secrets Manager sends a rotation function, parsed and validated by hand from JSON
//! so that a malformed event gets an error naming what is wrong (and `RotationToken`, which
//! `aws_lambda_events` lacks, is kept).

use genesys_core::domain::VersionId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// The four rotation steps, in the order Secrets Manager calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    /// Make the new credential and store it as AWSPENDING.
    CreateSecret,
    /// Apply the pending credential in the service.
    SetSecret,
    /// Prove the pending credential works.
    TestSecret,
    /// Promote the pending version to AWSCURRENT.
    FinishSecret,
}

impl Step {
    /// The four steps in the order Secrets Manager calls them.
    pub const ALL: [Step; 4] = [
        Step::CreateSecret,
        Step::SetSecret,
        Step::TestSecret,
        Step::FinishSecret,
    ];

    /// The wire name (`createSecret`, ...), for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::CreateSecret => "createSecret",
            Step::SetSecret => "setSecret",
            Step::TestSecret => "testSecret",
            Step::FinishSecret => "finishSecret",
        }
    }
}

/// A rotation event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationEvent {
    /// Which step to run.
    pub step: Step,
    /// The secret's ARN or name.
    pub secret_id: String,
    /// The version id of the secret version being rotated in.
    pub client_request_token: VersionId,
    /// Opaque token to hand back to PutSecretValue (cross-account / assumed-role setups).
    pub rotation_token: Option<String>,
}

/// Why an event was refused. Never retryable: the same event will fail the same way.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EventError {
    /// The payload is not a JSON object.
    #[error("rotation event is not a JSON object")]
    NotAnObject,
    /// A required field is absent.
    #[error("rotation event field `{0}` is missing")]
    Missing(&'static str),
    /// A field has the wrong type or an unusable value.
    #[error("rotation event field `{field}` is invalid: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

impl RotationEvent {
    /// Parses an event from the Lambda payload.
    pub fn from_json(payload: &Value) -> Result<Self, EventError> {
        let obj = payload.as_object().ok_or(EventError::NotAnObject)?;
        let string = |field: &'static str| -> Result<Option<&str>, EventError> {
            match obj.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(EventError::Invalid {
                    field,
                    reason: "must be a string".into(),
                }),
            }
        };
        let step_raw = string("Step")?.ok_or(EventError::Missing("Step"))?;
        let step = serde_json::from_value(Value::String(step_raw.to_owned())).map_err(|_| EventError::Invalid {
            field: "Step",
            reason: format!(
                "{:?} is not one of createSecret, setSecret, testSecret, finishSecret",
                truncate(step_raw)
            ),
        })?;
        let secret_id = string("SecretId")?.ok_or(EventError::Missing("SecretId"))?;
        if secret_id.is_empty() || secret_id.len() > 2048 || secret_id.chars().any(char::is_control) {
            return Err(EventError::Invalid {
                field: "SecretId",
                reason: "must be a secret ARN or name of 1 to 2048 printable characters".into(),
            });
        }
        let token = string("ClientRequestToken")?.ok_or(EventError::Missing("ClientRequestToken"))?;
        let token = VersionId::parse(token).map_err(|reason| EventError::Invalid {
            field: "ClientRequestToken",
            reason: reason.into(),
        })?;
        let rotation_token = string("RotationToken")?;
        if rotation_token.is_some_and(|t| t.is_empty() || t.len() > 4096) {
            return Err(EventError::Invalid {
                field: "RotationToken",
                reason: "must be 1 to 4096 characters when present".into(),
            });
        }
        Ok(Self {
            step,
            secret_id: secret_id.to_owned(),
            client_request_token: token,
            rotation_token: rotation_token.map(str::to_owned),
        })
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TOKEN: &str = "5a1b3c4d-0000-4000-8000-00000000abcd";

    #[test]
    fn a_full_event_parses() {
        let e = RotationEvent::from_json(&json!({
            "Step": "finishSecret", "SecretId": "arn:x", "ClientRequestToken": TOKEN, "RotationToken": "rt"
        }))
        .unwrap();
        assert_eq!(e.step, Step::FinishSecret);
        assert_eq!(e.rotation_token.as_deref(), Some("rt"));
    }

    #[test]
    fn rotation_token_is_optional() {
        let e =
            RotationEvent::from_json(&json!({"Step": "createSecret", "SecretId": "s", "ClientRequestToken": TOKEN}))
                .unwrap();
        assert_eq!(e.rotation_token, None);
    }

    #[test]
    fn malformed_events_name_the_field() {
        let base = json!({"Step": "createSecret", "SecretId": "s", "ClientRequestToken": TOKEN});
        let cases = [
            (json!([]), EventError::NotAnObject),
            (
                json!({"SecretId": "s", "ClientRequestToken": TOKEN}),
                EventError::Missing("Step"),
            ),
            (
                json!({"Step": "createSecret", "ClientRequestToken": TOKEN}),
                EventError::Missing("SecretId"),
            ),
            (
                json!({"Step": "createSecret", "SecretId": "s"}),
                EventError::Missing("ClientRequestToken"),
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(RotationEvent::from_json(&event).unwrap_err(), expected, "{event}");
        }
        for (field, value) in [
            ("Step", json!("deleteSecret")),
            ("Step", json!(1)),
            ("SecretId", json!("")),
            ("SecretId", json!({"a": 1})),
            ("ClientRequestToken", json!("short")),
            (
                "ClientRequestToken",
                json!("../../../../../../../../../../../etc/passwd"),
            ),
            ("RotationToken", json!(7)),
            ("RotationToken", json!("")),
        ] {
            let mut e = base.clone();
            e[field] = value.clone();
            match RotationEvent::from_json(&e).unwrap_err() {
                EventError::Invalid { field: f, .. } => assert_eq!(f, field, "{value}"),
                other => panic!("{field}={value}: {other:?}"),
            }
        }
    }
}
