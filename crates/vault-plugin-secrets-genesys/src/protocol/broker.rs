//! go-plugin's gRPC broker, plugin side (grpc_broker.go). The server opens `StartStream` and
//! sends a `ConnInfo` (network, address) for each service it offers back to the plugin, under a
//! broker id; `Setup` then names the id of the mount's storage and system view, and the plugin
//! dials that address (a Unix socket or TCP) over mTLS: the server's listener presents its
//! AutoMTLS certificate and requires the plugin's.
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, Notify};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status, Streaming};

use super::pb::plugin::grpc_broker_server::GrpcBroker;
use super::pb::plugin::ConnInfo;
use super::tls::PEER_NAME;

/// How long `Setup` waits for the server to announce the id it names (go-plugin's own wait).
const CONN_INFO_WAIT: Duration = Duration::from_secs(5);

/// Why a broker connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The server never announced the id.
    #[error("timeout waiting for connection info for broker id {0}")]
    NoConnInfo(u32),
    /// An announced network this plugin does not dial.
    #[error("unknown broker network {0:?}")]
    UnknownNetwork(String),
    /// Connecting or the TLS handshake failed.
    #[error("connecting to broker id {id} at {address}: {source}")]
    Connect {
        /// The broker id.
        id: u32,
        /// Where the server listens.
        address: String,
        /// What failed.
        source: tonic::transport::Error,
    },
}

/// The announcements received, and the TLS to dial them with.
#[derive(Debug)]
pub struct Broker {
    announced: Mutex<HashMap<u32, ConnInfo>>,
    arrived: Notify,
    tls: Arc<rustls::ClientConfig>,
}

impl Broker {
    /// A broker that dials with `tls` (pinning the server's certificate).
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Arc<Broker> {
        Arc::new(Broker {
            announced: Mutex::new(HashMap::new()),
            arrived: Notify::new(),
            tls,
        })
    }

    fn announce(&self, info: ConnInfo) {
        if info.knock.is_some() {
            // Knocks belong to broker multiplexing, refused in the handshake.
            tracing::warn!(broker_id = info.service_id, "ignoring a broker multiplexing knock");
            return;
        }
        self.announced.lock().unwrap().insert(info.service_id, info);
        self.arrived.notify_waiters();
    }

    async fn wait_for(&self, id: u32) -> Result<ConnInfo, DialError> {
        let wait = async {
            loop {
                let notified = self.arrived.notified();
                if let Some(info) = self.announced.lock().unwrap().remove(&id) {
                    return info;
                }
                notified.await;
            }
        };
        tokio::time::timeout(CONN_INFO_WAIT, wait)
            .await
            .map_err(|_| DialError::NoConnInfo(id))
    }

    /// A gRPC channel to the server's service `id`, once announced.
    pub async fn dial(&self, id: u32) -> Result<Channel, DialError> {
        let info = self.wait_for(id).await?;
        let target = match info.network.as_str() {
            "unix" => Target::Unix(info.address.clone()),
            "tcp" => Target::Tcp(info.address.clone()),
            other => return Err(DialError::UnknownNetwork(other.to_string())),
        };
        let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
        // The URI is not dialed (the connector below is); tonic needs one for :authority.
        Endpoint::from_static("http://localhost")
            .connect_with_connector(tower::service_fn(move |_uri| {
                let (target, connector) = (target.clone(), connector.clone());
                async move {
                    let stream = target.connect().await?;
                    let name = rustls::pki_types::ServerName::try_from(PEER_NAME).expect("a valid DNS name");
                    let tls = connector.connect(name, stream).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(tls))
                }
            }))
            .await
            .map_err(|source| DialError::Connect {
                id,
                address: info.address,
                source,
            })
    }
}

/// Where a broker service listens.
#[derive(Debug, Clone)]
enum Target {
    Unix(String),
    Tcp(String),
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

impl Target {
    async fn connect(&self) -> std::io::Result<Box<dyn Io>> {
        Ok(match self {
            Target::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
            Target::Tcp(addr) => {
                // As on the listener (listener.rs): no Nagle delay on small gRPC frames.
                let stream = tokio::net::TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                Box::new(stream)
            }
        })
    }
}

/// The `plugin.GRPCBroker` service.
#[derive(Debug, Clone)]
pub struct BrokerService {
    broker: Arc<Broker>,
}

impl BrokerService {
    /// The service feeding `broker`.
    pub fn new(broker: Arc<Broker>) -> BrokerService {
        BrokerService { broker }
    }
}

type ConnInfoStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<ConnInfo, Status>> + Send>>;

#[tonic::async_trait]
impl GrpcBroker for BrokerService {
    type StartStreamStream = ConnInfoStream;

    async fn start_stream(
        &self,
        request: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut incoming = request.into_inner();
        let broker = self.broker.clone();
        // The plugin announces nothing of its own (it offers the server no services), but the
        // stream stays open as long as the server keeps it.
        let (keep_open, outgoing) = mpsc::channel::<Result<ConnInfo, Status>>(1);
        tokio::spawn(async move {
            while let Some(message) = incoming.next().await {
                match message {
                    Ok(info) => broker.announce(info),
                    Err(status) => {
                        tracing::debug!(code = ?status.code(), "broker stream ended");
                        break;
                    }
                }
            }
            drop(keep_open);
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(outgoing))))
    }
}
