//! The two error shapes of the real service: `ErrorBody` under `/api/v2`, and the OAuth 2.0 error
//! object on the login host's `/oauth/token`.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::models::{ErrorBody, OAuthErrorResponse};

/// An `/api/v2` failure, rendered as an [`ErrorBody`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub message_params: BTreeMap<String, String>,
    /// Sent as `Retry-After` (whole seconds).
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            message_params: BTreeMap::new(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad.request", message)
    }

    pub(crate) fn bad_credentials() -> Self {
        Self::new(401, "bad.credentials", "Invalid login credentials.")
    }

    pub(crate) fn missing_permission(permission: &str) -> Self {
        let mut e = Self::new(
            403,
            "missing.permissions",
            format!(
                "Unable to perform the requested action. You are missing the following permission(s): [{permission}]"
            ),
        );
        e.message_params
            .insert("missingPermissions".into(), format!("[{permission}]"));
        e
    }

    /// The role rule's refusal: the caller lacks role-division pairs it assigns or edits. Shaped
    /// like the API's other missing-permission answers; the real message is unconfirmed.
    pub(crate) fn missing_role_divisions(missing: &[String]) -> Self {
        let list = format!("[{}]", missing.join(", "));
        let mut e = Self::new(
            403,
            "missing.permissions",
            format!(
                "Unable to perform the requested action. A client's roles must be a subset of the caller's; you are missing: {list}"
            ),
        );
        e.message_params.insert("missingRoleDivisions".into(), list);
        e
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "conflict", message)
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(
            404,
            "not.found",
            format!("The requested resource was not found: {what}"),
        )
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(405, "method.not.allowed", "HTTP method not allowed")
    }

    pub(crate) fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            429,
            "too.many.requests.retry.after",
            format!("Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds"),
        );
        e.message_params.insert("retryAfter".into(), retry_after.to_string());
        e.retry_after = Some(retry_after);
        e
    }

    /// The answer of a `Status` fault: an `ErrorBody` with the code the real API uses for that
    /// status.
    pub(crate) fn injected(status: u16, retry_after: Option<u64>) -> Self {
        let (code, message) = match status {
            400 => ("bad.request", "The request could not be understood by the server"),
            401 => ("bad.credentials", "Invalid login credentials."),
            403 => ("missing.permissions", "Unable to perform the requested action."),
            404 => ("not.found", "The requested resource was not found."),
            409 => ("conflict", "The request conflicts with the current state."),
            429 => (
                "too.many.requests.retry.after",
                "Rate limit exceeded the maximum.",
            ),
            500 => ("internal.server.error", "The server encountered an unexpected condition."),
            502 => ("bad.gateway", "Bad gateway."),
            503 => ("service.unavailable", "Service Unavailable - The server is currently unavailable (because it is overloaded or down for maintenance)."),
            504 => ("gateway.timeout", "The server did not respond in time."),
            _ => ("error", "Injected fault."),
        };
        let mut e = Self::new(status, code, message);
        e.retry_after = retry_after;
        e
    }

    pub(crate) fn body(&self) -> ErrorBody {
        ErrorBody {
            message: self.message.clone(),
            code: self.code.to_string(),
            status: self.status,
            context_id: uuid::Uuid::new_v4().to_string(),
            details: Vec::new(),
            errors: Vec::new(),
            message_params: self.message_params.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let correlation = body.context_id.clone();
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, Json(body)).into_response();
        add_retry_after(&mut resp, self.retry_after);
        // The real API echoes its contextId in this header; handy when reading logs.
        if let Ok(v) = HeaderValue::from_str(&correlation) {
            resp.headers_mut().insert("inin-correlation-id", v);
        }
        resp
    }
}

/// A `/oauth/token` failure, rendered as an [`OAuthErrorResponse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
    pub retry_after: Option<u64>,
}

impl TokenError {
    pub(crate) fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        TokenError {
            status,
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    /// Unknown client, wrong secret, missing or malformed Basic auth.
    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "invalid_client", "client not found or bad credentials")
    }

    /// The answer of a `Status` fault on the token route, in the login host's own error shape.
    pub(crate) fn injected(status: u16, retry_after: Option<u64>) -> Self {
        let error = match status {
            400 => "invalid_request",
            401 => "invalid_client",
            429 => "too_many_requests",
            503 => "temporarily_unavailable",
            _ => "server_error",
        };
        let mut e = Self::new(status, error, format!("injected fault: HTTP {status}"));
        e.retry_after = retry_after;
        e
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = OAuthErrorResponse {
            error: self.error.to_string(),
            description: self.description.clone(),
            error_description: self.description,
        };
        let mut resp = (status, Json(body)).into_response();
        add_retry_after(&mut resp, self.retry_after);
        resp
    }
}

fn add_retry_after(resp: &mut Response, retry_after: Option<u64>) {
    if let Some(secs) = retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
}
