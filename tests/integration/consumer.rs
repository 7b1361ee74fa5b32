//! The consumer API (`genesys_rotator::consumer`, cargo feature `consumer`) under rotation: many
//! callers keep calling Genesys Cloud while the rotator replaces the client again and again and
//! the cleanup deletes the old ones, and not one call may fail.

use genesys_rotator::Classify;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use genesys_emulator::{routes, Fault, FaultAction};
use genesys_rotator::consumer::{Consumer, ConsumerError, ConsumerSettings};
use genesys_rotator::domain::ClientId;
use genesys_rotator::genesys::{GenesysClient, HttpSettings};
use genesys_rotator::region::{EndpointOverrides, Endpoints, Region};
use genesys_rotator::secret::ClientCredentials;
use genesys_rotator::store::{AwsSecretStore, AWSCURRENT};
use reqwest::Url;

use crate::harness::{DrainWorld, Org, World};

const CALLERS: usize = 16;
const ROTATIONS: usize = 10;
/// Rounds whose tokens are first expired on the emulator's clock (every third).
const EXPIRE_EVERY: usize = 3;
const TOKENS_ME: &str = "/api/v2/tokens/me";

/// Default settings, with the org's region pointed at its emulator.
fn consumer_settings(w: &World) -> ConsumerSettings {
    let org = w.org();
    let mut overrides = EndpointOverrides::none();
    overrides
        .insert(Region::parse(org.domain).unwrap(), &org.emulator.base_url())
        .unwrap();
    ConsumerSettings {
        endpoint_overrides: overrides,
        ..ConsumerSettings::default()
    }
}

fn consumer_for(w: &World, arn: &str) -> Consumer<AwsSecretStore> {
    Consumer::new(
        AwsSecretStore::new(w.sm.clone()),
        arn,
        reqwest::Client::new(),
        consumer_settings(w),
    )
}

/// The org's master, acting as an operator would.
fn master(org: &Org) -> GenesysClient {
    GenesysClient::new(
        reqwest::Client::new(),
        Endpoints::single(Url::parse(&org.emulator.base_url()).unwrap()),
        ClientCredentials::new(ClientId::parse(&org.master_id).unwrap(), &org.master_secret),
        HttpSettings::default(),
    )
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

struct Tally {
    /// Calls finished, per caller.
    done: Vec<AtomicU64>,
    /// The round the driver is in (0: before the first rotation), for failure messages.
    round: AtomicU64,
    calls: AtomicU64,
    ok: AtomicU64,
    failures: Mutex<Vec<String>>,
}

impl Tally {
    fn new(callers: usize) -> Tally {
        Tally {
            done: (0..callers).map(|_| AtomicU64::new(0)).collect(),
            round: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            failures: Mutex::new(Vec::new()),
        }
    }

    /// Waits until every caller has finished two more calls: whatever was in flight (a retry
    /// with the token just obtained, say) has landed before the test changes the world again.
    /// Without this, a clock jump of an hour could expire a token minted a millisecond before,
    /// which no real clock does.
    async fn quiesce(&self) {
        let marks: Vec<u64> = self.done.iter().map(|d| d.load(Ordering::Relaxed)).collect();
        wait_until("every caller finished two more calls", || {
            self.done
                .iter()
                .zip(&marks)
                .all(|(d, m)| d.load(Ordering::Relaxed) >= m + 2)
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_callers_see_no_failure_through_ten_rotations_and_deletes() {
    let started = Instant::now();
    let dw = DrainWorld::new(&[]).await;
    let org = dw.w.org();
    let arn = dw.w.integration_secret().await;
    let consumer = consumer_for(&dw.w, &arn);
    consumer.warm_up().await.expect("warm up");
    assert_eq!(consumer.client_id().as_deref(), Some(org.legacy_id.as_str()));

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::new(CALLERS));
    let callers: Vec<_> = (0..CALLERS)
        .map(|i| {
            let (consumer, stop, tally) = (consumer.clone(), stop.clone(), tally.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    tally.calls.fetch_add(1, Ordering::Relaxed);
                    match consumer.get(TOKENS_ME).await {
                        Ok(r) if r.status() == 200 => {
                            tally.ok.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            let what = match other {
                                Ok(r) => format!("HTTP {}", r.status()),
                                Err(e) => e.to_string(),
                            };
                            let round = tally.round.load(Ordering::Relaxed);
                            let at = format!("round {round}, token {:?}", consumer.stats().tokens);
                            tally.failures.lock().unwrap().push(format!("{what} ({at})"));
                        }
                    }
                    tally.done[i].fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect();

    let operator = master(org);
    let mut expired_rounds = 0;
    let mut deleted_while_cached = 0;
    for round in 1..=ROTATIONS {
        tally.round.store(round as u64, Ordering::Relaxed);
        if round % EXPIRE_EVERY == 0 {
            // Every token expires on Genesys' clock (lifetime 3600 s); the consumer's own clock
            // still calls them fresh, so the callers meet 401s and must refresh.
            let generation = consumer.stats().tokens;
            org.emulator.advance_clock(Duration::from_secs(3700));
            wait_until("the callers replaced the expired token", || {
                consumer.stats().tokens > generation
            })
            .await;
            tally.quiesce().await;
            expired_rounds += 1;
        }
        let retiring = dw.w.client_id(&arn, AWSCURRENT).await;
        dw.rotate(&arn, 1).await;
        let current = dw.w.client_id(&arn, AWSCURRENT).await;
        assert_ne!(current, retiring);

        // The callers still use the retired (now inactive) client's token: it keeps working.
        if consumer.client_id().as_deref() == Some(retiring.as_str()) {
            deleted_while_cached += 1;
        }
        // The drain has passed: the cleanup deletes the retired client (the legacy one, outside
        // the prefix, is refused, and deleted by hand as the README tells the operator to).
        let ok_before = tally.ok.load(Ordering::Relaxed);
        dw.delete_retired(&operator, &retiring, round).await;
        wait_until("the callers moved to the current client", || {
            consumer.client_id().as_deref() == Some(current.as_str())
                && tally.ok.load(Ordering::Relaxed) > ok_before + CALLERS as u64
        })
        .await;
        tally.quiesce().await;
    }
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.await.unwrap();
    }

    let stats = consumer.stats();
    let calls = tally.calls.load(Ordering::Relaxed);
    let failures = tally.failures.lock().unwrap().clone();
    println!(
        "consumer under rotation: {CALLERS} callers, {ROTATIONS} rotations ({expired_rounds} with expired tokens), \
         {deleted_while_cached} deletes of a client whose token the callers held, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "  calls {calls}, ok {}, failed {}, 401s {} (recovered {}), secret reads {}, token requests {}, tokens {}",
        tally.ok.load(Ordering::Relaxed),
        failures.len(),
        stats.unauthorized,
        stats.recovered,
        stats.secret_reads,
        stats.token_requests,
        stats.tokens
    );
    assert!(failures.is_empty(), "{} failed calls: {failures:?}", failures.len());
    assert_eq!(tally.ok.load(Ordering::Relaxed), calls);
    assert_eq!(
        deleted_while_cached, ROTATIONS,
        "every delete hit a client the callers were using"
    );
    assert!(stats.recovered >= (ROTATIONS + expired_rounds) as u64, "{stats:?}");
    assert_eq!(stats.recovered, stats.unauthorized, "every 401 recovered");
    // Single flight: one secret read and one token per event (start, each delete, each expiry),
    // however many callers met the 401 at once.
    let events = (1 + ROTATIONS + expired_rounds) as u64;
    assert_eq!(stats.tokens, events, "{stats:?}");
    assert_eq!(stats.secret_reads, events, "{stats:?}");
    assert_eq!(stats.token_requests, events, "{stats:?}");
    assert!(stats.unauthorized > events, "several callers met each 401: {stats:?}");
}

#[tokio::test]
async fn rate_limits_are_waited_out_within_the_bound() {
    let w = World::new().await;
    let org = w.org();
    let arn = w.integration_secret().await;
    let consumer = consumer_for(&w, &arn);
    let status = |code| FaultAction::Status {
        status: 429,
        retry_after: code,
    };

    // A 429 with Retry-After: 1 is waited out.
    org.emulator
        .inject_fault(Fault::new(routes::TOKENS_ME, status(Some(1))));
    let t = Instant::now();
    assert_eq!(consumer.get(TOKENS_ME).await.unwrap().status(), 200);
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert_eq!(consumer.stats().rate_limit_waits, 1);

    // One asking for more than `max_retry_after` is the caller's, at once.
    org.emulator
        .inject_fault(Fault::new(routes::TOKENS_ME, status(Some(120))));
    let t = Instant::now();
    let r = consumer.get(TOKENS_ME).await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "120");
    assert!(t.elapsed() < Duration::from_secs(5));

    // The token endpoint's 429 too.
    org.emulator.advance_clock(Duration::from_secs(90_000));
    org.emulator.inject_fault(Fault::new(routes::TOKEN, status(Some(1))));
    assert_eq!(consumer.get(TOKENS_ME).await.unwrap().status(), 200);
    let stats = consumer.stats();
    assert_eq!(stats.rate_limit_waits, 2, "{stats:?}");
    assert_eq!(stats.recovered, 1, "{stats:?}");
}

#[tokio::test]
async fn a_401_after_a_refreshed_token_was_accepted_is_recovered_again() {
    // GIVEN a consumer that has its token
    let w = World::new().await;
    let org = w.org();
    let arn = w.integration_secret().await;
    let consumer = consumer_for(&w, &arn);
    assert_eq!(consumer.get(TOKENS_ME).await.unwrap().status(), 200);
    let before = consumer.stats();
    // WHEN one call meets a 401 (its client deleted), the refreshed token's first answer is a
    // 429 with Retry-After: 1, and during that wait the new client goes too (another 401)
    let status = |status, retry_after| FaultAction::Status { status, retry_after };
    org.emulator
        .inject_fault(Fault::new(routes::TOKENS_ME, status(401, None)));
    org.emulator
        .inject_fault(Fault::new(routes::TOKENS_ME, status(429, Some(1))));
    org.emulator
        .inject_fault(Fault::new(routes::TOKENS_ME, status(401, None)));
    // THEN the call succeeds: the refreshed token was accepted (the 429), so the second 401 is
    // a new one and is recovered as the first was, with one more secret read
    assert_eq!(consumer.get(TOKENS_ME).await.unwrap().status(), 200);
    let stats = consumer.stats();
    assert_eq!(stats.unauthorized - before.unauthorized, 2, "{stats:?}");
    assert_eq!(stats.rate_limit_waits - before.rate_limit_waits, 1, "{stats:?}");
    assert_eq!(stats.secret_reads - before.secret_reads, 2, "{stats:?}");
}

#[tokio::test]
async fn a_cached_credential_refused_by_the_token_endpoint_is_read_again() {
    let dw = DrainWorld::new(&[]).await;
    let w = &dw.w;
    let arn = w.integration_secret().await;
    // No token caching (margin beyond any lifetime), a credential cached for an hour.
    let consumer = Consumer::new(
        AwsSecretStore::new(w.sm.clone()),
        &arn,
        reqwest::Client::new(),
        ConsumerSettings {
            credential_ttl: Duration::from_secs(3600),
            refresh_margin: Duration::from_secs(10 * 86_400),
            ..consumer_settings(w)
        },
    );
    consumer.warm_up().await.unwrap();
    // A rotation makes the cached (legacy) client inactive: it mints no more tokens.
    dw.rotate(&arn, 1).await;
    let current = w.client_id(&arn, AWSCURRENT).await;
    assert_eq!(consumer.get(TOKENS_ME).await.unwrap().status(), 200);
    assert_eq!(consumer.client_id(), Some(current));
    let stats = consumer.stats();
    // warm-up: read + token; the call: cached credential refused, read, token.
    assert_eq!((stats.secret_reads, stats.token_requests), (2, 3), "{stats:?}");
    assert_eq!(stats.unauthorized, 0, "{stats:?}");
}

#[tokio::test]
async fn the_token_goes_to_the_api_host_only() {
    let w = World::new().await;
    let arn = w.integration_secret().await;
    let consumer = consumer_for(&w, &arn);
    let err = consumer
        .send(|http, _| http.get("http://127.0.0.2:9/api/v2/tokens/me"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConsumerError::ForeignHost { .. }), "{err}");
    assert!(!err.is_retryable());
    let printed = format!("{consumer:?} {err:?}");
    assert!(!printed.contains(&w.org().legacy_secret), "{printed}");
    for token in w.org().emulator.issued_tokens() {
        assert!(!printed.contains(&token));
    }
}
