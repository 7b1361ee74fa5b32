//! [`MemorySecretStore`]: an in-memory [`SecretStore`] with Secrets Manager's semantics as far as
//! the rotation steps rely on them (each modelled rule checked by its own unit test below), so
//! step logic is unit-tested without moto or AWS; with failures and hooks injected at any call.
//! Test equipment: compiled only for this crate's tests and with the cargo feature
//! `test-doubles`, never into the release Lambdas. What it models and how the tests use it:
//! docs/testing/README.md.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use secrecy::{ExposeSecret, SecretString};

use super::{
    answer_to_put_over, BatchValues, SecretDescription, SecretStore, SecretValue, SecretsManagerCall, StoreError,
    Version, AWSCURRENT, AWSPENDING, AWSPREVIOUS, BATCH_LIMIT, SERVED_TAG,
};

/// Account and region of the ARNs the store makes.
const ARN_PREFIX: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:";

/// Something to run just before the next call of an operation.
type Hook = Box<dyn FnOnce(&MemorySecretStore) + Send>;

/// What happens at the next call of an operation.
enum Planned {
    /// Fail without applying the call.
    FailBefore,
    /// Apply the call, then fail (the answer is lost).
    FailAfter,
    /// Run this, then the call.
    Hook(Hook),
}

#[derive(Debug, Clone)]
struct StoredVersion {
    value: Option<SecretString>,
    stages: Vec<String>,
}

#[derive(Debug, Clone)]
struct StoredSecret {
    arn: String,
    name: String,
    rotation_enabled: bool,
    rotation_lambda_arn: Option<String>,
    tags: HashMap<String, String>,
    versions: BTreeMap<String, StoredVersion>,
}

impl StoredSecret {
    fn description(&self) -> SecretDescription {
        SecretDescription {
            arn: self.arn.clone(),
            rotation_enabled: self.rotation_enabled,
            versions: self
                .versions
                .iter()
                .filter(|(_, v)| !v.stages.is_empty())
                .map(|(id, v)| (id.clone(), v.stages.clone()))
                .collect(),
            tags: self.tags.clone(),
            rotation_lambda_arn: self.rotation_lambda_arn.clone(),
        }
    }

    fn holder_of(&self, stage: &str) -> Option<String> {
        self.versions
            .iter()
            .find(|(_, v)| v.stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.clone())
    }

    /// Puts `stage` on `version_id`, taking it off whichever version held it.
    fn attach(&mut self, stage: &str, version_id: &str) {
        for v in self.versions.values_mut() {
            v.stages.retain(|s| s != stage);
        }
        let v = self
            .versions
            .get_mut(version_id)
            .expect("attach to an existing version");
        v.stages.push(stage.to_owned());
    }

    fn detach(&mut self, stage: &str, version_id: &str) {
        if let Some(v) = self.versions.get_mut(version_id) {
            v.stages.retain(|s| s != stage);
        }
    }
}

#[derive(Default)]
struct State {
    secrets: Vec<StoredSecret>,
    planned: Vec<(SecretsManagerCall, Planned)>,
    calls: Vec<SecretsManagerCall>,
    /// Secrets whose values BatchGetSecretValue answers with an AccessDeniedException entry (a
    /// resource policy or key that denies this reader).
    batch_denied: HashSet<String>,
}

impl State {
    fn find(&self, secret_id: &str) -> Option<usize> {
        self.secrets
            .iter()
            .position(|s| s.arn == secret_id || s.name == secret_id)
    }

    fn secret_mut(&mut self, call: SecretsManagerCall, secret_id: &str) -> Result<&mut StoredSecret, StoreError> {
        match self.find(secret_id) {
            Some(i) => Ok(&mut self.secrets[i]),
            None => Err(not_found(call, secret_id)),
        }
    }

    /// The secret a test helper acts on, which must exist.
    fn existing(&mut self, secret_id: &str) -> &mut StoredSecret {
        let i = self.find(secret_id).expect("secret exists");
        &mut self.secrets[i]
    }
}

fn not_found(call: SecretsManagerCall, secret_id: &str) -> StoreError {
    StoreError::NotFound {
        call,
        message: format!("Secrets Manager can't find the specified secret: {secret_id}"),
    }
}

fn refused(call: SecretsManagerCall, code: &str, message: String) -> StoreError {
    StoreError::Refused {
        call,
        code: code.to_owned(),
        message,
    }
}

/// An in-memory Secrets Manager. Clones share one state. Secrets are found by ARN or by name;
/// values are kept as [`SecretString`]s and never printed (`Debug` shows ids and labels only).
#[derive(Clone, Default)]
pub struct MemorySecretStore {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for MemorySecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        let mut list = f.debug_map();
        for s in &state.secrets {
            let versions: BTreeMap<&str, &[String]> = s
                .versions
                .iter()
                .map(|(id, v)| (id.as_str(), v.stages.as_slice()))
                .collect();
            list.entry(&s.arn, &versions);
        }
        list.finish()
    }
}

impl MemorySecretStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("memory store lock")
    }

    /// CreateSecret: a secret named `name` whose first version (AWSCURRENT) holds `value`, with
    /// `tags`; rotation off. Returns its ARN.
    ///
    /// # Panics
    /// If a secret of that name exists: a mistake in the test.
    pub fn create_secret(&self, name: &str, value: &str, tags: &[(&str, &str)]) -> String {
        let mut state = self.lock();
        assert!(state.find(name).is_none(), "secret {name} exists already");
        // AWS appends a dash and six random characters to the name.
        let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
        let arn = format!("{ARN_PREFIX}{name}-{suffix}");
        let version = uuid::Uuid::new_v4().to_string();
        state.secrets.push(StoredSecret {
            arn: arn.clone(),
            name: name.to_owned(),
            rotation_enabled: false,
            rotation_lambda_arn: None,
            tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            versions: BTreeMap::from([(
                version,
                StoredVersion {
                    value: Some(SecretString::from(value.to_owned())),
                    stages: vec![AWSCURRENT.to_owned()],
                },
            )]),
        });
        arn
    }

    /// [`create_secret`](Self::create_secret) tagged with [`SERVED_TAG`], as this deployment's
    /// secrets are.
    pub fn create_served_secret(&self, name: &str, value: &str) -> String {
        self.create_secret(name, value, &[(SERVED_TAG, "integration")])
    }

    /// What RotateSecret does before it invokes the rotation function: turns rotation on and
    /// labels a new version id AWSPENDING, without a value. Returns the version id (the
    /// ClientRequestToken of the steps).
    ///
    /// # Panics
    /// If the secret does not exist, or a rotation is in progress (AWSPENDING on a version other
    /// than AWSCURRENT's), which AWS refuses.
    pub fn begin_rotation(&self, secret_id: &str) -> String {
        let mut state = self.lock();
        let secret = state.existing(secret_id);
        if let Some(pending) = secret.holder_of(AWSPENDING) {
            assert!(
                Some(&pending) == secret.holder_of(AWSCURRENT).as_ref(),
                "a rotation of {secret_id} is in progress (AWSPENDING on {pending})"
            );
        }
        secret.rotation_enabled = true;
        let token = uuid::Uuid::new_v4().to_string();
        secret.versions.insert(
            token.clone(),
            StoredVersion {
                value: None,
                stages: Vec::new(),
            },
        );
        secret.attach(AWSPENDING, &token);
        token
    }

    /// Turns rotation on or off (RotateSecret / CancelRotateSecret, as far as the flag goes).
    pub fn set_rotation_enabled(&self, secret_id: &str, enabled: bool) {
        self.lock().existing(secret_id).rotation_enabled = enabled;
    }

    /// Sets the secret's rotation function (`RotationLambdaARN`).
    pub fn set_rotation_lambda(&self, secret_id: &str, arn: &str) {
        self.lock().existing(secret_id).rotation_lambda_arn = Some(arn.to_owned());
    }

    /// Adds version `version_id` with `value` (or none) and exactly the labels `stages` (moved
    /// off any other version), bypassing every check: for states a test needs to start from.
    pub fn insert_version(&self, secret_id: &str, version_id: &str, value: Option<&str>, stages: &[&str]) {
        let mut state = self.lock();
        let secret = state.existing(secret_id);
        secret.versions.insert(
            version_id.to_owned(),
            StoredVersion {
                value: value.map(|v| SecretString::from(v.to_owned())),
                stages: Vec::new(),
            },
        );
        for stage in stages {
            secret.attach(stage, version_id);
        }
    }

    /// The value of the version holding `stage`, exposed for assertions (`None`: no such version
    /// or no value).
    pub fn value(&self, secret_id: &str, stage: &str) -> Option<String> {
        let state = self.lock();
        let secret = &state.secrets[state.find(secret_id)?];
        let id = secret.holder_of(stage)?;
        secret.versions[&id]
            .value
            .as_ref()
            .map(|v| v.expose_secret().to_owned())
    }

    /// The value of version `version_id`, exposed for assertions.
    pub fn value_of_version(&self, secret_id: &str, version_id: &str) -> Option<String> {
        let state = self.lock();
        let secret = &state.secrets[state.find(secret_id)?];
        secret
            .versions
            .get(version_id)?
            .value
            .as_ref()
            .map(|v| v.expose_secret().to_owned())
    }

    /// The version holding `stage`, if any.
    pub fn version_with(&self, secret_id: &str, stage: &str) -> Option<String> {
        let state = self.lock();
        state.secrets[state.find(secret_id)?].holder_of(stage)
    }

    /// The operations called so far through [`SecretStore`], in order (failed ones included).
    pub fn calls(&self) -> Vec<SecretsManagerCall> {
        self.lock().calls.clone()
    }

    /// How many calls of `operation` were made so far.
    pub fn call_count(&self, operation: SecretsManagerCall) -> usize {
        self.lock().calls.iter().filter(|&&o| o == operation).count()
    }

    /// Makes the next call of `operation` fail with a transient error without applying it.
    pub fn fail_next(&self, operation: SecretsManagerCall) {
        self.lock().planned.push((operation, Planned::FailBefore));
    }

    /// Makes the next call of `operation` apply, then fail with a transient error (a crash or a
    /// lost answer after the service acted).
    pub fn fail_next_after(&self, operation: SecretsManagerCall) {
        self.lock().planned.push((operation, Planned::FailAfter));
    }

    /// Runs `hook` just before the next call of `operation` (with the store unlocked, so it may
    /// call the store): another invocation acting in between.
    pub fn before_next(&self, operation: SecretsManagerCall, hook: impl FnOnce(&MemorySecretStore) + Send + 'static) {
        self.lock().planned.push((operation, Planned::Hook(Box::new(hook))));
    }

    /// Makes BatchGetSecretValue answer secret `secret_id` (ARN or name) with an
    /// AccessDeniedException entry in `Errors` from now on, as AWS does for a secret the caller
    /// may not read; the other secrets of the call are still answered.
    pub fn deny_batch_read(&self, secret_id: &str) {
        self.lock().batch_denied.insert(secret_id.to_owned());
    }

    /// Whether a planned failure or hook is still waiting for its call.
    pub fn armed(&self) -> bool {
        !self.lock().planned.is_empty()
    }

    /// Records the call and runs what is planned for it: `Err` to fail before applying,
    /// `Ok(true)` to fail after applying.
    fn enter(&self, operation: SecretsManagerCall) -> Result<bool, StoreError> {
        let planned = {
            let mut state = self.lock();
            state.calls.push(operation);
            let next = state.planned.iter().position(|(op, _)| *op == operation);
            next.map(|i| state.planned.remove(i).1)
        };
        match planned {
            None => Ok(false),
            Some(Planned::FailBefore) => Err(injected(operation)),
            Some(Planned::FailAfter) => Ok(true),
            Some(Planned::Hook(hook)) => {
                hook(self);
                Ok(false)
            }
        }
    }

    /// Runs `apply` as call `operation`, with the planned failure, if any.
    fn call<T>(
        &self,
        operation: SecretsManagerCall,
        apply: impl FnOnce(&mut State) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let fail_after = self.enter(operation)?;
        let result = apply(&mut self.lock());
        if fail_after {
            result?;
            return Err(injected(operation));
        }
        result
    }

    /// PutSecretValue as Secrets Manager applies it.
    fn put(
        state: &mut State,
        secret_id: &str,
        version_id: &str,
        value: &SecretString,
        stage: &str,
    ) -> Result<(), StoreError> {
        const OP: SecretsManagerCall = SecretsManagerCall::PutSecretValue;
        let secret = state.secret_mut(OP, secret_id)?;
        match secret.versions.get_mut(version_id) {
            // The version id is the idempotency token: a stored version never changes.
            Some(StoredVersion {
                value: Some(stored), ..
            }) => return answer_to_put_over(secret_id, version_id, stored, value),
            Some(empty) => empty.value = Some(value.clone()),
            None => {
                secret.versions.insert(
                    version_id.to_owned(),
                    StoredVersion {
                        value: Some(value.clone()),
                        stages: Vec::new(),
                    },
                );
            }
        }
        let previous_current = secret.holder_of(AWSCURRENT);
        secret.attach(stage, version_id);
        if stage == AWSCURRENT {
            if let Some(previous) = previous_current.filter(|p| p != version_id) {
                secret.attach(AWSPREVIOUS, &previous);
            }
        }
        Ok(())
    }
}

fn injected(call: SecretsManagerCall) -> StoreError {
    StoreError::Transient {
        call,
        message: "injected failure".into(),
    }
}

impl SecretStore for MemorySecretStore {
    async fn tag(&self, secret_id: &str, tags: &[(&str, String)]) -> Result<(), StoreError> {
        self.call(SecretsManagerCall::TagResource, |state| {
            let secret = state.secret_mut(SecretsManagerCall::TagResource, secret_id)?;
            for (k, v) in tags {
                secret.tags.insert((*k).to_owned(), v.clone());
            }
            Ok(())
        })
    }

    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        self.call(SecretsManagerCall::DescribeSecret, |state| {
            Ok(state
                .secret_mut(SecretsManagerCall::DescribeSecret, secret_id)?
                .description())
        })
    }

    async fn get_value(&self, secret_id: &str, version: Version<'_>) -> Result<Option<SecretValue>, StoreError> {
        self.call(SecretsManagerCall::GetSecretValue, |state| {
            let Some(i) = state.find(secret_id) else {
                return Ok(None);
            };
            let secret = &state.secrets[i];
            let id = match version {
                Version::Stage(stage) => secret.holder_of(stage),
                Version::IdAndStage(id, stage) => secret
                    .versions
                    .get(id)
                    .filter(|v| v.stages.iter().any(|s| s == stage))
                    .map(|_| id.to_owned()),
                Version::Id(id) => secret.versions.contains_key(id).then(|| id.to_owned()),
            };
            Ok(id.and_then(|id| {
                let value = secret.versions[&id].value.clone()?;
                Some(SecretValue { version_id: id, value })
            }))
        })
    }

    async fn promote(&self, secret_id: &str, to_version: &str, from_version: &str) -> Result<(), StoreError> {
        const OP: SecretsManagerCall = SecretsManagerCall::UpdateSecretVersionStage;
        self.call(SecretsManagerCall::UpdateSecretVersionStage, |state| {
            let secret = state.secret_mut(OP, secret_id)?;
            if !secret.versions.contains_key(to_version) {
                return Err(not_found(OP, to_version));
            }
            let holder = secret.holder_of(AWSCURRENT);
            if holder.as_deref() != Some(from_version) {
                return Err(refused(
                    OP,
                    "InvalidParameterException",
                    format!("the staging label AWSCURRENT is attached to version {holder:?}, not {from_version}"),
                ));
            }
            if to_version != from_version {
                secret.attach(AWSCURRENT, to_version);
                secret.attach(AWSPREVIOUS, from_version);
            }
            Ok(())
        })
    }

    async fn put_staged(
        &self,
        secret_id: &str,
        version_id: &str,
        value: &SecretString,
        stage: &str,
        _rotation_token: Option<&str>,
    ) -> Result<(), StoreError> {
        self.call(SecretsManagerCall::PutSecretValue, |state| {
            Self::put(state, secret_id, version_id, value, stage)
        })
    }

    async fn remove_stage(&self, secret_id: &str, stage: &str, version_id: &str) -> Result<(), StoreError> {
        const OP: SecretsManagerCall = SecretsManagerCall::UpdateSecretVersionStage;
        self.call(SecretsManagerCall::UpdateSecretVersionStage, |state| {
            let secret = state.secret_mut(OP, secret_id)?;
            if stage == AWSCURRENT {
                return Err(refused(
                    OP,
                    "InvalidParameterException",
                    "AWSCURRENT can only be moved to another version, not removed".into(),
                ));
            }
            if secret.holder_of(stage).as_deref() != Some(version_id) {
                return Err(refused(
                    OP,
                    "InvalidParameterException",
                    format!("version {version_id} does not hold the staging label {stage}"),
                ));
            }
            secret.detach(stage, version_id);
            Ok(())
        })
    }

    async fn version_ids(&self, secret_id: &str) -> Result<HashSet<String>, StoreError> {
        self.call(SecretsManagerCall::ListSecretVersionIds, |state| {
            Ok(state
                .secret_mut(SecretsManagerCall::ListSecretVersionIds, secret_id)?
                .versions
                .keys()
                .cloned()
                .collect())
        })
    }

    async fn current_values(&self, secret_ids: &[&str]) -> Result<BatchValues, StoreError> {
        const OP: SecretsManagerCall = SecretsManagerCall::BatchGetSecretValue;
        self.call(OP, |state| {
            if secret_ids.is_empty() || secret_ids.len() > BATCH_LIMIT {
                return Err(refused(
                    OP,
                    "ValidationException",
                    format!(
                        "1 validation error detected: Value at 'secretIdList' failed to satisfy constraint: Member \
                         must have length less than or equal to {BATCH_LIMIT} and greater than or equal to 1 (got {})",
                        secret_ids.len()
                    ),
                ));
            }
            let mut batch = BatchValues::default();
            for &id in secret_ids {
                let error = |code: &str, message: String| (id.to_owned(), (code.to_owned(), message));
                let Some(i) = state.find(id) else {
                    let (k, v) = error(
                        "ResourceNotFoundException",
                        format!("Secrets Manager can't find the specified secret: {id}"),
                    );
                    batch.errors.insert(k, v);
                    continue;
                };
                let secret = &state.secrets[i];
                if state.batch_denied.contains(id) || state.batch_denied.contains(&secret.arn) {
                    let (k, v) = error("AccessDeniedException", format!("not authorized to read {id}"));
                    batch.errors.insert(k, v);
                    continue;
                }
                let current = secret
                    .holder_of(AWSCURRENT)
                    .and_then(|v| Some((v.clone(), secret.versions[&v].value.clone()?)));
                match current {
                    Some((version_id, value)) => {
                        batch
                            .values
                            .insert(secret.arn.clone(), SecretValue { version_id, value });
                    }
                    None => {
                        let (k, v) = error(
                            "ResourceNotFoundException",
                            format!(
                                "Secrets Manager can't find the specified secret value for staging label: {AWSCURRENT}"
                            ),
                        );
                        batch.errors.insert(k, v);
                    }
                }
            }
            Ok(batch)
        })
    }

    async fn served_secrets(&self) -> Result<Vec<SecretDescription>, StoreError> {
        self.call(SecretsManagerCall::ListSecrets, |state| {
            Ok(state
                .secrets
                .iter()
                .filter(|s| s.tags.contains_key(SERVED_TAG))
                .map(StoredSecret::description)
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use genesys_core::classify::Classify;

    fn secret(v: &str) -> SecretString {
        SecretString::from(v.to_owned())
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn a_new_secret_has_one_current_version_and_is_found_by_name_or_arn() {
        block_on(async {
            // GIVEN a secret created with tags
            let store = MemorySecretStore::new();
            let arn = store.create_secret("app/one", "v1", &[("team", "crm")]);
            // WHEN it is described by ARN and by name
            let by_arn = store.describe(&arn).await.unwrap();
            let by_name = store.describe("app/one").await.unwrap();
            // THEN both show one AWSCURRENT version, the tags, rotation off, a valid ARN
            assert_eq!(by_arn, by_name);
            assert!(arn.starts_with(ARN_PREFIX));
            assert_eq!(by_arn.versions.len(), 1);
            assert!(by_arn.version_with(AWSCURRENT).is_some());
            assert_eq!(by_arn.tags.get("team").map(String::as_str), Some("crm"));
            assert!(!by_arn.rotation_enabled);
            assert!(!by_arn.is_served());
            let missing = store.describe("nope").await.unwrap_err();
            assert!(matches!(missing, StoreError::NotFound { .. }), "{missing}");
        });
    }

    #[test]
    fn begin_rotation_labels_a_version_without_value_pending_and_enables_rotation() {
        block_on(async {
            // GIVEN a secret
            let store = MemorySecretStore::new();
            let arn = store.create_served_secret("s", "v1");
            // WHEN a rotation begins
            let token = store.begin_rotation(&arn);
            // THEN AWSPENDING is on the token's version, which has no value; rotation is on
            let desc = store.describe(&arn).await.unwrap();
            assert!(desc.rotation_enabled);
            assert_eq!(desc.stages_of(&token), Some(&[AWSPENDING.to_owned()][..]));
            let read = store
                .get_value(&arn, Version::IdAndStage(&token, AWSPENDING))
                .await
                .unwrap();
            assert!(read.is_none(), "a version without a value reads as None");
            assert!(store.get_value(&arn, Version::Id(&token)).await.unwrap().is_none());
        });
    }

    #[test]
    fn a_put_takes_its_label_off_the_version_that_held_it() {
        block_on(async {
            // GIVEN a secret whose AWSPENDING is on version p1
            let store = MemorySecretStore::new();
            let arn = store.create_served_secret("s", "v1");
            store.put_pending(&arn, "p1", &secret("one"), None).await.unwrap();
            // WHEN a value is put as version p2 with AWSPENDING
            store.put_pending(&arn, "p2", &secret("two"), None).await.unwrap();
            // THEN p2 holds the label, p1 keeps its value unlabelled (described no more, still listed)
            let desc = store.describe(&arn).await.unwrap();
            assert_eq!(desc.version_with(AWSPENDING), Some("p2"));
            assert_eq!(desc.stages_of("p1"), None, "unlabelled versions are not described");
            let ids = store.version_ids(&arn).await.unwrap();
            assert!(ids.contains("p1") && ids.contains("p2"), "{ids:?}");
            assert_eq!(store.value_of_version(&arn, "p1").as_deref(), Some("one"));
        });
    }

    #[test]
    fn re_putting_a_version_succeeds_with_the_same_content_and_is_refused_with_other_content() {
        block_on(async {
            // GIVEN version p1 stored with a value
            let store = MemorySecretStore::new();
            let arn = store.create_served_secret("s", "v1");
            let token = store.begin_rotation(&arn);
            store.put_pending(&arn, &token, &secret("one"), None).await.unwrap();
            // WHEN the same value is put again, then another value
            let same = store.put_pending(&arn, &token, &secret("one"), None).await;
            let other = store.put_pending(&arn, &token, &secret("two"), None).await;
            // THEN the first succeeds, the second is refused like ResourceExistsException, and the
            // version keeps its first value
            assert!(same.is_ok());
            match other {
                Err(StoreError::Refused { code, .. }) => assert_eq!(code, "ResourceExistsException"),
                other => panic!("expected ResourceExistsException, got {other:?}"),
            }
            assert_eq!(store.value(&arn, AWSPENDING).as_deref(), Some("one"));
        });
    }

    #[test]
    fn promote_moves_current_and_previous_follows() {
        block_on(async {
            // GIVEN AWSCURRENT on v1 and a pending value on the rotation's token
            let store = MemorySecretStore::new();
            let arn = store.create_served_secret("s", "v1");
            let v1 = store.version_with(&arn, AWSCURRENT).unwrap();
            let token = store.begin_rotation(&arn);
            store.put_pending(&arn, &token, &secret("v2"), None).await.unwrap();
            // WHEN AWSCURRENT is moved naming a wrong source, then the right one
            let wrong = store.promote(&arn, &token, "not-current").await;
            store.promote(&arn, &token, &v1).await.unwrap();
            // THEN the wrong move is refused; the right one puts AWSCURRENT on the token and
            // AWSPREVIOUS on v1; AWSPENDING stays until removed
            assert!(matches!(wrong, Err(StoreError::Refused { .. })), "{wrong:?}");
            let desc = store.describe(&arn).await.unwrap();
            assert_eq!(desc.version_with(AWSCURRENT), Some(token.as_str()));
            assert_eq!(desc.version_with(AWSPREVIOUS), Some(v1.as_str()));
            assert_eq!(desc.version_with(AWSPENDING), Some(token.as_str()));
            assert_eq!(store.value(&arn, AWSCURRENT).as_deref(), Some("v2"));
            assert!(matches!(
                store.promote(&arn, "missing", &token).await,
                Err(StoreError::NotFound { .. })
            ));
        });
    }

    #[test]
    fn remove_stage_needs_the_version_that_holds_the_label() {
        block_on(async {
            // GIVEN a custom label on version r1
            let store = MemorySecretStore::new();
            let arn = store.create_served_secret("s", "v1");
            store
                .put_staged(&arn, "r1", &secret("rec"), "RECOVERY", None)
                .await
                .unwrap();
            // WHEN it is removed from another version, then from r1, then AWSCURRENT is removed
            let wrong = store.remove_stage(&arn, "RECOVERY", "v-other").await;
            store.remove_stage(&arn, "RECOVERY", "r1").await.unwrap();
            let current = store.version_with(&arn, AWSCURRENT).unwrap();
            let current_removed = store.remove_stage(&arn, AWSCURRENT, &current).await;
            // THEN only the removal from r1 succeeds; r1 stays as an unlabelled version
            assert!(matches!(wrong, Err(StoreError::Refused { .. })));
            assert!(matches!(current_removed, Err(StoreError::Refused { .. })));
            assert_eq!(store.version_with(&arn, "RECOVERY"), None);
            assert!(store.version_ids(&arn).await.unwrap().contains("r1"));
        });
    }

    #[test]
    fn get_value_answers_none_for_a_label_on_another_version_or_a_missing_secret() {
        block_on(async {
            // GIVEN a secret with AWSCURRENT only
            let store = MemorySecretStore::new();
            let arn = store.create_served_secret("s", "v1");
            let v1 = store.version_with(&arn, AWSCURRENT).unwrap();
            // WHEN versions are read by label, by id and label, and by id
            let current = store.get_value(&arn, Version::Stage(AWSCURRENT)).await.unwrap();
            let mismatch = store
                .get_value(&arn, Version::IdAndStage(&v1, AWSPENDING))
                .await
                .unwrap();
            let by_id = store.get_value(&arn, Version::Id(&v1)).await.unwrap();
            let missing = store.get_value("nope", Version::Stage(AWSCURRENT)).await.unwrap();
            // THEN only the matching reads find the value
            assert_eq!(current.unwrap().value.expose_secret(), "v1");
            assert!(mismatch.is_none());
            assert_eq!(by_id.unwrap().version_id, v1);
            assert!(missing.is_none());
        });
    }

    #[test]
    fn served_secrets_lists_only_secrets_tagged_with_the_exact_key() {
        block_on(async {
            // GIVEN a served secret, an untagged one and one whose tag key only starts alike
            let store = MemorySecretStore::new();
            let served = store.create_served_secret("served", "v");
            store.create_secret("untagged", "v", &[]);
            store.create_secret("lookalike", "v", &[("genesys-rotator-x", "")]);
            // WHEN the served secrets are listed
            let listed = store.served_secrets().await.unwrap();
            // THEN only the served one comes back, with its tags and labelled versions
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].arn, served);
            assert!(listed[0].is_served());
            assert!(listed[0].version_with(AWSCURRENT).is_some());
        });
    }

    #[test]
    fn batch_get_reads_awscurrent_of_at_most_twenty_and_answers_each_unreadable_secret_with_an_error() {
        let store = MemorySecretStore::new();
        let a = store.create_secret("a", "A0", &[]);
        let current = store.version_with(&a, AWSCURRENT).unwrap();
        store.insert_version(&a, "v-lock", Some("A-LOCK"), &["LOCK"]);
        let denied = store.create_secret("denied", "D", &[]);
        store.deny_batch_read(&denied);
        let empty = store.create_secret("empty", "E", &[]);
        store.insert_version(&empty, "v-none", None, &[AWSCURRENT]);
        let missing = format!("{ARN_PREFIX}missing-abcdef");

        let batch = block_on(store.current_values(&[&a, &denied, &empty, &missing])).unwrap();
        let value = batch.answer_for(&a).unwrap().unwrap();
        assert_eq!(
            (value.version_id.as_str(), value.value.expose_secret()),
            (current.as_str(), "A0")
        );
        for (id, code) in [
            (&denied, "AccessDeniedException"),
            (&empty, "ResourceNotFoundException"),
            (&missing, "ResourceNotFoundException"),
        ] {
            let why = batch.answer_for(id).unwrap().unwrap_err();
            assert!(why.contains(code), "{id}: {why}");
        }

        let many: Vec<&str> = std::iter::repeat_n(a.as_str(), BATCH_LIMIT + 1).collect();
        let refused = block_on(store.current_values(&many)).unwrap_err();
        assert!(
            matches!(&refused, StoreError::Refused { code, .. } if code == "ValidationException"),
            "{refused}"
        );
        assert!(block_on(store.current_values(&[])).is_err());
        assert!(block_on(store.current_values(&many[..BATCH_LIMIT])).is_ok());
        assert_eq!(store.call_count(SecretsManagerCall::BatchGetSecretValue), 4);
    }

    #[test]
    fn an_injected_failure_hits_the_next_call_of_its_operation_once() {
        block_on(async {
            // GIVEN a failure planned for the next PutSecretValue, and one after the next promote
            let store = MemorySecretStore::new();
            let arn = store.create_served_secret("s", "v1");
            let v1 = store.version_with(&arn, AWSCURRENT).unwrap();
            store.fail_next(SecretsManagerCall::PutSecretValue);
            store.fail_next_after(SecretsManagerCall::UpdateSecretVersionStage);
            // WHEN other calls run, then the put twice, then the promote
            store.describe(&arn).await.unwrap();
            let first = store.put_pending(&arn, "p", &secret("x"), None).await;
            let second = store.put_pending(&arn, "p", &secret("x"), None).await;
            let promoted = store.promote(&arn, "p", &v1).await;
            // THEN the first put fails without applying, the second applies; the promote applies
            // and still fails, retryably
            assert!(first.as_ref().is_err_and(Classify::is_retryable), "{first:?}");
            assert!(second.is_ok());
            assert!(promoted.as_ref().is_err_and(Classify::is_retryable), "{promoted:?}");
            assert_eq!(store.version_with(&arn, AWSCURRENT).as_deref(), Some("p"));
            assert!(!store.armed());
            assert_eq!(store.call_count(SecretsManagerCall::PutSecretValue), 2);
        });
    }

    #[test]
    fn a_hook_runs_before_the_next_call_of_its_operation() {
        block_on(async {
            // GIVEN a hook that stores a value for the token before the next put
            let store = MemorySecretStore::new();
            let arn = store.create_served_secret("s", "v1");
            let token = store.begin_rotation(&arn);
            let (a, t) = (arn.clone(), token.clone());
            store.before_next(SecretsManagerCall::PutSecretValue, move |s| {
                s.insert_version(&a, &t, Some("theirs"), &[AWSPENDING]);
            });
            // WHEN this caller puts its own value
            let put = store.put_pending(&arn, &token, &secret("mine"), None).await;
            // THEN its put is refused and the other value stays
            assert!(matches!(put, Err(StoreError::Refused { .. })), "{put:?}");
            assert_eq!(store.value(&arn, AWSPENDING).as_deref(), Some("theirs"));
        });
    }

    #[test]
    fn debug_never_shows_values() {
        // GIVEN a secret holding a value WHEN the store is printed THEN the value is not shown
        let store = MemorySecretStore::new();
        store.create_served_secret("s", "NEVER-PRINTED");
        assert!(!format!("{store:?}").contains("NEVER"));
    }
}
