//! The Python and Node.js consumer helpers (`examples/python/genesys_consumer.py`,
//! `examples/node/genesys-consumer.js`) under the real rotation: a child program of each
//! (`rotation_callers.py`, `rotation-callers.js`) runs 16 concurrent callers of
//! `GET /api/v2/tokens/me` through one helper and the official Genesys SDK of its language, while
//! the rotator replaces the client ten times and the cleanup deletes each old client while the
//! callers still hold its token (the emulator then answers 401 to that token). Not one call may
//! fail, each deletion must cost about one secret read and one token request (not one per
//! caller), and neither the child's stdout nor its stderr may hold a secret or a token. A second
//! test per language shows a cached credential refused with `invalid_client` read again.
//!
//! The child is driven over its stdin (`mark LABEL`, answered with its counts on stdout) and
//! stopped by closing stdin; see the programs' headers. `make test` installs what they need: the
//! Python helper into .venv (`pip install ./examples/python`), the Node packages into
//! examples/node/node_modules (`npm ci`).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use genesys_emulator::{routes, Fault, FaultAction};
use genesys_rotator::domain::ClientId;
use genesys_rotator::genesys::{GenesysClient, HttpSettings};
use genesys_rotator::region::Endpoints;
use genesys_rotator::secret::ClientCredentials;
use genesys_rotator::store::AWSCURRENT;
use reqwest::Url;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::harness::{endpoint_overrides, DrainWorld, Org, World};

const CALLERS: u64 = 16;
const ROTATIONS: usize = 10;
/// The round in which one `tokens/me` answer is a 429 with `Retry-After: 1`.
const RATE_LIMITED_ROUND: usize = 4;
/// Pause of each caller between two calls, so 16 callers leave the rotator some CPU.
const PAUSE_MS: &str = "10";
/// The child stops by itself after this long, whatever the test does.
const CHILD_MAX_SECONDS: &str = "150";
/// Starting the child: the Python SDK alone takes seconds to import on a loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// Any one wait for the callers' progress.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Debug, Clone, Copy)]
enum Language {
    Python,
    Node,
}

impl Language {
    fn name(self) -> &'static str {
        match self {
            Language::Python => "Python",
            Language::Node => "Node.js",
        }
    }

    /// The program and its arguments, after checking that `make test` installed what it needs.
    fn command(self) -> Command {
        match self {
            Language::Python => {
                // The venv moto comes from (MOTO_SERVER_BIN, as `make test` sets it) holds the
                // installed helper; -I keeps the script's own directory off sys.path, so the
                // installed copy is the one imported.
                let bin = std::env::var_os("MOTO_SERVER_BIN")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| repo().join(".venv/bin/moto_server"));
                let python = bin.with_file_name("python");
                assert!(
                    python.exists(),
                    "{} not found (run `make venv`, or set MOTO_SERVER_BIN)",
                    python.display()
                );
                let mut c = Command::new(python);
                c.arg("-I").arg(repo().join("examples/python/rotation_callers.py"));
                c
            }
            Language::Node => {
                let modules = repo().join("examples/node/node_modules/purecloud-platform-client-v2");
                assert!(
                    modules.exists(),
                    "{} not found: run `make test` (it runs `npm ci` in examples/node)",
                    modules.display()
                );
                let mut c = Command::new("node");
                c.arg(repo().join("examples/node/rotation-callers.js"));
                c
            }
        }
    }
}

/// The child's counts at one moment (a `ready`, `mark` or `report` line).
#[derive(Debug, Clone, Default)]
struct Counts {
    calls: u64,
    ok: u64,
    failed: u64,
    failures: Vec<String>,
    client_id: Option<String>,
    secret_reads: u64,
    token_requests: u64,
    unauthorized: u64,
    recovered: u64,
    rate_limit_waits: u64,
    helper: Option<String>,
    timed_out: bool,
}

impl Counts {
    fn parse(v: &Value) -> Counts {
        let n = |v: &Value, key: &str| v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"));
        // The stats' keys are snake_case in Python, camelCase in Node.js.
        let stat = |snake: &str, camel: &str| {
            let s = &v["stats"];
            s[snake]
                .as_u64()
                .or_else(|| s[camel].as_u64())
                .unwrap_or_else(|| panic!("{snake} in {s}"))
        };
        Counts {
            calls: n(v, "calls"),
            ok: n(v, "ok"),
            failed: n(v, "failed"),
            failures: v["failures"]
                .as_array()
                .map(|a| a.iter().map(|f| f.as_str().unwrap_or("?").to_owned()).collect())
                .unwrap_or_default(),
            client_id: v["clientId"].as_str().map(str::to_owned),
            secret_reads: stat("secret_reads", "secretReads"),
            token_requests: stat("token_requests", "tokenRequests"),
            unauthorized: stat("unauthorized", "unauthorized"),
            recovered: stat("recovered", "recovered"),
            rate_limit_waits: stat("rate_limit_waits", "rateLimitWaits"),
            helper: v["helper"].as_str().map(str::to_owned),
            timed_out: v["timedOut"].as_bool().unwrap_or(false),
        }
    }
}

/// The running child program: its stdin, its stdout as JSON events, everything it printed.
struct Callers {
    language: Language,
    child: Child,
    stdin: Option<ChildStdin>,
    events: mpsc::UnboundedReceiver<Value>,
    stdout: Arc<Mutex<String>>,
    stderr: JoinHandle<String>,
}

impl Callers {
    /// Starts the program and waits until its helper is warmed up and its callers run.
    async fn start(language: Language, env: &[(String, String)]) -> (Callers, Counts) {
        let mut command = language.command();
        // Only what the program needs: no AWS profile or real credentials leak in.
        command.env_clear();
        for var in ["PATH", "HOME", "LANG", "SYSTEMROOT"] {
            if let Some(value) = std::env::var_os(var) {
                command.env(var, value);
            }
        }
        for (k, v) in env {
            command.env(k, v);
        }
        command
            .current_dir(repo())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start the {} callers: {e}", language.name()));
        let stdin = child.stdin.take();
        let stdout = Arc::new(Mutex::new(String::new()));
        let (tx, events) = mpsc::unbounded_channel();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let log = stdout.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                log.lock().unwrap().push_str(&line);
                log.lock().unwrap().push('\n');
                if let Ok(event) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(event);
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text).await;
            text
        });
        let mut callers = Callers {
            language,
            child,
            stdin,
            events,
            stdout,
            stderr,
        };
        let ready = callers.next_event("ready", None, START_TIMEOUT).await;
        (callers, ready)
    }

    /// The next event of `kind` (and `label`), skipping others.
    async fn next_event(&mut self, kind: &str, label: Option<&str>, timeout: Duration) -> Counts {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(event)) => {
                    if event["event"] == kind && label.is_none_or(|l| event["label"] == l) {
                        return Counts::parse(&event);
                    }
                }
                Ok(None) => self.fail(&format!("exited while the test waited for {kind}")).await,
                Err(_) => self.fail(&format!("no {kind} within {timeout:?}")).await,
            }
        }
    }

    /// Panics with what the child printed on stderr (it holds no secret: checked at the end).
    async fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.start_kill();
        let stderr = tokio::time::timeout(Duration::from_secs(5), &mut self.stderr)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        panic!("the {} callers {what}; stderr:\n{stderr}", self.language.name());
    }

    /// The child's counts now.
    async fn mark(&mut self, label: &str) -> Counts {
        let stdin = self.stdin.as_mut().expect("stdin open");
        if stdin.write_all(format!("mark {label}\n").as_bytes()).await.is_err() || stdin.flush().await.is_err() {
            self.fail("closed its stdin").await;
        }
        self.next_event("mark", Some(label), STEP_TIMEOUT).await
    }

    /// Asks for the counts until `done` holds them.
    async fn wait_for(&mut self, what: &str, done: impl Fn(&Counts) -> bool) -> Counts {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let mut polls = 0u32;
        loop {
            polls += 1;
            let counts = self.mark(&format!("poll-{polls}")).await;
            if done(&counts) {
                return counts;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("did not reach \"{what}\" in {STEP_TIMEOUT:?}: {counts:?}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Closes stdin (the stop signal), waits for the report and the exit; returns the report and
    /// everything the child printed.
    async fn stop(mut self) -> (Counts, String) {
        drop(self.stdin.take());
        let report = self.next_event("report", None, STEP_TIMEOUT).await;
        let status = tokio::time::timeout(STEP_TIMEOUT, self.child.wait())
            .await
            .expect("the callers exit after their report")
            .expect("wait for the callers");
        let stderr = (&mut self.stderr).await.unwrap_or_default();
        assert!(status.success(), "the callers exited with {status}; stderr:\n{stderr}");
        let stdout = self.stdout.lock().unwrap().clone();
        (report, format!("{stdout}\n{stderr}"))
    }
}

/// What one rotation cost the callers, from their counts and from the emulator's call log.
struct Round {
    calls: u64,
    unauthorized: u64,
    secret_reads: u64,
    token_requests: u64,
    /// Token requests the emulator saw from the integration's clients (not the rotator's master).
    emulator_token_requests: usize,
    /// 401s the emulator answered on `tokens/me`.
    emulator_401s: usize,
}

/// The org's master, acting as an operator would.
fn master(org: &Org) -> GenesysClient {
    GenesysClient::new(
        reqwest::Client::new(),
        Endpoints::single(Url::parse(&org.emulator.base_url()).unwrap()),
        ClientCredentials::new(ClientId::parse(&org.master_id).unwrap(), &org.master_secret),
        HttpSettings::default(),
    )
}

/// Token requests from the integration's clients and 401s on tokens/me in the emulator's call
/// log from position `from` on, and the log's length.
fn emulator_counts(org: &Org, from: usize) -> (usize, usize, usize) {
    let calls = org.emulator.calls();
    let new = &calls[from.min(calls.len())..];
    let tokens = new
        .iter()
        .filter(|c| c.route == routes::TOKEN && c.client_id.as_deref() != Some(org.master_id.as_str()))
        .count();
    let unauthorized = new
        .iter()
        .filter(|c| c.route == routes::TOKENS_ME && c.status == Some(401))
        .count();
    (tokens, unauthorized, calls.len())
}

/// The caller program's environment: the secret, the org's region pointed at its emulator,
/// Secrets Manager at moto (through the layer that answers as AWS does) with test credentials, `callers` callers, and `extra`.
/// `CONSUMER_LOG_LEVEL=DEBUG` shows the helper's refreshes (client ids only) in a failure's stderr.
fn child_env(w: &World, arn: &str, callers: u64, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let log_level = std::env::var("CONSUMER_LOG_LEVEL").unwrap_or_else(|_| "WARNING".to_owned());
    let mut env = vec![
        ("GENESYS_SECRET_ID", arn.to_owned()),
        ("GENESYS_ENDPOINT_OVERRIDES", endpoint_overrides(&w.orgs)),
        ("CALLERS", callers.to_string()),
        ("PAUSE_MS", PAUSE_MS.to_owned()),
        ("MAX_SECONDS", CHILD_MAX_SECONDS.to_owned()),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", w._moto.sm.url.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("LOG_LEVEL", log_level),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Nothing secret in what the child printed: no client secret (master, legacy, rotated) and no
/// token the emulator ever minted.
fn assert_printed_no_secret(org: &Org, printed: &str) {
    let secrets = org.emulator.issued_secrets();
    let tokens = org.emulator.issued_tokens();
    assert!(
        secrets.len() >= 3 && !tokens.is_empty(),
        "the search has something to find"
    );
    for (kind, values) in [("client secret", &secrets), ("token", &tokens)] {
        for value in values {
            if let Some(line) = printed.lines().find(|l| l.contains(value.as_str())) {
                panic!(
                    "the callers printed a {kind}: {}",
                    line.replace(value.as_str(), "[REDACTED]")
                );
            }
        }
    }
}

async fn callers_survive_ten_rotations_and_deletes(language: Language) {
    let started = Instant::now();
    let dw = DrainWorld::new(&[]).await;
    let w = &dw.w;
    let org = w.org();
    let arn = w.integration_secret().await;
    let (mut callers, ready) = Callers::start(language, &child_env(w, &arn, CALLERS, &[])).await;
    let start_up = started.elapsed();
    assert_eq!(ready.client_id.as_deref(), Some(org.legacy_id.as_str()), "{ready:?}");
    assert_eq!(
        (ready.secret_reads, ready.token_requests),
        (1, 1),
        "start-up: {ready:?}"
    );
    if let (Language::Python, Some(helper)) = (language, &ready.helper) {
        assert!(
            helper.contains("site-packages"),
            "the helper installed by pip, not the source file, is imported: {helper}"
        );
    }

    let operator = master(org);
    let mut last = callers.mark("start").await;
    let mut rounds = Vec::new();
    let mut deleted_while_held = 0;
    for round in 1..=ROTATIONS {
        if round == RATE_LIMITED_ROUND {
            org.emulator.inject_fault(Fault::new(
                routes::TOKENS_ME,
                FaultAction::Status {
                    status: 429,
                    retry_after: Some(1),
                },
            ));
        }
        let retiring = w.client_id(&arn, AWSCURRENT).await;
        dw.rotate(&arn, 1).await;
        let current = w.client_id(&arn, AWSCURRENT).await;
        assert_ne!(current, retiring);
        // From here on the emulator's log counts the callers' token requests only (testSecret's
        // came from the new client, the cleanup's from the master).
        let (_, _, log_at) = emulator_counts(org, 0);

        // The retired client is inactive: its token keeps working, and the callers keep using it.
        let held = callers
            .wait_for("calls go on after the rotation", |c| c.ok >= last.ok + CALLERS)
            .await;
        if held.client_id.as_deref() == Some(retiring.as_str()) {
            deleted_while_held += 1;
        }
        // The drain has passed: the cleanup deletes the retired client, which kills its tokens
        // (the legacy client, outside the prefix, is refused, and deleted by hand as the README
        // tells the operator to).
        dw.delete_retired(&operator, &retiring, round).await;
        let moved = callers
            .wait_for("the callers moved to the current client", |c| {
                c.client_id.as_deref() == Some(current.as_str()) && c.ok >= held.ok + 2 * CALLERS
            })
            .await;
        let after = if round == RATE_LIMITED_ROUND {
            callers
                .wait_for("the 429 was waited out", |c| {
                    c.rate_limit_waits >= 1 && c.ok >= moved.ok + CALLERS
                })
                .await
        } else {
            moved
        };
        let (emulator_token_requests, emulator_401s, _) = emulator_counts(org, log_at);
        rounds.push(Round {
            calls: after.calls - last.calls,
            unauthorized: after.unauthorized - last.unauthorized,
            secret_reads: after.secret_reads - last.secret_reads,
            token_requests: after.token_requests - last.token_requests,
            emulator_token_requests,
            emulator_401s,
        });
        last = after;
    }
    let (report, printed) = callers.stop().await;

    println!(
        "{} consumer helper under rotation: {CALLERS} callers, {ROTATIONS} rotations, {deleted_while_held} deletes \
         of a client whose token the callers held, in {:.1} s (start-up {:.1} s)",
        language.name(),
        started.elapsed().as_secs_f64(),
        start_up.as_secs_f64(),
    );
    println!(
        "  calls {}, ok {}, failed {}; 401s {} (recovered {}); 429s waited out {}; start-up: {} secret read, {} token request",
        report.calls,
        report.ok,
        report.failed,
        report.unauthorized,
        report.recovered,
        report.rate_limit_waits,
        ready.secret_reads,
        ready.token_requests,
    );
    println!("  round  calls  401s  secret reads  token requests (emulator saw)  emulator 401s");
    for (i, r) in rounds.iter().enumerate() {
        println!(
            "  {:>5}  {:>5}  {:>4}  {:>12}  {:>14} ({:>2})  {:>13}",
            i + 1,
            r.calls,
            r.unauthorized,
            r.secret_reads,
            r.token_requests,
            r.emulator_token_requests,
            r.emulator_401s
        );
    }
    let per = |f: fn(&Round) -> u64| rounds.iter().map(f).sum::<u64>() as f64 / rounds.len() as f64;
    println!(
        "  per rotation: {:.1} secret reads, {:.1} token requests, {:.1} 401s met by the callers",
        per(|r| r.secret_reads),
        per(|r| r.token_requests),
        per(|r| r.unauthorized)
    );

    assert!(!report.timed_out, "the callers stopped by themselves");
    assert_eq!(report.failed, 0, "failed calls: {:?}", report.failures);
    assert_eq!(report.ok, report.calls);
    assert_eq!(
        deleted_while_held, ROTATIONS,
        "every delete hit a client the callers were using"
    );
    for (i, r) in rounds.iter().enumerate() {
        let round = i + 1;
        assert!(r.calls >= 3 * CALLERS, "round {round}: calls went on ({})", r.calls);
        assert!(
            r.unauthorized >= 1,
            "round {round}: the delete forced the callers to refresh"
        );
        assert!(
            r.emulator_401s >= 1,
            "round {round}: the emulator refused the deleted client's token"
        );
        // One refresh per rotation, not one per caller.
        assert!(
            (1..=2).contains(&r.secret_reads),
            "round {round}: {} secret reads",
            r.secret_reads
        );
        assert!(
            (1..=2).contains(&r.token_requests),
            "round {round}: {} token requests",
            r.token_requests
        );
        assert_eq!(
            r.emulator_token_requests as u64, r.token_requests,
            "round {round}: the emulator saw the token requests the helper counted"
        );
    }
    assert_eq!(report.recovered, report.unauthorized, "every 401 recovered");
    assert!(report.rate_limit_waits >= 1, "the 429 was waited out: {report:?}");

    assert_printed_no_secret(org, &printed);
}

/// A token request refused with `invalid_client` from a cached credential re-reads the secret:
/// no token caching (a refresh margin beyond any lifetime: a token request per call), the
/// credential cached for an hour, and three rotations whose retired clients are deactivated (no
/// new tokens) but not deleted, so no call ever meets a 401. Each rotation costs one secret read.
async fn a_cached_credential_refused_is_read_again(language: Language) {
    const FEW: u64 = 4;
    let dw = DrainWorld::new(&[]).await;
    let w = &dw.w;
    let org = w.org();
    let arn = w.integration_secret().await;
    let extra = [("CREDENTIAL_TTL_SECONDS", "3600"), ("REFRESH_MARGIN_SECONDS", "864000")];
    let (mut callers, ready) = Callers::start(language, &child_env(w, &arn, FEW, &extra)).await;
    assert_eq!(ready.secret_reads, 1, "{ready:?}");
    for round in 1..=3 {
        let before = callers.mark(&format!("before-{round}")).await;
        dw.rotate(&arn, 1).await;
        let current = w.client_id(&arn, AWSCURRENT).await;
        let after = callers
            .wait_for("the callers moved to the current client", |c| {
                c.client_id.as_deref() == Some(current.as_str()) && c.ok >= before.ok + 2 * FEW
            })
            .await;
        assert_eq!(
            after.secret_reads - before.secret_reads,
            1,
            "round {round}: one read after the cached credential was refused: {after:?}"
        );
        assert!(after.token_requests - before.token_requests >= FEW, "{after:?}");
    }
    let (report, printed) = callers.stop().await;
    println!(
        "{} helper, cached credential refused: {} calls, {} failed, {} 401s, {} secret reads, {} token requests",
        language.name(),
        report.calls,
        report.failed,
        report.unauthorized,
        report.secret_reads,
        report.token_requests
    );
    assert_eq!(report.failed, 0, "failed calls: {:?}", report.failures);
    assert_eq!(report.unauthorized, 0, "the token endpoint refused; no API call did");
    assert_eq!(report.secret_reads, 1 + 3);
    assert_printed_no_secret(org, &printed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_helper_sixteen_threads_see_no_failure_through_ten_rotations_and_deletes() {
    callers_survive_ten_rotations_and_deletes(Language::Python).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_helper_sixteen_callers_see_no_failure_through_ten_rotations_and_deletes() {
    callers_survive_ten_rotations_and_deletes(Language::Node).await;
}

#[tokio::test]
async fn python_helper_reads_the_secret_again_when_a_cached_credential_is_refused() {
    a_cached_credential_refused_is_read_again(Language::Python).await;
}

#[tokio::test]
async fn node_helper_reads_the_secret_again_when_a_cached_credential_is_refused() {
    a_cached_credential_refused_is_read_again(Language::Node).await;
}
