//! Test support for the engine's unit tests: the Genesys emulator in-process on a loopback port,
//! reached through the endpoint overrides; the mount's storage in memory, with faults that stop
//! a request at its n-th write (a crash); a clock tests move forward together with the
//! emulator's; and a helper that drops a request the moment the emulator has acted on its n-th
//! call (a crash after Genesys acted, before its answer arrived).
//!
//! Compiled only with the `endpoint-overrides` feature: the overrides are how the engine reaches
//! the emulator.
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use genesys_core::genesys::HttpSettings;
use genesys_core::region::{EndpointOverrides, Region};
use genesys_emulator::{ClientRecord, Emulator, EmulatorConfig, RoleDivision, SeedClient, SeededClient};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::backend::{EngineSettings, GenesysBackend};
use super::clock::Clock;
use crate::logical::{
    Backend, Context, LeaseSecret, LogicalError, MemoryStorage, Operation, Request, Response, Storage, StorageError,
};

/// The region the fixture's master lives in.
pub const REGION: &str = "mypurecloud.ie";
/// A Genesys role the emulator knows.
pub const ROLE_ID: &str = "crm-integration-role";
/// The fixture master's permissions: the four `oauth:client:*` ones the engine needs, and the
/// role view static roles need to tell a master from an ordinary client.
pub const MASTER_PERMISSIONS: [&str; 5] = [
    "oauth:client:view",
    "oauth:client:add",
    "oauth:client:edit",
    "oauth:client:delete",
    super::static_guard::ROLE_VIEW_PERMISSION,
];
/// A role holding [`MASTER_PERMISSIONS`], which [`Fixture::grant_master`] gives the master.
pub const MASTER_ROLE_ID: &str = "vault-master-role";
/// The default name prefix.
pub const PREFIX: &str = super::config::DEFAULT_PREFIX;

/// How a storage write is interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFault {
    /// The n-th write (1-based, from when the fault is set) never happens: the request stops
    /// just before it.
    HangBefore(u64),
    /// The n-th write happens, then the request stops.
    HangAfter(u64),
    /// The n-th write fails with an error.
    Fail(u64),
}

/// The mount's storage in memory, with write faults.
#[derive(Debug, Default)]
pub struct FaultyStorage {
    /// The data.
    pub inner: MemoryStorage,
    writes: AtomicU64,
    fault: Mutex<Option<WriteFault>>,
    /// Set when a hang fault hit.
    pub crashed: tokio::sync::Notify,
}

impl FaultyStorage {
    /// Sets a fault, counting writes from now.
    pub fn set_fault(&self, fault: Option<WriteFault>) {
        self.writes.store(0, Ordering::SeqCst);
        *self.fault.lock().unwrap() = fault;
    }

    /// Writes since the last [`set_fault`](Self::set_fault).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// What the next write does.
    fn next_write(&self) -> Option<WriteFault> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        let fault = *self.fault.lock().unwrap();
        fault.filter(|f| match f {
            WriteFault::HangBefore(at) | WriteFault::HangAfter(at) | WriteFault::Fail(at) => *at == n,
        })
    }

    async fn hang(&self) -> Result<(), StorageError> {
        self.crashed.notify_one();
        std::future::pending().await
    }
}

#[async_trait]
impl Storage for FaultyStorage {
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        match self.next_write() {
            Some(WriteFault::HangBefore(_)) => self.hang().await,
            Some(WriteFault::Fail(_)) => Err(StorageError("injected storage failure".into())),
            Some(WriteFault::HangAfter(_)) => {
                self.inner.put(key, value).await?;
                self.hang().await
            }
            None => self.inner.put(key, value).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.next_write() {
            Some(WriteFault::HangBefore(_)) => self.hang().await,
            Some(WriteFault::Fail(_)) => Err(StorageError("injected storage failure".into())),
            Some(WriteFault::HangAfter(_)) => {
                self.inner.delete(key).await?;
                self.hang().await
            }
            None => self.inner.delete(key).await,
        }
    }
}

/// The outcome of a request run with a crash point.
#[derive(Debug)]
pub enum Run {
    /// It finished (the crash point was never reached).
    Done(Result<Option<Response>, LogicalError>),
    /// It was dropped at the crash point.
    Crashed,
}

/// One org in the emulator with a master client, a mount's storage and an engine.
pub struct Fixture {
    /// The emulator.
    pub emu: Arc<Emulator>,
    /// The master client.
    pub master: SeededClient,
    /// The mount's storage.
    pub storage: Arc<FaultyStorage>,
    /// What the engine's system view reports.
    pub system: Arc<MemoryStorage>,
    /// The engine (replaced by [`restart`](Self::restart)).
    pub engine: GenesysBackend,
    offset: Arc<AtomicI64>,
}

impl Fixture {
    /// A fresh org and mount (not configured yet).
    pub async fn new() -> Fixture {
        let emu = Emulator::start(EmulatorConfig::default())
            .await
            .expect("start emulator");
        emu.seed_role(ROLE_ID, &["conversation:communication:view"]);
        // The master holds the role its roles assign, in every division (the role rule).
        let master = emu.seed_client(SeedClient {
            role_divisions: vec![RoleDivision {
                role_id: ROLE_ID.into(),
                division_id: "*".into(),
            }],
            ..SeedClient::new("vault-master", &MASTER_PERMISSIONS)
        });
        Self::on(Arc::new(emu), master)
    }

    /// Another mount on the same org (own storage, own engine, same master).
    pub fn another_mount(&self) -> Fixture {
        Fixture {
            emu: self.emu.clone(),
            master: self.master.clone(),
            storage: Arc::default(),
            system: Arc::default(),
            engine: GenesysBackend::with_settings(Self::settings_for(&self.emu, self.offset.clone())),
            offset: self.offset.clone(),
        }
    }

    fn on(emu: Arc<Emulator>, master: SeededClient) -> Fixture {
        let offset = Arc::new(AtomicI64::new(0));
        let engine = GenesysBackend::with_settings(Self::settings_for(&emu, offset.clone()));
        Fixture {
            emu,
            master,
            storage: Arc::default(),
            system: Arc::default(),
            engine,
            offset,
        }
    }

    fn settings_for(emu: &Emulator, offset: Arc<AtomicI64>) -> EngineSettings {
        let mut overrides = EndpointOverrides::none();
        overrides
            .insert(Region::parse(REGION).unwrap(), &emu.base_url())
            .expect("loopback override");
        EngineSettings {
            overrides,
            http: HttpSettings {
                request_timeout: Duration::from_secs(5),
                base_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(20),
                max_retry_after: Duration::from_secs(2),
                ..HttpSettings::default()
            },
            clock: Clock::from_fn(move || {
                OffsetDateTime::now_utc() + time::Duration::seconds(offset.load(Ordering::SeqCst))
            }),
            propagation_timeout: Duration::from_secs(10),
        }
    }

    /// A new engine on the same storage, as after a crash and restart of the plugin process.
    pub fn restart(&mut self) {
        self.storage.set_fault(None);
        self.engine = GenesysBackend::with_settings(Self::settings_for(&self.emu, self.offset.clone()));
    }

    /// Moves the engine's and the emulator's clocks forward together.
    pub fn advance(&self, by: Duration) {
        self.offset.fetch_add(by.as_secs() as i64, Ordering::SeqCst);
        self.emu.advance_clock(by);
    }

    /// The context of a call.
    pub fn ctx(&self) -> Context {
        Context {
            storage: self.storage.clone(),
            system: self.system.clone(),
        }
    }

    /// Runs one request.
    pub async fn call(&self, op: Operation, path: &str, data: Value) -> Result<Option<Response>, LogicalError> {
        self.engine
            .handle(&self.ctx(), Request::new(op, path).with_data(data))
            .await
    }

    /// A write.
    pub async fn write(&self, path: &str, data: Value) -> Result<Option<Response>, LogicalError> {
        self.call(Operation::Update, path, data).await
    }

    /// A read.
    pub async fn read(&self, path: &str) -> Result<Option<Response>, LogicalError> {
        self.call(Operation::Read, path, json!({})).await
    }

    /// The periodic pass.
    pub async fn rollback(&self) {
        let r = self
            .engine
            .handle(&self.ctx(), Request::new(Operation::Rollback, ""))
            .await;
        assert_eq!(r, Ok(None), "the periodic pass never fails");
    }

    /// A lease operation (revoke, renew) on the lease `secret`.
    pub async fn lease_op(&self, op: Operation, secret: &LeaseSecret) -> Result<Option<Response>, LogicalError> {
        let mut req = Request::new(op, "creds/x");
        req.secret = Some(secret.clone());
        self.engine.handle(&self.ctx(), req).await
    }

    /// Writes a working config (defaults elsewhere).
    pub async fn configure(&self) {
        self.write(
            "config",
            json!({"client_id": self.master.id, "client_secret": self.master.secret, "region": REGION}),
        )
        .await
        .expect("config write");
    }

    /// A configured mount with role `crm` (ttl 1 h, max_ttl 4 h, token lifetime 2 h).
    pub async fn with_role() -> Fixture {
        let f = Fixture::new().await;
        f.configure().await;
        f.write(
            "roles/crm",
            json!({"role_divisions": [{"role_id": ROLE_ID, "division_id": "*"}], "ttl": "1h", "max_ttl": "4h", "token_lifetime": 7200}),
        )
        .await
        .expect("role write");
        f
    }

    /// Gives the master's client these `role:division` pairs besides those it holds, as an
    /// administrator does in Genesys Cloud: a PUT of the master's client by another client
    /// allowed to edit clients. A client's permissions then come from its roles, so the master
    /// also gets a role holding its own permissions (seeded ones would be lost). The emulator's
    /// role rule must be off (the administrator holds no roles).
    pub async fn grant_master(&self, pairs: &[&str]) {
        let admin = self.emu.seed_client(SeedClient::new(
            "org-admin",
            &["oauth:client:view", "oauth:client:edit"],
        ));
        let credentials = super::genesys::stored_credentials(&admin.id, admin.secret.clone().into()).unwrap();
        let admin = self
            .engine
            .org
            .connector()
            .client(Region::parse(REGION).unwrap(), credentials);
        let mut client = admin
            .get_client(&self.master.id)
            .await
            .expect("the master's client")
            .expect("the master exists");
        self.emu.seed_role(MASTER_ROLE_ID, &MASTER_PERMISSIONS);
        let own = genesys_core::genesys::RoleDivision::new(MASTER_ROLE_ID, "*");
        if !client.role_divisions.contains(&own) {
            client.role_divisions.push(own);
        }
        for pair in pairs {
            let (role, division) = pair.split_once(':').expect("role:division");
            client
                .role_divisions
                .push(genesys_core::genesys::RoleDivision::new(role, division));
        }
        admin
            .update_client(&self.master.id, &client.to_request())
            .await
            .expect("the master's client updated (with the emulator's role rule off)");
    }

    /// Clients whose name starts with the default prefix.
    pub fn managed_clients(&self) -> Vec<ClientRecord> {
        self.emu
            .clients()
            .into_iter()
            .filter(|c| c.name.starts_with(PREFIX))
            .collect()
    }

    /// The emulator's calls so far.
    pub fn genesys_calls(&self) -> u64 {
        *self.emu.watch_calls().borrow()
    }

    /// Runs `req`, dropping it (a crash) when the storage's hang fault hits or when the
    /// emulator has acted on `genesys_call` more calls from now.
    pub async fn run_crashing(&self, req: Request, genesys_call: Option<u64>) -> Run {
        let ctx = self.ctx();
        let mut calls = self.emu.watch_calls();
        let target = genesys_call.map(|n| *calls.borrow() + n);
        let reached = async {
            match target {
                None => std::future::pending::<()>().await,
                Some(t) => {
                    while *calls.borrow_and_update() < t {
                        if calls.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                }
            }
        };
        tokio::select! {
            biased;
            _ = self.storage.crashed.notified() => Run::Crashed,
            _ = reached => Run::Crashed,
            r = self.engine.handle(&ctx, req) => Run::Done(r),
        }
    }

    /// The lease in a `creds/` response.
    pub fn lease(resp: &Option<Response>) -> LeaseSecret {
        resp.as_ref().and_then(|r| r.secret.clone()).expect("a lease")
    }

    /// A string field of a response's data.
    pub fn field(resp: &Option<Response>, name: &str) -> String {
        match resp.as_ref().and_then(|r| r.data.get(name)) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => panic!("no field {name} in {resp:?}"),
        }
    }
}

/// Captured tracing output of a test (everything, TRACE level, this thread).
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Starts capturing for the current thread until the guard drops.
    pub fn start(&self) -> tracing::subscriber::DefaultGuard {
        let sink = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// What was logged.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every crash point of an operation that makes `writes` storage writes and `calls` Genesys
/// calls: just before and just after each write, and just after Genesys acted on each call.
pub fn crash_points(writes: u64, calls: u64) -> Vec<(Option<WriteFault>, Option<u64>)> {
    let mut points = Vec::new();
    for n in 1..=writes {
        points.push((Some(WriteFault::HangBefore(n)), None));
        points.push((Some(WriteFault::HangAfter(n)), None));
    }
    for n in 1..=calls {
        points.push((None, Some(n)));
    }
    points
}
