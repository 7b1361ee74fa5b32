//! The real `rotation` binary with a bad environment, under a minimal Lambda Runtime API on a
//! loopback port: it must not exit, and must answer the invocation with
//! `NonRetryable.InvalidConfiguration` naming the variable, so Secrets Manager and the alarms see
//! why (an exit would show only `Runtime.ExitError`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::mpsc;

type Errors = mpsc::UnboundedSender<(String, Value)>;

async fn next(State(_): State<Errors>) -> (HeaderMap, String) {
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(60);
    let mut h = HeaderMap::new();
    h.insert("lambda-runtime-aws-request-id", HeaderValue::from_static("req-1"));
    h.insert(
        "lambda-runtime-deadline-ms",
        HeaderValue::from_str(&deadline.as_millis().to_string()).unwrap(),
    );
    h.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:rotation"),
    );
    let event = serde_json::json!({
        "Step": "createSecret",
        "SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:genesys/crm-AbCdEf",
        "ClientRequestToken": "0b8c5a5e-4f4e-4b8e-9a3f-3c1d2e4f5a6b"
    });
    (h, event.to_string())
}

async fn error(State(errors): State<Errors>, Path(id): Path<String>, body: String) {
    let _ = errors.send((id, serde_json::from_str(&body).unwrap_or(Value::String(body))));
}

#[tokio::test]
async fn a_bad_environment_answers_every_invocation_with_invalid_configuration() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Everything the function needs except DRAIN_QUEUE_URL.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rotation"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "rotation")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env(
            "ALLOWED_MASTER_SECRET_ARNS",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:genesys/master-AbCdEf",
        )
        .kill_on_drop(true)
        .spawn()
        .expect("start the rotation binary");

    let answered = tokio::time::timeout(Duration::from_secs(120), rx.recv()).await;
    let still_running = child.try_wait().expect("poll the child").is_none();
    child.kill().await.ok();

    let (id, body) = answered.expect("the function answered").expect("an error was posted");
    assert_eq!(id, "req-1");
    assert_eq!(body["errorType"], "NonRetryable.InvalidConfiguration", "{body}");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("DRAIN_QUEUE_URL"), "{message}");
    assert!(still_running, "the function exited instead of answering invocations");
}
