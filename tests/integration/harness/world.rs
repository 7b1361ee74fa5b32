//! World and DrainWorld: moto, the orgs, their secrets and the rotator under test; the player
//! that does what Secrets Manager does around a rotation function (begin_rotation, rotate, the
//! step helpers); and the clients a secret owns, planted by seed_owned.

use std::time::Duration;

use aws_sdk_secretsmanager::types::RotationRulesType;
use genesys_emulator::{ClientState, EmulatorConfig, SeedClient};
use genesys_rotator::cleanup::{Cleanup, Disposition};
use genesys_rotator::config::{DrainConfig, RotatorConfig};
use genesys_rotator::drain::{DrainMessage, DrainRetirement, Retirement, SqsDrainQueue};
use genesys_rotator::rotation::{RotationError, RotationEvent, Rotator, Step, StepOutcome};
use genesys_rotator::store::{
    AwsSecretStore, SecretDescription, SecretStore, AWSCURRENT, AWSPENDING, AWSPREVIOUS, SERVED_TAG,
};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::moto::Moto;
use super::org::{endpoint_overrides, Org, ROLE};
use super::sqs::{SqsPlayer, TestQueue};
use super::store::FaultyStore;

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
        client_request_token: genesys_rotator::domain::VersionId::parse(token).expect("a version id"),
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
        // A world runs hundreds of rotations through one master in seconds (the fault campaign a
        // thousand), against emulators without a rate limit. The pace itself is proven where it
        // meets one: tests/genesys_client.rs and `make bench`.
        "GENESYS_REQUESTS_PER_MINUTE" => Some("6000".into()),
        _ => None,
    })
    .expect("config")
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
    /// Past the drain: delivers every drain message so the cleanup deletes the retired client.
    /// The org's legacy client (outside the prefix) is refused by the cleanup and deleted by
    /// `operator`, as the docs tell an operator to. Asserts the client is gone.
    pub async fn delete_retired(
        &self,
        operator: &genesys_rotator::genesys::GenesysClient,
        retiring: &str,
        round: usize,
    ) {
        self.player
            .deliver_all(
                &self.cleanup,
                OffsetDateTime::now_utc() + Duration::from_secs(26 * 3600),
                10,
            )
            .await;
        let org = self.w.org();
        if retiring == org.legacy_id {
            assert_eq!(
                operator.delete_client(retiring).await.unwrap(),
                genesys_rotator::genesys::Deleted::Deleted
            );
        }
        assert!(org.client(retiring).is_none(), "round {round}: retired client deleted");
    }

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
        let cleanup = Cleanup::new(w.store.clone(), w.rotator_config(), queue.clone(), drain.settings)
            .accept_only_from(&drain.queue_url);
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

// ---------------------------------------------------------------------------------------------
// Reconciliation: managed clients of any age, and a pass with the rotator's settings.

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
                description: Some(genesys_rotator::guard::ownership::description(arn, None)),
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
            ..self.rotator.deployment().reconcile_config().clone()
        };
        genesys_rotator::sweep::reconcile_all_with(self.rotator.deployment(), &config, arns, now).await
    }
}
