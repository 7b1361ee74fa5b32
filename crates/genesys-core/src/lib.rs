//! genesys-core: the Genesys Cloud half of genesys-rotator, shared by every front end (the AWS
//! Lambdas today, a secrets engine for OpenBao and HashiCorp Vault next). It knows nothing of
//! AWS: no `aws-*` crate, no Lambda runtime.
//!
//! # Layout
//! - [`conformance`]: a live check of the rotator's assumptions against a real org, with one
//!   throwaway client (`genesys-rotator conformance`).
//! - [`domain`]: validated domain types (the managed-name prefix, version and client ids, token
//!   lifetimes), each valid by construction.
//! - [`client_limit`]: the org's OAuth client limit: what counts against it, and the margin kept
//!   free under it (the one rule both front ends refuse a create by).
//! - [`guard`]: the one room for the rules deciding whether a client may be deactivated,
//!   re-keyed, deleted or written into a credential: ownership, proof of possession, holders
//!   org-wide (fail closed), the drain, when an unheld client may go; every such path asks it.
//! - [`lifecycle`]: the life of a managed client, stage by stage (made, waited for until it
//!   works, proven, renewed, retired, judged), the code both front ends run; among it the one
//!   classification of what a failed change may have done (`lifecycle::renewal::Outcome`).
//! - [`genesys`]: the one HTTP client for Genesys Cloud: typed models, errors, retries, tokens.
//! - [`role_rule`]: a client's roles must be held by its creator (unconfirmed for masters):
//!   which role-divisions a master lacks.
//! - [`region`]: the Genesys Cloud regions and their hosts; test-only loopback overrides.
//! - [`secret`]: credential and token types that cannot be printed by accident.
//! - [`deadline`]: the instant the running operation must finish by, honoured by every wait.
//! - [`backoff`]: the one backoff policy (exponential ceilings, jittered waits).
//! - [`classify`]: the one error classification (retryable or not, a kind, the call that failed)
//!   all errors share.
#![warn(missing_docs)]

pub mod backoff;
pub mod classify;
pub mod client_limit;
pub mod conformance;
pub mod deadline;
pub mod domain;
pub mod genesys;
pub mod guard;
pub mod lifecycle;
pub mod region;
pub mod role_rule;
pub mod secret;
