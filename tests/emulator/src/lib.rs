//! # genesys-emulator
//!
//! A local emulator of the Genesys Cloud APIs the rotator uses: the login host's
//! `POST /oauth/token` (client credentials), `/api/v2/oauth/clients` (list, create, read,
//! update, delete, new secret) and `GET /api/v2/tokens/me`. It is test equipment held to the real
//! API (shapes and rules from the official SDK `PureCloudPlatformClientV2` v269 and
//! `shared/REFERENCE.md`), not a stub: it enforces permissions, client states, token expiry,
//! secret visibility, the org's client limit, a per-token rate limit and propagation delay, and
//! it injects faults on demand, including connections dropped before or after the server acted.
//!
//! One base URL serves both hosts: the SDKs derive the login host by replacing `//api.` with
//! `//login.`, which leaves `http://127.0.0.1:PORT` as it is.
//!
//! ## Use from Rust
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use genesys_emulator::{Emulator, EmulatorConfig, Fault, FaultAction, SeedClient, routes};
//! let emu = Emulator::start(EmulatorConfig::default()).await?;
//! let master = emu.seed_client(SeedClient::admin("rotator-master"));
//! emu.inject_fault(Fault::new(routes::CREATE_CLIENT, FaultAction::DropAfterApply));
//! // ... point the code under test at emu.base_url() with master.id / master.secret ...
//! # Ok(()) }
//! ```
//!
//! ## Choices where the real API is undocumented
//!
//! - **Token request for an `inactive` or `disabled` client**: 400 `invalid_client` (the
//!   login host's answer for such clients is unconfirmed). Unknown client, wrong secret or missing
//!   Basic auth: 401 `invalid_client`. Missing `grant_type`: 400 `invalid_request`; another grant
//!   type: 400 `unsupported_grant_type`; a client whose `authorizedGrantType` is not
//!   `CLIENT-CREDENTIALS`: 400 `unauthorized_client`.
//! - **Propagation delay**: a client created through the API gets 400 `invalid_client` from
//!   `/oauth/token` until `dateCreated + delay` (emulator clock; the delay in force at creation).
//! - **Required fields** ([`EmulatorConfig::required_client_fields`], `--require-client-field`):
//!   a create of a `CLIENT-CREDENTIALS` client without one of the named fields is a 400
//!   `bad.request` naming the field (`messageParams.field`); PUT is not checked (existing clients
//!   get a transition period). Genesys announced such a field (allowed IP addresses) without
//!   naming it. Fields the SDK does not name are stored as sent and returned by GET, listing and
//!   PUT; a PUT without them removes them (a PUT replaces the whole client).
//! - **Client limit**: creating a client when `client_limit` clients exist (any state) is a 400
//!   `bad.request` naming the limit. The real code and message are unconfirmed.
//! - **DELETE** of a client that is not `inactive`: 400 `bad.request`. Success: 204, no body.
//!
//! ## Fidelity switches (issue 21)
//!
//! Each is a field of [`EmulatorConfig`], a setter on [`Emulator`], a field of
//! `POST /__admin/config` and a flag of the binary. Documented behaviours are on by default;
//! unconfirmed ones are off (or keep the emulator's earlier behaviour) by default.
//!
//! - **Soft delete** (documented, on: [`EmulatorConfig::soft_delete`]): a DELETE of a client
//!   created more than 30 days ago ([`SOFT_DELETE_AFTER_AGE`], emulator clock) leaves it
//!   `inactive`, listed and readable with `dateToDelete` = now + 7 days ([`SOFT_DELETE_GRACE`]);
//!   its tokens are revoked and it gets no new ones; a PUT with `state: active` restores it
//!   (clearing `dateToDelete`); once `dateToDelete` has come it is gone (404, not listed). A
//!   younger client is removed at once. [`Emulator::deleted_client_ids`] lists a soft-deleted
//!   client from its DELETE on; [`Emulator::clients`] shows it (`soft_deleted`,
//!   `date_to_delete`) until it is gone; [`Emulator::purged_client_ids`] lists it from then.
//!   Unconfirmed parts: it still counts against the client limit
//!   ([`EmulatorConfig::soft_deleted_count_against_limit`], default `true`); a second DELETE
//!   answers 204 and changes nothing ([`EmulatorConfig::repeat_delete`], or 404 / 409);
//!   `dateModified` is not moved by the DELETE.
//! - **Genesys deleting inactive clients** (unconfirmed, off:
//!   [`EmulatorConfig::auto_delete_inactive_after`]): an inactive client whose `dateModified` is
//!   older than the setting is gone, listed in [`Emulator::purged_client_ids`].
//! - **Role rule** (unconfirmed for client-credentials callers, off: [`EmulatorConfig::role_rule`]):
//!   create and update are refused 403 `missing.permissions` (`messageParams.missingRoleDivisions`)
//!   unless the caller holds every role-division assigned, and for an update every one the
//!   client holds now. What a caller holds is its own `roleDivisions` (a seeded client's
//!   [`SeedClient::role_divisions`]: they grant no permission but count here); a held division
//!   `*` covers any division. New-secret and DELETE are not checked.
//! - **Listing items without `authorizedGrantType`** (the pre-v250 `OAuthClientListing`, off:
//!   [`EmulatorConfig::listing_without_grant_type`]); GET by id is unchanged.
//! - **Credential GET without `clientId`** (undocumented, off:
//!   [`EmulatorConfig::credential_get_hides_client_id`]).
//! - **Tokens**: `disabled` revokes the client's tokens (401 `bad.credentials` afterwards, even if
//!   re-activated); `inactive` keeps them working until expiry; DELETE revokes them; a new secret
//!   does not, unless [`EmulatorConfig::revoke_tokens_on_new_secret`] is set (the real service's
//!   behaviour is unconfirmed). Permissions are read live from the token's client.
//! - **Permissions**: a granted permission may use `*` per segment (`oauth:*:*`). Missing: 403
//!   `missing.permissions` with `messageParams.missingPermissions = "[perm]"`.
//! - **Roles**: `GET /api/v2/authorization/roles/{roleId}` (needs `authorization:role:view`)
//!   answers a role seeded with [`Emulator::seed_role`] as `DomainOrganizationRole`: its
//!   `permissions`, and one `permissionPolicies` entry per `domain:entity` with the actions on
//!   it; an unknown role is 404. A seeded client's `roleDivisions` are shown as given and grant
//!   nothing by themselves (its `permissions` do).
//! - **Rate limit**: only requests with a valid token are counted, refused ones (429) are not;
//!   order of checks is 401, 429, 403, then body validation (400), then 404.
//! - **Unknown routes**: 404 `not.found` (ErrorBody), counted under `"METHOD /path"`; a wrong
//!   method on a known path: 405 `method.not.allowed`, counted under `"METHOD /pattern"` (e.g.
//!   `"PATCH /api/v2/oauth/clients/{id}"`).
//! - **Short listing** (fault `shortListing`): one listing page without the org's last client,
//!   `total` and `pageCount` unchanged, as a real listing shows when clients shift between pages
//!   while it is read.
//! - **Status faults** answer an `ErrorBody` whose code follows the status (`internal.server.error`,
//!   `service.unavailable`, `too.many.requests.retry.after`, ...) with `Retry-After` when
//!   `retry_after` is set; on `/oauth/token` they answer the OAuth error shape instead.
//! - **Status after apply** (fault `statusAfterApply`): the call acts (a new secret is issued,
//!   a client created) and then answers the given status with that same error body instead of
//!   its answer, as a gateway does when it fails a call the backend has already committed.
//!   Whether the real service ever does this for a given call is unknown; a caller must not take
//!   a 5xx as proof that nothing changed.
//! - Secrets and tokens are never logged: the log shows route keys, statuses and client ids.
//!
//! ## Modules
//!
//! - [`models`]: the wire formats of the real API.
//! - [`credentials`]: integration credentials (models, seeds, rules; its own undocumented choices).
//! - [`records`]: configuration, seeds, inventory and call-log types (Rust and `/__admin` API).
//! - [`faults`]: fault definitions, route keys and the fault queue.
//! - `store`: org state and the API's rules, no HTTP.
//! - `http`: routes, the request pipeline, the admin API and the connection loop.

mod clock;
pub mod credentials;
mod error;
pub mod faults;
mod http;
pub mod models;
pub mod records;
mod store;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use clock::genesys_time;
pub use credentials::{CredentialRecord, SeedCredential};
pub use faults::{routes, Fault, FaultAction};
pub use models::{ClientState, GrantType, RoleDivision};
pub use records::{
    CallRecord, ClientDates, ClientRecord, EmulatorConfig, RepeatDelete, SeedClient, SeededClient, DEFAULT_ORG_ID,
    ORG_NAME, SOFT_DELETE_AFTER_AGE, SOFT_DELETE_GRACE,
};

use http::{AppState, Shared};
use store::Store;

/// A running emulator. Dropping it (or [`Emulator::shutdown`]) stops the server and closes every
/// open connection.
#[derive(Debug)]
pub struct Emulator {
    state: AppState,
    addr: SocketAddr,
    server: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Starts an emulator on `127.0.0.1` with a free port.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Ok(Self::start_on(listener, config).await)
    }

    /// Starts an emulator on a listener the caller bound. Must run inside a Tokio runtime.
    pub async fn start_on(listener: TcpListener, config: EmulatorConfig) -> Emulator {
        let addr = listener.local_addr().expect("a bound TCP listener has a local address");
        let state: AppState = Arc::new(Shared::new(Store::new(config)));
        let app = http::router(state.clone());
        let server = tokio::spawn(http::server::serve(listener, app));
        Emulator {
            state,
            addr,
            server: Some(server),
        }
    }

    /// Stops the server and waits until it has stopped.
    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// `http://127.0.0.1:PORT`: serves both `/oauth/token` and `/api/v2/...`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Defines (or redefines) a role that clients created through the API can be given via
    /// `roleDivisions` / `roleIds`.
    pub fn seed_role(&self, role_id: &str, permissions: &[&str]) {
        self.state
            .store()
            .seed_role(role_id, permissions.iter().map(|p| p.to_string()).collect());
    }

    /// Plants a client (counts toward the client limit, but is never refused by it).
    pub fn seed_client(&self, seed: SeedClient) -> SeededClient {
        self.state.store().seed_client(seed)
    }

    /// Plants an integration credential (`POST /__admin/credentials`); the record has its id.
    pub fn seed_credential(&self, seed: SeedCredential) -> CredentialRecord {
        self.state.store().seed_credential(seed)
    }

    /// Every integration credential, secret fields included, in creation order.
    pub fn credentials(&self) -> Vec<CredentialRecord> {
        self.state.store().credentials.records()
    }

    /// Queues a fault (see [`Fault`]).
    ///
    /// # Panics
    /// If the fault cannot act on its route ([`Fault::check`]): a mistake in the test.
    pub fn inject_fault(&self, fault: Fault) {
        if let Err(reason) = fault.check() {
            panic!("refused fault: {reason}");
        }
        self.state.store().add_fault(fault);
    }

    /// The number of injected faults still waiting to hit (a fault with `times > 1` counts once
    /// until its last hit).
    pub fn pending_faults(&self) -> usize {
        self.state.store().pending_faults()
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        self.state.store().clear_faults();
    }

    /// Every existing client (removed ones excluded; soft-deleted ones included until their
    /// `dateToDelete`), in creation order, with secrets.
    pub fn clients(&self) -> Vec<ClientRecord> {
        self.state.store().records()
    }

    /// Ids of the clients deleted through the API, in deletion order: each client once, from
    /// its first successful DELETE, whether that removed it or soft-deleted it.
    pub fn deleted_client_ids(&self) -> Vec<String> {
        self.state.store().deleted_ids()
    }

    /// Ids of the clients Genesys removed by itself, in that order: soft-deleted clients once
    /// their `dateToDelete` came, and inactive clients removed by
    /// [`EmulatorConfig::auto_delete_inactive_after`].
    pub fn purged_client_ids(&self) -> Vec<String> {
        self.state.store().purged_ids()
    }

    /// Number of calls per route key (see [`routes`]), faulted calls included.
    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        self.state.store().call_counts()
    }

    /// Every call so far, in the order they finished.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.state.store().calls()
    }

    /// Gives an existing client the dates in `dates` (`POST /__admin/clients/{id}/dates`), as if
    /// what they record had happened then; false if there is no such client.
    pub fn set_client_dates(&self, id: &str, dates: ClientDates) -> bool {
        self.state.store().set_client_dates(id, &dates)
    }

    /// Moves the emulator's clock forward (token expiry, dates, propagation, rate-limit window).
    pub fn advance_clock(&self, by: Duration) {
        self.state.store().advance_clock(by);
    }

    pub fn set_rate_limit(&self, per_minute: Option<u32>) {
        self.state.store().config.rate_limit_per_minute = per_minute;
    }

    /// Applies to clients created from now on.
    pub fn set_propagation_delay(&self, d: Duration) {
        self.state.store().config.propagation_delay = d;
    }

    pub fn set_client_limit(&self, n: usize) {
        self.state.store().config.client_limit = n;
    }

    /// Whether a new secret also revokes the client's existing tokens (default: it does not).
    pub fn set_revoke_tokens_on_new_secret(&self, revoke: bool) {
        self.state.store().config.revoke_tokens_on_new_secret = revoke;
    }

    /// Fields every client-credentials client created from now on must carry (see
    /// [`EmulatorConfig::required_client_fields`]); empty turns the rule off.
    pub fn set_required_client_fields(&self, fields: &[&str]) {
        self.state.store().config.required_client_fields = fields.iter().map(|f| f.to_string()).collect();
    }

    /// Soft delete of clients created more than 30 days ago (default: on). Clients already
    /// soft-deleted stay so until their `dateToDelete`.
    pub fn set_soft_delete(&self, on: bool) {
        self.state.store().config.soft_delete = on;
    }

    /// The age past which a DELETE soft-deletes (default [`SOFT_DELETE_AFTER_AGE`], 30 days).
    pub fn set_soft_delete_after_age(&self, age: Duration) {
        self.state.store().config.soft_delete_after_age = age;
    }

    /// Whether soft-deleted clients count against the client limit (default: they do).
    pub fn set_soft_deleted_count_against_limit(&self, counted: bool) {
        self.state.store().config.soft_deleted_count_against_limit = counted;
    }

    /// The answer to a DELETE of a soft-deleted client (default: 204).
    pub fn set_repeat_delete(&self, answer: RepeatDelete) {
        self.state.store().config.repeat_delete = answer;
    }

    /// Genesys removing inactive clients last modified longer ago than this (`None`, the
    /// default: never).
    pub fn set_auto_delete_inactive_after(&self, after: Option<Duration>) {
        self.state.store().config.auto_delete_inactive_after = after;
    }

    /// The role rule on create and update (default: off).
    pub fn set_role_rule(&self, on: bool) {
        self.state.store().config.role_rule = on;
    }

    /// Listing items without `authorizedGrantType` (default: off).
    pub fn set_listing_without_grant_type(&self, on: bool) {
        self.state.store().config.listing_without_grant_type = on;
    }

    /// A credential GET without `clientId` (default: off).
    pub fn set_credential_get_hides_client_id(&self, on: bool) {
        self.state.store().config.credential_get_hides_client_id = on;
    }

    /// Mints a valid token for an existing `active` client (no secret or propagation check);
    /// `None` if there is no such client or it is not active.
    pub fn issue_token_for(&self, client_id: &str) -> Option<String> {
        self.state.store().issue_token_for(client_id)
    }

    /// Every access token the emulator has minted, valid or not (for searching logs).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.store().minted_tokens()
    }

    /// Every client secret the emulator has issued (seeded, created, renewed), including those
    /// of deleted clients (for searching logs).
    pub fn issued_secrets(&self) -> Vec<String> {
        self.state.store().issued_secrets()
    }

    /// Whether `POST /oauth/token` would grant `(client_id, secret)` a client-credentials token
    /// right now (the client exists, the secret matches, it is active and has propagated),
    /// checked without a request: no fault, rate limit or call log is involved and no token is
    /// minted. `Err` holds the OAuth error the endpoint would answer.
    pub fn token_grantable(&self, client_id: &str, secret: &str) -> Result<(), String> {
        self.state
            .store()
            .grantable(client_id, secret, Some("client_credentials"))
            .map(|_| ())
            .map_err(|e| format!("{} {}: {}", e.status, e.error, e.description))
    }

    /// The number of API calls logged so far, updated as each one completes (after the server
    /// acted, before the answer is written): lets a test act at the moment a call completes.
    pub fn watch_calls(&self) -> tokio::sync::watch::Receiver<u64> {
        self.state.store().watch_calls()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
