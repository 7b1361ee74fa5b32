//! A real OpenBao HA cluster, the way production runs it: N servers (not dev mode) on loopback
//! ports chosen at run time, each with its own integrated (Raft) storage and plugin directory;
//! the first initialised (one Shamir key share) and unsealed, the others joining it
//! (`retry_join`) and unsealed with the same key, until every node is a Raft voter. Each server
//! leads its own process group, with its plugins: [`Cluster::kill`] ends a node as a machine dies
//! (SIGKILL to the group, plugins included), [`Cluster::restart`] brings it back on its Raft
//! data; drop stops every node left (SIGTERM, then SIGKILL).
//! The run directory is removed on drop, unless the test failed or `KEEP_BAO_DIR` is set.
//!
//! ```ignore
//! let mut cluster = support::cluster::Cluster::start(3).await;
//! let active = cluster.active(Duration::from_secs(30)).await;
//! let sha256 = cluster.register_plugin("genesys", binary, &[("K", "V")]).await; // every node
//! cluster.api(active).write("sys/mounts/genesys", json!({"type": "genesys"})).await;
//! cluster.kill(active);
//! ```
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{bao_bin, free_port, place_plugin, run_dir, sha256_of, Api};

/// One server of the cluster.
pub struct Node {
    /// `node1`, `node2`, ...: its Raft node id.
    pub name: String,
    /// Its run directory: config.hcl, raft/, plugins/, server.log.
    pub dir: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// Running until [`Cluster::kill`].
    child: Option<Child>,
}

impl Node {
    /// Its log so far (its own lines and its plugins' stderr).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Whether one line of its log holds every part.
    pub fn log_has_line(&self, parts: &[&str]) -> bool {
        self.server_log()
            .lines()
            .any(|line| parts.iter().all(|part| line.contains(part)))
    }

    /// Whether it has not been killed.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// A running cluster.
pub struct Cluster {
    /// Its nodes, in start order (node 0 was initialised).
    pub nodes: Vec<Node>,
    /// The cluster's root token (from `operator init`).
    pub root_token: String,
    /// Its one unseal key.
    unseal_key: String,
    dir: PathBuf,
}

impl Cluster {
    /// Starts `n` nodes, initialises the first, joins the others to it, unseals them all, and
    /// waits until the first is active and the others are standbys.
    pub async fn start(n: usize) -> Cluster {
        let bin = bao_bin();
        let dir = run_dir();
        let mut cluster = Cluster {
            nodes: Vec::new(),
            root_token: String::new(),
            unseal_key: String::new(),
            dir: dir.clone(),
        };
        let leader = cluster.start_node(&bin, None);
        let api = Api::new(&leader, "");
        let (status, init) = api
            .put("sys/init", json!({"secret_shares": 1, "secret_threshold": 1}))
            .await;
        assert_eq!(status, 200, "operator init: {init}");
        let key = init["keys_base64"][0].as_str().expect("an unseal key").to_owned();
        cluster.root_token = init["root_token"].as_str().expect("a root token").to_owned();
        cluster.unseal_key = key.clone();
        unseal(&api, &key).await;
        cluster.wait_health(0, 200, "active").await;
        // Autopilot adds a joining node as a non-voter and promotes it once it has been healthy
        // for server_stabilization_time (10 s by default): until then the cluster has no quorum
        // without the leader.
        let root = Api::new(&leader, &cluster.root_token);
        let (status, body) = root
            .write(
                "sys/storage/raft/autopilot/configuration",
                json!({"server_stabilization_time": "2s"}),
            )
            .await;
        assert!(status < 300, "autopilot configuration: {status} {body}");
        for _ in 1..n {
            cluster.start_node(&bin, Some(&leader));
        }
        for i in 1..n {
            let api = Api::new(&cluster.nodes[i].addr, "");
            // retry_join asks the leader every 2 s; once joined the node is initialised and
            // sealed, and takes the cluster's key.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let (_, status) = api.read("sys/seal-status").await;
                if status["initialized"] == json!(true) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} never joined:\n{}",
                    cluster.nodes[i].name,
                    cluster.nodes[i].server_log()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            unseal(&api, &key).await;
        }
        for i in 1..n {
            cluster.wait_health(i, 429, "standby").await;
        }
        cluster.wait_voters(&root, n).await;
        cluster
    }

    /// Waits until the Raft configuration has `n` voters: any one node may then die.
    async fn wait_voters(&self, leader: &Api, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, body) = leader.read("sys/storage/raft/configuration").await;
            let voters = body["data"]["config"]["servers"]
                .as_array()
                .map(|servers| servers.iter().filter(|s| s["voter"] == json!(true)).count())
                .unwrap_or(0);
            if voters == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{voters} of {n} nodes are voters: {body}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Starts the next node (joining `leader`, if given); its API address. A port taken between
    /// choosing and binding makes the server exit: tried again with other ports.
    fn start_node(&mut self, bin: &Path, leader: Option<&str>) -> String {
        let name = format!("node{}", self.nodes.len() + 1);
        let dir = self.dir.join(&name);
        std::fs::create_dir_all(dir.join("raft")).expect("the node's raft directory");
        std::fs::create_dir_all(dir.join("plugins")).expect("the node's plugin directory");
        for _ in 0..3 {
            let (port, cluster_port) = (free_port(), free_port());
            let addr = format!("http://127.0.0.1:{port}");
            let join = leader
                .map(|l| format!("  retry_join {{\n    leader_api_addr = \"{l}\"\n  }}\n"))
                .unwrap_or_default();
            // performance_multiplier = 1: Raft's production timing (the default, 5, is for
            // small machines and makes a leader election take several seconds longer); autopilot
            // checks every second (10 s by default) whether a joined node may become a voter.
            let config = format!(
                r#"storage "raft" {{
  path = "{raft}"
  node_id = "{name}"
  performance_multiplier = 1
  autopilot_reconcile_interval = "1s"
  autopilot_update_interval = "500ms"
{join}}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable = true
}}
api_addr = "{addr}"
cluster_addr = "https://127.0.0.1:{cluster_port}"
plugin_directory = "{plugins}"
log_level = "debug"
"#,
                raft = dir.join("raft").display(),
                plugins = dir.join("plugins").display(),
            );
            std::fs::write(dir.join("config.hcl"), config).expect("the node's config");
            let mut child = spawn(bin, &dir);
            if listening(&addr, &mut child) {
                self.nodes.push(Node {
                    name,
                    dir,
                    addr: addr.clone(),
                    child: Some(child),
                });
                return addr;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "{name} did not start; its log:\n{}",
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        );
    }

    /// Node `i`'s API, with the root token.
    pub fn api(&self, i: usize) -> Api {
        Api::new(&self.nodes[i].addr, &self.root_token)
    }

    /// Copies `binary` into every node's plugin directory as `name` and registers it once (the
    /// catalog is in the replicated storage): every node runs the same file, same SHA-256. The
    /// SHA-256, for registering it again with another `env`.
    pub async fn register_plugin(&self, name: &str, binary: &Path, env: &[(&str, &str)]) -> String {
        for node in &self.nodes {
            place_plugin(&node.dir, name, binary);
        }
        let sha256 = sha256_of(&self.nodes[0].dir.join("plugins").join(name));
        let active = self.active(Duration::from_secs(30)).await;
        self.api(active).catalog(name, &sha256, env).await;
        sha256
    }

    /// The node that is active, once one running node says so (`sys/health` 200), within
    /// `within`.
    pub async fn active(&self, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            for (i, node) in self.nodes.iter().enumerate() {
                if node.is_running() && health(&node.addr).await == Some(200) {
                    return i;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no node became active within {within:?}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends node `i` as a machine dies: SIGKILL to its process group (the server and its
    /// plugins at once), nothing shut down cleanly.
    pub fn kill(&mut self, i: usize) {
        let mut child = self.nodes[i].child.take().expect("a running node");
        kill_group(&child);
        let _ = child.wait();
    }

    /// Whether node `i`'s server has exited by itself (it is then no longer running).
    pub fn exited(&mut self, i: usize) -> bool {
        let node = &mut self.nodes[i];
        let Some(child) = node.child.as_mut() else {
            return false;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            // Its plugins may outlive it.
            kill_group(child);
            node.child = None;
            return true;
        }
        false
    }

    /// Starts node `i` again, after it died or was killed, on its configuration and Raft data,
    /// unseals it and waits until it is a standby.
    pub async fn restart(&mut self, i: usize) {
        assert!(!self.nodes[i].is_running(), "{} is running", self.nodes[i].name);
        let mut child = spawn(&bao_bin(), &self.nodes[i].dir);
        assert!(
            listening(&self.nodes[i].addr, &mut child),
            "{} did not start again:\n{}",
            self.nodes[i].name,
            self.nodes[i].server_log()
        );
        self.nodes[i].child = Some(child);
        unseal(&Api::new(&self.nodes[i].addr, ""), &self.unseal_key).await;
        self.wait_health(i, 429, "standby").await;
    }

    async fn wait_health(&self, i: usize, want: u16, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while health(&self.nodes[i].addr).await != Some(want) {
            assert!(
                Instant::now() < deadline,
                "{} never became {what}:\n{}",
                self.nodes[i].name,
                self.nodes[i].server_log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("== {} ==\n{}", n.name, n.server_log()))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGTERM to every server (each shuts its plugins down), then SIGKILL to whatever is
        // left of each group.
        for node in &self.nodes {
            if let Some(child) = &node.child {
                let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                while Instant::now() < deadline && !matches!(child.try_wait(), Ok(Some(_))) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                kill_group(&child);
                let _ = child.wait();
            }
        }
        if std::thread::panicking() || std::env::var_os("KEEP_BAO_DIR").is_some() {
            eprintln!("OpenBao cluster directory kept for inspection: {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Starts the server of the node in `dir` (its config.hcl), its output appended to its
/// server.log, in its own process group, which its plugins join: `kill` ends them together.
fn spawn(bin: &Path, dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("server.log");
    Command::new(bin)
        .args(["server", &format!("-config={}", dir.join("config.hcl").display())])
        .env_clear()
        .env("HOME", dir)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("server.log"))
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()))
}

/// SIGKILL to the process group `child` leads (it was spawned with `process_group(0)`).
fn kill_group(child: &Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
}

async fn unseal(api: &Api, key: &str) {
    let (status, body) = api.put("sys/unseal", json!({"key": key})).await;
    assert_eq!(status, 200, "unseal: {body}");
}

/// `sys/health`'s status (200 active, 429 standby, 501 not initialised, 503 sealed), or `None`
/// if the node does not answer.
pub async fn health(addr: &str) -> Option<u16> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?
        .get(format!("{addr}/v1/sys/health"))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Waits until the server at `addr` accepts connections, or has exited.
fn listening(addr: &str, child: &mut Child) -> bool {
    let socket = addr.trim_start_matches("http://");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if std::net::TcpStream::connect(socket).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
