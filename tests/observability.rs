//! Logs and metrics exactly as the Lambdas emit them: lambda_runtime's own subscriber with
//! `AWS_LAMBDA_LOG_FORMAT=JSON` (what the template's LoggingConfig sets) and the EMF recorder the
//! handlers install, over real rotations, a drain, a cleanup, a failed step, a malformed event
//! and a reconciliation against moto and the Genesys emulator.
//!
//! Its own test binary, with one test: a tracing subscriber and a metrics recorder are set once
//! per process, and the counts asserted here must be this test's alone.

// The harness serves tests/integration too; this binary uses only part of it.
#[allow(dead_code, unused_imports)]
#[path = "integration/harness/mod.rs"]
mod harness;

use genesys_rotator::Classify;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use genesys_rotator::metrics::{
    Emitter, CLEANUP_FAILURES, CLIENTS_DELETED, CLIENT_LIMIT_HEADROOM, METRICS, NAMESPACE, ORG_CLIENT_LIMIT_HEADROOM,
    ORPHANS_FOUND, STEP_FAILED, STEP_FAILED_BY_KIND, STEP_SUCCEEDED,
};
use genesys_rotator::rotation::{RotationError, Step};
use genesys_rotator::store::AWSCURRENT;
use serde_json::{json, Value};
use time::OffsetDateTime;

use harness::{DrainWorld, Seeded, PREFIX};

/// Everything written to "stdout": log lines and EMF lines alike.
#[derive(Clone, Default)]
struct Stdout(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Stdout {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("stdout is UTF-8")
    }
}

/// One metric value of one EMF document: (metric, dimensions) -> values.
type Points = BTreeMap<(String, BTreeMap<String, String>), Vec<f64>>;

/// Checks an EMF document against the specification's rules and `src/metrics.rs`, and adds its
/// values to `points`.
fn read_emf(doc: &Value, points: &mut Points) {
    let aws = &doc["_aws"];
    assert!(
        aws["Timestamp"].as_u64().is_some_and(|t| t > 1_600_000_000_000),
        "Timestamp in ms: {doc}"
    );
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics is an array");
    assert_eq!(directives.len(), 1, "{doc}");
    let directive = &directives[0];
    assert_eq!(directive["Namespace"], NAMESPACE);
    let dimension_sets = directive["Dimensions"].as_array().expect("Dimensions is an array");
    assert_eq!(dimension_sets.len(), 1, "one dimension set per document: {doc}");
    let dims: Vec<&str> = dimension_sets[0]
        .as_array()
        .expect("a dimension set is an array")
        .iter()
        .map(|d| d.as_str().expect("dimension names are strings"))
        .collect();
    assert!(dims.len() <= 30, "EMF allows at most 30 dimensions");
    let mut dim_values = BTreeMap::new();
    for d in &dims {
        let v = doc[*d]
            .as_str()
            .unwrap_or_else(|| panic!("dimension {d} has a string value at the root: {doc}"));
        dim_values.insert(d.to_string(), v.to_owned());
    }
    assert_eq!(
        doc["requestId"], "request-1",
        "the invocation's request id is a property"
    );
    let metrics = directive["Metrics"].as_array().expect("Metrics is an array");
    assert!(!metrics.is_empty() && metrics.len() <= 100, "{doc}");
    for m in metrics {
        let name = m["Name"].as_str().expect("a metric has a Name");
        assert_eq!(m["Unit"], "Count", "{name}: described with its unit");
        let def = METRICS
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} is not declared in src/metrics.rs"));
        let declared: BTreeSet<&str> = def.dimensions.iter().copied().collect();
        assert_eq!(
            dims.iter().copied().collect::<BTreeSet<_>>(),
            declared,
            "{name}'s dimensions"
        );
        for (i, d) in def.dimensions.iter().enumerate() {
            // An empty list is an open set (a kind, a client id): any non-empty value.
            assert!(
                def.values[i].contains(&dim_values[*d].as_str())
                    || (def.values[i].is_empty() && !dim_values[*d].is_empty()),
                "{name} {d}={}",
                dim_values[*d]
            );
        }
        let values = match &doc[name] {
            Value::Number(n) => vec![n.as_f64().unwrap()],
            Value::Array(a) => a.iter().map(|v| v.as_f64().expect("numeric values")).collect(),
            other => panic!("{name}: value {other} is neither a number nor an array of numbers"),
        };
        points
            .entry((name.to_owned(), dim_values.clone()))
            .or_default()
            .extend(values);
    }
}

fn sum(points: &Points, name: &str, dims: &[(&str, &str)]) -> f64 {
    let dims: BTreeMap<String, String> = dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    points
        .get(&(name.to_owned(), dims))
        .map(|v| v.iter().sum())
        .unwrap_or(0.0)
}

#[test]
fn json_logs_and_emf_metrics_carry_ids_and_outcomes_and_never_a_secret() {
    // What Lambda sets for a function whose LoggingConfig is JSON at INFO; set before any thread
    // starts.
    std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
    std::env::set_var("AWS_LAMBDA_LOG_LEVEL", "INFO");
    std::env::set_var("RUST_LOG", "info");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(scenario());
}

async fn scenario() {
    let stdout = Stdout::default();
    let writer = stdout.clone();
    lambda_runtime::tracing::init_default_subscriber_with_writer(move || writer.clone());
    let emitter = Emitter::install().expect("the recorder installs once");

    // GIVEN a secret rotated twice (the first retires the legacy client, the second a managed one)
    let dw = DrainWorld::new(&[]).await;
    let org = dw.w.org();
    let arn = dw.w.integration_secret().await;
    let r1 = dw.rotate(&arn, 1).await;
    let managed1 = r1.outcomes[0]
        .client_id()
        .expect("createSecret names its client")
        .to_owned();
    dw.rotate(&arn, 1).await;
    let current = dw.w.client_id(&arn, AWSCURRENT).await;

    // AND the drain queue delivered once both drains passed: the managed client is deleted, the
    // legacy one (outside the prefix) refused
    let due = OffsetDateTime::now_utc() + Duration::from_secs(26 * 3600);
    dw.player.deliver_all(&dw.cleanup, due, 5).await;
    assert!(org.client(&managed1).is_none(), "drained client deleted");

    // AND a step that fails for good (the secret's credential is wrong), and a malformed event
    let mut bad = dw.w.integration_json(0);
    bad["clientSecret"] = json!("wrong-secret-value-xyz");
    let broken = dw.w.create_secret("genesys/broken", &bad).await;
    let token = dw.w.begin_rotation(&broken, true).await;
    let err = dw.step(&broken, &token, Step::TestSecret).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    let invalid = dw
        .rotator
        // As the Lambda calls it: with the invocation's deadline.
        .handle_json(
            &json!({"Step": "createSecret"}),
            Some(std::time::Instant::now() + Duration::from_secs(60)),
        )
        .await
        .unwrap_err();
    assert!(matches!(invalid, RotationError::Event(_)));

    // AND a scheduled reconciliation that finds one old orphan
    let (orphan, _) =
        dw.w.seed_owned(
            0,
            &arn,
            PREFIX,
            OffsetDateTime::now_utc() - Duration::from_secs(72 * 3600),
            Seeded::LostSecret,
        )
        .await;
    let report =
        dw.w.reconcile(std::slice::from_ref(&arn), OffsetDateTime::now_utc(), false)
            .await;
    assert_eq!(report.deleted.len(), 1, "{report:?}");
    assert!(org.client(&orphan).is_none());
    let clients_left = org.emulator.clients().len();

    // WHEN the invocation's metrics are flushed, as the handlers do after every invocation
    emitter.flush_to("request-1", stdout.clone()).unwrap();

    // THEN every line is JSON: a log record or an EMF document
    let text = stdout.text();
    let mut points = Points::new();
    let mut logs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if doc.get("_aws").is_some() {
            read_emf(&doc, &mut points);
        } else {
            assert!(
                doc["level"].is_string() && doc["fields"]["message"].is_string(),
                "{line}"
            );
            logs.push(doc);
        }
    }

    // AND the metrics count what happened
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        assert_eq!(sum(&points, STEP_SUCCEEDED, &[("Step", step)]), 2.0, "{step}");
    }
    assert_eq!(
        sum(&points, STEP_FAILED, &[("Step", "testSecret"), ("Retryable", "false")]),
        1.0
    );
    assert_eq!(
        sum(
            &points,
            STEP_FAILED,
            &[("Step", "InvalidEvent"), ("Retryable", "false")]
        ),
        1.0
    );
    assert_eq!(sum(&points, CLIENTS_DELETED, &[("Reason", "Drained")]), 1.0);
    assert_eq!(sum(&points, CLIENTS_DELETED, &[("Reason", "Orphaned")]), 1.0);
    assert_eq!(
        sum(&points, CLEANUP_FAILURES, &[("Kind", "Refused")]),
        1.0,
        "the legacy client"
    );
    assert_eq!(sum(&points, ORPHANS_FOUND, &[]), 1.0);
    let headroom = &points[&(CLIENT_LIMIT_HEADROOM.to_owned(), BTreeMap::new())];
    assert_eq!(
        headroom.len(),
        3,
        "two creates and one scheduled pass counted the org: {headroom:?}"
    );
    assert_eq!(
        *headroom.last().unwrap(),
        500.0 - clients_left as f64,
        "the pass's count: CLIENT_LIMIT (500) minus the clients left"
    );
    // AND the dashboard's per-org headroom and failures by kind say the same, split
    let per_org: Vec<_> = points
        .iter()
        .filter(|((name, _), _)| name == ORG_CLIENT_LIMIT_HEADROOM)
        .collect();
    assert_eq!(per_org.len(), 1, "one org, named by its master client: {per_org:?}");
    assert_eq!(per_org[0].1, headroom, "the same counts as the alarm's metric");
    let by_kind: BTreeMap<&str, f64> = points
        .iter()
        .filter(|((name, _), _)| name == STEP_FAILED_BY_KIND)
        .map(|((_, dims), v)| (dims["Kind"].as_str(), v.iter().sum()))
        .collect();
    assert_eq!(
        by_kind.values().sum::<f64>(),
        2.0,
        "the failed testSecret and the invalid event: {by_kind:?}"
    );
    assert_eq!(by_kind.get("InvalidEvent"), Some(&1.0), "{by_kind:?}");

    // AND each step's log line carries the secret ARN, step, version, client id and duration
    let step_lines: Vec<&Value> = logs.iter().filter(|l| l["fields"]["message"] == "step done").collect();
    assert_eq!(step_lines.len(), 8, "two rotations of four steps");
    for l in &step_lines {
        assert_eq!(l["span"]["secret_id"], arn.as_str(), "{l}");
        assert!(l["span"]["step"].is_string() && l["span"]["version"].is_string(), "{l}");
        assert!(l["fields"]["elapsed_ms"].is_u64(), "{l}");
        assert!(l["fields"]["client_id"].is_string(), "{l}");
    }
    assert!(step_lines.iter().any(|l| l["fields"]["client_id"] == current.as_str()));
    let failed = logs
        .iter()
        .find(|l| l["fields"]["message"] == "step failed")
        .expect("the failed step is logged");
    assert_eq!(failed["span"]["secret_id"], broken.as_str());
    assert_eq!(
        failed["fields"]["error_type"],
        "NonRetryable.GenesysInvalidClient.Token"
    );
    assert_eq!(failed["level"], "WARN");
    let refused = logs
        .iter()
        .find(|l| l["fields"]["message"] == "rotation event refused")
        .expect("the malformed event is logged");
    assert_eq!(refused["fields"]["error_type"], "NonRetryable.InvalidEvent");
    assert_eq!(refused["level"], "WARN");

    // AND no secret or token appears anywhere on stdout
    let mut secrets = vec![
        org.master_secret.clone(),
        org.legacy_secret.clone(),
        "wrong-secret-value-xyz".to_owned(),
    ];
    secrets.extend(org.emulator.clients().into_iter().map(|c| c.secret));
    secrets.extend(org.emulator.issued_tokens());
    for secret in secrets {
        assert!(!text.contains(&secret), "a secret or token reached stdout");
    }

    // AND a second flush with nothing new recorded writes no counter again
    let after = Stdout::default();
    emitter.flush_to("request-2", after.clone()).unwrap();
    assert!(
        after.text().is_empty(),
        "counters that did not move are left out: {}",
        after.text()
    );
}
