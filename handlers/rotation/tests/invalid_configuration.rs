//! The real `rotation` binary with a bad environment, under a minimal Lambda Runtime API on a
//! loopback port: it must not exit, and must answer the invocation with
//! `NonRetryable.InvalidConfiguration` naming the variable, so Secrets Manager and the alarms see
//! why (an exit would show only `Runtime.ExitError`).

mod runtime_api;

use std::time::Duration;

use runtime_api::{Answer, REQUEST_ID};

#[tokio::test]
async fn a_bad_environment_answers_every_invocation_with_invalid_configuration() {
    let mut api = runtime_api::start(serde_json::json!({
        "Step": "createSecret",
        "SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:genesys/crm-AbCdEf",
        "ClientRequestToken": "0b8c5a5e-4f4e-4b8e-9a3f-3c1d2e4f5a6b"
    }))
    .await;

    // Everything the function needs except DRAIN_QUEUE_URL.
    let mut child = runtime_api::function(&api, false)
        .env("ALLOWED_MASTER_SECRET_ARNS", runtime_api::MASTER_ARN)
        .spawn()
        .expect("start the rotation binary");

    let answered = api.answer(Duration::from_secs(120)).await;
    let still_running = child.try_wait().expect("poll the child").is_none();
    child.kill().await.ok();

    let Some(Answer::Error { request_id, body }) = answered else {
        panic!("the function did not answer with an error: {answered:?}");
    };
    assert_eq!(request_id, REQUEST_ID);
    assert_eq!(body["errorType"], "NonRetryable.InvalidConfiguration", "{body}");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("DRAIN_QUEUE_URL"), "{message}");
    assert!(still_running, "the function exited instead of answering invocations");
}
