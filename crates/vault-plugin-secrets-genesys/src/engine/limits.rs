//! How long things may take: a request, a periodic pass, a fresh client's first token, and how
//! old a record of an external change must be before anyone acts on it as abandoned.
use std::time::Duration;

/// The longest any request runs: every Genesys wait and request inside it is cut to it, and what
/// is still running then is dropped (as a crash would, which every step survives).
pub const OP_DEADLINE: Duration = Duration::from_secs(120);
/// The longest one periodic pass runs (the server calls about once a minute).
pub const PASS_DEADLINE: Duration = Duration::from_secs(50);
/// How old a record of an external change must be before anyone acts on it as abandoned: longer
/// than any request runs ([`OP_DEADLINE`]), plus a minute for a request sent just before a crash
/// to reach Genesys. Also the shortest `rollback_min_age`.
pub const SETTLE: Duration = Duration::from_secs(OP_DEADLINE.as_secs() + 60);
/// How long a fresh client may take to get its first token before it is given up.
pub const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(60);
