//! genesys-rotator: rotates Genesys Cloud OAuth client credentials held in AWS Secrets Manager,
//! replacing each with a brand-new OAuth client so that no secret lives longer than its schedule.
//!
//! The AWS front end over [`genesys_core`], the Genesys half shared with every other front end:
//! imports point one way, from the handlers (`handlers/`) to the AWS adapters here to the core,
//! which knows nothing of AWS.
//!
//! # Layout
//! - [`lambda`]: the start-up and per-invocation frame both Lambda functions share; the handlers
//!   only call it.
//! - [`config`]: the functions' environment, checked once.
//! - [`secret_format`]: the JSON the integration and master secrets hold, validated.
//! - [`store`]: the Secrets Manager calls, behind a narrow trait.
//! - [`deployment`]: the deployment context every part below reads through: the store, the
//!   configuration, the masters (cached), the served secrets, and the guard's inputs (who holds
//!   what, what a secret can show for a client); its own error, [`deployment::DeploymentError`].
//! - [`rotation`]: the four rotation steps over a deployment, idempotent under Secrets Manager's
//!   retries; for a master secret, the master's own rotation (a new secret for the same client);
//!   retirement, after the guard's decision.
//! - [`drain`]: what happens to the client a rotation replaced: deactivate, queue its deletion.
//! - [`cleanup`]: deletes drained clients from the drain queue, verifying every message.
//! - [`reconcile`]: deletes owned clients no version references, a horizon after their retirement;
//!   guards the client limit.
//! - [`sweep`]: the scheduled reconciliation over every served secret.
//! - [`enroll`]: turns an existing client into a served integration secret, checked first.
//! - [`status`]: read-only: per secret, its rotation schedule, last failure and every client it
//!   has held.
//! - [`inventory`]: read-only: every client of the orgs placed in its secret's life, for operators.
//! - [`metrics`]: the CloudWatch metrics (Embedded Metric Format) and their flush per invocation.
//! - [`error_type`]: the `errorType` a failed invocation reports: `Retryable.*` or `NonRetryable.*`,
//!   then the kind of failure and the call that failed.
//! - `consumer` (cargo feature `consumer`): for programs that *use* the rotated secret: cached
//!   credential and token, authorized requests, recovery from 401 after a rotation.
//! - From the core, re-exported for this crate's users: [`genesys`], [`region`], [`secret`],
//!   [`deadline`], [`guard`] (with the ownership rule), [`lifecycle`], [`domain`], [`classify`]
//!   (the one error classification, whose trait [`Classify`] every error here implements).
#![warn(missing_docs)]

pub mod cleanup;
pub mod config;
#[cfg(feature = "consumer")]
pub mod consumer;
pub mod deployment;
pub mod drain;
pub mod enroll;
pub mod error_type;
pub mod inventory;
pub mod lambda;
pub mod metrics;
pub mod reconcile;
pub mod rotation;
pub mod secret_format;
pub mod status;
pub mod store;
pub mod sweep;

pub use genesys_core::classify::Classify;
pub use genesys_core::{classify, conformance, deadline, domain, genesys, guard, lifecycle, region, role_rule, secret};
