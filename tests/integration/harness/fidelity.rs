//! A thin layer in front of moto's Secrets Manager that answers as AWS does where moto does not
//! and the rotator's design depends on it (docs/REFERENCE: "AWS Secrets Manager rotation", "moto:
//! known traps"):
//!
//! - DescribeSecret's `VersionIdsToStages` and ListSecrets' `SecretVersionsToStages` list only
//!   versions that carry at least one staging label (moto lists every version). Always on.
//! - Deprecated versions may be deleted ([`SecretsManagerLayer::purge_deprecated`], off by
//!   default): when on, every version without a label (other than those a test
//!   [keeps](SecretsManagerLayer::keep)) is gone for good, as AWS may delete it: GetSecretValue
//!   or a label move by its id answers ResourceNotFoundException, ListSecretVersionIds omits it.
//!   A PutSecretValue with a purged version's id makes a new version (the worst case for a
//!   writer that relies on the refusal of an existing id).
//!
//! - BatchGetSecretValue by `SecretIdList` answers as AWS does: the AWSCURRENT version of each
//!   secret (moto 5.2.5 reads each one without a stage, which gives its own default version), at
//!   most 20 ids (else a ValidationException for the whole call; moto takes any number), and a
//!   secret it cannot read (missing, scheduled for deletion) as an entry of `Errors` with the
//!   code GetSecretValue would have given. Always on; `Filters` are not modelled (refused).
//!
//! Everything else is forwarded to moto and answered byte for byte (hop-by-hop headers and the
//! length aside). It runs on its own thread with its own runtime, so a test that blocks its
//! thread or drops its runtime first does not stall the SDK clients that talk to it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

/// The switches and the record of what was purged, shared with the proxy thread.
#[derive(Default)]
struct Shared {
    moto: String,
    purge: AtomicBool,
    keep: Mutex<HashSet<String>>,
    purged: Mutex<HashSet<String>>,
    /// Secrets Manager requests answered (to check a client really goes through the layer).
    requests: AtomicUsize,
}

/// The layer: its URL, for every Secrets Manager client of the harness, and its switches.
pub struct SecretsManagerLayer {
    pub url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SecretsManagerLayer {
    /// Starts the layer on a loopback port chosen at run time, in front of moto at `moto`.
    pub fn start(moto: &str) -> SecretsManagerLayer {
        let shared = Arc::new(Shared {
            moto: moto.trim_end_matches('/').to_owned(),
            ..Shared::default()
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the Secrets Manager layer");
        listener.set_nonblocking(true).unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name("sm-fidelity".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the layer's runtime");
                rt.block_on(async move {
                    let http = reqwest::Client::builder()
                        .redirect(reqwest::redirect::Policy::none())
                        .build()
                        .expect("the layer's HTTP client");
                    let app = Router::new().fallback(forward).with_state((state, http));
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    // Stopped at once, open connections and all: the runtime ends with them.
                    tokio::select! {
                        served = axum::serve(listener, app) => served.unwrap(),
                        _ = stopped => {}
                    }
                });
            })
            .expect("start the Secrets Manager layer");
        SecretsManagerLayer {
            url: format!("http://{addr}"),
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Turns the deletion of deprecated versions on or off. Versions already purged stay gone.
    pub fn purge_deprecated(&self, on: bool) {
        self.shared.purge.store(on, Ordering::SeqCst);
    }

    /// Keeps version `version_id` even when it is deprecated and purging is on.
    pub fn keep(&self, version_id: &str) {
        self.shared.keep.lock().unwrap().insert(version_id.to_owned());
    }

    /// Whether version `version_id` was purged.
    pub fn is_purged(&self, version_id: &str) -> bool {
        self.shared.purged.lock().unwrap().contains(version_id)
    }

    /// How many Secrets Manager requests the layer has answered.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }
}

impl Drop for SecretsManagerLayer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type LayerState = (Arc<Shared>, reqwest::Client);

const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "host",
];

async fn forward(State((shared, http)): State<LayerState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("secretsmanager."))
        .map(str::to_owned);
    if target.is_some() {
        shared.requests.fetch_add(1, Ordering::SeqCst);
    }
    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);

    if target.as_deref() == Some("BatchGetSecretValue") {
        return batch_get(&shared, &http, &parts.headers, &input).await;
    }

    if let (Some(op), true) = (target.as_deref(), shared.purge.load(Ordering::SeqCst)) {
        if let Some(secret_id) = input["SecretId"].as_str() {
            sweep(&shared, &http, &parts.headers, secret_id).await;
        }
        let purged = |field: &str| {
            input[field]
                .as_str()
                .is_some_and(|id| shared.purged.lock().unwrap().contains(id))
        };
        match op {
            "GetSecretValue" if purged("VersionId") => {
                return not_found(&format!(
                    "Secrets Manager can't find the specified secret value for VersionId: {}",
                    input["VersionId"].as_str().unwrap_or_default()
                ))
            }
            "UpdateSecretVersionStage" if purged("MoveToVersionId") => {
                return not_found(&format!(
                    "Secrets Manager can't find the specified secret version: {}",
                    input["MoveToVersionId"].as_str().unwrap_or_default()
                ))
            }
            // The id is free again: the put makes a new version (moto overwrites the old one).
            "PutSecretValue" if purged("ClientRequestToken") => {
                let id = input["ClientRequestToken"].as_str().unwrap_or_default();
                shared.purged.lock().unwrap().remove(id);
            }
            _ => {}
        }
    }

    let url = format!(
        "{}{}",
        shared.moto,
        parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut out = http.request(parts.method.clone(), url).body(body);
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    let answer = match out.send().await {
        Ok(answer) => answer,
        Err(e) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::from(format!(
                    "the Secrets Manager layer could not reach moto: {e}"
                )))
                .unwrap()
        }
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let mut bytes = answer.bytes().await.unwrap_or_default();
    if status.is_success() {
        if let Some(op) = target.as_deref() {
            bytes = rewrite(&shared, op, bytes);
        }
    }
    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            response = response.header(name, value);
        }
    }
    response.body(Body::from(bytes)).unwrap()
}

/// Marks every version of `secret_id` without a label (and not kept) as purged.
async fn sweep(shared: &Shared, http: &reqwest::Client, headers: &HeaderMap, secret_id: &str) {
    let mut request = http
        .post(format!("{}/", shared.moto))
        .header("x-amz-target", "secretsmanager.ListSecretVersionIds")
        .header("content-type", "application/x-amz-json-1.1")
        .body(json!({"SecretId": secret_id, "IncludeDeprecated": true}).to_string());
    // moto routes by the service its Authorization header names.
    if let Some(auth) = headers.get("authorization") {
        request = request.header("authorization", auth);
    }
    let Ok(answer) = request.send().await else { return };
    let Ok(listing) = answer.json::<Value>().await else {
        return;
    };
    let keep = shared.keep.lock().unwrap().clone();
    let mut purged = shared.purged.lock().unwrap();
    for version in listing["Versions"].as_array().into_iter().flatten() {
        let unlabelled = version["VersionStages"].as_array().is_none_or(|s| s.is_empty());
        if let Some(id) = version["VersionId"]
            .as_str()
            .filter(|id| unlabelled && !keep.contains(*id))
        {
            purged.insert(id.to_owned());
        }
    }
}

/// AWS's answer to `op` from moto's: labelled versions only in the descriptions, purged
/// versions nowhere. Anything that does not parse is left as it is.
fn rewrite(shared: &Shared, op: &str, bytes: Bytes) -> Bytes {
    let purged = shared.purged.lock().unwrap().clone();
    let labelled_only = |entry: &mut Value| {
        for key in ["VersionIdsToStages", "SecretVersionsToStages"] {
            if let Some(map) = entry.get_mut(key).and_then(Value::as_object_mut) {
                map.retain(|id, stages| !purged.contains(id) && stages.as_array().is_some_and(|s| !s.is_empty()));
            }
        }
    };
    let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes) else {
        return bytes;
    };
    match op {
        "DescribeSecret" => labelled_only(&mut answer),
        "ListSecrets" => {
            for entry in answer["SecretList"].as_array_mut().into_iter().flatten() {
                labelled_only(entry);
            }
        }
        "ListSecretVersionIds" if !purged.is_empty() => {
            if let Some(versions) = answer["Versions"].as_array_mut() {
                versions.retain(|v| !v["VersionId"].as_str().is_some_and(|id| purged.contains(id)));
            }
        }
        _ => return bytes,
    }
    Bytes::from(answer.to_string())
}

/// Most ids one BatchGetSecretValue may name.
const BATCH_LIMIT: usize = 20;

/// BatchGetSecretValue as AWS answers it, from one GetSecretValue of AWSCURRENT per id.
async fn batch_get(shared: &Shared, http: &reqwest::Client, headers: &HeaderMap, input: &Value) -> Response {
    if input.get("Filters").is_some() {
        return error(
            "ValidationException",
            "the Secrets Manager layer models BatchGetSecretValue by SecretIdList only",
        );
    }
    let ids: Vec<&str> = input["SecretIdList"]
        .as_array()
        .map(|ids| ids.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if ids.is_empty() || ids.len() > BATCH_LIMIT {
        return error(
            "ValidationException",
            &format!(
                "1 validation error detected: Value at 'secretIdList' failed to satisfy constraint: Member must have \
                 length less than or equal to {BATCH_LIMIT} and greater than or equal to 1 (got {})",
                ids.len()
            ),
        );
    }
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        let mut request = http
            .post(format!("{}/", shared.moto))
            .header("x-amz-target", "secretsmanager.GetSecretValue")
            .header("content-type", "application/x-amz-json-1.1")
            .body(json!({"SecretId": id, "VersionStage": "AWSCURRENT"}).to_string());
        // moto routes by the service its Authorization header names.
        if let Some(auth) = headers.get("authorization") {
            request = request.header("authorization", auth);
        }
        let answer = match request.send().await {
            Ok(answer) => answer,
            Err(e) => return error("InternalServiceError", &format!("the layer could not reach moto: {e}")),
        };
        let ok = answer.status().is_success();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        if ok {
            let mut entry = json!({});
            for key in [
                "ARN",
                "Name",
                "VersionId",
                "SecretString",
                "SecretBinary",
                "VersionStages",
                "CreatedDate",
            ] {
                if let Some(v) = body.get(key) {
                    entry[key] = v.clone();
                }
            }
            values.push(entry);
        } else {
            let code = body["__type"].as_str().unwrap_or("InternalServiceError");
            errors.push(json!({
                "SecretId": id,
                "ErrorCode": code.rsplit('#').next().unwrap_or(code),
                "Message": body["message"].as_str().or(body["Message"].as_str()).unwrap_or_default(),
            }));
        }
    }
    let mut response = Response::new(Body::from(
        json!({"SecretValues": values, "Errors": errors}).to_string(),
    ));
    response.headers_mut().insert(
        HeaderName::from_static("content-type"),
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    response
}

/// Secrets Manager's ResourceNotFoundException, as the SDK reads it.
fn not_found(message: &str) -> Response {
    error("ResourceNotFoundException", message)
}

/// A refusal of the whole call with error `code`, as the SDK reads it.
fn error(code: &'static str, message: &str) -> Response {
    let mut response = Response::new(Body::from(json!({"__type": code, "message": message}).to_string()));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("x-amzn-errortype"),
        HeaderValue::from_static(code),
    );
    headers.insert(
        HeaderName::from_static("content-type"),
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    response
}
