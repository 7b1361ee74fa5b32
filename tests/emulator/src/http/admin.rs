//! `/__admin`: the test-side API (no auth, not counted, never faulted), mirroring the Rust
//! methods of [`crate::Emulator`] for tests and demos that run the binary.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::state::AppState;
use crate::credentials::{CredentialRecord, SeedCredential};
use crate::faults::Fault;
use crate::records::{
    CallRecord, ClientDates, ClientRecord, ClockAdvance, ConfigPatch, RoleSeed, SeedClient, SeededClient,
};

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/clients", get(clients).post(seed_client))
        .route("/clients/{id}/dates", post(set_client_dates))
        .route("/credentials", get(credentials).post(seed_credential))
        .route("/deleted", get(deleted))
        .route("/purged", get(purged))
        .route("/roles", post(seed_role))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/calls", get(call_counts))
        .route("/calls/log", get(call_log))
        .route("/clock", post(advance_clock))
        .route("/config", post(patch_config))
        .with_state(state)
}

async fn clients(State(state): State<AppState>) -> Json<Vec<ClientRecord>> {
    Json(state.store().records())
}

async fn credentials(State(state): State<AppState>) -> Json<Vec<CredentialRecord>> {
    Json(state.store().credentials.records())
}

async fn seed_credential(State(state): State<AppState>, Json(seed): Json<SeedCredential>) -> Json<CredentialRecord> {
    Json(state.store().seed_credential(seed))
}

async fn deleted(State(state): State<AppState>) -> Json<Vec<String>> {
    Json(state.store().deleted_ids())
}

async fn purged(State(state): State<AppState>) -> Json<Vec<String>> {
    Json(state.store().purged_ids())
}

async fn seed_client(State(state): State<AppState>, Json(seed): Json<SeedClient>) -> Json<SeededClient> {
    Json(state.store().seed_client(seed))
}

/// 204, or 404 for an unknown client.
async fn set_client_dates(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(dates): Json<ClientDates>,
) -> StatusCode {
    if state.store().set_client_dates(&id, &dates) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn seed_role(State(state): State<AppState>, Json(role): Json<RoleSeed>) -> StatusCode {
    state.store().seed_role(&role.role_id, role.permissions);
    StatusCode::NO_CONTENT
}

/// 204, or 400 with the reason for a fault that cannot act where it is aimed (nothing queued).
async fn add_fault(
    State(state): State<AppState>,
    Json(fault): Json<Fault>,
) -> Result<StatusCode, (StatusCode, String)> {
    fault.check().map_err(|reason| (StatusCode::BAD_REQUEST, reason))?;
    state.store().add_fault(fault);
    Ok(StatusCode::NO_CONTENT)
}

async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    state.store().clear_faults();
    StatusCode::NO_CONTENT
}

async fn call_counts(State(state): State<AppState>) -> Json<std::collections::BTreeMap<String, u64>> {
    Json(state.store().call_counts())
}

async fn call_log(State(state): State<AppState>) -> Json<Vec<CallRecord>> {
    Json(state.store().calls())
}

async fn advance_clock(State(state): State<AppState>, Json(by): Json<ClockAdvance>) -> StatusCode {
    state.store().advance_clock(Duration::from_secs(by.advance_seconds));
    StatusCode::NO_CONTENT
}

async fn patch_config(State(state): State<AppState>, Json(patch): Json<ConfigPatch>) -> StatusCode {
    let mut store = state.store();
    if let Some(n) = patch.client_limit {
        store.config.client_limit = n;
    }
    if let Some(rate) = patch.rate_limit_per_minute {
        store.config.rate_limit_per_minute = rate;
    }
    if let Some(ms) = patch.propagation_delay_ms {
        store.config.propagation_delay = Duration::from_millis(ms);
    }
    if let Some(revoke) = patch.revoke_tokens_on_new_secret {
        store.config.revoke_tokens_on_new_secret = revoke;
    }
    if let Some(fields) = patch.required_client_fields {
        store.config.required_client_fields = fields;
    }
    if let Some(on) = patch.soft_delete {
        store.config.soft_delete = on;
    }
    if let Some(counted) = patch.soft_deleted_count_against_limit {
        store.config.soft_deleted_count_against_limit = counted;
    }
    if let Some(answer) = patch.repeat_delete {
        store.config.repeat_delete = answer;
    }
    if let Some(after) = patch.auto_delete_inactive_after_seconds {
        store.config.auto_delete_inactive_after = after.map(Duration::from_secs);
    }
    if let Some(on) = patch.role_rule {
        store.config.role_rule = on;
    }
    if let Some(on) = patch.listing_without_grant_type {
        store.config.listing_without_grant_type = on;
    }
    if let Some(on) = patch.credential_get_hides_client_id {
        store.config.credential_get_hides_client_id = on;
    }
    StatusCode::NO_CONTENT
}
