//! vault-plugin-secrets-genesys: a Genesys Cloud secrets engine for OpenBao and HashiCorp Vault,
//! loaded by the server as an external plugin.
//!
//! Imports point one way: [`protocol`] (the go-plugin handshake, AutoMTLS, the gRPC broker and
//! the `Backend` service) speaks the server's wire protocol and knows nothing of Genesys;
//! [`engine`] (paths, roles, leases, write-ahead records) knows nothing of gRPC; both meet in
//! [`logical`], the request/response/storage model of a logical backend. The Genesys Cloud side is
//! `genesys_core`, shared with the AWS Lambdas.
#![warn(missing_docs)]

pub mod engine;
pub mod logical;
pub mod protocol;
