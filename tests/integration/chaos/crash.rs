//! The crash points: a crash armed on the k-th AWS call or after the emulator's k-th call, the
//! Secrets Manager store with a crash point before every call (ChaosStore), and the runner that
//! drops a step the moment its crash fires.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use genesys_rotator::store::{
    AwsSecretStore, BatchValues, SecretDescription, SecretStore, SecretValue, StoreError, Version,
};
use secrecy::SecretString;
use tokio::sync::watch;

use crate::harness::{put_as_aws, World};

/// Crashes the function at a chosen call: [`Crash::point`] is awaited before every Secrets
/// Manager and SQS call; at the armed call number it signals and never returns, and the driver
/// then drops the whole step.
#[derive(Clone)]
pub(super) struct Crash(Arc<CrashState>);

struct CrashState {
    calls: AtomicU64,
    armed: Mutex<Option<u64>>,
    fired: watch::Sender<bool>,
}

impl Crash {
    pub(super) fn new() -> Self {
        Crash(Arc::new(CrashState {
            calls: AtomicU64::new(0),
            armed: Mutex::new(None),
            fired: watch::channel(false).0,
        }))
    }

    /// Crashes just before the `k`-th call from now (0 = the next one).
    fn arm(&self, k: u64) {
        let base = self.0.calls.load(Ordering::SeqCst);
        *self.0.armed.lock().unwrap() = Some(base + k);
        self.0.fired.send_replace(false);
    }

    pub(super) fn disarm(&self) {
        *self.0.armed.lock().unwrap() = None;
        self.0.fired.send_replace(false);
    }

    fn fired(&self) -> watch::Receiver<bool> {
        self.0.fired.subscribe()
    }

    pub(super) async fn point(&self) {
        let n = self.0.calls.fetch_add(1, Ordering::SeqCst);
        let hit = {
            let mut armed = self.0.armed.lock().unwrap();
            if *armed == Some(n) {
                *armed = None;
                true
            } else {
                false
            }
        };
        if hit {
            self.0.fired.send_replace(true);
            std::future::pending::<()>().await;
        }
    }
}

/// What a crash is armed on for one invocation.
pub(super) enum CrashAt {
    /// The k-th Secrets Manager or SQS call from now.
    Aws(u64),
    /// The moment the emulator of org `.0` has completed `.1` more calls.
    Genesys(usize, u64),
}

// ---------------------------------------------------------------------------------------------
// Secrets Manager as AWS behaves, with crash points

/// moto with two things added: a crash point before every call, and PutSecretValue refusing to
/// change a version that already holds a value (AWS answers ResourceExistsException; an
/// identical re-put succeeds), see [`put_as_aws`].
#[derive(Clone)]
pub(super) struct ChaosStore {
    pub(super) inner: AwsSecretStore,
    pub(super) crash: Crash,
    pub(super) put_lock: Arc<tokio::sync::Mutex<()>>,
}

impl SecretStore for ChaosStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        self.crash.point().await;
        self.inner.describe(secret_id).await
    }

    async fn get_value(&self, secret_id: &str, version: Version<'_>) -> Result<Option<SecretValue>, StoreError> {
        self.crash.point().await;
        self.inner.get_value(secret_id, version).await
    }

    async fn promote(&self, secret_id: &str, to_version: &str, from_version: &str) -> Result<(), StoreError> {
        self.crash.point().await;
        self.inner.promote(secret_id, to_version, from_version).await
    }

    async fn put_staged(
        &self,
        secret_id: &str,
        version_id: &str,
        value: &SecretString,
        stage: &str,
        rotation_token: Option<&str>,
    ) -> Result<(), StoreError> {
        self.crash.point().await;
        // One put at a time, so the check and the put act as the one call AWS makes.
        let one = Some(&*self.put_lock);
        put_as_aws(&self.inner, one, secret_id, version_id, value, stage, rotation_token).await
    }

    // Master rotations (the only users of this) are not part of the campaign; they have their
    // own crash-at-every-call and concurrency tests in master.rs.
    async fn remove_stage(&self, secret_id: &str, stage: &str, version_id: &str) -> Result<(), StoreError> {
        self.crash.point().await;
        self.inner.remove_stage(secret_id, stage, version_id).await
    }

    async fn version_ids(&self, secret_id: &str) -> Result<std::collections::HashSet<String>, StoreError> {
        self.crash.point().await;
        self.inner.version_ids(secret_id).await
    }

    async fn served_secrets(&self) -> Result<Vec<SecretDescription>, StoreError> {
        self.crash.point().await;
        self.inner.served_secrets().await
    }

    async fn tag(&self, secret_id: &str, tags: &[(&str, String)]) -> Result<(), StoreError> {
        self.crash.point().await;
        self.inner.tag(secret_id, tags).await
    }

    async fn current_values(&self, secret_ids: &[&str]) -> Result<BatchValues, StoreError> {
        self.crash.point().await;
        self.inner.current_values(secret_ids).await
    }
}

/// Runs `work` until it finishes or the crash `at` fires; `None` if it crashed. Biased: once a
/// crash has fired, `work` is never polled again, as when the function's process dies.
pub(super) async fn until_crash<T>(
    crash: &Crash,
    w: &World,
    at: Option<CrashAt>,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    let mut aws_crash = crash.fired();
    let mut genesys_calls = None;
    match at {
        Some(CrashAt::Aws(k)) => crash.arm(k),
        Some(CrashAt::Genesys(org, k)) => {
            let rx = w.orgs[org].emulator.watch_calls();
            let target = *rx.borrow() + k;
            genesys_calls = Some((rx, target));
        }
        None => {}
    }
    let genesys_crash = async {
        match genesys_calls.as_mut() {
            Some((rx, target)) => {
                let target = *target;
                let _ = rx.wait_for(|n| *n >= target).await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        _ = aws_crash.wait_for(|fired| *fired) => None,
        _ = genesys_crash => None,
        r = work => Some(r),
    }
}
