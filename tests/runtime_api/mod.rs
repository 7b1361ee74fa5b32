//! A Lambda Runtime API on a loopback port, for running the workspace's real Lambda binaries as
//! Lambda does: it hands the function the events a test sends, one per poll, each with a
//! request id and a deadline, and returns what the function answered. A poll with no event
//! waits, as a warm function waits for its next invocation. Shared by the integration harness
//! (`tests/integration/harness/lambda.rs`) and the rotation binary's own tests
//! (`handlers/rotation/tests/`), through `#[path]`.

#![allow(dead_code)] // each test binary uses its part

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::{mpsc, Mutex};

/// What the function posted for an invocation.
#[derive(Debug)]
pub enum Answer {
    /// `POST .../invocation/{id}/response`.
    Response {
        /// The invocation.
        request_id: String,
        /// What it answered (JSON, or the raw text as a string).
        body: Value,
    },
    /// `POST .../invocation/{id}/error`.
    Error {
        /// The invocation.
        request_id: String,
        /// The error body.
        body: Value,
    },
}

/// One invocation waiting for a poll.
struct Invocation {
    request_id: String,
    event: Value,
}

#[derive(Clone)]
struct Shared {
    invocations: Arc<Mutex<mpsc::UnboundedReceiver<Invocation>>>,
    answers: mpsc::UnboundedSender<Answer>,
    function_arn: HeaderValue,
    deadline: Duration,
}

/// The running Runtime API.
pub struct RuntimeApi {
    /// `AWS_LAMBDA_RUNTIME_API` for the function.
    pub addr: SocketAddr,
    invocations: mpsc::UnboundedSender<Invocation>,
    answers: mpsc::UnboundedReceiver<Answer>,
}

impl RuntimeApi {
    /// Serves the invocations of `function_arn`, each with a deadline `deadline` after its poll.
    pub async fn start(function_arn: &str, deadline: Duration) -> RuntimeApi {
        let (invocation_tx, invocation_rx) = mpsc::unbounded_channel();
        let (answer_tx, answer_rx) = mpsc::unbounded_channel();
        let shared = Shared {
            invocations: Arc::new(Mutex::new(invocation_rx)),
            answers: answer_tx,
            function_arn: HeaderValue::from_str(function_arn).expect("an ARN is a header value"),
            deadline,
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        RuntimeApi {
            addr,
            invocations: invocation_tx,
            answers: answer_rx,
        }
    }

    /// Queues invocation `request_id` of `event` for the function's next poll.
    pub fn invoke(&self, request_id: &str, event: Value) {
        self.invocations
            .send(Invocation {
                request_id: request_id.to_owned(),
                event,
            })
            .expect("the runtime API is up");
    }

    /// The function's next answer, if it comes within `timeout`.
    pub async fn answer(&mut self, timeout: Duration) -> Option<Answer> {
        tokio::time::timeout(timeout, self.answers.recv()).await.ok().flatten()
    }
}

async fn next(State(shared): State<Shared>) -> (HeaderMap, String) {
    let invocation = shared.invocations.lock().await.recv().await;
    let Some(Invocation { request_id, event }) = invocation else {
        std::future::pending::<()>().await;
        unreachable!()
    };
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + shared.deadline;
    let mut h = HeaderMap::new();
    h.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_str(&request_id).expect("a request id is a header value"),
    );
    h.insert(
        "lambda-runtime-deadline-ms",
        HeaderValue::from_str(&deadline.as_millis().to_string()).unwrap(),
    );
    h.insert("lambda-runtime-invoked-function-arn", shared.function_arn.clone());
    (h, event.to_string())
}

fn parse(body: String) -> Value {
    serde_json::from_str(&body).unwrap_or(Value::String(body))
}

async fn response(State(shared): State<Shared>, Path(request_id): Path<String>, body: String) {
    let _ = shared.answers.send(Answer::Response {
        request_id,
        body: parse(body),
    });
}

async fn error(State(shared): State<Shared>, Path(request_id): Path<String>, body: String) {
    let _ = shared.answers.send(Answer::Error {
        request_id,
        body: parse(body),
    });
}
