//! The HTTP face of the emulator: routes of the real API, the `/__admin` API, the per-request
//! pipeline (call log, faults) and our own connection loop.
//!
//! Layout: `/__admin/*` goes to [`admin`]; everything else goes through [`pipeline`] (count,
//! fault, log) and then to the real API's handlers in [`api`], [`credentials`] and [`token`];
//! [`state`] is what they all share with the [`crate::Emulator`] handle.

pub(crate) mod admin;
pub(crate) mod api;
pub(crate) mod credentials;
pub(crate) mod pipeline;
pub(crate) mod server;
pub(crate) mod state;
pub(crate) mod token;

use axum::routing::{get, post};
use axum::Router;

pub(crate) use state::{AppState, Shared};

/// The whole application.
pub(crate) fn router(state: AppState) -> Router {
    let real_api = Router::new()
        .route("/oauth/token", post(token::issue))
        .route("/api/v2/oauth/clients", get(api::list_clients).post(api::create_client))
        .route(
            "/api/v2/oauth/clients/{id}",
            get(api::get_client).put(api::update_client).delete(api::delete_client),
        )
        .route("/api/v2/oauth/clients/{id}/secret", post(api::new_secret))
        .route("/api/v2/tokens/me", get(api::tokens_me))
        .route("/api/v2/authorization/roles/{id}", get(api::get_role))
        .route(
            "/api/v2/integrations/credentials",
            get(credentials::list).post(credentials::create),
        )
        .route(
            "/api/v2/integrations/credentials/{id}",
            get(credentials::get)
                .put(credentials::update)
                .delete(credentials::delete),
        )
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), pipeline::pipeline))
        .with_state(state.clone());
    Router::new()
        .nest("/__admin", admin::router(state))
        .fallback_service(real_api)
}
