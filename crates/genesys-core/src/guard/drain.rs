//! How long a retired client drains before it may be deleted.
//!
//! A deactivated (`inactive`) client mints no new tokens, but the tokens it already issued keep
//! working until they expire: at most `accessTokenValiditySeconds` after deactivation. The drain
//! is therefore that lifetime plus a margin (clock skew, a token minted just as the PUT landed),
//! or a longer configured minimum. A configured drain that is shorter is refused, never silently
//! stretched: whoever set it expected deletes at that pace and must learn that it cannot be.

use std::time::Duration;

use crate::domain::{DEFAULT_TOKEN_LIFETIME_SECONDS, TOKEN_LIFETIME_RANGE};
use thiserror::Error;

/// Longest drain the design supports: the cleanup re-sends a not-yet-due message every 15 min,
/// and SQS retention (max 14 days) only has to cover one such copy; the bound keeps deletes
/// within a week of rotation, which operators can reason about.
pub const MAX_DRAIN: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest token lifetime Genesys Cloud allows (`accessTokenValiditySeconds`).
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(*TOKEN_LIFETIME_RANGE.end() as u64);
/// Shortest token lifetime Genesys Cloud allows.
const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(*TOKEN_LIFETIME_RANGE.start() as u64);
/// Default margin added to the token lifetime.
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(3600);
/// Token lifetime Genesys applies when a client shows none.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(DEFAULT_TOKEN_LIFETIME_SECONDS as u64);

/// The drain policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainSettings {
    /// Added to the client's token lifetime.
    margin: Duration,
    /// A configured minimum drain, if any.
    drain: Option<Duration>,
}

/// A drain that cannot honour the client's token lifetime.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "configured drain of {configured_s} s is shorter than the client's token lifetime ({token_lifetime_s} s) plus the margin ({margin_s} s); raise the configured drain to at least {needed_s} s"
)]
pub struct DrainTooShort {
    /// The configured drain.
    pub configured_s: u64,
    /// The client's `accessTokenValiditySeconds`.
    pub token_lifetime_s: u64,
    /// The margin.
    pub margin_s: u64,
    /// The shortest acceptable drain.
    pub needed_s: u64,
}

impl Default for DrainSettings {
    fn default() -> Self {
        Self {
            margin: DEFAULT_MARGIN,
            drain: None,
        }
    }
}

impl DrainSettings {
    /// Checks what can be checked without knowing a client: the margin leaves room for the
    /// longest token lifetime within [`MAX_DRAIN`]; a configured drain is at most [`MAX_DRAIN`]
    /// and at least the shortest token lifetime plus the margin (else it could never be used).
    pub fn new(margin: Duration, drain: Option<Duration>) -> Result<Self, String> {
        let max_margin = MAX_DRAIN - MAX_TOKEN_LIFETIME;
        if margin > max_margin {
            return Err(format!(
                "margin of {} s leaves no room for a {} s token lifetime within the {} s maximum drain",
                margin.as_secs(),
                MAX_TOKEN_LIFETIME.as_secs(),
                MAX_DRAIN.as_secs()
            ));
        }
        if let Some(d) = drain {
            if d > MAX_DRAIN {
                return Err(format!(
                    "drain of {} s exceeds the {} s maximum",
                    d.as_secs(),
                    MAX_DRAIN.as_secs()
                ));
            }
            if d < MIN_TOKEN_LIFETIME + margin {
                return Err(format!(
                    "drain of {} s is shorter than the shortest token lifetime ({} s) plus the margin ({} s)",
                    d.as_secs(),
                    MIN_TOKEN_LIFETIME.as_secs(),
                    margin.as_secs()
                ));
            }
        }
        Ok(Self { margin, drain })
    }

    /// The margin added to token lifetimes.
    pub fn margin(&self) -> Duration {
        self.margin
    }

    /// The configured minimum drain, if any.
    pub fn configured(&self) -> Option<Duration> {
        self.drain
    }

    /// The drain for a client whose tokens live `token_lifetime_seconds` (`None`: Genesys'
    /// default). Lifetimes beyond Genesys' maximum are read as the maximum, so the result never
    /// exceeds [`MAX_DRAIN`].
    pub fn drain_for(&self, token_lifetime_seconds: Option<u32>) -> Result<Duration, DrainTooShort> {
        let lifetime = token_lifetime_seconds
            .map(|s| Duration::from_secs(u64::from(s)))
            .unwrap_or(DEFAULT_TOKEN_LIFETIME)
            .min(MAX_TOKEN_LIFETIME);
        let needed = lifetime + self.margin;
        match self.drain {
            Some(configured) if configured < needed => Err(DrainTooShort {
                configured_s: configured.as_secs(),
                token_lifetime_s: lifetime.as_secs(),
                margin_s: self.margin.as_secs(),
                needed_s: needed.as_secs(),
            }),
            Some(configured) => Ok(configured),
            None => Ok(needed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;

    #[test]
    fn the_drain_is_token_lifetime_plus_margin_or_the_longer_configured_drain() {
        let s = DrainSettings::default();
        assert_eq!(s.drain_for(Some(3600)).unwrap(), Duration::from_secs(2 * H));
        assert_eq!(s.drain_for(None).unwrap(), Duration::from_secs(25 * H));
        let s = DrainSettings::new(Duration::from_secs(H), Some(Duration::from_secs(7 * 24 * H))).unwrap();
        assert_eq!(s.drain_for(Some(86_400)).unwrap(), MAX_DRAIN);
        assert_eq!(s.drain_for(Some(u32::MAX)).unwrap(), MAX_DRAIN);
    }

    #[test]
    fn a_configured_drain_shorter_than_lifetime_plus_margin_is_refused_naming_the_numbers() {
        let s = DrainSettings::new(Duration::from_secs(H), Some(Duration::from_secs(2 * H))).unwrap();
        let err = s.drain_for(Some(86_400)).unwrap_err();
        assert_eq!(err.needed_s, 25 * H);
        let text = err.to_string();
        for n in ["7200", "86400", "3600", "90000"] {
            assert!(text.contains(n), "{text}");
        }
    }

    #[test]
    fn impossible_settings_are_refused_at_start() {
        assert!(DrainSettings::new(Duration::from_secs(6 * 24 * H), None).is_err());
        assert!(DrainSettings::new(Duration::from_secs(H), Some(Duration::from_secs(8 * 24 * H))).is_err());
        assert!(DrainSettings::new(Duration::from_secs(H), Some(Duration::from_secs(H))).is_err());
        assert!(DrainSettings::new(Duration::from_secs(H), Some(Duration::from_secs(H + 300))).is_ok());
    }
}
