//! What can go wrong talking to Genesys Cloud, which call it was ([`GenesysCall`]), and whether
//! a retry can help.
//!
//! No variant ever holds a secret, a token or a raw response body: error
//! messages end up in logs and in Secrets Manager's rotation failure reason.

use std::error::Error as _;
use std::time::Duration;

use crate::classify::Classify;

use super::models::{ErrorBody, OAuthErrorBody};

/// The longest server-provided message kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

/// A call to Genesys Cloud, as errors (and through them `errorType`) and logs name it. Every
/// [`GenesysError`] says which one failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GenesysCall {
    /// `POST /oauth/token` on the login host: a client-credentials token.
    Token,
    /// `GET /api/v2/oauth/clients`, every page.
    ListClients,
    /// `POST /api/v2/oauth/clients`.
    CreateClient,
    /// `GET /api/v2/oauth/clients/{id}`.
    GetClient,
    /// `PUT /api/v2/oauth/clients/{id}` (deactivation is one).
    UpdateClient,
    /// `DELETE /api/v2/oauth/clients/{id}`.
    DeleteClient,
    /// `POST /api/v2/oauth/clients/{id}/secret`.
    NewSecret,
    /// `GET /api/v2/tokens/me`.
    TokensMe,
    /// `GET /api/v2/integrations/credentials/{id}`.
    GetCredential,
    /// `PUT /api/v2/integrations/credentials/{id}`.
    UpdateCredential,
    /// `GET /api/v2/authorization/roles/{id}`.
    GetRole,
}

impl GenesysCall {
    /// Every call.
    pub const ALL: [GenesysCall; 11] = [
        GenesysCall::Token,
        GenesysCall::ListClients,
        GenesysCall::CreateClient,
        GenesysCall::GetClient,
        GenesysCall::UpdateClient,
        GenesysCall::DeleteClient,
        GenesysCall::NewSecret,
        GenesysCall::TokensMe,
        GenesysCall::GetCredential,
        GenesysCall::UpdateCredential,
        GenesysCall::GetRole,
    ];

    /// Its stable name, the last part of an `errorType` (`GenesysRateLimited.CreateClient`).
    pub fn as_str(self) -> &'static str {
        match self {
            GenesysCall::Token => "Token",
            GenesysCall::ListClients => "ListClients",
            GenesysCall::CreateClient => "CreateClient",
            GenesysCall::GetClient => "GetClient",
            GenesysCall::UpdateClient => "UpdateClient",
            GenesysCall::DeleteClient => "DeleteClient",
            GenesysCall::NewSecret => "NewSecret",
            GenesysCall::TokensMe => "TokensMe",
            GenesysCall::GetCredential => "GetCredential",
            GenesysCall::UpdateCredential => "UpdateCredential",
            GenesysCall::GetRole => "GetRole",
        }
    }

    /// Its HTTP method.
    pub(crate) fn method(self) -> reqwest::Method {
        match self {
            GenesysCall::Token | GenesysCall::CreateClient | GenesysCall::NewSecret => reqwest::Method::POST,
            GenesysCall::ListClients
            | GenesysCall::GetClient
            | GenesysCall::TokensMe
            | GenesysCall::GetCredential
            | GenesysCall::GetRole => reqwest::Method::GET,
            GenesysCall::UpdateClient | GenesysCall::UpdateCredential => reqwest::Method::PUT,
            GenesysCall::DeleteClient => reqwest::Method::DELETE,
        }
    }

    /// Its method and path, as the client's logs show it.
    pub fn route(self) -> &'static str {
        match self {
            GenesysCall::Token => "POST /oauth/token",
            GenesysCall::ListClients => "GET /api/v2/oauth/clients",
            GenesysCall::CreateClient => "POST /api/v2/oauth/clients",
            GenesysCall::GetClient => "GET /api/v2/oauth/clients/{id}",
            GenesysCall::UpdateClient => "PUT /api/v2/oauth/clients/{id}",
            GenesysCall::DeleteClient => "DELETE /api/v2/oauth/clients/{id}",
            GenesysCall::NewSecret => "POST /api/v2/oauth/clients/{id}/secret",
            GenesysCall::TokensMe => "GET /api/v2/tokens/me",
            GenesysCall::GetCredential => "GET /api/v2/integrations/credentials/{id}",
            GenesysCall::UpdateCredential => "PUT /api/v2/integrations/credentials/{id}",
            GenesysCall::GetRole => "GET /api/v2/authorization/roles/{id}",
        }
    }
}

/// A failed call to Genesys Cloud. Each variant names the call ([`GenesysError::call`]):
/// a `call` field set where the call is made, or, for the failures only one call can have, that
/// call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesysError {
    /// The Platform API answered with an error status (other than 404 and 429).
    /// Retryable for 5xx and 408, not for other 4xx.
    #[error("Genesys Cloud answered HTTP {status} ({code}): {message}", code = code.as_deref().unwrap_or("no code"))]
    Http {
        /// The call.
        call: GenesysCall,
        /// HTTP status.
        status: u16,
        /// Genesys error code, e.g. `missing.permissions`.
        code: Option<String>,
        /// Genesys error message (shortened), or a description of the body.
        message: String,
    },
    /// HTTP 429, and either the retries ran out or the server asked to wait
    /// longer than the client is set to sleep. Retryable, later.
    #[error("Genesys Cloud rate limit (HTTP 429){}", match retry_after {
        Some(d) => format!(", retry after {} s", d.as_secs()),
        None => String::new(),
    })]
    RateLimited {
        /// The call.
        call: GenesysCall,
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// The client's own pacing ([`super::pace`]) had no slot for the call before the step
    /// deadline; nothing was sent. Retryable, later.
    #[error("paced at {per_minute} Genesys Cloud calls a minute: no slot left before the step deadline")]
    Paced {
        /// The call.
        call: GenesysCall,
        /// The pace the client keeps.
        per_minute: u32,
    },
    /// The token endpoint refused the client's credentials (HTTP 400/401,
    /// e.g. `invalid_client`). Not retryable in general; a client created a
    /// few seconds ago may still be propagating, which callers may wait out.
    /// The call is [`GenesysCall::Token`].
    #[error("Genesys Cloud refused the client credentials (HTTP {status}): {description}")]
    InvalidClient {
        /// HTTP status.
        status: u16,
        /// The OAuth error and its description.
        description: String,
    },
    /// The request did not get an answer: connection refused or reset,
    /// DNS failure, timeout, body cut short. Retryable.
    #[error("could not reach Genesys Cloud: {message}")]
    Transport {
        /// The call.
        call: GenesysCall,
        /// What went wrong (no URL query, no header).
        message: String,
    },
    /// The answer was not what the API promises (bad JSON, missing field,
    /// endless pagination), or the request could not be made. Not retryable.
    #[error("unexpected answer from Genesys Cloud: {message}")]
    Decode {
        /// The call.
        call: GenesysCall,
        /// What was wrong with it (never a value of an answer that holds a secret).
        message: String,
    },
    /// HTTP 404: the entity does not exist. Not retryable.
    #[error("Genesys Cloud answered HTTP 404: not found")]
    NotFound {
        /// The call.
        call: GenesysCall,
    },
    /// A listing ended short of what its own pages announced: fewer distinct entities than
    /// `total`, or fewer pages followed than `pageCount` (entities can shift between pages while
    /// they are read). Whoever acts on a listing (deletes what is missing from it, counts it
    /// against a limit) must not act on this one. Retryable: a later listing may be complete.
    /// The call is [`GenesysCall::ListClients`].
    #[error(
        "incomplete client listing: {listed} distinct clients on {pages} page(s), but Genesys Cloud announced {} \
         clients on {} page(s); nothing is decided on it",
        announced(total),
        announced(page_count)
    )]
    IncompleteListing {
        /// Distinct entities listed.
        listed: u64,
        /// The largest `total` a page announced, if any did.
        total: Option<u64>,
        /// Pages followed.
        pages: u32,
        /// The largest `pageCount` a page announced, if any did.
        page_count: Option<u32>,
    },
}

fn announced<T: std::fmt::Display>(value: &Option<T>) -> String {
    match value {
        Some(v) => v.to_string(),
        None => "an unstated number of".to_owned(),
    }
}

impl Classify for GenesysError {
    fn is_retryable(&self) -> bool {
        match self {
            GenesysError::Http { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            GenesysError::RateLimited { .. }
            | GenesysError::Paced { .. }
            | GenesysError::Transport { .. }
            | GenesysError::IncompleteListing { .. } => true,
            GenesysError::InvalidClient { .. } | GenesysError::Decode { .. } | GenesysError::NotFound { .. } => false,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            GenesysError::Http { status: 401 | 403, .. } => "GenesysPermissionDenied",
            GenesysError::Http { status, .. } if *status >= 500 || *status == 408 => "GenesysServerError",
            GenesysError::Http { status: 429, .. } | GenesysError::RateLimited { .. } | GenesysError::Paced { .. } => {
                "GenesysRateLimited"
            }
            GenesysError::Http { .. } => "GenesysRequestRefused",
            GenesysError::InvalidClient { .. } => "GenesysInvalidClient",
            GenesysError::Transport { .. } => "GenesysUnreachable",
            GenesysError::Decode { .. } => "GenesysBadAnswer",
            GenesysError::NotFound { .. } => "GenesysNotFound",
            GenesysError::IncompleteListing { .. } => "GenesysIncompleteListing",
        }
    }

    fn call_name(&self) -> Option<&'static str> {
        Some(self.call().as_str())
    }
}

impl GenesysError {
    /// The call that failed.
    pub fn call(&self) -> GenesysCall {
        match self {
            GenesysError::Http { call, .. }
            | GenesysError::RateLimited { call, .. }
            | GenesysError::Paced { call, .. }
            | GenesysError::Transport { call, .. }
            | GenesysError::Decode { call, .. }
            | GenesysError::NotFound { call } => *call,
            GenesysError::InvalidClient { .. } => GenesysCall::Token,
            GenesysError::IncompleteListing { .. } => GenesysCall::ListClients,
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            GenesysError::Http { status, .. } | GenesysError::InvalidClient { status, .. } => Some(*status),
            GenesysError::RateLimited { .. } => Some(429),
            GenesysError::NotFound { .. } => Some(404),
            GenesysError::Paced { .. }
            | GenesysError::Transport { .. }
            | GenesysError::Decode { .. }
            | GenesysError::IncompleteListing { .. } => None,
        }
    }

    /// Builds the error for a Platform API error answer to `call`.
    pub(crate) fn from_api_response(
        call: GenesysCall,
        status: u16,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> GenesysError {
        match status {
            404 => GenesysError::NotFound { call },
            429 => GenesysError::RateLimited { call, retry_after },
            _ => match serde_json::from_slice::<ErrorBody>(body) {
                Ok(parsed) => GenesysError::Http {
                    call,
                    status,
                    code: parsed.code.map(|c| shorten(&c)),
                    message: match (parsed.message, parsed.context_id) {
                        (Some(m), Some(ctx)) => format!("{} (contextId {ctx})", shorten(&m)),
                        (Some(m), None) => shorten(&m),
                        (None, Some(ctx)) => format!("no message (contextId {ctx})"),
                        (None, None) => "no message".to_owned(),
                    },
                },
                Err(_) => GenesysError::Http {
                    call,
                    status,
                    code: None,
                    message: describe_opaque_body(body),
                },
            },
        }
    }

    /// Builds the error for an error answer of the OAuth token endpoint.
    pub(crate) fn from_token_response(status: u16, retry_after: Option<Duration>, body: &[u8]) -> GenesysError {
        match status {
            400 | 401 => {
                let parsed: OAuthErrorBody = serde_json::from_slice(body).unwrap_or_default();
                let error = parsed.error.unwrap_or_else(|| "unknown error".to_owned());
                let description = match parsed.error_description.or(parsed.description) {
                    Some(d) => format!("{}: {}", shorten(&error), shorten(&d)),
                    None => shorten(&error),
                };
                GenesysError::InvalidClient { status, description }
            }
            429 => GenesysError::RateLimited {
                call: GenesysCall::Token,
                retry_after,
            },
            // The token endpoint answers its other errors like the API does.
            _ => GenesysError::from_api_response(GenesysCall::Token, status, retry_after, body),
        }
    }

    /// Describes a transport-level failure of `call` without its URL's query or any
    /// header, keeping the cause chain ("connection refused", "timed out").
    pub(crate) fn from_transport(call: GenesysCall, err: &reqwest::Error) -> GenesysError {
        let mut text = if err.is_timeout() {
            "request timed out".to_owned()
        } else if err.is_connect() {
            "could not connect".to_owned()
        } else if err.is_body() || err.is_decode() {
            "response body was cut short".to_owned()
        } else {
            "request failed".to_owned()
        };
        if let Some(url) = err.url() {
            text.push_str(&format!(" ({} {})", url.host_str().unwrap_or("?"), url.path()));
        }
        let mut source = err.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&shorten(&cause.to_string()));
            source = cause.source();
        }
        GenesysError::Transport { call, message: text }
    }
}

fn shorten(s: &str) -> String {
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() <= MAX_MESSAGE_CHARS {
        one_line
    } else {
        let mut cut: String = one_line.chars().take(MAX_MESSAGE_CHARS).collect();
        cut.push('…');
        cut
    }
}

/// A non-JSON body is described, never quoted: it could echo anything.
fn describe_opaque_body(body: &[u8]) -> String {
    if body.is_empty() {
        "empty body".to_owned()
    } else {
        format!("non-JSON body of {} bytes", body.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryability_by_variant() {
        let http = |status| GenesysError::Http {
            call: GenesysCall::GetClient,
            status,
            code: None,
            message: String::new(),
        };
        assert!(http(500).is_retryable());
        assert!(http(502).is_retryable());
        assert!(http(503).is_retryable());
        assert!(http(408).is_retryable());
        assert!(!http(400).is_retryable());
        assert!(!http(401).is_retryable());
        assert!(!http(403).is_retryable());
        assert!(!http(409).is_retryable());
        let call = GenesysCall::GetClient;
        assert!(GenesysError::RateLimited {
            call,
            retry_after: None
        }
        .is_retryable());
        assert!(GenesysError::Transport {
            call,
            message: "x".into()
        }
        .is_retryable());
        assert!(!GenesysError::Decode {
            call,
            message: "x".into()
        }
        .is_retryable());
        assert!(!GenesysError::NotFound { call }.is_retryable());
        assert!(!GenesysError::InvalidClient {
            status: 401,
            description: "x".into()
        }
        .is_retryable());
    }

    #[test]
    fn api_error_body_is_parsed() {
        let e = GenesysError::from_api_response(
            GenesysCall::CreateClient,
            403,
            None,
            br#"{"message":"You lack oauth:client:add","code":"missing.permissions","status":403,"contextId":"c-1"}"#,
        );
        assert_eq!(
            e,
            GenesysError::Http {
                call: GenesysCall::CreateClient,
                status: 403,
                code: Some("missing.permissions".into()),
                message: "You lack oauth:client:add (contextId c-1)".into()
            }
        );
        assert!(e.to_string().contains("HTTP 403 (missing.permissions)"));
    }

    #[test]
    fn special_statuses() {
        let call = GenesysCall::DeleteClient;
        assert_eq!(
            GenesysError::from_api_response(call, 404, None, b"{}"),
            GenesysError::NotFound { call }
        );
        assert_eq!(
            GenesysError::from_api_response(call, 429, Some(Duration::from_secs(3)), b""),
            GenesysError::RateLimited {
                call,
                retry_after: Some(Duration::from_secs(3))
            }
        );
    }

    #[test]
    fn opaque_bodies_are_not_quoted() {
        let e = GenesysError::from_api_response(GenesysCall::ListClients, 502, None, b"<html>secret-ish</html>");
        assert!(!e.to_string().contains("secret-ish"));
        assert!(e.is_retryable());
    }

    #[test]
    fn token_errors() {
        let e = GenesysError::from_token_response(
            401,
            None,
            br#"{"error":"invalid_client","description":"client not found","error_description":"client not found"}"#,
        );
        assert_eq!(
            e,
            GenesysError::InvalidClient {
                status: 401,
                description: "invalid_client: client not found".into()
            }
        );
        assert!(!e.is_retryable());
        let e = GenesysError::from_token_response(400, None, b"garbage");
        assert!(matches!(e, GenesysError::InvalidClient { status: 400, .. }));
        let e = GenesysError::from_token_response(503, None, b"");
        assert!(e.is_retryable());
        assert_eq!(e.call(), GenesysCall::Token);
    }

    #[test]
    fn long_messages_are_shortened() {
        let long = "x".repeat(1000);
        let body = format!(r#"{{"message":"{long}","code":"bad.request"}}"#);
        let e = GenesysError::from_api_response(GenesysCall::UpdateClient, 400, None, body.as_bytes());
        assert!(e.to_string().len() < 400);
    }

    #[test]
    fn every_error_names_the_call_that_failed() {
        // The call an error was made with is the one it names, whatever the failure.
        for call in GenesysCall::ALL {
            for e in [
                GenesysError::from_api_response(call, 403, None, b"{}"),
                GenesysError::from_api_response(call, 404, None, b""),
                GenesysError::from_api_response(call, 429, None, b""),
                GenesysError::from_api_response(call, 503, None, b"<html>"),
                GenesysError::Transport {
                    call,
                    message: "reset".into(),
                },
                GenesysError::Decode {
                    call,
                    message: "bad json".into(),
                },
            ] {
                assert_eq!(e.call(), call, "{e:?}");
                assert_eq!(e.call_name(), Some(call.as_str()));
                assert!(call.as_str().chars().all(|c| c.is_ascii_alphanumeric()), "{call:?}");
            }
        }
        // The failures only one call can have name it.
        let refused = GenesysError::from_token_response(401, None, br#"{"error":"invalid_client"}"#);
        assert_eq!(refused.call(), GenesysCall::Token);
        let short = GenesysError::IncompleteListing {
            listed: 1,
            total: Some(2),
            pages: 1,
            page_count: None,
        };
        assert_eq!(short.call(), GenesysCall::ListClients);
        assert_eq!(
            crate::classify::qualified_kind(&GenesysError::from_api_response(
                GenesysCall::CreateClient,
                403,
                None,
                b"{}"
            )),
            "GenesysPermissionDenied.CreateClient"
        );
    }
}
