//! The life of a managed Genesys client, one code path for both front ends (the Lambdas and the
//! OpenBao engine), each supplying only its storage and its view of who holds what:
//!
//! 1. **Made** by a master, named and marked so the ownership rule can tell it is ours
//!    ([`make`], then [`crate::genesys::GenesysClient::create_client`]).
//! 2. **Waited for** until it works ([`propagation`]): a new client takes seconds to propagate.
//! 3. **Proven**: a stored credential names the client it authenticates as
//!    ([`crate::guard::prove_possession`]).
//! 4. **Renewed** (the clients whose secret a front end keeps, and the masters themselves): a
//!    new secret for the same client, asked once through [`renewal::renew`], whose failure says
//!    what it may have done ([`renewal::Outcome`]: nothing, still in flight, or answered and to
//!    be checked now). The one classification of a failed change; the creates ask it too.
//! 5. **Retired**: deactivated, then deleted after the drain ([`crate::guard::drain`],
//!    [`crate::genesys::GenesysClient::deactivate`], `retire_and_delete`), a soft-deleted client
//!    counting as gone ([`crate::genesys::OAuthClient::is_soft_deleted`]).
//! 6. **Judged** when a pass lists the org: which of a front end's clients that nothing holds
//!    may be deactivated or deleted now ([`crate::guard::orphans`]).
//!
//! Whether a client may be touched at all is the guard's decision ([`crate::guard::decide`]),
//! asked before every deactivate, re-key, delete and credential write.

pub mod make;
pub mod propagation;
pub mod renewal;
