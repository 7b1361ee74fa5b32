//! The deployment context: what one deployment serves and reads with, shared by every part of
//! the AWS front end that reads its secrets (the rotation steps, the cleanup and its scheduled
//! pass, `status`, `inventory`, `enroll`, `check`), none of which needs the steps themselves.
//!
//! - `context`: [`Deployment`]: the store, the configuration, the HTTP client and the master
//!   cache, with the checked reads of a served secret and the served set.
//! - `masters`: the master clients, cached per master secret version and region.
//! - `guard`: the guard's inputs: every possible holder read once ([`Census`]), and what a secret
//!   can show for a client (owned or proven). The decision is the core's
//!   [`genesys_core::guard::decide`].
//! - `invocation`: what one invocation reads once (the masters' values).
//! - `error`: [`DeploymentError`], classified by the one [`genesys_core::classify::Classify`].

mod context;
mod error;
pub(crate) mod guard;
mod invocation;
mod master_cache;
mod masters;

pub use context::Deployment;
pub use error::DeploymentError;
pub(crate) use invocation::scope;
