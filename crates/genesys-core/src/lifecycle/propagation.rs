//! The wait until a fresh client works. Genesys Cloud takes seconds to carry a new client (or a
//! new secret) to its login servers; until then its token requests fail as `invalid_client`.
//! Both front ends wait here: the Lambdas' setSecret and testSecret, the engine's `creds` and
//! rotate-root. One policy: attempts with a growing jittered wait, within a budget, never past
//! the running operation's deadline ([`crate::deadline`]).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use thiserror::Error;
use tracing::info;

use crate::backoff::{random_unit, Backoff};
use crate::classify::Classify;
use crate::genesys::GenesysError;

/// How a fresh client is waited for: never less than the ceiling (a client propagates in
/// seconds, so short random waits only add calls), from 250 ms up to 5 s.
pub const PROPAGATION_BACKOFF: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));

/// Why [`until_usable`] gave up.
#[derive(Debug, Error)]
pub enum NotUsable {
    /// A failure waiting cannot mend, or the budget is spent: the last answer.
    #[error(transparent)]
    Failed(GenesysError),
    /// The operation's deadline comes before another attempt could: the client may yet work,
    /// so a caller that can retry later should.
    #[error("waiting for the new client to work after {attempts} attempts: {last}")]
    Deadline {
        /// Attempts made.
        attempts: u32,
        /// The last answer.
        last: GenesysError,
    },
}

impl NotUsable {
    /// The last answer from Genesys, whichever way the wait ended.
    pub fn last(&self) -> &GenesysError {
        match self {
            NotUsable::Failed(e) | NotUsable::Deadline { last: e, .. } => e,
        }
    }

    /// The last answer from Genesys, for callers to whom the deadline changes nothing.
    pub fn into_last(self) -> GenesysError {
        match self {
            NotUsable::Failed(e) | NotUsable::Deadline { last: e, .. } => e,
        }
    }
}

/// Whether `e` may pass by waiting: the client is not known yet, or the failure is transient.
pub fn may_pass(e: &GenesysError) -> bool {
    matches!(e, GenesysError::InvalidClient { .. }) || e.is_retryable()
}

/// Calls `call` until it succeeds, while its failure [`may pass`](may_pass) and `budget` lasts,
/// waiting [`PROPAGATION_BACKOFF`] between attempts; `request_timeout` is what the next attempt
/// needs before the deadline. Returns the value and the attempts it took.
pub async fn until_usable<T, F, Fut>(
    budget: Duration,
    request_timeout: Duration,
    mut call: F,
) -> Result<(T, u32), NotUsable>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, GenesysError>>,
{
    let give_up_at = Instant::now() + budget;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match call().await {
            Ok(v) => return Ok((v, attempts)),
            Err(e) if may_pass(&e) && Instant::now() + PROPAGATION_BACKOFF.ceiling(attempts) < give_up_at => {
                let wait = PROPAGATION_BACKOFF.at_least_ceiling(attempts, random_unit());
                if !crate::deadline::allows(wait, request_timeout) {
                    return Err(NotUsable::Deadline { attempts, last: e });
                }
                info!(attempts, error = %e, "new client not usable yet; waiting");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(NotUsable::Failed(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesys::GenesysCall;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn invalid_client() -> GenesysError {
        GenesysError::InvalidClient {
            status: 400,
            description: "invalid_client: client not found".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_client_is_waited_for_until_it_works() {
        let calls = AtomicU32::new(0);
        let (v, attempts) = until_usable(Duration::from_secs(60), Duration::from_secs(1), || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(invalid_client())
            } else {
                Ok("token")
            }
        })
        .await
        .unwrap();
        assert_eq!((v, attempts), ("token", 4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_waiting_cannot_mend_ends_the_wait_at_once() {
        let calls = AtomicU32::new(0);
        let err = until_usable(Duration::from_secs(60), Duration::from_secs(1), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(GenesysError::Http {
                call: GenesysCall::TokensMe,
                status: 403,
                code: None,
                message: "forbidden".into(),
            })
        })
        .await
        .unwrap_err();
        assert!(
            matches!(err, NotUsable::Failed(GenesysError::Http { status: 403, .. })),
            "{err:?}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_bounds_the_wait() {
        let calls = AtomicU32::new(0);
        let err = until_usable(Duration::from_secs(3), Duration::from_secs(1), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(invalid_client())
        })
        .await
        .unwrap_err();
        assert!(matches!(err.last(), GenesysError::InvalidClient { .. }), "{err:?}");
        // 250 ms, 500 ms, 1 s, 2 s ceilings: the fourth would pass the 3 s budget.
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_past_the_deadline_says_so() {
        let deadline = std::time::Instant::now() + Duration::from_millis(600);
        let err = crate::deadline::scope(deadline, async {
            until_usable(Duration::from_secs(60), Duration::from_millis(500), || async {
                Err::<(), _>(invalid_client())
            })
            .await
        })
        .await
        .unwrap_err();
        assert!(matches!(err, NotUsable::Deadline { attempts: 1, .. }), "{err:?}");
    }
}
