//! The plugin protocol against a real OpenBao 2.7.2 dev server (`BAO_BIN`), with the echo
//! backend (examples/echo_plugin.rs): registration and mount (handshake, AutoMTLS, broker),
//! storage round trips, errors as HTTP statuses, leases renewed and revoked, the periodic
//! rollback, a killed plugin restarted, reload, unmount and cleanup, and logs without secrets.
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{example_binary, Bao};

const PLUGIN: &str = "echo";
const MOUNT: &str = "echo";

/// A server with the echo plugin mounted at `echo/`, logging at debug.
async fn mounted() -> Bao {
    let bao = Bao::start().await;
    bao.register_plugin(
        PLUGIN,
        &example_binary("echo_plugin"),
        &[("GENESYS_PLUGIN_LOG_LEVEL", "debug")],
    )
    .await;
    bao.mount(MOUNT, PLUGIN).await;
    bao
}

async fn plugin_pid(bao: &Bao) -> u64 {
    let (status, body) = bao.read("echo/pid").await;
    assert_eq!(status, 200, "{body}");
    body["data"]["pid"].as_u64().expect("a pid")
}

#[tokio::test]
async fn written_data_round_trips_through_the_servers_storage() {
    let bao = mounted().await;

    let (status, body) = bao
        .write("echo/data/a", json!({"x": 1, "nested": {"y": [true, "z"]}}))
        .await;
    assert_eq!(status, 204, "{body}");
    bao.write("echo/data/b", json!({"x": 2})).await;

    let (status, body) = bao.read("echo/data/a").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!({"x": 1, "nested": {"y": [true, "z"]}}));

    let (status, body) = bao.list("echo/data/").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["keys"], json!(["a", "b"]));

    let (status, _) = bao.delete("echo/data/a").await;
    assert_eq!(status, 204);
    let (status, _) = bao.read("echo/data/a").await;
    assert_eq!(status, 404, "a read answered Ok(None) is a 404");

    // Initialize ran after Setup, through the same storage.
    let (_, events) = bao.read("echo/events").await;
    assert_eq!(events["data"]["initialize"], true, "{events}");
}

#[tokio::test]
async fn the_system_view_reports_the_mounts_lease_ttls() {
    let bao = Bao::start().await;
    bao.register_plugin(PLUGIN, &example_binary("echo_plugin"), &[]).await;
    bao.mount_with_config(MOUNT, PLUGIN, json!({"default_lease_ttl": "1h", "max_lease_ttl": "2h"}))
        .await;
    let (status, body) = bao.read("echo/ttls").await;
    assert_eq!(status, 200, "{body}");
    // Nanoseconds on the wire, seconds here.
    assert_eq!(body["data"], json!({"default_lease_ttl": 3600, "max_lease_ttl": 7200}));
}

#[tokio::test]
async fn backend_errors_reach_the_caller_as_http_statuses() {
    let bao = mounted().await;

    let (status, body) = bao.write("echo/data/x", json!({"bad": 1})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"], json!(["bad: this field is refused"]));
    let (status, _) = bao.read("echo/data/x").await;
    assert_eq!(status, 404, "a refused write stores nothing");

    let (status, body) = bao.read("echo/no-such-path").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = bao.write("echo/events", json!({})).await;
    assert_eq!(status, 405, "{body}");
    let (status, body) = bao.read("echo/denied").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = bao.read("echo/fail").await;
    assert_eq!(status, 500, "{body}");
    // The server wraps a plain error in its multi-error text; the message is inside.
    let message = body["errors"][0].as_str().unwrap_or_default();
    assert!(message.contains("the echo backend failed on purpose"), "{body}");
}

#[tokio::test]
async fn leases_are_issued_renewed_and_revoked_through_the_backend() {
    let bao = mounted().await;

    let (status, body) = bao.read("echo/lease/l1").await;
    assert_eq!(status, 200, "{body}");
    let lease_id = body["lease_id"].as_str().expect("a lease id").to_string();
    assert!(lease_id.starts_with("echo/lease/l1/"), "{lease_id}");
    assert_eq!(body["lease_duration"], 60);
    assert_eq!(body["renewable"], true);
    assert_eq!(body["data"], json!({"name": "l1"}));
    assert_eq!(body["warnings"], json!(["lease l1 issued by the echo backend"]));

    let (status, body) = bao.put("sys/leases/renew", json!({"lease_id": lease_id})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lease_duration"], 120, "the backend's renewal TTL: {body}");

    let (status, body) = bao.put("sys/leases/revoke", json!({"lease_id": lease_id})).await;
    assert_eq!(status, 204, "{body}");

    let (_, events) = bao.read("echo/events").await;
    assert_eq!(events["data"]["renew"], json!(["l1"]), "{events}");
    assert_eq!(events["data"]["revoke"], json!(["l1"]), "{events}");
}

#[tokio::test]
async fn the_rollback_call_reaches_the_backend_on_remount() {
    // The periodic rollback runs every minute (not configurable outside the server's own tests);
    // a remount runs the same rollback at once, and keeps the storage to read the result from.
    let bao = mounted().await;
    let (status, body) = bao.write("sys/remount", json!({"from": MOUNT, "to": "moved"})).await;
    assert!(status < 300, "{status} {body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, events) = bao.read("moved/events").await;
        if status == 200 && events["data"]["rollback"].as_u64() >= Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "no rollback recorded: {status} {events}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_killed_plugin_is_restarted_on_the_next_request() {
    let bao = mounted().await;
    bao.write("echo/data/kept", json!({"v": "still here"})).await;
    let first = plugin_pid(&bao).await;

    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    // The request that finds the plugin gone restarts it (the server retries once); allow for
    // the moment before the server notices the exit.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (second, body) = loop {
        let (status, body) = bao.read("echo/data/kept").await;
        if status == 200 {
            break (plugin_pid(&bao).await, body);
        }
        assert!(Instant::now() < deadline, "never restarted: {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(first, second);
    assert_eq!(body["data"], json!({"v": "still here"}), "storage is the server's");
}

#[tokio::test]
async fn reloading_the_plugin_starts_a_new_process_after_cleanup() {
    let bao = mounted().await;
    let first = plugin_pid(&bao).await;
    let (status, body) = bao.put("sys/plugins/reload/backend", json!({"plugin": PLUGIN})).await;
    assert!(status < 300, "{status} {body}");
    bao.wait_for_log("the old backend's cleanup", Duration::from_secs(20), |log| {
        log.contains("echo backend cleanup")
    })
    .await;
    let second = plugin_pid(&bao).await;
    assert_ne!(first, second);
}

#[tokio::test]
async fn unmounting_revokes_leases_then_cleans_the_backend_up() {
    let bao = mounted().await;
    let (status, body) = bao.read("echo/lease/gone").await;
    assert_eq!(status, 200, "{body}");
    bao.unmount(MOUNT).await;
    bao.wait_for_log("cleanup after unmount", Duration::from_secs(20), |log| {
        log.contains("echo backend cleanup")
    })
    .await;
    // The plugin's own debug lines, read by the server from its stderr as hclog JSON.
    let log = bao.server_log();
    assert!(bao.log_has_line(&["handled:", "operation=rollback"]), "{log}");
    assert!(
        bao.log_has_line(&["handled:", "operation=revoke", "path=lease/gone"]),
        "{log}"
    );
    let (status, _) = bao.read("echo/pid").await;
    assert_eq!(status, 404, "no mount any more");
}

#[tokio::test]
async fn request_data_never_reaches_the_logs() {
    let bao = mounted().await;
    let secret = "s3cr3t-4c7e9d1b-value";
    let (status, body) = bao.write("echo/data/creds", json!({"client_secret": secret})).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = bao.read("echo/data/creds").await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = bao
        .write("echo/data/creds", json!({"client_secret": secret, "bad": 1}))
        .await;
    assert_eq!(status, 400);

    let log = bao.server_log();
    assert!(
        bao.log_has_line(&["handled:", "operation=update", "path=data/creds"]),
        "debug logs are on: {log}"
    );
    assert!(!log.contains(secret), "the server log holds the secret:\n{log}");
    let audit = bao.audit_log();
    assert!(audit.contains("data/creds"), "the audit log is written: {audit}");
    assert!(
        !audit.contains(secret),
        "the audit log holds the secret (it should be HMAC'd)"
    );
}

#[test]
fn run_by_hand_the_plugin_says_what_it_is_and_fails() {
    let out = std::process::Command::new(example_binary("echo_plugin"))
        .env_remove("VAULT_BACKEND_PLUGIN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no handshake line");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not meant to be run directly"), "{stderr}");
}
