//! The wire forms of requests, responses, leases and errors (OpenBao's `sdk/plugin/pb/
//! translation.go`), and back: JSON strings for data, nanoseconds for durations, a protobuf
//! timestamp (Go's zero time when unset) for the lease's issue time, and an error type code the
//! server turns into an HTTP status.
use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::pb::pb;
use crate::logical::{LeaseOptions, LeaseSecret, LogicalError, Operation, Request, Response, SpecialPaths};

/// `ErrTypeInternalError`: 500 with the message.
const ERR_TYPE_INTERNAL: u32 = 2;
/// `ErrTypeStatusBadRequest`: 400 with the message (where no response can carry it).
const ERR_TYPE_STATUS_BAD_REQUEST: u32 = 4;
/// `ErrTypeUnsupportedOperation`: 405.
const ERR_TYPE_UNSUPPORTED_OPERATION: u32 = 5;
/// `ErrTypeUnsupportedPath`: 404.
const ERR_TYPE_UNSUPPORTED_PATH: u32 = 6;
/// `ErrTypeInvalidRequest`: 400; with a response whose data holds `error`, the HTTP answer is
/// `{"errors": [<that message>]}`, as Go backends' `logical.ErrorResponse`.
const ERR_TYPE_INVALID_REQUEST: u32 = 7;
/// `ErrTypePermissionDenied`: 403.
const ERR_TYPE_PERMISSION_DENIED: u32 = 8;

/// Go's zero `time.Time` as a protobuf timestamp (0001-01-01T00:00:00Z).
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// A request the server sent that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed request from the server: {0}")]
pub struct MalformedRequest(pub String);

/// The server's request as the backend sees it.
pub fn request_from_wire(req: pb::Request) -> Result<Request, MalformedRequest> {
    let secret = req.secret.map(secret_from_wire).transpose()?;
    Ok(Request {
        id: req.id,
        operation: Operation::parse(&req.operation),
        path: req.path,
        data: json_object(&req.data, "data")?,
        secret,
        mount_point: req.mount_point,
    })
}

/// The backend's answer as the server expects it: a response (or none), and an error (or none).
pub fn reply_to_wire(result: Result<Option<Response>, LogicalError>) -> pb::HandleRequestReply {
    match result {
        Ok(response) => pb::HandleRequestReply {
            response: response.map(response_to_wire),
            err: None,
        },
        Err(LogicalError::BadRequest(message)) => {
            // The error response carries the message; the error type makes it a 400.
            let mut data = Map::new();
            data.insert("error".into(), Value::String(message.clone()));
            pb::HandleRequestReply {
                response: Some(response_to_wire(Response {
                    data,
                    ..Response::default()
                })),
                err: Some(pb::ProtoError {
                    err_type: ERR_TYPE_INVALID_REQUEST,
                    err_msg: "invalid request".into(),
                    err_code: 0,
                }),
            }
        }
        Err(other) => pb::HandleRequestReply {
            response: None,
            err: Some(error_to_wire(&other)),
        },
    }
}

/// A backend error as a `ProtoError` (for replies that carry no response: existence checks,
/// initialization).
pub fn error_to_wire(error: &LogicalError) -> pb::ProtoError {
    // The server matches these by type and, for the standard ones, by their exact message.
    let (err_type, err_msg) = match error {
        LogicalError::BadRequest(message) => (ERR_TYPE_STATUS_BAD_REQUEST, message.clone()),
        LogicalError::PermissionDenied => (ERR_TYPE_PERMISSION_DENIED, "permission denied".into()),
        LogicalError::UnsupportedPath => (ERR_TYPE_UNSUPPORTED_PATH, "unsupported path".into()),
        LogicalError::UnsupportedOperation => (ERR_TYPE_UNSUPPORTED_OPERATION, "unsupported operation".into()),
        LogicalError::Internal(message) => (ERR_TYPE_INTERNAL, message.clone()),
    };
    pb::ProtoError {
        err_type,
        err_msg,
        err_code: 0,
    }
}

/// A response on the wire.
pub fn response_to_wire(response: Response) -> pb::Response {
    pb::Response {
        secret: response.secret.map(secret_to_wire),
        data: Value::Object(response.data).to_string(),
        warnings: response.warnings,
    }
}

/// The special paths on the wire.
pub fn paths_to_wire(paths: SpecialPaths) -> pb::Paths {
    pb::Paths {
        root: paths.root,
        unauthenticated: paths.unauthenticated,
        local_storage: paths.local_storage,
        seal_wrap_storage: paths.seal_wrap_storage,
        write_forwarded_storage: Vec::new(),
    }
}

fn secret_from_wire(secret: pb::Secret) -> Result<LeaseSecret, MalformedRequest> {
    let lease = secret.lease_options.unwrap_or_default();
    Ok(LeaseSecret {
        lease: LeaseOptions {
            ttl: duration_from_nanos(lease.ttl),
            max_ttl: duration_from_nanos(lease.max_ttl),
            renewable: lease.renewable,
            increment: duration_from_nanos(lease.increment),
            issue_time: lease.issue_time.and_then(time_from_wire),
        },
        internal_data: json_object(&secret.internal_data, "secret internal data")?,
        lease_id: secret.lease_id,
    })
}

fn secret_to_wire(secret: LeaseSecret) -> pb::Secret {
    let lease = secret.lease;
    pb::Secret {
        lease_options: Some(pb::LeaseOptions {
            ttl: duration_to_nanos(lease.ttl),
            renewable: lease.renewable,
            increment: duration_to_nanos(lease.increment),
            issue_time: Some(time_to_wire(lease.issue_time)),
            max_ttl: duration_to_nanos(lease.max_ttl),
        }),
        internal_data: Value::Object(secret.internal_data).to_string(),
        lease_id: secret.lease_id,
    }
}

/// A JSON object sent as a string; Go sends `null` (or nothing) for an empty map.
fn json_object(text: &str, what: &str) -> Result<Map<String, Value>, MalformedRequest> {
    if text.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        // The text itself is never echoed: it may hold a secret.
        Ok(_) => Err(MalformedRequest(format!("{what} is not a JSON object"))),
        Err(e) => Err(MalformedRequest(format!(
            "{what} is not JSON (line {}, column {})",
            e.line(),
            e.column()
        ))),
    }
}

/// Go's `time.Duration` is signed nanoseconds; a negative one means none.
pub fn duration_from_nanos(nanos: i64) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

/// Nanoseconds, saturating at Go's largest duration (about 292 years).
pub fn duration_to_nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

fn time_from_wire(ts: prost_types::Timestamp) -> Option<OffsetDateTime> {
    if ts.seconds == GO_ZERO_TIME_SECONDS && ts.nanos == 0 {
        return None;
    }
    let nanos = i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

fn time_to_wire(time: Option<OffsetDateTime>) -> prost_types::Timestamp {
    match time {
        Some(t) => prost_types::Timestamp {
            seconds: t.unix_timestamp(),
            nanos: i32::try_from(t.nanosecond()).unwrap_or(0),
        },
        None => prost_types::Timestamp {
            seconds: GO_ZERO_TIME_SECONDS,
            nanos: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn wire_request(data: &str) -> pb::Request {
        pb::Request {
            id: "req-1".into(),
            operation: "update".into(),
            path: "roles/crm".into(),
            data: data.into(),
            mount_point: "genesys/".into(),
            ..pb::Request::default()
        }
    }

    #[test]
    fn a_write_arrives_with_its_fields() {
        let req = request_from_wire(wire_request(r#"{"ttl":"1h","n":3}"#)).unwrap();
        assert_eq!(req.operation, Operation::Update);
        assert_eq!(req.path, "roles/crm");
        assert_eq!(req.mount_point, "genesys/");
        assert_eq!(req.id, "req-1");
        assert_eq!(Value::Object(req.data), json!({"ttl": "1h", "n": 3}));
        assert_eq!(req.secret, None);
    }

    #[test]
    fn go_null_and_empty_data_are_no_fields() {
        assert!(request_from_wire(wire_request("null")).unwrap().data.is_empty());
        assert!(request_from_wire(wire_request("")).unwrap().data.is_empty());
    }

    #[test]
    fn bad_data_is_refused_without_echoing_it() {
        let err = request_from_wire(wire_request(r#"{"password":"hunter2""#)).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        assert!(request_from_wire(wire_request(r#"["a"]"#)).is_err());
    }

    #[test]
    fn a_revoke_carries_its_lease_in_nanoseconds() {
        // GIVEN a revoke as the server sends it (TTL 1h, max 2h, issued at a known instant)
        let mut wire = wire_request("null");
        wire.operation = "revoke".into();
        wire.secret = Some(pb::Secret {
            lease_options: Some(pb::LeaseOptions {
                ttl: 3_600_000_000_000,
                renewable: true,
                increment: 0,
                issue_time: Some(prost_types::Timestamp {
                    seconds: 1_764_000_000,
                    nanos: 5,
                }),
                max_ttl: 7_200_000_000_000,
            }),
            internal_data: r#"{"secret_type":"creds","client_id":"abc"}"#.into(),
            lease_id: "genesys/creds/crm/xyz".into(),
        });
        // WHEN it is read
        let req = request_from_wire(wire).unwrap();
        // THEN the lease is in durations and the internal data is a map
        let secret = req.secret.unwrap();
        assert_eq!(req.operation, Operation::Revoke);
        assert_eq!(secret.lease.ttl, Duration::from_secs(3600));
        assert_eq!(secret.lease.max_ttl, Duration::from_secs(7200));
        assert!(secret.lease.renewable);
        assert_eq!(
            secret.lease.issue_time.unwrap().unix_timestamp_nanos(),
            1_764_000_000_000_000_005
        );
        assert_eq!(secret.internal_data["client_id"], "abc");
        assert_eq!(secret.lease_id, "genesys/creds/crm/xyz");
    }

    #[test]
    fn go_zero_issue_time_is_none_and_none_is_sent_as_go_zero() {
        let zero = time_to_wire(None);
        assert_eq!((zero.seconds, zero.nanos), (GO_ZERO_TIME_SECONDS, 0));
        assert_eq!(time_from_wire(zero), None);
    }

    #[test]
    fn a_new_lease_is_sent_with_a_valid_issue_time_and_json_internal_data() {
        let mut internal = Map::new();
        internal.insert("client_id".into(), json!("abc"));
        let response = Response {
            data: json!({"client_id": "abc"}).as_object().unwrap().clone(),
            secret: Some(LeaseSecret {
                lease: LeaseOptions {
                    ttl: Duration::from_secs(90),
                    renewable: true,
                    ..LeaseOptions::default()
                },
                internal_data: internal,
                lease_id: String::new(),
            }),
            warnings: vec!["careful".into()],
        };
        let wire = response_to_wire(response);
        let secret = wire.secret.unwrap();
        let lease = secret.lease_options.unwrap();
        assert_eq!(lease.ttl, 90_000_000_000);
        assert!(lease.renewable);
        // The server's translation rejects a nil issue time.
        assert!(lease.issue_time.is_some());
        assert_eq!(secret.internal_data, r#"{"client_id":"abc"}"#);
        assert_eq!(wire.data, r#"{"client_id":"abc"}"#);
        assert_eq!(wire.warnings, vec!["careful"]);
    }

    #[test]
    fn an_empty_response_still_sends_parseable_data() {
        assert_eq!(response_to_wire(Response::default()).data, "{}");
    }

    #[test]
    fn nothing_to_show_is_no_response() {
        let reply = reply_to_wire(Ok(None));
        assert_eq!(reply.response, None);
        assert_eq!(reply.err, None);
    }

    #[test]
    fn a_bad_request_is_an_error_response_with_invalid_request() {
        let reply = reply_to_wire(Err(LogicalError::BadRequest("ttl: not a duration".into())));
        assert_eq!(reply.err.unwrap().err_type, ERR_TYPE_INVALID_REQUEST);
        assert_eq!(reply.response.unwrap().data, r#"{"error":"ttl: not a duration"}"#);
    }

    #[test]
    fn other_errors_carry_the_servers_type_and_message() {
        let cases = [
            (
                LogicalError::PermissionDenied,
                ERR_TYPE_PERMISSION_DENIED,
                "permission denied",
            ),
            (
                LogicalError::UnsupportedPath,
                ERR_TYPE_UNSUPPORTED_PATH,
                "unsupported path",
            ),
            (
                LogicalError::UnsupportedOperation,
                ERR_TYPE_UNSUPPORTED_OPERATION,
                "unsupported operation",
            ),
            (
                LogicalError::Internal("genesys down".into()),
                ERR_TYPE_INTERNAL,
                "genesys down",
            ),
        ];
        for (error, err_type, message) in cases {
            let reply = reply_to_wire(Err(error));
            assert_eq!(reply.response, None);
            let err = reply.err.unwrap();
            assert_eq!((err.err_type, err.err_msg.as_str()), (err_type, message));
        }
    }

    #[test]
    fn durations_saturate_and_negative_is_zero() {
        assert_eq!(duration_from_nanos(-1), Duration::ZERO);
        assert_eq!(duration_to_nanos(Duration::from_secs(u64::MAX)), i64::MAX);
        assert_eq!(duration_to_nanos(Duration::from_millis(1500)), 1_500_000_000);
    }
}
