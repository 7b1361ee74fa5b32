//! The org's state and the API's rules, free of HTTP: clients, roles, tokens, the rate-limit
//! windows, pending faults and the call log. One `Store` sits behind one mutex; no method awaits.
//!
//! Modelling choices (where the real API's behaviour is not documented, see the crate docs):
//! - A token's permissions are looked up live from its client, so a PUT that changes
//!   `roleDivisions` changes what existing tokens may do.
//! - Putting a client in `disabled` revokes its tokens (they stay invalid if it is re-activated);
//!   deleting a client revokes them too. Tokens of an `inactive` client keep working until they
//!   expire. A new secret revokes the client's tokens only if `revoke_tokens_on_new_secret` is
//!   set (unconfirmed either way; default: they survive).
//! - The propagation delay is fixed per client when it is created through the API (with the
//!   setting then in force); seeded clients are usable at once.
//! - Soft delete ([`EmulatorConfig::soft_delete`]): a soft-deleted client keeps its
//!   `dateModified` (whether the real DELETE moves it is unconfirmed) and is marked apart from
//!   clients merely given a `dateToDelete` by a request, which are never removed by the clock.
//!   Clients due to go (soft delete over, or `auto_delete_inactive_after`) are removed by
//!   [`Store::purge_expired`], which runs on every access to the store.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::error::{ApiError, TokenError};
use crate::faults::{Fault, FaultAction, FaultQueue};
use crate::models::{
    ClientState, DomainOrganizationRole, DomainPermissionPolicy, GrantType, NamedEntity, OAuthClient,
    OAuthClientEntityListing, OAuthClientRequest, OrgOAuthClient, RoleDivision, TokenInfo, TokenResponse, UriReference,
    READ_ONLY_FIELDS,
};
use crate::records::{
    CallRecord, ClientDates, ClientRecord, EmulatorConfig, RepeatDelete, SeedClient, SeededClient, ORG_NAME,
    SOFT_DELETE_GRACE,
};

const CLIENTS_URI: &str = "/api/v2/oauth/clients";
const VALIDITY_RANGE: std::ops::RangeInclusive<i64> = 300..=172_800;
const DEFAULT_VALIDITY: u32 = 86_400;
const RATE_WINDOW: Duration = Duration::from_secs(60);
/// `createdBy` of seeded clients: a stand-in for the org admin who made them in the UI.
const SEED_ADMIN_ID: &str = "00000000-0000-4000-8000-00000000ad31";

/// Permissions the API calls need (as documented per endpoint).
pub(crate) mod permissions {
    pub const VIEW: &str = "oauth:client:view";
    pub const ADD: &str = "oauth:client:add";
    pub const EDIT: &str = "oauth:client:edit";
    pub const DELETE: &str = "oauth:client:delete";
    /// The integration credential routes (Genesys announcement of 2024-07-01).
    pub const INTEGRATION_VIEW: &str = "integrations:integration:view";
    pub const INTEGRATION_ADD: &str = "integrations:integration:add";
    pub const INTEGRATION_EDIT: &str = "integrations:integration:edit";
    pub const INTEGRATION_DELETE: &str = "integrations:integration:delete";
    /// `GET /api/v2/authorization/roles/{roleId}` (SDK docs: "Requires ANY permissions").
    pub const ROLE_VIEW: &str = "authorization:role:view";
}

#[derive(Clone, Debug)]
struct Client {
    id: String,
    name: String,
    description: Option<String>,
    secret: String,
    state: ClientState,
    grant_type: GrantType,
    validity_seconds: u32,
    registered_redirect_uri: Vec<String>,
    role_ids: Vec<String>,
    role_divisions: Vec<RoleDivision>,
    scope: Vec<String>,
    /// Effective permissions (from roles at create/update time, or given by a seed).
    permissions: Vec<String>,
    date_created: OffsetDateTime,
    date_modified: OffsetDateTime,
    created_by: Option<UriReference>,
    modified_by: Option<UriReference>,
    date_to_delete: Option<OffsetDateTime>,
    /// A DELETE soft-deleted it: it is gone once `date_to_delete` has passed.
    soft_deleted: bool,
    /// Token requests before this instant fail (propagation delay).
    usable_from: OffsetDateTime,
    /// Fields the SDK does not name, stored as sent.
    extra: Map<String, Value>,
}

impl Client {
    fn to_wire(&self, with_secret: bool) -> OAuthClient {
        OAuthClient {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            access_token_validity_seconds: self.validity_seconds,
            registered_redirect_uri: self.registered_redirect_uri.clone(),
            secret: with_secret.then(|| self.secret.clone()),
            role_ids: self.role_ids.clone(),
            date_created: self.date_created,
            date_modified: self.date_modified,
            created_by: self.created_by.clone(),
            modified_by: self.modified_by.clone(),
            authorized_grant_type: self.grant_type,
            scope: self.scope.clone(),
            role_divisions: self.role_divisions.clone(),
            state: self.state,
            date_to_delete: self.date_to_delete,
            self_uri: format!("{CLIENTS_URI}/{}", self.id),
            extra: self.extra.clone(),
        }
    }

    fn to_record(&self) -> ClientRecord {
        ClientRecord {
            id: self.id.clone(),
            name: self.name.clone(),
            state: self.state,
            secret: self.secret.clone(),
            permissions: self.permissions.clone(),
            role_divisions: self.role_divisions.clone(),
            access_token_validity_seconds: self.validity_seconds,
            date_created: self.date_created,
            date_modified: self.date_modified,
            description: self.description.clone(),
            date_to_delete: self.date_to_delete,
            soft_deleted: self.soft_deleted,
            authorized_grant_type: self.grant_type.as_str().to_string(),
            fields: self.extra.clone(),
        }
    }
}

/// A validated create/update body.
struct ClientSpec {
    name: String,
    description: Option<String>,
    grant_type: GrantType,
    validity_seconds: u32,
    registered_redirect_uri: Vec<String>,
    role_ids: Vec<String>,
    role_divisions: Vec<RoleDivision>,
    scope: Vec<String>,
    permissions: Vec<String>,
    state: ClientState,
    date_to_delete: Option<OffsetDateTime>,
    extra: Map<String, Value>,
}

#[derive(Clone, Debug)]
struct IssuedToken {
    client_id: String,
    expires_at: OffsetDateTime,
}

/// The authenticated caller of an `/api/v2` request.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub client_id: String,
}

impl Caller {
    fn reference(&self) -> UriReference {
        UriReference {
            id: self.client_id.clone(),
            self_uri: Some(format!("{CLIENTS_URI}/{}", self.client_id)),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) config: EmulatorConfig,
    clock: Clock,
    /// In creation order, which is the order the list endpoint answers in.
    clients: Vec<Client>,
    roles: HashMap<String, Vec<String>>,
    tokens: HashMap<String, IssuedToken>,
    /// Every token ever minted, so tests can search logs for any of them.
    minted: Vec<String>,
    /// Every client secret ever issued (seeded, created or renewed), for the same reason.
    issued_secrets: Vec<String>,
    /// The number of calls logged so far, for tests that act the moment a call completes.
    call_watch: CallWatch,
    deleted: Vec<String>,
    /// Clients Genesys removed by itself: a soft delete's grace over, or an inactive client
    /// auto-deleted.
    purged: Vec<String>,
    faults: FaultQueue,
    calls: Vec<CallRecord>,
    /// Integration credentials.
    pub(crate) credentials: crate::credentials::Credentials,
    /// Per access token: the instants of its recent admitted `/api/v2` requests.
    windows: HashMap<String, VecDeque<OffsetDateTime>>,
}

/// A `watch` channel of the call count (its sender has no `Default`).
#[derive(Debug)]
struct CallWatch(tokio::sync::watch::Sender<u64>);

impl Default for CallWatch {
    fn default() -> Self {
        CallWatch(tokio::sync::watch::channel(0).0)
    }
}

fn random_string(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Genesys permissions are `domain:entity:action`; a granted segment of `*` matches anything.
fn grants(granted: &str, required: &str) -> bool {
    let g: Vec<&str> = granted.split(':').collect();
    let r: Vec<&str> = required.split(':').collect();
    g.len() == r.len() && g.iter().zip(&r).all(|(g, r)| *g == "*" || g == r)
}

impl Store {
    pub(crate) fn new(config: EmulatorConfig) -> Self {
        Store {
            config,
            ..Store::default()
        }
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub(crate) fn advance_clock(&mut self, by: Duration) {
        self.clock.advance(by);
    }

    fn client(&self, id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.id == id)
    }

    fn client_mut(&mut self, id: &str) -> Option<&mut Client> {
        self.clients.iter_mut().find(|c| c.id == id)
    }

    // ---- test-side operations -------------------------------------------------------------

    /// Gives an existing client (soft-deleted included) the dates in `dates`; false if there is
    /// no such client.
    pub(crate) fn set_client_dates(&mut self, id: &str, dates: &ClientDates) -> bool {
        let Some(client) = self.client_mut(id) else {
            return false;
        };
        if let Some(created) = dates.date_created {
            client.date_created = created;
        }
        if let Some(modified) = dates.date_modified {
            client.date_modified = modified;
        }
        true
    }

    pub(crate) fn seed_role(&mut self, role_id: &str, permissions: Vec<String>) {
        self.roles.insert(role_id.to_string(), permissions);
    }

    /// A fresh client secret, remembered in `issued_secrets`.
    fn issue_secret(&mut self) -> String {
        let secret = random_string(32);
        self.issued_secrets.push(secret.clone());
        secret
    }

    /// Plants an integration credential; its secret fields count as issued secrets (for log
    /// searches).
    pub(crate) fn seed_credential(
        &mut self,
        seed: crate::credentials::SeedCredential,
    ) -> crate::credentials::CredentialRecord {
        self.issued_secrets.extend(
            seed.fields
                .iter()
                .filter(|(k, _)| k.as_str() != "clientId")
                .map(|(_, v)| v.clone()),
        );
        let now = self.now();
        self.credentials.seed(seed, now)
    }

    /// Every client secret issued so far, including those of deleted clients.
    pub(crate) fn issued_secrets(&self) -> Vec<String> {
        self.issued_secrets.clone()
    }

    /// A receiver of the number of calls logged so far.
    pub(crate) fn watch_calls(&self) -> tokio::sync::watch::Receiver<u64> {
        self.call_watch.0.subscribe()
    }

    pub(crate) fn seed_client(&mut self, seed: SeedClient) -> SeededClient {
        let now = self.now();
        let secret = self.issue_secret();
        let created = seed.date_created.unwrap_or(now);
        let admin = UriReference {
            id: SEED_ADMIN_ID.to_string(),
            self_uri: Some(format!("/api/v2/users/{SEED_ADMIN_ID}")),
        };
        let client = Client {
            id: uuid::Uuid::new_v4().to_string(),
            name: seed.name,
            description: seed.description,
            secret,
            state: seed.state,
            grant_type: GrantType::ClientCredentials,
            validity_seconds: seed.access_token_validity_seconds,
            registered_redirect_uri: Vec::new(),
            role_ids: distinct_role_ids(&seed.role_divisions, &[]),
            role_divisions: seed.role_divisions,
            scope: Vec::new(),
            permissions: seed.permissions,
            date_created: created,
            date_modified: seed.date_modified.unwrap_or(created),
            created_by: Some(admin.clone()),
            modified_by: Some(admin),
            date_to_delete: None,
            soft_deleted: false,
            usable_from: created.min(now),
            extra: seed.fields,
        };
        let seeded = SeededClient {
            id: client.id.clone(),
            secret: client.secret.clone(),
        };
        self.clients.push(client);
        seeded
    }

    pub(crate) fn records(&self) -> Vec<ClientRecord> {
        self.clients.iter().map(Client::to_record).collect()
    }

    pub(crate) fn deleted_ids(&self) -> Vec<String> {
        self.deleted.clone()
    }

    pub(crate) fn purged_ids(&self) -> Vec<String> {
        self.purged.clone()
    }

    /// Removes the clients Genesys would have removed by now (emulator clock): soft-deleted ones
    /// whose `dateToDelete` has come, and with `auto_delete_inactive_after` set, inactive ones
    /// last modified longer ago than that. Their tokens die with them. Run on every access.
    pub(crate) fn purge_expired(&mut self) {
        let now = self.now();
        let auto = self.config.auto_delete_inactive_after;
        let due = |c: &Client| {
            (c.soft_deleted && c.date_to_delete.is_some_and(|at| at <= now))
                || (c.state == ClientState::Inactive && auto.is_some_and(|after| c.date_modified + after < now))
        };
        if !self.clients.iter().any(due) {
            return;
        }
        let gone: Vec<String> = self.clients.iter().filter(|c| due(c)).map(|c| c.id.clone()).collect();
        self.clients.retain(|c| !gone.contains(&c.id));
        for id in gone {
            self.revoke_tokens_of(&id);
            self.purged.push(id);
        }
    }

    pub(crate) fn add_fault(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    pub(crate) fn pending_faults(&self) -> usize {
        self.faults.len()
    }

    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
    }

    pub(crate) fn take_fault(
        &mut self,
        route: &str,
        path_id: Option<&str>,
        basic_id: Option<&str>,
    ) -> Option<FaultAction> {
        self.faults.take(route, path_id, basic_id)
    }

    pub(crate) fn record_call(&mut self, call: CallRecord) {
        self.calls.push(call);
        self.call_watch.0.send_replace(self.calls.len() as u64);
    }

    pub(crate) fn calls(&self) -> Vec<CallRecord> {
        self.calls.clone()
    }

    pub(crate) fn call_counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for c in &self.calls {
            *counts.entry(c.route.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// Mints a token for an existing `active` client, skipping secret and propagation checks.
    pub(crate) fn issue_token_for(&mut self, client_id: &str) -> Option<String> {
        let client = self.client(client_id)?;
        if client.state != ClientState::Active {
            return None;
        }
        let validity = client.validity_seconds;
        Some(self.mint(client_id.to_string(), validity))
    }

    /// Client id behind a token, valid or not (for the call log).
    pub(crate) fn token_owner(&self, token: &str) -> Option<String> {
        self.tokens.get(token).map(|t| t.client_id.clone())
    }

    /// Every token minted so far, valid or not.
    pub(crate) fn minted_tokens(&self) -> Vec<String> {
        self.minted.clone()
    }

    // ---- POST /oauth/token ----------------------------------------------------------------

    fn mint(&mut self, client_id: String, validity_seconds: u32) -> String {
        let now = self.now();
        // Expired tokens are forgotten here so the map does not grow without bound.
        self.tokens.retain(|_, t| t.expires_at > now);
        let token = random_string(48);
        self.minted.push(token.clone());
        self.tokens.insert(
            token.clone(),
            IssuedToken {
                client_id,
                expires_at: now + Duration::from_secs(validity_seconds.into()),
            },
        );
        token
    }

    /// The client-credentials grant. `basic` is the decoded `(id, secret)` of the Basic header.
    pub(crate) fn token_grant(
        &mut self,
        basic: Option<(&str, &str)>,
        grant_type: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let (id, secret) = basic.ok_or_else(TokenError::unauthorized)?;
        let validity = self.grantable(id, secret, grant_type)?;
        let token = self.mint(id.to_string(), validity);
        Ok(TokenResponse {
            access_token: token,
            token_type: "bearer".to_string(),
            expires_in: validity,
        })
    }

    /// Whether `/oauth/token` would grant a client-credentials token to `(id, secret)` now,
    /// without minting one: every check of the grant, in its order. Returns the token lifetime.
    pub(crate) fn grantable(&self, id: &str, secret: &str, grant_type: Option<&str>) -> Result<u32, TokenError> {
        let now = self.now();
        let client = self.client(id).ok_or_else(TokenError::unauthorized)?;
        if client.secret != secret {
            return Err(TokenError::unauthorized());
        }
        match grant_type {
            Some("client_credentials") => {}
            None | Some("") => return Err(TokenError::new(400, "invalid_request", "missing grant_type")),
            Some(_) => {
                return Err(TokenError::new(
                    400,
                    "unsupported_grant_type",
                    "grant type not supported",
                ))
            }
        }
        if client.grant_type != GrantType::ClientCredentials {
            return Err(TokenError::new(
                400,
                "unauthorized_client",
                "client is not authorized for this grant type",
            ));
        }
        if client.state != ClientState::Active {
            return Err(TokenError::new(
                400,
                "invalid_client",
                format!("client is {}", client.state.as_str()),
            ));
        }
        if now < client.usable_from {
            // What a freshly created client looks like before it has propagated.
            return Err(TokenError::new(400, "invalid_client", "client not found"));
        }
        Ok(client.validity_seconds)
    }

    // ---- /api/v2 authorization --------------------------------------------------------------

    /// Checks, in the real API's order: a valid token (401), the rate limit (429), then the
    /// permission (403). `required = None` accepts any valid token.
    pub(crate) fn authorize(&mut self, token: Option<&str>, required: Option<&str>) -> Result<Caller, ApiError> {
        let now = self.now();
        let token = token.ok_or_else(ApiError::bad_credentials)?;
        let issued = self
            .tokens
            .get(token)
            .filter(|t| t.expires_at > now)
            .ok_or_else(ApiError::bad_credentials)?;
        let client_id = issued.client_id.clone();
        let client = self
            .client(&client_id)
            .filter(|c| c.state != ClientState::Disabled)
            .ok_or_else(ApiError::bad_credentials)?;
        let permissions = client.permissions.clone();

        if let Some(limit) = self.config.rate_limit_per_minute {
            let window = self.windows.entry(token.to_string()).or_default();
            while window.front().is_some_and(|t| *t + RATE_WINDOW <= now) {
                window.pop_front();
            }
            if window.len() >= limit as usize {
                // The slot frees when enough of the oldest requests have left the window to
                // bring the count under the limit.
                let frees_at = window.get(window.len() - limit as usize).copied().unwrap_or(now) + RATE_WINDOW;
                let wait = (frees_at - now).as_seconds_f64().ceil().max(1.0) as u64;
                return Err(ApiError::too_many_requests(wait));
            }
            window.push_back(now);
        }

        if let Some(required) = required {
            if !permissions.iter().any(|p| grants(p, required)) {
                return Err(ApiError::missing_permission(required));
            }
        }
        Ok(Caller { client_id })
    }

    // ---- /api/v2/oauth/clients ------------------------------------------------------------

    fn validate(&self, req: OAuthClientRequest) -> Result<ClientSpec, ApiError> {
        let name = req.name.trim().to_string();
        if name.is_empty() {
            return Err(ApiError::bad_request("The name field is required."));
        }
        let validity = match req.access_token_validity_seconds {
            None => DEFAULT_VALIDITY,
            Some(v) if VALIDITY_RANGE.contains(&v) => v as u32,
            Some(v) => {
                return Err(ApiError::bad_request(format!(
                    "accessTokenValiditySeconds must be between {} and {}, got {v}",
                    VALIDITY_RANGE.start(),
                    VALIDITY_RANGE.end()
                )))
            }
        };
        let role_divisions = req.role_divisions.unwrap_or_default();
        let extra_role_ids = req.role_ids.unwrap_or_default();
        let role_ids = distinct_role_ids(&role_divisions, &extra_role_ids);
        let mut permissions: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        for role_id in &role_ids {
            let perms = self
                .roles
                .get(role_id)
                .ok_or_else(|| ApiError::bad_request(format!("Role {role_id} does not exist.")))?;
            for p in perms {
                if seen.insert(p.clone()) {
                    permissions.push(p.clone());
                }
            }
        }
        if role_divisions.iter().any(|rd| rd.division_id.trim().is_empty()) {
            return Err(ApiError::bad_request("roleDivisions[].divisionId is required."));
        }
        Ok(ClientSpec {
            name,
            description: req.description,
            grant_type: req.authorized_grant_type,
            validity_seconds: validity,
            registered_redirect_uri: req.registered_redirect_uri.unwrap_or_default(),
            role_ids,
            role_divisions,
            scope: req.scope.unwrap_or_default(),
            permissions,
            state: req.state.unwrap_or_default(),
            date_to_delete: req.date_to_delete,
            extra: req
                .extra
                .into_iter()
                .filter(|(k, _)| !READ_ONLY_FIELDS.contains(&k.as_str()))
                .collect(),
        })
    }

    /// A new client-credentials client must carry every field of `required_client_fields`,
    /// with a value (not `null`, `""` or `[]`). Answered like the API's other missing fields.
    fn check_required_fields(&self, spec: &ClientSpec) -> Result<(), ApiError> {
        if spec.grant_type != GrantType::ClientCredentials {
            return Ok(());
        }
        for field in &self.config.required_client_fields {
            let present = match spec.extra.get(field) {
                None | Some(Value::Null) => false,
                Some(Value::String(s)) => !s.trim().is_empty(),
                Some(Value::Array(a)) => !a.is_empty(),
                Some(_) => true,
            };
            if !present {
                let mut e = ApiError::bad_request(format!(
                    "The {field} field is required for OAuth clients with the client credentials grant."
                ));
                e.message_params.insert("field".into(), field.clone());
                return Err(e);
            }
        }
        Ok(())
    }

    /// The role rule ([`EmulatorConfig::role_rule`]): the caller must hold every role-division
    /// the request assigns and, for an update, every one the client holds now. A held division
    /// `*` covers any division; a deprecated `roleIds` entry (no division) is covered by the role
    /// held in any division.
    fn check_role_rule(&self, caller: &Caller, spec: &ClientSpec, current: Option<&Client>) -> Result<(), ApiError> {
        if !self.config.role_rule {
            return Ok(());
        }
        let held: &[RoleDivision] = self
            .client(&caller.client_id)
            .map(|c| c.role_divisions.as_slice())
            .unwrap_or(&[]);
        let mut missing: Vec<String> = Vec::new();
        let mut need = |pairs: &[RoleDivision], role_ids: &[String]| {
            for rd in pairs {
                let covered = held
                    .iter()
                    .any(|h| h.role_id == rd.role_id && (h.division_id == "*" || h.division_id == rd.division_id));
                let name = format!("role {} in division {}", rd.role_id, rd.division_id);
                if !covered && !missing.contains(&name) {
                    missing.push(name);
                }
            }
            for role_id in role_ids.iter().filter(|r| pairs.iter().all(|rd| &rd.role_id != *r)) {
                let name = format!("role {role_id}");
                if held.iter().all(|h| &h.role_id != role_id) && !missing.contains(&name) {
                    missing.push(name);
                }
            }
        };
        need(&spec.role_divisions, &spec.role_ids);
        if let Some(c) = current {
            need(&c.role_divisions, &c.role_ids);
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ApiError::missing_role_divisions(&missing))
        }
    }

    /// The one-page listing of every client. `short` leaves the last client out while `total`
    /// and `pageSize` still count it (the `shortListing` fault).
    pub(crate) fn list_clients(&self, short: bool) -> OAuthClientEntityListing {
        let mut entities: Vec<OAuthClient> = self.clients.iter().map(|c| c.to_wire(false)).collect();
        let n = entities.len() as u64;
        if short {
            entities.pop();
        }
        let page_uri = format!("{CLIENTS_URI}?pageSize={n}&pageNumber=1");
        OAuthClientEntityListing {
            entities,
            page_size: n,
            page_number: 1,
            total: n,
            page_count: 1,
            first_uri: page_uri.clone(),
            last_uri: page_uri.clone(),
            self_uri: page_uri,
            next_uri: None,
            previous_uri: None,
        }
    }

    /// A seeded role as `DomainOrganizationRole`: its permissions, and one policy per
    /// `domain:entity` with the actions granted on it (in the order first seen).
    pub(crate) fn get_role(&self, id: &str) -> Result<DomainOrganizationRole, ApiError> {
        let permissions = self.roles.get(id).ok_or_else(|| ApiError::not_found(id))?;
        let mut policies: Vec<DomainPermissionPolicy> = Vec::new();
        for permission in permissions {
            let mut parts = permission.splitn(3, ':');
            let (Some(domain), Some(entity), Some(action)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            match policies
                .iter_mut()
                .find(|p| p.domain == domain && p.entity_name == entity)
            {
                Some(policy) => policy.action_set.push(action.to_string()),
                None => policies.push(DomainPermissionPolicy {
                    domain: domain.to_string(),
                    entity_name: entity.to_string(),
                    action_set: vec![action.to_string()],
                    allow_conditions: false,
                }),
            }
        }
        Ok(DomainOrganizationRole {
            id: id.to_string(),
            name: id.to_string(),
            permissions: permissions.clone(),
            permission_policies: policies,
            default: false,
            base: false,
            self_uri: format!("/api/v2/authorization/roles/{id}"),
        })
    }

    pub(crate) fn get_client(&self, id: &str) -> Result<OAuthClient, ApiError> {
        self.client(id)
            .map(|c| c.to_wire(false))
            .ok_or_else(|| ApiError::not_found(id))
    }

    pub(crate) fn create_client(&mut self, caller: &Caller, req: OAuthClientRequest) -> Result<OAuthClient, ApiError> {
        let spec = self.validate(req)?;
        self.check_required_fields(&spec)?;
        self.check_role_rule(caller, &spec, None)?;
        let limit = self.config.client_limit;
        let counted = self
            .clients
            .iter()
            .filter(|c| self.config.soft_deleted_count_against_limit || !c.soft_deleted)
            .count();
        if counted >= limit {
            return Err(ApiError::bad_request(format!(
                "The organization has reached its limit of {limit} OAuth clients."
            )));
        }
        let now = self.now();
        let secret = self.issue_secret();
        let client = Client {
            id: uuid::Uuid::new_v4().to_string(),
            name: spec.name,
            description: spec.description,
            secret,
            state: spec.state,
            grant_type: spec.grant_type,
            validity_seconds: spec.validity_seconds,
            registered_redirect_uri: spec.registered_redirect_uri,
            role_ids: spec.role_ids,
            role_divisions: spec.role_divisions,
            scope: spec.scope,
            permissions: spec.permissions,
            date_created: now,
            date_modified: now,
            created_by: Some(caller.reference()),
            modified_by: Some(caller.reference()),
            date_to_delete: spec.date_to_delete,
            soft_deleted: false,
            usable_from: now + self.config.propagation_delay,
            extra: spec.extra,
        };
        let wire = client.to_wire(true);
        self.clients.push(client);
        Ok(wire)
    }

    pub(crate) fn update_client(
        &mut self,
        caller: &Caller,
        id: &str,
        req: OAuthClientRequest,
    ) -> Result<OAuthClient, ApiError> {
        let Some(current) = self.client(id) else {
            return Err(ApiError::not_found(id));
        };
        let spec = self.validate(req)?;
        self.check_role_rule(caller, &spec, Some(current))?;
        let now = self.now();
        let client = self.client_mut(id).expect("checked above");
        client.name = spec.name;
        client.description = spec.description;
        client.grant_type = spec.grant_type;
        client.validity_seconds = spec.validity_seconds;
        client.registered_redirect_uri = spec.registered_redirect_uri;
        client.role_ids = spec.role_ids;
        client.role_divisions = spec.role_divisions;
        client.scope = spec.scope;
        client.permissions = spec.permissions;
        client.state = spec.state;
        if !client.soft_deleted || spec.state == ClientState::Active {
            // A PUT with `state: active` restores a soft-deleted client; any other PUT leaves
            // it soft-deleted with the `dateToDelete` Genesys set.
            client.soft_deleted = false;
            client.date_to_delete = spec.date_to_delete;
        }
        client.extra = spec.extra;
        client.date_modified = now;
        client.modified_by = Some(caller.reference());
        let wire = client.to_wire(false);
        if spec.state == ClientState::Disabled {
            self.revoke_tokens_of(id);
        }
        Ok(wire)
    }

    /// DELETE: a client that is not `inactive` is refused; one created more than 30 days ago is
    /// soft-deleted when `soft_delete` is on (see [`EmulatorConfig::soft_delete`]); any other is
    /// removed. Either way its tokens are revoked and it is listed in `deleted` (once).
    pub(crate) fn delete_client(&mut self, id: &str) -> Result<(), ApiError> {
        let now = self.now();
        let pos = self
            .clients
            .iter()
            .position(|c| c.id == id)
            .ok_or_else(|| ApiError::not_found(id))?;
        if self.clients[pos].soft_deleted {
            return match self.config.repeat_delete {
                RepeatDelete::NoContent => Ok(()),
                RepeatDelete::NotFound => Err(ApiError::not_found(id)),
                RepeatDelete::Conflict => Err(ApiError::conflict(format!(
                    "The OAuth client {id} is already deleted and will be removed at its dateToDelete."
                ))),
            };
        }
        let state = self.clients[pos].state;
        if state != ClientState::Inactive {
            return Err(ApiError::bad_request(format!(
                "The OAuth client must be inactive before it can be deleted (it is {}).",
                state.as_str()
            )));
        }
        let client = &mut self.clients[pos];
        if self.config.soft_delete && client.date_created + self.config.soft_delete_after_age < now {
            client.soft_deleted = true;
            client.date_to_delete = Some(now + SOFT_DELETE_GRACE);
        } else {
            self.clients.remove(pos);
        }
        self.revoke_tokens_of(id);
        if !self.deleted.iter().any(|d| d == id) {
            self.deleted.push(id.to_string());
        }
        Ok(())
    }

    pub(crate) fn new_secret(&mut self, caller: &Caller, id: &str) -> Result<OAuthClient, ApiError> {
        let now = self.now();
        if self.client(id).is_none() {
            return Err(ApiError::not_found(id));
        }
        let secret = self.issue_secret();
        let client = self.client_mut(id).ok_or_else(|| ApiError::not_found(id))?;
        client.secret = secret;
        client.date_modified = now;
        client.modified_by = Some(caller.reference());
        let answer = client.to_wire(true);
        if self.config.revoke_tokens_on_new_secret {
            self.revoke_tokens_of(id);
        }
        Ok(answer)
    }

    fn revoke_tokens_of(&mut self, client_id: &str) {
        self.tokens.retain(|_, t| t.client_id != client_id);
    }

    // ---- /api/v2/tokens/me ------------------------------------------------------------------

    pub(crate) fn token_info(&self, caller: &Caller) -> Result<TokenInfo, ApiError> {
        let c = self.client(&caller.client_id).ok_or_else(ApiError::bad_credentials)?;
        let org = NamedEntity {
            id: self.config.org_id.clone(),
            name: ORG_NAME.to_string(),
            self_uri: Some(format!("/api/v2/organizations/{}", self.config.org_id)),
        };
        Ok(TokenInfo {
            organization: org.clone(),
            home_organization: org.clone(),
            authorized_scope: c.scope.clone(),
            o_auth_client: OrgOAuthClient {
                id: c.id.clone(),
                name: c.name.clone(),
                date_created: c.date_created,
                date_modified: c.date_modified,
                created_by: c.created_by.clone(),
                modified_by: c.modified_by.clone(),
                authorized_grant_type: c.grant_type,
                scope: c.scope.clone(),
                role_divisions: c.role_divisions.clone(),
                state: c.state,
                date_to_delete: c.date_to_delete,
                organization: NamedEntity { self_uri: None, ..org },
            },
        })
    }
}

/// Role ids of the role divisions followed by the extra (deprecated `roleIds`) ones, each once.
fn distinct_role_ids(role_divisions: &[RoleDivision], extra: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    role_divisions
        .iter()
        .map(|rd| rd.role_id.clone())
        .chain(extra.iter().cloned())
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str) -> OAuthClientRequest {
        serde_json::from_value(serde_json::json!({
            "name": name, "authorizedGrantType": "CLIENT-CREDENTIALS",
        }))
        .unwrap()
    }

    #[test]
    fn wildcard_permissions() {
        assert!(grants("oauth:client:view", "oauth:client:view"));
        assert!(grants("oauth:*:*", "oauth:client:delete"));
        assert!(!grants("oauth:client:view", "oauth:client:edit"));
        assert!(!grants("oauth:client", "oauth:client:edit"));
    }

    #[test]
    fn rate_limit_retry_after_counts_down_with_the_clock() {
        let mut s = Store::new(EmulatorConfig {
            rate_limit_per_minute: Some(2),
            ..EmulatorConfig::default()
        });
        let c = s.seed_client(SeedClient::admin("m"));
        let t = s.issue_token_for(&c.id).unwrap();
        s.authorize(Some(&t), None).unwrap();
        s.advance_clock(Duration::from_secs(20));
        s.authorize(Some(&t), None).unwrap();
        let e = s.authorize(Some(&t), None).unwrap_err();
        assert_eq!((e.status, e.retry_after), (429, Some(40)));
        s.advance_clock(Duration::from_secs(40));
        s.authorize(Some(&t), None).unwrap();
    }

    #[test]
    fn roles_give_permissions_and_unknown_roles_are_refused() {
        let mut s = Store::new(EmulatorConfig::default());
        s.seed_role("r1", vec!["oauth:client:view".into()]);
        let admin = s.seed_client(SeedClient::admin("m"));
        let caller = Caller { client_id: admin.id };
        let mut req = request("x");
        req.role_divisions = Some(vec![RoleDivision {
            role_id: "r1".into(),
            division_id: "home".into(),
        }]);
        let created = s.create_client(&caller, req.clone()).unwrap();
        assert_eq!(created.role_ids, vec!["r1".to_string()]);
        let rec = s.records().into_iter().find(|r| r.id == created.id).unwrap();
        assert_eq!(rec.permissions, vec!["oauth:client:view".to_string()]);
        req.role_divisions.as_mut().unwrap()[0].role_id = "nope".into();
        assert_eq!(s.create_client(&caller, req).unwrap_err().status, 400);
    }
}
