//! Client-side pacing: a [`GenesysClient`](super::GenesysClient) keeps its own calls under
//! Genesys Cloud's per-token rate limit, so a long run (the scheduled reconciliation of hundreds
//! of orphans) never meets a 429 at all instead of meeting one every few hundred calls.
//!
//! The promise is "at most `per_minute` requests in any 60 seconds", which holds against a
//! server counting in a sliding window, in fixed minutes or with a token bucket of that size.
//! A GCRA limiter (the `governor` crate) gives it: a burst of a few calls, then one every
//! `61 s / (per_minute - burst)`, so the burst plus a minute of refills stays under the limit
//! even with a second of network jitter between our clock and the server's.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// Genesys Cloud's documented per-token limit (`client.credentials.token.rate.per.minute`).
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 300;

/// The window the limit is counted over, plus a second for jitter between the clocks.
const PACED_WINDOW: Duration = Duration::from_secs(61);

/// The largest burst: enough that a rotation's dozen calls hardly wait, small enough that the
/// steady pace stays near the limit.
const MAX_BURST: u32 = 10;

/// Paces the calls of one client to at most `per_minute` in any minute.
pub struct Pacer<C: Clock = MonotonicClock> {
    limiter: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    per_minute: NonZeroU32,
}

impl std::fmt::Debug for Pacer<MonotonicClock> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer").field("per_minute", &self.per_minute).finish()
    }
}

impl Pacer<MonotonicClock> {
    /// A pacer of at most `per_minute` calls a minute, on the monotonic clock.
    pub fn new(per_minute: NonZeroU32) -> Self {
        Self::with_clock(per_minute, MonotonicClock)
    }
}

impl<C: Clock + Clone> Pacer<C> {
    fn with_clock(per_minute: NonZeroU32, clock: C) -> Self {
        let (burst, period) = shape(per_minute);
        let quota = Quota::with_period(period)
            .expect("the period is at least a millisecond")
            .allow_burst(burst);
        Self {
            limiter: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
            per_minute,
        }
    }

    /// The limit this pacer keeps.
    pub fn per_minute(&self) -> NonZeroU32 {
        self.per_minute
    }

    /// Takes a slot for one call now, or says how long until the next slot frees (nothing is
    /// taken then: the caller waits and asks again).
    pub fn try_take(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// The burst and the refill period for `per_minute`: `burst + 60 s / period` stays below
/// `per_minute`, because the period is counted over [`PACED_WINDOW`].
fn shape(per_minute: NonZeroU32) -> (NonZeroU32, Duration) {
    let n = per_minute.get();
    let burst = (n / 30).clamp(1, MAX_BURST);
    let steady = n.saturating_sub(burst).max(1);
    let period = (PACED_WINDOW / steady).max(Duration::from_millis(1));
    (NonZeroU32::new(burst).expect("burst is at least 1"), period)
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::{FakeRelativeClock, Reference};

    /// Sends as fast as the pacer lets for `minutes`, on a fake clock; the send times.
    fn greedy(per_minute: u32, minutes: u64) -> Vec<Duration> {
        let clock = FakeRelativeClock::default();
        let pacer = Pacer::with_clock(NonZeroU32::new(per_minute).unwrap(), clock.clone());
        let start = clock.now();
        let mut sent = Vec::new();
        loop {
            let at = clock.now().duration_since(start).into();
            if at >= Duration::from_secs(60 * minutes) {
                return sent;
            }
            match pacer.try_take() {
                Ok(()) => sent.push(at),
                Err(wait) => {
                    assert!(wait > Duration::ZERO, "a refusal names a wait");
                    clock.advance(wait);
                }
            }
        }
    }

    /// The most sends in any 60-second window.
    fn busiest_minute(sent: &[Duration]) -> usize {
        let mut most = 0;
        let mut first = 0;
        for (last, at) in sent.iter().enumerate() {
            while *at - sent[first] >= Duration::from_secs(60) {
                first += 1;
            }
            most = most.max(last + 1 - first);
        }
        most
    }

    #[test]
    fn no_minute_holds_more_than_the_limit() {
        for per_minute in [1, 2, 5, 29, 30, 100, 300, 3000] {
            let sent = greedy(per_minute, 5);
            let busiest = busiest_minute(&sent);
            assert!(
                busiest <= per_minute as usize,
                "{per_minute}/min: {busiest} sends in one minute"
            );
        }
    }

    #[test]
    fn the_default_pace_stays_near_the_limit() {
        // 480 orphans and their listing take about 500 calls: at 300 a minute the floor is
        // 100 s. The pacer's own margin (the burst, the jitter second) costs a few percent.
        let sent = greedy(DEFAULT_REQUESTS_PER_MINUTE, 10);
        let per_minute = sent.len() as f64 / 10.0;
        assert!(
            per_minute >= 0.95 * f64::from(DEFAULT_REQUESTS_PER_MINUTE),
            "{per_minute}/min"
        );
        assert!(busiest_minute(&sent) <= DEFAULT_REQUESTS_PER_MINUTE as usize);
    }

    #[test]
    fn a_short_run_goes_out_at_once() {
        let sent = greedy(DEFAULT_REQUESTS_PER_MINUTE, 1);
        assert!(
            sent[..MAX_BURST as usize].iter().all(|at| at.is_zero()),
            "a rotation's first calls never wait"
        );
    }
}
