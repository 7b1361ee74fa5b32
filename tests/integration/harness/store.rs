//! FaultyStore: a store wrapper that fails chosen calls, and PutSecretValue as AWS answers it
//! (a stored version is never changed).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use genesys_rotator::store::{
    answer_to_put_over, BatchValues, SecretDescription, SecretStore, SecretValue, SecretsManagerCall, StoreError,
    Version, AWSPENDING,
};
use secrecy::SecretString;

/// Where a [`FaultyStore`] failure happens relative to the real call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The call never reaches the store.
    Before,
    /// The call is applied, then the caller sees an error (a crash after the call).
    After,
}

/// `inner`'s PutSecretValue of `value` as version `version_id` with label `stage`, as AWS
/// answers it when the version already holds a value ([`answer_to_put_over`]: the same value
/// succeeds, another is refused with ResourceExistsException), atomically. moto overwrites an
/// AWSPENDING version that holds a value, and checks other versions without a lock, so two
/// concurrent puts of one new version id may both succeed there: the master rotation's lock and
/// createSecret's idempotency both rest on this refusal, so the tests need it exactly.
/// `one_at_a_time` is shared by every store in front of the same Secrets Manager; `None`:
/// `inner` already refuses, just put.
pub async fn put_as_aws<S: SecretStore>(
    inner: &S,
    one_at_a_time: Option<&tokio::sync::Mutex<()>>,
    secret_id: &str,
    version_id: &str,
    value: &SecretString,
    stage: &str,
    rotation_token: Option<&str>,
) -> Result<(), StoreError> {
    let put = Box::pin(inner.put_staged(secret_id, version_id, value, stage, rotation_token));
    let Some(one_at_a_time) = one_at_a_time else {
        return put.await;
    };
    let _one = one_at_a_time.lock().await;
    match Box::pin(inner.get_value(secret_id, Version::Id(version_id))).await? {
        Some(stored) => answer_to_put_over(secret_id, version_id, &stored.value, value),
        None => put.await,
    }
}

/// Wraps a store and fails its n-th call (counting every method), once; PutSecretValue refuses
/// to change a stored version, as AWS does (see [`put_as_aws`]).
#[derive(Clone)]
pub struct FaultyStore<S> {
    inner: S,
    calls: Arc<AtomicUsize>,
    plan: Arc<Mutex<Option<(usize, When)>>>,
    log: Arc<Mutex<Vec<SecretsManagerCall>>>,
    /// `None`: the inner store already refuses as AWS does.
    puts: Option<Arc<tokio::sync::Mutex<()>>>,
    /// How long the next `put_pending` waits before it is made.
    slow_put_pending: Arc<Mutex<Option<Duration>>>,
    /// Secrets whose values cannot be read (GetSecretValue refused, as for a secret whose key
    /// policy denies the function): by the id the caller passes, its ARN in the campaign.
    unreadable: Arc<Mutex<HashSet<String>>>,
}

impl<S: SecretStore> FaultyStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            puts: Some(Arc::default()),
            ..Self::over_aws_like(inner)
        }
    }

    /// For an inner store that already refuses to change a stored version (the fault
    /// campaign's), so the check is not made twice.
    pub fn over_aws_like(inner: S) -> Self {
        Self {
            inner,
            calls: Arc::default(),
            plan: Arc::default(),
            log: Arc::default(),
            puts: None,
            slow_put_pending: Arc::default(),
            unreadable: Arc::default(),
        }
    }

    /// Makes every GetSecretValue of `secret_id` fail (AccessDeniedException, as when the
    /// function may not decrypt it), or readable again.
    pub fn set_unreadable(&self, secret_id: &str, unreadable: bool) {
        let mut set = self.unreadable.lock().unwrap();
        if unreadable {
            set.insert(secret_id.to_owned());
        } else {
            set.remove(secret_id);
        }
    }

    /// Makes the next `put_pending` (the AWSPENDING PutSecretValue) wait `by` before it is made,
    /// as a slow invocation would.
    pub fn slow_next_put_pending(&self, by: Duration) {
        *self.slow_put_pending.lock().unwrap() = Some(by);
    }

    /// Fails the `n`-th call from now (0 = the next one).
    pub fn fail_call(&self, n: usize, when: When) {
        let base = self.calls.load(Ordering::SeqCst);
        *self.plan.lock().unwrap() = Some((base + n, when));
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Whether a planned failure is still waiting for its call.
    pub fn armed(&self) -> bool {
        self.plan.lock().unwrap().is_some()
    }

    /// Drops a planned failure that did not happen.
    pub fn disarm(&self) {
        *self.plan.lock().unwrap() = None;
    }

    /// The operations called so far, in order (for failure messages).
    pub fn log(&self) -> Vec<SecretsManagerCall> {
        self.log.lock().unwrap().clone()
    }

    fn take(&self, op: SecretsManagerCall) -> Option<When> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        self.log.lock().unwrap().push(op);
        let mut plan = self.plan.lock().unwrap();
        match *plan {
            Some((at, when)) if at == n => {
                *plan = None;
                Some(when)
            }
            _ => None,
        }
    }

    async fn wrap<T>(
        &self,
        op: SecretsManagerCall,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let injected = || StoreError::Transient {
            call: op,
            message: "injected failure".into(),
        };
        match self.take(op) {
            Some(When::Before) => Err(injected()),
            Some(When::After) => {
                call.await?;
                Err(injected())
            }
            None => call.await,
        }
    }
}

// Every inner call is boxed: the futures of the SDK are large, and a debug build keeps several
// copies of an awaited future in each caller's stack frame, on the test thread's 2 MiB stack.
impl<S: SecretStore> SecretStore for FaultyStore<S> {
    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        self.wrap(
            SecretsManagerCall::DescribeSecret,
            Box::pin(self.inner.describe(secret_id)),
        )
        .await
    }
    async fn get_value(&self, secret_id: &str, version: Version<'_>) -> Result<Option<SecretValue>, StoreError> {
        if self.unreadable.lock().unwrap().contains(secret_id) {
            let denied = async {
                Err(StoreError::Refused {
                    call: SecretsManagerCall::GetSecretValue,
                    code: "AccessDeniedException".into(),
                    message: format!("not allowed to read {secret_id} (test)"),
                })
            };
            return self.wrap(SecretsManagerCall::GetSecretValue, denied).await;
        }
        self.wrap(
            SecretsManagerCall::GetSecretValue,
            Box::pin(self.inner.get_value(secret_id, version)),
        )
        .await
    }
    async fn promote(&self, secret_id: &str, to_version: &str, from_version: &str) -> Result<(), StoreError> {
        self.wrap(
            SecretsManagerCall::UpdateSecretVersionStage,
            Box::pin(self.inner.promote(secret_id, to_version, from_version)),
        )
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
        if stage == AWSPENDING {
            let slow = self.slow_put_pending.lock().unwrap().take();
            if let Some(by) = slow {
                tokio::time::sleep(by).await;
            }
        }
        let put = put_as_aws(
            &self.inner,
            self.puts.as_deref(),
            secret_id,
            version_id,
            value,
            stage,
            rotation_token,
        );
        self.wrap(SecretsManagerCall::PutSecretValue, Box::pin(put)).await
    }
    async fn remove_stage(&self, secret_id: &str, stage: &str, version_id: &str) -> Result<(), StoreError> {
        self.wrap(
            SecretsManagerCall::UpdateSecretVersionStage,
            Box::pin(self.inner.remove_stage(secret_id, stage, version_id)),
        )
        .await
    }
    async fn version_ids(&self, secret_id: &str) -> Result<HashSet<String>, StoreError> {
        self.wrap(
            SecretsManagerCall::ListSecretVersionIds,
            self.inner.version_ids(secret_id),
        )
        .await
    }
    async fn served_secrets(&self) -> Result<Vec<SecretDescription>, StoreError> {
        self.wrap(SecretsManagerCall::ListSecrets, self.inner.served_secrets())
            .await
    }
    async fn tag(&self, secret_id: &str, tags: &[(&str, String)]) -> Result<(), StoreError> {
        self.wrap(
            SecretsManagerCall::TagResource,
            Box::pin(self.inner.tag(secret_id, tags)),
        )
        .await
    }
    async fn current_values(&self, secret_ids: &[&str]) -> Result<BatchValues, StoreError> {
        // A secret this reader may not read is an AccessDeniedException entry of the answer, as
        // AWS gives it; the others are read as usual.
        let unreadable = self.unreadable.lock().unwrap().clone();
        let batch = async {
            let mut batch = self.inner.current_values(secret_ids).await?;
            for id in secret_ids.iter().filter(|id| unreadable.contains(**id)) {
                batch.values.remove(*id);
                batch.errors.insert(
                    (*id).to_owned(),
                    (
                        "AccessDeniedException".into(),
                        format!("not allowed to read {id} (test)"),
                    ),
                );
            }
            Ok(batch)
        };
        self.wrap(SecretsManagerCall::BatchGetSecretValue, Box::pin(batch))
            .await
    }
}
