//! When the periodic pass last listed the org's clients, in memory: a new process (a restart,
//! another node become active) lists at its first pass. Only the pass reads and sets it.
use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

use super::clock::age;

/// When the org's clients were last listed by this process's periodic pass.
#[derive(Debug, Default)]
pub struct LastListing(Mutex<Option<OffsetDateTime>>);

impl LastListing {
    /// Whether the last listing is at least `every` old at `now` (or there was none).
    pub fn older_than(&self, every: Duration, now: OffsetDateTime) -> bool {
        self.0
            .lock()
            .expect("last listing lock")
            .is_none_or(|last| age(last, now) >= every)
    }

    /// The org's clients were listed at `at`.
    pub fn listed(&self, at: OffsetDateTime) {
        *self.0.lock().expect("last listing lock") = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_is_due_at_first_then_once_each_interval() {
        let listing = LastListing::default();
        let t = OffsetDateTime::UNIX_EPOCH;
        let hour = Duration::from_secs(3600);
        assert!(listing.older_than(hour, t));
        listing.listed(t);
        assert!(!listing.older_than(hour, t + Duration::from_secs(3599)));
        assert!(listing.older_than(hour, t + hour));
        // A clock that went back: the listing counts as fresh.
        assert!(!listing.older_than(hour, t - Duration::from_secs(1)));
    }
}
