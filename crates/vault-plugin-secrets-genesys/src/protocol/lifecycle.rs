//! The services go-plugin's client expects of every gRPC plugin besides its own: health (checked
//! before the connection is used), the controller (`Shutdown`: the server is done with this
//! process) and stdio (the plugin's stdout/stderr as a stream; this plugin sends none there, its
//! logs go to stderr, which the server reads directly).
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::Notify;
use tonic::{Request, Response, Status};

use super::pb::health::health_check_response::ServingStatus;
use super::pb::health::health_server::Health;
use super::pb::health::{HealthCheckRequest, HealthCheckResponse};
use super::pb::plugin::grpc_controller_server::GrpcController;
use super::pb::plugin::grpc_stdio_server::GrpcStdio;
use super::pb::plugin::{Empty, StdioData};

/// The service name go-plugin's client checks.
const PLUGIN_SERVICE: &str = "plugin";

/// `grpc.health.v1.Health`: serving as long as the process runs.
#[derive(Debug, Default, Clone)]
pub struct HealthService;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(&self, request: Request<HealthCheckRequest>) -> Result<Response<HealthCheckResponse>, Status> {
        let service = request.into_inner().service;
        if service.is_empty() || service == PLUGIN_SERVICE {
            Ok(Response::new(HealthCheckResponse {
                status: ServingStatus::Serving as i32,
            }))
        } else {
            Err(Status::not_found(format!("unknown service {service:?}")))
        }
    }
}

/// `plugin.GRPCController`: `Shutdown` wakes whoever waits on the notifier.
#[derive(Debug, Clone)]
pub struct ControllerService {
    shutdown: Arc<Notify>,
}

impl ControllerService {
    /// A controller that signals `shutdown`.
    pub fn new(shutdown: Arc<Notify>) -> ControllerService {
        ControllerService { shutdown }
    }
}

#[tonic::async_trait]
impl GrpcController for ControllerService {
    async fn shutdown(&self, _: Request<Empty>) -> Result<Response<Empty>, Status> {
        tracing::debug!("shutdown requested by the server");
        // notify_one keeps the permit if nobody waits yet: a shutdown is never lost.
        self.shutdown.notify_one();
        Ok(Response::new(Empty {}))
    }
}

/// `plugin.GRPCStdio`: an empty stream (nothing is written to stdout after the handshake).
#[derive(Debug, Default, Clone)]
pub struct StdioService;

type StdioStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<StdioData, Status>> + Send>>;

#[tonic::async_trait]
impl GrpcStdio for StdioService {
    type StreamStdioStream = StdioStream;

    async fn stream_stdio(&self, _: Request<()>) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(Box::pin(tokio_stream::empty())))
    }
}
