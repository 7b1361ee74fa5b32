//! Lease and token-lifetime rules of `creds/`, as pure functions of the role, the mount's
//! defaults and the time: a lease's ttl is the role's (or the mount's default), clamped to the
//! role's and the mount's max_ttl; one shorter than Genesys' shortest token lifetime is refused;
//! the client's token lifetime is the role's, cut to the lease, so no token it mints at issue
//! outlives the lease; a renewal grants the increment asked for (or the role's ttl) up to the
//! lease's max_ttl counted from its issue.
use std::time::Duration;

use genesys_core::domain::{TokenLifetime, TOKEN_LIFETIME_RANGE};
use time::OffsetDateTime;

/// Genesys' shortest token lifetime: the shortest lease `creds/` issues.
pub const MIN_LEASE: Duration = Duration::from_secs(*TOKEN_LIFETIME_RANGE.start() as u64);

/// The terms of a new lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// The lease's ttl.
    pub ttl: Duration,
    /// The longest it may live in all, renewals included.
    pub max_ttl: Duration,
}

/// The effective max_ttl: the role's (zero: none) within the mount's.
pub fn max_ttl(role_max: Duration, mount_max: Duration) -> Duration {
    if role_max.is_zero() {
        mount_max
    } else {
        role_max.min(mount_max)
    }
}

/// The terms of a lease issued now. Refused (with the reason) when the ttl would be shorter than
/// [`MIN_LEASE`].
pub fn issue(
    role_ttl: Duration,
    role_max: Duration,
    mount_default: Duration,
    mount_max: Duration,
) -> Result<Terms, String> {
    let max = max_ttl(role_max, mount_max);
    let wanted = if role_ttl.is_zero() { mount_default } else { role_ttl };
    let ttl = wanted.min(max);
    if ttl < MIN_LEASE {
        return Err(format!(
            "the lease would last {} s (role ttl {} s, max_ttl {} s, mount default {} s, mount maximum {} s), shorter \
             than {} s, Genesys Cloud's shortest token lifetime",
            ttl.as_secs(),
            role_ttl.as_secs(),
            role_max.as_secs(),
            mount_default.as_secs(),
            mount_max.as_secs(),
            MIN_LEASE.as_secs()
        ));
    }
    Ok(Terms { ttl, max_ttl: max })
}

/// The token lifetime of a lease's client: the role's, cut to the lease's ttl (never below
/// Genesys' minimum, which [`issue`] guarantees the ttl is not).
pub fn token_lifetime(role: TokenLifetime, ttl: Duration) -> TokenLifetime {
    let cut = ttl.as_secs().min(u64::from(role.seconds()));
    TokenLifetime::new(cut).unwrap_or(role)
}

/// The ttl a renewal at `now` grants: the increment asked for, else the role's ttl, else the
/// mount's default, up to `max` counted from `issued`. Refused when the lease has reached it.
pub fn renew(
    issued: OffsetDateTime,
    now: OffsetDateTime,
    increment: Duration,
    role_ttl: Duration,
    mount_default: Duration,
    max: Duration,
) -> Result<Duration, String> {
    let wanted = if !increment.is_zero() {
        increment
    } else if !role_ttl.is_zero() {
        role_ttl
    } else {
        mount_default
    };
    let left = Duration::try_from((issued + max) - now).unwrap_or(Duration::ZERO);
    if left < Duration::from_secs(1) {
        return Err(format!(
            "the lease has reached its max_ttl of {} s and cannot be renewed",
            max.as_secs()
        ));
    }
    Ok(wanted.min(left))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn a_lease_takes_the_role_ttl_or_the_mount_default_clamped_to_both_maxima() {
        // GIVEN a mount with default 768 h and max 768 h
        let (def, max) = (s(768 * H), s(768 * H));
        // THEN a role without ttl gets the mount default, clamped by its own max_ttl
        assert_eq!(issue(s(0), s(0), def, max).unwrap(), Terms { ttl: def, max_ttl: max });
        assert_eq!(
            issue(s(0), s(2 * H), def, max).unwrap(),
            Terms {
                ttl: s(2 * H),
                max_ttl: s(2 * H)
            }
        );
        // AND a role ttl within both is kept
        assert_eq!(issue(s(H), s(2 * H), def, max).unwrap().ttl, s(H));
        // AND a role max_ttl beyond the mount's is cut to the mount's
        assert_eq!(issue(s(H), s(1000 * H), def, s(4 * H)).unwrap().max_ttl, s(4 * H));
        assert_eq!(issue(s(10 * H), s(0), def, s(4 * H)).unwrap().ttl, s(4 * H));
    }

    #[test]
    fn a_lease_shorter_than_genesys_shortest_token_lifetime_is_refused() {
        let err = issue(s(0), s(0), s(60), s(768 * H)).unwrap_err();
        assert!(err.contains("60 s") && err.contains("300 s"), "{err}");
        assert!(issue(s(600), s(0), s(0), s(299)).is_err());
        assert_eq!(issue(s(300), s(0), s(0), s(300)).unwrap().ttl, s(300));
    }

    #[test]
    fn the_token_lifetime_never_outlives_the_lease() {
        let role = TokenLifetime::new(7200).unwrap();
        assert_eq!(token_lifetime(role, s(H)).seconds(), 3600);
        assert_eq!(token_lifetime(role, s(10 * H)).seconds(), 7200);
        assert_eq!(token_lifetime(role, s(300)).seconds(), 300);
    }

    #[test]
    fn a_renewal_is_clamped_to_the_max_ttl_from_issue() {
        let issued = OffsetDateTime::UNIX_EPOCH;
        let max = s(4 * H);
        // Asked-for increment within the max: granted.
        assert_eq!(renew(issued, issued + s(H), s(H), s(0), s(768 * H), max).unwrap(), s(H));
        // No increment: the role's ttl, else the mount default, each clamped.
        assert_eq!(
            renew(issued, issued + s(H), s(0), s(2 * H), s(768 * H), max).unwrap(),
            s(2 * H)
        );
        assert_eq!(
            renew(issued, issued + s(H), s(0), s(0), s(768 * H), max).unwrap(),
            s(3 * H)
        );
        // Near the end: what is left.
        assert_eq!(
            renew(issued, issued + s(4 * H - 100), s(H), s(0), s(0), max).unwrap(),
            s(100)
        );
        // At or past the end: refused.
        assert!(renew(issued, issued + max, s(H), s(0), s(0), max).is_err());
        assert!(renew(issued, issued + s(5 * H), s(H), s(0), s(0), max).is_err());
    }
}
