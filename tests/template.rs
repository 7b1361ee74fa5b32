//! Checks the wiring of the deployment template, `infra/template.yaml`, against the code: the
//! binaries it builds exist, every environment variable it sets is one the library reads (`config::VARIABLES`) (and the
//! required ones are set), every parameter is used, the drain queue's event source and visibility
//! timeout follow AWS guidance, no IAM statement grants `Resource: "*"`, and the alarms and the
//! dashboard name the metrics the code emits (namespace, names, dimensions and their values from
//! `src/metrics.rs`).
//!
//! The template uses CloudFormation's short-form intrinsics (`!Ref`, `!Sub`, `!GetAtt`, `!If`...),
//! which YAML reads as tagged values: [`intrinsic`] reads both those and the long form
//! (`{"Ref": ...}`, `{"Fn::Sub": ...}`), so the test does not care which one is written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use genesys_rotator::config::{TEST_ONLY_VARIABLES, VARIABLES};
use genesys_rotator::metrics::{
    MetricDef, CLEANUP_FAILURES, CLIENT_LIMIT_HEADROOM, DIM_RETRYABLE, DIM_STEP, METRICS, NAMESPACE,
    ORG_CLIENT_LIMIT_HEADROOM, STEP_FAILED, STEP_FAILED_BY_KIND, STEP_SUCCEEDED, STEP_VALUES,
};
use serde_norway::{Mapping, Value};

const TEMPLATE: &str = include_str!("../infra/template.yaml");
/// Variables without which the binaries refuse to start: required on every function.
const REQUIRED_ENV: &[&str] = &["ALLOWED_MASTER_SECRET_ARNS", "DRAIN_QUEUE_URL"];
/// Actions AWS cannot narrow to a resource, so `Resource: "*"` is the only valid form:
/// `secretsmanager:ListSecrets` (discovery of the served secrets by tag; it returns metadata,
/// never values) and `secretsmanager:BatchGetSecretValue` (the guard's reads, 20 secrets a call;
/// AWS also requires `secretsmanager:GetSecretValue` on each secret named, which stays narrowed).
/// (Add e.g. `xray:PutTraceSegments` here, with the reason, if ever granted.)
const UNNARROWABLE_ACTIONS: &[&str] = &["secretsmanager:ListSecrets", "secretsmanager:BatchGetSecretValue"];

fn template() -> Value {
    serde_norway::from_str(TEMPLATE).expect("infra/template.yaml is valid YAML")
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping().and_then(|m| m.get(key))
}

fn section<'a>(t: &'a Value, key: &str) -> &'a Mapping {
    get(t, key)
        .and_then(Value::as_mapping)
        .unwrap_or_else(|| panic!("template has no {key} section"))
}

fn name(key: &Value) -> &str {
    key.as_str().expect("logical ids and keys are strings")
}

/// An intrinsic function call, `!Name arg` or `{"Fn::Name": arg}` / `{"Ref": arg}`: returns the
/// function's name without `!`/`Fn::` and its argument.
fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((t.tag.to_string().trim_start_matches('!').to_owned(), &t.value)),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next()?;
            let k = k.as_str()?;
            if k == "Ref" || k == "Condition" {
                Some((k.to_owned(), arg))
            } else {
                k.strip_prefix("Fn::").map(|f| (f.to_owned(), arg))
            }
        }
        _ => None,
    }
}

/// Every value below `v`, `v` included, looking through tags.
fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(v);
    match v {
        Value::Tagged(t) => walk(&t.value, out),
        Value::Sequence(items) => items.iter().for_each(|i| walk(i, out)),
        Value::Mapping(m) => m.iter().for_each(|(k, i)| {
            walk(k, out);
            walk(i, out);
        }),
        _ => {}
    }
}

fn all_values(v: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

/// The `${Name}` references of a `!Sub` template string (`${!Literal}` is an escape).
fn sub_names(s: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find('}') else { break };
        let inner = &rest[..end];
        if !inner.starts_with('!') {
            names.push(inner.split('.').next().unwrap_or(inner).trim().to_owned());
        }
        rest = &rest[end + 1..];
    }
    names
}

/// Names `!Ref`'d or `${...}`'d anywhere in `v`.
fn referenced_names(v: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for node in all_values(v) {
        match intrinsic(node) {
            Some((f, Value::String(target))) if f == "Ref" => {
                names.insert(target.clone());
            }
            Some((f, arg)) if f == "Sub" => {
                let text = match arg {
                    Value::String(s) => Some(s.as_str()),
                    Value::Sequence(items) => items.first().and_then(Value::as_str),
                    _ => None,
                };
                names.extend(text.map(sub_names).unwrap_or_default());
            }
            _ => {}
        }
    }
    names
}

/// The resources of type `ty`, by logical id.
fn resources_of<'a>(t: &'a Value, ty: &str) -> Vec<(&'a str, &'a Value)> {
    section(t, "Resources")
        .iter()
        .filter(|(_, r)| get(r, "Type").and_then(Value::as_str) == Some(ty))
        .map(|(k, r)| (name(k), r))
        .collect()
}

fn functions(t: &Value) -> Vec<(&str, &Value)> {
    let fns = resources_of(t, "AWS::Serverless::Function");
    assert_eq!(
        fns.len(),
        2,
        "the template deploys the rotation and the cleanup function"
    );
    fns
}

/// A function property, falling back to `Globals.Function`.
fn function_property<'a>(t: &'a Value, function: &'a Value, key: &str) -> Option<&'a Value> {
    get(function, "Properties").and_then(|p| get(p, key)).or_else(|| {
        get(t, "Globals")
            .and_then(|g| get(g, "Function"))
            .and_then(|f| get(f, key))
    })
}

/// The environment variables a function sets (its own and `Globals.Function`'s).
fn environment(t: &Value, function: &Value) -> BTreeSet<String> {
    let vars = |props: Option<&Value>| -> Vec<String> {
        props
            .and_then(|p| get(p, "Environment"))
            .and_then(|e| get(e, "Variables"))
            .and_then(Value::as_mapping)
            .map(|m| m.keys().map(|k| name(k).to_owned()).collect())
            .unwrap_or_default()
    };
    let mut set: BTreeSet<String> = vars(get(function, "Properties")).into_iter().collect();
    set.extend(vars(get(t, "Globals").and_then(|g| get(g, "Function"))));
    set
}

/// A number written as a YAML number or a string.
fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// The `[[bin]]` names declared in `handlers/*/Cargo.toml`.
fn handler_binaries() -> BTreeSet<String> {
    let handlers = Path::new(env!("CARGO_MANIFEST_DIR")).join("handlers");
    let mut bins = BTreeSet::new();
    for entry in std::fs::read_dir(&handlers).expect("handlers/ exists") {
        let manifest = entry.expect("readable entry").path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let mut in_bin = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_bin = line == "[[bin]]";
            } else if in_bin {
                if let Some(value) = line
                    .strip_prefix("name")
                    .map(str::trim)
                    .and_then(|l| l.strip_prefix('='))
                {
                    bins.insert(value.trim().trim_matches('"').to_owned());
                }
            }
        }
    }
    bins
}

/// The variables the binaries read, from the configuration's own list, less the test-only ones.
fn config_variables() -> BTreeSet<String> {
    VARIABLES
        .iter()
        .filter(|v| !TEST_ONLY_VARIABLES.contains(v))
        .map(|v| v.to_string())
        .collect()
}

#[test]
fn each_function_builds_a_handler_binary_with_cargo_lambda() {
    let t = template();
    let bins = handler_binaries();
    assert!(bins.contains("rotation") && bins.contains("cleanup"), "{bins:?}");
    let mut built = BTreeSet::new();
    for (id, f) in functions(&t) {
        let meta = get(f, "Metadata").unwrap_or_else(|| panic!("{id}: no Metadata"));
        assert_eq!(
            get(meta, "BuildMethod").and_then(Value::as_str),
            Some("rust-cargolambda"),
            "{id}"
        );
        let binary = get(meta, "BuildProperties")
            .and_then(|b| get(b, "Binary"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{id}: no BuildProperties.Binary"));
        assert!(
            bins.contains(binary),
            "{id}: Binary {binary:?} is no [[bin]] of handlers/*: {bins:?}"
        );
        built.insert(binary.to_owned());
        let prop = |k| function_property(&t, f, k);
        assert_eq!(
            prop("CodeUri").and_then(Value::as_str),
            Some(".."),
            "{id}: CodeUri is the workspace root"
        );
        assert_eq!(prop("Runtime").and_then(Value::as_str), Some("provided.al2023"), "{id}");
        assert_eq!(prop("Handler").and_then(Value::as_str), Some("bootstrap"), "{id}");
        let arch = prop("Architectures").expect("Architectures is set");
        assert!(
            referenced_names(arch).contains("Architecture"),
            "{id}: Architectures must follow the Architecture parameter"
        );
        let logging = prop("LoggingConfig").unwrap_or_else(|| panic!("{id}: no LoggingConfig"));
        assert_eq!(get(logging, "LogFormat").and_then(Value::as_str), Some("JSON"), "{id}");
    }
    assert_eq!(built.len(), 2, "the two functions build different binaries: {built:?}");
}

#[test]
fn environment_variables_are_exactly_ones_the_binaries_read() {
    let t = template();
    let known = config_variables();
    assert!(known.contains("ALLOWED_MASTER_SECRET_ARNS"), "{known:?}");
    let mut set_anywhere = BTreeSet::new();
    for (id, f) in functions(&t) {
        let env = environment(&t, f);
        for var in &env {
            assert!(
                !TEST_ONLY_VARIABLES.contains(&var.as_str()),
                "{id} sets the test-only {var}"
            );
            assert!(
                known.contains(var),
                "{id} sets {var}, which config::VARIABLES does not list: a typo, or a setting the code lost"
            );
        }
        for required in REQUIRED_ENV {
            assert!(env.contains(*required), "{id} lacks the required {required}");
        }
        set_anywhere.extend(env);
    }
    for var in &known {
        assert!(
            set_anywhere.contains(var),
            "the functions read {var} (config::VARIABLES) but the template sets it on no function: add it to infra/template.yaml"
        );
    }
}

#[test]
fn every_parameter_is_used() {
    let t = template();
    let mut used = BTreeSet::new();
    for key in ["Conditions", "Resources", "Outputs", "Globals"] {
        if let Some(v) = get(&t, key) {
            used.extend(referenced_names(v));
        }
    }
    for (param, _) in section(&t, "Parameters") {
        let param = name(param);
        assert!(
            used.contains(param),
            "parameter {param} is never used (!Ref or ${{{param}}})"
        );
    }
}

#[test]
fn the_drain_queue_reports_partial_batches_and_outlasts_the_cleanup() {
    let t = template();
    let resources = section(&t, "Resources");
    let mut sqs_events = 0;
    for (id, f) in functions(&t) {
        let Some(events) = function_property(&t, f, "Events").and_then(Value::as_mapping) else {
            continue;
        };
        for (event_id, event) in events {
            let event_id = name(event_id);
            if get(event, "Type").and_then(Value::as_str) != Some("SQS") {
                continue;
            }
            sqs_events += 1;
            let props = get(event, "Properties").expect("SQS event properties");
            let types: Vec<&str> = get(props, "FunctionResponseTypes")
                .and_then(Value::as_sequence)
                .map(|s| s.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            assert!(
                types.contains(&"ReportBatchItemFailures"),
                "{id}.{event_id}: FunctionResponseTypes lacks ReportBatchItemFailures"
            );
            let queue_ref = get(props, "Queue").expect("Queue");
            let queue_id = match intrinsic(queue_ref) {
                Some((f, Value::String(s))) if f == "GetAtt" => s.split('.').next().unwrap().to_owned(),
                Some((f, Value::Sequence(s))) if f == "GetAtt" => s[0].as_str().unwrap().to_owned(),
                other => panic!("{id}.{event_id}: Queue should be !GetAtt <queue>.Arn, got {other:?}"),
            };
            let queue = resources.get(queue_id.as_str()).expect("the queue is in the template");
            let visibility = get(queue, "Properties")
                .and_then(|p| get(p, "VisibilityTimeout"))
                .and_then(number)
                .unwrap_or(30);
            let timeout = function_property(&t, f, "Timeout").and_then(number).unwrap_or(3);
            assert!(
                visibility >= 6 * timeout,
                "{queue_id} VisibilityTimeout {visibility} s < 6 x {id} Timeout {timeout} s (AWS guidance)"
            );
            let redrive = get(queue, "Properties").and_then(|p| get(p, "RedrivePolicy"));
            assert!(redrive.is_some(), "{queue_id} has no dead-letter queue (RedrivePolicy)");
        }
    }
    assert_eq!(sqs_events, 1, "exactly one function is fed by the drain queue");
}

#[test]
fn secrets_manager_may_invoke_the_rotation_function_from_this_account_only() {
    let t = template();
    let permissions = resources_of(&t, "AWS::Lambda::Permission");
    let for_secrets_manager: Vec<_> = permissions
        .iter()
        .filter(|(_, p)| {
            get(p, "Properties")
                .and_then(|p| get(p, "Principal"))
                .and_then(Value::as_str)
                == Some("secretsmanager.amazonaws.com")
        })
        .collect();
    assert_eq!(for_secrets_manager.len(), 1, "{permissions:?}");
    let props = get(for_secrets_manager[0].1, "Properties").unwrap();
    assert!(
        get(props, "SourceAccount").is_some(),
        "the permission must name SourceAccount"
    );
}

/// Every IAM identity policy statement of the template, looking through `!If` and tags (trust
/// policies, which name a `Principal` and no resource, are left out).
fn iam_statements(t: &Value) -> Vec<&Value> {
    all_values(get(t, "Resources").expect("Resources"))
        .into_iter()
        .filter(|v| get(v, "Effect").is_some() && (get(v, "Action").is_some() || get(v, "NotAction").is_some()))
        .filter(|v| get(v, "Principal").is_none())
        .collect()
}

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Sequence(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn no_iam_statement_grants_every_resource() {
    let t = template();
    let statements = iam_statements(&t);
    assert!(statements.len() >= 6, "found only {} statements", statements.len());
    for statement in statements {
        let sid = get(statement, "Sid").and_then(Value::as_str).unwrap_or("(no Sid)");
        assert!(get(statement, "NotResource").is_none(), "{sid}: NotResource");
        assert!(get(statement, "NotAction").is_none(), "{sid}: NotAction");
        let resource = get(statement, "Resource").unwrap_or_else(|| panic!("{sid}: no Resource"));
        if strings(resource).contains(&"*") {
            let actions = strings(get(statement, "Action").unwrap());
            let narrowable: Vec<_> = actions.iter().filter(|a| !UNNARROWABLE_ACTIONS.contains(a)).collect();
            assert!(narrowable.is_empty(), "{sid}: Resource \"*\" for {narrowable:?}");
        }
        for action in strings(get(statement, "Action").unwrap()) {
            assert!(!action.ends_with('*'), "{sid}: wildcard action {action}");
        }
    }
}

#[test]
fn the_example_secret_rotates_weekly_through_the_rotation_function() {
    let t = template();
    let schedules = resources_of(&t, "AWS::SecretsManager::RotationSchedule");
    let rotation_fn: BTreeMap<&str, &str> = functions(&t)
        .into_iter()
        .filter_map(|(id, f)| {
            let bin = get(f, "Metadata")?
                .as_mapping()?
                .get("BuildProperties")?
                .get("Binary")?
                .as_str()?;
            Some((bin, id))
        })
        .collect();
    for (id, s) in schedules {
        let props = get(s, "Properties").unwrap();
        let target = get(props, "RotationLambdaARN").expect("RotationLambdaARN");
        let target = match intrinsic(target) {
            Some((f, Value::String(s))) if f == "GetAtt" => s.split('.').next().unwrap().to_owned(),
            other => panic!("{id}: RotationLambdaARN should be !GetAtt <function>.Arn, got {other:?}"),
        };
        assert_eq!(Some(target.as_str()), rotation_fn.get("rotation").copied(), "{id}");
        let rules = get(props, "RotationRules").expect("RotationRules");
        let weekly = get(rules, "ScheduleExpression").and_then(Value::as_str) == Some("rate(7 days)")
            || get(rules, "AutomaticallyAfterDays").and_then(number) == Some(7);
        assert!(weekly, "{id}: rotation every 7 days");
    }
}

/// The metrics an alarm watches: its own `Namespace`/`MetricName`/`Dimensions`, or each
/// `Metrics[].MetricStat.Metric` of a metric-math alarm.
fn alarm_metrics(props: &Value) -> Vec<&Value> {
    if get(props, "MetricName").is_some() {
        return vec![props];
    }
    get(props, "Metrics")
        .and_then(Value::as_sequence)
        .map(|queries| {
            queries
                .iter()
                .filter_map(|q| get(q, "MetricStat").and_then(|m| get(m, "Metric")))
                .collect()
        })
        .unwrap_or_default()
}

/// `Dimensions` as (name, value) pairs; values must be literal strings.
fn dimensions<'a>(id: &str, metric: &'a Value) -> Vec<(&'a str, &'a str)> {
    get(metric, "Dimensions")
        .and_then(Value::as_sequence)
        .map(|dims| {
            dims.iter()
                .map(|d| {
                    let n = get(d, "Name").and_then(Value::as_str);
                    let v = get(d, "Value");
                    (n.unwrap_or_else(|| panic!("{id}: dimension without a Name")), v)
                })
                .filter_map(|(n, v)| Some((n, v?.as_str()?)))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn alarms_name_the_metrics_the_code_emits_and_notify_the_optional_topic() {
    let t = template();
    let alarms = resources_of(&t, "AWS::CloudWatch::Alarm");
    let mut alarmed: BTreeMap<&str, Vec<Vec<(&str, &str)>>> = BTreeMap::new();
    let mut aws_alarms = BTreeSet::new();
    for (id, alarm) in &alarms {
        let props = get(alarm, "Properties").unwrap_or_else(|| panic!("{id}: no Properties"));
        let metrics = alarm_metrics(props);
        assert!(!metrics.is_empty(), "{id}: watches no metric");
        for metric in metrics {
            let ns = get(metric, "Namespace").and_then(Value::as_str).expect("Namespace");
            let metric_name = get(metric, "MetricName").and_then(Value::as_str).expect("MetricName");
            if ns.starts_with("AWS/") {
                aws_alarms.insert(format!("{ns} {metric_name}"));
                continue;
            }
            assert_eq!(ns, NAMESPACE, "{id}: namespace is src/metrics.rs NAMESPACE");
            let def: &MetricDef = METRICS
                .iter()
                .find(|d| d.name == metric_name)
                .unwrap_or_else(|| panic!("{id}: {metric_name} is not a metric of src/metrics.rs"));
            let dims = dimensions(id, metric);
            let names: BTreeSet<&str> = dims.iter().map(|(n, _)| *n).collect();
            let expected: BTreeSet<&str> = def.dimensions.iter().copied().collect();
            assert_eq!(
                names, expected,
                "{id}: {metric_name} must name exactly its dimensions (CloudWatch matches the whole set)"
            );
            for (n, v) in &dims {
                let i = def.dimensions.iter().position(|d| d == n).unwrap();
                assert!(
                    def.values[i].contains(v),
                    "{id}: {metric_name} {n}={v:?} is never emitted (values: {:?})",
                    def.values[i]
                );
            }
            alarmed.entry(def.name).or_default().push(dims);
        }
        let actions = get(props, "AlarmActions").unwrap_or_else(|| panic!("{id}: no AlarmActions"));
        match intrinsic(actions) {
            Some((f, Value::Sequence(args))) if f == "If" => {
                assert_eq!(
                    args[0].as_str(),
                    Some("HasAlarmTopic"),
                    "{id}: actions only with a topic"
                )
            }
            other => panic!("{id}: AlarmActions should be !If [HasAlarmTopic, ...], got {other:?}"),
        }
    }
    for required in [STEP_FAILED, CLEANUP_FAILURES, CLIENT_LIMIT_HEADROOM] {
        assert!(alarmed.contains_key(required), "no alarm on {required}: {alarmed:?}");
    }
    // The permanent-failure alarm covers every step, not only some.
    let permanent_steps: BTreeSet<&str> = alarmed[STEP_FAILED]
        .iter()
        .filter(|dims| dims.contains(&(DIM_RETRYABLE, "false")))
        .filter_map(|dims| dims.iter().find(|(n, _)| *n == DIM_STEP).map(|(_, v)| *v))
        .collect();
    assert_eq!(permanent_steps, STEP_VALUES.into_iter().collect());
    for aws in ["AWS/Lambda Errors", "AWS/SQS ApproximateNumberOfMessagesVisible"] {
        assert!(aws_alarms.contains(aws), "no alarm on {aws}: {aws_alarms:?}");
    }
    let lambda_error_alarms = alarms
        .iter()
        .filter(|(_, a)| get(get(a, "Properties").unwrap(), "MetricName").and_then(Value::as_str) == Some("Errors"))
        .count();
    assert_eq!(lambda_error_alarms, 2, "one Lambda Errors alarm per function");
}

#[test]
fn the_headroom_alarm_fires_before_creates_are_refused() {
    let t = template();
    let params = section(&t, "Parameters");
    let default = |p: &str| {
        params
            .get(p)
            .and_then(|v| get(v, "Default"))
            .and_then(number)
            .unwrap_or_else(|| panic!("parameter {p} has a numeric Default"))
    };
    assert!(
        default("ClientLimitHeadroomThreshold") > default("ClientLimitMargin"),
        "the alarm must warn before createSecret starts refusing"
    );
}

/// The dashboard's body as written (the `!Sub` string) and as JSON: every `${...}` checked to
/// name a parameter, a resource (or its attribute) or a pseudo parameter, then replaced (numbers
/// for numeric parameters) so the result parses.
fn dashboard_body(t: &Value) -> (String, serde_json::Value) {
    let dashboards = resources_of(t, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1, "one dashboard");
    let props = get(dashboards[0].1, "Properties").expect("Properties");
    let text = match intrinsic(get(props, "DashboardBody").expect("DashboardBody")) {
        Some((f, Value::String(text))) if f == "Sub" => text.clone(),
        other => panic!("DashboardBody should be !Sub \"...\", got {other:?}"),
    };
    let params = section(t, "Parameters");
    let resources = section(t, "Resources");
    let mut body = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        body.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed ${") + start;
        let reference = &rest[start + 2..end];
        let head = reference.split('.').next().unwrap();
        let numeric = params
            .get(head)
            .map(|p| get(p, "Type").and_then(Value::as_str) == Some("Number"));
        assert!(
            numeric.is_some() || resources.contains_key(head) || head.starts_with("AWS::"),
            "the dashboard names ${{{reference}}}, which the template does not define"
        );
        body.push_str(if numeric == Some(true) { "1" } else { "placeholder" });
        rest = &rest[end + 1..];
    }
    body.push_str(rest);
    let parsed = serde_json::from_str(&body).unwrap_or_else(|e| panic!("the dashboard body is not JSON ({e}): {body}"));
    (text, parsed)
}

/// `SEARCH('{Namespace,Dim,...} MetricName="Name"', ...)`: the namespace, dimensions and name.
fn search_schema(expression: &str) -> Option<(String, BTreeSet<String>, String)> {
    let inner = expression.strip_prefix("SEARCH('{")?;
    let (schema, rest) = inner.split_once('}')?;
    let mut parts = schema.split(',').map(|p| p.trim().to_owned());
    let namespace = parts.next()?;
    let name = rest.split("MetricName=\"").nth(1)?.split('"').next()?.to_owned();
    Some((namespace, parts.collect(), name))
}

#[test]
fn the_dashboard_shows_rotations_failures_by_kind_headroom_per_org_the_drain_queue_and_its_dlq() {
    let t = template();
    let (raw, body) = dashboard_body(&t);
    let widgets = body["widgets"].as_array().expect("widgets");
    let mut ours: BTreeSet<&str> = BTreeSet::new();
    let mut sqs: BTreeSet<(String, String)> = BTreeSet::new();
    for w in widgets {
        let props = &w["properties"];
        let title = props["title"].as_str().expect("every widget has a title");
        if w["type"] == "log" {
            let query = props["query"].as_str().expect("a log widget has a query");
            assert!(
                query.contains("error_type"),
                "{title}: the errorType field of the step logs"
            );
            continue;
        }
        assert_eq!(w["type"], "metric", "{title}");
        for row in props["metrics"].as_array().expect("metrics") {
            let row = row.as_array().expect("a metrics row is an array");
            if let Some(expression) = row[0]["expression"].as_str() {
                let (ns, dims, name) =
                    search_schema(expression).unwrap_or_else(|| panic!("{title}: not a SEARCH: {expression}"));
                assert_eq!(ns, NAMESPACE, "{title}");
                let def = METRICS
                    .iter()
                    .find(|d| d.name == name)
                    .unwrap_or_else(|| panic!("{title}: {name} is not emitted"));
                let declared: BTreeSet<String> = def.dimensions.iter().map(|d| d.to_string()).collect();
                assert_eq!(dims, declared, "{title}: {name} is searched by exactly its dimensions");
                ours.insert(def.name);
                continue;
            }
            let strings: Vec<&str> = row.iter().filter_map(serde_json::Value::as_str).collect();
            let (ns, name, dims) = (strings[0], strings[1], &strings[2..]);
            if ns == "AWS/SQS" {
                assert_eq!(dims[0], "QueueName", "{title}");
                sqs.insert((name.to_owned(), dims[1].to_owned()));
                continue;
            }
            assert_eq!(ns, NAMESPACE, "{title}");
            let def = METRICS
                .iter()
                .find(|d| d.name == name)
                .unwrap_or_else(|| panic!("{title}: {name} is not emitted"));
            let pairs: Vec<(&str, &str)> = dims.chunks(2).map(|c| (c[0], c[1])).collect();
            let named: BTreeSet<&str> = pairs.iter().map(|(n, _)| *n).collect();
            assert_eq!(
                named,
                def.dimensions.iter().copied().collect(),
                "{title}: {name} names exactly its dimensions"
            );
            for (n, v) in pairs {
                let i = def.dimensions.iter().position(|d| *d == n).unwrap();
                assert!(def.values[i].contains(&v), "{title}: {name} {n}={v} is never emitted");
            }
            ours.insert(def.name);
        }
    }
    for required in [
        STEP_SUCCEEDED,
        STEP_FAILED,
        STEP_FAILED_BY_KIND,
        ORG_CLIENT_LIMIT_HEADROOM,
    ] {
        assert!(
            ours.contains(required),
            "the dashboard does not show {required}: {ours:?}"
        );
    }
    // The queue names are the template's queues (placeholders once substituted: read the raw body).
    for (queue, metric) in [
        ("DrainQueue", "ApproximateNumberOfMessagesVisible"),
        ("DrainQueue", "ApproximateAgeOfOldestMessage"),
        ("DrainDeadLetterQueue", "ApproximateNumberOfMessagesVisible"),
    ] {
        let cell = format!("\"{metric}\", \"QueueName\", \"${{{queue}.QueueName}}\"");
        assert!(raw.contains(&cell), "the dashboard does not show {metric} of {queue}");
        assert!(sqs.contains(&(metric.to_owned(), "placeholder".to_owned())));
    }
    assert!(
        raw.contains("SOURCE '${RotationLogGroup}'"),
        "the log widget reads the rotation function's logs"
    );
}
