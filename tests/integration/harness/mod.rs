//! Test harness: a real moto server per test, the Genesys emulator in-process, a store wrapper
//! that fails chosen calls, and a player that does what Secrets Manager does around a rotation
//! function (moto cannot run Lambdas).

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region as AwsRegion};
use aws_sdk_secretsmanager::types::RotationRulesType;
use genesys_emulator::{ClientRecord, ClientState, Emulator, EmulatorConfig, SeedClient};
use genesys_rotator::config::RotatorConfig;
use genesys_rotator::rotation::{RotationError, RotationEvent, Rotator, Step, StepOutcome};
use genesys_rotator::store::{
    AwsSecretStore, SecretDescription, SecretStore, SecretValue, StoreError, Version, AWSCURRENT, AWSPENDING,
    AWSPREVIOUS, SERVED_TAG, VERSION_EXISTS,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

/// A moto server on a loopback port chosen at run time, killed on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        let bin = std::env::var_os("MOTO_SERVER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server"));
        assert!(
            bin.exists(),
            "moto_server not found at {} (run `make venv`, or set MOTO_SERVER_BIN)",
            bin.display()
        );
        // The port is picked by the OS, then handed to moto; another process could take it in
        // between, so a start that does not answer is retried on a fresh port.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server");
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Moto { child, url };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto_server did not start");
    }

    pub fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        let conf = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(AwsRegion::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "static"))
            .endpoint_url(&self.url)
            .timeout_config(genesys_rotator::config::aws_timeouts())
            .build();
        aws_sdk_secretsmanager::Client::from_conf(conf)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a [`FaultyStore`] failure happens relative to the real call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The call never reaches the store.
    Before,
    /// The call is applied, then the caller sees an error (a crash after the call).
    After,
}

/// PutSecretValue of `value` as version `version_id` (by `put`) as AWS answers it: a version
/// that already holds the same value is left alone (success), one that holds another value is
/// refused with ResourceExistsException, atomically. moto overwrites an AWSPENDING version that
/// holds a value, and checks other versions without a lock, so two concurrent puts of one new
/// version id may both succeed there: the master rotation's lock and createSecret's idempotency
/// both rest on this refusal, so the tests need it exactly. `one_at_a_time` is shared by every
/// store in front of the same Secrets Manager; `None`: `inner` already refuses, just `put`.
pub async fn put_as_aws<S: SecretStore>(
    inner: &S,
    one_at_a_time: Option<&tokio::sync::Mutex<()>>,
    secret_id: &str,
    version_id: &str,
    value: &SecretString,
    put: impl std::future::Future<Output = Result<(), StoreError>>,
) -> Result<(), StoreError> {
    let Some(one_at_a_time) = one_at_a_time else {
        return put.await;
    };
    let _one = one_at_a_time.lock().await;
    match Box::pin(inner.get_value(secret_id, Version::Id(version_id))).await? {
        Some(stored) if stored.value.expose_secret() == value.expose_secret() => Ok(()),
        Some(_) => Err(StoreError::Refused {
            operation: "PutSecretValue",
            code: VERSION_EXISTS.into(),
            message: format!(
                "You can't use ClientRequestToken {version_id} because that value is already in use for a version \
                 of secret {secret_id}."
            ),
        }),
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
    log: Arc<Mutex<Vec<&'static str>>>,
    /// `None`: the inner store already refuses as AWS does.
    puts: Option<Arc<tokio::sync::Mutex<()>>>,
    /// How long the next `put_pending` waits before it is made.
    slow_put_pending: Arc<Mutex<Option<Duration>>>,
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
    pub fn log(&self) -> Vec<&'static str> {
        self.log.lock().unwrap().clone()
    }

    fn take(&self, op: &'static str) -> Option<When> {
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
        op: &'static str,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let injected = || StoreError::Transient {
            operation: op,
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
        self.wrap("DescribeSecret", Box::pin(self.inner.describe(secret_id)))
            .await
    }
    async fn get_value(&self, secret_id: &str, version: Version<'_>) -> Result<Option<SecretValue>, StoreError> {
        self.wrap("GetSecretValue", Box::pin(self.inner.get_value(secret_id, version)))
            .await
    }
    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&str>,
    ) -> Result<(), StoreError> {
        let slow = self.slow_put_pending.lock().unwrap().take();
        if let Some(by) = slow {
            tokio::time::sleep(by).await;
        }
        let put = self.inner.put_pending(secret_id, token, value, rotation_token);
        self.wrap(
            "PutSecretValue",
            Box::pin(put_as_aws(
                &self.inner,
                self.puts.as_deref(),
                secret_id,
                token,
                value,
                put,
            )),
        )
        .await
    }
    async fn promote(&self, secret_id: &str, to_version: &str, from_version: &str) -> Result<(), StoreError> {
        self.wrap(
            "UpdateSecretVersionStage",
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
        let put = self
            .inner
            .put_staged(secret_id, version_id, value, stage, rotation_token);
        self.wrap(
            "PutSecretValue",
            Box::pin(put_as_aws(
                &self.inner,
                self.puts.as_deref(),
                secret_id,
                version_id,
                value,
                put,
            )),
        )
        .await
    }
    async fn remove_stage(&self, secret_id: &str, stage: &str, version_id: &str) -> Result<(), StoreError> {
        self.wrap(
            "UpdateSecretVersionStage",
            Box::pin(self.inner.remove_stage(secret_id, stage, version_id)),
        )
        .await
    }
    async fn version_ids(&self, secret_id: &str) -> Result<HashSet<String>, StoreError> {
        self.wrap("ListSecretVersionIds", self.inner.version_ids(secret_id))
            .await
    }
    async fn served_secrets(&self) -> Result<Vec<SecretDescription>, StoreError> {
        self.wrap("ListSecrets", self.inner.served_secrets()).await
    }
}

pub const ROLE: &str = "crm-integration-role";
pub const MASTER_PERMISSIONS: [&str; 4] = [
    "oauth:client:add",
    "oauth:client:edit",
    "oauth:client:delete",
    "oauth:client:view",
];

/// One organization (emulator) with a master client and a legacy integration client.
pub struct Org {
    pub emulator: Emulator,
    pub domain: &'static str,
    pub master_id: String,
    pub master_secret: String,
    pub legacy_id: String,
    pub legacy_secret: String,
}

impl Org {
    pub async fn start(domain: &'static str, config: EmulatorConfig) -> Org {
        let emulator = Emulator::start(config).await.expect("start emulator");
        emulator.seed_role(ROLE, &["conversation:communication:view"]);
        let master = emulator.seed_client(SeedClient::new("genesys-rotator-master", &MASTER_PERMISSIONS));
        let legacy = emulator.seed_client(SeedClient::new(
            "crm-legacy-integration",
            &["conversation:communication:view"],
        ));
        Org {
            emulator,
            domain,
            master_id: master.id,
            master_secret: master.secret,
            legacy_id: legacy.id,
            legacy_secret: legacy.secret,
        }
    }

    /// Clients whose name starts with `prefix`.
    pub fn managed(&self, prefix: &str) -> Vec<ClientRecord> {
        self.emulator
            .clients()
            .into_iter()
            .filter(|c| c.name.starts_with(prefix))
            .collect()
    }

    pub fn client(&self, id: &str) -> Option<ClientRecord> {
        self.emulator.clients().into_iter().find(|c| c.id == id)
    }
}

pub type TestRotator = Rotator<FaultyStore<AwsSecretStore>>;

/// Moto, one or more orgs, a master secret per org, and the rotator under test.
pub struct World {
    /// Kept so the server lives as long as the world.
    pub _moto: Moto,
    pub sm: aws_sdk_secretsmanager::Client,
    pub orgs: Vec<Org>,
    pub master_arns: Vec<String>,
    pub store: FaultyStore<AwsSecretStore>,
    pub rotator: TestRotator,
}

pub const PREFIX: &str = "crm-rot-";
/// The master rotation lock's lease in the tests (no step deadline): short, so a retry after a
/// crash waits for it instead of the 900 s default; long enough for a holder's two calls.
pub const MASTER_LOCK_SECONDS: u64 = 2;
/// The Lambda the secrets name as their rotation function (moto has no such function).
pub const ROTATION_LAMBDA_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:genesys-rotation";

impl World {
    pub async fn new() -> World {
        World::with_orgs(&[("mypurecloud.ie", EmulatorConfig::default())]).await
    }

    pub async fn with_config(config: EmulatorConfig) -> World {
        World::with_orgs(&[("mypurecloud.ie", config)]).await
    }

    pub async fn with_orgs(orgs: &[(&'static str, EmulatorConfig)]) -> World {
        let moto = Moto::start();
        let sm = moto.secrets_manager();
        let mut started = Vec::new();
        let mut master_arns = Vec::new();
        for (domain, config) in orgs {
            let org = Org::start(domain, config.clone()).await;
            let out = sm
                .create_secret()
                .name(format!("genesys/master/{domain}"))
                .secret_string(
                    json!({"clientId": org.master_id, "clientSecret": org.master_secret, "region": domain}).to_string(),
                )
                .send()
                .await
                .expect("create master secret");
            master_arns.push(out.arn().unwrap().to_owned());
            started.push(org);
        }
        let config = rotator_config_for(&started, &master_arns);
        let store = FaultyStore::new(AwsSecretStore::new(sm.clone()));
        let rotator = Rotator::new(store.clone(), config);
        World {
            _moto: moto,
            sm,
            orgs: started,
            master_arns,
            store,
            rotator,
        }
    }

    pub fn org(&self) -> &Org {
        &self.orgs[0]
    }

    /// The JSON of an integration secret for org `i`, holding its legacy client.
    pub fn integration_json(&self, i: usize) -> Value {
        self.integration_json_with_prefix(i, PREFIX)
    }

    /// The same with another managed-name prefix, so several secrets in one org stay apart.
    pub fn integration_json_with_prefix(&self, i: usize, prefix: &str) -> Value {
        let org = &self.orgs[i];
        json!({
            "clientId": org.legacy_id,
            "clientSecret": org.legacy_secret,
            "region": org.domain,
            "masterSecretArn": self.master_arns[i],
            "namePrefix": prefix,
            "roleDivisions": [{"roleId": ROLE, "divisionId": "*"}],
            "tokenLifetimeSeconds": 3600,
            "crmBaseUrl": "https://crm.example.com"
        })
    }

    /// Creates an integration secret with `value`, tagged as served; returns its ARN.
    pub async fn create_secret(&self, name: &str, value: &Value) -> String {
        self.sm
            .create_secret()
            .name(name)
            .secret_string(value.to_string())
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(SERVED_TAG)
                    .value("integration")
                    .build(),
            )
            .send()
            .await
            .expect("create secret")
            .arn()
            .unwrap()
            .to_owned()
    }

    /// Creates the standard integration secret for org 0.
    pub async fn integration_secret(&self) -> String {
        self.create_secret("genesys/crm-integration", &self.integration_json(0))
            .await
    }

    pub async fn describe(&self, arn: &str) -> SecretDescription {
        AwsSecretStore::new(self.sm.clone()).describe(arn).await.unwrap()
    }

    /// The `clientId` of the version holding `stage`.
    pub async fn client_id(&self, arn: &str, stage: &str) -> String {
        self.value(arn, stage).await["clientId"]
            .as_str()
            .expect("clientId")
            .to_owned()
    }

    pub async fn value(&self, arn: &str, stage: &str) -> Value {
        let out = self
            .sm
            .get_secret_value()
            .secret_id(arn)
            .version_stage(stage)
            .send()
            .await
            .expect("get secret value");
        serde_json::from_str(out.secret_string().unwrap()).unwrap()
    }

    /// Starts a rotation as Secrets Manager does: a new version id labelled AWSPENDING (empty,
    /// or a copy of AWSCURRENT with `rotate_immediately = false`), and rotation enabled.
    ///
    /// moto gets there only one way: RotateSecret naming a Lambda it does not have. It records
    /// the pending version and enables rotation, then fails to find the function (it cannot run
    /// one) and answers ResourceNotFoundException, which is expected here. Without a Lambda ARN
    /// moto would instead move AWSCURRENT onto the new, empty version.
    pub async fn begin_rotation(&self, arn: &str, rotate_immediately: bool) -> String {
        let result = self
            .sm
            .rotate_secret()
            .secret_id(arn)
            .rotation_lambda_arn(ROTATION_LAMBDA_ARN)
            .rotation_rules(RotationRulesType::builder().automatically_after_days(7).build())
            .rotate_immediately(rotate_immediately)
            .send()
            .await;
        match result {
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) => {}
            other => panic!("moto's RotateSecret should fail to find the Lambda: {other:?}"),
        }
        let desc = self.describe(arn).await;
        assert!(desc.rotation_enabled, "moto enabled rotation");
        desc.versions
            .iter()
            .find(|(_, s)| s.iter().any(|s| s == AWSPENDING) && !s.iter().any(|s| s == AWSCURRENT))
            .map(|(id, _)| id.clone())
            .expect("moto made an AWSPENDING version")
    }

    pub async fn step(&self, arn: &str, token: &str, step: Step) -> Result<StepOutcome, RotationError> {
        step_with(&self.rotator, arn, token, step).await
    }

    /// The four steps in order; stops at the first failure.
    pub async fn run_steps(&self, arn: &str, token: &str) -> Result<Vec<StepOutcome>, (Step, RotationError)> {
        run_steps_with(&self.rotator, arn, token).await
    }

    /// A whole rotation by the world's rotator; see [`World::rotate_with`].
    pub async fn rotate(&self, arn: &str, attempts: usize) -> Rotation {
        self.rotate_with(&self.rotator, arn, attempts).await
    }

    /// A whole rotation by `rotator` as Secrets Manager runs it: the four steps, and on failure
    /// the whole sequence again with the same token, up to `attempts` times; then AWSPENDING is
    /// removed as Secrets Manager does once rotation succeeds. Returns the token and every
    /// failure seen.
    pub async fn rotate_with<S: SecretStore, R: Retirement>(
        &self,
        rotator: &Rotator<S, R>,
        arn: &str,
        attempts: usize,
    ) -> Rotation {
        let token = self.begin_rotation(arn, true).await;
        let mut failures = Vec::new();
        for _ in 0..attempts {
            match run_steps_with(rotator, arn, &token).await {
                Ok(outcomes) => {
                    self.clear_pending(arn, &token).await;
                    return Rotation {
                        token,
                        outcomes,
                        failures,
                    };
                }
                Err(f) => failures.push(f),
            }
        }
        panic!("rotation did not finish in {attempts} attempts: {failures:?}");
    }

    /// testSecret alone (`rotate-secret --no-rotate-immediately`) on `arn`, as AWS leaves it (an
    /// empty AWSPENDING) and as moto does (a copy of AWSCURRENT): each time it must answer
    /// `expected`, the configuration check.
    pub async fn test_secret_alone(&self, arn: &str, expected: StepOutcome) {
        for immediately in [true, false] {
            let token = self.begin_rotation(arn, immediately).await;
            let outcome = self.step(arn, &token, Step::TestSecret).await.unwrap();
            assert_eq!(outcome, expected, "rotate immediately: {immediately}");
            self.clear_pending(arn, &token).await;
        }
    }

    /// What Secrets Manager does after a successful rotation (moto does not): drop AWSPENDING.
    pub async fn clear_pending(&self, arn: &str, token: &str) {
        self.sm
            .update_secret_version_stage()
            .secret_id(arn)
            .version_stage(AWSPENDING)
            .remove_from_version_id(token)
            .send()
            .await
            .expect("remove AWSPENDING");
    }

    /// Checks the state a finished rotation must leave: AWSCURRENT on `token`, AWSPREVIOUS on
    /// the version before, no AWSPENDING, and the current client live, active and named for the
    /// token. Returns the current client id.
    pub async fn assert_rotated(&self, arn: &str, token: &str, previous_version: Option<&str>, org: usize) -> String {
        let desc = self.describe(arn).await;
        assert_eq!(
            desc.version_with(AWSCURRENT),
            Some(token),
            "AWSCURRENT on the new version"
        );
        assert_eq!(desc.version_with(AWSPENDING), None, "AWSPENDING cleared");
        if let Some(prev) = previous_version {
            assert_eq!(
                desc.version_with(AWSPREVIOUS),
                Some(prev),
                "AWSPREVIOUS on the old version"
            );
        }
        let current = self.value(arn, AWSCURRENT).await;
        let id = current["clientId"].as_str().unwrap().to_owned();
        let client = self.orgs[org].client(&id).expect("current client exists");
        assert_eq!(client.state, ClientState::Active);
        let prefix = current["namePrefix"].as_str().unwrap();
        assert_eq!(client.name, format!("{prefix}{token}"));
        assert_eq!(
            current["clientSecret"].as_str().unwrap(),
            client.secret,
            "stored secret is the client's"
        );
        id
    }
}

/// How many times [`World::step_after_lease`] and [`World::run_steps_after_lease`] go again
/// after [`RotationError::MasterRotationBusy`].
const BUSY_RETRIES: usize = 4;

/// Sleeps until the wall-clock time `t` has passed (with a little to spare).
pub async fn sleep_past(t: OffsetDateTime) {
    let left = t - OffsetDateTime::now_utc();
    if left.is_positive() {
        tokio::time::sleep(left.unsigned_abs()).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

impl World {
    /// One step, invoked again as Secrets Manager's retry would be after each
    /// `MasterRotationBusy`, once the lease it names has ended (a live holder is never raced).
    pub async fn step_after_lease(&self, arn: &str, token: &str, step: Step) -> Result<StepOutcome, RotationError> {
        let mut busy = 0;
        loop {
            match self.step(arn, token, step).await {
                Err(RotationError::MasterRotationBusy { lease_until, .. }) if busy < BUSY_RETRIES => {
                    busy += 1;
                    sleep_past(lease_until).await;
                }
                other => return other,
            }
        }
    }

    /// The four steps in order, the whole sequence again after `MasterRotationBusy` once the
    /// lease it names has ended; stops at any other failure.
    pub async fn run_steps_after_lease(
        &self,
        arn: &str,
        token: &str,
    ) -> Result<Vec<StepOutcome>, (Step, RotationError)> {
        let mut busy = 0;
        loop {
            match self.run_steps(arn, token).await {
                Err((_, RotationError::MasterRotationBusy { lease_until, .. })) if busy < BUSY_RETRIES => {
                    busy += 1;
                    sleep_past(lease_until).await;
                }
                other => return other,
            }
        }
    }

    /// The newest master rotation lock record of `arn` (the version labelled
    /// `GENESYS_ROTATOR_RECOVERY`), as JSON.
    pub async fn master_lock(&self, arn: &str) -> Value {
        self.value(arn, genesys_rotator::rotation::master::RECOVERY_STAGE).await
    }

    /// Waits until the lease of the newest master rotation lock record of `arn` has ended.
    pub async fn wait_for_master_lease(&self, arn: &str) {
        let lock = self.master_lock(arn).await;
        let until = OffsetDateTime::parse(
            lock["leaseUntil"].as_str().expect("leaseUntil"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("leaseUntil is RFC 3339");
        sleep_past(until).await;
    }
}

/// The result of [`World::rotate`].
#[derive(Debug)]
pub struct Rotation {
    pub token: String,
    pub outcomes: Vec<StepOutcome>,
    pub failures: Vec<(Step, RotationError)>,
}

/// The event Secrets Manager sends for `step` of the rotation to version `token`.
pub fn event(arn: &str, token: &str, step: Step) -> RotationEvent {
    RotationEvent {
        step,
        secret_id: arn.to_owned(),
        client_request_token: token.to_owned(),
        rotation_token: None,
    }
}

/// One step, invoked on `rotator` as Secrets Manager invokes the function.
pub async fn step_with<S: SecretStore, R: Retirement>(
    rotator: &Rotator<S, R>,
    arn: &str,
    token: &str,
    step: Step,
) -> Result<StepOutcome, RotationError> {
    rotator.handle(&event(arn, token, step)).await
}

/// The four steps in order on `rotator`; stops at the first failure.
pub async fn run_steps_with<S: SecretStore, R: Retirement>(
    rotator: &Rotator<S, R>,
    arn: &str,
    token: &str,
) -> Result<Vec<StepOutcome>, (Step, RotationError)> {
    let mut outcomes = Vec::new();
    for step in Step::ALL {
        outcomes.push(step_with(rotator, arn, token, step).await.map_err(|e| (step, e))?);
    }
    Ok(outcomes)
}

/// Captures log output of the current thread (use with a current-thread runtime).
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// Like [`install`](Self::install), with an `EnvFilter` directive (e.g. `"debug,hyper=info"`).
    pub fn install_filtered(&self, directives: &str) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(directives))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Drain and delete: SQS on moto, an event-source-mapping player, a queue that fails on demand,
// and a world whose rotator retires old clients through the drain queue.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use genesys_rotator::cleanup::{Cleanup, Disposition};
use genesys_rotator::config::DrainConfig;
use genesys_rotator::drain::{DrainMessage, DrainQueue, DrainRetirement, QueueError, Retirement, SqsDrainQueue};
use time::OffsetDateTime;

impl Moto {
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let conf = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "static",
            ))
            .endpoint_url(&self.url)
            .timeout_config(genesys_rotator::config::aws_timeouts())
            .build();
        aws_sdk_sqs::Client::from_conf(conf)
    }
}

/// `GENESYS_ENDPOINT_OVERRIDES` sending every org's region to its emulator.
pub fn endpoint_overrides(orgs: &[Org]) -> String {
    orgs.iter()
        .map(|o| format!("{}={}", o.domain, o.emulator.base_url()))
        .collect::<Vec<_>>()
        .join(",")
}

impl World {
    /// The rotator configuration `World::with_orgs` uses, for other functions of the same world.
    pub fn rotator_config(&self) -> RotatorConfig {
        rotator_config_for(&self.orgs, &self.master_arns)
    }
}

/// The rotator configuration for these orgs: their masters allowed, their regions pointed at
/// their emulators.
fn rotator_config_for(orgs: &[Org], master_arns: &[String]) -> RotatorConfig {
    let overrides = endpoint_overrides(orgs);
    let masters = master_arns.join(",");
    RotatorConfig::from_lookup(|k| match k {
        "ALLOWED_MASTER_SECRET_ARNS" => Some(masters.clone()),
        "GENESYS_ENDPOINT_OVERRIDES" => Some(overrides.clone()),
        "GENESYS_REQUEST_TIMEOUT_SECONDS" => Some("5".into()),
        "PROPAGATION_TIMEOUT_SECONDS" => Some("20".into()),
        "MASTER_LOCK_SECONDS" => Some(MASTER_LOCK_SECONDS.to_string()),
        _ => None,
    })
    .expect("config")
}

/// One message the player handed to the function (ids and body shown in failure messages).
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receive_count: u32,
    pub body: String,
}

/// One received batch: the event for the function and the receipt handles to settle it with.
#[derive(Debug, Default)]
pub struct Batch {
    pub event: SqsEvent,
    pub handles: HashMap<String, String>,
    pub received: Vec<Received>,
}

/// What one batch delivery did.
#[derive(Debug, Default)]
pub struct Delivery {
    pub received: Vec<Received>,
    /// Message ids the function reported as batch item failures.
    pub failed: Vec<String>,
}

/// Plays Lambda's SQS event source mapping against moto (whose own trigger ignores delays and
/// partial batch responses): receive a batch, hand it to the cleanup, delete what succeeded,
/// make failures visible again at once (standing in for the visibility timeout). moto moves a
/// message to the DLQ itself once it has been received maxReceiveCount times (checked: the next
/// receive after the last allowed one redrives it); the player does the same if it ever sees a
/// count above the limit, so the test holds either way.
pub struct SqsPlayer {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub max_receive: u32,
}

impl SqsPlayer {
    pub async fn create(sqs: aws_sdk_sqs::Client, name: &str, max_receive: u32) -> SqsPlayer {
        let dlq_url = sqs
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
            .send()
            .await
            .expect("create DLQ")
            .queue_url()
            .unwrap()
            .to_owned();
        let dlq_arn = Self::arn(&sqs, &dlq_url).await;
        let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive.to_string()}).to_string();
        let queue_url = sqs
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .attributes(QueueAttributeName::VisibilityTimeout, "30")
            .attributes(QueueAttributeName::MessageRetentionPeriod, "345600")
            .send()
            .await
            .expect("create queue")
            .queue_url()
            .unwrap()
            .to_owned();
        let queue_arn = Self::arn(&sqs, &queue_url).await;
        SqsPlayer {
            sqs,
            queue_url,
            queue_arn,
            dlq_url,
            max_receive,
        }
    }

    async fn arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
        sqs.get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .expect("queue ARN")
            .clone()
    }

    /// Receives one batch (up to 10) and runs it through `cleanup` at `now`.
    pub async fn deliver<S: SecretStore, Q: DrainQueue>(
        &self,
        cleanup: &Cleanup<S, Q>,
        now: OffsetDateTime,
    ) -> Delivery {
        let Some(batch) = self.receive().await else {
            return Delivery::default();
        };
        let response: SqsBatchResponse = cleanup.handle_batch(batch.event.clone(), now).await;
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        self.settle(batch, Some(failed)).await
    }

    /// Receives one batch (up to 10) as the event source mapping would hand it to the function;
    /// `None` if nothing is visible. Messages past maxReceiveCount go to the DLQ, as SQS does.
    pub async fn receive(&self) -> Option<Batch> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        let mut batch = Batch::default();
        for m in out.messages() {
            let id = m.message_id().unwrap().to_owned();
            let attributes: HashMap<String, String> = m
                .attributes()
                .map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect())
                .unwrap_or_default();
            let receive_count: u32 = attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let body = m.body().unwrap_or_default().to_owned();
            if receive_count > self.max_receive {
                // moto did not redrive it: do what SQS would.
                self.sqs
                    .send_message()
                    .queue_url(&self.dlq_url)
                    .message_body(&body)
                    .send()
                    .await
                    .unwrap();
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
                continue;
            }
            batch.handles.insert(id.clone(), m.receipt_handle().unwrap().to_owned());
            let mut record = SqsMessage::default();
            record.message_id = Some(id.clone());
            record.receipt_handle = m.receipt_handle().map(str::to_owned);
            record.body = Some(body.clone());
            record.md5_of_body = m.md5_of_body().map(str::to_owned);
            record.attributes = attributes;
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(self.queue_arn.clone());
            record.aws_region = Some("us-east-1".into());
            batch.event.records.push(record);
            batch.received.push(Received {
                message_id: id,
                receive_count,
                body,
            });
        }
        (!batch.event.records.is_empty()).then_some(batch)
    }

    /// Ends a batch as the event source mapping does: deletes what succeeded and makes the
    /// `failed` message ids visible again at once (standing in for the visibility timeout).
    /// `None`: the invocation itself failed (or crashed), so every message comes back.
    pub async fn settle(&self, batch: Batch, failed: Option<Vec<String>>) -> Delivery {
        use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry};
        let failed = failed.unwrap_or_else(|| batch.handles.keys().cloned().collect());
        // One call each, as the event source mapping does (a batch holds at most 10).
        let mut retry = Vec::new();
        let mut done = Vec::new();
        for (n, (id, handle)) in batch.handles.iter().enumerate() {
            let entry_id = format!("m{n}");
            if failed.contains(id) {
                retry.push(
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(entry_id)
                        .receipt_handle(handle)
                        .visibility_timeout(0)
                        .build()
                        .unwrap(),
                );
            } else {
                done.push(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(entry_id)
                        .receipt_handle(handle)
                        .build()
                        .unwrap(),
                );
            }
        }
        if !retry.is_empty() {
            let out = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(retry))
                .send()
                .await
                .expect("change visibility");
            assert!(out.failed().is_empty(), "change visibility: {:?}", out.failed());
        }
        if !done.is_empty() {
            let out = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(done))
                .send()
                .await
                .expect("delete messages");
            assert!(out.failed().is_empty(), "delete messages: {:?}", out.failed());
        }
        Delivery {
            received: batch.received,
            failed,
        }
    }

    /// Delivers batches at `now` until the queue has nothing visible (at most `max_batches`).
    pub async fn deliver_all<S: SecretStore, Q: DrainQueue>(
        &self,
        cleanup: &Cleanup<S, Q>,
        now: OffsetDateTime,
        max_batches: usize,
    ) -> Vec<Delivery> {
        let mut all = Vec::new();
        for _ in 0..max_batches {
            let d = self.deliver(cleanup, now).await;
            if d.received.is_empty() {
                break;
            }
            all.push(d);
        }
        all
    }

    /// Messages in the queue: visible, in flight and delayed.
    pub async fn depth(&self, url: &str) -> u64 {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .expect("queue attributes");
        out.attributes()
            .map(|a| a.values().filter_map(|v| v.parse::<u64>().ok()).sum())
            .unwrap_or(0)
    }

    /// Bodies in the dead-letter queue (received and left there).
    pub async fn dlq_bodies(&self) -> Vec<String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive DLQ");
        out.messages()
            .iter()
            .map(|m| m.body().unwrap_or_default().to_owned())
            .collect()
    }
}

/// The drain queue the tests use: SQS on moto, but time is simulated, so each copy is sent
/// visible at once and the requested delay is recorded for the test to advance its clock by.
/// Fails its n-th send, once, before or after the real send.
#[derive(Clone)]
pub struct TestQueue {
    inner: SqsDrainQueue,
    sent: Arc<Mutex<Vec<(DrainMessage, Duration)>>>,
    calls: Arc<AtomicUsize>,
    plan: Arc<Mutex<Option<(usize, When)>>>,
}

impl TestQueue {
    pub fn new(inner: SqsDrainQueue) -> Self {
        Self {
            inner,
            sent: Arc::default(),
            calls: Arc::default(),
            plan: Arc::default(),
        }
    }

    /// Fails the `n`-th send from now (0 = the next one).
    pub fn fail_send(&self, n: usize, when: When) {
        let base = self.calls.load(Ordering::SeqCst);
        *self.plan.lock().unwrap() = Some((base + n, when));
    }

    /// Every message actually sent, with the delay asked for.
    pub fn sent(&self) -> Vec<(DrainMessage, Duration)> {
        self.sent.lock().unwrap().clone()
    }
}

impl DrainQueue for TestQueue {
    async fn send(&self, message: &DrainMessage, delay: Duration) -> Result<(), QueueError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let fault = {
            let mut plan = self.plan.lock().unwrap();
            match *plan {
                Some((at, when)) if at == n => {
                    *plan = None;
                    Some(when)
                }
                _ => None,
            }
        };
        let injected = || QueueError::Transient("injected failure".into());
        if fault == Some(When::Before) {
            return Err(injected());
        }
        self.inner.send(message, Duration::ZERO).await?;
        self.sent.lock().unwrap().push((message.clone(), delay));
        if fault == Some(When::After) {
            return Err(injected());
        }
        Ok(())
    }
}

pub type DrainRotator = Rotator<FaultyStore<AwsSecretStore>, DrainRetirement<TestQueue>>;

/// A [`World`] whose rotator retires old clients through a drain queue on moto, plus the
/// cleanup function and the SQS player.
pub struct DrainWorld {
    pub w: World,
    pub player: SqsPlayer,
    pub queue: TestQueue,
    pub rotator: DrainRotator,
    pub cleanup: Cleanup<FaultyStore<AwsSecretStore>, TestQueue>,
}

impl DrainWorld {
    /// `env`: extra drain settings (`DRAIN_SECONDS`, `DRAIN_MARGIN_SECONDS`).
    pub async fn new(env: &[(&str, &str)]) -> DrainWorld {
        DrainWorld::with_world(World::new().await, env).await
    }

    pub async fn with_world(w: World, env: &[(&str, &str)]) -> DrainWorld {
        let player = SqsPlayer::create(w._moto.sqs(), "genesys-drain", 3).await;
        let url = player.queue_url.clone();
        let drain = DrainConfig::from_lookup(|k| {
            if k == "DRAIN_QUEUE_URL" {
                return Some(url.clone());
            }
            env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        })
        .expect("drain config");
        let queue = TestQueue::new(SqsDrainQueue::new(player.sqs.clone(), &drain.queue_url));
        let rotator = Rotator::with_retirement(
            w.store.clone(),
            w.rotator_config(),
            DrainRetirement::new(queue.clone(), drain.settings),
        );
        let cleanup = Cleanup::new(w.store.clone(), w.rotator_config(), queue.clone(), drain.settings);
        DrainWorld {
            w,
            player,
            queue,
            rotator,
            cleanup,
        }
    }

    pub async fn step(&self, arn: &str, token: &str, step: Step) -> Result<StepOutcome, RotationError> {
        step_with(&self.rotator, arn, token, step).await
    }

    pub async fn run_steps(&self, arn: &str, token: &str) -> Result<Vec<StepOutcome>, (Step, RotationError)> {
        run_steps_with(&self.rotator, arn, token).await
    }

    /// A whole rotation with the drain rotator, retried as Secrets Manager does.
    pub async fn rotate(&self, arn: &str, attempts: usize) -> Rotation {
        self.w.rotate_with(&self.rotator, arn, attempts).await
    }

    /// Runs a batch straight through the cleanup (no queue), for hand-made messages.
    pub async fn process(&self, message: &DrainMessage, now: OffsetDateTime) -> Disposition {
        self.cleanup.process(&message.to_body(), now).await
    }
}

/// The status of `GET /api/v2/tokens/me` with a raw bearer token.
pub async fn tokens_me_status(org: &Org, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/api/v2/tokens/me", org.emulator.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("tokens/me")
        .status()
        .as_u16()
}

// ---------------------------------------------------------------------------------------------
// Reconciliation: managed clients of any age, and a pass with the rotator's settings.

impl Org {
    /// Plants a client named `<prefix><uuid>` (the shape of a managed client) created at
    /// `created` (`None`: the emulator's now). Returns its id.
    pub fn seed_managed(&self, prefix: &str, created: Option<time::OffsetDateTime>) -> String {
        self.seed_named(&format!("{prefix}{}", uuid::Uuid::new_v4()), created)
    }

    /// Plants a client with this exact name, created at `created`. Returns its id.
    pub fn seed_named(&self, name: &str, created: Option<time::OffsetDateTime>) -> String {
        self.emulator
            .seed_client(SeedClient {
                date_created: created,
                ..SeedClient::new(name, &["conversation:communication:view"])
            })
            .id
    }
}

/// How [`World::seed_owned`] plants a client.
#[derive(Debug, Clone, Copy)]
pub enum Seeded {
    /// Active, and no version ever held it: a createSecret that crashed before its put.
    LostSecret,
    /// Active, and its (now unlabelled) version held it: a client that was live and never
    /// retired.
    Unretired,
    /// Inactive since `at` (its `dateModified`), and its version held it.
    RetiredAt(time::OffsetDateTime),
}

impl World {
    /// Plants a client that secret `arn` owns by the ownership rule: a new unlabelled version of
    /// the secret (holding the client, or for [`Seeded::LostSecret`] another one), and a client
    /// named `<prefix><that version>` carrying the secret's marker, created at `created`.
    /// Returns the client id and the version id.
    pub async fn seed_owned(
        &self,
        org: usize,
        arn: &str,
        prefix: &str,
        created: time::OffsetDateTime,
        how: Seeded,
    ) -> (String, String) {
        const SEED_STAGE: &str = "SEEDING";
        let version = uuid::Uuid::new_v4().to_string();
        let (state, modified) = match how {
            Seeded::RetiredAt(at) => (ClientState::Inactive, Some(at)),
            _ => (ClientState::Active, None),
        };
        let id = self.orgs[org]
            .emulator
            .seed_client(SeedClient {
                date_created: Some(created),
                date_modified: modified,
                state,
                description: Some(genesys_rotator::ownership::description(arn, None)),
                ..SeedClient::new(format!("{prefix}{version}"), &["conversation:communication:view"])
            })
            .id;
        let mut value = self.integration_json_with_prefix(org, prefix);
        if !matches!(how, Seeded::LostSecret) {
            value["clientId"] = json!(id);
        }
        self.sm
            .put_secret_value()
            .secret_id(arn)
            .client_request_token(&version)
            .secret_string(value.to_string())
            .version_stages(SEED_STAGE)
            .send()
            .await
            .expect("put a version");
        self.sm
            .update_secret_version_stage()
            .secret_id(arn)
            .version_stage(SEED_STAGE)
            .remove_from_version_id(&version)
            .send()
            .await
            .expect("unlabel the version");
        (id, version)
    }

    /// One scheduled reconciliation pass over `arns` at `now`, with the rotator's settings
    /// except `dry_run`.
    pub async fn reconcile(
        &self,
        arns: &[String],
        now: time::OffsetDateTime,
        dry_run: bool,
    ) -> genesys_rotator::reconcile::ReconcileReport {
        let config = genesys_rotator::config::ReconcileConfig {
            dry_run,
            ..self.rotator.reconcile_config().clone()
        };
        genesys_rotator::reconcile::reconcile_all_with(&self.rotator, &config, arns, now).await
    }
}
