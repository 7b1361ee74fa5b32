//! The drain queue's message: a versioned, typed JSON document saying which client to delete and
//! not before when, plus what the cleanup needs to refuse a wrong delete.
//!
//! The document carries no secret. It is still treated as untrusted input by the cleanup (anyone
//! who can write to the queue can forge one), so parsing is strict: unknown fields, an unknown
//! `version` and malformed identifiers are refused, and parse errors never quote the body.

use genesys_core::domain::{ClientId, VersionId};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;

/// The only message version this build writes and reads.
pub const DRAIN_MESSAGE_VERSION: u32 = 1;

/// Longest body the cleanup will look at; real messages are a few hundred bytes.
const MAX_BODY_BYTES: usize = 4096;

/// "Delete this client once its tokens have drained."
///
/// JSON (camelCase): `{"version":1,"secretArn":"arn:…","clientId":"…","clientName":"crm-rot-…",
/// "secretVersionId":"…","retiredAt":"2025-01-01T00:00:00Z","notBefore":"2025-01-02T01:00:00Z"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DrainMessage {
    /// Always [`DRAIN_MESSAGE_VERSION`]; anything else is refused, never guessed at.
    pub version: u32,
    /// The secret whose AWSPREVIOUS held the client: the cleanup re-reads it to check the client
    /// is not in use and to learn the managed-name prefix.
    pub secret_arn: String,
    /// The Genesys OAuth client to delete.
    pub client_id: String,
    /// The client's name when it was retired; the cleanup deletes only if Genesys still shows
    /// this name, and only if it starts with the secret's prefix.
    pub client_name: String,
    /// The secret version (AWSPREVIOUS when retired) that held the client, for the operator.
    pub secret_version_id: String,
    /// When the rotation deactivated the client (or found it inactive).
    #[serde(with = "time::serde::rfc3339")]
    pub retired_at: OffsetDateTime,
    /// The client's tokens may still be in use until this instant: no delete before it.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
}

/// Why a queue body is not a usable [`DrainMessage`]. Never retryable: the same body will fail
/// the same way, which is what sends it to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessageError {
    /// The record has no body, or an oversized one.
    #[error("message body is missing or larger than {MAX_BODY_BYTES} bytes")]
    Size,
    /// Not JSON, or not the v1 shape. Carries serde's category and position only: serde's own
    /// messages can quote the input.
    #[error("message body is not a drain message ({category} at line {line} column {column})")]
    Shape {
        /// serde_json's error category (syntax, data, eof, io).
        category: &'static str,
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
    },
    /// A `version` this build does not know.
    #[error("drain message version {0:?} is not supported (this build reads version {DRAIN_MESSAGE_VERSION})")]
    Version(Option<u64>),
    /// A field has the right type but an impossible value.
    #[error("drain message field `{0}` is invalid")]
    Field(&'static str),
}

impl DrainMessage {
    /// Parses and validates a queue body.
    pub fn parse(body: &str) -> Result<Self, MessageError> {
        if body.is_empty() || body.len() > MAX_BODY_BYTES {
            return Err(MessageError::Size);
        }
        // The version is read first, so a future version gets a clear "unsupported version"
        // rather than a confusing complaint about an unknown field.
        let raw: serde_json::Value = serde_json::from_str(body).map_err(shape)?;
        match raw.get("version").map(serde_json::Value::as_u64) {
            Some(Some(v)) if v == u64::from(DRAIN_MESSAGE_VERSION) => {}
            Some(v) => return Err(MessageError::Version(v)),
            None => return Err(MessageError::Version(None)),
        }
        let message: DrainMessage = serde_json::from_value(raw).map_err(shape)?;
        message.validate()?;
        Ok(message)
    }

    /// The JSON body to send.
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("a drain message serializes")
    }

    fn validate(&self) -> Result<(), MessageError> {
        if crate::config::validate_secret_arn(&self.secret_arn).is_err() {
            return Err(MessageError::Field("secretArn"));
        }
        if ClientId::parse(&self.client_id).is_err() {
            return Err(MessageError::Field("clientId"));
        }
        if self.client_name.is_empty() || self.client_name.len() > 256 || self.client_name.chars().any(char::is_control)
        {
            return Err(MessageError::Field("clientName"));
        }
        if VersionId::parse(&self.secret_version_id).is_err() {
            return Err(MessageError::Field("secretVersionId"));
        }
        if self.not_before < self.retired_at {
            return Err(MessageError::Field("notBefore"));
        }
        Ok(())
    }
}

fn shape(e: serde_json::Error) -> MessageError {
    MessageError::Shape {
        category: match e.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        },
        line: e.line(),
        column: e.column(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:genesys/crm-AbCdEf";

    fn sample() -> DrainMessage {
        DrainMessage {
            version: DRAIN_MESSAGE_VERSION,
            secret_arn: ARN.into(),
            client_id: "2f1c8a52-8f0e-4c1e-9d6b-0d3c5c7e9a11".into(),
            client_name: "crm-rot-0b0e7c9e-5c1f-4d6e-9f7a-2b8c1d3e4f5a".into(),
            secret_version_id: "0b0e7c9e-5c1f-4d6e-9f7a-2b8c1d3e4f5a".into(),
            retired_at: datetime!(2025-01-01 00:00 UTC),
            not_before: datetime!(2025-01-02 01:00 UTC),
        }
    }

    #[test]
    fn round_trips_as_camel_case_json() {
        let m = sample();
        let v: serde_json::Value = serde_json::from_str(&m.to_body()).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["secretArn"], ARN);
        assert_eq!(v["clientName"], "crm-rot-0b0e7c9e-5c1f-4d6e-9f7a-2b8c1d3e4f5a");
        assert_eq!(v["notBefore"], "2025-01-02T01:00:00Z");
        assert_eq!(DrainMessage::parse(&m.to_body()).unwrap(), m);
    }

    #[test]
    fn unknown_versions_are_refused() {
        for version in [json!(0), json!(2), json!("1"), json!(null)] {
            let mut v = serde_json::to_value(sample()).unwrap();
            v["version"] = version.clone();
            assert!(
                matches!(DrainMessage::parse(&v.to_string()), Err(MessageError::Version(_))),
                "{version}"
            );
        }
        let mut v = serde_json::to_value(sample()).unwrap();
        v.as_object_mut().unwrap().remove("version");
        assert_eq!(DrainMessage::parse(&v.to_string()), Err(MessageError::Version(None)));
    }

    #[test]
    fn malformed_bodies_are_refused_without_quoting_them() {
        let mut extra = serde_json::to_value(sample()).unwrap();
        extra["deleteEverything"] = json!(true);
        let mut bad_arn = serde_json::to_value(sample()).unwrap();
        bad_arn["secretArn"] = json!("SECRETVALUE");
        let mut bad_id = serde_json::to_value(sample()).unwrap();
        bad_id["clientId"] = json!("../../x");
        let mut backwards = serde_json::to_value(sample()).unwrap();
        backwards["notBefore"] = json!("2024-01-01T00:00:00Z");
        for body in [
            String::new(),
            "SECRETVALUE".into(),
            "[\"SECRETVALUE\"]".into(),
            "{\"version\":1,\"clientId\":\"SECRETVALUE\"}".into(),
            extra.to_string(),
            bad_arn.to_string(),
            bad_id.to_string(),
            backwards.to_string(),
            "x".repeat(5000),
        ] {
            let err = DrainMessage::parse(&body).unwrap_err();
            assert!(!err.to_string().contains("SECRETVALUE"), "{err}");
        }
    }
}
