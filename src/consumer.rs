//! Using the rotated secret (cargo feature `consumer`): [`Consumer`] gives the programs that use
//! the credential (a CRM integration, a reporting job) authorized requests to the Genesys Cloud
//! API that keep working across rotations. It owns the cached credential (read from
//! `AWSCURRENT`), the cached token, the recovery from a 401 or a refused credential (one secret
//! read for all concurrent callers) and the patience with 429s ([`ConsumerSettings`]). Secrets
//! and tokens never appear in `Debug`, errors or logs. What it does and why, for users:
//! docs/users/consumer.md.

use genesys_core::backoff::Backoff;
use genesys_core::classify::Classify;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{StatusCode, Url};
use tokio::sync::Mutex;
use tracing::{debug, warn};

use crate::secret_format::{MasterSecret, SecretFormatError};
use crate::store::{AwsSecretStore, SecretStore, StoreError, Version, AWSCURRENT};
use genesys_core::genesys::retry::parse_retry_after;
use genesys_core::genesys::{request_token, GenesysCall, GenesysError};
use genesys_core::region::{EndpointOverrides, Endpoints};
use genesys_core::secret::{AccessToken, ClientCredentials, ExposeSecret};

/// Attempts of one token request on 5xx, timeouts and transport errors (429s are counted
/// separately, against [`ConsumerSettings::max_rate_limit_retries`]).
const TOKEN_ATTEMPTS: u32 = 3;
/// First backoff of a token retry, and the wait of a 429 without `Retry-After`; doubles.
const BASE_BACKOFF: Duration = Duration::from_millis(250);

/// How long things are cached and how patient a [`Consumer`] is.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// How long a credential read from the secret is used for new token requests before the
    /// secret is read again. A 401, or a token request refused with `invalid_client`, reads it
    /// again at once whatever its age. Default 5 minutes.
    pub credential_ttl: Duration,
    /// A token is replaced this long before it expires, so that it does not expire between the
    /// check and Genesys' check. A margin of at least the token lifetime turns token caching
    /// off (a token request per call). Default 60 s.
    pub refresh_margin: Duration,
    /// Longest `Retry-After` the consumer sleeps through; a 429 asking for more is returned to
    /// the caller (API calls) or fails (token requests). Default 30 s.
    pub max_retry_after: Duration,
    /// 429s waited out per call (token requests count their own). Default 3.
    pub max_rate_limit_retries: u32,
    /// Timeout of a token request, and of an API request that sets none. Default 10 s.
    pub request_timeout: Duration,
    /// Test and demo redirection of regions to a loopback emulator (loopback URLs only, see
    /// [`EndpointOverrides`]; only builds with the `endpoint-overrides` feature can make one).
    /// Default none: real Genesys Cloud hosts.
    pub endpoint_overrides: EndpointOverrides,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            credential_ttl: Duration::from_secs(300),
            refresh_margin: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(30),
            max_rate_limit_retries: 3,
            request_timeout: Duration::from_secs(10),
            endpoint_overrides: EndpointOverrides::none(),
        }
    }
}

/// Why a [`Consumer`] call failed. Genesys error *answers* (403, 404, 5xx, a 401 that survived
/// the retry) are not errors here: they come back as the [`reqwest::Response`].
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// Secrets Manager refused or failed the read.
    #[error("could not read the secret: {0}")]
    Secret(#[source] StoreError),
    /// The secret has no `AWSCURRENT` value.
    #[error("the secret has no AWSCURRENT value")]
    NoCurrentValue,
    /// The secret's value lacks `clientId`, `clientSecret` or `region`, or one is unusable.
    #[error("the secret's value is unusable: {0}")]
    InvalidSecret(#[source] SecretFormatError),
    /// Genesys Cloud gave no token (after re-reading the secret, for refused credentials).
    #[error("could not get a Genesys Cloud token: {0}")]
    Token(#[source] GenesysError),
    /// The request was built for another host than the region's API host; the token is never
    /// sent anywhere else.
    #[error("refused to send the token to {target}: requests must go to the Genesys Cloud API host {api}")]
    ForeignHost {
        /// Scheme, host and port the request was built for.
        target: String,
        /// Scheme, host and port of the API.
        api: String,
    },
    /// The caller's request could not be built (bad URL, body).
    #[error("could not build the request: {0}")]
    Build(#[source] reqwest::Error),
    /// The request got no answer (connection refused or reset, timeout). Not retried: the
    /// consumer cannot know whether the request is safe to repeat.
    #[error("the request to Genesys Cloud failed: {0}")]
    Transport(#[source] reqwest::Error),
}

impl Classify for ConsumerError {
    fn is_retryable(&self) -> bool {
        match self {
            ConsumerError::Secret(e) => e.is_retryable(),
            ConsumerError::Token(e) => e.is_retryable(),
            ConsumerError::Transport(_) => true,
            ConsumerError::NoCurrentValue
            | ConsumerError::InvalidSecret(_)
            | ConsumerError::ForeignHost { .. }
            | ConsumerError::Build(_) => false,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ConsumerError::Secret(e) => e.kind(),
            ConsumerError::Token(e) => e.kind(),
            ConsumerError::Transport(_) => "GenesysUnreachable",
            ConsumerError::NoCurrentValue => "NoCurrent",
            ConsumerError::InvalidSecret(_) => "InvalidSecret",
            ConsumerError::ForeignHost { .. } => "ForeignHost",
            ConsumerError::Build(_) => "InvalidRequest",
        }
    }

    /// The secret read or the token request; the caller's own request is the caller's call.
    fn call_name(&self) -> Option<&'static str> {
        match self {
            ConsumerError::Secret(e) => e.call_name(),
            ConsumerError::Token(e) => e.call_name(),
            ConsumerError::NoCurrentValue
            | ConsumerError::InvalidSecret(_)
            | ConsumerError::ForeignHost { .. }
            | ConsumerError::Build(_)
            | ConsumerError::Transport(_) => None,
        }
    }
}

/// Counters of what a [`Consumer`] (all its clones) has done, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    /// Requests sent to the API, retries included.
    pub requests: u64,
    /// `GetSecretValue` calls.
    pub secret_reads: u64,
    /// Token requests sent (retries included).
    pub token_requests: u64,
    /// Tokens obtained: the current token generation.
    pub tokens: u64,
    /// 401 answers received.
    pub unauthorized: u64,
    /// 401s whose retry with a new token got another answer than 401.
    pub recovered: u64,
    /// 429 answers waited out (API and token requests).
    pub rate_limit_waits: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    secret_reads: AtomicU64,
    token_requests: AtomicU64,
    unauthorized: AtomicU64,
    recovered: AtomicU64,
    rate_limit_waits: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A credential read from the secret.
struct Credential {
    credentials: ClientCredentials,
    endpoints: Endpoints,
    read_at: Instant,
}

/// The token in use, as callers see it. Replaced, never changed.
struct Session {
    generation: u64,
    /// `Bearer <token>`, marked sensitive (its `Debug` prints `Sensitive`).
    authorization: HeaderValue,
    /// After this instant the token is not used for new requests.
    fresh_until: Instant,
    api_base: Url,
    /// `api_base` without its trailing `/`, for `format!("{base}/api/v2/...")`.
    base: String,
    client_id: String,
}

struct Inner<S> {
    store: S,
    secret_arn: String,
    http: reqwest::Client,
    settings: ConsumerSettings,
    /// Read on every call: a std lock held for a pointer copy, never across an await.
    session: RwLock<Option<Arc<Session>>>,
    /// Held for the whole refresh (secret read, token request): the single flight.
    refresh: Mutex<Option<Credential>>,
    counters: Counters,
}

/// Authorized access to the Genesys Cloud API with the credential held in one secret.
///
/// Cheap to clone; clones share the credential, the token and the counters, so create one per
/// secret and hand clones to every task. What it caches and how it recovers from a rotation:
/// docs/users/consumer.md.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use genesys_rotator::consumer::Consumer;
/// let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let sm = aws_sdk_secretsmanager::Client::new(&config);
/// let genesys = Consumer::from_sdk(sm, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:crm-AbCdEf");
/// // Clones share one cache: hand one to every task.
/// let me = genesys.get("/api/v2/tokens/me").await?;
/// let users = genesys
///     .send(|http, base| http.get(format!("{base}/api/v2/users?pageSize=25")))
///     .await?;
/// println!("{} {}", me.status(), users.status());
/// # Ok(()) }
/// ```
pub struct Consumer<S = AwsSecretStore> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Consumer<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> fmt::Debug for Consumer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let session = self.inner.session.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Consumer")
            .field("secret_arn", &self.inner.secret_arn)
            .field("client_id", &session.as_ref().map(|s| s.client_id.as_str()))
            .field("generation", &session.as_ref().map(|s| s.generation))
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Consumer<AwsSecretStore> {
    /// A consumer of `secret_arn` read with an AWS SDK client, with default settings and a new
    /// `reqwest` client.
    pub fn from_sdk(client: aws_sdk_secretsmanager::Client, secret_arn: impl Into<String>) -> Self {
        Consumer::new(
            AwsSecretStore::new(client),
            secret_arn,
            reqwest::Client::new(),
            ConsumerSettings::default(),
        )
    }
}

impl<S: SecretStore> Consumer<S> {
    /// A consumer of `secret_arn` read through `store`, sending requests with `http`.
    /// Nothing is read until the first call (or [`warm_up`](Self::warm_up)).
    pub fn new(store: S, secret_arn: impl Into<String>, http: reqwest::Client, settings: ConsumerSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                secret_arn: secret_arn.into(),
                http,
                settings,
                session: RwLock::new(None),
                refresh: Mutex::new(None),
                counters: Counters::default(),
            }),
        }
    }

    /// Reads the secret and gets a token now, so that a broken configuration fails at start-up
    /// rather than on the first request.
    pub async fn warm_up(&self) -> Result<(), ConsumerError> {
        self.session(None).await.map(drop)
    }

    /// Sends the request `build` makes, authorized with the current token.
    ///
    /// `build` gets the HTTP client and the API base URL without a trailing slash
    /// (`https://api.mypurecloud.ie`) and returns the request, e.g.
    /// `|http, base| http.post(format!("{base}/api/v2/...")).json(&body)`. It is called again
    /// for each retry (after a 401 or a 429), so it must be cheap and repeatable. The request
    /// must target the API host; any other host is refused before the token is attached.
    ///
    /// Returns Genesys' answer, whatever its status, once a 401 has been retried (once; again
    /// only after the new token was accepted with a 429 waited out) with a
    /// credential read again past the cache and a new token, and 429s waited out within the
    /// [`ConsumerSettings`]; other answers and transport errors are the caller's, who alone
    /// knows whether the request is safe to repeat.
    pub async fn send<F>(&self, build: F) -> Result<reqwest::Response, ConsumerError>
    where
        F: Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    {
        let counters = &self.inner.counters;
        let mut stale = None;
        let mut reauthenticated = false;
        let mut counted_recovery = false;
        let mut rate_limited = 0;
        loop {
            let session = self.session(stale.take()).await?;
            let request = self.authorize(&session, &build)?;
            bump(&counters.requests);
            let response = self
                .inner
                .http
                .execute(request)
                .await
                .map_err(ConsumerError::Transport)?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED {
                bump(&counters.unauthorized);
                if !reauthenticated {
                    debug!(
                        client_id = %session.client_id,
                        generation = session.generation,
                        "Genesys Cloud refused the token; re-reading the secret"
                    );
                    reauthenticated = true;
                    stale = Some(session.generation);
                    continue;
                }
                warn!(
                    client_id = %session.client_id,
                    generation = session.generation,
                    "Genesys Cloud refused a fresh token too"
                );
                return Ok(response);
            }
            if reauthenticated && !counted_recovery {
                counted_recovery = true;
                bump(&counters.recovered);
            }
            if status == StatusCode::TOO_MANY_REQUESTS && rate_limited < self.inner.settings.max_rate_limit_retries {
                let wait = parse_retry_after(response.headers()).unwrap_or_else(|| backoff(rate_limited + 1));
                if wait <= self.inner.settings.max_retry_after {
                    rate_limited += 1;
                    bump(&counters.rate_limit_waits);
                    // The refreshed token was accepted: a 401 after the wait (the client
                    // replaced meanwhile) is a new one, recovered like the first.
                    reauthenticated = false;
                    debug!(wait_ms = wait.as_millis() as u64, "Genesys Cloud rate limit; waiting");
                    drop(response);
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// `GET {api}{path}` (e.g. `consumer.get("/api/v2/tokens/me")`), as [`send`](Self::send).
    pub async fn get(&self, path: &str) -> Result<reqwest::Response, ConsumerError> {
        self.send(|http, base| http.get(format!("{base}{path}"))).await
    }

    /// What this consumer and its clones have done so far.
    pub fn stats(&self) -> ConsumerStats {
        let c = &self.inner.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ConsumerStats {
            requests: load(&c.requests),
            secret_reads: load(&c.secret_reads),
            token_requests: load(&c.token_requests),
            tokens: self.current().map_or(0, |s| s.generation),
            unauthorized: load(&c.unauthorized),
            recovered: load(&c.recovered),
            rate_limit_waits: load(&c.rate_limit_waits),
        }
    }

    /// The OAuth client id of the token in use (not secret), if there is one yet.
    pub fn client_id(&self) -> Option<String> {
        self.current().map(|s| s.client_id.clone())
    }

    fn current(&self) -> Option<Arc<Session>> {
        self.inner
            .session
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The current session if it may be used: fresh, and not the generation a caller just saw
    /// refused.
    fn usable(&self, refused: Option<u64>) -> Option<Arc<Session>> {
        self.current()
            .filter(|s| Some(s.generation) != refused && Instant::now() < s.fresh_until)
    }

    /// A usable session, refreshing it (once for all concurrent callers) if needed. `refused`
    /// is the generation whose token just got a 401.
    async fn session(&self, refused: Option<u64>) -> Result<Arc<Session>, ConsumerError> {
        if let Some(s) = self.usable(refused) {
            return Ok(s);
        }
        let mut credential = self.inner.refresh.lock().await;
        // Whoever held the lock before may have refreshed already.
        if let Some(s) = self.usable(refused) {
            return Ok(s);
        }
        let current = self.current();
        // The refused token is still the current one: the credential behind it may be rotated
        // away too, so read the secret past the cache.
        let force = refused.is_some() && current.as_ref().map(|s| s.generation) == refused;
        let generation = current.map_or(0, |s| s.generation) + 1;
        let session = Arc::new(self.refresh(&mut credential, force, generation).await?);
        *self.inner.session.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&session));
        Ok(session)
    }

    async fn refresh(
        &self,
        credential: &mut Option<Credential>,
        force: bool,
        generation: u64,
    ) -> Result<Session, ConsumerError> {
        let ttl = self.inner.settings.credential_ttl;
        let mut reread = force || credential.as_ref().is_none_or(|c| c.read_at.elapsed() >= ttl);
        loop {
            if reread {
                *credential = Some(self.read_secret().await?);
            }
            let cred = credential.as_ref().expect("a credential was read above or cached");
            match self.fetch_token(cred).await {
                Ok((token, lifetime)) => {
                    debug!(client_id = %cred.credentials.client_id, generation, "got a Genesys Cloud token");
                    return self.session_for(cred, &token, lifetime, generation);
                }
                // A cached credential refused: the client was rotated away. Read the secret.
                Err(GenesysError::InvalidClient { .. }) if !reread => {
                    debug!(
                        client_id = %cred.credentials.client_id,
                        "cached credential refused; re-reading the secret"
                    );
                    reread = true;
                }
                Err(e) => return Err(ConsumerError::Token(e)),
            }
        }
    }

    fn session_for(
        &self,
        cred: &Credential,
        token: &AccessToken,
        lifetime: Duration,
        generation: u64,
    ) -> Result<Session, ConsumerError> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.bearer())).map_err(|_| {
            ConsumerError::Token(GenesysError::Decode {
                call: GenesysCall::Token,
                message: "the access token is not a valid header".into(),
            })
        })?;
        authorization.set_sensitive(true);
        let margin = self.inner.settings.refresh_margin.min(lifetime);
        let fresh_until = token.expires_at().checked_sub(margin).unwrap_or_else(Instant::now);
        let api_base = cred.endpoints.api_base.clone();
        Ok(Session {
            generation,
            authorization,
            fresh_until,
            base: api_base.as_str().trim_end_matches('/').to_owned(),
            api_base,
            client_id: cred.credentials.client_id.to_string(),
        })
    }

    async fn read_secret(&self) -> Result<Credential, ConsumerError> {
        bump(&self.inner.counters.secret_reads);
        let value = self
            .inner
            .store
            .get_value(&self.inner.secret_arn, Version::Stage(AWSCURRENT))
            .await
            .map_err(ConsumerError::Secret)?
            .ok_or(ConsumerError::NoCurrentValue)?;
        // The master secret's shape is exactly the lenient subset a consumer needs:
        // clientId, clientSecret and an optional region (required here).
        let parsed = MasterSecret::parse(value.value.expose_secret()).map_err(ConsumerError::InvalidSecret)?;
        let region = parsed
            .region
            .ok_or(ConsumerError::InvalidSecret(SecretFormatError::MissingField("region")))?;
        debug!(
            client_id = %parsed.credentials.client_id,
            version_id = %value.version_id,
            %region,
            "read the secret"
        );
        Ok(Credential {
            credentials: parsed.credentials,
            endpoints: self.inner.settings.endpoint_overrides.resolve(region),
            read_at: Instant::now(),
        })
    }

    /// One token, retrying 429s (within the settings) and retryable failures a few times.
    async fn fetch_token(&self, cred: &Credential) -> Result<(AccessToken, Duration), GenesysError> {
        let settings = &self.inner.settings;
        let mut failures = 0;
        let mut rate_limited = 0;
        loop {
            bump(&self.inner.counters.token_requests);
            let result = request_token(
                &self.inner.http,
                &cred.endpoints.login_base,
                &cred.credentials,
                settings.request_timeout,
            )
            .await;
            let wait = match result {
                Ok(got) => return Ok(got),
                Err(e @ GenesysError::RateLimited { retry_after, .. })
                    if rate_limited < settings.max_rate_limit_retries =>
                {
                    rate_limited += 1;
                    let wait = retry_after.unwrap_or_else(|| backoff(rate_limited));
                    if wait > settings.max_retry_after {
                        return Err(e);
                    }
                    bump(&self.inner.counters.rate_limit_waits);
                    wait
                }
                Err(e) if e.is_retryable() && !matches!(e, GenesysError::RateLimited { .. }) => {
                    failures += 1;
                    if failures >= TOKEN_ATTEMPTS {
                        return Err(e);
                    }
                    debug!(error = %e, "token request failed; retrying");
                    backoff(failures)
                }
                Err(e) => return Err(e),
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Builds the caller's request and attaches the token, if it goes to the API host.
    fn authorize<F>(&self, session: &Session, build: &F) -> Result<reqwest::Request, ConsumerError>
    where
        F: Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    {
        let mut request = build(&self.inner.http, &session.base)
            .build()
            .map_err(ConsumerError::Build)?;
        if request.url().origin() != session.api_base.origin() {
            return Err(ConsumerError::ForeignHost {
                target: request.url().origin().ascii_serialization(),
                api: session.api_base.origin().ascii_serialization(),
            });
        }
        request
            .headers_mut()
            .insert(AUTHORIZATION, session.authorization.clone());
        if request.timeout().is_none() {
            *request.timeout_mut() = Some(self.inner.settings.request_timeout);
        }
        Ok(request)
    }
}

/// `BASE_BACKOFF * 2^(n-1)`, for the n-th wait.
fn backoff(n: u32) -> Duration {
    Backoff::new(BASE_BACKOFF, BASE_BACKOFF * 64).ceiling(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_stops_growing() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(1));
        assert_eq!(backoff(100), backoff(7));
    }

    #[test]
    fn a_session_never_prints_its_token() {
        let mut authorization = HeaderValue::from_static("Bearer tok-SECRET");
        authorization.set_sensitive(true);
        assert!(!format!("{authorization:?}").contains("SECRET"));
    }

    #[test]
    fn errors_say_whether_a_retry_helps() {
        let unreachable = ConsumerError::Token(GenesysError::Transport {
            call: GenesysCall::Token,
            message: "x".into(),
        });
        assert!(unreachable.is_retryable());
        assert_eq!(
            genesys_core::classify::qualified_kind(&unreachable),
            "GenesysUnreachable.Token"
        );
        assert!(!ConsumerError::InvalidSecret(SecretFormatError::MissingField("region")).is_retryable());
        assert!(!ConsumerError::NoCurrentValue.is_retryable());
    }
}
