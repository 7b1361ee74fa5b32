//! genesys-rotator: rotates Genesys Cloud OAuth client credentials held in AWS Secrets Manager,
//! replacing each with a brand-new OAuth client so that no secret lives longer than its schedule.
//!
//! # Layout
//! - [`config`]: the function's environment and the JSON of the secrets it rotates, checked once.
//! - [`region`]: the 18 Genesys Cloud regions and their hosts; loopback overrides for test and
//!   demo builds (cargo feature `endpoint-overrides`).
//! - [`secret`]: credential and token types that cannot be printed by accident.
//! - [`deadline`]: the instant a rotation step must finish by, read from the Lambda context.
//! - [`genesys`]: the one HTTP client for Genesys Cloud: typed models, errors, retries, token cache.
//! - [`store`]: the Secrets Manager calls a rotation makes, behind a narrow trait.
//! - [`rotation`]: the four rotation steps, idempotent under Secrets Manager's retries; for a
//!   master secret, the master's own rotation (a new secret for the same client).
//! - [`drain`]: what happens to the client a rotation replaced: deactivate, queue its deletion.
//! - [`cleanup`]: deletes drained clients from the drain queue, refusing any wrong delete.
//! - [`ownership`]: the one rule saying whether a client belongs to a secret (and since when it is
//!   retired); every deactivate and delete asks it first.
//! - [`reconcile`]: deletes owned clients no version references, a horizon after their retirement;
//!   guards the client limit.
//! - [`metrics`]: the CloudWatch metrics (Embedded Metric Format) and their flush per invocation.
//! - [`error_type`]: the `errorType` a failed invocation reports: `Retryable.*` or `NonRetryable.*`.
//! - [`inventory`]: read-only: every client of the orgs placed in its secret's life, for operators.
//! - `consumer` (cargo feature `consumer`): for programs that *use* the rotated secret: cached
//!   credential and token, authorized requests, recovery from 401 after a rotation.
#![warn(missing_docs)]

pub mod cleanup;
pub mod config;
#[cfg(feature = "consumer")]
pub mod consumer;
pub mod deadline;
pub mod drain;
pub mod error_type;
pub mod genesys;
pub mod inventory;
pub mod metrics;
pub mod ownership;
pub mod reconcile;
pub mod region;
pub mod rotation;
pub mod secret;
pub mod store;
