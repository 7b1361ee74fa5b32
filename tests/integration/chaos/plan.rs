//! The seeded plan: the campaign's size and seed, the kinds of faults and where they land, and
//! what each invocation and each drain-queue round draws (faults, crashes, concurrency, forgeries).

use std::time::Duration;

use genesys_emulator::{routes, Fault, FaultAction};
use genesys_rotator::classify::qualified_kind;
use genesys_rotator::rotation::Step;
use rand::rngs::StdRng;
use rand::Rng;
use time::OffsetDateTime;

use super::campaign::Campaign;
use super::crash::{until_crash, CrashAt};
use crate::harness::{event, When};

pub(super) const DEFAULT_ROTATIONS: usize = 16;
pub(super) const DEFAULT_SEED: u64 = 0x00c4_a05e_2025;
/// A rotation that has not finished after this many attempts is a violation (liveness).
pub(super) const MAX_ATTEMPTS: usize = 40;
/// Simulated time between two rounds of drain-queue deliveries.
const ROUND: Duration = Duration::from_secs(3600);
/// The per-request timeout of the function under test; the timeout fault answers later.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    RateLimited,
    RateLimitedLong,
    Status500,
    Status503,
    Timeout,
    DropBefore,
    DropAfterApply,
    Status502AfterApply,
    Propagation,
    ClientLimit,
    AwsError,
    SqsError,
}

impl Kind {
    pub(super) fn label(self) -> &'static str {
        match self {
            Kind::RateLimited => "Genesys 429, Retry-After 1 s",
            Kind::RateLimitedLong => "Genesys 429, Retry-After 120 s",
            Kind::Status500 => "Genesys 500",
            Kind::Status503 => "Genesys 503",
            Kind::Timeout => "Genesys answer after the request timeout",
            Kind::DropBefore => "Genesys connection dropped before acting",
            Kind::DropAfterApply => "Genesys connection dropped after acting",
            Kind::Status502AfterApply => "Genesys 502 after acting",
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
            Kind::Status502AfterApply => FaultAction::StatusAfterApply { status: 502 },
            _ => return None,
        })
    }
}

/// The Genesys faults, with their weights (slow ones rarer, so the full size stays quick).
const GENESYS_FAULTS: [(Kind, u32); 8] = [
    (Kind::RateLimited, 1),
    (Kind::RateLimitedLong, 3),
    (Kind::Status500, 3),
    (Kind::Status503, 3),
    (Kind::Timeout, 1),
    (Kind::DropBefore, 3),
    (Kind::DropAfterApply, 3),
    (Kind::Status502AfterApply, 3),
];

/// The Genesys calls each step makes (the master's token only on a cold start; a lost client's
/// PUT and DELETE only after a crash; the credential calls only for a secret that lists one), so
/// that most injected faults meet a call.
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
            routes::GET_CREDENTIAL,
        ],
        Step::SetSecret => &[routes::GET_CLIENT],
        Step::TestSecret => &[routes::TOKEN, routes::TOKENS_ME],
        Step::FinishSecret => &[
            routes::GET_CLIENT,
            routes::UPDATE_CLIENT,
            routes::GET_CREDENTIAL,
            routes::UPDATE_CREDENTIAL,
        ],
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

pub(super) fn env_number(name: &str, default: u64) -> u64 {
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

impl Campaign {
    /// Injects this invocation's faults, runs the step (twice at once, or with a crash armed),
    /// then removes what was not used. Returns whether the step succeeded.
    pub(super) async fn invoke(&mut self, s: usize, token: &str, step: Step) -> bool {
        self.stats.invocations += 1;
        self.tick_unreadable();
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
            self.rotator.deployment().forget_masters();
        }
        let ev = event(&arn, token, step);
        let created_before = self.w.orgs[org].emulator.calls().len();
        let ok = if self.rng.random_bool(0.08) {
            self.stats.concurrent += 1;
            let (a, b) = tokio::join!(self.rotator.handle(&ev), self.rotator.handle(&ev));
            for r in [&a, &b] {
                if let Err(e) = r {
                    *self.stats.errors.entry(qualified_kind(e)).or_default() += 1;
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
                *self.stats.errors.entry(qualified_kind(&e)).or_default() += 1;
                false
            }
        }
    }

    /// One round of the drain queue: the clock moves on, held copies are released, and a few
    /// batches are delivered to the cleanup, with faults and crashes of its own.
    pub(super) async fn sqs_round(&mut self, all: bool, batches: usize) {
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
}
