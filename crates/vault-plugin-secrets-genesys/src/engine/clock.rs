//! The engine's wall clock (the system's, a test's, or a test build's skewed one) and the two
//! ways the engine reads times: how long ago, and as RFC 3339.
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

/// The engine's wall clock: the system's, or a test's.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(OffsetDateTime::now_utc))
    }

    /// A clock that reads `now`.
    pub fn from_fn(now: impl Fn() -> OffsetDateTime + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// Now.
    pub fn now(&self) -> OffsetDateTime {
        (self.0)()
    }
}

/// Test and demo builds only (cargo feature `endpoint-overrides`): whole seconds added to the
/// engine's clock, so a test against a real server can make a write-ahead record look settled
/// without waiting minutes (the plugin is registered again with it and reloaded). A build without
/// the feature refuses it, as it refuses endpoint overrides.
pub const CLOCK_SKEW_ENV: &str = "GENESYS_PLUGIN_CLOCK_SKEW_SECS";

/// The engine's clock given [`CLOCK_SKEW_ENV`]'s value (`None`: unset).
pub(super) fn clock_from_env(skew: Option<&str>) -> Result<Clock, String> {
    let Some(skew) = skew else {
        return Ok(Clock::system());
    };
    if !cfg!(feature = "endpoint-overrides") {
        return Err(format!(
            "{CLOCK_SKEW_ENV} is set, but this build does not take it: it is compiled only into test and demo \
             builds (cargo feature `endpoint-overrides`); unset it"
        ));
    }
    let secs: i64 = skew
        .trim()
        .parse()
        .map_err(|_| format!("{CLOCK_SKEW_ENV} must be whole seconds, got {skew:?}"))?;
    Ok(Clock::from_fn(move || {
        OffsetDateTime::now_utc() + time::Duration::seconds(secs)
    }))
}

/// How long ago `then` was, at `now` (zero if in the future).
pub fn age(then: OffsetDateTime, now: OffsetDateTime) -> Duration {
    Duration::try_from(now - then).unwrap_or(Duration::ZERO)
}

/// `t` as RFC 3339.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(all(test, feature = "endpoint-overrides"))]
mod tests {
    use super::*;

    #[test]
    fn a_clock_skew_moves_the_engines_clock_in_test_builds_only() {
        let now = OffsetDateTime::now_utc();
        assert!(clock_from_env(None).unwrap().now() - now < time::Duration::seconds(5));
        let skewed = clock_from_env(Some("600")).unwrap().now() - now;
        assert!(skewed >= time::Duration::seconds(600) && skewed < time::Duration::seconds(605));
        assert!(clock_from_env(Some("10m")).is_err_and(|e| e.contains(CLOCK_SKEW_ENV)));
    }
}
