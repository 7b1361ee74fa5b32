//! The fault campaign: many rotations of several secrets in two shared orgs, with faults at
//! every external call, the Lambda crashing between any two calls, concurrent invocations of the
//! same step, and duplicated, delayed, reordered and forged drain-queue deliveries; the
//! invariants are checked after every step and every delivery.
//!
//! The orgs are shared, as real ones are: each holds three secrets, two with the same name
//! prefix (`chaos-<org>-`) and one with a nested one (`chaos-<org>-eu-`); the two with the same
//! prefix start out holding the same hand-made client (one client pasted into two secrets);
//! other teams' clients and hand-made clients shaped like managed ones (a prefix and a uuid, no
//! marker) sit next to them. A secret is sometimes rotated several times in a row, faster than
//! its drain, so its retired clients are passed over again while they drain. Forged drain
//! messages are sent straight to the queue at random rounds: one whose `notBefore` is past but
//! earlier than `retiredAt` plus the drain, one naming another secret's version and client, one
//! naming another secret's client with the secret's own version, one naming a client its version
//! never held. The emulators' clocks move with the cleanup's simulated clock.
//!
//! Master rotations are not part of the campaign (the masters never change here, and invariant
//! 8 checks it); master rotations, concurrent ones included, are covered by
//! tests/integration/master.rs.
//!
//! Size and seed come from the environment: `CHAOS_ROTATIONS` (default 16, the short version
//! `make test` runs) and `CHAOS_SEED` (default fixed); `make chaos` runs 1,000 rotations. The
//! seed fixes every decision the campaign makes (which fault, where, when to crash); the code
//! under test still draws its own retry jitter, so timings differ between runs, not the plan.
//!
//! What is real and what is played:
//! - Secrets Manager is moto, wrapped so that PutSecretValue refuses to change a stored
//!   version (AWS does, moto does not: without it a non-idempotent createSecret would pass).
//!   The campaign plays Secrets Manager around the function: RotateSecret, the four steps, a
//!   failed or crashed step restarting the rotation with the same token, AWSPENDING cleared.
//! - Genesys Cloud is the emulator, whose fault injection answers 429 (with a short or a long
//!   Retry-After), 500 and 503, delays answers past the client's request timeout, drops
//!   connections before or after acting, delays propagation of new clients and puts the org at
//!   its client limit.
//! - A crash drops the step's future the moment the chosen call completes (a Genesys call: the
//!   emulator has acted; a Secrets Manager or SQS call: just before it is made), so nothing after
//!   it runs, as when a Lambda dies.
//! - The drain queue is SQS on moto; sends are held back for a few rounds (delayed), released in
//!   shuffled order (reordered) and sometimes twice (duplicated); the event source mapping is
//!   played with crashes of the cleanup function too (the whole batch comes back).
//!
//! Invariants (a violation is recorded, and the test fails at the end if there is any):
//! 1. the AWSCURRENT credential of every secret can get a token (checked in the emulator without
//!    a request, so faults do not interfere with the check);
//! 2. no client that AWSCURRENT or AWSPENDING holds is deleted or made inactive;
//! 3. the clients outside every managed namespace (the masters, other teams' clients and
//!    names that only resemble managed ones, all created long ago) are never changed;
//! 4. every managed client of a secret is its current, pending or previous client, a retired
//!    client whose deletion is queued (draining), or an orphan younger than the reconciliation
//!    horizon; after the last drain and a reconciliation pass past the horizon, no orphan is
//!    left;
//! 5. no client secret or access token the emulators ever issued appears in any log line of the
//!    run (everything is captured, at debug level and above);
//! 6. org-wide: no served secret's AWSCURRENT or AWSPENDING client, in any org, is ever inactive
//!    or deleted (invariant 2 for every secret after every step, not just the rotated one; the
//!    shared client stays active while the other secret holds it);
//! 7. no client is deleted sooner than its token lifetime plus the drain margin after its
//!    deactivation, in the emulator's clock: the campaign records, from the emulators' state
//!    after every step and round, each client's `dateModified` when first seen inactive and the
//!    time it was first seen gone. A client deleted without ever being seen inactive is allowed
//!    only if no stored version ever held it (a lost createSecret client);
//! 8. the masters change only by their own rotation, which is not part of the campaign: their
//!    clients are never changed (invariant 3) and their secrets' versions and labels never move;
//! 9. forged drain messages delete nothing, are never re-queued (accepted as plausible), and are
//!    acknowledged rather than returned, unless a fault or crash hit their batch.

use genesys_rotator::Classify;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aho_corasick::AhoCorasick;
use genesys_emulator::{routes, ClientRecord, ClientState, Emulator, EmulatorConfig, Fault, FaultAction, SeedClient};
use genesys_rotator::cleanup::Cleanup;
use genesys_rotator::config::{DrainConfig, ReconcileConfig};
use genesys_rotator::drain::{DrainMessage, DrainQueue, DrainRetirement, QueueError};
use genesys_rotator::rotation::{Rotator, Step};
use genesys_rotator::store::{
    AwsSecretStore, SecretDescription, SecretStore, SecretValue, StoreError, Version, AWSCURRENT, AWSPENDING,
    AWSPREVIOUS,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::harness::{event, put_as_aws, FaultyStore, LogCapture, SqsPlayer, When, World, ROLE};

const DEFAULT_ROTATIONS: usize = 16;
const DEFAULT_SEED: u64 = 0x00c4_a05e_2025;
/// A rotation that has not finished after this many attempts is a violation (liveness).
const MAX_ATTEMPTS: usize = 40;
/// Simulated time between two rounds of drain-queue deliveries.
const ROUND: Duration = Duration::from_secs(3600);
/// The per-request timeout of the function under test; the timeout fault answers later.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);

// ---------------------------------------------------------------------------------------------
// Crashes

/// Crashes the function at a chosen call: [`Crash::point`] is awaited before every Secrets
/// Manager and SQS call; at the armed call number it signals and never returns, and the driver
/// then drops the whole step.
#[derive(Clone)]
struct Crash(Arc<CrashState>);

struct CrashState {
    calls: AtomicU64,
    armed: Mutex<Option<u64>>,
    fired: watch::Sender<bool>,
}

impl Crash {
    fn new() -> Self {
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

    fn disarm(&self) {
        *self.0.armed.lock().unwrap() = None;
        self.0.fired.send_replace(false);
    }

    fn fired(&self) -> watch::Receiver<bool> {
        self.0.fired.subscribe()
    }

    async fn point(&self) {
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
enum CrashAt {
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
struct ChaosStore {
    inner: AwsSecretStore,
    crash: Crash,
    put_lock: Arc<tokio::sync::Mutex<()>>,
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

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&str>,
    ) -> Result<(), StoreError> {
        self.crash.point().await;
        // One put at a time, so the check and the put act as the one call AWS makes.
        put_as_aws(
            &self.inner,
            Some(&self.put_lock),
            secret_id,
            token,
            value,
            self.inner.put_pending(secret_id, token, value, rotation_token),
        )
        .await
    }

    async fn promote(&self, secret_id: &str, to_version: &str, from_version: &str) -> Result<(), StoreError> {
        self.crash.point().await;
        self.inner.promote(secret_id, to_version, from_version).await
    }

    // Master rotations (the only users of these two) are not part of the campaign; they have
    // their own crash-at-every-call and concurrency tests in master.rs.
    async fn put_staged(
        &self,
        secret_id: &str,
        version_id: &str,
        value: &SecretString,
        stage: &str,
        rotation_token: Option<&str>,
    ) -> Result<(), StoreError> {
        self.crash.point().await;
        put_as_aws(
            &self.inner,
            Some(&self.put_lock),
            secret_id,
            version_id,
            value,
            self.inner
                .put_staged(secret_id, version_id, value, stage, rotation_token),
        )
        .await
    }

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
}

// ---------------------------------------------------------------------------------------------
// The drain queue: held back, shuffled, duplicated

#[derive(Default)]
struct QueueState {
    /// Accepted sends not yet on SQS, with the rounds they are still held for.
    held: Vec<(DrainMessage, u32)>,
    fail_next: Option<When>,
    /// Clients whose deletion was ever queued.
    queued: HashSet<String>,
    duplicated: u64,
    delayed: u64,
    reordered: u64,
    /// Every body the function ever sent (rotation and cleanup re-sends).
    sent_bodies: HashSet<String>,
}

/// The drain queue of the rotator and the cleanup: SQS on moto, behind a crash point, with a
/// send failure on demand. Time is simulated, so each copy is put on SQS visible at once; the
/// delay it asked for is what the campaign's clock advances by.
#[derive(Clone)]
struct ChaosQueue {
    /// Released copies go to SQS in batches of ten: the bodies are exactly what the function's
    /// own queue client sends, one call instead of ten.
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    crash: Crash,
    state: Arc<Mutex<QueueState>>,
    rng: Arc<Mutex<StdRng>>,
}

impl DrainQueue for ChaosQueue {
    async fn send(&self, message: &DrainMessage, _delay: Duration) -> Result<(), QueueError> {
        self.crash.point().await;
        let injected = || QueueError::Transient("injected failure".into());
        let fault = self.state.lock().unwrap().fail_next.take();
        if fault == Some(When::Before) {
            return Err(injected());
        }
        let hold = {
            let mut rng = self.rng.lock().unwrap();
            if rng.random_bool(0.3) {
                rng.random_range(1..=3)
            } else {
                0
            }
        };
        {
            let mut state = self.state.lock().unwrap();
            state.queued.insert(message.client_id.clone());
            state.sent_bodies.insert(message.to_body());
            if hold > 0 {
                state.delayed += 1;
            }
            state.held.push((message.clone(), hold));
        }
        if fault == Some(When::After) {
            return Err(injected());
        }
        Ok(())
    }
}

impl ChaosQueue {
    /// Puts the copies whose hold is over on SQS, shuffled, some twice; the others wait one
    /// round less. `all`: release everything.
    async fn release(&self, all: bool) {
        let due: Vec<DrainMessage> = {
            let mut state = self.state.lock().unwrap();
            let mut due = Vec::new();
            state.held.retain_mut(|(m, hold)| {
                if all || *hold == 0 {
                    due.push(m.clone());
                    false
                } else {
                    *hold -= 1;
                    true
                }
            });
            due
        };
        let mut copies = Vec::new();
        {
            let mut rng = self.rng.lock().unwrap();
            for m in due {
                if rng.random_bool(0.2) {
                    copies.push(m.clone());
                    self.state.lock().unwrap().duplicated += 1;
                }
                copies.push(m);
            }
            if copies.len() > 1 {
                let before: Vec<String> = copies.iter().map(DrainMessage::to_body).collect();
                copies.shuffle(&mut *rng);
                if copies.iter().map(DrainMessage::to_body).collect::<Vec<_>>() != before {
                    self.state.lock().unwrap().reordered += 1;
                }
            }
        }
        // Ten to a call, as SendMessageBatch allows.
        for chunk in copies.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(n, m)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(format!("m{n}"))
                        .message_body(m.to_body())
                        .build()
                        .unwrap()
                })
                .collect();
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("SQS send");
            assert!(out.failed().is_empty(), "SQS send: {:?}", out.failed());
        }
    }

    fn queued(&self, client_id: &str) -> bool {
        self.state.lock().unwrap().queued.contains(client_id)
    }
}

// ---------------------------------------------------------------------------------------------
// Faults

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    RateLimited,
    RateLimitedLong,
    Status500,
    Status503,
    Timeout,
    DropBefore,
    DropAfterApply,
    Propagation,
    ClientLimit,
    AwsError,
    SqsError,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::RateLimited => "Genesys 429, Retry-After 1 s",
            Kind::RateLimitedLong => "Genesys 429, Retry-After 120 s",
            Kind::Status500 => "Genesys 500",
            Kind::Status503 => "Genesys 503",
            Kind::Timeout => "Genesys answer after the request timeout",
            Kind::DropBefore => "Genesys connection dropped before acting",
            Kind::DropAfterApply => "Genesys connection dropped after acting",
            Kind::Propagation => "new client propagation delay",
            Kind::ClientLimit => "org at its client limit",
            Kind::AwsError => "Secrets Manager error (before or after the call)",
            Kind::SqsError => "SQS send error (before or after the send)",
        }
    }

    fn action(self) -> Option<FaultAction> {
        let status = |status, retry_after| FaultAction::Status { status, retry_after };
        Some(match self {
            Kind::RateLimited => status(429, Some(1)),
            Kind::RateLimitedLong => status(429, Some(120)),
            Kind::Status500 => status(500, None),
            Kind::Status503 => status(503, None),
            Kind::Timeout => FaultAction::Delay(REQUEST_TIMEOUT + Duration::from_millis(300)),
            Kind::DropBefore => FaultAction::Drop,
            Kind::DropAfterApply => FaultAction::DropAfterApply,
            _ => return None,
        })
    }
}

/// The Genesys faults, with their weights (slow ones rarer, so the full size stays quick).
const GENESYS_FAULTS: [(Kind, u32); 7] = [
    (Kind::RateLimited, 1),
    (Kind::RateLimitedLong, 3),
    (Kind::Status500, 3),
    (Kind::Status503, 3),
    (Kind::Timeout, 1),
    (Kind::DropBefore, 3),
    (Kind::DropAfterApply, 3),
];

/// The Genesys calls each step makes (the master's token only on a cold start; a lost client's
/// PUT and DELETE only after a crash), so that most injected faults meet a call.
fn routes_of(step: Step) -> &'static [&'static str] {
    match step {
        Step::CreateSecret => &[
            routes::TOKEN,
            routes::LIST_CLIENTS,
            routes::LIST_CLIENTS,
            routes::CREATE_CLIENT,
            routes::CREATE_CLIENT,
            routes::UPDATE_CLIENT,
            routes::DELETE_CLIENT,
        ],
        Step::SetSecret => &[routes::GET_CLIENT],
        Step::TestSecret => &[routes::TOKEN, routes::TOKENS_ME],
        Step::FinishSecret => &[routes::GET_CLIENT, routes::UPDATE_CLIENT],
    }
}

#[derive(Default)]
struct Stats {
    rotations: u64,
    invocations: u64,
    concurrent: u64,
    crashes: u64,
    cleanup_crashes: u64,
    retries: u64,
    errors: BTreeMap<String, u64>,
    injected: BTreeMap<Kind, (u64, u64)>,
    batches: u64,
    violations: Vec<String>,
    max_managed: Vec<usize>,
    max_orphans: Vec<usize>,
    orphans_left: usize,
    log_bytes: usize,
    log_lines: usize,
    time_steps: Duration,
    time_checks: Duration,
    time_queue: Duration,
    searched_values: usize,
    /// Extra rotations of a secret just rotated, before the next drain round.
    burst_rotations: u64,
    /// Rotations that left the replaced client active because another secret holds it.
    shared_kept: u64,
    /// Forged drain messages: sent, refused (acknowledged, nothing deleted or re-queued),
    /// returned after a fault or crash in their batch.
    forged_sent: u64,
    forged_refused: u64,
    forged_returned: u64,
    /// Forged messages dead-lettered after faults returned them maxReceiveCount times.
    forged_dlq: u64,
    /// Clients deleted after their drain, the shortest time from deactivation to deletion, and
    /// clients of lost createSecret attempts deleted without a drain (no version held them).
    drained_deleted: u64,
    shortest_drain: Option<time::Duration>,
    lost_deleted: u64,
}

impl Stats {
    fn inject(&mut self, kind: Kind) {
        self.injected.entry(kind).or_default().0 += 1;
    }
    fn hit(&mut self, kind: Kind) {
        self.injected.entry(kind).or_default().1 += 1;
    }

    /// Counts the fault armed on `emulator` as hit if the step used it up, then clears what
    /// is left so it cannot land in a later step.
    fn settle_fault(&mut self, emulator: &Emulator, kind: Option<Kind>) {
        if let Some(kind) = kind {
            if emulator.pending_faults() == 0 {
                self.hit(kind);
            }
        }
        emulator.clear_faults();
    }
}

/// A coin toss: an injected AWS or SQS error strikes before the call reaches the service, or
/// after it has acted (the answer lost).
fn before_or_after(rng: &mut StdRng) -> When {
    if rng.random_bool(0.5) {
        When::Before
    } else {
        When::After
    }
}

/// Runs `work` until it finishes or the crash `at` fires; `None` if it crashed. Biased: once a
/// crash has fired, `work` is never polled again, as when the function's process dies.
async fn until_crash<T>(
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

// ---------------------------------------------------------------------------------------------
// The campaign

struct ManagedSecret {
    arn: String,
    org: usize,
    prefix: String,
}

type ChaosRotator = Rotator<FaultyStore<ChaosStore>, DrainRetirement<ChaosQueue>>;

struct Campaign {
    w: World,
    secrets: Vec<ManagedSecret>,
    rotator: ChaosRotator,
    cleanup: Cleanup<FaultyStore<ChaosStore>, ChaosQueue>,
    store: FaultyStore<ChaosStore>,
    /// Unwrapped, for the checks (no crash point, no injected failure).
    plain: AwsSecretStore,
    queue: ChaosQueue,
    player: SqsPlayer,
    crash: Crash,
    rng: StdRng,
    stats: Stats,
    /// Clients outside every managed namespace, as they were at the start.
    foreign: Vec<(usize, ClientRecord)>,
    /// How far the cleanup's clock is ahead of the real one.
    sim: Duration,
    horizon: Duration,
    client_limits: Vec<usize>,
    /// (secret, version id) -> (client id, client secret) of every stored version read so far.
    values: std::collections::HashMap<(String, String), (String, String)>,
    /// The drain margin the cleanup and the retirement use.
    margin: Duration,
    /// Every client seen in any org, by id (invariant 7).
    seen: std::collections::HashMap<String, Seen>,
    /// How many deletions of each org's `deleted_client_ids()` were already accounted for.
    deletions_seen: Vec<usize>,
    /// The master secrets' versions and labels at the start (invariant 8).
    masters: Vec<(String, BTreeMap<String, Vec<String>>)>,
    /// Hand-made clients held by several secrets at the start: client id -> those secrets.
    shared: std::collections::HashMap<String, Vec<usize>>,
    /// Forged drain messages not yet acknowledged, by body.
    forged: std::collections::HashMap<String, Forged>,
}

/// What the campaign knows of one client (invariant 7).
struct Seen {
    /// The campaign's clock offset when it was first seen: its `dateCreated` less this is when it
    /// was created in real time (the rotator's clock).
    offset: Duration,
    /// `dateModified` when it was first seen inactive: its deactivation, in the emulator's clock.
    inactive_since: Option<OffsetDateTime>,
    /// `accessTokenValiditySeconds`.
    lifetime: u32,
    gone: bool,
}

/// A forged drain message on its way.
struct Forged {
    kind: &'static str,
    /// The client it names, and whether that client must outlive the message whatever else
    /// happens (a live or foreign client); otherwise invariant 7 judges its deletion.
    client_id: String,
    org: usize,
    must_survive: bool,
}

/// A client name `prefix` manages: the prefix, then a version id (as reconciliation decides).
fn managed_by(prefix: &str, name: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| {
        (32..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// A client of secret `arn`: a managed name for its prefix and its marker in the description.
/// With identical and nested prefixes in one org, the name alone would also claim the other
/// secrets' clients.
fn client_of(arn: &str, prefix: &str, c: &ClientRecord) -> bool {
    managed_by(prefix, &c.name)
        && c.description
            .as_deref()
            .is_some_and(|d| d.contains(&genesys_rotator::ownership::marker(arn)))
}

impl Campaign {
    /// Two orgs, each with three secrets: two sharing the prefix `chaos-<org>-` and the hand-made
    /// client they both start with, one with the nested prefix `chaos-<org>-eu-`.
    async fn new(seed: u64) -> Campaign {
        let w = World::with_orgs(&[
            ("mypurecloud.ie", EmulatorConfig::default()),
            ("usw2.pure.cloud", EmulatorConfig::default()),
        ])
        .await;
        let mut rng = StdRng::seed_from_u64(seed);
        let player = SqsPlayer::create(w._moto.sqs(), "chaos-drain", 5).await;
        let crash = Crash::new();
        let plain = AwsSecretStore::new(w.sm.clone());
        let store = FaultyStore::over_aws_like(ChaosStore {
            inner: plain.clone(),
            crash: crash.clone(),
            put_lock: Arc::default(),
        });
        let url = player.queue_url.clone();
        let drain = DrainConfig::from_lookup(|k| (k == "DRAIN_QUEUE_URL").then(|| url.clone())).expect("drain config");
        let queue = ChaosQueue {
            sqs: player.sqs.clone(),
            queue_url: drain.queue_url.clone(),
            crash: crash.clone(),
            state: Arc::default(),
            rng: Arc::new(Mutex::new(StdRng::seed_from_u64(rng.random()))),
        };
        let mut config = w.rotator_config();
        config.request_timeout = REQUEST_TIMEOUT;
        let reconcile = ReconcileConfig::default();
        let horizon = reconcile.horizon;
        let rotator = Rotator::with_retirement(
            store.clone(),
            config.clone(),
            DrainRetirement::new(queue.clone(), drain.settings),
        )
        .with_reconcile(reconcile.clone());
        let cleanup = Cleanup::new(store.clone(), config, queue.clone(), drain.settings).with_reconcile(reconcile);

        // Other teams' clients, and names that only resemble managed ones, all old enough for
        // reconciliation to delete if it ever mistook them for orphans.
        let long_ago = OffsetDateTime::now_utc() - time::Duration::days(90);
        let mut secrets = Vec::new();
        let mut shared: std::collections::HashMap<String, Vec<usize>> = Default::default();
        for (o, org) in w.orgs.iter().enumerate() {
            let mut planted = HashSet::new();
            let mut shared_legacy = None;
            for (k, prefix) in [format!("chaos-{o}-"), format!("chaos-{o}-"), format!("chaos-{o}-eu-")]
                .into_iter()
                .enumerate()
            {
                // Secrets 0 and 1 of the org start with the same hand-made client.
                let legacy = match (k, &shared_legacy) {
                    (1, Some(l)) => Clone::clone(l),
                    _ => org.emulator.seed_client(SeedClient::new(
                        format!("legacy-{o}{k}"),
                        &["conversation:communication:view"],
                    )),
                };
                if k == 0 {
                    shared_legacy = Some(legacy.clone());
                }
                if k <= 1 {
                    shared.entry(legacy.id.clone()).or_default().push(secrets.len());
                }
                let mut value = w.integration_json_with_prefix(o, &prefix);
                value["clientId"] = json!(legacy.id);
                value["clientSecret"] = json!(legacy.secret);
                value["roleDivisions"] = json!([{"roleId": ROLE, "divisionId": "*"}]);
                let arn = w.create_secret(&format!("genesys/chaos-{o}{k}"), &value).await;
                let uuid = uuid::Uuid::new_v4();
                let names = if planted.insert(prefix.clone()) {
                    vec![
                        format!("{}{uuid}", prefix.trim_end_matches('-')),
                        format!("{}{uuid}", prefix.to_uppercase()),
                        format!("x{prefix}{uuid}"),
                        format!("{prefix}not-a-version-id"),
                        // Shaped like a managed client of this prefix (and, for `chaos-<org>-`,
                        // of the nested one), but hand-made: no version, no marker.
                        format!("{prefix}{uuid}"),
                    ]
                } else {
                    vec![format!("{prefix}{}", uuid::Uuid::new_v4())]
                };
                for name in names {
                    org.emulator.seed_client(SeedClient {
                        date_created: Some(long_ago),
                        ..SeedClient::new(&name, &["conversation:communication:view"])
                    });
                }
                secrets.push(ManagedSecret { arn, org: o, prefix });
            }
            org.emulator.seed_client(SeedClient {
                date_created: Some(long_ago),
                ..SeedClient::new("team-b-integration", &["conversation:communication:view"])
            });
        }
        let legacy: HashSet<String> = {
            let mut ids = HashSet::new();
            for s in &secrets {
                let v = value_of(&plain, &s.arn, AWSCURRENT).await.expect("current value");
                ids.insert(v["clientId"].as_str().unwrap().to_owned());
            }
            ids
        };
        let foreign = w
            .orgs
            .iter()
            .enumerate()
            .flat_map(|(o, org)| org.emulator.clients().into_iter().map(move |c| (o, c)))
            .filter(|(_, c)| !legacy.contains(&c.id))
            .collect();
        let client_limits = vec![EmulatorConfig::default().client_limit; w.orgs.len()];
        let n = secrets.len();
        let mut masters = Vec::new();
        for arn in &w.master_arns {
            masters.push((
                arn.clone(),
                labels(&plain.describe(arn).await.expect("describe master")),
            ));
        }
        shared.retain(|_, holders| holders.len() > 1);
        let deletions_seen = vec![0; w.orgs.len()];
        let margin = drain.settings.margin();
        Campaign {
            w,
            secrets,
            rotator,
            cleanup,
            store,
            plain,
            queue,
            player,
            crash,
            rng,
            stats: Stats {
                max_managed: vec![0; n],
                max_orphans: vec![0; n],
                ..Stats::default()
            },
            foreign,
            sim: Duration::ZERO,
            horizon,
            client_limits,
            values: Default::default(),
            margin,
            seen: Default::default(),
            deletions_seen,
            masters,
            shared,
            forged: Default::default(),
        }
    }

    fn violation(&mut self, what: String) {
        if self.stats.violations.len() < 1000 {
            self.stats.violations.push(what);
        }
    }

    /// One rotation of secret `s`, as Secrets Manager runs it.
    async fn rotate(&mut self, s: usize) {
        let arn = self.secrets[s].arn.clone();
        let replaced = value_of(&self.plain, &arn, AWSCURRENT)
            .await
            .and_then(|v| v["clientId"].as_str().map(str::to_owned));
        let token = self.w.begin_rotation(&arn, true).await;
        let mut attempts = 0;
        'rotation: loop {
            attempts += 1;
            if attempts > MAX_ATTEMPTS {
                self.violation(format!(
                    "rotation {token} of {arn} did not finish in {MAX_ATTEMPTS} attempts"
                ));
                return;
            }
            for step in Step::ALL {
                let t = Instant::now();
                let ok = self.invoke(s, &token, step).await;
                self.stats.time_steps += t.elapsed();
                let t = Instant::now();
                self.check_all(&format!("after {} of {token} of {arn}", step.as_str()))
                    .await;
                self.stats.time_checks += t.elapsed();
                if !ok {
                    // Secrets Manager retries the rotation with the same token.
                    self.stats.retries += 1;
                    continue 'rotation;
                }
            }
            break;
        }
        self.w.clear_pending(&arn, &token).await;
        self.stats.rotations += 1;
        // The replaced client, if another secret still holds it, must have stayed active
        // (invariant 6 checks every holder; this counts the rotations that met the guard).
        if let Some(old) = replaced.filter(|id| self.shared.contains_key(id)) {
            let mut held_elsewhere = false;
            for (o, other) in self.secrets.iter().enumerate() {
                if o == s {
                    continue;
                }
                for stage in [AWSCURRENT, AWSPENDING] {
                    if let Some(v) = value_of(&self.plain, &other.arn, stage).await {
                        held_elsewhere |= v["clientId"].as_str() == Some(old.as_str());
                    }
                }
            }
            let org = self.secrets[s].org;
            let active = self.w.orgs[org]
                .emulator
                .clients()
                .iter()
                .any(|c| c.id == old && c.state == ClientState::Active);
            if held_elsewhere {
                if active {
                    self.stats.shared_kept += 1;
                } else {
                    self.violation(format!(
                        "{arn}: rotation {token} retired client {old}, which another secret holds"
                    ));
                }
            }
        }
    }

    /// Injects this invocation's faults, runs the step (twice at once, or with a crash armed),
    /// then removes what was not used. Returns whether the step succeeded.
    async fn invoke(&mut self, s: usize, token: &str, step: Step) -> bool {
        self.stats.invocations += 1;
        let org = self.secrets[s].org;
        let arn = self.secrets[s].arn.clone();
        let emulator_fault = self.rng.random_bool(0.35).then(|| {
            let total: u32 = GENESYS_FAULTS.iter().map(|(_, w)| w).sum();
            let mut pick = self.rng.random_range(0..total);
            let kind = GENESYS_FAULTS
                .iter()
                .find(|(_, w)| {
                    let hit = pick < *w;
                    pick = pick.saturating_sub(*w);
                    hit
                })
                .unwrap()
                .0;
            let routes = routes_of(step);
            let route = routes[self.rng.random_range(0..routes.len())];
            let skip = self.rng.random_range(0..2);
            (kind, route, skip)
        });
        if let Some((kind, route, skip)) = emulator_fault {
            self.stats.inject(kind);
            self.w.orgs[org]
                .emulator
                .inject_fault(Fault::new(route, kind.action().unwrap()).skip(skip));
        }
        let aws_error = self.rng.random_bool(0.08);
        if aws_error {
            self.stats.inject(Kind::AwsError);
            let when = before_or_after(&mut self.rng);
            self.store.fail_call(self.rng.random_range(0..6), when);
        }
        let sqs_error = step == Step::FinishSecret && self.rng.random_bool(0.15);
        if sqs_error {
            self.stats.inject(Kind::SqsError);
            let when = before_or_after(&mut self.rng);
            self.queue.state.lock().unwrap().fail_next = Some(when);
        }
        let creating = step == Step::CreateSecret;
        let propagation = creating && self.rng.random_bool(0.06);
        if propagation {
            self.stats.inject(Kind::Propagation);
            let ms = self.rng.random_range(200..1200);
            self.w.orgs[org]
                .emulator
                .set_propagation_delay(Duration::from_millis(ms));
        }
        let at_limit = creating && self.rng.random_bool(0.04);
        if at_limit {
            self.stats.inject(Kind::ClientLimit);
            let count = self.w.orgs[org].emulator.clients().len();
            self.w.orgs[org].emulator.set_client_limit(count);
        }
        if self.rng.random_bool(0.05) {
            // A cold start: the master's token is fetched again (token faults can hit it).
            self.rotator.forget_masters();
        }
        let ev = event(&arn, token, step);
        let created_before = self.w.orgs[org].emulator.calls().len();
        let ok = if self.rng.random_bool(0.08) {
            self.stats.concurrent += 1;
            let (a, b) = tokio::join!(self.rotator.handle(&ev), self.rotator.handle(&ev));
            for r in [&a, &b] {
                if let Err(e) = r {
                    *self.stats.errors.entry(e.kind().to_owned()).or_default() += 1;
                }
            }
            a.is_ok() && b.is_ok()
        } else {
            let crash = self.rng.random_bool(0.15).then(|| {
                if self.rng.random_bool(0.5) {
                    CrashAt::Aws(self.rng.random_range(0..8))
                } else {
                    CrashAt::Genesys(org, self.rng.random_range(1..7))
                }
            });
            self.run_with_crash(&ev, crash).await
        };

        // What was armed and not used goes; what was used is counted.
        let emulator = &self.w.orgs[org].emulator;
        self.stats
            .settle_fault(emulator, emulator_fault.map(|(kind, _, _)| kind));
        if aws_error {
            if !self.store.armed() {
                self.stats.hit(Kind::AwsError);
            }
            self.store.disarm();
        }
        if sqs_error && self.queue.state.lock().unwrap().fail_next.take().is_none() {
            self.stats.hit(Kind::SqsError);
        }
        let created = emulator.calls()[created_before..]
            .iter()
            .any(|c| c.route == routes::CREATE_CLIENT);
        if propagation {
            if created {
                self.stats.hit(Kind::Propagation);
            }
            emulator.set_propagation_delay(Duration::ZERO);
        }
        if at_limit {
            if created {
                self.stats.hit(Kind::ClientLimit);
            }
            emulator.set_client_limit(self.client_limits[org]);
        }
        self.crash.disarm();
        ok
    }

    /// Runs one invocation; with `crash`, drops it the moment the chosen call completes.
    async fn run_with_crash(&mut self, ev: &genesys_rotator::rotation::RotationEvent, crash: Option<CrashAt>) -> bool {
        match until_crash(&self.crash, &self.w, crash, self.rotator.handle(ev)).await {
            None => {
                self.stats.crashes += 1;
                false
            }
            Some(Ok(_)) => true,
            Some(Err(e)) => {
                *self.stats.errors.entry(e.kind().to_owned()).or_default() += 1;
                false
            }
        }
    }

    /// One round of the drain queue: the clock moves on, held copies are released, and a few
    /// batches are delivered to the cleanup, with faults and crashes of its own.
    async fn sqs_round(&mut self, all: bool, batches: usize) {
        self.advance(ROUND);
        self.queue.release(all).await;
        if !all && self.rng.random_bool(0.3) {
            self.forge().await;
        }
        let mut delivered = false;
        for _ in 0..batches {
            let Some(batch) = self.player.receive().await else {
                break;
            };
            self.stats.batches += 1;
            let forged_here: Vec<(String, String)> = batch
                .received
                .iter()
                .filter(|r| self.forged.contains_key(&r.body))
                .map(|r| (r.message_id.clone(), r.body.clone()))
                .collect();
            let deleted_before: Vec<usize> = self
                .w
                .orgs
                .iter()
                .map(|o| o.emulator.deleted_client_ids().len())
                .collect();
            let faults = !all;
            let org = self.rng.random_range(0..self.w.orgs.len());
            let emulator_fault = (faults && self.rng.random_bool(0.3)).then(|| {
                let kind = GENESYS_FAULTS[self.rng.random_range(0..GENESYS_FAULTS.len())].0;
                let route =
                    [routes::GET_CLIENT, routes::UPDATE_CLIENT, routes::DELETE_CLIENT][self.rng.random_range(0..3)];
                self.stats.inject(kind);
                self.w.orgs[org]
                    .emulator
                    .inject_fault(Fault::new(route, kind.action().unwrap()));
                kind
            });
            let crash = (faults && self.rng.random_bool(0.15)).then(|| {
                if self.rng.random_bool(0.5) {
                    CrashAt::Aws(self.rng.random_range(0..6))
                } else {
                    CrashAt::Genesys(org, self.rng.random_range(1..4))
                }
            });
            let now = OffsetDateTime::now_utc() + self.sim;
            let response = until_crash(
                &self.crash,
                &self.w,
                crash,
                self.cleanup.handle_batch(batch.event.clone(), now),
            )
            .await;
            self.crash.disarm();
            self.stats.settle_fault(&self.w.orgs[org].emulator, emulator_fault);
            let failed: Option<Vec<String>> = match response {
                None => {
                    self.stats.cleanup_crashes += 1;
                    None
                }
                Some(r) => Some(r.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()),
            };
            self.settle_forged(
                &forged_here,
                failed.as_deref(),
                emulator_fault.is_some(),
                &deleted_before,
            );
            self.player.settle(batch, failed).await;
            delivered = true;
        }
        if delivered {
            self.check_all("after drain-queue batches").await;
        }
    }

    /// Moves the campaign's clock and every emulator's clock forward together, so the cleanup's
    /// `now` and the dates Genesys shows agree.
    fn advance(&mut self, by: Duration) {
        self.sim += by;
        for org in &self.w.orgs {
            org.emulator.advance_clock(by);
        }
    }

    /// The emulators' clock (real time plus the same offset).
    fn emulator_now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.sim
    }

    /// Every invariant that holds at any moment, for every secret of every org.
    async fn check_all(&mut self, when: &str) {
        for s in 0..self.secrets.len() {
            self.check_secret(s, when).await;
        }
        self.check_foreign();
        self.check_masters(when).await;
        self.observe(when);
    }

    /// Invariant 8: the master secrets' versions and labels are as they were.
    async fn check_masters(&mut self, when: &str) {
        let mut violations = Vec::new();
        for (arn, before) in &self.masters {
            let now = labels(&self.plain.describe(arn).await.expect("describe master"));
            if &now != before {
                violations.push(format!("{when}: master secret {arn} changed: {before:?} -> {now:?}"));
            }
        }
        for v in violations {
            self.violation(v);
        }
    }

    /// Invariant 7: records when each client was first seen inactive and first seen gone, and
    /// checks that no client went sooner than its token lifetime plus the margin after its
    /// deactivation.
    fn observe(&mut self, when: &str) {
        let now = self.emulator_now();
        let held_ever: HashSet<String> = self.values.values().map(|(id, _)| id.clone()).collect();
        let mut violations = Vec::new();
        for o in 0..self.w.orgs.len() {
            let emulator = &self.w.orgs[o].emulator;
            for c in emulator.clients() {
                let seen = self.seen.entry(c.id.clone()).or_insert(Seen {
                    offset: self.sim,
                    inactive_since: None,
                    lifetime: c.access_token_validity_seconds,
                    gone: false,
                });
                seen.lifetime = c.access_token_validity_seconds;
                if c.state != ClientState::Active && seen.inactive_since.is_none() {
                    seen.inactive_since = Some(c.date_modified);
                }
            }
            let deleted = emulator.deleted_client_ids();
            for id in &deleted[self.deletions_seen[o]..] {
                let Some(seen) = self.seen.get_mut(id) else {
                    // Created and deleted within one step, never seen: a version that held it
                    // would have been read after the step that stored it.
                    if held_ever.contains(id) {
                        violations.push(format!("{when}: client {id}, held by a version, was deleted unseen"));
                    } else {
                        self.stats.lost_deleted += 1;
                    }
                    continue;
                };
                seen.gone = true;
                match seen.inactive_since {
                    Some(since) => {
                        let drained = now - since;
                        let needed = Duration::from_secs(u64::from(seen.lifetime)) + self.margin;
                        if drained < needed {
                            violations.push(format!(
                                "{when}: client {id} deleted {} s after its deactivation, before its token lifetime plus margin ({} s)",
                                drained.whole_seconds(),
                                needed.as_secs()
                            ));
                        }
                        self.stats.drained_deleted += 1;
                        self.stats.shortest_drain = Some(self.stats.shortest_drain.map_or(drained, |d| d.min(drained)));
                    }
                    None if held_ever.contains(id) => violations.push(format!(
                        "{when}: client {id}, held by a version, was deleted without being seen inactive"
                    )),
                    None => self.stats.lost_deleted += 1,
                }
            }
            self.deletions_seen[o] = deleted.len();
        }
        for v in violations {
            self.violation(v);
        }
    }

    /// Sends one forged drain message straight to the queue (invariant 9). Times are the
    /// cleanup's clock.
    async fn forge(&mut self) {
        let now = OffsetDateTime::now_utc() + self.sim;
        let s = self.rng.random_range(0..self.secrets.len());
        let (arn, org, prefix) = {
            let m = &self.secrets[s];
            (m.arn.clone(), m.org, m.prefix.clone())
        };
        let Some(desc) = self.plain.describe(&arn).await.ok() else {
            return;
        };
        let own_version = desc
            .version_with(if self.rng.random_bool(0.5) {
                AWSPREVIOUS
            } else {
                AWSCURRENT
            })
            .or(desc.version_with(AWSCURRENT))
            .map(str::to_owned)
            .expect("AWSCURRENT");
        let clients = self.w.orgs[org].emulator.clients();
        let due_long_ago = (now - time::Duration::days(3), now - time::Duration::days(2));
        // Another secret of the same org (same or nested prefix), its AWSCURRENT version and
        // client.
        let others: Vec<usize> = (0..self.secrets.len())
            .filter(|&o| o != s && self.secrets[o].org == org)
            .collect();
        let other = others[self.rng.random_range(0..others.len())];
        let other_arn = self.secrets[other].arn.clone();
        let other_current = self
            .plain
            .describe(&other_arn)
            .await
            .ok()
            .and_then(|d| d.version_with(AWSCURRENT).map(str::to_owned));
        let other_client = value_of(&self.plain, &other_arn, AWSCURRENT)
            .await
            .and_then(|v| v["clientId"].as_str().map(str::to_owned))
            .and_then(|id| clients.iter().find(|c| c.id == id).cloned());
        let pick = self.rng.random_range(0..4);
        let (kind, client, version, (retired_at, not_before), must_survive) = match pick {
            0 => {
                // notBefore past, but earlier than retiredAt plus the drain: a draining client
                // of this secret, named with the version that held it.
                let draining: Vec<(ClientRecord, String)> = clients
                    .iter()
                    .filter(|c| {
                        client_of(&arn, &prefix, c) && c.state == ClientState::Inactive && self.queue.queued(&c.id)
                    })
                    .filter_map(|c| {
                        let v = c.name.strip_prefix(&prefix)?.to_owned();
                        (self.values.get(&(arn.clone(), v.clone())).map(|x| &x.0) == Some(&c.id))
                            .then(|| (c.clone(), v))
                    })
                    .collect();
                if draining.is_empty() {
                    return;
                }
                let (c, v) = draining[self.rng.random_range(0..draining.len())].clone();
                let times = (now - time::Duration::minutes(30), now - time::Duration::minutes(1));
                ("notBefore earlier than retiredAt + drain", c, v, times, false)
            }
            1 => {
                // Another secret's version and its live client, under this secret's ARN.
                let (Some(c), Some(v)) = (other_client, other_current) else {
                    return;
                };
                ("another secret's version and client", c, v, due_long_ago, true)
            }
            2 => {
                // Another secret's live client (the shared one, if both still hold it) with this
                // secret's own version.
                let Some(c) = other_client else { return };
                (
                    "another secret's client, own version",
                    c,
                    own_version,
                    due_long_ago,
                    true,
                )
            }
            _ => {
                // A client no version of this secret ever held: a hand-made client shaped like
                // one of its managed clients.
                let lookalikes: Vec<&ClientRecord> = clients
                    .iter()
                    .filter(|c| managed_by(&prefix, &c.name) && self.foreign.iter().any(|(_, f)| f.id == c.id))
                    .collect();
                if lookalikes.is_empty() {
                    return;
                }
                let c = lookalikes[self.rng.random_range(0..lookalikes.len())].clone();
                ("a client its version never held", c, own_version, due_long_ago, true)
            }
        };
        let message = DrainMessage {
            version: genesys_rotator::drain::DRAIN_MESSAGE_VERSION,
            secret_arn: arn.clone(),
            client_id: client.id.clone(),
            client_name: client.name.clone(),
            secret_version_id: version,
            retired_at,
            not_before,
        };
        let body = message.to_body();
        self.player
            .sqs
            .send_message()
            .queue_url(&self.player.queue_url)
            .message_body(&body)
            .send()
            .await
            .expect("SQS send");
        self.stats.forged_sent += 1;
        self.forged.insert(
            body,
            Forged {
                kind,
                client_id: client.id,
                org,
                must_survive,
            },
        );
    }

    /// Invariant 9 for the forged messages of one batch: `failed` lists the batch item failures
    /// (`None`: the cleanup crashed); `faulted`: a Genesys fault was injected for the batch.
    fn settle_forged(
        &mut self,
        here: &[(String, String)],
        failed: Option<&[String]>,
        faulted: bool,
        deleted_before: &[usize],
    ) {
        let mut violations = Vec::new();
        for (id, body) in here {
            let returned = failed.is_none_or(|f| f.contains(id));
            let f = &self.forged[body];
            let deleted =
                self.w.orgs[f.org].emulator.deleted_client_ids()[deleted_before[f.org]..].contains(&f.client_id);
            if deleted && f.must_survive {
                violations.push(format!("forged message ({}) deleted client {}", f.kind, f.client_id));
            }
            if self.queue.state.lock().unwrap().sent_bodies.contains(body) {
                violations.push(format!(
                    "forged message ({}) for client {} was re-queued, not refused",
                    f.kind, f.client_id
                ));
            }
            if returned {
                if failed.is_some() && !faulted {
                    violations.push(format!(
                        "forged message ({}) for client {} was returned to the queue with no fault in its batch",
                        f.kind, f.client_id
                    ));
                }
                self.stats.forged_returned += 1;
                continue;
            }
            if !deleted {
                self.stats.forged_refused += 1;
            }
            self.forged.remove(body);
        }
        for v in violations {
            self.violation(v);
        }
    }

    /// Invariants 1, 2 and 4 for secret `s`.
    async fn check_secret(&mut self, s: usize, when: &str) {
        let (arn, org, prefix) = {
            let m = &self.secrets[s];
            (m.arn.clone(), m.org, m.prefix.clone())
        };
        let desc = self.plain.describe(&arn).await.expect("describe");
        let current_version = desc.version_with(AWSCURRENT).map(str::to_owned);
        let mut held = Vec::new();
        for stage in [AWSCURRENT, AWSPENDING, AWSPREVIOUS] {
            let Some(version) = desc.version_with(stage) else {
                continue;
            };
            if stage != AWSCURRENT && Some(version) == current_version.as_deref() {
                continue;
            }
            // A stored version never changes, so each is read once.
            let key = (arn.clone(), version.to_owned());
            if !self.values.contains_key(&key) {
                let read = self
                    .plain
                    .get_value(&arn, Version::IdAndStage(version, stage))
                    .await
                    .expect("get value");
                let Some(v) = read else { continue };
                let v: Value = serde_json::from_str(v.value.expose_secret()).expect("stored JSON");
                self.values.insert(
                    key.clone(),
                    (
                        v["clientId"].as_str().unwrap_or_default().to_owned(),
                        v["clientSecret"].as_str().unwrap_or_default().to_owned(),
                    ),
                );
            }
            let (id, secret) = self.values[&key].clone();
            held.push((stage, id, secret));
        }
        let emulator = &self.w.orgs[org].emulator;
        let clients = emulator.clients();
        let mut violations = Vec::new();
        for (stage, id, secret) in &held {
            if *stage == AWSCURRENT {
                if let Err(e) = emulator.token_grantable(id, secret) {
                    violations.push(format!("{when}: {arn}: AWSCURRENT client {id} gets no token: {e}"));
                }
            }
            if *stage == AWSCURRENT || *stage == AWSPENDING {
                match clients.iter().find(|c| &c.id == id) {
                    None => violations.push(format!("{when}: {arn}: {stage} client {id} was deleted")),
                    Some(c) if c.state != ClientState::Active => {
                        violations.push(format!("{when}: {arn}: {stage} client {id} is {:?}", c.state))
                    }
                    Some(_) => {}
                }
            }
        }
        let now = OffsetDateTime::now_utc();
        let managed: Vec<&ClientRecord> = clients.iter().filter(|c| client_of(&arn, &prefix, c)).collect();
        let mut orphans = 0;
        for c in &managed {
            if held.iter().any(|(_, id, _)| *id == c.id) {
                continue;
            }
            if c.state == ClientState::Inactive && self.queue.queued(&c.id) {
                continue; // draining
            }
            orphans += 1;
            // In real time (the rotator's clock): its dateCreated less the emulator's offset
            // when it was first seen.
            let offset = self.seen.get(&c.id).map_or(self.sim, |s| s.offset);
            let age = now - (c.date_created - offset);
            if age >= self.horizon {
                violations.push(format!(
                    "{when}: {arn}: orphan {} is {} s old, past the horizon",
                    c.id,
                    age.whole_seconds()
                ));
            }
        }
        self.stats.max_managed[s] = self.stats.max_managed[s].max(managed.len());
        self.stats.max_orphans[s] = self.stats.max_orphans[s].max(orphans);
        for v in violations {
            self.violation(v);
        }
    }

    /// Invariant 3: every foreign client is exactly as it was.
    fn check_foreign(&mut self) {
        let mut violations = Vec::new();
        let clients: Vec<Vec<ClientRecord>> = self.w.orgs.iter().map(|o| o.emulator.clients()).collect();
        for (org, before) in &self.foreign {
            match clients[*org].iter().find(|c| c.id == before.id) {
                None => violations.push(format!("foreign client {} ({}) was deleted", before.id, before.name)),
                Some(now) if now != before => {
                    violations.push(format!("foreign client {} ({}) was changed", before.id, before.name))
                }
                Some(_) => {}
            }
        }
        for v in violations {
            self.violation(v);
        }
    }

    /// The end: every copy delivered past every drain, then a reconciliation pass past the
    /// horizon; invariant 4's last clause is that no orphan is left.
    async fn finish(&mut self) {
        for _ in 0..40 {
            self.advance(Duration::from_secs(8 * 24 * 3600));
            self.sqs_round(true, 10).await;
            if self.player.depth(&self.player.queue_url).await == 0 && self.queue.state.lock().unwrap().held.is_empty()
            {
                break;
            }
        }
        let past = self.horizon + Duration::from_secs(3600);
        self.advance(past);
        let arns: Vec<String> = self.secrets.iter().map(|s| s.arn.clone()).collect();
        let report = genesys_rotator::reconcile::reconcile_all_with(
            &self.rotator,
            self.rotator.reconcile_config(),
            &arns,
            OffsetDateTime::now_utc() + self.sim,
        )
        .await;
        self.check_all("after the final reconciliation").await;
        if !report.errors.is_empty() {
            self.violation(format!("final reconciliation failed: {:?}", report.errors));
        }
        for s in 0..self.secrets.len() {
            let (arn, org, prefix) = {
                let m = &self.secrets[s];
                (m.arn.clone(), m.org, m.prefix.clone())
            };
            let mut referenced = HashSet::new();
            for stage in [AWSCURRENT, AWSPENDING, AWSPREVIOUS] {
                if let Some(v) = value_of(&self.plain, &arn, stage).await {
                    referenced.insert(v["clientId"].as_str().unwrap_or_default().to_owned());
                }
            }
            let left: Vec<String> = self.w.orgs[org]
                .emulator
                .clients()
                .into_iter()
                .filter(|c| client_of(&arn, &prefix, c) && !referenced.contains(&c.id))
                .map(|c| c.id)
                .collect();
            self.stats.orphans_left += left.len();
            if !left.is_empty() {
                self.violation(format!("{arn}: orphans left after reconciliation: {left:?}"));
            }
        }
        // Org-wide: every client left that the campaign did not plant was made by the rotator
        // and is held by a labelled version of some secret (managed names shared by several
        // secrets, unmarked or marked for another secret, included).
        let planted: HashSet<String> = self.foreign.iter().map(|(_, c)| c.id.clone()).collect();
        let mut referenced = HashSet::new();
        for m in &self.secrets {
            for stage in [AWSCURRENT, AWSPENDING, AWSPREVIOUS] {
                if let Some(v) = value_of(&self.plain, &m.arn, stage).await {
                    referenced.insert(v["clientId"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
        let unheld: Vec<String> = self
            .w
            .orgs
            .iter()
            .flat_map(|o| o.emulator.clients())
            .filter(|c| !planted.contains(&c.id) && !referenced.contains(&c.id) && !c.name.starts_with("legacy-"))
            .map(|c| format!("{} ({})", c.id, c.name))
            .collect();
        self.stats.orphans_left += unheld.len();
        if !unheld.is_empty() {
            self.violation(format!("clients left that no secret holds: {unheld:?}"));
        }
        self.check_foreign();
        // Invariant 9: every forged message was acknowledged (or, after faults, dead-lettered).
        let dlq = self.player.dlq_bodies().await;
        let mut stuck = Vec::new();
        for (body, f) in &self.forged {
            if dlq.contains(body) {
                self.stats.forged_dlq += 1;
            } else {
                stuck.push(format!(
                    "forged message ({}) for client {} was never acknowledged",
                    f.kind, f.client_id
                ));
            }
        }
        for v in stuck {
            self.violation(v);
        }
    }

    /// Invariant 5 over everything the run logged.
    fn search_logs(&mut self, text: &str) {
        let mut values: Vec<String> = Vec::new();
        for org in &self.w.orgs {
            values.extend(org.emulator.issued_secrets());
            values.extend(org.emulator.issued_tokens());
        }
        values.sort();
        values.dedup();
        self.stats.searched_values = values.len();
        self.stats.log_bytes = text.len();
        self.stats.log_lines = text.lines().count();
        let finder = AhoCorasick::new(&values).expect("automaton");
        let mut leaks = Vec::new();
        for m in finder.find_iter(text) {
            let line = text[..m.start()].lines().count();
            leaks.push(format!("log line {line} holds a secret or token"));
        }
        if text.to_lowercase().contains("bearer ") {
            leaks.push("an Authorization header reached the logs".into());
        }
        for l in leaks {
            self.violation(l);
        }
    }

    fn table(&self, seed: u64, elapsed: Duration) -> String {
        let s = &self.stats;
        let mut out = String::new();
        let mut row = |k: &str, v: String| out.push_str(&format!("| {k} | {v} |\n"));
        row("seed", format!("{seed:#x}"));
        row(
            "secrets (orgs)",
            format!("{} ({})", self.secrets.len(), self.w.orgs.len()),
        );
        row("rotations", s.rotations.to_string());
        row("step invocations", s.invocations.to_string());
        row(
            "concurrent invocations (same step twice at once)",
            s.concurrent.to_string(),
        );
        row("crashes of the rotation function", s.crashes.to_string());
        row(
            "retries (rotation restarted with the same token)",
            s.retries.to_string(),
        );
        for (kind, (injected, hit)) in &s.injected {
            row(
                &format!("fault: {}", kind.label()),
                format!("{injected} injected, {hit} hit"),
            );
        }
        let errors: Vec<String> = s.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
        row("step errors by kind", errors.join(", "));
        let q = self.queue.state.lock().unwrap();
        row(
            "drain queue: batches, cleanup crashes",
            format!("{}, {}", s.batches, s.cleanup_crashes),
        );
        row(
            "drain queue: copies delayed, duplicated, batches reordered",
            format!("{}, {}, {}", q.delayed, q.duplicated, q.reordered),
        );
        row(
            "rotations of a secret just rotated (faster than its drain)",
            s.burst_rotations.to_string(),
        );
        row(
            "shared clients kept active (replaced, but another secret holds them)",
            s.shared_kept.to_string(),
        );
        row(
            "forged drain messages: sent, refused, returned after faults, dead-lettered",
            format!(
                "{}, {}, {}, {}",
                s.forged_sent, s.forged_refused, s.forged_returned, s.forged_dlq
            ),
        );
        row(
            "clients deleted after a drain (shortest drain), lost ones deleted at once",
            format!(
                "{} ({}), {}",
                s.drained_deleted,
                s.shortest_drain
                    .map_or("-".into(), |d| format!("{} s", d.whole_seconds())),
                s.lost_deleted
            ),
        );
        row("invariant violations", s.violations.len().to_string());
        row("max managed clients seen per secret", format!("{:?}", s.max_managed));
        row("max orphans seen per secret", format!("{:?}", s.max_orphans));
        row("orphans left after reconciliation", s.orphans_left.to_string());
        row(
            "log lines searched (bytes) for secrets and tokens",
            format!("{} ({}) for {} values", s.log_lines, s.log_bytes, s.searched_values),
        );
        row(
            "wall time (steps, checks, drain queue)",
            format!(
                "{:.0} s ({:.0} s, {:.0} s, {:.0} s)",
                elapsed.as_secs_f64(),
                s.time_steps.as_secs_f64(),
                s.time_checks.as_secs_f64(),
                s.time_queue.as_secs_f64()
            ),
        );
        out
    }
}

/// A secret's labelled versions, sorted for comparison.
fn labels(desc: &SecretDescription) -> BTreeMap<String, Vec<String>> {
    desc.versions
        .iter()
        .map(|(v, stages)| {
            let mut stages = stages.clone();
            stages.sort();
            (v.clone(), stages)
        })
        .collect()
}

async fn value_of(store: &AwsSecretStore, arn: &str, stage: &str) -> Option<Value> {
    let v = store.get_value(arn, Version::Stage(stage)).await.ok().flatten()?;
    serde_json::from_str(v.value.expose_secret()).ok()
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        }
        Err(_) => default,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn fault_campaign_keeps_every_invariant() {
    let rotations = env_number("CHAOS_ROTATIONS", DEFAULT_ROTATIONS as u64) as usize;
    let seed = env_number("CHAOS_SEED", DEFAULT_SEED);
    let logs = LogCapture::default();
    let _guard = logs.install_filtered(
        "debug,aws_smithy_runtime=info,aws_smithy_runtime_api=info,hyper=info,hyper_util=info,h2=info,rustls=info",
    );
    let started = Instant::now();
    println!("fault campaign: seed {seed:#x}, {rotations} rotations (CHAOS_SEED, CHAOS_ROTATIONS)");

    let mut c = Campaign::new(seed).await;
    let (mut r, mut printed) = (0, 0);
    while r < rotations {
        let s = c.rng.random_range(0..c.secrets.len());
        c.rotate(s).await;
        r += 1;
        // Sometimes the same secret again, before the next drain round: faster than its drain.
        if c.rng.random_bool(0.25) {
            for _ in 0..c.rng.random_range(1..=2) {
                if r < rotations {
                    c.rotate(s).await;
                    c.stats.burst_rotations += 1;
                    r += 1;
                }
            }
        }
        let t = Instant::now();
        c.sqs_round(false, 3).await;
        c.stats.time_queue += t.elapsed();
        if r / 100 > printed {
            printed = r / 100;
            println!(
                "  {} rotations, {} crashes, {} violations, {:.0} s",
                r,
                c.stats.crashes,
                c.stats.violations.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    c.finish().await;
    let text = logs.text();
    c.search_logs(&text);
    let table = c.table(seed, started.elapsed());
    println!("\n| fault campaign | |\n|---|---|\n{table}");
    assert!(text.contains("step done"), "the logs were captured");
    assert_eq!(c.stats.rotations as usize, rotations, "every rotation finished");
    assert!(
        c.stats.violations.is_empty(),
        "{} invariant violations, first ones:\n{}",
        c.stats.violations.len(),
        c.stats
            .violations
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(c.stats.orphans_left, 0);
    assert!(
        c.stats.crashes > 0 && c.stats.injected.values().any(|(_, hit)| *hit > 0),
        "faults were injected and hit"
    );
}
