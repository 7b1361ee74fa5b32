//! The secret store: the handful of AWS Secrets Manager calls a rotation makes, behind a narrow
//! trait ([`SecretStore`]) so tests can wrap the real client and inject failures at any call.
//!
//! [`AwsSecretStore`] is the only implementation shipped; it always names a version stage or id
//! when reading (moto, and a careless reader of real AWS, would otherwise get a default version
//! rather than AWSCURRENT). `memory::MemorySecretStore` (tests and the `test-doubles` feature
//! only) keeps secrets in memory with the same semantics, for unit tests of the steps.

#[cfg(any(test, feature = "test-doubles"))]
pub mod memory;

use genesys_core::classify::Classify;
use std::collections::{HashMap, HashSet};
use std::future::Future;

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;

/// Staging label of the live version.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// Staging label of the version being rotated in.
pub const AWSPENDING: &str = "AWSPENDING";
/// Staging label Secrets Manager moves to the version AWSCURRENT left.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
/// The error code of a PutSecretValue whose version id already exists with other content:
/// Secrets Manager never changes a stored version (an identical re-put succeeds).
pub const VERSION_EXISTS: &str = "ResourceExistsException";

/// A Secrets Manager call, as errors (and through them `errorType`) name it: the AWS
/// operation's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretsManagerCall {
    /// [`SecretStore::describe`].
    DescribeSecret,
    /// [`SecretStore::get_value`].
    GetSecretValue,
    /// [`SecretStore::put_pending`] and [`SecretStore::put_staged`].
    PutSecretValue,
    /// [`SecretStore::promote`] and [`SecretStore::remove_stage`].
    UpdateSecretVersionStage,
    /// [`SecretStore::version_ids`].
    ListSecretVersionIds,
    /// [`SecretStore::served_secrets`].
    ListSecrets,
    /// [`SecretStore::tag`].
    TagResource,
    /// [`SecretStore::current_values`].
    BatchGetSecretValue,
}

impl SecretsManagerCall {
    /// Every call.
    pub const ALL: [SecretsManagerCall; 8] = [
        SecretsManagerCall::DescribeSecret,
        SecretsManagerCall::GetSecretValue,
        SecretsManagerCall::PutSecretValue,
        SecretsManagerCall::UpdateSecretVersionStage,
        SecretsManagerCall::ListSecretVersionIds,
        SecretsManagerCall::ListSecrets,
        SecretsManagerCall::TagResource,
        SecretsManagerCall::BatchGetSecretValue,
    ];

    /// The AWS operation's name, the last part of an `errorType`
    /// (`SecretsManagerUnavailable.GetSecretValue`).
    pub fn as_str(self) -> &'static str {
        match self {
            SecretsManagerCall::DescribeSecret => "DescribeSecret",
            SecretsManagerCall::GetSecretValue => "GetSecretValue",
            SecretsManagerCall::PutSecretValue => "PutSecretValue",
            SecretsManagerCall::UpdateSecretVersionStage => "UpdateSecretVersionStage",
            SecretsManagerCall::ListSecretVersionIds => "ListSecretVersionIds",
            SecretsManagerCall::ListSecrets => "ListSecrets",
            SecretsManagerCall::TagResource => "TagResource",
            SecretsManagerCall::BatchGetSecretValue => "BatchGetSecretValue",
        }
    }
}

/// A failed Secrets Manager call.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The secret or version does not exist.
    #[error("{}: not found: {message}", call.as_str())]
    NotFound {
        /// The call.
        call: SecretsManagerCall,
        /// The service's message.
        message: String,
    },
    /// The service refused the request as invalid; retrying the same request cannot help.
    #[error("{}: refused ({code}): {message}", call.as_str())]
    Refused {
        /// The call.
        call: SecretsManagerCall,
        /// The service's error code.
        code: String,
        /// The service's message.
        message: String,
    },
    /// Throttling, a server error, a timeout or a dropped connection: a retry may succeed.
    #[error("{}: transient failure: {message}", call.as_str())]
    Transient {
        /// The call.
        call: SecretsManagerCall,
        /// What went wrong.
        message: String,
    },
}

/// Secrets Manager's answer to a PutSecretValue of `value` as version `version_id` of
/// `secret_id` when that version already holds `stored`: the same content succeeds and changes
/// nothing (a retried put), other content is refused with [`VERSION_EXISTS`] (a stored version
/// never changes). Written once for every store that stands in for Secrets Manager in tests
/// (moto overwrites instead).
pub fn answer_to_put_over(
    secret_id: &str,
    version_id: &str,
    stored: &SecretString,
    value: &SecretString,
) -> Result<(), StoreError> {
    if stored.expose_secret() == value.expose_secret() {
        return Ok(());
    }
    Err(StoreError::Refused {
        call: SecretsManagerCall::PutSecretValue,
        code: VERSION_EXISTS.into(),
        message: format!(
            "You can't use ClientRequestToken {version_id} because that value is already in use for a version of \
             secret {secret_id}."
        ),
    })
}

impl StoreError {
    /// The call that failed.
    pub fn call(&self) -> SecretsManagerCall {
        match self {
            StoreError::NotFound { call, .. }
            | StoreError::Refused { call, .. }
            | StoreError::Transient { call, .. } => *call,
        }
    }

    /// Whether a PutSecretValue was refused because its version id already holds other content
    /// ([`VERSION_EXISTS`]): another writer got there first.
    pub fn is_version_exists(&self) -> bool {
        matches!(self, StoreError::Refused { code, .. } if code == VERSION_EXISTS)
    }
}

impl Classify for StoreError {
    fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Transient { .. })
    }

    fn kind(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "SecretsManagerNotFound",
            StoreError::Refused { .. } => "SecretsManagerRefused",
            StoreError::Transient { .. } => "SecretsManagerUnavailable",
        }
    }

    fn call_name(&self) -> Option<&'static str> {
        Some(self.call().as_str())
    }
}

/// Tag that marks a secret as served by this deployment: the rotation function rotates only
/// secrets that carry it, and discovers the other secrets it serves by it (ListSecrets), so that
/// a rotation can see which clients they hold. Its value is free.
pub const SERVED_TAG: &str = "genesys-rotator";

/// Tag keys under which a failed rotation step records itself on its secret (best effort), for
/// `genesys-rotator status`: when ([RFC 3339](time::format_description::well_known::Rfc3339)),
/// which step, and its `errorType`. They share [`SERVED_TAG`]'s prefix, so a policy can let the
/// rotation role write these keys and no other (`aws:TagKeys`).
pub const LAST_FAILURE_TAGS: [&str; 3] = [
    "genesys-rotator:last-failure-at",
    "genesys-rotator:last-failure-step",
    "genesys-rotator:last-failure-error-type",
];

/// What DescribeSecret (or ListSecrets) says about a secret, as far as rotation cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretDescription {
    /// The secret's full ARN.
    pub arn: String,
    /// Whether rotation is turned on.
    pub rotation_enabled: bool,
    /// The version ids Secrets Manager reports with their staging labels (AWS lists labelled
    /// versions only; for every version, deprecated ones included, see
    /// [`SecretStore::version_ids`]).
    pub versions: HashMap<String, Vec<String>>,
    /// The secret's tags.
    pub tags: HashMap<String, String>,
    /// The Lambda function that rotates it (`RotationLambdaARN`), if rotation was ever set up.
    pub rotation_lambda_arn: Option<String>,
}

impl SecretDescription {
    /// The version that holds `stage`, if any.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.as_str())
    }

    /// The staging labels of `version_id`, if it is a version of the secret.
    pub fn stages_of(&self, version_id: &str) -> Option<&[String]> {
        self.versions.get(version_id).map(Vec::as_slice)
    }

    /// Whether the secret carries [`SERVED_TAG`].
    pub fn is_served(&self) -> bool {
        self.tags.contains_key(SERVED_TAG)
    }
}

/// Which version to read.
#[derive(Debug, Clone, Copy)]
pub enum Version<'a> {
    /// The version holding this staging label.
    Stage(&'a str),
    /// This version id, which must hold this staging label.
    IdAndStage(&'a str, &'a str),
    /// This version id, whatever its labels (a deprecated version has none).
    Id(&'a str),
}

/// One version's value.
#[derive(Debug, Clone)]
pub struct SecretValue {
    /// The version id.
    pub version_id: String,
    /// The string value; it may hold credentials, so it cannot be printed.
    pub value: SecretString,
}

/// Most secrets one BatchGetSecretValue may name (`SecretIdList`); Secrets Manager refuses a
/// longer list as a whole.
pub const BATCH_LIMIT: usize = 20;

/// What one BatchGetSecretValue answered: the AWSCURRENT value of each secret it could read,
/// and an error for each it could not. Secrets Manager answers a secret it cannot read (gone,
/// access denied, not decryptable) with an entry in `Errors`, not by failing the call.
#[derive(Debug, Default)]
pub struct BatchValues {
    /// The AWSCURRENT versions read, by the secret's ARN.
    pub values: HashMap<String, SecretValue>,
    /// The secrets not read, by the id as requested: the error code and message.
    pub errors: HashMap<String, (String, String)>,
}

impl BatchValues {
    /// What was answered for `arn` (requested by its ARN): its value, or why there is none. A
    /// secret missing from both lists was not answered for at all: the caller must count it as
    /// unreadable.
    pub fn answer_for(&self, arn: &str) -> Option<Result<&SecretValue, String>> {
        if let Some(value) = self.values.get(arn) {
            return Some(Ok(value));
        }
        self.errors
            .get(arn)
            .map(|(code, message)| Err(format!("BatchGetSecretValue: {code}: {message}")))
    }
}

/// The Secrets Manager calls a rotation makes.
pub trait SecretStore: Send + Sync {
    /// DescribeSecret.
    fn describe(&self, secret_id: &str) -> impl Future<Output = Result<SecretDescription, StoreError>> + Send;

    /// GetSecretValue. `Ok(None)` when the version exists but holds no value yet (an AWSPENDING
    /// label that Secrets Manager attached before createSecret ran) or does not exist.
    fn get_value(
        &self,
        secret_id: &str,
        version: Version<'_>,
    ) -> impl Future<Output = Result<Option<SecretValue>, StoreError>> + Send;

    /// PutSecretValue of `value` as version `token` with the AWSPENDING label: the
    /// [`put_staged`](Self::put_staged) of AWSPENDING. `rotation_token` comes from the rotation
    /// event and must be passed on when present.
    fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.put_staged(secret_id, token, value, AWSPENDING, rotation_token)
    }

    /// UpdateSecretVersionStage moving AWSCURRENT from `from_version` to `to_version`.
    fn promote(
        &self,
        secret_id: &str,
        to_version: &str,
        from_version: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// PutSecretValue of `value` as a new version `version_id` carrying only the staging label
    /// `stage` (which Secrets Manager moves off any other version): AWSPENDING
    /// ([`put_pending`](Self::put_pending)), or the master rotation's lock records;
    /// `rotation_token` as for [`put_pending`](Self::put_pending).
    ///
    /// createSecret's idempotency and the master rotation's lock rest on Secrets Manager's
    /// answer when `version_id` already holds a value ([`answer_to_put_over`]), given atomically,
    /// so of two writers of one version id exactly one wins.
    fn put_staged(
        &self,
        secret_id: &str,
        version_id: &str,
        value: &SecretString,
        stage: &str,
        rotation_token: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// UpdateSecretVersionStage removing `stage` from `version_id`.
    fn remove_stage(
        &self,
        secret_id: &str,
        stage: &str,
        version_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// ListSecretVersionIds with deprecated versions: every version id the secret has, labelled
    /// or not. The record the ownership rule checks a client's name against.
    fn version_ids(&self, secret_id: &str) -> impl Future<Output = Result<HashSet<String>, StoreError>> + Send;

    /// ListSecrets filtered by the tag key [`SERVED_TAG`] (secrets scheduled for deletion
    /// included): every secret that claims to be served, with its rotation function (the
    /// rotator keeps those whose function is its deployment's, see `RotatorConfig`),
    /// with its labelled versions and tags.
    fn served_secrets(&self) -> impl Future<Output = Result<Vec<SecretDescription>, StoreError>> + Send;

    /// TagResource: sets `tags` (key, value) on the secret, leaving its other tags. Only the
    /// failure record ([`LAST_FAILURE_TAGS`]) uses it.
    fn tag(&self, secret_id: &str, tags: &[(&str, String)]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// BatchGetSecretValue by `SecretIdList`: the AWSCURRENT value of each of `secret_ids` (at
    /// most [`BATCH_LIMIT`], else Secrets Manager refuses the call), and an error entry for each
    /// it could not read. The guard reads the served secrets through it, 20 to a call.
    fn current_values(&self, secret_ids: &[&str]) -> impl Future<Output = Result<BatchValues, StoreError>> + Send;
}

/// [`SecretStore`] over the AWS SDK client.
#[derive(Debug, Clone)]
pub struct AwsSecretStore {
    client: aws_sdk_secretsmanager::Client,
}

impl AwsSecretStore {
    /// Wraps an SDK client.
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }

    /// The one UpdateSecretVersionStage both label moves make.
    async fn update_stage(
        &self,
        secret_id: &str,
        stage: &str,
        move_to: Option<&str>,
        remove_from: &str,
    ) -> Result<(), StoreError> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(stage)
            .set_move_to_version_id(move_to.map(str::to_owned))
            .remove_from_version_id(remove_from)
            .send()
            .await
            .map_err(|e| classify(SecretsManagerCall::UpdateSecretVersionStage, e))?;
        Ok(())
    }
}

/// Sorts an SDK error of `call` into [`StoreError`]: the service's own verdict where it gave one.
fn classify<E, R>(call: SecretsManagerCall, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown").to_owned();
            let message = e.message().unwrap_or_default().to_owned();
            match code.as_str() {
                "ResourceNotFoundException" => StoreError::NotFound { call, message },
                "ThrottlingException"
                | "InternalServiceError"
                | "InternalServiceErrorException"
                | "ServiceUnavailable"
                | "RequestTimeout" => StoreError::Transient {
                    call,
                    message: format!("{code}: {message}"),
                },
                _ => StoreError::Refused { call, code, message },
            }
        }
        // Construction errors are our own bug; everything else is the network or a timeout.
        SdkError::ConstructionFailure(_) => StoreError::Refused {
            call,
            code: "ConstructionFailure".into(),
            message: error_chain(&err),
        },
        _ => StoreError::Transient {
            call,
            message: error_chain(&err),
        },
    }
}

/// The error and its sources on one line (SDK errors put the useful part in the source chain).
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl SecretStore for AwsSecretStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| classify(SecretsManagerCall::DescribeSecret, e))?;
        Ok(SecretDescription {
            arn: out.arn().unwrap_or(secret_id).to_owned(),
            rotation_enabled: out.rotation_enabled().unwrap_or(false),
            versions: out.version_ids_to_stages().cloned().unwrap_or_default(),
            tags: tag_map(out.tags()),
            rotation_lambda_arn: out.rotation_lambda_arn().map(str::to_owned),
        })
    }

    async fn get_value(&self, secret_id: &str, version: Version<'_>) -> Result<Option<SecretValue>, StoreError> {
        let mut req = self.client.get_secret_value().secret_id(secret_id);
        req = match version {
            Version::Stage(stage) => req.version_stage(stage),
            Version::IdAndStage(id, stage) => req.version_id(id).version_stage(stage),
            Version::Id(id) => req.version_id(id),
        };
        match req.send().await {
            Ok(out) => Ok(out.secret_string().map(|s| SecretValue {
                version_id: out.version_id().unwrap_or_default().to_owned(),
                value: SecretString::from(s.to_owned()),
            })),
            Err(e) => match classify(SecretsManagerCall::GetSecretValue, e) {
                StoreError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn promote(&self, secret_id: &str, to_version: &str, from_version: &str) -> Result<(), StoreError> {
        self.update_stage(secret_id, AWSCURRENT, Some(to_version), from_version)
            .await
    }

    async fn put_staged(
        &self,
        secret_id: &str,
        version_id: &str,
        value: &SecretString,
        stage: &str,
        rotation_token: Option<&str>,
    ) -> Result<(), StoreError> {
        // The version id doubles as the idempotency token, so a retried step writes the same
        // version instead of a second one.
        self.client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(version_id)
            .secret_string(value.expose_secret())
            .version_stages(stage)
            .set_rotation_token(rotation_token.map(str::to_owned))
            .send()
            .await
            .map_err(|e| classify(SecretsManagerCall::PutSecretValue, e))?;
        Ok(())
    }

    async fn remove_stage(&self, secret_id: &str, stage: &str, version_id: &str) -> Result<(), StoreError> {
        self.update_stage(secret_id, stage, None, version_id).await
    }

    async fn version_ids(&self, secret_id: &str) -> Result<HashSet<String>, StoreError> {
        const CALL: SecretsManagerCall = SecretsManagerCall::ListSecretVersionIds;
        let ids = all_pages(CALL, |next| {
            let request = self
                .client
                .list_secret_version_ids()
                .secret_id(secret_id)
                .include_deprecated(true)
                .max_results(100)
                .set_next_token(next);
            async move {
                let out = request.send().await.map_err(|e| classify(CALL, e))?;
                let ids = out.versions().iter().filter_map(|v| v.version_id().map(str::to_owned));
                Ok((ids.collect(), out.next_token().map(str::to_owned)))
            }
        })
        .await?;
        Ok(ids.into_iter().collect())
    }

    async fn served_secrets(&self) -> Result<Vec<SecretDescription>, StoreError> {
        use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
        const CALL: SecretsManagerCall = SecretsManagerCall::ListSecrets;
        let filter = Filter::builder()
            .key(FilterNameStringType::TagKey)
            .values(SERVED_TAG)
            .build();
        all_pages(CALL, |next| {
            let request = self
                .client
                .list_secrets()
                // A secret scheduled for deletion is restorable: it still holds its clients.
                .include_planned_deletion(true)
                .filters(filter.clone())
                .max_results(100)
                .set_next_token(next);
            async move {
                let out = request.send().await.map_err(|e| classify(CALL, e))?;
                let secrets = out.secret_list().iter().filter_map(|entry| {
                    let tags = tag_map(entry.tags());
                    // The tag-key filter matches by prefix in AWS: keep exact keys only.
                    let arn = entry.arn().filter(|_| tags.contains_key(SERVED_TAG))?;
                    Some(SecretDescription {
                        arn: arn.to_owned(),
                        rotation_enabled: entry.rotation_enabled().unwrap_or(false),
                        versions: entry.secret_versions_to_stages().cloned().unwrap_or_default(),
                        tags,
                        rotation_lambda_arn: entry.rotation_lambda_arn().map(str::to_owned),
                    })
                });
                Ok((secrets.collect(), out.next_token().map(str::to_owned)))
            }
        })
        .await
    }

    async fn current_values(&self, secret_ids: &[&str]) -> Result<BatchValues, StoreError> {
        const CALL: SecretsManagerCall = SecretsManagerCall::BatchGetSecretValue;
        let ids: Vec<String> = secret_ids.iter().map(|id| (*id).to_owned()).collect();
        // With a SecretIdList the answer fits one page; a NextToken is followed all the same.
        let pages = all_pages(CALL, |next| {
            let request = self
                .client
                .batch_get_secret_value()
                .set_secret_id_list(Some(ids.clone()))
                .set_next_token(next);
            async move {
                let out = request.send().await.map_err(|e| classify(CALL, e))?;
                let next = out.next_token().map(str::to_owned);
                Ok((vec![out], next))
            }
        })
        .await?;
        let mut batch = BatchValues::default();
        for out in pages {
            for entry in out.secret_values() {
                let (Some(arn), Some(value)) = (entry.arn(), entry.secret_string()) else {
                    // A binary secret, or an entry without its ARN: not a value this code reads;
                    // left unanswered, so the caller counts it unreadable.
                    continue;
                };
                batch.values.insert(
                    arn.to_owned(),
                    SecretValue {
                        version_id: entry.version_id().unwrap_or_default().to_owned(),
                        value: SecretString::from(value.to_owned()),
                    },
                );
            }
            for error in out.errors() {
                if let Some(id) = error.secret_id() {
                    batch.errors.insert(
                        id.to_owned(),
                        (
                            error.error_code().unwrap_or("Unknown").to_owned(),
                            error.message().unwrap_or_default().to_owned(),
                        ),
                    );
                }
            }
        }
        Ok(batch)
    }

    async fn tag(&self, secret_id: &str, tags: &[(&str, String)]) -> Result<(), StoreError> {
        let tags = tags
            .iter()
            .map(|(k, v)| aws_sdk_secretsmanager::types::Tag::builder().key(*k).value(v).build());
        self.client
            .tag_resource()
            .secret_id(secret_id)
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .map_err(|e| classify(SecretsManagerCall::TagResource, e))?;
        Ok(())
    }
}

/// Every item of a listing `call`, page by page: `page` fetches the page after the given
/// `NextToken` and answers its items and its own `NextToken`. A listing that does not end within
/// [`MAX_PAGES`] is refused, never taken as complete.
async fn all_pages<T, Fut>(
    call: SecretsManagerCall,
    mut page: impl FnMut(Option<String>) -> Fut,
) -> Result<Vec<T>, StoreError>
where
    Fut: Future<Output = Result<(Vec<T>, Option<String>), StoreError>>,
{
    let mut items = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let (found, token) = page(next.take()).await?;
        items.extend(found);
        match token {
            Some(t) if !t.is_empty() => next = Some(t),
            _ => return Ok(items),
        }
    }
    Err(too_many_pages(call))
}

/// Most pages a listing call follows before it gives up (a listing that does not end is refused,
/// never taken as complete). A secret keeps about 100 deprecated versions: 20 pages of 100 is far
/// more.
const MAX_PAGES: usize = 20;

fn too_many_pages(call: SecretsManagerCall) -> StoreError {
    StoreError::Transient {
        call,
        message: format!("the listing did not end after {MAX_PAGES} pages"),
    }
}

fn tag_map(tags: &[aws_sdk_secretsmanager::types::Tag]) -> HashMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_finds_versions_by_stage() {
        let d = SecretDescription {
            arn: "a".into(),
            rotation_enabled: true,
            tags: HashMap::new(),
            rotation_lambda_arn: Some("arn:aws:lambda:us-east-1:123456789012:function:genesys-rotation:live".into()),
            versions: HashMap::from([
                ("v1".to_owned(), vec![AWSPREVIOUS.to_owned()]),
                ("v2".to_owned(), vec![AWSCURRENT.to_owned()]),
                ("v3".to_owned(), vec![AWSPENDING.to_owned()]),
            ]),
        };
        assert_eq!(d.version_with(AWSCURRENT), Some("v2"));
        assert_eq!(d.version_with(AWSPENDING), Some("v3"));
        assert_eq!(d.stages_of("v1"), Some(&[AWSPREVIOUS.to_owned()][..]));
        assert_eq!(d.stages_of("nope"), None);
    }

    #[test]
    fn only_transient_errors_are_retryable() {
        let t = StoreError::Transient {
            call: SecretsManagerCall::GetSecretValue,
            message: "m".into(),
        };
        let r = StoreError::Refused {
            call: SecretsManagerCall::GetSecretValue,
            code: "c".into(),
            message: "m".into(),
        };
        let n = StoreError::NotFound {
            call: SecretsManagerCall::GetSecretValue,
            message: "m".into(),
        };
        assert!(t.is_retryable());
        assert!(!r.is_retryable());
        assert!(!n.is_retryable());
        assert!(!r.is_version_exists() && !t.is_version_exists());
        let exists = StoreError::Refused {
            call: SecretsManagerCall::PutSecretValue,
            code: VERSION_EXISTS.into(),
            message: "m".into(),
        };
        assert!(exists.is_version_exists());
    }

    #[test]
    fn a_put_over_a_stored_version_succeeds_only_with_the_same_value_and_never_quotes_it() {
        let stored = SecretString::from("STORED-VALUE".to_owned());
        let same = SecretString::from("STORED-VALUE".to_owned());
        let other = SecretString::from("OTHER-VALUE".to_owned());
        assert!(answer_to_put_over("arn", "v1", &stored, &same).is_ok());
        let refused = answer_to_put_over("arn", "v1", &stored, &other).unwrap_err();
        assert!(refused.is_version_exists() && !refused.is_retryable());
        assert_eq!(refused.call(), SecretsManagerCall::PutSecretValue);
        let shown = format!("{refused} {refused:?}");
        assert!(!shown.contains("VALUE"), "{shown}");
    }

    #[test]
    fn every_error_names_its_call() {
        for call in SecretsManagerCall::ALL {
            for e in [
                StoreError::NotFound {
                    call,
                    message: "m".into(),
                },
                StoreError::Refused {
                    call,
                    code: "AccessDeniedException".into(),
                    message: "m".into(),
                },
                StoreError::Transient {
                    call,
                    message: "m".into(),
                },
            ] {
                assert_eq!(e.call(), call);
                assert_eq!(e.call_name(), Some(call.as_str()));
                assert!(e.to_string().starts_with(&format!("{}: ", call.as_str())), "{e}");
                assert!(call.as_str().chars().all(|c| c.is_ascii_alphanumeric()), "{call:?}");
            }
        }
    }
}
