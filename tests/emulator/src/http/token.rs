//! `POST /oauth/token`, the login host's client-credentials grant.
//!
//! Served on the same base URL as `/api/v2`: the official SDKs derive the login host by
//! replacing `//api.` with `//login.` in the API base URL, which leaves `http://127.0.0.1:PORT`
//! unchanged.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::pipeline::basic_credentials;
use super::state::AppState;
use crate::error::TokenError;
use crate::models::TokenRequest;

pub(crate) async fn issue(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form: TokenRequest = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => return TokenError::new(400, "invalid_request", "malformed form body").into_response(),
    };
    let basic = basic_credentials(&headers);
    let result = state.store().token_grant(
        basic.as_ref().map(|(id, secret)| (id.as_str(), secret.as_str())),
        form.grant_type.as_deref(),
    );
    match result {
        Ok(token) => Json(token).into_response(),
        Err(e) => e.into_response(),
    }
}
