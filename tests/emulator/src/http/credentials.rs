//! Handlers of `/api/v2/integrations/credentials[/{id}]`: authorize (401, 429, 403), parse the
//! body (400), then ask the store's credentials (404, 400).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::pipeline::bearer_token;
use super::state::AppState;
use crate::credentials::Credential;
use crate::error::ApiError;
use crate::store::permissions;

type ApiResult = Result<Response, ApiError>;

fn parse(body: &Bytes) -> Result<Credential, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("Unable to parse the request body: {e}")))
}

pub(crate) async fn list(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    let mut store = state.store();
    store.authorize(bearer_token(&headers), Some(permissions::INTEGRATION_VIEW))?;
    Ok(Json(store.credentials.list()).into_response())
}

pub(crate) async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let mut store = state.store();
    store.authorize(bearer_token(&headers), Some(permissions::INTEGRATION_ADD))?;
    let body = parse(&body)?;
    let now = store.now();
    Ok(Json(store.credentials.create(body, now)?).into_response())
}

pub(crate) async fn get(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    let mut store = state.store();
    store.authorize(bearer_token(&headers), Some(permissions::INTEGRATION_VIEW))?;
    let hide_client_id = store.config.credential_get_hides_client_id;
    Ok(Json(store.credentials.get(&id, hide_client_id)?).into_response())
}

pub(crate) async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let mut store = state.store();
    store.authorize(bearer_token(&headers), Some(permissions::INTEGRATION_EDIT))?;
    let body = parse(&body)?;
    let now = store.now();
    Ok(Json(store.credentials.update(&id, body, now)?).into_response())
}

pub(crate) async fn delete(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    let mut store = state.store();
    store.authorize(bearer_token(&headers), Some(permissions::INTEGRATION_DELETE))?;
    store.credentials.delete(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
