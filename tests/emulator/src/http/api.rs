//! Handlers of the real `/api/v2` routes. Each one authorizes (401, 429, 403 in that order),
//! then parses its body (400), then asks the store.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::pipeline::{bearer_token, ShortListing};
use super::state::AppState;
use crate::error::ApiError;
use crate::models::OAuthClientRequest;
use crate::store::permissions;

type ApiResult = Result<Response, ApiError>;

fn parse_request(body: &Bytes) -> Result<OAuthClientRequest, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("Unable to parse the request body: {e}")))
}

pub(crate) async fn list_clients(
    State(state): State<AppState>,
    short: Option<Extension<ShortListing>>,
    headers: HeaderMap,
) -> ApiResult {
    let mut store = state.store();
    store.authorize(bearer_token(&headers), Some(permissions::VIEW))?;
    let listing = store.list_clients(short.is_some());
    if !store.config.listing_without_grant_type {
        return Ok(Json(listing).into_response());
    }
    // The pre-v250 `OAuthClientListing` items: the same fields but `authorizedGrantType`.
    let mut body = serde_json::to_value(listing).expect("a listing serializes");
    if let Some(entities) = body["entities"].as_array_mut() {
        for entity in entities {
            if let Some(item) = entity.as_object_mut() {
                item.remove("authorizedGrantType");
            }
        }
    }
    Ok(Json(body).into_response())
}

pub(crate) async fn create_client(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let mut store = state.store();
    let caller = store.authorize(bearer_token(&headers), Some(permissions::ADD))?;
    let req = parse_request(&body)?;
    // 200, not 201: the real API answers a create with 200.
    Ok(Json(store.create_client(&caller, req)?).into_response())
}

pub(crate) async fn get_client(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    let mut store = state.store();
    store.authorize(bearer_token(&headers), Some(permissions::VIEW))?;
    Ok(Json(store.get_client(&id)?).into_response())
}

pub(crate) async fn update_client(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let mut store = state.store();
    let caller = store.authorize(bearer_token(&headers), Some(permissions::EDIT))?;
    let req = parse_request(&body)?;
    Ok(Json(store.update_client(&caller, &id, req)?).into_response())
}

pub(crate) async fn delete_client(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let mut store = state.store();
    store.authorize(bearer_token(&headers), Some(permissions::DELETE))?;
    store.delete_client(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn new_secret(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    let mut store = state.store();
    let caller = store.authorize(bearer_token(&headers), Some(permissions::EDIT))?;
    Ok(Json(store.new_secret(&caller, &id)?).into_response())
}

pub(crate) async fn get_role(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    let mut store = state.store();
    store.authorize(bearer_token(&headers), Some(permissions::ROLE_VIEW))?;
    Ok(Json(store.get_role(&id)?).into_response())
}

pub(crate) async fn tokens_me(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    let mut store = state.store();
    let caller = store.authorize(bearer_token(&headers), None)?;
    Ok(Json(store.token_info(&caller)?).into_response())
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
