//! Test harness: a real moto server per test, the Genesys emulator in-process, a store wrapper
//! that fails chosen calls, and a player that does what Secrets Manager does around a rotation
//! function (moto cannot run Lambdas). One file per role; this one re-exports what the tests use.

mod fidelity;
mod lambda;
mod logs;
mod moto;
mod org;
mod sqs;
mod store;
mod world;

pub use lambda::Function;
pub use logs::LogCapture;
pub use org::{endpoint_overrides, tokens_me_status, Org, MASTER_PERMISSIONS, ROLE};
pub use sqs::SqsPlayer;
pub use store::{put_as_aws, FaultyStore, When};
pub use world::{event, step_with, DrainWorld, Seeded, TestRotator, World, PREFIX};
