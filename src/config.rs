//! Configuration, checked once: the function's environment ([`RotatorConfig`]) and the JSON
//! held in the secrets it rotates ([`IntegrationSecret`], [`MasterSecret`]).
//!
//! Everything a rotation needs to make the *next* credential travels inside the integration
//! secret itself, so one function can serve many secrets in many regions. The environment only
//! says what the function is allowed to do (which master secrets it may use) and how patient it
//! is. The master credential is never read from the environment: it lives in its own secret.
//!
//! Every field error names the field, so an operator can fix the secret without reading code.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Map, Value};
use thiserror::Error;

use genesys_core::genesys::RoleDivision;
use genesys_core::region::{EndpointOverrides, Region};
use genesys_core::secret::ClientCredentials;

pub use genesys_core::domain::{NamePrefix, DEFAULT_TOKEN_LIFETIME_SECONDS, MAX_PREFIX_LEN, TOKEN_LIFETIME_RANGE};

/// A configuration problem. None of these can be fixed by retrying.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required environment variable is not set.
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
    /// An environment variable is set to something unusable.
    #[error("environment variable {name} is invalid: {reason}")]
    InvalidEnv {
        /// The variable.
        name: &'static str,
        /// What is wrong with it (never its value if it could be secret).
        reason: String,
    },
    /// The secret's value is not a JSON object.
    #[error("secret value is not a JSON object: {0}")]
    NotJson(String),
    /// A required field is absent or null.
    #[error("secret field `{0}` is missing")]
    MissingField(&'static str),
    /// A field is present but unusable.
    #[error("secret field `{field}` is invalid: {reason}")]
    InvalidField {
        /// The JSON field name, as written in the secret.
        field: &'static str,
        /// What is wrong with it. Never contains the value of a secret field.
        reason: String,
    },
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidField {
        field,
        reason: reason.into(),
    }
}

/// The `errorType` of a function whose environment failed its start-up check.
pub const INVALID_CONFIGURATION: &str = "NonRetryable.InvalidConfiguration";

impl From<&ConfigError> for lambda_runtime::Diagnostic {
    fn from(e: &ConfigError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: INVALID_CONFIGURATION.to_owned(),
            error_message: format!("the function's configuration is invalid: {e}"),
        }
    }
}

/// Every environment variable the functions read, for whoever must set them (the template's
/// wiring test checks it sets exactly these, less [`TEST_ONLY_VARIABLES`]).
pub const VARIABLES: &[&str] = &[
    RotatorConfig::ENV_ALLOWED_MASTERS,
    RotatorConfig::ENV_ENDPOINT_OVERRIDES,
    RotatorConfig::ENV_REQUEST_TIMEOUT,
    RotatorConfig::ENV_PROPAGATION_TIMEOUT,
    RotatorConfig::ENV_MASTER_LOCK,
    DrainConfig::ENV_QUEUE_URL,
    DrainConfig::ENV_MARGIN,
    DrainConfig::ENV_DRAIN,
    ReconcileConfig::ENV_HORIZON,
    ReconcileConfig::ENV_CLIENT_LIMIT,
    ReconcileConfig::ENV_LIMIT_MARGIN,
    ReconcileConfig::ENV_DRY_RUN,
];

/// Variables only test and demo builds take: never set by a deployment.
pub const TEST_ONLY_VARIABLES: &[&str] = &[RotatorConfig::ENV_ENDPOINT_OVERRIDES];

/// The one reader of the environment: every variable by the same rules (surrounding spaces
/// ignored, an empty value is an unset one), and every error naming the variable and what it
/// expected. `lookup` is the environment (tests pass their own).
struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::MissingEnv(name))
    }

    /// A whole number in `range`, if set.
    fn number(&self, name: &'static str, range: std::ops::RangeInclusive<u64>) -> Result<Option<u64>, ConfigError> {
        let Some(v) = self.get(name) else { return Ok(None) };
        match v.parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(ConfigError::InvalidEnv {
                name,
                reason: format!(
                    "expected a whole number from {} to {}, got {v:?}",
                    range.start(),
                    range.end()
                ),
            }),
        }
    }

    /// Whole seconds in `range`, if set.
    fn seconds(
        &self,
        name: &'static str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<Duration>, ConfigError> {
        Ok(self.number(name, range)?.map(Duration::from_secs))
    }

    /// `true`/`1` or `false`/`0`, if set.
    fn flag(&self, name: &'static str) -> Result<Option<bool>, ConfigError> {
        match self.get(name).as_deref() {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(v) => Err(ConfigError::InvalidEnv {
                name,
                reason: format!("expected true or false, got {v:?}"),
            }),
        }
    }

    /// A comma-separated list of Secrets Manager secret ARNs (empty entries ignored).
    fn arns(&self, name: &'static str) -> Result<Vec<String>, ConfigError> {
        parse_arn_list(name, &self.get(name).unwrap_or_default())
    }
}

/// The rotation function's own settings, read from its environment at start.
#[derive(Debug, Clone)]
pub struct RotatorConfig {
    /// ARNs of the master secrets this function may use. A secret naming any other master is
    /// refused: whoever can edit an integration secret must not be able to borrow a more
    /// powerful master.
    pub allowed_master_arns: Vec<String>,
    /// Test-only redirection of regions to local emulators (loopback addresses only); always
    /// empty in a build without the `endpoint-overrides` feature.
    pub endpoint_overrides: EndpointOverrides,
    /// Deadline of one HTTP request to Genesys Cloud.
    pub request_timeout: Duration,
    /// How long testSecret keeps retrying while a brand-new client propagates.
    pub propagation_timeout: Duration,
    /// The lease of the master rotation's lock taken by a step that runs without a deadline
    /// (the command line, tests). A Lambda step's lease ends at its own deadline instead (see
    /// [`crate::rotation::master`]).
    pub master_lock: Duration,
}

impl RotatorConfig {
    /// Environment variable: comma-separated master secret ARNs (required).
    pub const ENV_ALLOWED_MASTERS: &'static str = "ALLOWED_MASTER_SECRET_ARNS";
    /// Environment variable: `domain=url,...` endpoint overrides (optional, tests and demo only:
    /// refused by a build without the `endpoint-overrides` feature).
    pub const ENV_ENDPOINT_OVERRIDES: &'static str = genesys_core::region::ENDPOINT_OVERRIDES_ENV;
    /// Environment variable: per-request timeout in seconds (optional, default 10).
    pub const ENV_REQUEST_TIMEOUT: &'static str = "GENESYS_REQUEST_TIMEOUT_SECONDS";
    /// Environment variable: propagation wait of testSecret in seconds (optional, default 60).
    pub const ENV_PROPAGATION_TIMEOUT: &'static str = "PROPAGATION_TIMEOUT_SECONDS";
    /// Environment variable: lease of the master rotation's lock in seconds when a step has no
    /// deadline (optional, default 900 = the longest Lambda timeout; at most 3600).
    pub const ENV_MASTER_LOCK: &'static str = "MASTER_LOCK_SECONDS";

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // Parsed only by test and demo builds; a release build refuses any value, even an empty
        // one (never ignores it): read raw, not through `Env`.
        let endpoint_overrides = EndpointOverrides::from_value(lookup(Self::ENV_ENDPOINT_OVERRIDES).as_deref())
            .map_err(|e| ConfigError::InvalidEnv {
                name: Self::ENV_ENDPOINT_OVERRIDES,
                reason: e.to_string(),
            })?;
        let env = Env(lookup);
        env.required(Self::ENV_ALLOWED_MASTERS)?;
        Ok(Self {
            allowed_master_arns: env.arns(Self::ENV_ALLOWED_MASTERS)?,
            endpoint_overrides,
            request_timeout: env
                .seconds(Self::ENV_REQUEST_TIMEOUT, 1..=120)?
                .unwrap_or(Duration::from_secs(10)),
            propagation_timeout: env
                .seconds(Self::ENV_PROPAGATION_TIMEOUT, 1..=600)?
                .unwrap_or(Duration::from_secs(60)),
            master_lock: env
                .seconds(Self::ENV_MASTER_LOCK, 1..=3600)?
                .unwrap_or(Duration::from_secs(900)),
        })
    }

    /// Whether `arn` is one of the master secrets this function may use.
    pub fn master_allowed(&self, arn: &str) -> bool {
        self.allowed_master_arns.iter().any(|a| a == arn)
    }
}

/// Settings of the drain-then-delete retirement, shared by the rotation and cleanup functions
/// and read from their environment at start.
#[derive(Debug, Clone)]
pub struct DrainConfig {
    /// URL of the SQS queue that holds pending deletions.
    pub queue_url: String,
    /// How long a retired client drains.
    pub settings: genesys_core::drain::DrainSettings,
}

impl DrainConfig {
    /// Environment variable: the drain queue's URL (required).
    pub const ENV_QUEUE_URL: &'static str = "DRAIN_QUEUE_URL";
    /// Environment variable: seconds added to the old client's token lifetime (default 3600).
    pub const ENV_MARGIN: &'static str = "DRAIN_MARGIN_SECONDS";
    /// Environment variable: minimum drain in seconds (optional; at most 7 days).
    pub const ENV_DRAIN: &'static str = "DRAIN_SECONDS";

    /// Reads the drain settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the drain settings through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(lookup);
        let queue_url = env.required(Self::ENV_QUEUE_URL)?;
        if !(queue_url.starts_with("https://") || queue_url.starts_with("http://")) {
            return Err(ConfigError::InvalidEnv {
                name: Self::ENV_QUEUE_URL,
                reason: "expected an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)".into(),
            });
        }
        // Any size here: DrainSettings::new checks the bounds, with reasons that name them.
        let margin = env
            .seconds(Self::ENV_MARGIN, 0..=u64::MAX)?
            .unwrap_or(genesys_core::drain::DEFAULT_MARGIN);
        let drain = env.seconds(Self::ENV_DRAIN, 0..=u64::MAX)?;
        let settings =
            genesys_core::drain::DrainSettings::new(margin, drain).map_err(|reason| ConfigError::InvalidEnv {
                name: if drain.is_some() {
                    Self::ENV_DRAIN
                } else {
                    Self::ENV_MARGIN
                },
                reason,
            })?;
        Ok(Self { queue_url, settings })
    }
}

/// Settings of reconciliation ([`crate::reconcile`]), read from the environment at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileConfig {
    /// A managed client no stage references is deleted once it is older than this. Must exceed
    /// the longest drain, so a retired client still draining is never deleted early.
    pub horizon: Duration,
    /// The organization's OAuth client limit (commonly quoted as 500; unconfirmed).
    pub client_limit: usize,
    /// createSecret refuses to create a client when the org holds `client_limit - limit_margin`
    /// clients or more.
    pub limit_margin: usize,
    /// List what would be deleted, delete nothing (the scheduled pass only: createSecret always
    /// deletes, since its limit check counts on the room it frees).
    pub dry_run: bool,
    /// `DRAIN_SECONDS`, when set: the horizon must exceed it.
    pub configured_drain: Option<Duration>,
    /// `DRAIN_MARGIN_SECONDS` (default 1 h): added to a secret's token lifetime to get its drain.
    pub drain_margin: Duration,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            horizon: Self::DEFAULT_HORIZON,
            client_limit: 500,
            limit_margin: 10,
            dry_run: false,
            configured_drain: None,
            drain_margin: genesys_core::drain::DEFAULT_MARGIN,
        }
    }
}

impl ReconcileConfig {
    /// Environment variable: the horizon in seconds (default 172800 = 48 h, at most 90 days).
    pub const ENV_HORIZON: &'static str = "RECONCILE_HORIZON_SECONDS";
    /// Environment variable: the org's client limit (default 500).
    pub const ENV_CLIENT_LIMIT: &'static str = "CLIENT_LIMIT";
    /// Environment variable: the margin below the limit (default 10).
    pub const ENV_LIMIT_MARGIN: &'static str = "CLIENT_LIMIT_MARGIN";
    /// Environment variable: `true` to only list what would be deleted (default `false`).
    pub const ENV_DRY_RUN: &'static str = "RECONCILE_DRY_RUN";
    /// Default horizon: 48 h.
    pub const DEFAULT_HORIZON: Duration = Duration::from_secs(48 * 3600);
    /// Longest horizon accepted: 90 days.
    pub const MAX_HORIZON: Duration = Duration::from_secs(90 * 24 * 3600);

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`. `DRAIN_SECONDS` and `DRAIN_MARGIN_SECONDS` are read
    /// too, when set, so that a horizon shorter than the configured drain is refused here, once.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(lookup);
        let d = Self::default();
        let horizon = env
            .seconds(Self::ENV_HORIZON, 1..=Self::MAX_HORIZON.as_secs())?
            .unwrap_or(d.horizon);
        let client_limit = env
            .number(Self::ENV_CLIENT_LIMIT, 1..=1_000_000)?
            .map_or(d.client_limit, |n| n as usize);
        let limit_margin = env
            .number(Self::ENV_LIMIT_MARGIN, 0..=1_000_000)?
            .map_or(d.limit_margin, |n| n as usize);
        if limit_margin >= client_limit {
            return Err(ConfigError::InvalidEnv {
                name: Self::ENV_LIMIT_MARGIN,
                reason: format!("margin {limit_margin} leaves no room under the client limit {client_limit}"),
            });
        }
        let dry_run = env.flag(Self::ENV_DRY_RUN)?.unwrap_or(false);
        let configured_drain = env.seconds(DrainConfig::ENV_DRAIN, 0..=u64::MAX)?;
        let drain_margin = env
            .seconds(DrainConfig::ENV_MARGIN, 0..=u64::MAX)?
            .unwrap_or(d.drain_margin);
        let config = Self {
            horizon,
            client_limit,
            limit_margin,
            dry_run,
            configured_drain,
            drain_margin,
        };
        if let Some(drain) = configured_drain {
            if horizon <= drain {
                return Err(ConfigError::InvalidEnv {
                    name: Self::ENV_HORIZON,
                    reason: format!(
                        "horizon of {} s must exceed the drain of {} s ({}), or draining clients would be deleted early",
                        horizon.as_secs(),
                        drain.as_secs(),
                        DrainConfig::ENV_DRAIN
                    ),
                });
            }
        }
        Ok(config)
    }

    /// The longest a client of a secret whose tokens live `token_lifetime_seconds` drains: the
    /// configured drain, or the lifetime plus the drain margin if that is longer.
    pub fn longest_drain(&self, token_lifetime_seconds: u32) -> Duration {
        let by_lifetime = Duration::from_secs(u64::from(token_lifetime_seconds)) + self.drain_margin;
        self.configured_drain.map_or(by_lifetime, |d| d.max(by_lifetime))
    }
}

/// Deadlines of every AWS SDK call (Secrets Manager, SQS): connect, each attempt, and the whole
/// operation with the SDK's own retries. Without them a call could hang until the Lambda's
/// timeout and leave no time for an orderly answer.
pub fn aws_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(15))
        .build()
}

/// The environment of both Lambda functions, checked once at start: rotator, drain queue and
/// reconciliation settings, or the first problem found.
pub fn function_env() -> Result<(RotatorConfig, DrainConfig, ReconcileConfig), ConfigError> {
    Ok((
        RotatorConfig::from_env()?,
        DrainConfig::from_env()?,
        ReconcileConfig::from_env()?,
    ))
}

/// The AWS SDK configuration from the environment (region, credentials), with [`aws_timeouts`].
pub async fn load_aws() -> aws_config::SdkConfig {
    aws_config::from_env().timeout_config(aws_timeouts()).load().await
}

/// Parses a comma-separated list of secret ARNs from environment variable `name`.
fn parse_arn_list(name: &'static str, value: &str) -> Result<Vec<String>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|arn| {
            validate_secret_arn(arn)
                .map(|()| arn.to_owned())
                .map_err(|reason| ConfigError::InvalidEnv { name, reason })
        })
        .collect()
}

/// Checks the shape of a Secrets Manager secret ARN.
pub(crate) fn validate_secret_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let ok = parts.len() == 7
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "secretsmanager"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5] == "secret"
        && !parts[6].is_empty();
    if ok {
        Ok(())
    } else {
        Err(format!("{arn:?} is not a Secrets Manager secret ARN"))
    }
}

/// The non-secret settings of an integration secret: what is needed to make its next client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationSettings {
    /// Genesys Cloud region of the organization.
    pub region: Region,
    /// ARN of the secret holding the master client that creates and deletes clients.
    pub master_secret_arn: String,
    /// Managed-name prefix.
    pub name_prefix: NamePrefix,
    /// Roles (per division) granted to every new client.
    pub role_divisions: Vec<RoleDivision>,
    /// `accessTokenValiditySeconds` of new clients.
    pub token_lifetime_seconds: u32,
    /// Optional description copied to new clients.
    pub description: Option<String>,
}

/// An integration secret's value: the current credential plus its settings.
///
/// The original JSON object is kept so that fields this tool does not know (a consumer's own
/// settings) are carried forward unchanged into the next version.
#[derive(Debug, Clone)]
pub struct IntegrationSecret {
    /// The OAuth client credential.
    pub credentials: ClientCredentials,
    /// The validated settings.
    pub settings: IntegrationSettings,
    /// Every field of the JSON object except `clientSecret`.
    rest: Map<String, Value>,
}

impl IntegrationSecret {
    /// Parses and validates a secret value. Errors name the field and never quote a secret.
    pub fn parse(json: &str) -> Result<Self, ConfigError> {
        let mut obj = parse_object(json)?;
        let credentials = take_credentials(&mut obj)?;
        let region = parse_region(&obj)?;
        let master_secret_arn = required_str(&obj, "masterSecretArn")?.to_owned();
        validate_secret_arn(&master_secret_arn).map_err(|r| invalid("masterSecretArn", r))?;
        let name_prefix = NamePrefix::parse(required_str(&obj, "namePrefix")?).map_err(|r| invalid("namePrefix", r))?;
        let role_divisions = parse_role_divisions(&obj)?;
        let token_lifetime_seconds = match obj.get("tokenLifetimeSeconds") {
            None | Some(Value::Null) => DEFAULT_TOKEN_LIFETIME_SECONDS,
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| TOKEN_LIFETIME_RANGE.contains(n))
                .ok_or_else(|| {
                    invalid(
                        "tokenLifetimeSeconds",
                        format!(
                            "must be a whole number from {} to {}",
                            TOKEN_LIFETIME_RANGE.start(),
                            TOKEN_LIFETIME_RANGE.end()
                        ),
                    )
                })?,
        };
        let description = match obj.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.len() <= 500 => Some(s.clone()),
            Some(_) => return Err(invalid("description", "must be a string of at most 500 characters")),
        };
        Ok(Self {
            credentials,
            settings: IntegrationSettings {
                region,
                master_secret_arn,
                name_prefix,
                role_divisions,
                token_lifetime_seconds,
                description,
            },
            rest: obj,
        })
    }

    /// The JSON of the next version: this one's fields, with the credential replaced.
    pub fn successor_json(&self, client_id: &str, client_secret: &SecretString) -> SecretString {
        use secrecy::ExposeSecret;
        let mut obj = self.rest.clone();
        obj.insert("clientId".into(), Value::String(client_id.to_owned()));
        obj.insert(
            "clientSecret".into(),
            Value::String(client_secret.expose_secret().to_owned()),
        );
        SecretString::from(Value::Object(obj).to_string())
    }
}

/// The master secret's value: the narrowly scoped client that manages the integration clients.
///
/// Like [`IntegrationSecret`], fields this tool does not know are kept and carried forward when
/// the master's own secret is rotated.
#[derive(Debug, Clone)]
pub struct MasterSecret {
    /// The master OAuth client credential.
    pub credentials: ClientCredentials,
    /// Region, when the master secret states one; it must then match the integration's. The
    /// master's own rotation needs it.
    pub region: Option<Region>,
    /// Every field of the JSON object except `clientSecret`.
    rest: Map<String, Value>,
}

impl MasterSecret {
    /// Parses and validates a master secret value.
    pub fn parse(json: &str) -> Result<Self, ConfigError> {
        let mut obj = parse_object(json)?;
        let credentials = take_credentials(&mut obj)?;
        let region = match obj.get("region") {
            None | Some(Value::Null) => None,
            Some(_) => Some(parse_region(&obj)?),
        };
        Ok(Self {
            credentials,
            region,
            rest: obj,
        })
    }

    /// The JSON of the next version after the master client got a new secret: the same client,
    /// the new secret, every other field unchanged.
    pub fn successor_json(&self, client_secret: &SecretString) -> SecretString {
        use secrecy::ExposeSecret;
        let mut obj = self.rest.clone();
        obj.insert(
            "clientSecret".into(),
            Value::String(client_secret.expose_secret().to_owned()),
        );
        SecretString::from(Value::Object(obj).to_string())
    }
}

/// The `clientId` a secret value holds, read leniently (an old version that no longer passes
/// validation still names its client); `None` if the value is not JSON or has no string
/// `clientId`. Never quotes the value.
pub(crate) fn client_id_in(json: &str) -> Option<String> {
    serde_json::from_str::<Value>(json)
        .ok()?
        .get("clientId")?
        .as_str()
        .map(str::to_owned)
}

fn parse_object(json: &str) -> Result<Map<String, Value>, ConfigError> {
    // The serde error may quote part of the input, which may be secret: report only where.
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(ConfigError::NotJson("the value is JSON but not an object".into())),
        Err(e) => Err(ConfigError::NotJson(format!(
            "invalid JSON at line {} column {}",
            e.line(),
            e.column()
        ))),
    }
}

fn required_str<'a>(obj: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, ConfigError> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(ConfigError::MissingField(field)),
        Some(Value::String(s)) if s.trim().is_empty() => Err(invalid(field, "must not be empty")),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

/// Removes `clientSecret` from the object (so it is never carried or printed twice) and
/// validates both credential fields.
fn take_credentials(obj: &mut Map<String, Value>) -> Result<ClientCredentials, ConfigError> {
    let client_id = required_str(obj, "clientId")?;
    if client_id.len() > 128 || client_id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("clientId", "must be at most 128 characters with no spaces"));
    }
    let client_id = client_id.to_owned();
    let secret = match obj.remove("clientSecret") {
        None | Some(Value::Null) => return Err(ConfigError::MissingField("clientSecret")),
        Some(Value::String(s)) if s.is_empty() => return Err(invalid("clientSecret", "must not be empty")),
        Some(Value::String(s)) => SecretString::from(s),
        Some(_) => return Err(invalid("clientSecret", "must be a string")),
    };
    Ok(ClientCredentials {
        client_id,
        client_secret: secret,
    })
}

fn parse_region(obj: &Map<String, Value>) -> Result<Region, ConfigError> {
    let raw = required_str(obj, "region")?;
    Region::parse(raw).map_err(|e| invalid("region", e.to_string()))
}

fn parse_role_divisions(obj: &Map<String, Value>) -> Result<Vec<RoleDivision>, ConfigError> {
    const FIELD: &str = "roleDivisions";
    let items = match obj.get(FIELD) {
        None | Some(Value::Null) => return Err(ConfigError::MissingField(FIELD)),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid(FIELD, "must be an array of {roleId, divisionId}")),
    };
    if items.is_empty() {
        return Err(invalid(
            FIELD,
            "must grant at least one role, or the new client can do nothing",
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let get = |key: &str| {
                item.get(key)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty() && s.len() <= 128)
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(FIELD, format!("item {i} needs a non-empty string `{key}`")))
            };
            Ok(RoleDivision {
                role_id: get("roleId")?,
                division_id: get("divisionId")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use serde_json::json;

    const MASTER: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:genesys/master-AbCdEf";

    fn valid() -> Value {
        json!({
            "clientId": "2f1c8a52-8f0e-4c1e-9d6b-0d3c5c7e9a11",
            "clientSecret": "s3cr3t-value-never-printed",
            "region": "mypurecloud.ie",
            "masterSecretArn": MASTER,
            "namePrefix": "crm-rot-",
            "roleDivisions": [{"roleId": "r1", "divisionId": "*"}],
            "tokenLifetimeSeconds": 3600,
            "consumerSetting": {"keep": true}
        })
    }

    fn with(field: &str, value: Value) -> String {
        let mut v = valid();
        v[field] = value;
        v.to_string()
    }

    fn without(field: &str) -> String {
        let mut v = valid();
        v.as_object_mut().unwrap().remove(field);
        v.to_string()
    }

    #[test]
    fn a_valid_secret_parses_with_every_setting() {
        let s = IntegrationSecret::parse(&valid().to_string()).unwrap();
        assert_eq!(s.credentials.client_id, "2f1c8a52-8f0e-4c1e-9d6b-0d3c5c7e9a11");
        assert_eq!(s.settings.region.domain(), "mypurecloud.ie");
        assert_eq!(s.settings.name_prefix.client_name("tok"), "crm-rot-tok");
        assert_eq!(s.settings.token_lifetime_seconds, 3600);
        assert_eq!(s.settings.role_divisions.len(), 1);
    }

    #[test]
    fn region_may_be_given_by_sdk_name() {
        let s = IntegrationSecret::parse(&with("region", json!("eu_west_1"))).unwrap();
        assert_eq!(s.settings.region.domain(), "mypurecloud.ie");
    }

    #[test]
    fn every_required_field_is_named_when_missing() {
        for field in [
            "clientId",
            "clientSecret",
            "region",
            "masterSecretArn",
            "namePrefix",
            "roleDivisions",
        ] {
            let err = IntegrationSecret::parse(&without(field)).unwrap_err();
            assert_eq!(err, ConfigError::MissingField(field), "{field}");
        }
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases: &[(&str, Value)] = &[
            ("clientId", json!(42)),
            ("clientId", json!("has space")),
            ("clientSecret", json!("")),
            ("region", json!("evil.example.com")),
            ("region", json!("api.mypurecloud.com")),
            ("masterSecretArn", json!("not-an-arn")),
            ("namePrefix", json!("a")),
            ("namePrefix", json!("bad prefix!")),
            ("roleDivisions", json!([])),
            ("roleDivisions", json!([{"roleId": "r1"}])),
            ("roleDivisions", json!("r1")),
            ("tokenLifetimeSeconds", json!(10)),
            ("tokenLifetimeSeconds", json!(172_801)),
            ("tokenLifetimeSeconds", json!("3600")),
            ("description", json!(5)),
        ];
        for (field, value) in cases {
            let err = IntegrationSecret::parse(&with(field, value.clone())).unwrap_err();
            match err {
                ConfigError::InvalidField { field: f, .. } => assert_eq!(f, *field, "{value}"),
                other => panic!("{field}={value}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn errors_never_quote_the_secret() {
        let raw = r#"{"clientId": "x", "clientSecret": "TOPSECRET" "#;
        let err = IntegrationSecret::parse(raw).unwrap_err().to_string();
        assert!(!err.contains("TOPSECRET"), "{err}");
        let err = IntegrationSecret::parse(&with("clientSecret", json!(["TOPSECRET"]))).unwrap_err();
        assert!(!format!("{err:?}").contains("TOPSECRET"));
        let parsed = IntegrationSecret::parse(&valid().to_string()).unwrap();
        assert!(!format!("{parsed:?}").contains("s3cr3t"));
    }

    #[test]
    fn non_objects_are_refused() {
        for raw in ["", "[]", "\"x\"", "null", "{"] {
            assert!(
                matches!(IntegrationSecret::parse(raw), Err(ConfigError::NotJson(_))),
                "{raw}"
            );
        }
    }

    #[test]
    fn the_successor_carries_every_other_field_forward() {
        let s = IntegrationSecret::parse(&valid().to_string()).unwrap();
        let next = s.successor_json("new-id", &SecretString::from("new-secret"));
        let v: Value = serde_json::from_str(next.expose_secret()).unwrap();
        let mut expected = valid();
        expected["clientId"] = json!("new-id");
        expected["clientSecret"] = json!("new-secret");
        assert_eq!(v, expected);
    }

    #[test]
    fn master_secret_needs_only_the_credential() {
        let m = MasterSecret::parse(r#"{"clientId":"m","clientSecret":"ms"}"#).unwrap();
        assert!(m.region.is_none());
        let m = MasterSecret::parse(r#"{"clientId":"m","clientSecret":"ms","region":"usw2.pure.cloud"}"#).unwrap();
        assert_eq!(m.region.unwrap().domain(), "usw2.pure.cloud");
        assert_eq!(
            MasterSecret::parse(r#"{"clientSecret":"ms"}"#).unwrap_err(),
            ConfigError::MissingField("clientId")
        );
    }

    #[test]
    fn the_master_successor_keeps_the_client_and_every_other_field() {
        let raw =
            json!({"clientId": "m", "clientSecret": "old-master-secret", "region": "mypurecloud.ie", "owner": "ops"});
        let m = MasterSecret::parse(&raw.to_string()).unwrap();
        assert!(!format!("{m:?}").contains("old-master-secret"));
        let next: Value = serde_json::from_str(m.successor_json(&SecretString::from("new")).expose_secret()).unwrap();
        let mut expected = raw;
        expected["clientSecret"] = json!("new");
        assert_eq!(next, expected);
    }

    #[test]
    fn endpoint_overrides_are_taken_only_by_builds_with_the_feature() {
        let with = |value: &'static str| {
            RotatorConfig::from_lookup(move |k: &str| match k {
                "ALLOWED_MASTER_SECRET_ARNS" => Some(MASTER.to_owned()),
                "GENESYS_ENDPOINT_OVERRIDES" => Some(value.to_owned()),
                _ => None,
            })
        };
        let region = genesys_core::region::Region::EuWest1;
        #[cfg(feature = "endpoint-overrides")]
        {
            let c = with("mypurecloud.ie=http://127.0.0.1:5000").unwrap();
            assert_eq!(
                c.endpoint_overrides.resolve(region).api_base.as_str(),
                "http://127.0.0.1:5000/"
            );
            assert!(with(" ").unwrap().endpoint_overrides.is_empty());
        }
        #[cfg(not(feature = "endpoint-overrides"))]
        for value in ["mypurecloud.ie=http://127.0.0.1:5000", " "] {
            match with(value) {
                Err(ConfigError::InvalidEnv {
                    name: "GENESYS_ENDPOINT_OVERRIDES",
                    reason,
                }) => assert!(
                    reason.contains("this build does not take endpoint overrides"),
                    "{reason}"
                ),
                other => panic!("{value:?}: {other:?}"),
            }
        }
        let unset =
            RotatorConfig::from_lookup(|k: &str| (k == "ALLOWED_MASTER_SECRET_ARNS").then(|| MASTER.to_owned()));
        assert_eq!(
            unset.unwrap().endpoint_overrides.resolve(region),
            genesys_core::region::Endpoints::for_region(region)
        );
    }

    #[test]
    fn the_drain_environment_is_checked_once() {
        use genesys_core::drain::DrainSettings;
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(
            DrainConfig::from_lookup(env(&[])).unwrap_err(),
            ConfigError::MissingEnv("DRAIN_QUEUE_URL")
        );
        const URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/drain";
        let c = DrainConfig::from_lookup(env(&[("DRAIN_QUEUE_URL", URL)])).unwrap();
        assert_eq!(c.settings, DrainSettings::default());
        assert!(matches!(
            DrainConfig::from_lookup(env(&[("DRAIN_QUEUE_URL", URL), ("DRAIN_SECONDS", "600")])),
            Err(ConfigError::InvalidEnv {
                name: "DRAIN_SECONDS",
                ..
            })
        ));
        assert!(matches!(
            DrainConfig::from_lookup(env(&[("DRAIN_QUEUE_URL", URL), ("DRAIN_MARGIN_SECONDS", "x")])),
            Err(ConfigError::InvalidEnv {
                name: "DRAIN_MARGIN_SECONDS",
                ..
            })
        ));
        assert!(DrainConfig::from_lookup(env(&[("DRAIN_QUEUE_URL", "drain")])).is_err());
    }

    #[test]
    fn a_bad_environment_is_non_retryable_and_names_the_variable() {
        let d = lambda_runtime::Diagnostic::from(&ConfigError::MissingEnv("DRAIN_QUEUE_URL"));
        assert_eq!(d.error_type, "NonRetryable.InvalidConfiguration");
        assert!(d.error_message.contains("DRAIN_QUEUE_URL"), "{}", d.error_message);
    }

    #[test]
    fn environment_is_checked_once() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(
            RotatorConfig::from_lookup(env(&[])).unwrap_err(),
            ConfigError::MissingEnv("ALLOWED_MASTER_SECRET_ARNS")
        );
        assert!(RotatorConfig::from_lookup(env(&[("ALLOWED_MASTER_SECRET_ARNS", "nope")])).is_err());
        let c = RotatorConfig::from_lookup(env(&[("ALLOWED_MASTER_SECRET_ARNS", MASTER)])).unwrap();
        assert!(c.master_allowed(MASTER));
        assert!(!c.master_allowed("arn:aws:secretsmanager:us-east-1:123456789012:secret:other"));
        assert_eq!(c.propagation_timeout, Duration::from_secs(60));
        assert_eq!(c.master_lock, Duration::from_secs(900));
        let c = RotatorConfig::from_lookup(env(&[
            ("ALLOWED_MASTER_SECRET_ARNS", MASTER),
            ("MASTER_LOCK_SECONDS", "2"),
        ]))
        .unwrap();
        assert_eq!(c.master_lock, Duration::from_secs(2));
        for bad in ["0", "3601", "soon"] {
            let bad = RotatorConfig::from_lookup(move |k: &str| match k {
                "ALLOWED_MASTER_SECRET_ARNS" => Some(MASTER.to_owned()),
                "MASTER_LOCK_SECONDS" => Some(bad.to_owned()),
                _ => None,
            });
            assert!(
                matches!(
                    bad,
                    Err(ConfigError::InvalidEnv {
                        name: "MASTER_LOCK_SECONDS",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        let bad = RotatorConfig::from_lookup(env(&[
            ("ALLOWED_MASTER_SECRET_ARNS", MASTER),
            ("GENESYS_ENDPOINT_OVERRIDES", "mypurecloud.ie=http://10.0.0.1:80"),
        ]));
        assert!(matches!(
            bad,
            Err(ConfigError::InvalidEnv {
                name: "GENESYS_ENDPOINT_OVERRIDES",
                ..
            })
        ));
        let bad = RotatorConfig::from_lookup(env(&[
            ("ALLOWED_MASTER_SECRET_ARNS", MASTER),
            ("PROPAGATION_TIMEOUT_SECONDS", "0"),
        ]));
        assert!(bad.is_err());
    }
}
