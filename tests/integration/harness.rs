//! Test harness: a real moto server per test, the Genesys emulator in-process, a store wrapper
//! that fails chosen calls, and a player that does what Secrets Manager does around a rotation
//! function (moto cannot run Lambdas).

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
    AWSPREVIOUS,
};
use secrecy::SecretString;
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

/// Wraps a store and fails its n-th call (counting every method), once.
#[derive(Clone)]
pub struct FaultyStore<S> {
    inner: S,
    calls: Arc<AtomicUsize>,
    plan: Arc<Mutex<Option<(usize, When)>>>,
    log: Arc<Mutex<Vec<&'static str>>>,
}

impl<S: SecretStore> FaultyStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            calls: Arc::default(),
            plan: Arc::default(),
            log: Arc::default(),
        }
    }

    /// Fails the `n`-th call from now (0 = the next one).
    pub fn fail_call(&self, n: usize, when: When) {
        let base = self.calls.load(Ordering::SeqCst);
        *self.plan.lock().unwrap() = Some((base + n, when));
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
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

impl<S: SecretStore> SecretStore for FaultyStore<S> {
    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        self.wrap("DescribeSecret", self.inner.describe(secret_id)).await
    }
    async fn get_value(&self, secret_id: &str, version: Version<'_>) -> Result<Option<SecretValue>, StoreError> {
        self.wrap("GetSecretValue", self.inner.get_value(secret_id, version)).await
    }
    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&str>,
    ) -> Result<(), StoreError> {
        self.wrap("PutSecretValue", self.inner.put_pending(secret_id, token, value, rotation_token))
            .await
    }
    async fn promote(&self, secret_id: &str, to_version: &str, from_version: &str) -> Result<(), StoreError> {
        self.wrap("UpdateSecretVersionStage", self.inner.promote(secret_id, to_version, from_version))
            .await
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
        let master = emulator.seed_client(SeedClient::new(
            "genesys-rotator-master",
            &MASTER_PERMISSIONS,
        ));
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
        let overrides = started
            .iter()
            .map(|o| format!("{}={}", o.domain, o.emulator.base_url()))
            .collect::<Vec<_>>()
            .join(",");
        let masters = master_arns.join(",");
        let config = RotatorConfig::from_lookup(|k| match k {
            "ALLOWED_MASTER_SECRET_ARNS" => Some(masters.clone()),
            "GENESYS_ENDPOINT_OVERRIDES" => Some(overrides.clone()),
            "GENESYS_REQUEST_TIMEOUT_SECONDS" => Some("5".into()),
            "PROPAGATION_TIMEOUT_SECONDS" => Some("20".into()),
            _ => None,
        })
        .expect("config");
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

    /// Creates an integration secret with `value`; returns its ARN.
    pub async fn create_secret(&self, name: &str, value: &Value) -> String {
        self.sm
            .create_secret()
            .name(name)
            .secret_string(value.to_string())
            .send()
            .await
            .expect("create secret")
            .arn()
            .unwrap()
            .to_owned()
    }

    /// Creates the standard integration secret for org 0.
    pub async fn integration_secret(&self) -> String {
        self.create_secret("genesys/crm-integration", &self.integration_json(0)).await
    }

    pub async fn describe(&self, arn: &str) -> SecretDescription {
        AwsSecretStore::new(self.sm.clone()).describe(arn).await.unwrap()
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
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {}
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
        self.rotator
            .handle(&RotationEvent {
                step,
                secret_id: arn.to_owned(),
                client_request_token: token.to_owned(),
                rotation_token: None,
            })
            .await
    }

    /// The four steps in order; stops at the first failure.
    pub async fn run_steps(&self, arn: &str, token: &str) -> Result<Vec<StepOutcome>, (Step, RotationError)> {
        let mut outcomes = Vec::new();
        for step in [Step::CreateSecret, Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
            outcomes.push(self.step(arn, token, step).await.map_err(|e| (step, e))?);
        }
        Ok(outcomes)
    }

    /// A whole rotation as Secrets Manager runs it: the four steps, and on failure the whole
    /// sequence again with the same token, up to `attempts` times; then AWSPENDING is removed
    /// as Secrets Manager does once rotation succeeds. Returns the token and every failure seen.
    pub async fn rotate(&self, arn: &str, attempts: usize) -> Rotation {
        let token = self.begin_rotation(arn, true).await;
        let mut failures = Vec::new();
        for _ in 0..attempts {
            match self.run_steps(arn, &token).await {
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
        assert_eq!(desc.version_with(AWSCURRENT), Some(token), "AWSCURRENT on the new version");
        assert_eq!(desc.version_with(AWSPENDING), None, "AWSPENDING cleared");
        if let Some(prev) = previous_version {
            assert_eq!(desc.version_with(AWSPREVIOUS), Some(prev), "AWSPREVIOUS on the old version");
        }
        let current = self.value(arn, AWSCURRENT).await;
        let id = current["clientId"].as_str().unwrap().to_owned();
        let client = self.orgs[org].client(&id).expect("current client exists");
        assert_eq!(client.state, ClientState::Active);
        let prefix = current["namePrefix"].as_str().unwrap();
        assert_eq!(client.name, format!("{prefix}{token}"));
        assert_eq!(current["clientSecret"].as_str().unwrap(), client.secret, "stored secret is the client's");
        id
    }
}

/// The result of [`World::rotate`].
#[derive(Debug)]
pub struct Rotation {
    pub token: String,
    pub outcomes: Vec<StepOutcome>,
    pub failures: Vec<(Step, RotationError)>,
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
