//! The one HTTP client for Genesys Cloud: OAuth tokens, the OAuth client API and the
//! integration credentials that hold a client.
//!
//! A [`GenesysClient`] acts as one OAuth client (the "admin" client whose
//! credentials it holds) against one region's [`Endpoints`]. It gets and
//! caches a client-credentials token, and calls the Platform API with it.
//! Every call goes through one retry policy (see [`HttpSettings`]), is paced
//! under the per-token rate limit ([`pace`]), and fails with a [`GenesysError`]
//! that says whether a retry can help.
//!
//! Nothing here logs or returns a secret: request and response bodies and
//! headers are never logged, and errors carry only statuses, Genesys error
//! codes and messages.

mod credential;
mod error;
mod models;
pub mod pace;
pub mod retry;
mod role;

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Mutex;
use tracing::{debug, warn};

use crate::classify::Classify;
pub use credential::{
    Credential, CredentialInfo, CredentialRequest, CredentialType, CREDENTIAL_CLIENT_ID_FIELD,
    CREDENTIAL_CLIENT_SECRET_FIELD, CREDENTIAL_READ_ONLY_FIELDS, OAUTH_CLIENT_CREDENTIAL_TYPE,
};
pub use error::{GenesysCall, GenesysError};
pub use models::{
    ClientState, EntityRef, ErrorBody, GrantType, ListedItem, NamedEntity, OAuthClient, OAuthClientEntityListing,
    OAuthClientRequest, OAuthErrorBody, OrganizationRole, PermissionPolicy, RoleDivision, TokenInfo, TokenInfoClient,
    TokenResponse, READ_ONLY_FIELDS, REQUEST_FIELDS,
};
pub use retry::HttpSettings;

use crate::domain::CredentialId;
use crate::region::Endpoints;
use crate::secret::{AccessToken, ClientCredentials, ExposeSecret};
use retry::{Failure, Idempotency};

/// Most pages [`GenesysClient::list_clients`] follows before it gives up.
/// Genesys' default page size is 25; organizations hold a few hundred clients.
pub const MAX_LIST_PAGES: usize = 100;

/// Longest safety margin before a cached token's expiry.
const MAX_TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// The outcome of [`GenesysClient::delete_client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// This call deleted the client.
    Deleted,
    /// There was no such client (HTTP 404): already deleted, perhaps by an
    /// earlier attempt whose answer was lost.
    AlreadyGone,
}

struct CachedToken {
    token: AccessToken,
    margin: Duration,
}

/// How a [`GenesysClient`] gets its access tokens.
enum Auth {
    /// With the client's id and secret, as often as needed.
    Credentials(ClientCredentials),
    /// It was handed one token and cannot get another: used to act as a client whose secret
    /// is not known (see [`GenesysClient::with_access_token`]).
    Token {
        /// The client the token belongs to.
        client_id: String,
    },
}

/// A Genesys Cloud API client acting as one OAuth client in one region.
///
/// Cheap to share behind an `Arc`; the token cache is internal.
pub struct GenesysClient {
    http: reqwest::Client,
    endpoints: Endpoints,
    auth: Auth,
    settings: HttpSettings,
    token: Mutex<Option<CachedToken>>,
    pacer: Option<pace::Pacer>,
}

impl fmt::Debug for GenesysClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenesysClient")
            .field("client_id", &self.client_id())
            .field("api_base", &self.endpoints.api_base.as_str())
            .field("login_base", &self.endpoints.login_base.as_str())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl GenesysClient {
    /// A client that authenticates with `credentials` against `endpoints`.
    ///
    /// `http` can be shared by many clients; per-request timeouts come from
    /// `settings`.
    pub fn new(
        http: reqwest::Client,
        endpoints: Endpoints,
        credentials: ClientCredentials,
        settings: HttpSettings,
    ) -> Self {
        Self {
            http,
            endpoints,
            auth: Auth::Credentials(credentials),
            pacer: settings.requests_per_minute.map(pace::Pacer::new),
            settings,
            token: Mutex::new(None),
        }
    }

    /// A client that uses `token`, an access token of client `client_id`, until it expires or
    /// is refused, and cannot get another: every call after that fails with
    /// [`GenesysError::InvalidClient`]. For acting as a client whose secret is lost while one of
    /// its tokens is still valid.
    pub fn with_access_token(
        http: reqwest::Client,
        endpoints: Endpoints,
        client_id: impl Into<String>,
        token: AccessToken,
        settings: HttpSettings,
    ) -> Self {
        Self {
            http,
            endpoints,
            auth: Auth::Token {
                client_id: client_id.into(),
            },
            pacer: settings.requests_per_minute.map(pace::Pacer::new),
            settings,
            token: Mutex::new(Some(CachedToken {
                token,
                margin: Duration::ZERO,
            })),
        }
    }

    /// The OAuth client id this client authenticates as.
    pub fn client_id(&self) -> &str {
        match &self.auth {
            Auth::Credentials(c) => &c.client_id,
            Auth::Token { client_id } => client_id,
        }
    }

    /// Another client of the same org, authenticating with `credentials`: same HTTP client,
    /// endpoints and settings (its own token and pace).
    pub fn sibling(&self, credentials: ClientCredentials) -> GenesysClient {
        GenesysClient::new(
            self.http.clone(),
            self.endpoints.clone(),
            credentials,
            self.settings.clone(),
        )
    }

    /// A client of the same org that acts with `token`, an access token of client `client_id`,
    /// and cannot get another ([`with_access_token`](Self::with_access_token)).
    pub fn sibling_with_token(&self, client_id: impl Into<String>, token: AccessToken) -> GenesysClient {
        GenesysClient::with_access_token(
            self.http.clone(),
            self.endpoints.clone(),
            client_id,
            token,
            self.settings.clone(),
        )
    }

    /// The endpoints this client talks to.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The retry and timeout settings.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// A valid access token, from the cache or from the token endpoint.
    ///
    /// A cached token is reused until `min(60 s, 10% of its lifetime)` before
    /// it expires. Concurrent callers wait for one token request rather than
    /// each making their own. Token requests are retried per the retry policy;
    /// refused credentials ([`GenesysError::InvalidClient`]) are not.
    pub async fn token(&self) -> Result<AccessToken, GenesysError> {
        let mut cache = self.token.lock().await;
        if let Some(cached) = cache.as_ref() {
            if cached.token.is_fresh(cached.margin) {
                return Ok(cached.token.clone());
            }
        }
        let (token, lifetime) = self.fetch_token().await?;
        *cache = Some(CachedToken {
            token: token.clone(),
            margin: token_margin(lifetime),
        });
        Ok(token)
    }

    /// Drops `stale` from the cache (if it is still the cached token), so the
    /// next [`token`](Self::token) call fetches a new one.
    async fn forget_token(&self, stale: &AccessToken) {
        let mut cache = self.token.lock().await;
        if cache.as_ref().is_some_and(|c| c.token.bearer() == stale.bearer()) {
            *cache = None;
        }
    }

    /// A brand-new token from the token endpoint (never the cached one), with its lifetime
    /// (`expires_in`); it replaces the cached token. For callers that must know how long the
    /// token they hold will last.
    pub async fn fresh_token(&self) -> Result<(AccessToken, Duration), GenesysError> {
        let mut cache = self.token.lock().await;
        let (token, lifetime) = self.fetch_token().await?;
        *cache = Some(CachedToken {
            token: token.clone(),
            margin: token_margin(lifetime),
        });
        Ok((token, lifetime))
    }

    async fn fetch_token(&self) -> Result<(AccessToken, Duration), GenesysError> {
        let credentials = match &self.auth {
            Auth::Credentials(c) => c,
            Auth::Token { .. } => {
                return Err(GenesysError::InvalidClient {
                    status: 401,
                    description: "the access token this client was given has expired or was refused, and it has \
                                  no secret to get another"
                        .into(),
                })
            }
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match request_token_once(
                &self.http,
                &self.endpoints.login_base,
                credentials,
                crate::deadline::clamp(self.settings.request_timeout),
            )
            .await
            {
                Ok(got) => {
                    debug!(
                        client_id = %credentials.client_id,
                        expires_in_s = got.1.as_secs(),
                        "got a Genesys Cloud access token"
                    );
                    return Ok(got);
                }
                Err(failure) => failure,
            };
            self.wait_or_give_up(GenesysCall::Token, attempt, Idempotency::Idempotent, failure)
                .await?;
        }
    }

    /// Sleeps before the next attempt if the policy allows one, else returns
    /// the failure's error.
    async fn wait_or_give_up(
        &self,
        call: GenesysCall,
        attempt: u32,
        idempotency: Idempotency,
        failure: Failure,
    ) -> Result<(), GenesysError> {
        match retry::next_delay(&self.settings, attempt, idempotency, &failure, retry::random_unit()) {
            // The step must answer before its deadline: a wait that would pass it gives up now,
            // with the same (retryable) error, and Secrets Manager's retry carries on.
            Some(wait) if !crate::deadline::allows(wait, self.settings.request_timeout) => {
                warn!(
                    method = %call.method(),
                    route = call.route(),
                    status = failure.error.status(),
                    attempt,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    error = %failure.error,
                    "Genesys Cloud call failed; no time left before the step deadline to retry"
                );
                Err(failure.error)
            }
            Some(wait) => {
                warn!(
                    method = %call.method(),
                    route = call.route(),
                    status = failure.error.status(),
                    attempt,
                    max_attempts = self.settings.max_attempts,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    error = %failure.error,
                    "Genesys Cloud call failed; retrying"
                );
                tokio::time::sleep(wait).await;
                Ok(())
            }
            None => {
                debug!(
                    method = %call.method(),
                    route = call.route(),
                    status = failure.error.status(),
                    attempt,
                    retryable = failure.error.is_retryable(),
                    error = %failure.error,
                    "Genesys Cloud call failed; not retrying"
                );
                Err(failure.error)
            }
        }
    }

    /// Sends one API call with the retry policy and returns the body of its
    /// 2xx answer. A 401 drops the cached token and repeats the call once
    /// with a new one (not counted as an attempt: a 401 means the request was
    /// refused before anything happened).
    async fn send(
        &self,
        call: GenesysCall,
        url: Url,
        body: Option<Vec<u8>>,
        idempotency: Idempotency,
    ) -> Result<Vec<u8>, GenesysError> {
        let (method, route) = (call.method(), call.route());
        let mut attempt = 0;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let token = self.token().await?;
            self.pace(call).await?;
            let failure = match self.send_once(call, &url, body.as_deref(), &token).await {
                Ok((status, _, bytes)) if status.is_success() => {
                    debug!(method = %method, route, status = status.as_u16(), attempt, "Genesys Cloud call succeeded");
                    return Ok(bytes);
                }
                Ok((StatusCode::UNAUTHORIZED, _, _)) if !reauthenticated => {
                    debug!(method = %method, route, "Genesys Cloud refused the cached token; getting a new one");
                    reauthenticated = true;
                    attempt -= 1;
                    self.forget_token(&token).await;
                    continue;
                }
                Ok((status, retry_after, bytes)) => Failure::answered(GenesysError::from_api_response(
                    call,
                    status.as_u16(),
                    retry_after,
                    &bytes,
                )),
                Err(failure) => failure,
            };
            self.wait_or_give_up(call, attempt, idempotency, failure).await?;
        }
    }

    /// Waits for the pacer's next slot. A wait that would pass the step deadline gives up with
    /// the retryable [`GenesysError::Paced`] instead, like a `Retry-After` too long to sleep.
    async fn pace(&self, call: GenesysCall) -> Result<(), GenesysError> {
        let Some(pacer) = &self.pacer else { return Ok(()) };
        loop {
            match pacer.try_take() {
                Ok(()) => return Ok(()),
                Err(wait) if !crate::deadline::allows(wait, self.settings.request_timeout) => {
                    warn!(
                        method = %call.method(),
                        route = call.route(),
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "no paced slot for a Genesys Cloud call before the step deadline"
                    );
                    return Err(GenesysError::Paced {
                        call,
                        per_minute: pacer.per_minute().get(),
                    });
                }
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    async fn send_once(
        &self,
        call: GenesysCall,
        url: &Url,
        body: Option<&[u8]>,
        token: &AccessToken,
    ) -> Result<(StatusCode, Option<Duration>, Vec<u8>), Failure> {
        let mut request = self
            .http
            .request(call.method(), url.clone())
            .bearer_auth(token.bearer())
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .timeout(crate::deadline::clamp(self.settings.request_timeout));
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.to_vec());
        }
        let response = request.send().await.map_err(|e| Failure::transport(call, &e))?;
        let status = response.status();
        let retry_after = retry::parse_retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| Failure::transport(call, &e))?;
        Ok((status, retry_after, bytes.to_vec()))
    }

    /// `api_base` followed by `segments`, each percent-encoded (an id cannot
    /// escape its path segment), for `call`.
    fn api_url(&self, call: GenesysCall, segments: &[&str]) -> Result<Url, GenesysError> {
        let mut url = self.endpoints.api_base.clone();
        url.path_segments_mut()
            .map_err(|()| GenesysError::Decode {
                call,
                message: "the API base URL cannot take a path".into(),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Resolves a listing's `nextUri` against `api_base`. Only its path and
    /// query are used, so an absolute `nextUri` can never send our token to
    /// another host.
    fn next_page_url(&self, next_uri: &str) -> Result<Url, GenesysError> {
        let root = Url::parse("http://next-uri.invalid/").expect("static URL parses");
        let parsed = root.join(next_uri.trim()).map_err(|e| GenesysError::Decode {
            call: GenesysCall::ListClients,
            message: format!("unusable nextUri: {e}"),
        })?;
        let mut url = self.endpoints.api_base.clone();
        let prefix = url.path().trim_end_matches('/').to_owned();
        let path = if parsed.path().starts_with(&format!("{prefix}/")) {
            parsed.path().to_owned()
        } else {
            format!("{prefix}{}", parsed.path())
        };
        url.set_path(&path);
        url.set_query(parsed.query());
        Ok(url)
    }

    /// All OAuth clients of the organization (`GET /api/v2/oauth/clients`),
    /// following `nextUri` for at most [`MAX_LIST_PAGES`] pages, each client once
    /// (the first time its id is seen).
    ///
    /// The listing must be complete, since callers delete what it lacks and count it against
    /// the client limit: when it ends with fewer distinct clients than a page's `total`, or
    /// after fewer pages than a page's `pageCount`, it fails with the retryable
    /// [`GenesysError::IncompleteListing`]. Pages that state neither are judged by `nextUri`
    /// alone.
    ///
    /// Items that are not readable as clients are left out (see [`ListedItem`]); callers that
    /// count the org's clients use [`list_all_clients`](Self::list_all_clients).
    pub async fn list_clients(&self) -> Result<Vec<OAuthClient>, GenesysError> {
        Ok(self.list_all_clients().await?.clients)
    }

    /// [`list_clients`](Self::list_clients), with the items that are not readable as clients:
    /// they count against the client limit, and are foreign to everyone.
    pub async fn list_all_clients(&self) -> Result<ClientListing, GenesysError> {
        const CALL: GenesysCall = GenesysCall::ListClients;
        let mut url = self.api_url(CALL, &["api", "v2", "oauth", "clients"])?;
        let mut seen = HashSet::new();
        let mut ids = HashSet::new();
        let mut listing = ClientListing::default();
        let mut tally = ListingTally::default();
        for _ in 0..MAX_LIST_PAGES {
            seen.insert(url.to_string());
            let body = self.send(CALL, url, None, Idempotency::Idempotent).await?;
            let page: OAuthClientEntityListing = decode(CALL, &body, "client listing", false)?;
            tally.add_page(&page);
            listing.pages = tally.pages;
            listing.total = tally.total;
            listing.page_size = listing.page_size.or(page.page_size);
            for item in page.entities {
                match item {
                    ListedItem::Client(c) if ids.insert(c.id.clone()) => listing.clients.push(*c),
                    ListedItem::Client(_) => {}
                    ListedItem::Undecoded(raw) => {
                        let id = raw.get("id").and_then(Value::as_str).map(str::to_owned);
                        if id.as_ref().is_none_or(|id| ids.insert(id.clone())) {
                            listing.undecoded.push(id.unwrap_or_else(|| "(no id)".to_owned()));
                        }
                    }
                }
            }
            match page.next_uri.filter(|next| !next.trim().is_empty()) {
                None => {
                    tally.check(listing.len()).inspect_err(|e| {
                        warn!(route = CALL.route(), error = %e, "client listing is incomplete; nothing is decided on it");
                    })?;
                    if !listing.undecoded.is_empty() {
                        warn!(
                            route = CALL.route(),
                            undecoded = listing.undecoded.len(),
                            "some listed items are not readable as clients: they are counted, and foreign (never touched)"
                        );
                    }
                    return Ok(listing);
                }
                Some(next) => {
                    url = self.next_page_url(&next)?;
                    if seen.contains(url.as_str()) {
                        return Err(GenesysError::Decode {
                            call: CALL,
                            message: format!("client listing repeats page {}", url.path()),
                        });
                    }
                }
            }
        }
        Err(GenesysError::Decode {
            call: CALL,
            message: format!("client listing did not end after {MAX_LIST_PAGES} pages"),
        })
    }

    /// Creates an OAuth client (`POST /api/v2/oauth/clients`). The answer is
    /// the only place its `secret` is ever shown.
    ///
    /// Not idempotent, so retried only when the server provably did not act:
    /// on 429 and when the connection could not be made. A timeout, a dropped
    /// connection or a 5xx after the request was sent is returned as is: the
    /// client may exist now, with a secret nobody saw. Retrying would make a
    /// second one; the caller must instead find the orphan (by name) and
    /// delete it.
    pub async fn create_client(&self, request: &OAuthClientRequest) -> Result<OAuthClient, GenesysError> {
        const CALL: GenesysCall = GenesysCall::CreateClient;
        let url = self.api_url(CALL, &["api", "v2", "oauth", "clients"])?;
        let body = self
            .send(CALL, url, Some(encode(CALL, request)?), Idempotency::NotIdempotent)
            .await?;
        decode(CALL, &body, "created client", true)
    }

    /// One OAuth client (`GET /api/v2/oauth/clients/{id}`); `None` if there
    /// is none. The answer has no `secret`.
    pub async fn get_client(&self, id: &str) -> Result<Option<OAuthClient>, GenesysError> {
        const CALL: GenesysCall = GenesysCall::GetClient;
        let url = self.api_url(CALL, &["api", "v2", "oauth", "clients", id])?;
        match self.send(CALL, url, None, Idempotency::Idempotent).await {
            Ok(body) => decode(CALL, &body, "client", false).map(Some),
            Err(GenesysError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces an OAuth client (`PUT /api/v2/oauth/clients/{id}`, full body:
    /// start from [`OAuthClient::to_request`]). [`GenesysError::NotFound`] if
    /// there is no such client.
    pub async fn update_client(&self, id: &str, request: &OAuthClientRequest) -> Result<OAuthClient, GenesysError> {
        const CALL: GenesysCall = GenesysCall::UpdateClient;
        let url = self.api_url(CALL, &["api", "v2", "oauth", "clients", id])?;
        let body = self
            .send(CALL, url, Some(encode(CALL, request)?), Idempotency::Idempotent)
            .await?;
        decode(CALL, &body, "updated client", false)
    }

    /// Deletes an OAuth client (`DELETE /api/v2/oauth/clients/{id}`). Genesys
    /// expects it to be `inactive` first. A 404 is
    /// [`Deleted::AlreadyGone`], which makes retries safe.
    pub async fn delete_client(&self, id: &str) -> Result<Deleted, GenesysError> {
        const CALL: GenesysCall = GenesysCall::DeleteClient;
        let url = self.api_url(CALL, &["api", "v2", "oauth", "clients", id])?;
        match self.send(CALL, url, None, Idempotency::Idempotent).await {
            Ok(_) => Ok(Deleted::Deleted),
            Err(GenesysError::NotFound { .. }) => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// Puts `client` `inactive` (full body, as Genesys replaces the whole client) unless it
    /// already is: it mints no new tokens, and those it issued run out. `Ok(false)`: the client
    /// is gone. Callers have checked it is theirs to touch ([`crate::guard::ownership`]).
    pub async fn deactivate(&self, client: &OAuthClient) -> Result<bool, GenesysError> {
        if client.effective_state() == ClientState::Inactive {
            return Ok(true);
        }
        let mut body = client.to_request();
        body.state = Some(ClientState::Inactive);
        match self.update_client(&client.id, &body).await {
            Ok(_) => Ok(true),
            Err(GenesysError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deactivates `client` (Genesys requires it before DELETE) and deletes it; a client already
    /// gone is fine. Callers have checked it is theirs to touch and that its drain has passed.
    pub async fn retire_and_delete(&self, client: &OAuthClient) -> Result<(), GenesysError> {
        if client.is_soft_deleted() {
            tracing::info!(client_id = %client.id, "client already deleted (soft-deleted, awaiting removal)");
            return Ok(());
        }
        if !self.deactivate(client).await? {
            return Ok(());
        }
        match self.delete_client(&client.id).await? {
            Deleted::Deleted => tracing::info!(client_id = %client.id, "deleted client"),
            Deleted::AlreadyGone => tracing::info!(client_id = %client.id, "client already gone"),
        }
        Ok(())
    }

    /// Gives client `id` a new secret (`POST /api/v2/oauth/clients/{id}/secret`). The old secret
    /// stops working at once; the answer is the only place the new one is ever shown.
    ///
    /// Not idempotent, like [`create_client`](Self::create_client): retried only when the
    /// server provably did not act. After a timeout or lost answer the secret may have changed
    /// to one nobody saw; the caller must be able to ask again (with a token it still holds).
    pub async fn new_secret(&self, id: &str) -> Result<OAuthClient, GenesysError> {
        const CALL: GenesysCall = GenesysCall::NewSecret;
        let url = self.api_url(CALL, &["api", "v2", "oauth", "clients", id, "secret"])?;
        let body = self.send(CALL, url, None, Idempotency::NotIdempotent).await?;
        decode(CALL, &body, "new secret", true)
    }

    /// One integration credential (`GET /api/v2/integrations/credentials/{id}`); `None` if there
    /// is none.
    pub async fn get_credential(&self, id: &CredentialId) -> Result<Option<Credential>, GenesysError> {
        const CALL: GenesysCall = GenesysCall::GetCredential;
        let url = self.api_url(CALL, &["api", "v2", "integrations", "credentials", id.as_str()])?;
        match self.send(CALL, url, None, Idempotency::Idempotent).await {
            // The answer may hold secret fields: a decode error never quotes it.
            Ok(body) => decode(CALL, &body, "credential", true).map(Some),
            Err(GenesysError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces an integration credential (`PUT /api/v2/integrations/credentials/{id}`, full
    /// body: start from [`Credential::with_client`]). Idempotent: the same body twice leaves the
    /// same credential. [`GenesysError::NotFound`] if there is no such credential.
    pub async fn update_credential(
        &self,
        id: &CredentialId,
        request: &CredentialRequest,
    ) -> Result<CredentialInfo, GenesysError> {
        const CALL: GenesysCall = GenesysCall::UpdateCredential;
        let url = self.api_url(CALL, &["api", "v2", "integrations", "credentials", id.as_str()])?;
        let body = self
            .send(CALL, url, Some(encode(CALL, request)?), Idempotency::Idempotent)
            .await?;
        decode(CALL, &body, "updated credential", true)
    }

    /// Who this client's token belongs to (`GET /api/v2/tokens/me`): proves
    /// the credentials work end to end.
    pub async fn token_info(&self) -> Result<TokenInfo, GenesysError> {
        const CALL: GenesysCall = GenesysCall::TokensMe;
        let url = self.api_url(CALL, &["api", "v2", "tokens", "me"])?;
        let body = self.send(CALL, url, None, Idempotency::Idempotent).await?;
        decode(CALL, &body, "token info", false)
    }
}

/// The organization's clients, and the listed items not readable as clients (their ids, or
/// `(no id)`).
#[derive(Debug, Clone, Default)]
pub struct ClientListing {
    /// The clients.
    pub clients: Vec<OAuthClient>,
    /// The other items: counted against the client limit, judged foreign.
    pub undecoded: Vec<String>,
    /// Pages read.
    pub pages: u32,
    /// The largest `total` a page stated, if any did.
    pub total: Option<u64>,
    /// The first page's `pageSize`, if stated.
    pub page_size: Option<u32>,
}

impl ClientListing {
    /// Every listed item, readable or not: what counts against the client limit.
    pub fn len(&self) -> usize {
        self.clients.len() + self.undecoded.len()
    }

    /// Whether the org lists nothing at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the pages of one listing announced, to tell whether it ended complete.
#[derive(Debug, Default)]
struct ListingTally {
    /// Pages read.
    pages: u32,
    /// The largest `total` a page stated (`None` if none did).
    total: Option<u64>,
    /// The largest `pageCount` a page stated (`None` if none did).
    page_count: Option<u32>,
}

impl ListingTally {
    fn add_page(&mut self, page: &OAuthClientEntityListing) {
        self.pages += 1;
        // The largest figure wins: the org may change between pages, and an overstated total
        // only costs a retry, where an understated one could hide a missed client.
        self.total = self.total.max(page.total);
        self.page_count = self.page_count.max(page.page_count);
    }

    /// `Ok` if `listed` distinct clients over the pages read are all the pages announced.
    fn check(&self, listed: usize) -> Result<(), GenesysError> {
        let listed = listed as u64;
        let short_of_total = self.total.is_some_and(|total| listed < total);
        let short_of_pages = self.page_count.is_some_and(|count| self.pages < count);
        if short_of_total || short_of_pages {
            return Err(GenesysError::IncompleteListing {
                listed,
                total: self.total,
                pages: self.pages,
                page_count: self.page_count,
            });
        }
        Ok(())
    }
}

/// The safety margin for a token that lives `lifetime`:
/// `min(60 s, lifetime / 10)`.
fn token_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(MAX_TOKEN_MARGIN)
}

/// Gets a client-credentials token: `POST {login_base}/oauth/token` with
/// HTTP Basic authentication and `grant_type=client_credentials`. One attempt,
/// no retries, no cache (see [`GenesysClient::token`] for those).
///
/// Returns the token and its lifetime (`expires_in`). The expiry is counted
/// from before the request was sent, so it errs early.
pub async fn request_token(
    http: &reqwest::Client,
    login_base: &Url,
    credentials: &ClientCredentials,
    timeout: Duration,
) -> Result<(AccessToken, Duration), GenesysError> {
    request_token_once(http, login_base, credentials, timeout)
        .await
        .map_err(|failure| failure.error)
}

async fn request_token_once(
    http: &reqwest::Client,
    login_base: &Url,
    credentials: &ClientCredentials,
    timeout: Duration,
) -> Result<(AccessToken, Duration), Failure> {
    let mut url = login_base.clone();
    url.path_segments_mut()
        .map_err(|()| {
            Failure::fatal(GenesysError::Decode {
                call: GenesysCall::Token,
                message: "the login base URL cannot take a path".into(),
            })
        })?
        .pop_if_empty()
        .extend(["oauth", "token"]);
    let started = Instant::now();
    let response = http
        .post(url)
        .basic_auth(&credentials.client_id, Some(credentials.client_secret.expose_secret()))
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .form(&[("grant_type", "client_credentials")])
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| Failure::transport(GenesysCall::Token, &e))?;
    let status = response.status();
    let retry_after = retry::parse_retry_after(response.headers());
    let body = response
        .bytes()
        .await
        .map_err(|e| Failure::transport(GenesysCall::Token, &e))?;
    if !status.is_success() {
        return Err(Failure::answered(GenesysError::from_token_response(
            status.as_u16(),
            retry_after,
            &body,
        )));
    }
    let parsed: TokenResponse = decode(GenesysCall::Token, &body, "token answer", true).map_err(Failure::fatal)?;
    let lifetime = Duration::from_secs(parsed.expires_in);
    Ok((AccessToken::new(parsed.access_token, started + lifetime), lifetime))
}

fn encode<T: serde::Serialize>(call: GenesysCall, value: &T) -> Result<Vec<u8>, GenesysError> {
    serde_json::to_vec(value).map_err(|e| GenesysError::Decode {
        call,
        message: format!("could not encode the request body: {e}"),
    })
}

/// Parses a JSON answer to `call`. For answers that carry a secret (`sensitive`), the
/// error says only where parsing failed: serde messages can quote values.
fn decode<T: DeserializeOwned>(call: GenesysCall, body: &[u8], what: &str, sensitive: bool) -> Result<T, GenesysError> {
    serde_json::from_slice(body).map_err(|e| {
        let message = if sensitive {
            format!(
                "{what}: {:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            )
        } else {
            format!("{what}: {e}")
        };
        GenesysError::Decode { call, message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClientId;
    use crate::region::{Endpoints, Region};
    use crate::secret::SecretString;

    fn client(api_base: &str) -> GenesysClient {
        GenesysClient::new(
            reqwest::Client::new(),
            Endpoints::single(Url::parse(api_base).unwrap()),
            ClientCredentials::new(ClientId::parse("id").unwrap(), "secret-value-xyz"),
            HttpSettings::default(),
        )
    }

    #[test]
    fn token_margin_is_the_smaller_of_60s_and_a_tenth() {
        assert_eq!(token_margin(Duration::from_secs(86400)), Duration::from_secs(60));
        assert_eq!(token_margin(Duration::from_secs(300)), Duration::from_secs(30));
        assert_eq!(token_margin(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn api_urls_encode_ids_into_one_segment() {
        let c = client("http://127.0.0.1:5000");
        assert_eq!(
            c.api_url(GenesysCall::GetClient, &["api", "v2", "oauth", "clients", "abc"])
                .unwrap()
                .as_str(),
            "http://127.0.0.1:5000/api/v2/oauth/clients/abc"
        );
        assert_eq!(
            c.api_url(
                GenesysCall::GetClient,
                &["api", "v2", "oauth", "clients", "../../tokens/me"]
            )
            .unwrap()
            .as_str(),
            "http://127.0.0.1:5000/api/v2/oauth/clients/..%2F..%2Ftokens%2Fme"
        );
        let real = GenesysClient::new(
            reqwest::Client::new(),
            Endpoints::for_region(Region::EuWest1),
            ClientCredentials::new(ClientId::parse("id").unwrap(), "s"),
            HttpSettings::default(),
        );
        assert_eq!(
            real.api_url(GenesysCall::TokensMe, &["api", "v2", "tokens", "me"])
                .unwrap()
                .as_str(),
            "https://api.mypurecloud.ie/api/v2/tokens/me"
        );
    }

    #[test]
    fn api_urls_keep_a_base_path() {
        let c = client("http://127.0.0.1:5000/emu");
        assert_eq!(
            c.api_url(GenesysCall::TokensMe, &["api", "v2", "tokens", "me"])
                .unwrap()
                .as_str(),
            "http://127.0.0.1:5000/emu/api/v2/tokens/me"
        );
    }

    #[test]
    fn next_uri_stays_on_the_api_host() {
        let c = client("http://127.0.0.1:5000");
        assert_eq!(
            c.next_page_url("/api/v2/oauth/clients?pageSize=25&pageNumber=2")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:5000/api/v2/oauth/clients?pageSize=25&pageNumber=2"
        );
        assert_eq!(
            c.next_page_url("https://evil.example.com/api/v2/oauth/clients?pageNumber=3")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:5000/api/v2/oauth/clients?pageNumber=3"
        );
        let prefixed = client("http://127.0.0.1:5000/emu/");
        assert_eq!(
            prefixed
                .next_page_url("/api/v2/oauth/clients?pageNumber=2")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:5000/emu/api/v2/oauth/clients?pageNumber=2"
        );
    }

    /// Which calls wait for whose pace. The rate limit is per token, so a client's API calls
    /// take slots of its own pacer only: another client (a new client checking its own token,
    /// a client acting with a token it was handed) has its own and never waits for the
    /// master's, and token requests, made with a credential rather than a token, take none.
    #[tokio::test]
    async fn only_calls_made_with_the_same_token_share_a_pace() {
        // Nothing listens on port 9: every request fails below HTTP, after taking its slot.
        let endpoints = Endpoints::single(Url::parse("http://127.0.0.1:9").unwrap());
        let settings = HttpSettings {
            max_attempts: 1,
            requests_per_minute: std::num::NonZeroU32::new(1),
            ..HttpSettings::default()
        };
        let token = |v: &str| AccessToken::expiring_in(SecretString::from(v.to_owned()), Duration::from_secs(600));
        let master =
            GenesysClient::with_access_token(reqwest::Client::new(), endpoints, "master", token("m"), settings);
        let transport = |r: Result<_, GenesysError>| matches!(r, Err(GenesysError::Transport { .. }));
        let paced = |r: Result<_, GenesysError>| matches!(r, Err(GenesysError::Paced { .. }));
        // Under a deadline 30 s away, a call whose slot is 61 s away fails at once as Paced.
        crate::deadline::run_until(Some(Instant::now() + Duration::from_secs(30)), async {
            // The master's one slot goes to its first call; its second has none.
            assert!(transport(master.get_client("x").await.map(|_| ())));
            assert!(paced(master.get_client("x").await.map(|_| ())));
            // A new client's own calls are not held by the master's pace.
            let handed = master.sibling_with_token("new", token("n"));
            assert!(transport(handed.token_info().await.map(|_| ())));
            let fresh = master.sibling(ClientCredentials::new(ClientId::parse("fresh").unwrap(), "s"));
            // Its token requests take no slot of anyone's: each one is made.
            assert!(transport(fresh.token_info().await.map(|_| ())));
            assert!(transport(fresh.fresh_token().await.map(|_| ())));
            assert!(transport(fresh.token_info().await.map(|_| ())));
            // And the master's pace is unchanged by theirs: still no slot.
            assert!(paced(master.list_clients().await.map(|_| ())));
        })
        .await
        .expect("nothing waits for a slot");
    }

    #[tokio::test]
    async fn a_token_only_client_uses_its_token_and_cannot_get_another() {
        let endpoints = Endpoints::single(Url::parse("http://127.0.0.1:9").unwrap());
        let given = AccessToken::expiring_in(SecretString::from("given-token"), Duration::from_secs(60));
        let c = GenesysClient::with_access_token(
            reqwest::Client::new(),
            endpoints.clone(),
            "master-id",
            given,
            HttpSettings::default(),
        );
        assert_eq!(c.client_id(), "master-id");
        assert_eq!(c.token().await.unwrap().bearer(), "given-token");
        assert!(!format!("{c:?}").contains("given-token"));

        let expired = AccessToken::new(SecretString::from("old"), Instant::now());
        let c =
            GenesysClient::with_access_token(reqwest::Client::new(), endpoints, "m", expired, HttpSettings::default());
        // No request is made (the endpoint is unreachable): the answer comes at once.
        assert!(matches!(c.token().await, Err(GenesysError::InvalidClient { .. })));
        assert!(matches!(c.fresh_token().await, Err(GenesysError::InvalidClient { .. })));
    }

    fn page(entities: usize, total: Option<u64>, page_count: Option<u32>) -> OAuthClientEntityListing {
        let entities: Vec<_> = (0..entities)
            .map(|i| serde_json::json!({"id": format!("c{i}"), "name": "n", "authorizedGrantType": "CLIENT-CREDENTIALS"}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "entities": entities, "total": total, "pageCount": page_count,
        }))
        .unwrap()
    }

    fn tally(pages: &[OAuthClientEntityListing]) -> ListingTally {
        let mut t = ListingTally::default();
        for p in pages {
            t.add_page(p);
        }
        t
    }

    #[test]
    fn a_listing_that_lists_what_it_announces_is_complete() {
        assert!(tally(&[page(3, Some(3), Some(1))]).check(3).is_ok());
        assert!(tally(&[page(2, Some(3), Some(2)), page(1, Some(3), Some(2))])
            .check(3)
            .is_ok());
        // A client created between pages: more than announced is not a gap.
        assert!(tally(&[page(2, Some(3), Some(2)), page(2, Some(4), Some(2))])
            .check(4)
            .is_ok());
        assert!(tally(&[page(2, Some(3), Some(2)), page(2, Some(3), Some(2))])
            .check(4)
            .is_ok());
        // An empty org.
        assert!(tally(&[page(0, Some(0), Some(0))]).check(0).is_ok());
        assert!(tally(&[page(0, Some(0), Some(1))]).check(0).is_ok());
    }

    #[test]
    fn fewer_distinct_clients_than_total_is_incomplete_and_retryable() {
        let err = tally(&[page(2, Some(3), Some(1))]).check(2).unwrap_err();
        assert_eq!(
            err,
            GenesysError::IncompleteListing {
                listed: 2,
                total: Some(3),
                pages: 1,
                page_count: Some(1)
            }
        );
        assert!(err.is_retryable());
        assert_eq!(err.kind(), "GenesysIncompleteListing");
        assert_eq!(err.status(), None);
        let text = err.to_string();
        assert!(
            text.contains("2 distinct clients") && text.contains("announced 3 clients"),
            "{text}"
        );
        // Duplicates across pages do not make up for a missing client: `listed` is distinct ids.
        assert!(tally(&[page(2, Some(3), Some(2)), page(1, Some(3), Some(2))])
            .check(2)
            .is_err());
        // The largest total any page announced counts, not only the last page's.
        assert!(tally(&[page(2, Some(4), Some(2)), page(1, Some(3), Some(2))])
            .check(3)
            .is_err());
    }

    #[test]
    fn fewer_pages_than_page_count_is_incomplete() {
        let err = tally(&[page(2, None, Some(2))]).check(2).unwrap_err();
        assert!(matches!(
            err,
            GenesysError::IncompleteListing {
                pages: 1,
                page_count: Some(2),
                total: None,
                ..
            }
        ));
        assert!(err.to_string().contains("an unstated number of clients"), "{err}");
        assert!(tally(&[page(2, Some(2), Some(3)), page(0, Some(2), Some(3))])
            .check(2)
            .is_err());
    }

    #[test]
    fn a_listing_that_states_no_figures_is_judged_by_next_uri_alone() {
        assert!(tally(&[page(1, None, None)]).check(1).is_ok());
        assert!(tally(&[page(1, None, None), page(0, None, None)]).check(1).is_ok());
    }

    #[test]
    fn client_debug_hides_the_secret() {
        let c = client("http://127.0.0.1:5000");
        let printed = format!("{c:?}");
        assert!(!printed.contains("secret-value-xyz"), "{printed}");
        assert!(printed.contains("\"id\""));
    }

    #[test]
    fn sensitive_decode_errors_do_not_quote_values() {
        let err = decode::<TokenResponse>(
            GenesysCall::Token,
            br#"{"access_token":"tok-SECRET","token_type":"bearer","expires_in":"tok-SECRET2"}"#,
            "token answer",
            true,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(!err.is_retryable());
        assert_eq!(err.call(), GenesysCall::Token);
    }
}
