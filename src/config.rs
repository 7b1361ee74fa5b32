//! Configuration: the functions' environment, and nothing else, checked once at start
//! ([`RotatorConfig`], [`DrainConfig`], [`ReconcileConfig`]), every variable read by one reader
//! with one set of rules, and listed in [`VARIABLES`].
//!
//! The environment only says what a function may do (which master secrets it may use) and how
//! patient it is; what a rotation needs to make the next credential travels in the secret itself
//! ([`crate::secret_format`]). Every error names the variable.

use std::num::NonZeroU32;
use std::time::Duration;

use thiserror::Error;

use genesys_core::domain::TokenLifetime;
use genesys_core::genesys::HttpSettings;
use genesys_core::region::EndpointOverrides;

/// A problem with the environment. None of these can be fixed by retrying.
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
    RotatorConfig::ENV_REQUESTS_PER_MINUTE,
    RotatorConfig::ENV_ROTATION_FUNCTION,
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

    /// A Lambda function name (1 to 64 letters, digits, `-`, `_`) or function ARN, as its
    /// name, if set.
    fn function(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        let Some(v) = self.get(name) else { return Ok(None) };
        let function = function_name(&v);
        if (1..=64).contains(&function.len())
            && function
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        {
            Ok(Some(function.to_owned()))
        } else {
            Err(ConfigError::InvalidEnv {
                name,
                reason: "expected a Lambda function name (letters, digits, '-', '_') or function ARN".into(),
            })
        }
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
    /// The pace of each Genesys Cloud client (calls a minute per token); `None` does not pace.
    pub requests_per_minute: Option<NonZeroU32>,
    /// The deployment's rotation function (a name, or an ARN): a tagged secret counts as served
    /// (a holder the guard reads) only if it names this function as its rotation function, so
    /// that whoever may only tag secrets can neither block retirement nor pose as a holder.
    /// `None` (the command line without `--rotation-function`, tests): the tag alone.
    pub rotation_function: Option<String>,
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
    /// Environment variable: most Genesys Cloud calls a minute per token (optional, default
    /// 300, the documented limit; 0 does not pace).
    pub const ENV_REQUESTS_PER_MINUTE: &'static str = "GENESYS_REQUESTS_PER_MINUTE";
    /// Environment variable: the rotation function's name or ARN (optional; the rotation function
    /// defaults to itself, `AWS_LAMBDA_FUNCTION_NAME`; the template sets it for the cleanup).
    pub const ENV_ROTATION_FUNCTION: &'static str = "ROTATION_FUNCTION_NAME";

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) for a command that reads no master secret from Secrets
    /// Manager (`conformance --master-file`): `ALLOWED_MASTER_SECRET_ARNS` may be unset, and
    /// then no master secret is allowed.
    pub fn from_env_without_masters() -> Result<Self, ConfigError> {
        let lookup = |name: &str| std::env::var(name).ok();
        let mut config = Self::from_lookup(|name| match name {
            Self::ENV_ALLOWED_MASTERS => lookup(name).or_else(|| Some(NO_MASTER.to_owned())),
            _ => lookup(name),
        })?;
        config.allowed_master_arns.retain(|arn| arn != NO_MASTER);
        Ok(config)
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
            requests_per_minute: match env.number(Self::ENV_REQUESTS_PER_MINUTE, 0..=100_000)? {
                None => HttpSettings::default().requests_per_minute,
                Some(n) => NonZeroU32::new(u32::try_from(n).expect("at most 100,000")),
            },
            rotation_function: env.function(Self::ENV_ROTATION_FUNCTION)?,
        })
    }

    /// The rotation function's own configuration: [`Self::rotation_function`] defaults to the
    /// function itself (`AWS_LAMBDA_FUNCTION_NAME`, which Lambda sets).
    pub fn for_rotation_function(mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if self.rotation_function.is_none() {
            self.rotation_function = Env(lookup).function("AWS_LAMBDA_FUNCTION_NAME")?;
        }
        Ok(self)
    }

    /// The settings of every Genesys Cloud client the functions make.
    pub fn http_settings(&self) -> HttpSettings {
        HttpSettings {
            request_timeout: self.request_timeout,
            requests_per_minute: self.requests_per_minute,
            ..HttpSettings::default()
        }
    }

    /// Whether `arn` is one of the master secrets this function may use.
    pub fn master_allowed(&self, arn: &str) -> bool {
        self.allowed_master_arns.iter().any(|a| a == arn)
    }
}

/// A placeholder that satisfies the allow-list's shape and is removed at once: no secret has it.
const NO_MASTER: &str = "arn:aws:secretsmanager:none:000000000000:secret:no-master-secret-allowed";

/// Settings of the drain-then-delete retirement, shared by the rotation and cleanup functions
/// and read from their environment at start.
#[derive(Debug, Clone)]
pub struct DrainConfig {
    /// URL of the SQS queue that holds pending deletions.
    pub queue_url: String,
    /// How long a retired client drains.
    pub settings: genesys_core::guard::drain::DrainSettings,
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
            .unwrap_or(genesys_core::guard::drain::DEFAULT_MARGIN);
        let drain = env.seconds(Self::ENV_DRAIN, 0..=u64::MAX)?;
        let settings = genesys_core::guard::drain::DrainSettings::new(margin, drain).map_err(|reason| {
            ConfigError::InvalidEnv {
                name: if drain.is_some() {
                    Self::ENV_DRAIN
                } else {
                    Self::ENV_MARGIN
                },
                reason,
            }
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
            client_limit: genesys_core::client_limit::DEFAULT_CLIENT_LIMIT,
            limit_margin: genesys_core::client_limit::DEFAULT_LIMIT_MARGIN,
            dry_run: false,
            configured_drain: None,
            drain_margin: genesys_core::guard::drain::DEFAULT_MARGIN,
        }
    }
}

impl ReconcileConfig {
    /// `CLIENT_LIMIT` and `CLIENT_LIMIT_MARGIN` as the core's one rule of when a create is
    /// refused ([`genesys_core::client_limit`]), which the OpenBao engine applies too.
    pub fn client_limit_rule(&self) -> genesys_core::client_limit::ClientLimit {
        genesys_core::client_limit::ClientLimit {
            limit: self.client_limit,
            margin: self.limit_margin,
        }
    }

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

    /// The longest a client of a secret whose tokens live `token_lifetime` drains: the
    /// configured drain, or the lifetime plus the drain margin if that is longer.
    pub fn longest_drain(&self, token_lifetime: TokenLifetime) -> Duration {
        let by_lifetime = Duration::from_secs(u64::from(token_lifetime.seconds())) + self.drain_margin;
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

/// The function name of a Lambda function name or ARN
/// (`arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]`): a secret's
/// `RotationLambdaARN` and [`RotatorConfig::rotation_function`] are compared by it, so an alias or
/// version still counts.
pub fn function_name(name_or_arn: &str) -> &str {
    let parts: Vec<&str> = name_or_arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name, ..] => name,
        _ => name_or_arn,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:genesys/master-AbCdEf";

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
        use genesys_core::guard::drain::DrainSettings;
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
    fn the_pace_defaults_to_the_documented_limit_and_zero_turns_it_off() {
        let with = |value: Option<&'static str>| {
            RotatorConfig::from_lookup(move |k: &str| match k {
                "ALLOWED_MASTER_SECRET_ARNS" => Some(MASTER.to_owned()),
                "GENESYS_REQUESTS_PER_MINUTE" => value.map(str::to_owned),
                _ => None,
            })
        };
        let default = with(None).unwrap();
        assert_eq!(default.requests_per_minute, NonZeroU32::new(300));
        assert_eq!(default.http_settings().requests_per_minute, NonZeroU32::new(300));
        assert_eq!(
            with(Some("120")).unwrap().http_settings().requests_per_minute,
            NonZeroU32::new(120)
        );
        assert_eq!(with(Some("0")).unwrap().http_settings().requests_per_minute, None);
        for bad in ["-1", "fast", "100001"] {
            assert!(
                matches!(
                    with(Some(bad)),
                    Err(ConfigError::InvalidEnv {
                        name: "GENESYS_REQUESTS_PER_MINUTE",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_rotation_function_is_a_name_from_a_name_or_an_arn_and_defaults_to_the_function_itself() {
        let with = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                if k == "ALLOWED_MASTER_SECRET_ARNS" {
                    return Some(MASTER.to_owned());
                }
                pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
            }
        };
        const ARN: &[(&str, &str)] = &[(
            "ROTATION_FUNCTION_NAME",
            "arn:aws:lambda:eu-west-1:123456789012:function:genesys-rotation:live",
        )];
        let config = RotatorConfig::from_lookup(with(ARN)).unwrap();
        assert_eq!(config.rotation_function.as_deref(), Some("genesys-rotation"));
        // Unset: none (the tag alone), except for the rotation function itself.
        let unset = RotatorConfig::from_lookup(with(&[])).unwrap();
        assert_eq!(unset.rotation_function, None);
        let own = unset
            .for_rotation_function(with(&[("AWS_LAMBDA_FUNCTION_NAME", "genesys-rotation")]))
            .unwrap();
        assert_eq!(own.rotation_function.as_deref(), Some("genesys-rotation"));
        assert!(matches!(
            RotatorConfig::from_lookup(with(&[("ROTATION_FUNCTION_NAME", "not a name!")])),
            Err(ConfigError::InvalidEnv {
                name: "ROTATION_FUNCTION_NAME",
                ..
            })
        ));
        assert_eq!(function_name("arn:aws:lambda:us-east-1:123456789012:function:f"), "f");
        assert_eq!(function_name("f"), "f");
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
