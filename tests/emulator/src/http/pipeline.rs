//! What happens to every request of the real API before and after its handler: naming its route
//! key, applying an injected fault, and writing the call log.
//!
//! Faults act before the handler (so a refused or dropped call changes nothing), except
//! `DropAfterApply`, which runs the handler and then drops the connection instead of answering,
//! and `StatusAfterApply`, which runs the handler and then answers an error status instead of
//! its answer.

use std::future;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::server::ConnectionHandle;
use super::state::AppState;
use crate::error::{ApiError, TokenError};
use crate::faults::{routes, FaultAction};
use crate::records::CallRecord;

/// Marks a listing request hit by the `shortListing` fault (read by the listing's handler).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShortListing;

/// Route key and `{id}` path parameter of a request. Unknown paths get `"METHOD /path"`.
pub(crate) fn classify(method: &Method, path: &str) -> (String, Option<String>) {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let (pattern, id) = match segments.as_slice() {
        ["", "oauth", "token"] => ("/oauth/token", None),
        ["", "api", "v2", "oauth", "clients"] => ("/api/v2/oauth/clients", None),
        ["", "api", "v2", "oauth", "clients", id] => ("/api/v2/oauth/clients/{id}", Some(*id)),
        ["", "api", "v2", "oauth", "clients", id, "secret"] => ("/api/v2/oauth/clients/{id}/secret", Some(*id)),
        ["", "api", "v2", "tokens", "me"] => ("/api/v2/tokens/me", None),
        ["", "api", "v2", "authorization", "roles", id] => ("/api/v2/authorization/roles/{id}", Some(*id)),
        ["", "api", "v2", "integrations", "credentials"] => ("/api/v2/integrations/credentials", None),
        ["", "api", "v2", "integrations", "credentials", id] => ("/api/v2/integrations/credentials/{id}", Some(*id)),
        _ => return (format!("{method} {path}"), None),
    };
    (format!("{method} {pattern}"), id.map(str::to_string))
}

/// `(client id, secret)` from `Authorization: Basic ...`, if well formed.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// The token of `Authorization: Bearer ...`.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

pub(crate) async fn pipeline(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (route, path_id) = classify(req.method(), req.uri().path());
    let is_token_route = route == routes::TOKEN;
    let basic_id = basic_credentials(req.headers()).map(|(id, _)| id);
    let (caller, action) = {
        let mut store = state.store();
        let caller = if is_token_route {
            basic_id.clone()
        } else {
            bearer_token(req.headers()).and_then(|t| store.token_owner(t))
        };
        let action = store.take_fault(&route, path_id.as_deref(), basic_id.as_deref());
        (caller, action)
    };
    let connection = req.extensions().get::<ConnectionHandle>().cloned();
    // Logged exactly once, even if the client hangs up and hyper drops this future mid-way
    // (e.g. during a Delay fault): the guard then records the call with no status.
    let mut log = CallLog {
        state: state.clone(),
        route: route.clone(),
        caller,
        done: false,
    };
    let mut record = |status: Option<u16>| log.finish(status);

    let drop_connection = |why: &str| -> Option<Response> {
        match &connection {
            Some(conn) => {
                tracing::info!(route = %route, "fault: dropping the connection {why}");
                conn.drop_connection();
                None
            }
            // Only when the router is driven without our connection loop; never in practice.
            None => Some(ApiError::injected(500, None).into_response()),
        }
    };

    match action {
        None => {
            let resp = next.run(req).await;
            record(Some(resp.status().as_u16()));
            resp
        }
        Some(FaultAction::Status { status, retry_after }) => {
            tracing::info!(route = %route, status, "fault: injected status");
            let resp = if is_token_route {
                TokenError::injected(status, retry_after).into_response()
            } else {
                ApiError::injected(status, retry_after).into_response()
            };
            record(Some(resp.status().as_u16()));
            resp
        }
        Some(FaultAction::ShortListing) => {
            // Only ever queued on the listing route (`Fault::check`); the handler drops a client.
            tracing::info!(route = %route, "fault: listing without its last client");
            let mut req = req;
            req.extensions_mut().insert(ShortListing);
            let resp = next.run(req).await;
            record(Some(resp.status().as_u16()));
            resp
        }
        Some(FaultAction::Delay(delay)) => {
            tracing::info!(route = %route, ?delay, "fault: delaying the answer");
            tokio::time::sleep(delay).await;
            let resp = next.run(req).await;
            record(Some(resp.status().as_u16()));
            resp
        }
        Some(FaultAction::Drop) => {
            record(None);
            if let Some(resp) = drop_connection("before acting") {
                return resp;
            }
            // The connection task drops this future together with the socket.
            future::pending().await
        }
        Some(FaultAction::DropAfterApply) => {
            let resp = next.run(req).await;
            tracing::info!(route = %route, status = resp.status().as_u16(), "fault: acted, answer lost");
            record(None);
            if let Some(resp) = drop_connection("after acting") {
                return resp;
            }
            future::pending().await
        }
        Some(FaultAction::StatusAfterApply { status }) => {
            let applied = next.run(req).await;
            tracing::info!(route = %route, applied = applied.status().as_u16(), status, "fault: acted, answered an injected status instead");
            let resp = if is_token_route {
                TokenError::injected(status, None).into_response()
            } else {
                ApiError::injected(status, None).into_response()
            };
            record(Some(resp.status().as_u16()));
            resp
        }
    }
}

/// Writes one call-log entry: on [`CallLog::finish`], or on drop if never finished.
struct CallLog {
    state: AppState,
    route: String,
    caller: Option<String>,
    done: bool,
}

impl CallLog {
    fn finish(&mut self, status: Option<u16>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        // Route keys, statuses and client ids only: never secrets or tokens.
        tracing::info!(
            route = %self.route,
            status = status.map(i64::from).unwrap_or(-1),
            caller = self.caller.as_deref().unwrap_or("-"),
            "call"
        );
        self.state.store().record_call(CallRecord {
            route: self.route.clone(),
            status,
            client_id: self.caller.clone(),
        });
    }
}

impl Drop for CallLog {
    fn drop(&mut self) {
        self.finish(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_keys() {
        let m = Method::PUT;
        assert_eq!(
            classify(&m, "/api/v2/oauth/clients/abc"),
            (routes::UPDATE_CLIENT.to_string(), Some("abc".to_string()))
        );
        assert_eq!(
            classify(&Method::POST, "/api/v2/oauth/clients/abc/secret"),
            (routes::NEW_SECRET.to_string(), Some("abc".to_string()))
        );
        assert_eq!(
            classify(&Method::GET, "/api/v2/oauth/clients"),
            (routes::LIST_CLIENTS.to_string(), None)
        );
        assert_eq!(
            classify(&Method::PUT, "/api/v2/integrations/credentials/cred-1"),
            (routes::UPDATE_CREDENTIAL.to_string(), Some("cred-1".to_string()))
        );
        assert_eq!(classify(&Method::GET, "/nope"), ("GET /nope".to_string(), None));
    }

    #[test]
    fn auth_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode("id:se:cret")).parse().unwrap(),
        );
        assert_eq!(basic_credentials(&h), Some(("id".to_string(), "se:cret".to_string())));
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, "bearer tok".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("tok"));
    }
}
