//! The one backoff policy: the wait before retry number `attempt` grows from `base`, doubling
//! per attempt up to `max` (the ceiling), and is drawn at random around that ceiling so that
//! many callers retrying at once spread out. Pure functions of the attempt and a random draw in
//! `[0, 1]`, so every branch is a plain unit test; [`random_unit`] makes the draw.

use std::time::Duration;

/// Exponential backoff between `base` and `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry.
    pub base: Duration,
    /// The largest ceiling.
    pub max: Duration,
}

impl Backoff {
    /// Backoff from `base` up to `max`.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// `min(max, base * 2^(attempt-1))`; `attempt` is 1-based (the wait after the first
    /// failure is attempt 1).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// Full jitter: uniform in `[0, ceiling]`. For calls retried by many clients at once.
    pub fn full_jitter(&self, attempt: u32, unit: f64) -> Duration {
        self.ceiling(attempt).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// At least the ceiling, plus up to half of it: for waits that must not be shorter than the
    /// ceiling (a new client propagating), spread all the same.
    pub fn at_least_ceiling(&self, attempt: u32, unit: f64) -> Duration {
        let ceiling = self.ceiling(attempt);
        ceiling + (ceiling / 2).mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// A uniform draw in `[0, 1]`.
pub fn random_unit() -> f64 {
    rand::random_range(0.0..=1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));

    #[test]
    fn the_ceiling_doubles_and_caps() {
        assert_eq!(B.ceiling(1), Duration::from_millis(200));
        assert_eq!(B.ceiling(2), Duration::from_millis(400));
        assert_eq!(B.ceiling(5), Duration::from_millis(3200));
        assert_eq!(B.ceiling(6), Duration::from_secs(5));
        assert_eq!(B.ceiling(u32::MAX), Duration::from_secs(5));
        assert_eq!(B.ceiling(0), B.ceiling(1), "attempt 0 reads as the first");
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        for attempt in 1..10 {
            let c = B.ceiling(attempt);
            assert_eq!(B.full_jitter(attempt, 0.0), Duration::ZERO);
            assert_eq!(B.full_jitter(attempt, 1.0), c);
            assert_eq!(B.full_jitter(attempt, 7.0), c, "a draw out of range is clamped");
            assert_eq!(B.at_least_ceiling(attempt, 0.0), c);
            assert_eq!(B.at_least_ceiling(attempt, 1.0), c + c / 2);
            let u = random_unit();
            assert!((0.0..=1.0).contains(&u));
            assert!(B.full_jitter(attempt, u) <= c);
        }
    }
}
