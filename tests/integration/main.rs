//! End-to-end tests of the rotation steps against a real moto server and the Genesys emulator,
//! with the harness playing Secrets Manager. One test binary, so it links once.

mod drain;
mod harness;
mod reconcile;
mod rotation;
