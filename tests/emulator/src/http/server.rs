//! Our own accept loop, so that a fault can kill exactly one connection mid-request.
//!
//! `axum::serve` gives a handler no way to close its connection without answering. Here each
//! connection is served by hyper's HTTP/1.1 `serve_connection` in its own task, next to a
//! [`Notify`]; every request carries a [`ConnectionHandle`] to it. A `Drop` fault notifies and
//! leaves its response future pending; the connection task then drops the hyper connection, which
//! closes the socket, so the client sees a connection error and never a status.
//!
//! Only HTTP/1.1 is served (no h2 upgrade): one connection then carries one request at a time,
//! so a dropped connection affects exactly the request that hit the fault. Clients that reused a
//! pooled keep-alive connection just see that connection die under that one request.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// Lets a request ask for its own connection to be dropped.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionHandle(Arc<Notify>);

impl ConnectionHandle {
    pub(crate) fn drop_connection(&self) {
        // notify_one stores a permit, so the signal is not lost if the connection task is
        // not waiting at this very moment.
        self.0.notify_one();
    }
}

/// Accepts connections until the task is aborted; aborting it aborts every connection (the
/// `JoinSet` is dropped with it).
pub(crate) async fn serve(listener: TcpListener, app: Router) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, app.clone()));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            },
            // Reap finished connection tasks so the set does not grow forever.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, app: Router) {
    let _ = stream.set_nodelay(true);
    let kill = Arc::new(Notify::new());
    let handle = ConnectionHandle(kill.clone());
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(handle.clone());
        let app = app.clone();
        async move {
            let resp = app.oneshot(req.map(Body::new)).await;
            Ok::<_, Infallible>(match resp {
                Ok(resp) => resp,
                Err(never) => match never {},
            })
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = kill.notified() => {
            // Dropping the connection future closes the socket without a response.
            tracing::debug!("connection dropped by a fault");
        }
    }
}
