//! The Genesys engine on OpenBao in high availability, the way production runs it: a 3-node
//! cluster with integrated (Raft) storage on loopback (`support::cluster`), the plugin in every
//! node's plugin directory with the same SHA-256, the Genesys emulator in this test process.
//!
//! The active node dies (SIGKILL to the server and its plugins, as a machine dies) while a
//! `creds` read is creating its client. Then: a standby becomes active and serves `creds`, the
//! other standby forwards `creds` to it, leases issued before the failover are revoked at their
//! expiry by the new active node, the dead node's create record is rolled back (its client
//! deleted) by the new active node's periodic pass while the standby leaves the pass alone, and
//! once the last leases are revoked no client of the mount is left: the org holds the master
//! alone, and no node's log holds a secret or token the emulator issued.
//!
//! A node whose plugin file differs from the catalog's SHA-256 does not run the mount (a standby,
//! serving reads itself, answers for it with an error), dies at the next write to the mount's
//! storage (OpenBao 2.7.2), and runs the mount once it has the same file and is restarted.
mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use genesys_emulator::{routes, Emulator, EmulatorConfig, RoleDivision, SeedClient, SeededClient};
use serde_json::json;
use support::cluster::Cluster;
use support::Api;

const PLUGIN: &str = "genesys";
const REGION: &str = "mypurecloud.ie";
const ROLE_ID: &str = "crm-integration-role";
const MASTER_PERMISSIONS: [&str; 5] = [
    "oauth:client:view",
    "oauth:client:add",
    "oauth:client:edit",
    "oauth:client:delete",
    "authorization:role:view",
];
/// How far ahead the plugin's clock runs once the catalog entry changes (a test build only):
/// beyond `rollback_min_age` (3 min), so the new active node's first periodic pass acts on the
/// dead node's create record instead of the test waiting 3 minutes.
const CLOCK_SKEW: &str = "240";

fn plugin_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vault-plugin-secrets-genesys"))
}

/// A `creds/crm` read whose credential works: the lease id and the client id.
async fn creds(api: &Api, emu: &Emulator) -> (String, String) {
    let (status, body) = api.read("genesys/creds/crm").await;
    assert_eq!(status, 200, "creds through {}: {body}", api.addr);
    let client_id = body["data"]["client_id"].as_str().expect("a client id").to_owned();
    let secret = body["data"]["client_secret"].as_str().expect("a client secret");
    if let Err(e) = emu.token_grantable(&client_id, secret) {
        panic!("the leased credential of {client_id} gets no token: {e}");
    }
    (body["lease_id"].as_str().expect("a lease id").to_owned(), client_id)
}

async fn renew(api: &Api, lease_id: &str, increment: u64) {
    let (status, body) = api
        .put(
            "sys/leases/renew",
            json!({"lease_id": lease_id, "increment": increment}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lease_duration"], json!(increment), "{body}");
}

/// Waits until the server no longer knows `lease_id` (it drops the lease once its backend has
/// revoked it).
async fn lease_gone(api: &Api, lease_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = api.put("sys/leases/lookup", json!({"lease_id": lease_id})).await;
        if status == 400 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "lease {lease_id} is still there: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The ids of the emulator's clients whose description carries `owner` (the mount's marker).
fn clients_of(emu: &Emulator, owner: &str) -> Vec<String> {
    emu.clients()
        .into_iter()
        .filter(|c| c.description.as_deref().is_some_and(|d| d.contains(owner)))
        .map(|c| c.id)
        .collect()
}

/// Polls until `done` holds, or panics saying `what` after `within`.
async fn until(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_node_dies_mid_create_and_the_new_one_leaves_no_client_behind() {
    let emu = Arc::new(
        Emulator::start(EmulatorConfig::default())
            .await
            .expect("the Genesys emulator"),
    );
    emu.seed_role(ROLE_ID, &["conversation:communication:view"]);
    let master: SeededClient = emu.seed_client(SeedClient {
        role_divisions: vec![RoleDivision {
            role_id: ROLE_ID.to_owned(),
            division_id: "*".to_owned(),
        }],
        ..SeedClient::new("vault-master", &MASTER_PERMISSIONS)
    });
    let overrides = format!("{REGION}={}", emu.base_url());
    let env = [
        ("GENESYS_ENDPOINT_OVERRIDES", overrides.as_str()),
        ("GENESYS_PLUGIN_LOG_LEVEL", "debug"),
    ];

    let mut cluster = Cluster::start(3).await;
    let first = cluster.active(Duration::from_secs(30)).await;
    let sha256 = cluster.register_plugin(PLUGIN, plugin_binary(), &env).await;
    let api = cluster.api(first);
    let (status, body) = api.write("sys/mounts/genesys", json!({"type": PLUGIN})).await;
    assert!(status < 300, "mounting: {status} {body}");
    let config =
        json!({"client_id": master.id, "client_secret": master.secret, "region": REGION, "rollback_min_age": "3m"});
    let (status, body) = api.write("genesys/config", config).await;
    assert_eq!(status, 204, "{body}");
    let role = json!({"role_divisions": format!("{ROLE_ID}:*"), "ttl": "1h", "max_ttl": "4h"});
    let (status, body) = api.write("genesys/roles/crm", role).await;
    assert_eq!(status, 204, "{body}");
    let (_, body) = api.read("genesys/config").await;
    let owner = body["data"]["owner"].as_str().expect("the mount's owner id").to_owned();

    // Two leases before the failover; the first renewed to end 20 s from now.
    let (lease1, client1) = creds(&api, &emu).await;
    let (lease2, client2) = creds(&api, &emu).await;
    renew(&api, &lease1, 20).await;

    // The catalog entry changes (same file, same SHA-256): the running plugin keeps its
    // environment, and a node becoming active starts its plugin afresh with the new one.
    let skewed = [env[0], env[1], ("GENESYS_PLUGIN_CLOCK_SKEW_SECS", CLOCK_SKEW)];
    api.catalog(PLUGIN, &sha256, &skewed).await;

    // A creds read on the active node: its client is created, then the engine waits for it to
    // get a token (Genesys' propagation delay, 10 s here); the node dies in that wait.
    emu.set_propagation_delay(Duration::from_secs(10));
    let creates = || emu.call_counts().get(routes::CREATE_CLIENT).copied().unwrap_or(0);
    let before = creates();
    let addr = cluster.nodes[first].addr.clone();
    let token = cluster.root_token.clone();
    let reading = tokio::spawn(async move {
        reqwest::Client::new()
            .get(format!("{addr}/v1/genesys/creds/crm"))
            .header("X-Vault-Token", token)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    until("the create reaching the emulator", Duration::from_secs(20), || {
        creates() > before
    })
    .await;
    cluster.kill(first);
    let answer = reading.await.expect("the reading task");
    assert!(!matches!(answer, Ok(200)), "the read handed a lease out: {answer:?}");
    emu.set_propagation_delay(Duration::ZERO);
    let orphans: Vec<String> = clients_of(&emu, &owner)
        .into_iter()
        .filter(|id| *id != client1 && *id != client2)
        .collect();
    assert_eq!(orphans.len(), 1, "the dead node's create made one client: {orphans:?}");
    let orphan = orphans[0].clone();

    // A standby becomes active and serves creds; the other standby forwards creds to it (its
    // own plugin stops at the write-ahead record its read-only storage refuses, before any
    // Genesys change: one create per lease).
    let second = cluster.active(Duration::from_secs(60)).await;
    assert_ne!(second, first);
    let standby = (0..cluster.nodes.len())
        .find(|&i| i != first && i != second)
        .expect("the other standby");
    let (lease3, client3) = creds(&cluster.api(second), &emu).await;
    let before = creates();
    let (lease4, client4) = creds(&cluster.api(standby), &emu).await;
    assert_eq!(creates() - before, 1, "one client for the forwarded creds");

    // Leases issued before the failover are the new active node's: it renews the second one
    // (to 2 s), and revokes both at their expiry, deleting their clients.
    let new_active = cluster.api(second);
    renew(&new_active, &lease2, 2).await;
    until(
        "the leases issued before the failover revoked at their expiry",
        Duration::from_secs(60),
        || {
            let left = emu.clients();
            !left.iter().any(|c| c.id == client1 || c.id == client2)
        },
    )
    .await;
    for (lease, client) in [(&lease1, &client1), (&lease2, &client2)] {
        lease_gone(&new_active, lease).await;
        assert!(
            cluster.nodes[second].log_has_line(&["lease revoked: client deleted", client]),
            "the new active node revoked {lease}"
        );
        assert!(emu.deleted_client_ids().contains(client));
    }

    // The dead node's create record: the new active node's periodic pass (its first comes a
    // minute after it took over) deletes the client it made; the standby skips its passes.
    until(
        "the dead node's create rolled back by the new active node",
        Duration::from_secs(90),
        || !emu.clients().iter().any(|c| c.id == orphan),
    )
    .await;
    assert!(emu.deleted_client_ids().contains(&orphan));
    assert!(
        cluster.nodes[second].log_has_line(&["periodic pass deleted a client of this mount", &orphan]),
        "the new active node's pass deleted {orphan}"
    );
    until(
        "the standby leaving its periodic pass to the active node",
        Duration::from_secs(30),
        || cluster.nodes[standby].log_has_line(&["periodic pass skipped: this node is a standby"]),
    )
    .await;
    assert!(
        !cluster.nodes[standby].log_has_line(&["periodic pass done"]),
        "a standby ran a periodic pass"
    );

    // The leases issued after the failover end; no client of the mount is left.
    let (status, body) = new_active.put("sys/leases/revoke-prefix/genesys", json!({})).await;
    assert_eq!(status, 204, "{body}");
    for (lease, client) in [(&lease3, &client3), (&lease4, &client4)] {
        lease_gone(&new_active, lease).await;
        assert!(emu.deleted_client_ids().contains(client), "{client} deleted");
    }
    assert_eq!(
        clients_of(&emu, &owner),
        Vec::<String>::new(),
        "no client of the mount is left"
    );
    let left: Vec<String> = emu.clients().into_iter().map(|c| c.id).collect();
    assert_eq!(left, vec![master.id.clone()], "the org holds the master alone");

    // No node's log holds a secret or token the emulator issued, or the master's secret.
    let mut values = emu.issued_secrets();
    values.extend(emu.issued_tokens());
    values.push(master.secret.clone());
    for node in &cluster.nodes {
        let log = node.server_log();
        let leaked = values
            .iter()
            .filter(|v| v.len() >= 8 && log.contains(v.as_str()))
            .count();
        assert_eq!(leaked, 0, "{leaked} secret(s) or token(s) in {}'s log", node.name);
    }
}

/// Polls node `api` for `genesys/config` until it answers 200, or panics after 30 s.
async fn config_served(api: &Api) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = api.read("genesys/config").await;
        if status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never served the mount: {status} {body}",
            api.addr
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_plugin_file_differs_cannot_run_the_mount() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("the Genesys emulator");
    let master = emu.seed_client(SeedClient::new("vault-master", &MASTER_PERMISSIONS));
    let overrides = format!("{REGION}={}", emu.base_url());
    let env = [("GENESYS_ENDPOINT_OVERRIDES", overrides.as_str())];
    let mut cluster = Cluster::start(3).await;
    let active = cluster.active(Duration::from_secs(30)).await;
    // The catalog's SHA-256 is the file every node got; then one standby's file changes by a
    // byte, as on a node left out of an upgrade.
    let odd = (0..3).find(|&i| i != active).expect("a standby");
    cluster.register_plugin(PLUGIN, plugin_binary(), &env).await;
    let file = cluster.nodes[odd].dir.join("plugins").join(PLUGIN);
    let mut bytes = std::fs::read(&file).expect("the plugin file");
    bytes.push(0);
    let staged = cluster.nodes[odd].dir.join("plugin.staged");
    std::fs::write(&staged, bytes).expect("the changed file");
    std::fs::rename(&staged, &file).expect("the changed file in place");

    // The odd node refuses to start the plugin, and answers for the mount itself (a standby
    // serves reads: it does not forward this one).
    let api = cluster.api(active);
    let (status, body) = api.write("sys/mounts/genesys", json!({"type": PLUGIN})).await;
    assert!(status < 300, "mounting: {status} {body}");
    until("the odd node refusing the plugin", Duration::from_secs(30), || {
        cluster.nodes[odd].log_has_line(&["checksums did not match"])
    })
    .await;
    let (status, body) = cluster.api(odd).read("genesys/config").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.to_string().contains("backend is nil"), "{body}");

    // The first write to the mount's storage: the other nodes serve it; the odd node's server
    // dies (OpenBao 2.7.2 passes the write's invalidation to the mount's missing backend).
    let config = json!({"client_id": master.id, "client_secret": master.secret, "region": REGION});
    let (status, body) = api.write("genesys/config", config).await;
    assert_eq!(status, 204, "{body}");
    for i in (0..3).filter(|&i| i != odd) {
        config_served(&cluster.api(i)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cluster.exited(odd) {
        assert!(Instant::now() < deadline, "the odd node is still running");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        cluster.nodes[odd].log_has_line(&["Router).Invalidate"]),
        "{}",
        cluster.nodes[odd].server_log()
    );

    // The same file again and the node restarted: it runs the mount.
    support::place_plugin(&cluster.nodes[odd].dir, PLUGIN, plugin_binary());
    cluster.restart(odd).await;
    config_served(&cluster.api(odd)).await;
}
