//! The step deadline: the instant by which a rotation step must have returned, so that the Lambda
//! runtime never kills it mid-way without an answer.
//!
//! The handler reads the invocation's deadline from the Lambda context and runs the step with
//! [`run_until`], which keeps [`SAFETY_MARGIN`] in hand. Inside, every wait asks [`allows`]
//! before it sleeps (Retry-After, retry backoff, testSecret's propagation backoff) and gives up
//! with its retryable error rather than sleep past the deadline; each HTTP request's timeout is
//! cut to what is left ([`clamp`]). Whatever still runs at the deadline is dropped, exactly like
//! a crash between two calls, which every step survives: the retry Secrets Manager makes with
//! the same token finishes the work.
//!
//! The deadline travels as a task-local value, not as an argument: the Genesys client is shared
//! across invocations (its token cache outlives them), while the deadline belongs to one.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Time kept between the end of a step and the Lambda's own deadline: enough to log the outcome
/// and hand the answer back to the runtime.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(2);

/// Below this, a `Lambda-Runtime-Deadline-Ms` value cannot be a wall-clock time (it would be
/// before 2001): it is a duration in milliseconds. AWS sends epoch milliseconds; `cargo lambda
/// watch` (1.9) sends the function's timeout itself (`600000`), and read as a time that is
/// 1970, which would stop every step at once.
const EPOCH_MS_FLOOR: u64 = 978_307_200_000;

/// The instant a step must finish by, from the context's deadline (`Context::deadline`,
/// milliseconds): epoch milliseconds as AWS sends them, or a duration from now as local
/// runtimes send them (see `EPOCH_MS_FLOOR`). Less [`SAFETY_MARGIN`], as [`from_wall_clock`].
pub fn from_lambda_deadline_ms(deadline_ms: u64) -> Instant {
    if deadline_ms < EPOCH_MS_FLOOR {
        Instant::now() + Duration::from_millis(deadline_ms).saturating_sub(SAFETY_MARGIN)
    } else {
        from_wall_clock(SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms))
    }
}

/// The instant a step must finish by, given the Lambda's deadline as wall-clock time: that
/// deadline minus [`SAFETY_MARGIN`]. A deadline already past (or within the margin) gives now.
pub fn from_wall_clock(lambda_deadline: SystemTime) -> Instant {
    let left = lambda_deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
        .saturating_sub(SAFETY_MARGIN);
    Instant::now() + left
}

/// The step ran out of time: it was stopped at its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `step` with `deadline` in force (none: no deadline); stops it there.
pub async fn run_until<F: Future>(deadline: Option<Instant>, step: F) -> Result<F::Output, Elapsed> {
    match deadline {
        None => Ok(step.await),
        Some(at) => DEADLINE
            .scope(at, tokio::time::timeout_at(at.into(), step))
            .await
            .map_err(|_| Elapsed),
    }
}

/// Runs `work` with `deadline` in force for every wait and request inside it, without cutting it
/// off there: for work that stops by itself before the deadline (the cleanup starts no message
/// it has no time for) and must hand back a partial answer rather than none.
pub async fn scope<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// Time left before the deadline of the running step; `None` outside a step with a deadline.
pub fn remaining() -> Option<Duration> {
    DEADLINE
        .try_with(|at| at.saturating_duration_since(Instant::now()))
        .ok()
}

/// Whether sleeping `wait` still leaves time for the call that follows (which may take up to
/// `then`) before the deadline. Always true without a deadline.
pub fn allows(wait: Duration, then: Duration) -> bool {
    remaining().is_none_or(|left| wait + then.min(Duration::from_secs(1)) < left)
}

/// `timeout` cut to the time left before the deadline (at least 1 ms).
pub fn clamp(timeout: Duration) -> Duration {
    match remaining() {
        Some(left) => timeout.min(left).max(Duration::from_millis(1)),
        None => timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_deadline_allows_everything() {
        assert_eq!(remaining(), None);
        assert!(allows(Duration::from_secs(3600), Duration::from_secs(10)));
        assert_eq!(clamp(Duration::from_secs(10)), Duration::from_secs(10));
        assert_eq!(run_until(None, async { 7 }).await, Ok(7));
    }

    #[tokio::test]
    async fn inside_a_deadline_waits_are_bounded() {
        let at = Instant::now() + Duration::from_secs(5);
        let seen = run_until(Some(at), async {
            let left = remaining().unwrap();
            assert!(left <= Duration::from_secs(5));
            assert!(allows(Duration::from_millis(10), Duration::from_millis(10)));
            assert!(!allows(Duration::from_secs(6), Duration::ZERO));
            assert!(clamp(Duration::from_secs(10)) <= Duration::from_secs(5));
            "done"
        })
        .await;
        assert_eq!(seen, Ok("done"));
    }

    #[tokio::test]
    async fn a_step_past_its_deadline_is_stopped() {
        let at = Instant::now() + Duration::from_millis(20);
        let r = run_until(Some(at), tokio::time::sleep(Duration::from_secs(60))).await;
        assert_eq!(r, Err(Elapsed));
    }

    #[test]
    fn a_past_lambda_deadline_leaves_no_time() {
        let at = from_wall_clock(SystemTime::now() - Duration::from_secs(5));
        assert!(at <= Instant::now());
        let at = from_wall_clock(SystemTime::now() + Duration::from_secs(60));
        assert!(at > Instant::now() + Duration::from_secs(50));
    }

    #[test]
    fn a_deadline_is_epoch_milliseconds_or_a_local_runtimes_duration() {
        let in_a_minute = SystemTime::now() + Duration::from_secs(60);
        let epoch_ms = in_a_minute.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
        let at = from_lambda_deadline_ms(epoch_ms);
        assert!(at > Instant::now() + Duration::from_secs(50) && at <= Instant::now() + Duration::from_secs(58));
        // cargo lambda watch: the timeout itself.
        let at = from_lambda_deadline_ms(600_000);
        assert!(at > Instant::now() + Duration::from_secs(590) && at <= Instant::now() + Duration::from_secs(598));
        // A real deadline already past still leaves no time.
        assert!(from_lambda_deadline_ms(epoch_ms - 120_000) <= Instant::now());
    }
}
