//! End-to-end tests of the rotation steps against a real moto server and the Genesys emulator,
//! with the harness playing Secrets Manager. One test binary, so it links once.

mod bad_input;
mod chaos;
#[cfg(feature = "cli")]
mod cli;
#[cfg(feature = "consumer")]
mod consumer;
mod consumer_sdks;
mod credentials;
mod drain;
mod harness;
mod master;
mod proof;
mod reconcile;
mod rotation;
mod secrets_manager;
mod shared_org;
