//! The test-side types: configuration, seeds, the inventory view of clients and the call log.
//! They are what the Rust API of [`crate::Emulator`] takes and returns, and (camelCase JSON) what
//! the `/__admin` HTTP API takes and returns.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::clock::genesys_time;
use crate::models::{ClientState, RoleDivision};

/// Default organization id shown by `tokens/me` (fixed so test output is stable).
pub const DEFAULT_ORG_ID: &str = "5a1f7c1e-0000-4000-8000-00000000e0e0";
/// Organization name shown by `tokens/me`.
pub const ORG_NAME: &str = "genesys-emulator";

/// Settings of one emulator instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// The org's OAuth client limit (commonly quoted as 500; unconfirmed). Creating a client when
    /// this many exist (any state) is refused.
    pub client_limit: usize,
    /// Requests per minute per access token on `/api/v2`; `None` = unlimited.
    pub rate_limit_per_minute: Option<u32>,
    /// How long a client created through the API cannot get tokens (eventual consistency).
    pub propagation_delay: Duration,
    /// Organization id shown by `tokens/me`.
    pub org_id: String,
    /// Whether `POST /api/v2/oauth/clients/{id}/secret` also revokes the tokens the client
    /// already holds. The old secret stops working either way (documented); what happens to
    /// existing tokens is unconfirmed, so both are modelled. Default `false`: tokens survive.
    pub revoke_tokens_on_new_secret: bool,
    /// Fields a new `CLIENT-CREDENTIALS` client must have: a create without one of them (absent,
    /// `null`, `""` or `[]`) is a 400 `bad.request`. Genesys announced (2026-04-06) that such
    /// clients will require an allowed IP address or CIDR list; the field's real name is not
    /// published yet, hence a setting (e.g. `allowedIpAddresses`). Existing clients keep
    /// working and may be updated without it (the announced transition period). Default: none.
    pub required_client_fields: Vec<String>,
    /// Soft delete (documented: Genesys help, "View, edit, delete, or restore OAuth clients").
    /// A DELETE of a client created more than [`SOFT_DELETE_AFTER_AGE`] ago (emulator clock)
    /// does not remove it: it stays `inactive`, listed and readable, with `dateToDelete` =
    /// now + [`SOFT_DELETE_GRACE`]; its tokens are revoked; a PUT with `state: active` restores
    /// it. Once `dateToDelete` has passed it is gone (404, not listed). A younger client is
    /// removed at once. Default `true`; `false` removes every deleted client at once.
    pub soft_delete: bool,
    /// The age past which a DELETE soft-deletes ([`SOFT_DELETE_AFTER_AGE`], documented); a test
    /// may lower it to see a soft delete of a client it just made.
    pub soft_delete_after_age: Duration,
    /// Whether a soft-deleted client still counts against `client_limit` (unconfirmed).
    /// Default `true`.
    pub soft_deleted_count_against_limit: bool,
    /// What a DELETE of a client already soft-deleted answers (unconfirmed). Default
    /// [`RepeatDelete::NoContent`]: 204 as the first DELETE did; the client stays soft-deleted
    /// with its `dateToDelete` unchanged.
    pub repeat_delete: RepeatDelete,
    /// Genesys removing `inactive` clients by itself (the SDK's `inactive`: "it will be
    /// deleted"; when, unconfirmed): an inactive client whose `dateModified` is more than this
    /// long ago (emulator clock) is gone (404, not listed). Default `None`: never.
    pub auto_delete_inactive_after: Option<Duration>,
    /// The role rule (documented for users; whether it binds a client-credentials caller is
    /// unconfirmed): a create or update whose `roleDivisions` (and deprecated `roleIds`) are not
    /// all held by the calling client, or an update of a client whose current roles the caller
    /// does not all hold, is a 403 `missing.permissions` naming the missing pairs. The caller
    /// holds its own `roleDivisions` (for a seeded client: [`SeedClient::role_divisions`]); a
    /// held division `*` covers every division. Default `false`.
    pub role_rule: bool,
    /// `GET /api/v2/oauth/clients` answers its items as the pre-v250 SDK's `OAuthClientListing`,
    /// without `authorizedGrantType` (GET by id still answers the whole `OAuthClient`).
    /// Default `false`.
    pub listing_without_grant_type: bool,
    /// `GET /api/v2/integrations/credentials/{id}` leaves `clientId` out of `credentialFields`
    /// as well as the secret fields (which fields the real GET redacts is undocumented).
    /// Default `false`: `clientId` is shown.
    pub credential_get_hides_client_id: bool,
}

/// A DELETE of a client created more than this long ago only soft-deletes it (documented).
pub const SOFT_DELETE_AFTER_AGE: Duration = Duration::from_secs(30 * 86_400);
/// How long a soft-deleted client stays before it is gone: its `dateToDelete` is the DELETE's
/// time plus this (documented).
pub const SOFT_DELETE_GRACE: Duration = Duration::from_secs(7 * 86_400);

/// The answer to a DELETE of a client that is already soft-deleted (unconfirmed, hence a
/// setting). Whatever the answer, the client stays soft-deleted and its `dateToDelete` does not
/// move.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RepeatDelete {
    /// 204, no body: as the first DELETE answered.
    #[default]
    NoContent,
    /// 404 `not.found`, as if the client were gone.
    NotFound,
    /// 409 `conflict`.
    Conflict,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            client_limit: 500,
            rate_limit_per_minute: None,
            propagation_delay: Duration::ZERO,
            org_id: DEFAULT_ORG_ID.to_string(),
            revoke_tokens_on_new_secret: false,
            required_client_fields: Vec::new(),
            soft_delete: true,
            soft_delete_after_age: SOFT_DELETE_AFTER_AGE,
            soft_deleted_count_against_limit: true,
            repeat_delete: RepeatDelete::NoContent,
            auto_delete_inactive_after: None,
            role_rule: false,
            listing_without_grant_type: false,
            credential_get_hides_client_id: false,
        }
    }
}

/// A client to plant directly in the org (bypassing auth; it counts toward the client limit but
/// is never refused by it). Seeded clients get tokens at once (no propagation delay) and have
/// grant type `CLIENT-CREDENTIALS`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedClient {
    pub name: String,
    /// The permissions its tokens carry, e.g. `oauth:client:view` (segments may be `*`).
    pub permissions: Vec<String>,
    pub state: ClientState,
    pub access_token_validity_seconds: u32,
    /// Shown in the client's `roleDivisions`; grants no permission (use `permissions`), but is
    /// what the client holds for the role rule ([`EmulatorConfig::role_rule`]).
    pub role_divisions: Vec<RoleDivision>,
    /// Defaults to the emulator's "now".
    #[serde(with = "genesys_time::option", skip_serializing_if = "Option::is_none")]
    pub date_created: Option<OffsetDateTime>,
    /// Defaults to `date_created` (for a client deactivated later, when that happened).
    #[serde(default, with = "genesys_time::option", skip_serializing_if = "Option::is_none")]
    pub date_modified: Option<OffsetDateTime>,
    /// Free text, as a creator would have written it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Fields the SDK does not name (e.g. an allowed IP list), shown by GET and listing as they
    /// are. Seeds are never refused for lacking a required field.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub fields: Map<String, Value>,
}

impl Default for SeedClient {
    fn default() -> Self {
        SeedClient {
            name: "seeded-client".to_string(),
            permissions: Vec::new(),
            state: ClientState::Active,
            access_token_validity_seconds: 86_400,
            role_divisions: Vec::new(),
            date_created: None,
            date_modified: None,
            description: None,
            fields: Map::new(),
        }
    }
}

impl SeedClient {
    /// An active client with these permissions and default everything else.
    pub fn new(name: impl Into<String>, permissions: &[&str]) -> Self {
        SeedClient {
            name: name.into(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            ..SeedClient::default()
        }
    }

    /// Permissions to manage OAuth clients fully: view, add, edit, delete.
    pub const ADMIN_PERMISSIONS: [&'static str; 4] = [
        "oauth:client:view",
        "oauth:client:add",
        "oauth:client:edit",
        "oauth:client:delete",
    ];

    /// An active client holding [`SeedClient::ADMIN_PERMISSIONS`].
    pub fn admin(name: impl Into<String>) -> Self {
        Self::new(name, &Self::ADMIN_PERMISSIONS)
    }
}

/// Credentials of a seeded client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeededClient {
    pub id: String,
    pub secret: String,
}

/// Inventory view of one existing client, secret and effective permissions included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientRecord {
    pub id: String,
    pub name: String,
    pub state: ClientState,
    pub secret: String,
    pub permissions: Vec<String>,
    pub role_divisions: Vec<RoleDivision>,
    pub access_token_validity_seconds: u32,
    #[serde(with = "genesys_time")]
    pub date_created: OffsetDateTime,
    #[serde(with = "genesys_time")]
    pub date_modified: OffsetDateTime,
    pub description: Option<String>,
    /// Set while the client is soft-deleted: when it will be gone (also shown by the API).
    #[serde(default, with = "genesys_time::option", skip_serializing_if = "Option::is_none")]
    pub date_to_delete: Option<OffsetDateTime>,
    /// Whether a DELETE soft-deleted it (it stays until `date_to_delete`; a PUT with
    /// `state: active` restores it).
    #[serde(default)]
    pub soft_deleted: bool,
    /// E.g. `"CLIENT-CREDENTIALS"`.
    pub authorized_grant_type: String,
    /// The fields the SDK does not name, as stored.
    #[serde(default)]
    pub fields: Map<String, Value>,
}

/// One entry of the call log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// Route key, e.g. `"PUT /api/v2/oauth/clients/{id}"`; `"METHOD /path"` for unknown paths.
    pub route: String,
    /// The status answered; `None` when the connection was dropped by a fault.
    pub status: Option<u16>,
    /// The caller: the client id behind the Bearer token (if the token was known), or for
    /// `/oauth/token` the Basic-auth client id.
    pub client_id: Option<String>,
}

/// Body of `POST /__admin/roles`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleSeed {
    pub role_id: String,
    pub permissions: Vec<String>,
}

/// Body of `POST /__admin/clock`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClockAdvance {
    pub advance_seconds: u64,
}

/// Body of `POST /__admin/clients/{id}/dates`: dates to give an existing client, as if what they
/// record had happened then (e.g. a deactivation a drain ago, without waiting the drain). Absent
/// fields are left alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClientDates {
    #[serde(with = "genesys_time::option", skip_serializing_if = "Option::is_none")]
    pub date_created: Option<OffsetDateTime>,
    #[serde(with = "genesys_time::option", skip_serializing_if = "Option::is_none")]
    pub date_modified: Option<OffsetDateTime>,
}

/// Body of `POST /__admin/config`: absent fields are left alone; `"rateLimitPerMinute": null`
/// turns rate limiting off.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_limit: Option<usize>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_minute: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation_delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_tokens_on_new_secret: Option<bool>,
    /// Replaces the list (`[]` clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_client_fields: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_delete: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_deleted_count_against_limit: Option<bool>,
    /// `"noContent"`, `"notFound"` or `"conflict"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_delete: Option<RepeatDelete>,
    /// `null` turns it off.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub auto_delete_inactive_after_seconds: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_rule: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing_without_grant_type: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_get_hides_client_id: Option<bool>,
}

/// Tells a field that is present (even as `null`) from one that is absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_patch_null_means_off() {
        let p: ConfigPatch = serde_json::from_str(r#"{"rateLimitPerMinute":null}"#).unwrap();
        assert_eq!(p.rate_limit_per_minute, Some(None));
        let p: ConfigPatch = serde_json::from_str(r#"{"clientLimit":3}"#).unwrap();
        assert_eq!(p.rate_limit_per_minute, None);
        assert_eq!(p.client_limit, Some(3));
    }

    #[test]
    fn config_patch_reads_the_fidelity_switches() {
        let p: ConfigPatch = serde_json::from_str(
            r#"{"softDelete":false,"repeatDelete":"notFound","autoDeleteInactiveAfterSeconds":null,
                "roleRule":true,"listingWithoutGrantType":true,"credentialGetHidesClientId":true,
                "softDeletedCountAgainstLimit":false}"#,
        )
        .unwrap();
        assert_eq!(p.soft_delete, Some(false));
        assert_eq!(p.repeat_delete, Some(RepeatDelete::NotFound));
        assert_eq!(p.auto_delete_inactive_after_seconds, Some(None));
        assert_eq!(
            (
                p.role_rule,
                p.listing_without_grant_type,
                p.credential_get_hides_client_id
            ),
            (Some(true), Some(true), Some(true))
        );
        assert_eq!(p.soft_deleted_count_against_limit, Some(false));
        let d = EmulatorConfig::default();
        assert!(d.soft_delete && d.soft_deleted_count_against_limit && !d.role_rule);
        assert_eq!(d.repeat_delete, RepeatDelete::NoContent);
    }

    #[test]
    fn seed_client_defaults_from_json() {
        let s: SeedClient = serde_json::from_str(r#"{"name":"m","permissions":["a:b:c"]}"#).unwrap();
        assert_eq!(s.state, ClientState::Active);
        assert_eq!(s.access_token_validity_seconds, 86_400);
    }
}
