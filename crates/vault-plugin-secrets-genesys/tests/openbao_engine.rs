//! The Genesys engine against a real OpenBao 2.7.2 dev server (`BAO_BIN`), over HTTP as an
//! operator and a consumer use it: the real plugin binary (built with `endpoint-overrides`),
//! registered with `GENESYS_ENDPOINT_OVERRIDES` pointing its region at the Genesys emulator,
//! which runs in this test process on a loopback port.
//!
//! Each test checks at its end that the clients it did not make (a hand-made one with the
//! engine's prefix, a hand-made one a static role rotates, another mount's) are untouched
//! unless rotated on purpose, and that neither the server's log nor its audit log holds any
//! secret or token the emulator issued.
mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use genesys_emulator::{
    routes, ClientRecord, Emulator, EmulatorConfig, Fault, FaultAction, RoleDivision, SeedClient, SeededClient,
};
use serde_json::{json, Value};
use support::{Bao, MASTER_PERMISSIONS, PLUGIN, REGION, ROLE_ID};

const PREFIX: &str = "vault-genesys-";

/// A server with the plugin mounted at `genesys/`, an org in the emulator with a master and two
/// hand-made clients (one named like the engine's own).
struct Env {
    bao: Bao,
    emu: Arc<Emulator>,
    master: SeededClient,
    /// Hand-made clients no test may change (unless a static role rotates one on purpose).
    bystanders: Vec<SeededClient>,
    http: reqwest::Client,
}

fn plugin_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vault-plugin-secrets-genesys"))
}

fn overrides(emu: &Emulator) -> String {
    format!("{REGION}={}", emu.base_url())
}

impl Env {
    async fn start() -> Env {
        let emu = Arc::new(
            Emulator::start(EmulatorConfig::default())
                .await
                .expect("the Genesys emulator"),
        );
        emu.seed_role(ROLE_ID, &["conversation:communication:view"]);
        // The four oauth:client permissions, and the role view static roles need; it holds the
        // role its mount's roles assign, in every division (the role rule).
        let master = emu.seed_client(SeedClient {
            role_divisions: vec![RoleDivision {
                role_id: ROLE_ID.to_owned(),
                division_id: "*".to_owned(),
            }],
            ..SeedClient::new("vault-master", &MASTER_PERMISSIONS)
        });
        // Named as the engine names its clients, but made by hand: never the engine's.
        let look_alike = emu.seed_client(SeedClient::new(
            format!("{PREFIX}{}", uuid::Uuid::new_v4()),
            &["conversation:communication:view"],
        ));
        let bao = Bao::start().await;
        bao.register_plugin(
            PLUGIN,
            plugin_binary(),
            &[("GENESYS_ENDPOINT_OVERRIDES", &overrides(&emu))],
        )
        .await;
        bao.mount("genesys", PLUGIN).await;
        Env {
            bao,
            emu,
            master,
            bystanders: vec![look_alike],
            http: reqwest::Client::new(),
        }
    }

    /// A started env with `config` written and role `crm` (ttl 1 h, token lifetime 2 h).
    async fn configured() -> Env {
        let env = Env::start().await;
        env.configure("genesys", json!({})).await;
        let (status, body) = env
            .bao
            .write(
                "genesys/roles/crm",
                json!({"role_divisions": [format!("{ROLE_ID}:*")], "ttl": "1h", "max_ttl": "4h", "token_lifetime": 7200}),
            )
            .await;
        assert_eq!(status, 204, "{body}");
        env
    }

    async fn configure(&self, mount: &str, extra: Value) {
        let mut config = json!({"client_id": self.master.id, "client_secret": self.master.secret, "region": REGION});
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, body) = self.bao.write(&format!("{mount}/config"), config).await;
        assert_eq!(status, 204, "{body}");
    }

    /// A token from the emulator for this credential, over HTTP as a consumer gets one:
    /// `Ok((access_token, expires_in))` or `Err(status)`.
    async fn token(&self, client_id: &str, secret: &str) -> Result<(String, u64), u16> {
        let resp = self
            .http
            .post(format!("{}/oauth/token", self.emu.base_url()))
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("the emulator answers");
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(status);
        }
        let body: Value = resp.json().await.expect("a token answer");
        Ok((
            body["access_token"].as_str().expect("access_token").to_owned(),
            body["expires_in"].as_u64().expect("expires_in"),
        ))
    }

    fn client(&self, id: &str) -> Option<ClientRecord> {
        self.emu.clients().into_iter().find(|c| c.id == id)
    }

    /// The clients whose description carries `mount`'s owner id.
    async fn clients_of(&self, mount: &str) -> Vec<ClientRecord> {
        // Right after its plugin was killed, the server answers 500 until it notices the exit
        // and starts another; during a remount (which runs in the background), 404.
        let deadline = Instant::now() + Duration::from_secs(20);
        let body = loop {
            let (status, body) = self.bao.read(&format!("{mount}/config")).await;
            if status == 200 {
                break body;
            }
            assert!(
                (status >= 500 || status == 404) && Instant::now() < deadline,
                "{status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let owner = body["data"]["owner"].as_str().expect("an owner").to_owned();
        self.emu
            .clients()
            .into_iter()
            .filter(|c| c.description.as_deref().is_some_and(|d| d.contains(&owner)))
            .collect()
    }

    /// A `creds/` read: the lease id and the data.
    async fn creds(&self, path: &str) -> (String, Value, u64) {
        let (status, body) = self.bao.read(path).await;
        assert_eq!(status, 200, "{body}");
        let lease_id = body["lease_id"].as_str().expect("a lease id").to_owned();
        let duration = body["lease_duration"].as_u64().expect("a lease duration");
        (lease_id, body["data"].clone(), duration)
    }

    /// The bystanders are all there with their secrets, and no log holds anything the emulator
    /// issued (or the master's secret).
    async fn check_bystanders_and_logs(&self) {
        for c in &self.bystanders {
            let record = self
                .client(&c.id)
                .unwrap_or_else(|| panic!("bystander {} was deleted", c.id));
            assert_eq!(record.secret, c.secret, "bystander {} got a new secret", c.id);
            assert!(
                self.token(&c.id, &c.secret).await.is_ok(),
                "bystander {} stopped working",
                c.id
            );
        }
        let log = self.bao.server_log();
        let audit = self.bao.audit_log();
        assert!(log.contains("request"), "the plugin's lines are in the server log");
        assert!(audit.contains("genesys/"), "the audit log is written");
        let mut values = self.emu.issued_secrets();
        values.extend(self.emu.issued_tokens());
        values.push(self.master.secret.clone());
        let leaked = values
            .iter()
            .filter(|v| v.len() >= 8 && (log.contains(v.as_str()) || audit.contains(v.as_str())))
            .count();
        assert_eq!(leaked, 0, "{leaked} secret(s) or token(s) in the server or audit log");
    }
}

fn error_of(body: &Value) -> String {
    body["errors"].to_string()
}

/// Gives `client` these `(role, division)` pairs besides those it holds, as an administrator
/// does in Genesys Cloud: a PUT of the client over the API by another client allowed to edit
/// clients. A client's permissions then come from its roles, so it also gets a role holding
/// the master's permissions (seeded ones would be lost). Needs the emulator's role rule off.
async fn grant(env: &Env, client: &SeededClient, pairs: &[(&str, &str)]) {
    let admin = env.emu.seed_client(SeedClient::new(
        "org-admin",
        &["oauth:client:view", "oauth:client:edit"],
    ));
    let (token, _) = env.token(&admin.id, &admin.secret).await.expect("the admin's token");
    let url = format!("{}/api/v2/oauth/clients/{}", env.emu.base_url(), client.id);
    let current: Value = env
        .http
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("GET the client")
        .json()
        .await
        .expect("the client");
    env.emu.seed_role("vault-master-role", &MASTER_PERMISSIONS);
    let mut roles = current["roleDivisions"].as_array().cloned().unwrap_or_default();
    roles.push(json!({"roleId": "vault-master-role", "divisionId": "*"}));
    roles.extend(pairs.iter().map(|(r, d)| json!({"roleId": r, "divisionId": d})));
    let body = json!({
        "name": current["name"],
        "description": current["description"],
        "authorizedGrantType": current["authorizedGrantType"],
        "accessTokenValiditySeconds": current["accessTokenValiditySeconds"],
        "state": current["state"],
        "roleDivisions": roles,
    });
    env.http
        .put(&url)
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("PUT the client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_and_roles_are_checked_whole_and_never_show_the_secret() {
    let env = Env::start().await;
    let bao = &env.bao;

    // A credential Genesys refuses: 400 naming the field, nothing stored.
    let (status, body) = bao
        .write(
            "genesys/config",
            json!({"client_id": env.master.id, "client_secret": "not-the-secret-value", "region": REGION}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("client_secret"), "{body}");
    let (status, body) = bao.read("genesys/config").await;
    assert_eq!(status, 404, "a refused config stores nothing: {body}");
    let (status, body) = bao
        .write(
            "genesys/config",
            json!({"client_id": env.master.id, "client_secret": env.master.secret, "region": "nowhere.example"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("region"), "{body}");

    // A good one: stored, read back without its secret.
    env.configure("genesys", json!({"name_prefix": PREFIX})).await;
    let (status, body) = bao.read("genesys/config").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["client_id"], json!(env.master.id));
    assert_eq!(body["data"]["region"], json!(REGION));
    assert!(body["data"].get("client_secret").is_none(), "{body}");
    assert!(!body.to_string().contains(&env.master.secret));

    // Roles: bad input is a 400 naming the field, and changes nothing.
    let (status, body) = bao
        .write(
            "genesys/roles/crm",
            json!({"role_divisions": [{"role_id": ROLE_ID, "division_id": "*"}], "ttl": "1h", "max_ttl": "4h"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, before) = bao.read("genesys/roles/crm").await;
    for (data, field) in [
        (json!({"token_lifetime": 299}), "token_lifetime"),
        (json!({"token_lifetime": 172_801}), "token_lifetime"),
        (json!({"ttl": "5h"}), "ttl"),
        (json!({"ttl": "1h", "colour": "red"}), "colour"),
    ] {
        let (status, body) = bao.write("genesys/roles/crm", data.clone()).await;
        assert_eq!(status, 400, "{data}: {body}");
        assert!(error_of(&body).contains(field), "{data}: {body}");
        let (_, now) = bao.read("genesys/roles/crm").await;
        assert_eq!(now["data"], before["data"], "{data} changed the role");
    }
    let (status, body) = bao.write("genesys/roles/new", json!({"ttl": "1h"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("role_divisions"), "{body}");

    let (status, body) = bao.read("genesys/roles/crm").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["ttl"], json!(3600));
    assert_eq!(body["data"]["max_ttl"], json!(4 * 3600));
    assert_eq!(
        body["data"]["role_divisions"],
        json!([{"role_id": ROLE_ID, "division_id": "*"}])
    );
    let (status, body) = bao.list("genesys/roles/").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["keys"], json!(["crm"]));
    let (status, body) = bao.delete("genesys/roles/crm").await;
    assert!(status < 300, "{status} {body}");
    let (status, _) = bao.read("genesys/roles/crm").await;
    assert_eq!(status, 404);

    // Unknown paths and operations.
    let (status, _) = bao.read("genesys/nope").await;
    assert_eq!(status, 404);
    let (status, _) = bao.write("genesys/creds/crm", json!({})).await;
    assert_eq!(status, 405);

    env.check_bystanders_and_logs().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_clients_work_renew_and_are_deleted_on_revocation() {
    let env = Env::configured().await;
    let bao = &env.bao;

    // A lease: a working client named <prefix><uuid> whose tokens end with the lease.
    let (lease_id, data, duration) = env.creds("genesys/creds/crm").await;
    assert!(lease_id.starts_with("genesys/creds/crm/"), "{lease_id}");
    assert_eq!(duration, 3600);
    let id = data["client_id"].as_str().unwrap();
    let secret = data["client_secret"].as_str().unwrap();
    let name = data["name"].as_str().unwrap();
    let uuid = name.strip_prefix(PREFIX).expect("the prefix");
    assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{name}");
    let record = env.client(id).expect("the client exists");
    assert_eq!(record.name, name);
    assert!(u64::from(record.access_token_validity_seconds) <= duration);
    assert_eq!(data["token_lifetime"], json!(record.access_token_validity_seconds));
    let (_, expires_in) = env.token(id, secret).await.expect("the leased credential works");
    assert!(expires_in <= duration, "{expires_in} > {duration}");

    // Renewal.
    let (status, body) = bao
        .put("sys/leases/renew", json!({"lease_id": lease_id, "increment": 1800}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lease_duration"], 1800, "{body}");
    assert!(env.token(id, secret).await.is_ok());

    // Revocation deletes the client.
    let (status, body) = bao.put("sys/leases/revoke", json!({"lease_id": lease_id})).await;
    assert_eq!(status, 204, "{body}");
    assert!(env.client(id).is_none(), "the revoked lease's client is gone");
    assert!(env.emu.deleted_client_ids().contains(&id.to_owned()));
    assert!(env.token(id, secret).await.is_err());

    // Expiry. Genesys' shortest token lifetime, hence the shortest lease, is 300 s: too long to
    // wait here, so the leases are ended as the server ends expired ones, by revoking them
    // (revoke-prefix, the same revoke call to the backend).
    let (status, body) = bao
        .write(
            "genesys/roles/short",
            json!({"role_divisions": format!("{ROLE_ID}:*"), "ttl": 300, "max_ttl": 300}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (short_lease, short, duration) = env.creds("genesys/creds/short").await;
    assert_eq!(duration, 300);
    assert_eq!(short["token_lifetime"], json!(300));
    let (status, body) = bao
        .put("sys/leases/renew", json!({"lease_id": short_lease, "increment": 3600}))
        .await;
    assert_eq!(status, 200, "{body}");
    let renewed = body["lease_duration"].as_u64().unwrap();
    assert!(renewed <= 300, "a renewal never passes max_ttl: {body}");
    let (_, second, _) = env.creds("genesys/creds/short").await;
    let (status, body) = bao.put("sys/leases/revoke-prefix/genesys/creds/short", json!({})).await;
    assert_eq!(status, 204, "{body}");
    for gone in [&short, &second] {
        assert!(
            env.client(gone["client_id"].as_str().unwrap()).is_none(),
            "{}",
            gone["name"]
        );
    }

    // A storm of 429s (with Retry-After) on the create and the first tokens: still issued.
    env.emu.inject_fault(
        Fault::new(
            routes::CREATE_CLIENT,
            FaultAction::Status {
                status: 429,
                retry_after: Some(1),
            },
        )
        .times(3),
    );
    env.emu.inject_fault(
        Fault::new(
            routes::TOKEN,
            FaultAction::Status {
                status: 429,
                retry_after: Some(1),
            },
        )
        .times(2),
    );
    let started = Instant::now();
    let (stormy_lease, stormy, _) = env.creds("genesys/creds/crm").await;
    assert_eq!(env.emu.pending_faults(), 0, "every 429 was met");
    assert!(started.elapsed() >= Duration::from_secs(3), "Retry-After was honoured");
    assert!(env
        .token(
            stormy["client_id"].as_str().unwrap(),
            stormy["client_secret"].as_str().unwrap()
        )
        .await
        .is_ok());
    assert_eq!(env.clients_of("genesys").await.len(), 1, "one client for the one lease");
    let (status, body) = bao.put("sys/leases/revoke", json!({"lease_id": stormy_lease})).await;
    assert_eq!(status, 204, "{body}");
    assert!(env.clients_of("genesys").await.is_empty());

    env.check_bystanders_and_logs().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_stop_at_the_client_limit_margin_before_genesys_refuses() {
    // GIVEN an org whose client limit is 8, and the mount keeping 2 places free
    let env = Env::configured().await;
    let bao = &env.bao;
    env.emu.set_client_limit(8);
    let (status, body) = bao
        .write("genesys/config", json!({"client_limit": 8, "client_limit_margin": 2}))
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, config) = bao.read("genesys/config").await;
    assert_eq!(config["data"]["client_limit"], 8, "{config}");
    assert_eq!(config["data"]["client_limit_margin"], 2, "{config}");
    let held = env.emu.clients().len();
    assert!(held < 6, "the org already holds {held} clients");

    // WHEN leases are read until the engine refuses
    let mut leases = Vec::new();
    let (status, body) = loop {
        let (status, body) = bao.read("genesys/creds/crm").await;
        if status != 200 || leases.len() > 8 {
            break (status, body);
        }
        leases.push(body["data"]["client_id"].as_str().unwrap().to_owned());
    };

    // THEN the refusal is the engine's, a 400 that names the count, the limit and the margin,
    // with 2 places still free in the org
    assert_eq!(status, 400, "{body}");
    let error = error_of(&body);
    assert!(
        error.contains("holds 6 OAuth clients")
            && error.contains("limit of 8 (client_limit)")
            && error.contains("keeps 2 of them free (client_limit_margin)"),
        "{error}"
    );
    assert_eq!(leases.len(), 6 - held);
    assert_eq!(env.emu.clients().len(), 6);
    // AND nothing is created past the refusal
    let creates = env.emu.call_counts()[routes::CREATE_CLIENT];
    let (status, _) = bao.read("genesys/creds/crm").await;
    assert_eq!(status, 400);
    assert_eq!(env.emu.call_counts()[routes::CREATE_CLIENT], creates);
    assert_eq!(env.clients_of("genesys").await.len(), leases.len());
    // AND the leases issued are revoked whole
    let (status, body) = bao.put("sys/leases/revoke-prefix/genesys/creds/crm", json!({})).await;
    assert_eq!(status, 204, "{body}");
    assert!(env.clients_of("genesys").await.is_empty());

    env.check_bystanders_and_logs().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_static_roles_and_root_rotation() {
    let mut env = Env::configured().await;

    // token/: a bearer token only.
    let (status, body) = env.bao.read("genesys/token/crm").await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].as_object().expect("data");
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["access_token", "expires_in"], "{keys:?}");
    assert!(body["lease_id"].as_str().unwrap_or_default().is_empty(), "no lease");
    let access_token = data["access_token"].as_str().unwrap();
    assert!(env.emu.issued_tokens().iter().any(|t| t == access_token));
    let expires_in = data["expires_in"].as_u64().unwrap();
    assert!(expires_in > 0 && expires_in <= 7200, "{expires_in}");
    let text = body.to_string();
    for secret in env.emu.issued_secrets() {
        assert!(!text.contains(&secret), "a client secret in the token/ answer");
    }

    // Static roles: an existing hand-made client, rotated, never deleted.
    let crm = env
        .emu
        .seed_client(SeedClient::new("crm-by-hand", &["conversation:communication:view"]));
    let (status, body) = env
        .bao
        .write(
            "genesys/static-roles/crm",
            json!({"client_id": crm.id, "rotation_period": "24h"}),
        )
        .await;
    assert!(status < 300, "{status} {body}");
    let (status, body) = env.bao.read("genesys/static-creds/crm").await;
    assert_eq!(status, 200, "{body}");
    let first = body["data"]["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(body["data"]["client_id"], json!(crm.id));
    assert_ne!(first, crm.secret, "the creation rotated the secret");
    assert!(env.token(&crm.id, &first).await.is_ok());
    assert!(env.token(&crm.id, &crm.secret).await.is_err(), "the old secret is dead");
    let (status, body) = env.bao.write("genesys/rotate-role/crm", json!({})).await;
    assert!(status < 300, "{status} {body}");
    let (_, body) = env.bao.read("genesys/static-creds/crm").await;
    let second = body["data"]["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert!(env.token(&crm.id, &second).await.is_ok());
    assert!(env.token(&crm.id, &first).await.is_err());
    let (status, body) = env.bao.delete("genesys/static-roles/crm").await;
    assert!(status < 300, "{status} {body}");
    let kept = env.client(&crm.id).expect("a static role's client is never deleted");
    assert_eq!(kept.secret, second, "deleting the role leaves its secret");

    // rotate-root: the old master secret dies, the new one works, creds still issue.
    let (status, body) = env.bao.write("genesys/rotate-root", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["client_id"], json!(env.master.id));
    assert!(!body.to_string().contains(&env.master.secret));
    assert!(
        env.token(&env.master.id, &env.master.secret).await.is_err(),
        "the old master secret works"
    );
    let new_secret = env.client(&env.master.id).unwrap().secret;
    assert_ne!(new_secret, env.master.secret);
    assert!(env.token(&env.master.id, &new_secret).await.is_ok());
    let (lease_id, data, _) = env.creds("genesys/creds/crm").await;
    assert!(env
        .token(
            data["client_id"].as_str().unwrap(),
            data["client_secret"].as_str().unwrap()
        )
        .await
        .is_ok());
    let (status, body) = env.bao.put("sys/leases/revoke", json!({"lease_id": lease_id})).await;
    assert_eq!(status, 204, "{body}");

    // The bystander check reads the master's old secret from here: it is dead, but must still
    // never be logged.
    env.check_bystanders_and_logs().await;
    env.master.secret = new_secret;
    env.check_bystanders_and_logs().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_after_genesys_issued_a_new_secret_leaves_working_secrets_and_no_record() {
    // A gateway's 502 after Genesys issued the new secret: it proves nothing, so the engine
    // checks at once, finds the stored secret refused, and asks again.
    let mut env = Env::configured().await;
    let after_apply =
        |id: &str| Fault::new(routes::NEW_SECRET, FaultAction::StatusAfterApply { status: 502 }).for_client(id);

    // rotate-root.
    env.emu.inject_fault(after_apply(&env.master.id));
    let (status, body) = env.bao.write("genesys/rotate-root", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(env.emu.call_counts().get(routes::NEW_SECRET), Some(&2));
    let (status, body) = env.bao.read("genesys/config").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["root_rotation_in_progress"], Value::Null, "{body}");
    assert!(env.token(&env.master.id, &env.master.secret).await.is_err());
    let new_master_secret = env.client(&env.master.id).unwrap().secret;
    assert!(env.token(&env.master.id, &new_master_secret).await.is_ok());
    // The engine works with the master it stored.
    let (lease_id, data, _) = env.creds("genesys/creds/crm").await;
    assert!(env
        .token(
            data["client_id"].as_str().unwrap(),
            data["client_secret"].as_str().unwrap()
        )
        .await
        .is_ok());
    let (status, body) = env.bao.put("sys/leases/revoke", json!({"lease_id": lease_id})).await;
    assert_eq!(status, 204, "{body}");

    // A static role's rotation.
    let crm = env
        .emu
        .seed_client(SeedClient::new("crm-by-hand", &["conversation:communication:view"]));
    let (status, body) = env
        .bao
        .write("genesys/static-roles/crm", json!({"client_id": crm.id}))
        .await;
    assert!(status < 300, "{status} {body}");
    env.emu.inject_fault(after_apply(&crm.id));
    let (status, body) = env.bao.write("genesys/rotate-role/crm", json!({})).await;
    assert!(status < 300, "{status} {body}");
    let (status, body) = env.bao.read("genesys/static-creds/crm").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["warnings"].is_null(), "no interrupted rotation: {body}");
    let stored = body["data"]["client_secret"].as_str().unwrap();
    assert_eq!(stored, env.client(&crm.id).unwrap().secret);
    assert!(env.token(&crm.id, stored).await.is_ok());

    env.check_bystanders_and_logs().await;
    env.master.secret = new_master_secret;
    env.check_bystanders_and_logs().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_must_hold_what_its_roles_assign() {
    let env = Env::start().await;
    let bao = &env.bao;
    env.emu.seed_role("reports", &["analytics:report:view"]);
    env.configure("genesys", json!({})).await;
    let (status, body) = bao.read("genesys/config").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["role_rule"], json!(true), "on by default");

    // A role whose role-divisions the master lacks: refused, naming the missing pairs (only
    // those: crm-integration-role is held in every division) and what to do; nothing stored.
    let (status, body) = bao
        .write(
            "genesys/roles/reports",
            json!({"role_divisions": format!("{ROLE_ID}:d1,reports:d1,reports:d2")}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let error = error_of(&body);
    for part in [
        "role_divisions",
        "reports/d1, reports/d2",
        env.master.id.as_str(),
        "narrow the role",
        "role_rule=false",
    ] {
        assert!(error.contains(part), "{part}: {error}");
    }
    assert!(!error.contains(&format!("{ROLE_ID}/d1")), "{error}");
    let (status, _) = bao.read("genesys/roles/reports").await;
    assert_eq!(status, 404, "a refused role is not stored");

    // Once the master holds them (reports in every division), accepted.
    grant(&env, &env.master, &[("reports", "*")]).await;
    let (status, body) = bao
        .write(
            "genesys/roles/reports",
            json!({"role_divisions": format!("{ROLE_ID}:d1,reports:d1,reports:d2"), "ttl": "1h"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");

    // With role_rule=false in config, a role the master lacks is accepted; turning the rule
    // back on is refused, naming the role and its pairs, and changes nothing.
    env.emu.seed_role("billing", &["billing:invoice:view"]);
    let (status, body) = bao.write("genesys/config", json!({"role_rule": false})).await;
    assert_eq!(status, 204, "{body}");
    let (_, body) = bao.read("genesys/config").await;
    assert_eq!(body["data"]["role_rule"], json!(false));
    let (status, body) = bao
        .write("genesys/roles/billing", json!({"role_divisions": "billing:*"}))
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = bao.write("genesys/config", json!({"role_rule": true})).await;
    assert_eq!(status, 400, "{body}");
    let error = error_of(&body);
    assert!(
        error.contains("role billing: billing/*") && !error.contains("role reports"),
        "{error}"
    );
    let (_, body) = bao.read("genesys/config").await;
    assert_eq!(
        body["data"]["role_rule"],
        json!(false),
        "a refused write changes nothing"
    );
    let (status, body) = bao.delete("genesys/roles/billing").await;
    assert!(status < 300, "{status} {body}");
    let (status, body) = bao.write("genesys/config", json!({"role_rule": true})).await;
    assert_eq!(status, 204, "{body}");

    // Genesys applying the role rule: a role the master holds works end to end.
    env.emu.set_role_rule(true);
    let (lease_id, data, _) = env.creds("genesys/creds/reports").await;
    let id = data["client_id"].as_str().unwrap();
    let secret = data["client_secret"].as_str().unwrap();
    env.token(id, secret).await.expect("the leased credential works");
    let record = env.client(id).expect("the client exists");
    assert_eq!(record.role_divisions.len(), 3, "{:?}", record.role_divisions);
    let (status, body) = bao.put("sys/leases/revoke", json!({"lease_id": lease_id})).await;
    assert_eq!(status, 204, "{body}");
    assert!(env.client(id).is_none(), "the revoked lease's client is gone");

    env.check_bystanders_and_logs().await;
}

/// A client holding `role_id` (granting `permissions`), as Genesys shows it.
fn client_with_role(emu: &Emulator, name: &str, role_id: &str, permissions: &[&str]) -> SeededClient {
    emu.seed_role(role_id, permissions);
    emu.seed_client(SeedClient {
        role_divisions: vec![RoleDivision {
            role_id: role_id.to_owned(),
            division_id: "*".to_owned(),
        }],
        ..SeedClient::new(name, permissions)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_roles_refuse_masters_and_other_owners_clients() {
    let mut env = Env::configured().await;
    // Another deployment's master (its role grants oauth:client:*), serving a second mount, and
    // a client a Lambda deployment's secret manages (its marker in the description).
    let other_master = client_with_role(&env.emu, "mount-b-master", "client-admin", &MASTER_PERMISSIONS);
    env.bao.mount("mountb", PLUGIN).await;
    let config_b = json!({"client_id": other_master.id, "client_secret": other_master.secret, "region": REGION});
    let (status, body) = env.bao.write("mountb/config", config_b).await;
    assert_eq!(status, 204, "{body}");
    let marked = env.emu.seed_client(SeedClient {
        description: Some(genesys_core::guard::ownership::description(
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:crm-AbCdEf",
            Some("CRM data actions"),
        )),
        ..SeedClient::new("genesys-rotator-crm", &["conversation:communication:view"])
    });
    env.bystanders.extend([other_master.clone(), marked.clone()]);

    // Static roles over either are refused, saying which rule and what to do; none is kept.
    for (client, parts) in [
        (
            &other_master,
            vec![
                "client_id",
                "is a master",
                "client-admin",
                "oauth:client",
                "rotate-root",
            ],
        ),
        (&marked, vec!["client_id", "ownership marker"]),
    ] {
        let (status, body) = env
            .bao
            .write("genesys/static-roles/taken", json!({"client_id": client.id}))
            .await;
        assert_eq!(status, 400, "{body}");
        let error = error_of(&body);
        assert!(parts.iter().all(|p| error.contains(p)), "{error}");
        let (status, _) = env.bao.read("genesys/static-roles/taken").await;
        assert_eq!(status, 404);
    }
    // ... and the other mount's master still works for it.
    let (status, body) = env.bao.read("mountb/config").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = env.bao.write("mountb/rotate-root", json!({})).await;
    assert_eq!(status, 200, "mount b's master still works: {body}");
    let rotated = env.client(&other_master.id).unwrap().secret;
    env.bystanders.retain(|c| c.id != other_master.id);

    // A static role over an ordinary client is taken; once the client's role gains
    // oauth:client:view it is no longer rotated, and keeps the secret static-creds return.
    let crm = client_with_role(
        &env.emu,
        "crm-with-role",
        "crm-role",
        &["conversation:communication:view"],
    );
    let (status, body) = env
        .bao
        .write("genesys/static-roles/crm", json!({"client_id": crm.id}))
        .await;
    assert!(status < 300, "{status} {body}");
    let (_, body) = env.bao.read("genesys/static-creds/crm").await;
    let stored = body["data"]["client_secret"].as_str().unwrap().to_owned();
    env.emu
        .seed_role("crm-role", &["conversation:communication:view", "oauth:client:view"]);
    let (status, body) = env.bao.write("genesys/rotate-role/crm", json!({})).await;
    assert_eq!(status, 400, "{body}");
    let error = error_of(&body);
    assert!(
        error.contains("static role \\\"crm\\\" was not rotated") && error.contains("is a master"),
        "{error}"
    );
    assert!(
        env.token(&crm.id, &stored).await.is_ok(),
        "the stored secret still works"
    );
    let (_, body) = env.bao.read("genesys/static-creds/crm").await;
    assert_eq!(body["data"]["client_secret"], json!(stored));

    env.check_bystanders_and_logs().await;
    // The other master's old secret is dead by its own rotate-root, and must never be logged.
    assert!(env.token(&other_master.id, &rotated).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_killed_mid_create_leaves_no_client_behind() {
    let mut env = Env::start().await;
    env.configure("genesys", json!({"rollback_min_age": "3m"})).await;
    let role = json!({"role_divisions": format!("{ROLE_ID}:*"), "ttl": "1h"});
    let (status, body) = env.bao.write("genesys/roles/crm", role.clone()).await;
    assert_eq!(status, 204, "{body}");

    // Another mount of the same plugin on the same org, same prefix, holding a lease.
    env.bao
        .register_plugin(
            "genesys-b",
            plugin_binary(),
            &[("GENESYS_ENDPOINT_OVERRIDES", &overrides(&env.emu))],
        )
        .await;
    env.bao.mount("other", "genesys-b").await;
    env.configure("other", json!({})).await;
    let (status, body) = env.bao.write("other/roles/crm", role).await;
    assert_eq!(status, 204, "{body}");
    let (_, other, _) = env.creds("other/creds/crm").await;
    env.bystanders.push(SeededClient {
        id: other["client_id"].as_str().unwrap().to_owned(),
        secret: other["client_secret"].as_str().unwrap().to_owned(),
    });

    // New clients get no token for a while: the create lands, then the engine waits.
    env.emu.set_propagation_delay(Duration::from_secs(3));
    let creates = || env.emu.call_counts().get(routes::CREATE_CLIENT).copied().unwrap_or(0);
    let before = creates();
    let pid = plugin_pid(&env.bao, PLUGIN);
    let addr = env.bao.addr.clone();
    let reading = tokio::spawn(async move {
        reqwest::Client::new()
            .get(format!("{addr}/v1/genesys/creds/crm"))
            .header("X-Vault-Token", support::ROOT_TOKEN)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while creates() == before {
        assert!(Instant::now() < deadline, "the create never reached the emulator");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The server may retry the read once on a new plugin process (which then issues a lease of
    // its own); either way the crashed create's client is left in the org, its record in storage.
    let status = reading.await.unwrap().expect("the server answers");
    let leased = if status == 200 { 1 } else { 0 };
    env.emu.set_propagation_delay(Duration::ZERO);
    let orphans = env.clients_of("genesys").await.len() - leased;
    assert_eq!(orphans, 1, "the crashed create's client exists (status {status})");

    // The periodic pass acts on a create record once it is rollback_min_age old (3 min at least):
    // instead of waiting, the plugin is registered again with its clock 4 min ahead and reloaded,
    // then a remount runs the pass at once.
    env.bao
        .register_plugin(
            PLUGIN,
            plugin_binary(),
            &[
                ("GENESYS_ENDPOINT_OVERRIDES", &overrides(&env.emu)),
                ("GENESYS_PLUGIN_CLOCK_SKEW_SECS", "240"),
            ],
        )
        .await;
    let (status, body) = env
        .bao
        .put("sys/plugins/reload/backend", json!({"plugin": PLUGIN}))
        .await;
    assert!(status < 300, "{status} {body}");
    let (status, body) = env
        .bao
        .write("sys/remount", json!({"from": "genesys", "to": "moved"}))
        .await;
    assert!(status < 300, "{status} {body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = env.clients_of("moved").await.len();
        if left == leased {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} client(s) of the mount left, {leased} leased"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (status, body) = env.bao.put("sys/leases/revoke-prefix/moved", json!({})).await;
    assert_eq!(status, 204, "{body}");
    assert!(
        env.clients_of("moved").await.is_empty(),
        "no client of the mount is left"
    );
    assert_eq!(
        env.clients_of("other").await.len(),
        1,
        "the other mount's lease keeps its client"
    );

    env.check_bystanders_and_logs().await;
}

/// The pid of the plugin process running `name` (its own file in this server's plugin directory).
fn plugin_pid(bao: &Bao, name: &str) -> u32 {
    let exe = bao.dir.join("plugins").join(name);
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if std::fs::read_link(entry.path().join("exe")).is_ok_and(|p| p == exe) {
            found.push(pid);
        }
    }
    assert_eq!(found.len(), 1, "one process of {}: {found:?}", exe.display());
    found[0]
}
