//! The real `rotation` binary, configured as deployed, under a minimal Lambda Runtime API on a
//! loopback port, handed an event that is not a rotation event: the Lambda path
//! (`Rotator::handle_json` with the invocation's deadline) must answer `NonRetryable.InvalidEvent`,
//! log the refusal without echoing the payload, and count it in the EMF metrics on stdout
//! (`StepFailed`, `Step=InvalidEvent`), which the alarms read.

mod runtime_api;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runtime_api::{Answer, REQUEST_ID};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// In the payload, in a field the refusal never quotes: it must appear nowhere.
const MARKER: &str = "payload-marker-7f3e9c1d-never-logged";

/// Collects the lines of a child's stream as they come.
fn collect(stream: impl AsyncRead + Unpin + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// The EMF document counting the refused event, if one was written.
fn invalid_event_count(lines: &[String]) -> Option<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|doc| doc.get("_aws").is_some() && doc.get("StepFailed").is_some() && doc["Step"] == "InvalidEvent")
}

#[tokio::test]
async fn a_malformed_event_on_the_lambda_path_is_refused_logged_and_counted() {
    // GIVEN an event without a ClientRequestToken, whose SecretId carries the marker
    let mut api = runtime_api::start(json!({"Step": "createSecret", "SecretId": MARKER})).await;

    // AND the function with a valid environment; AWS is an address where nothing listens (a
    // malformed event must not reach it), with static credentials (no metadata lookups)
    let mut child = runtime_api::function(&api, true)
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .env("ALLOWED_MASTER_SECRET_ARNS", runtime_api::MASTER_ARN)
        .env("DRAIN_QUEUE_URL", runtime_api::QUEUE_URL)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the rotation binary");
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());

    // WHEN it is invoked
    let answered = api.answer(Duration::from_secs(120)).await;
    // (the metrics are flushed before the answer is posted; give the reader a moment to see them)
    let until = Instant::now() + Duration::from_secs(10);
    while invalid_event_count(&stdout.lock().unwrap()).is_none() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let still_running = child.try_wait().expect("poll the child").is_none();
    child.kill().await.ok();
    let stdout = stdout.lock().unwrap().clone();
    let stderr = stderr.lock().unwrap().clone();

    // THEN it answers NonRetryable.InvalidEvent, naming what is missing
    let Some(Answer::Error { request_id, body }) = answered else {
        panic!("the function did not answer with an error: {answered:?}\nstdout: {stdout:#?}\nstderr: {stderr:#?}");
    };
    assert_eq!(request_id, REQUEST_ID);
    assert_eq!(body["errorType"], "NonRetryable.InvalidEvent", "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("ClientRequestToken"),
        "{body}"
    );
    assert!(still_running, "the function keeps serving after a malformed event");

    // AND logs the refusal as a JSON line at WARN with the errorType
    let logs: Vec<Value> = stdout
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|doc| doc.get("_aws").is_none())
        .collect();
    let refused = logs
        .iter()
        .find(|l| l["fields"]["message"] == "rotation event refused")
        .unwrap_or_else(|| panic!("no refusal logged: {stdout:#?}"));
    assert_eq!(refused["level"], "WARN", "{refused}");
    assert_eq!(
        refused["fields"]["error_type"], "NonRetryable.InvalidEvent",
        "{refused}"
    );

    // AND counts it: StepFailed, Step=InvalidEvent, Retryable=false, tagged with the request id
    let emf = invalid_event_count(&stdout).unwrap_or_else(|| panic!("no StepFailed metric: {stdout:#?}"));
    assert_eq!(emf["StepFailed"].as_f64(), Some(1.0), "{emf}");
    assert_eq!(emf["Retryable"], "false", "{emf}");
    assert_eq!(emf["requestId"], REQUEST_ID, "{emf}");
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "GenesysRotator",
        "{emf}"
    );

    // AND the payload is echoed nowhere: not in the logs, the metrics or the answer
    for line in stdout.iter().chain(&stderr) {
        assert!(!line.contains(MARKER), "the payload was echoed: {line}");
    }
    assert!(!body.to_string().contains(MARKER), "{body}");
}
