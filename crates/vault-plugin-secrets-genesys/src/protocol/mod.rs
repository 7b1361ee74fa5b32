//! The server's wire protocol (go-plugin, backend protocol v5): handshake, AutoMTLS, broker,
//! the `Backend` gRPC service and the `Storage`/`SystemView` clients, over tonic and rustls.
//! Knows nothing of Genesys: it turns gRPC calls into [`crate::logical`] calls and back.
use std::process::ExitCode;
use std::sync::Arc;

use crate::logical::Backend;

/// Serves `backend` to the server that started this process; returns when the server shuts the
/// plugin down. A process not started by a server (no magic cookie) gets a clear message and a
/// non-zero exit.
pub fn run(backend: Arc<dyn Backend>) -> ExitCode {
    let _ = backend;
    eprintln!("vault-plugin-secrets-genesys: protocol not implemented yet");
    ExitCode::FAILURE
}
