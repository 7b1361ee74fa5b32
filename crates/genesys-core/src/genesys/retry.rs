//! The one retry policy for every Genesys Cloud call.
//!
//! - HTTP 429: the server refused before doing anything, so every call, even
//!   a create, may repeat it. Wait `Retry-After` (whole seconds) if it is at
//!   most [`HttpSettings::max_retry_after`], else give up at once with a
//!   retryable [`GenesysError::RateLimited`] (a Lambda should not sleep for
//!   minutes); without `Retry-After`, back off.
//! - 5xx, 408, timeouts and transport errors: retried with bounded
//!   exponential backoff and full jitter, but only for idempotent calls
//!   (GET, PUT, DELETE, token). A non-idempotent call (create) is retried
//!   only if the connection was never made: anything later might have
//!   created a client whose secret we would never see.
//! - Everything else (4xx, undecodable answers) fails at once.
//!
//! Attempts are bounded by [`HttpSettings::max_attempts`], 429s included.

use crate::classify::Classify;
use std::time::Duration;

use super::error::{GenesysCall, GenesysError};
use crate::backoff::Backoff;

/// Timeouts and retry bounds of a [`GenesysClient`](super::GenesysClient).
///
/// The policy they bound: a 429 is retried by every call after `Retry-After`
/// (or a backoff if absent) unless it asks for more than `max_retry_after`;
/// 5xx, 408, timeouts and transport errors are retried with exponential
/// backoff and full jitter by idempotent calls (GET, PUT, DELETE, token),
/// while a create is retried only if the connection was never made; other
/// errors are not retried. At most `max_attempts` attempts per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Timeout of one HTTP request, connect to last byte. Default 10 s.
    pub request_timeout: Duration,
    /// Attempts per call, the first included. Default 5; 0 counts as 1.
    pub max_attempts: u32,
    /// Backoff ceiling of the first retry; doubles per retry. Default 200 ms.
    pub base_backoff: Duration,
    /// Largest backoff ceiling. Default 5 s.
    pub max_backoff: Duration,
    /// Longest `Retry-After` the client sleeps through; a 429 asking for more
    /// fails as a retryable error instead. Default 60 s.
    pub max_retry_after: Duration,
    /// The client's own pace: at most this many API calls in any minute (see
    /// [`super::pace`]), so a long run stays under the per-token rate limit instead of
    /// meeting 429s. Default 300, Genesys Cloud's documented limit; `None` does not pace.
    pub requests_per_minute: Option<std::num::NonZeroU32>,
}

impl HttpSettings {
    /// The HTTP client a process's Genesys clients share, with these settings' timeouts (the
    /// connect timeout at most 5 s: a host that does not answer a SYN in 5 s will not). The
    /// TLS provider is the front end's choice (see this crate's manifest).
    pub fn http_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(self.request_timeout)
            .connect_timeout(self.request_timeout.min(Duration::from_secs(5)))
            .build()
            .expect("the TLS backend is compiled in")
    }

    /// The backoff of retried calls: from `base_backoff` up to `max_backoff`, full jitter.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.base_backoff, self.max_backoff)
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            max_attempts: 5,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(60),
            requests_per_minute: std::num::NonZeroU32::new(super::pace::DEFAULT_REQUESTS_PER_MINUTE),
        }
    }
}

/// Whether repeating a request can have an effect the first one did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// GET, PUT, DELETE, token: repeating is harmless.
    Idempotent,
    /// POST create: repeating may make a second client.
    NotIdempotent,
}

/// A failed attempt, with what the retry decision needs to know.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: GenesysError,
    /// True if the server provably did not act on the request: a 429, or a
    /// connection that was never established.
    pub(crate) not_processed: bool,
}

impl Failure {
    /// The server answered with an error.
    pub(crate) fn answered(error: GenesysError) -> Self {
        let not_processed = matches!(error, GenesysError::RateLimited { .. });
        Self { error, not_processed }
    }

    /// The request of `call` failed below HTTP.
    pub(crate) fn transport(call: GenesysCall, err: &reqwest::Error) -> Self {
        Self {
            error: GenesysError::from_transport(call, err),
            not_processed: err.is_connect(),
        }
    }

    /// A failure no retry can fix (e.g. an undecodable answer).
    pub(crate) fn fatal(error: GenesysError) -> Self {
        Self {
            error,
            not_processed: false,
        }
    }
}

/// How long to wait before the next attempt, or `None` to give up and
/// return the failure. `attempt` is the number of the attempt that just
/// failed (1-based); `unit` is a random draw in `[0, 1]` for the jitter.
pub(crate) fn next_delay(
    settings: &HttpSettings,
    attempt: u32,
    idempotency: Idempotency,
    failure: &Failure,
    unit: f64,
) -> Option<Duration> {
    if attempt >= settings.max_attempts.max(1) {
        return None;
    }
    let backoff = || settings.backoff().full_jitter(attempt, unit);
    if let GenesysError::RateLimited { retry_after, .. } = &failure.error {
        return match retry_after {
            Some(wait) if *wait <= settings.max_retry_after => Some(*wait),
            Some(_) => None,
            None => Some(backoff()),
        };
    }
    if !failure.error.is_retryable() {
        return None;
    }
    match idempotency {
        Idempotency::Idempotent => Some(backoff()),
        Idempotency::NotIdempotent if failure.not_processed => Some(backoff()),
        Idempotency::NotIdempotent => None,
    }
}

pub(crate) use crate::backoff::random_unit;

/// Reads `Retry-After` as whole seconds; an HTTP date or garbage counts as absent.
pub fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Idempotency::*;

    fn settings() -> HttpSettings {
        HttpSettings::default()
    }

    const CALL: GenesysCall = GenesysCall::GetClient;

    fn http(status: u16) -> Failure {
        Failure::answered(GenesysError::Http {
            call: CALL,
            status,
            code: None,
            message: String::new(),
        })
    }

    fn transport(connect: bool) -> Failure {
        Failure {
            error: GenesysError::Transport {
                call: CALL,
                message: "x".into(),
            },
            not_processed: connect,
        }
    }

    fn rate_limited(secs: Option<u64>) -> Failure {
        Failure::answered(GenesysError::RateLimited {
            call: CALL,
            retry_after: secs.map(Duration::from_secs),
        })
    }

    #[test]
    fn backoff_ceiling_doubles_and_caps() {
        let s = settings();
        assert_eq!(s.backoff().ceiling(1), Duration::from_millis(200));
        assert_eq!(s.backoff().ceiling(2), Duration::from_millis(400));
        assert_eq!(s.backoff().ceiling(3), Duration::from_millis(800));
        assert_eq!(s.backoff().ceiling(5), Duration::from_millis(3200));
        assert_eq!(s.backoff().ceiling(6), Duration::from_secs(5));
        assert_eq!(s.backoff().ceiling(40), Duration::from_secs(5));
        assert_eq!(s.backoff().ceiling(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let s = settings();
        for attempt in 1..10 {
            let ceiling = s.backoff().ceiling(attempt);
            for _ in 0..200 {
                let wait = s.backoff().full_jitter(attempt, random_unit());
                assert!(wait <= ceiling && wait <= s.max_backoff, "{wait:?}");
            }
            assert_eq!(s.backoff().full_jitter(attempt, 0.0), Duration::ZERO);
            assert_eq!(s.backoff().full_jitter(attempt, 1.0), ceiling);
            assert_eq!(s.backoff().full_jitter(attempt, 7.0), ceiling);
        }
    }

    #[test]
    fn idempotent_calls_retry_server_and_transport_errors() {
        let s = settings();
        for f in [http(500), http(503), http(408), transport(false), transport(true)] {
            assert_eq!(
                next_delay(&s, 1, Idempotent, &f, 1.0),
                Some(Duration::from_millis(200)),
                "{f:?}"
            );
        }
    }

    #[test]
    fn client_errors_are_never_retried() {
        let s = settings();
        let fails = [
            http(400),
            http(401),
            http(403),
            http(409),
            Failure::answered(GenesysError::NotFound { call: CALL }),
            Failure::fatal(GenesysError::Decode {
                call: CALL,
                message: "x".into(),
            }),
            Failure::answered(GenesysError::InvalidClient {
                status: 401,
                description: String::new(),
            }),
        ];
        for f in fails {
            assert_eq!(next_delay(&s, 1, Idempotent, &f, 0.5), None, "{f:?}");
            assert_eq!(next_delay(&s, 1, NotIdempotent, &f, 0.5), None, "{f:?}");
        }
    }

    #[test]
    fn create_retries_only_what_provably_did_not_happen() {
        let s = settings();
        // 5xx and mid-request transport errors: the client may exist now.
        assert_eq!(next_delay(&s, 1, NotIdempotent, &http(500), 0.5), None);
        assert_eq!(next_delay(&s, 1, NotIdempotent, &http(503), 0.5), None);
        assert_eq!(next_delay(&s, 1, NotIdempotent, &transport(false), 0.5), None);
        // A refused connection and a 429: nothing happened.
        assert!(next_delay(&s, 1, NotIdempotent, &transport(true), 0.5).is_some());
        assert_eq!(
            next_delay(&s, 1, NotIdempotent, &rate_limited(Some(2)), 0.5),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn rate_limit_waits_retry_after_within_the_cap() {
        let s = settings();
        assert_eq!(
            next_delay(&s, 1, Idempotent, &rate_limited(Some(60)), 0.5),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            next_delay(&s, 1, Idempotent, &rate_limited(Some(0)), 0.5),
            Some(Duration::ZERO)
        );
        // Asked to wait longer than allowed: give up now, retryably.
        let long = rate_limited(Some(61));
        assert_eq!(next_delay(&s, 1, Idempotent, &long, 0.5), None);
        assert!(long.error.is_retryable());
        // No Retry-After: back off.
        assert_eq!(
            next_delay(&s, 2, Idempotent, &rate_limited(None), 1.0),
            Some(Duration::from_millis(400))
        );
    }

    #[test]
    fn attempts_are_bounded() {
        let s = settings();
        assert!(next_delay(&s, 4, Idempotent, &http(503), 0.5).is_some());
        assert_eq!(next_delay(&s, 5, Idempotent, &http(503), 0.5), None);
        assert_eq!(next_delay(&s, 5, Idempotent, &rate_limited(Some(1)), 0.5), None);
        let once = HttpSettings {
            max_attempts: 0,
            ..settings()
        };
        assert_eq!(next_delay(&once, 1, Idempotent, &http(503), 0.5), None);
    }

    #[test]
    fn retry_after_parsing() {
        use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(parse_retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("-3"));
        assert_eq!(parse_retry_after(&h), None);
    }
}
