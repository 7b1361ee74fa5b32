//! A minimal Lambda Runtime API on a loopback port, for running the real `rotation` binary as
//! Lambda would: it hands out one event, then keeps the function waiting, and reports what the
//! function answered.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::mpsc;

/// The request id of the one invocation.
pub const REQUEST_ID: &str = "req-1";

/// What the function posted for an invocation.
#[derive(Debug)]
pub enum Answer {
    /// `POST .../invocation/{id}/response`.
    #[allow(dead_code)] // read through `Debug`, when a test expected an error
    Response { request_id: String, body: Value },
    /// `POST .../invocation/{id}/error`.
    Error { request_id: String, body: Value },
}

#[derive(Clone)]
struct Shared {
    event: Arc<Mutex<Option<Value>>>,
    answers: mpsc::UnboundedSender<Answer>,
}

/// The running Runtime API.
pub struct RuntimeApi {
    /// `AWS_LAMBDA_RUNTIME_API` for the function.
    pub addr: SocketAddr,
    answers: mpsc::UnboundedReceiver<Answer>,
}

impl RuntimeApi {
    /// Serves `event` (deadline 60 s away) to the first poll; later polls wait for ever.
    pub async fn start(event: Value) -> RuntimeApi {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Shared {
            event: Arc::new(Mutex::new(Some(event))),
            answers: tx,
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        RuntimeApi { addr, answers: rx }
    }

    /// The function's answer to the event, if it comes within `timeout`.
    pub async fn answer(&mut self, timeout: Duration) -> Option<Answer> {
        tokio::time::timeout(timeout, self.answers.recv()).await.ok().flatten()
    }
}

async fn next(State(shared): State<Shared>) -> (HeaderMap, String) {
    let event = shared.event.lock().unwrap().take();
    let Some(event) = event else {
        // One invocation only: the function waits here until it is stopped.
        std::future::pending::<()>().await;
        unreachable!()
    };
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(60);
    let mut h = HeaderMap::new();
    h.insert("lambda-runtime-aws-request-id", HeaderValue::from_static(REQUEST_ID));
    h.insert(
        "lambda-runtime-deadline-ms",
        HeaderValue::from_str(&deadline.as_millis().to_string()).unwrap(),
    );
    h.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:rotation"),
    );
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

/// An allowed master secret ARN of the environments these tests give the function.
pub const MASTER_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:genesys/master-AbCdEf";
/// A drain queue URL of the same environments.
#[allow(dead_code)] // not every test binary gives the function a queue
pub const QUEUE_URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/genesys-rotator-drain";

/// The `rotation` binary as Lambda starts it against `api`: the runtime's own variables and a
/// region, nothing else. `with_aws` adds static credentials and an AWS endpoint where nothing
/// listens (no metadata lookups, no call can reach anything); the caller adds the function's own
/// variables.
pub fn function(api: &RuntimeApi, with_aws: bool) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rotation"));
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "rotation")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .kill_on_drop(true);
    if with_aws {
        command
            .env("AWS_ACCESS_KEY_ID", "AKIDTESTONLY")
            .env("AWS_SECRET_ACCESS_KEY", "test-only")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    }
    command
}
