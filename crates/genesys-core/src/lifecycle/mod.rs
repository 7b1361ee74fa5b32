//! The life of a managed Genesys client, one code path for both front ends (the Lambdas and the
//! OpenBao engine), each supplying only its storage and its view of who holds what:
//!
//! 1. **Made** by a master, named and marked so the ownership rule can tell it is ours
//!    ([`make`], then [`crate::genesys::GenesysClient::create_client`]).
//! 2. **Waited for** until it works ([`propagation`]): a new client takes seconds to propagate.
//! 3. **Proven**: a stored credential names the client it authenticates as
//!    ([`crate::guard::prove_possession`]).
//! 4. **Retired**: deactivated, then deleted after the drain ([`crate::guard::drain`],
//!    [`crate::genesys::GenesysClient::deactivate`], `retire_and_delete`), a soft-deleted client
//!    counting as gone ([`crate::genesys::OAuthClient::is_soft_deleted`]).
//! 5. **Judged** when a pass lists the org: which of a front end's clients that nothing holds
//!    may be deactivated or deleted now ([`crate::guard::orphans`]).
//!
//! Whether a client may be touched at all is the guard's decision ([`crate::guard::decide`]),
//! asked before every deactivate, re-key, delete and credential write.

pub mod make;
pub mod propagation;
