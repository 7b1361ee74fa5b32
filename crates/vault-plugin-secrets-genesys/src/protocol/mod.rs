//! The server's wire protocol (go-plugin, backend protocol v5): handshake, AutoMTLS, broker,
//! the `Backend` gRPC service and the `Storage`/`SystemView` clients, over tonic and rustls.
//! Knows nothing of Genesys: it turns gRPC calls into [`crate::logical`] calls and back.
//!
//! # Layout
//! - [`handshake`]: the environment the server sets and the line printed on stdout.
//! - [`tls`]: this process's certificate; the server's, pinned.
//! - [`listener`]: 127.0.0.1, mTLS per connection.
//! - [`broker`]: go-plugin's broker: where the server offers storage, and dialing it.
//! - [`backend_service`]: `pb.Backend`, onto a [`Backend`].
//! - [`storage_client`]: `pb.Storage` and `pb.SystemView` as [`crate::logical::Storage`] and
//!   [`crate::logical::SystemView`].
//! - [`translate`]: requests, responses, leases and errors on the wire.
//! - [`lifecycle`]: health, controller (shutdown) and stdio.
//! - [`logging`]: hclog JSON on stderr.
//! - [`pb`]: the generated gRPC code.
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::logical::Backend;

pub mod backend_service;
pub mod broker;
pub mod handshake;
pub mod lifecycle;
pub mod listener;
pub mod logging;
pub mod pb;
pub mod storage_client;
pub mod tls;
pub mod translate;

use handshake::PluginEnv;

/// The server sends and accepts messages up to `math.MaxInt32` bytes.
const MAX_MESSAGE: usize = i32::MAX as usize;

/// Serves `backend` to the server that started this process; returns when the server shuts the
/// plugin down. A process not started by a server (no magic cookie) gets a clear message and a
/// non-zero exit.
pub fn run(backend: Arc<dyn Backend>) -> ExitCode {
    let env = match PluginEnv::from_env() {
        Ok(env) => env,
        Err(e) => {
            eprintln!("vault-plugin-secrets-genesys: {e}");
            return ExitCode::FAILURE;
        }
    };
    logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(serve(backend, env));
    // Background tasks (the accept loop, broker streams) end with the runtime, without waiting.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "plugin stopped");
            ExitCode::FAILURE
        }
    }
}

/// Why serving stopped other than by the server's request.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Certificates or TLS configuration.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// Binding the listener or writing the handshake line.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
}

/// Handshake, then serve until the server calls `Shutdown` or goes away.
pub async fn serve(backend: Arc<dyn Backend>, env: PluginEnv) -> Result<(), ServeError> {
    let identity = tls::PluginIdentity::generate()?;
    let server_cert = tls::parse_pem_certificate(&env.client_cert_pem)?;
    let broker = broker::Broker::new(identity.client_config(server_cert.clone())?);
    let listener = listener::bind(env.ports.clone()).await?;
    let addr = listener.local_addr()?;
    let incoming = listener::incoming(listener, identity.server_config(server_cert)?);

    let shutdown = Arc::new(Notify::new());
    let router = tonic::transport::Server::builder()
        .add_service(
            pb::pb::backend_server::BackendServer::new(backend_service::BackendService::new(backend, broker.clone()))
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
        )
        .add_service(pb::plugin::grpc_broker_server::GrpcBrokerServer::new(
            broker::BrokerService::new(broker),
        ))
        .add_service(pb::plugin::grpc_controller_server::GrpcControllerServer::new(
            lifecycle::ControllerService::new(shutdown.clone()),
        ))
        .add_service(pb::plugin::grpc_stdio_server::GrpcStdioServer::new(
            lifecycle::StdioService,
        ))
        .add_service(pb::health::health_server::HealthServer::new(lifecycle::HealthService));

    // Only now, with everything ready: the server connects as soon as it reads the line.
    let line = handshake::handshake_line(addr, identity.cert_der(), env.broker_multiplex_requested);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    drop(stdout);
    tracing::debug!(%addr, "plugin serving");

    tokio::spawn(ignore_interrupts());
    let stop = async move {
        tokio::select! {
            () = shutdown.notified() => tracing::debug!("stopping: the server asked"),
            () = parent_gone() => tracing::info!("stopping: the server process is gone"),
        }
    };
    router.serve_with_incoming_shutdown(incoming, stop).await?;
    Ok(())
}

/// A Ctrl-C in the server's terminal reaches the whole process group; the server decides when
/// its plugins stop (go-plugin's plugins ignore SIGINT too).
async fn ignore_interrupts() {
    loop {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        tracing::debug!("interrupt ignored: the server stops this plugin");
    }
}

/// Resolves when the process that started this one has died (this one was re-parented), so a
/// plugin never outlives a killed server.
async fn parent_gone() {
    let parent = std::os::unix::process::parent_id();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if std::os::unix::process::parent_id() != parent {
            return;
        }
    }
}
