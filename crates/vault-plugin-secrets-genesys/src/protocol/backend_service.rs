//! The `pb.Backend` service (OpenBao's `sdk/plugin/grpc_backend_server.go`): `Setup` dials the
//! broker id it is given and keeps the mount's storage and system view as the [`Context`] of
//! every later call; requests are translated and handed to the [`Backend`]. One backend instance
//! per process: multiplexing is not offered, so the server starts one process per mount.
use std::sync::Arc;

use tokio::sync::RwLock;
use tonic::{Request, Response, Status};

use super::broker::Broker;
use super::pb::pb;
use super::pb::pb::backend_server;
use super::storage_client::BrokeredServer;
use super::translate;
use crate::logical::{Backend, Context};

/// `logical.TypeLogical`: a secrets engine (credential backends are type 2).
const TYPE_LOGICAL: u32 = 1;

/// The backend, and the context `Setup` made for it.
pub struct BackendService {
    backend: Arc<dyn Backend>,
    broker: Arc<Broker>,
    context: RwLock<Option<Context>>,
}

impl BackendService {
    /// Serves `backend`, reaching the server's storage through `broker`.
    pub fn new(backend: Arc<dyn Backend>, broker: Arc<Broker>) -> BackendService {
        BackendService {
            backend,
            broker,
            context: RwLock::new(None),
        }
    }

    async fn context(&self) -> Result<Context, Status> {
        // The server's own message for a call before Setup.
        self.context
            .read()
            .await
            .clone()
            .ok_or_else(|| Status::unknown("no backend instance found"))
    }
}

#[tonic::async_trait]
impl backend_server::Backend for BackendService {
    async fn handle_request(
        &self,
        request: Request<pb::HandleRequestArgs>,
    ) -> Result<Response<pb::HandleRequestReply>, Status> {
        let ctx = self.context().await?;
        let wire = request.into_inner().request.unwrap_or_default();
        // The wire name: operations the model does not know arrive as `Other("unknown")`.
        let operation = wire.operation.clone();
        let req = translate::request_from_wire(wire).map_err(|e| Status::invalid_argument(e.to_string()))?;
        // Operation and path only: the data may hold secrets.
        let path = req.path.clone();
        let result = self.backend.handle(&ctx, req).await;
        match &result {
            Ok(_) => tracing::debug!(%operation, path, "handled"),
            Err(error) => tracing::debug!(%operation, path, %error, "refused"),
        }
        Ok(Response::new(translate::reply_to_wire(result)))
    }

    async fn special_paths(&self, _: Request<pb::Empty>) -> Result<Response<pb::SpecialPathsReply>, Status> {
        Ok(Response::new(pb::SpecialPathsReply {
            paths: Some(translate::paths_to_wire(self.backend.special_paths())),
        }))
    }

    async fn handle_existence_check(
        &self,
        request: Request<pb::HandleExistenceCheckArgs>,
    ) -> Result<Response<pb::HandleExistenceCheckReply>, Status> {
        let ctx = self.context().await?;
        let wire = request.into_inner().request.unwrap_or_default();
        let req = translate::request_from_wire(wire).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let reply = match self.backend.existence_check(&ctx, &req).await {
            Ok(None) => pb::HandleExistenceCheckReply::default(),
            Ok(Some(exists)) => pb::HandleExistenceCheckReply {
                check_found: true,
                exists,
                err: None,
            },
            Err(error) => pb::HandleExistenceCheckReply {
                err: Some(translate::error_to_wire(&error)),
                ..pb::HandleExistenceCheckReply::default()
            },
        };
        Ok(Response::new(reply))
    }

    async fn cleanup(&self, _: Request<pb::Empty>) -> Result<Response<pb::Empty>, Status> {
        self.backend.cleanup().await;
        // Dropping the context closes the broker connection, as the Go server does.
        self.context.write().await.take();
        tracing::info!("backend cleaned up");
        Ok(Response::new(pb::Empty {}))
    }

    async fn invalidate_key(&self, request: Request<pb::InvalidateKeyArgs>) -> Result<Response<pb::Empty>, Status> {
        self.backend.invalidate(&request.into_inner().key).await;
        Ok(Response::new(pb::Empty {}))
    }

    async fn setup(&self, request: Request<pb::SetupArgs>) -> Result<Response<pb::SetupReply>, Status> {
        let args = request.into_inner();
        let channel = self
            .broker
            .dial(args.broker_id)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let server = Arc::new(BrokeredServer::new(channel));
        *self.context.write().await = Some(Context {
            storage: server.clone(),
            system: server,
        });
        tracing::info!(backend_uuid = args.backend_uuid, "backend set up");
        Ok(Response::new(pb::SetupReply::default()))
    }

    async fn initialize(&self, _: Request<pb::InitializeArgs>) -> Result<Response<pb::InitializeReply>, Status> {
        let ctx = self.context().await?;
        let err = self
            .backend
            .initialize(&ctx)
            .await
            .err()
            .map(|e| translate::error_to_wire(&e));
        Ok(Response::new(pb::InitializeReply { err }))
    }

    async fn r#type(&self, _: Request<pb::Empty>) -> Result<Response<pb::TypeReply>, Status> {
        Ok(Response::new(pb::TypeReply { r#type: TYPE_LOGICAL }))
    }
}
