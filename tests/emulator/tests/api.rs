//! Drives a running emulator over real HTTP (reqwest) and checks it behaves like the Genesys
//! Cloud API described in shared/REFERENCE.md.

use std::time::{Duration, Instant};

use genesys_emulator::models::{ErrorBody, OAuthClient, OAuthClientEntityListing, TokenInfo, TokenResponse};
use genesys_emulator::{
    routes, ClientState, Emulator, EmulatorConfig, Fault, FaultAction, RepeatDelete, RoleDivision, SeedClient,
    SeededClient,
};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

struct Harness {
    emu: Emulator,
    http: Client,
    base: String,
}

impl Harness {
    async fn new(config: EmulatorConfig) -> Self {
        let emu = Emulator::start(config).await.expect("emulator starts");
        let base = emu.base_url();
        Harness {
            emu,
            http: Client::new(),
            base,
        }
    }

    async fn default() -> Self {
        Self::new(EmulatorConfig::default()).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn token_response(&self, id: &str, secret: &str) -> Response {
        self.http
            .post(self.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token request is answered")
    }

    async fn token(&self, c: &SeededClient) -> String {
        let resp = self.token_response(&c.id, &c.secret).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let t: TokenResponse = resp.json().await.unwrap();
        assert_eq!(t.token_type, "bearer");
        assert!(t.access_token.len() >= 32);
        t.access_token
    }

    async fn admin_token(&self) -> String {
        let master = self.emu.seed_client(SeedClient::admin("master"));
        self.token(&master).await
    }

    async fn call(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> Response {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("answered")
    }

    async fn create(&self, token: &str, body: Value) -> Response {
        self.call(reqwest::Method::POST, "/api/v2/oauth/clients", token, Some(body))
            .await
    }

    async fn create_ok(&self, token: &str, name: &str) -> OAuthClient {
        let resp = self.create(token, cc_body(name)).await;
        assert_eq!(resp.status(), StatusCode::OK, "create answers 200");
        resp.json().await.unwrap()
    }

    async fn put(&self, token: &str, id: &str, body: Value) -> Response {
        self.call(
            reqwest::Method::PUT,
            &format!("/api/v2/oauth/clients/{id}"),
            token,
            Some(body),
        )
        .await
    }

    async fn get(&self, token: &str, path: &str) -> Response {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    async fn delete(&self, token: &str, id: &str) -> Response {
        self.call(
            reqwest::Method::DELETE,
            &format!("/api/v2/oauth/clients/{id}"),
            token,
            None,
        )
        .await
    }
}

fn cc_body(name: &str) -> Value {
    json!({"name": name, "authorizedGrantType": "CLIENT-CREDENTIALS"})
}

async fn error_body(resp: Response) -> ErrorBody {
    resp.json().await.expect("an ErrorBody")
}

#[tokio::test]
async fn secret_only_on_create_and_new_secret() {
    let h = Harness::default().await;
    let token = h.admin_token().await;

    let resp = h
        .create(
            &token,
            json!({"name": "rotated", "authorizedGrantType": "CLIENT-CREDENTIALS",
                   "description": "d", "accessTokenValiditySeconds": 600, "someFutureField": true}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let raw: Value = resp.json().await.unwrap();
    let created: OAuthClient = serde_json::from_value(raw.clone()).unwrap();
    let secret = created.secret.clone().expect("create returns the secret");
    assert_eq!(created.state, ClientState::Active);
    assert_eq!(created.access_token_validity_seconds, 600);
    assert_eq!(created.self_uri, format!("/api/v2/oauth/clients/{}", created.id));
    let date = raw["dateCreated"].as_str().unwrap();
    assert!(
        date.ends_with('Z') && date.len() == "2025-01-01T00:00:00.000Z".len(),
        "{date}"
    );
    assert!(raw["createdBy"]["id"].is_string());

    let got = h.get(&token, &format!("/api/v2/oauth/clients/{}", created.id)).await;
    assert_eq!(got.status(), StatusCode::OK);
    let raw: Value = got.json().await.unwrap();
    assert!(raw.get("secret").is_none(), "GET hides the secret");

    let list: OAuthClientEntityListing = h.get(&token, "/api/v2/oauth/clients").await.json().await.unwrap();
    assert_eq!(list.total, 2);
    assert_eq!(list.page_number, 1);
    assert_eq!(list.page_count, 1);
    assert!(list.next_uri.is_none());
    assert!(list.entities.iter().all(|c| c.secret.is_none()));

    let new = h
        .call(
            reqwest::Method::POST,
            &format!("/api/v2/oauth/clients/{}/secret", created.id),
            &token,
            None,
        )
        .await;
    assert_eq!(new.status(), StatusCode::OK);
    let new: OAuthClient = new.json().await.unwrap();
    let new_secret = new.secret.expect("new-secret returns the secret");
    assert_ne!(new_secret, secret);

    let old = h.token_response(&created.id, &secret).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let body: Value = old.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(body["description"].is_string() && body["error_description"].is_string());
    let fresh = h.token_response(&created.id, &new_secret).await;
    assert_eq!(fresh.status(), StatusCode::OK);
    let t: TokenResponse = fresh.json().await.unwrap();
    assert_eq!(t.expires_in, 600);

    let inventory = h.emu.clients();
    let rec = inventory.iter().find(|c| c.id == created.id).unwrap();
    assert_eq!(rec.secret, new_secret);
    assert_eq!(rec.authorized_grant_type, "CLIENT-CREDENTIALS");
}

/// Whether a new secret revokes the client's existing tokens is unconfirmed: both behaviours are
/// settings, and the old secret stops working under either.
#[tokio::test]
async fn new_secret_keeps_or_revokes_existing_tokens_per_setting() {
    for revoke in [false, true] {
        let h = Harness::new(EmulatorConfig {
            revoke_tokens_on_new_secret: revoke,
            ..EmulatorConfig::default()
        })
        .await;
        let admin = h.admin_token().await;
        let target = h.emu.seed_client(SeedClient::admin("self-renewing"));
        let held = h.token(&target).await;
        let renewed = h
            .call(
                reqwest::Method::POST,
                &format!("/api/v2/oauth/clients/{}/secret", target.id),
                &admin,
                None,
            )
            .await;
        assert_eq!(renewed.status(), StatusCode::OK);
        let new_secret = renewed.json::<OAuthClient>().await.unwrap().secret.unwrap();
        let expected = if revoke {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        assert_eq!(
            h.get(&held, "/api/v2/tokens/me").await.status(),
            expected,
            "revoke={revoke}"
        );
        assert_eq!(
            h.token_response(&target.id, &target.secret).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(h.token_response(&target.id, &new_secret).await.status(), StatusCode::OK);
        // The caller's own tokens are untouched when another client's secret is renewed.
        assert_eq!(h.get(&admin, "/api/v2/tokens/me").await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn request_validation() {
    let h = Harness::default().await;
    let token = h.admin_token().await;
    for bad in [
        json!({"name": "x", "authorizedGrantType": "CLIENT_CREDENTIALS"}),
        json!({"name": "x"}),
        json!({"authorizedGrantType": "CLIENT-CREDENTIALS"}),
        json!({"name": " ", "authorizedGrantType": "CLIENT-CREDENTIALS"}),
        json!({"name": "x", "authorizedGrantType": "CLIENT-CREDENTIALS", "accessTokenValiditySeconds": 299}),
        json!({"name": "x", "authorizedGrantType": "CLIENT-CREDENTIALS", "accessTokenValiditySeconds": 172801}),
        json!({"name": "x", "authorizedGrantType": "CLIENT-CREDENTIALS", "state": "deleted"}),
        json!({"name": "x", "authorizedGrantType": "CLIENT-CREDENTIALS",
               "roleDivisions": [{"roleId": "no-such-role", "divisionId": "home"}]}),
    ] {
        let resp = h.create(&token, bad.clone()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error_body(resp).await.code, "bad.request");
    }
    for grant in ["CODE", "TOKEN", "SAML2-BEARER", "PASSWORD", "CLIENT-CREDENTIALS"] {
        let resp = h
            .create(&token, json!({"name": grant, "authorizedGrantType": grant}))
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "{grant}");
    }
    // Duplicate names are allowed, as in the real API.
    h.create_ok(&token, "CODE").await;

    // Token endpoint: unsupported grant type, missing auth, non-client-credentials client.
    let master = h.emu.seed_client(SeedClient::admin("m2"));
    let resp = h
        .http
        .post(h.url("/oauth/token"))
        .basic_auth(&master.id, Some(&master.secret))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "unsupported_grant_type");
    let resp = h
        .http
        .post(h.url("/oauth/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn put_replaces_the_whole_client() {
    let h = Harness::default().await;
    h.emu.seed_role("viewer", &["oauth:client:view"]);
    let token = h.admin_token().await;
    let body = json!({"name": "full", "authorizedGrantType": "CLIENT-CREDENTIALS", "description": "d",
                      "accessTokenValiditySeconds": 3600,
                      "roleDivisions": [{"roleId": "viewer", "divisionId": "home"}]});
    let created: OAuthClient = h.create(&token, body).await.json().await.unwrap();
    assert_eq!(
        created.role_divisions,
        vec![RoleDivision {
            role_id: "viewer".into(),
            division_id: "home".into()
        }]
    );
    assert_eq!(created.role_ids, vec!["viewer".to_string()]);

    h.emu.advance_clock(Duration::from_secs(5));
    let resp = h
        .put(
            &token,
            &created.id,
            json!({"name": "renamed", "authorizedGrantType": "CLIENT-CREDENTIALS"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let raw: Value = resp.json().await.unwrap();
    assert!(raw.get("secret").is_none());
    let updated: OAuthClient = serde_json::from_value(raw).unwrap();
    assert_eq!(updated.name, "renamed");
    assert_eq!(updated.description, None);
    assert_eq!(updated.access_token_validity_seconds, 86_400);
    assert!(updated.role_divisions.is_empty());
    assert!(updated.date_modified > updated.date_created);
    let rec = h.emu.clients().into_iter().find(|c| c.id == created.id).unwrap();
    assert_eq!(rec.secret, created.secret.unwrap(), "PUT keeps the secret");

    let missing = h.put(&token, "nope", cc_body("x")).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_body(missing).await.code, "not.found");
}

#[tokio::test]
async fn permissions_are_enforced() {
    let h = Harness::default().await;
    let viewer = h.emu.seed_client(SeedClient::new("viewer", &["oauth:client:view"]));
    let token = h.token(&viewer).await;

    assert_eq!(h.get(&token, "/api/v2/oauth/clients").await.status(), StatusCode::OK);
    let resp = h.create(&token, cc_body("x")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let err = error_body(resp).await;
    assert_eq!(err.code, "missing.permissions");
    assert_eq!(err.status, 403);
    assert!(err.message_params.values().any(|v| v.contains("oauth:client:add")));
    assert!(!err.context_id.is_empty());

    let resp = h.put(&token, &viewer.id, cc_body("x")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = h.delete(&token, &viewer.id).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = h
        .call(
            reqwest::Method::POST,
            &format!("/api/v2/oauth/clients/{}/secret", viewer.id),
            &token,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // tokens/me needs no permission at all.
    let nobody = h.emu.seed_client(SeedClient::new("nobody", &[]));
    let t = h.token(&nobody).await;
    let resp = h.get(&t, "/api/v2/tokens/me").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let raw: Value = resp.json().await.unwrap();
    assert_eq!(raw["OAuthClient"]["id"], nobody.id.as_str());
    assert_eq!(raw["organization"]["id"], genesys_emulator::DEFAULT_ORG_ID);
    assert!(raw["homeOrganization"]["id"].is_string());
    assert!(raw["authorizedScope"].is_array());
    let _: TokenInfo = serde_json::from_value(raw).unwrap();
    assert_eq!(h.get(&t, "/api/v2/oauth/clients").await.status(), StatusCode::FORBIDDEN);

    // No token / unknown token.
    let resp = h.http.get(h.url("/api/v2/tokens/me")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_body(resp).await.code, "bad.credentials");
    let resp = h.get("not-a-token", "/api/v2/tokens/me").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // Roles grant permissions to API-created clients, wildcards included.
    h.emu.seed_role("oauth-admin", &["oauth:*:*"]);
    let admin = h.admin_token().await;
    let body = json!({"name": "child", "authorizedGrantType": "CLIENT-CREDENTIALS",
                      "roleDivisions": [{"roleId": "oauth-admin", "divisionId": "*"}]});
    let child: OAuthClient = h.create(&admin, body).await.json().await.unwrap();
    let child_token = h
        .token(&SeededClient {
            id: child.id.clone(),
            secret: child.secret.unwrap(),
        })
        .await;
    assert_eq!(
        h.create(&child_token, cc_body("grandchild")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn roles_read_as_domain_organization_roles_with_the_role_view_permission() {
    // GIVEN a role granting client management in two forms, and a reader holding the role view
    let h = Harness::default().await;
    h.emu.seed_role(
        "client-admin",
        &["oauth:client:add", "oauth:client:edit", "directory:user:view", "odd"],
    );
    let reader = h
        .emu
        .seed_client(SeedClient::new("reader", &["authorization:role:view"]));
    let token = h.token(&reader).await;
    // WHEN it reads the role (with the query the SDK may send)
    let resp = h
        .get(&token, "/api/v2/authorization/roles/client-admin?userCount=false")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let role: Value = resp.json().await.unwrap();
    // THEN it is a DomainOrganizationRole: its permissions, and one policy per domain:entity
    assert_eq!(role["id"], "client-admin");
    assert_eq!(
        role["permissions"],
        json!(["oauth:client:add", "oauth:client:edit", "directory:user:view", "odd"])
    );
    assert_eq!(
        role["permissionPolicies"],
        json!([
            {"domain": "oauth", "entityName": "client", "actionSet": ["add", "edit"], "allowConditions": false},
            {"domain": "directory", "entityName": "user", "actionSet": ["view"], "allowConditions": false}
        ])
    );
    assert_eq!(role["selfUri"], "/api/v2/authorization/roles/client-admin");
    // AND an unknown role is 404, and a caller without the permission is 403
    let resp = h.get(&token, "/api/v2/authorization/roles/nope").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_body(resp).await.code, "not.found");
    let admin = h.admin_token().await;
    let resp = h.get(&admin, "/api/v2/authorization/roles/client-admin").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(error_body(resp)
        .await
        .message_params
        .values()
        .any(|v| v.contains("authorization:role:view")));
    assert_eq!(h.emu.call_counts()[routes::GET_ROLE], 3);
}

#[tokio::test]
async fn inactive_disabled_and_deleted_clients() {
    let h = Harness::default().await;
    let admin = h.admin_token().await;
    let a = h.emu.seed_client(SeedClient::new("a", &["oauth:client:view"]));
    let a_token = h.token(&a).await;

    // Delete needs inactive first.
    let resp = h.delete(&admin, &a.id).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let err = error_body(resp).await;
    assert_eq!(err.code, "bad.request");
    assert!(err.message.contains("inactive"));

    // Inactive: existing tokens keep working, no new ones.
    let body = json!({"name": "a", "authorizedGrantType": "CLIENT-CREDENTIALS", "state": "inactive"});
    let resp = h.put(&admin, &a.id, body).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<OAuthClient>().await.unwrap().state, ClientState::Inactive);
    assert_eq!(h.get(&a_token, "/api/v2/tokens/me").await.status(), StatusCode::OK);
    let resp = h.token_response(&a.id, &a.secret).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_client");

    // Delete: 204, then its tokens are dead and it is gone.
    let resp = h.delete(&admin, &a.id).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.bytes().await.unwrap().is_empty());
    assert_eq!(
        h.get(&a_token, "/api/v2/tokens/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let resp = h.get(&admin, &format!("/api/v2/oauth/clients/{}", a.id)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(h.delete(&admin, &a.id).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(h.emu.deleted_client_ids(), vec![a.id.clone()]);
    assert!(h.emu.clients().iter().all(|c| c.id != a.id));
    assert_eq!(
        h.token_response(&a.id, &a.secret).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Disabled: existing tokens die at once, no new ones.
    let b = h.emu.seed_client(SeedClient::new("b", &["oauth:client:view"]));
    let b_token = h.token(&b).await;
    let body = json!({"name": "b", "authorizedGrantType": "CLIENT-CREDENTIALS", "state": "disabled"});
    assert_eq!(h.put(&admin, &b.id, body).await.status(), StatusCode::OK);
    assert_eq!(
        h.get(&b_token, "/api/v2/tokens/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.token_response(&b.id, &b.secret).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(h.delete(&admin, &b.id).await.status(), StatusCode::BAD_REQUEST);

    // issue_token_for only mints for active clients.
    assert!(h.emu.issue_token_for(&b.id).is_none());
    let c = h.emu.seed_client(SeedClient {
        state: ClientState::Inactive,
        ..SeedClient::new("c", &[])
    });
    assert!(h.emu.issue_token_for(&c.id).is_none());
    assert!(h.emu.issue_token_for("nope").is_none());
}

#[tokio::test]
async fn tokens_expire_by_the_emulator_clock() {
    let h = Harness::default().await;
    let c = h.emu.seed_client(SeedClient {
        access_token_validity_seconds: 300,
        ..SeedClient::new("short", &[])
    });
    let resp = h.token_response(&c.id, &c.secret).await;
    let t: TokenResponse = resp.json().await.unwrap();
    assert_eq!(t.expires_in, 300);
    let minted = h.emu.issue_token_for(&c.id).unwrap();
    h.emu.advance_clock(Duration::from_secs(299));
    assert_eq!(
        h.get(&t.access_token, "/api/v2/tokens/me").await.status(),
        StatusCode::OK
    );
    h.emu.advance_clock(Duration::from_secs(2));
    assert_eq!(
        h.get(&t.access_token, "/api/v2/tokens/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.get(&minted, "/api/v2/tokens/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn client_limit() {
    let h = Harness::new(EmulatorConfig {
        client_limit: 2,
        ..EmulatorConfig::default()
    })
    .await;
    let token = h.admin_token().await;
    h.create_ok(&token, "one").await;
    let resp = h.create(&token, cc_body("two")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let err = error_body(resp).await;
    assert_eq!(err.code, "bad.request");
    assert!(err.message.contains('2'), "{}", err.message);
    // Seeding is never refused, but counts.
    h.emu.seed_client(SeedClient::new("over", &[]));
    assert_eq!(h.emu.clients().len(), 3);
    h.emu.set_client_limit(4);
    h.create_ok(&token, "three").await;
    assert_eq!(
        h.create(&token, cc_body("four")).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let h = Harness::new(EmulatorConfig {
        rate_limit_per_minute: Some(3),
        ..EmulatorConfig::default()
    })
    .await;
    let token = h.admin_token().await;
    let other = h.admin_token().await;
    for _ in 0..3 {
        assert_eq!(h.get(&token, "/api/v2/tokens/me").await.status(), StatusCode::OK);
    }
    let resp = h.get(&token, "/api/v2/oauth/clients").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(error_body(resp).await.code, "too.many.requests.retry.after");
    // Per token: another token is not limited.
    assert_eq!(h.get(&other, "/api/v2/tokens/me").await.status(), StatusCode::OK);
    h.emu.advance_clock(Duration::from_secs(retry));
    assert_eq!(h.get(&token, "/api/v2/tokens/me").await.status(), StatusCode::OK);
    h.emu.set_rate_limit(None);
    for _ in 0..5 {
        assert_eq!(h.get(&token, "/api/v2/tokens/me").await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn new_clients_propagate_after_a_delay() {
    let h = Harness::new(EmulatorConfig {
        propagation_delay: Duration::from_secs(10),
        ..EmulatorConfig::default()
    })
    .await;
    let token = h.admin_token().await;
    let created = h.create_ok(&token, "fresh").await;
    let secret = created.secret.unwrap();
    let resp = h.token_response(&created.id, &secret).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_client");
    h.emu.advance_clock(Duration::from_secs(10));
    assert_eq!(h.token_response(&created.id, &secret).await.status(), StatusCode::OK);
    h.emu.set_propagation_delay(Duration::ZERO);
    let instant = h.create_ok(&token, "instant").await;
    assert_eq!(
        h.token_response(&instant.id, &instant.secret.unwrap()).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn status_faults() {
    let h = Harness::default().await;
    let token = h.admin_token().await;
    h.emu.inject_fault(Fault::new(
        routes::LIST_CLIENTS,
        FaultAction::Status {
            status: 503,
            retry_after: None,
        },
    ));
    h.emu.inject_fault(
        Fault::new(
            routes::TOKENS_ME,
            FaultAction::Status {
                status: 429,
                retry_after: Some(7),
            },
        )
        .skip(1)
        .times(2),
    );
    h.emu.inject_fault(Fault::new(
        routes::CREATE_CLIENT,
        FaultAction::Status {
            status: 500,
            retry_after: None,
        },
    ));

    let resp = h.get(&token, "/api/v2/oauth/clients").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_body(resp).await.code, "service.unavailable");
    assert_eq!(h.get(&token, "/api/v2/oauth/clients").await.status(), StatusCode::OK);

    assert_eq!(h.get(&token, "/api/v2/tokens/me").await.status(), StatusCode::OK);
    for _ in 0..2 {
        let resp = h.get(&token, "/api/v2/tokens/me").await;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()["retry-after"], "7");
        assert_eq!(error_body(resp).await.code, "too.many.requests.retry.after");
    }
    assert_eq!(h.get(&token, "/api/v2/tokens/me").await.status(), StatusCode::OK);

    let before = h.emu.clients().len();
    let resp = h.create(&token, cc_body("x")).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error_body(resp).await.code, "internal.server.error");
    assert_eq!(
        h.emu.clients().len(),
        before,
        "a status fault acts before the operation"
    );

    // Token route faults answer in the OAuth error shape, filtered by Basic-auth client id.
    let other = h.emu.seed_client(SeedClient::new("other", &[]));
    let target = h.emu.seed_client(SeedClient::new("target", &[]));
    h.emu.inject_fault(
        Fault::new(
            routes::TOKEN,
            FaultAction::Status {
                status: 503,
                retry_after: Some(2),
            },
        )
        .for_client(&target.id),
    );
    assert_eq!(
        h.token_response(&other.id, &other.secret).await.status(),
        StatusCode::OK
    );
    let resp = h.token_response(&target.id, &target.secret).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "2");
    assert!(resp.json::<Value>().await.unwrap()["error"].is_string());

    // Filtered by {id} path parameter; clear_faults removes pending ones.
    h.emu.inject_fault(
        Fault::new(
            routes::GET_CLIENT,
            FaultAction::Status {
                status: 502,
                retry_after: None,
            },
        )
        .for_client(&target.id),
    );
    let path = |id: &str| format!("/api/v2/oauth/clients/{id}");
    assert_eq!(h.get(&token, &path(&other.id)).await.status(), StatusCode::OK);
    assert_eq!(h.get(&token, &path(&target.id)).await.status(), StatusCode::BAD_GATEWAY);
    h.emu.inject_fault(Fault::new(routes::GET_CLIENT, FaultAction::Drop));
    h.emu.clear_faults();
    assert_eq!(h.get(&token, &path(&target.id)).await.status(), StatusCode::OK);

    let counts = h.emu.call_counts();
    assert_eq!(counts[routes::LIST_CLIENTS], 2);
    assert_eq!(counts[routes::TOKENS_ME], 4);
    assert_eq!(counts[routes::CREATE_CLIENT], 1);
    assert_eq!(counts[routes::GET_CLIENT], 3);
}

#[tokio::test]
async fn drop_fault_closes_the_connection_without_acting() {
    let h = Harness::default().await;
    let token = h.admin_token().await;
    // Warm the pool so the dropped request rides a reused keep-alive connection.
    assert_eq!(h.get(&token, "/api/v2/tokens/me").await.status(), StatusCode::OK);
    h.emu.inject_fault(Fault::new(routes::CREATE_CLIENT, FaultAction::Drop));
    let before = h.emu.clients().len();
    let err = h
        .http
        .post(h.url("/api/v2/oauth/clients"))
        .bearer_auth(&token)
        .json(&cc_body("dropped"))
        .send()
        .await
        .expect_err("a dropped connection is an error, not a status");
    assert!(err.status().is_none());
    assert_eq!(h.emu.clients().len(), before, "nothing was created");
    // Exactly one request was hit: the same client carries on.
    h.create_ok(&token, "next").await;
    let calls = h.emu.calls();
    let creates: Vec<_> = calls.iter().filter(|c| c.route == routes::CREATE_CLIENT).collect();
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[0].status, None);
    assert_eq!(creates[1].status, Some(200));
}

#[tokio::test]
async fn drop_after_apply_acts_then_closes_the_connection() {
    let h = Harness::default().await;
    let token = h.admin_token().await;
    h.emu
        .inject_fault(Fault::new(routes::CREATE_CLIENT, FaultAction::DropAfterApply));
    let before = h.emu.clients().len();
    let err = h.create_raw_err(&token, cc_body("orphan")).await;
    assert!(err.status().is_none());
    let clients = h.emu.clients();
    assert_eq!(clients.len(), before + 1, "the client was created");
    assert!(clients.iter().any(|c| c.name == "orphan"));

    // Also on new-secret: the secret changed though the caller never saw it.
    let target = h.emu.seed_client(SeedClient::new("t", &[]));
    h.emu
        .inject_fault(Fault::new(routes::NEW_SECRET, FaultAction::DropAfterApply).for_client(&target.id));
    let r = h
        .http
        .post(h.url(&format!("/api/v2/oauth/clients/{}/secret", target.id)))
        .bearer_auth(&token)
        .send()
        .await;
    assert!(r.is_err());
    assert_eq!(
        h.token_response(&target.id, &target.secret).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // And on the token route.
    h.emu.inject_fault(Fault::new(routes::TOKEN, FaultAction::Drop));
    let r = h
        .http
        .post(h.url("/oauth/token"))
        .basic_auth(&target.id, Some("whatever"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await;
    assert!(r.is_err());
}

#[tokio::test]
async fn status_after_apply_acts_then_answers_the_status() {
    let h = Harness::default().await;
    let token = h.admin_token().await;
    let target = h.emu.seed_client(SeedClient::new("t", &[]));
    h.emu.inject_fault(
        Fault::new(routes::NEW_SECRET, FaultAction::StatusAfterApply { status: 502 }).for_client(&target.id),
    );
    let r = h
        .http
        .post(h.url(&format!("/api/v2/oauth/clients/{}/secret", target.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    // The caller sees the gateway's error, with the API's error body and no secret.
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], json!(502));
    assert_eq!(body["code"], json!("bad.gateway"));
    assert!(body.get("secret").is_none(), "{body}");
    // But the secret changed: the old one is refused, the new one is the emulator's.
    assert_eq!(
        h.token_response(&target.id, &target.secret).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let live = h.emu.clients().into_iter().find(|c| c.id == target.id).unwrap().secret;
    assert_ne!(live, target.secret);
    assert_eq!(h.token_response(&target.id, &live).await.status(), StatusCode::OK);
    // The call log shows the status the caller got; the fault is used up.
    let calls = h.emu.calls();
    let renewals: Vec<_> = calls.iter().filter(|c| c.route == routes::NEW_SECRET).collect();
    assert_eq!(renewals.len(), 1);
    assert_eq!(renewals[0].status, Some(502));
    assert_eq!(h.emu.pending_faults(), 0);

    // On a create too: the client exists though the caller was told 500.
    h.emu.inject_fault(Fault::new(
        routes::CREATE_CLIENT,
        FaultAction::StatusAfterApply { status: 500 },
    ));
    let before = h.emu.clients().len();
    let r = h
        .http
        .post(h.url("/api/v2/oauth/clients"))
        .bearer_auth(&token)
        .json(&cc_body("made-anyway"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let clients = h.emu.clients();
    assert_eq!(clients.len(), before + 1);
    assert!(clients.iter().any(|c| c.name == "made-anyway"));
}

impl Harness {
    async fn create_raw_err(&self, token: &str, body: Value) -> reqwest::Error {
        self.http
            .post(self.url("/api/v2/oauth/clients"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect_err("connection error expected")
    }
}

#[tokio::test]
async fn delay_fault_answers_late() {
    let h = Harness::default().await;
    let token = h.admin_token().await;
    h.emu.inject_fault(Fault::new(
        routes::TOKENS_ME,
        FaultAction::Delay(Duration::from_millis(300)),
    ));
    let start = Instant::now();
    assert_eq!(h.get(&token, "/api/v2/tokens/me").await.status(), StatusCode::OK);
    assert!(start.elapsed() >= Duration::from_millis(300));
    let start = Instant::now();
    assert_eq!(h.get(&token, "/api/v2/tokens/me").await.status(), StatusCode::OK);
    assert!(start.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn short_listing_fault_leaves_out_the_last_client_but_counts_it() {
    let h = Harness::default().await;
    let token = h.admin_token().await;
    let other = h.create_ok(&token, "other").await;
    let listing = |resp: Response| async move {
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json::<OAuthClientEntityListing>().await.unwrap()
    };

    // GIVEN a short listing queued over the admin API (as a demo or the SDK test would)
    let refused = h
        .http
        .post(h.url("/__admin/faults"))
        .json(&json!({"route": "GET /api/v2/tokens/me", "action": {"type": "shortListing"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::BAD_REQUEST,
        "only the listing route takes it"
    );
    assert!(refused.text().await.unwrap().contains("shortListing"));
    assert_eq!(h.emu.pending_faults(), 0, "a refused fault is not queued");
    let queued = h
        .http
        .post(h.url("/__admin/faults"))
        .json(&json!({"route": "GET /api/v2/oauth/clients", "action": {"type": "shortListing"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status(), StatusCode::NO_CONTENT);

    // WHEN the org is listed: the last client is missing, yet total counts it
    let short = listing(h.get(&token, "/api/v2/oauth/clients").await).await;
    assert_eq!(short.total, 2);
    assert_eq!(short.page_count, 1);
    assert!(short.next_uri.is_none());
    assert_eq!(short.entities.len(), 1);
    assert!(
        short.entities.iter().all(|c| c.id != other.id),
        "the newest client is left out"
    );

    // THEN the next listing is whole again
    let whole = listing(h.get(&token, "/api/v2/oauth/clients").await).await;
    assert_eq!((whole.total, whole.entities.len()), (2, 2));
    assert_eq!(h.emu.call_counts()[routes::LIST_CLIENTS], 2);
}

#[tokio::test]
#[should_panic(expected = "shortListing applies only to route")]
async fn a_short_listing_fault_on_another_route_is_a_test_mistake() {
    let h = Harness::default().await;
    h.emu
        .inject_fault(Fault::new(routes::CREATE_CLIENT, FaultAction::ShortListing));
}

#[tokio::test]
async fn unknown_routes_are_404_error_bodies() {
    let h = Harness::default().await;
    let token = h.admin_token().await;
    let resp = h.get(&token, "/api/v2/users").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_body(resp).await.code, "not.found");
    let resp = h
        .call(reqwest::Method::PATCH, "/api/v2/oauth/clients/x", &token, None)
        .await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let counts = h.emu.call_counts();
    assert_eq!(counts["GET /api/v2/users"], 1);
    assert_eq!(counts["PATCH /api/v2/oauth/clients/{id}"], 1);
}

#[tokio::test]
async fn admin_http_api() {
    let h = Harness::default().await;
    let admin = |p: &str| h.url(&format!("/__admin{p}"));
    let seeded: SeededClient = h
        .http
        .post(admin("/clients"))
        .json(&json!({"name": "master", "permissions": SeedClient::ADMIN_PERMISSIONS}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = h.token(&seeded).await;

    let ok = |r: Response| assert!(r.status().is_success(), "{}", r.status());
    ok(h.http
        .post(admin("/roles"))
        .json(&json!({"roleId": "r", "permissions": ["oauth:client:view"]}))
        .send()
        .await
        .unwrap());
    let body = json!({"name": "c", "authorizedGrantType": "CLIENT-CREDENTIALS",
                      "roleDivisions": [{"roleId": "r", "divisionId": "d"}]});
    assert_eq!(h.create(&token, body).await.status(), StatusCode::OK);

    ok(h.http
        .post(admin("/faults"))
        .json(&json!({"route": "GET /api/v2/tokens/me", "action": {"type": "status", "status": 500}}))
        .send()
        .await
        .unwrap());
    assert_eq!(
        h.get(&token, "/api/v2/tokens/me").await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    ok(h.http
        .post(admin("/faults"))
        .json(&json!({"route": "GET /api/v2/tokens/me", "action": {"type": "drop"}}))
        .send()
        .await
        .unwrap());
    ok(h.http.delete(admin("/faults")).send().await.unwrap());
    assert_eq!(h.get(&token, "/api/v2/tokens/me").await.status(), StatusCode::OK);

    let inventory: Vec<Value> = h
        .http
        .get(admin("/clients"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inventory.len(), 2);
    assert_eq!(inventory[1]["permissions"], json!(["oauth:client:view"]));
    assert!(inventory[1]["secret"].is_string());

    // Dates of an existing client: what the API shows from then on; an unknown id is a 404.
    let id = inventory[1]["id"].as_str().unwrap().to_string();
    let dates = admin(&format!("/clients/{id}/dates"));
    ok(h.http
        .post(&dates)
        .json(&json!({"dateModified": "2020-01-02T03:04:05.000Z"}))
        .send()
        .await
        .unwrap());
    let client: Value = h
        .get(&token, &format!("/api/v2/oauth/clients/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(client["dateModified"], "2020-01-02T03:04:05.000Z");
    assert_ne!(client["dateCreated"], "2020-01-02T03:04:05.000Z");
    let unknown = h
        .http
        .post(admin("/clients/no-such-client/dates"))
        .json(&json!({"dateCreated": "2020-01-02T03:04:05.000Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    ok(h.http
        .post(admin("/config"))
        .json(&json!({"rateLimitPerMinute": 1, "clientLimit": 2}))
        .send()
        .await
        .unwrap());
    assert_eq!(
        h.create(&token, cc_body("over")).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.get(&token, "/api/v2/tokens/me").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    ok(h.http
        .post(admin("/clock"))
        .json(&json!({"advanceSeconds": 60}))
        .send()
        .await
        .unwrap());
    assert_eq!(h.get(&token, "/api/v2/tokens/me").await.status(), StatusCode::OK);
    ok(h.http
        .post(admin("/config"))
        .json(&json!({"rateLimitPerMinute": null}))
        .send()
        .await
        .unwrap());
    assert_eq!(h.get(&token, "/api/v2/tokens/me").await.status(), StatusCode::OK);

    let counts: Value = h.http.get(admin("/calls")).send().await.unwrap().json().await.unwrap();
    assert_eq!(counts["GET /api/v2/tokens/me"], 5);
    assert_eq!(counts["POST /api/v2/oauth/clients"], 2);
    assert_eq!(counts["POST /oauth/token"], 1);
    assert!(counts.as_object().unwrap().keys().all(|k| !k.contains("__admin")));
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let url = format!("{}/api/v2/tokens/me", emu.base_url());
    emu.shutdown().await;
    assert!(Client::new().get(url).send().await.is_err());
}

#[tokio::test]
async fn a_call_abandoned_during_a_delay_is_still_logged() {
    let h = Harness::default().await;
    let token = h.admin_token().await;
    h.emu.inject_fault(Fault::new(
        routes::TOKENS_ME,
        FaultAction::Delay(Duration::from_secs(5)),
    ));
    let err = h
        .http
        .get(h.url("/api/v2/tokens/me"))
        .bearer_auth(&token)
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .expect_err("the client gives up first");
    assert!(err.is_timeout());
    // The server notices the closed connection and drops the handler.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !h.emu.call_counts().contains_key(routes::TOKENS_ME) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = h.emu.calls();
    let me: Vec<_> = calls.iter().filter(|c| c.route == routes::TOKENS_ME).collect();
    assert_eq!(me.len(), 1);
    assert_eq!(me[0].status, None);
}

#[tokio::test]
async fn unknown_fields_are_stored_and_returned_and_a_put_replaces_them() {
    let h = Harness::default().await;
    let token = h.admin_token().await;
    // GIVEN a create body with a field the SDK does not name, and response-only fields
    let mut body = cc_body("with-extra");
    body["allowedIpAddresses"] = json!(["192.0.2.0/24"]);
    body["futureObject"] = json!({"a": 1});
    body["id"] = json!("chosen-by-caller");
    body["selfUri"] = json!("/nope");
    let created: Value = h.create(&token, body).await.json().await.unwrap();
    // THEN the answer, GET and the listing show the unknown fields, and the server's own fields
    let id = created["id"].as_str().unwrap().to_owned();
    assert_ne!(id, "chosen-by-caller");
    assert_eq!(created["allowedIpAddresses"], json!(["192.0.2.0/24"]));
    let got: Value = h
        .get(&token, &format!("/api/v2/oauth/clients/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["allowedIpAddresses"], json!(["192.0.2.0/24"]));
    assert_eq!(got["futureObject"], json!({"a": 1}));
    assert_eq!(got["selfUri"], json!(format!("/api/v2/oauth/clients/{id}")));
    let typed: OAuthClient = serde_json::from_value(got).unwrap();
    assert_eq!(typed.extra.len(), 2);
    let list: Value = h.get(&token, "/api/v2/oauth/clients").await.json().await.unwrap();
    let listed = list["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == json!(id))
        .unwrap();
    assert_eq!(listed["allowedIpAddresses"], json!(["192.0.2.0/24"]));
    let rec = h.emu.clients().into_iter().find(|c| c.id == id).unwrap();
    assert_eq!(rec.fields["allowedIpAddresses"], json!(["192.0.2.0/24"]));
    // WHEN a PUT sends a changed value and leaves the other out THEN the client holds exactly that
    let mut put = cc_body("with-extra");
    put["allowedIpAddresses"] = json!(["198.51.100.7"]);
    let updated: Value = h.put(&token, &id, put).await.json().await.unwrap();
    assert_eq!(updated["allowedIpAddresses"], json!(["198.51.100.7"]));
    assert!(updated.get("futureObject").is_none());
}

#[tokio::test]
async fn a_required_client_field_is_enforced_on_create_only() {
    let config = EmulatorConfig {
        required_client_fields: vec!["allowedIpAddresses".into()],
        ..EmulatorConfig::default()
    };
    let h = Harness::new(config).await;
    let token = h.admin_token().await;
    // GIVEN an org requiring allowedIpAddresses on new client-credentials clients
    // WHEN a client is created without it (absent, null, empty) THEN 400 bad.request names it
    for value in [None, Some(json!(null)), Some(json!([])), Some(json!(""))] {
        let mut body = cc_body("no-ips");
        if let Some(v) = value {
            body["allowedIpAddresses"] = v;
        }
        let resp = h.create(&token, body.clone()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        let err = error_body(resp).await;
        assert_eq!(err.code, "bad.request");
        assert!(err.message.contains("allowedIpAddresses"), "{}", err.message);
        assert_eq!(err.message_params["field"], "allowedIpAddresses");
    }
    assert_eq!(h.emu.clients().len(), 1, "nothing created but the master");
    // Another grant type is not concerned.
    let resp = h
        .create(&token, json!({"name": "code", "authorizedGrantType": "CODE"}))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    // WITH it THEN created
    let mut body = cc_body("with-ips");
    body["allowedIpAddresses"] = json!(["10.0.0.0/8"]);
    let created: OAuthClient = h.create(&token, body).await.json().await.unwrap();
    // A PUT without it is accepted (existing clients: transition period).
    assert_eq!(
        h.put(&token, &created.id, cc_body("with-ips")).await.status(),
        StatusCode::OK
    );
    // The admin API turns the rule off and on.
    let set = |fields: Value| {
        h.http
            .post(h.url("/__admin/config"))
            .json(&json!({ "requiredClientFields": fields }))
            .send()
    };
    assert!(set(json!([])).await.unwrap().status().is_success());
    assert_eq!(h.create(&token, cc_body("free")).await.status(), StatusCode::OK);
    assert!(set(json!(["ipList"])).await.unwrap().status().is_success());
    let err = error_body(h.create(&token, cc_body("again")).await).await;
    assert!(err.message.contains("ipList"), "{}", err.message);
    h.emu.set_required_client_fields(&[]);
    assert_eq!(h.create(&token, cc_body("free2")).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn credential_routes_take_faults_per_credential_and_count_calls() {
    let h = Harness::default().await;
    let caller = h
        .emu
        .seed_client(SeedClient::new("integrator", &["integrations:integration:*"]));
    let token = h.token(&caller).await;
    let seed = |name: &str| {
        h.emu
            .seed_credential(genesys_emulator::SeedCredential::oauth_client(
                name, "client-1", "s3cret",
            ))
            .id
    };
    let (a, b) = (seed("a"), seed("b"));
    h.emu.inject_fault(
        Fault::new(
            routes::UPDATE_CREDENTIAL,
            FaultAction::Status {
                status: 503,
                retry_after: None,
            },
        )
        .for_client(&b),
    );
    let put = |id: &str| {
        h.http
            .put(h.url(&format!("/api/v2/integrations/credentials/{id}")))
            .bearer_auth(&token)
            .json(&json!({"name": "x", "type": {"name": "pureCloudOAuthClient"},
                          "credentialFields": {"clientId": "client-2", "clientSecret": "n3w"}}))
            .send()
    };
    // The fault waits for its credential: another one's PUT goes through.
    assert_eq!(put(&a).await.unwrap().status(), StatusCode::OK);
    assert_eq!(put(&b).await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(put(&b).await.unwrap().status(), StatusCode::OK);
    let records = h.emu.credentials();
    assert!(records
        .iter()
        .all(|c| c.fields["clientId"] == "client-2" && c.updates == 1));
    assert_eq!(h.emu.call_counts().get(routes::UPDATE_CREDENTIAL), Some(&3));
    // A GET shows the client id, never the secret.
    let got: Value = h
        .http
        .get(h.url(&format!("/api/v2/integrations/credentials/{a}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["credentialFields"], json!({"clientId": "client-2"}));
}

// ---- fidelity switches (issue 21) -------------------------------------------------------------

const DAY: Duration = Duration::from_secs(86_400);

/// A seeded client created `days_ago` days ago (emulator clock), with view permission.
fn aged(h: &Harness, name: &str, days_ago: u64) -> SeededClient {
    h.emu.seed_client(SeedClient {
        date_created: Some(time::OffsetDateTime::now_utc() - DAY * days_ago as u32),
        ..SeedClient::new(name, &["oauth:client:view"])
    })
}

impl Harness {
    /// PUT `state: inactive` (the step before a DELETE), then DELETE; the DELETE's answer.
    async fn deactivate_and_delete(&self, token: &str, id: &str, name: &str) -> Response {
        let mut body = cc_body(name);
        body["state"] = json!("inactive");
        assert_eq!(self.put(token, id, body).await.status(), StatusCode::OK);
        self.delete(token, id).await
    }

    async fn client_json(&self, token: &str, id: &str) -> Response {
        self.get(token, &format!("/api/v2/oauth/clients/{id}")).await
    }

    async fn listed_ids(&self, token: &str) -> Vec<String> {
        let list: OAuthClientEntityListing = self.get(token, "/api/v2/oauth/clients").await.json().await.unwrap();
        list.entities.into_iter().map(|c| c.id).collect()
    }
}

#[tokio::test]
async fn deleting_a_client_older_than_30_days_soft_deletes_it_for_7_days() {
    // GIVEN the default emulator (soft delete on) and a client created 31 days ago, with a token
    let h = Harness::default().await;
    let admin = h.admin_token().await;
    let old = aged(&h, "old", 31);
    let held = h.token(&old).await;
    // WHEN it is deactivated and deleted
    let resp = h.deactivate_and_delete(&admin, &old.id, "old").await;
    // THEN the DELETE answers as always, but the client stays: inactive, with dateToDelete in 7 days
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let got = h.client_json(&admin, &old.id).await;
    assert_eq!(got.status(), StatusCode::OK);
    let got: OAuthClient = got.json().await.unwrap();
    assert_eq!(got.state, ClientState::Inactive);
    let due = got.date_to_delete.expect("dateToDelete set");
    let expected = time::OffsetDateTime::now_utc() + 7 * DAY;
    assert!(
        (due - expected).abs() < time::Duration::seconds(5),
        "{due} vs {expected}"
    );
    assert!(h.listed_ids(&admin).await.contains(&old.id), "still listed");
    let rec = h.emu.clients().into_iter().find(|c| c.id == old.id).unwrap();
    assert!(rec.soft_deleted && rec.date_to_delete == Some(due));
    assert_eq!(h.emu.deleted_client_ids(), vec![old.id.clone()]);
    // AND its tokens stop working, and it gets no new one
    assert_eq!(
        h.get(&held, "/api/v2/tokens/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.token_response(&old.id, &old.secret).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert!(h.emu.issue_token_for(&old.id).is_none());
    // AND a second DELETE answers 204 again and changes nothing (the default RepeatDelete)
    h.emu.advance_clock(Duration::from_secs(3600));
    assert_eq!(h.delete(&admin, &old.id).await.status(), StatusCode::NO_CONTENT);
    let again: OAuthClient = h.client_json(&admin, &old.id).await.json().await.unwrap();
    assert_eq!(again.date_to_delete, Some(due));
    assert_eq!(h.emu.deleted_client_ids(), vec![old.id.clone()], "listed once");
    // AND a PUT that keeps it inactive leaves it soft-deleted
    let mut inactive = cc_body("old");
    inactive["state"] = json!("inactive");
    let kept: OAuthClient = h.put(&admin, &old.id, inactive).await.json().await.unwrap();
    assert_eq!(kept.date_to_delete, Some(due));

    // WHEN it is restored by a PUT with state active THEN dateToDelete is cleared and tokens come
    let restored: OAuthClient = h.put(&admin, &old.id, cc_body("old")).await.json().await.unwrap();
    assert_eq!((restored.state, restored.date_to_delete), (ClientState::Active, None));
    assert_eq!(h.token_response(&old.id, &old.secret).await.status(), StatusCode::OK);
    assert!(
        !h.emu
            .clients()
            .into_iter()
            .find(|c| c.id == old.id)
            .unwrap()
            .soft_deleted
    );

    // WHEN it is deleted again and 7 days pass THEN it is gone
    assert_eq!(
        h.deactivate_and_delete(&admin, &old.id, "old").await.status(),
        StatusCode::NO_CONTENT
    );
    h.emu.advance_clock(7 * DAY - Duration::from_secs(60));
    let admin = h.admin_token().await; // the first one has expired meanwhile
    assert_eq!(h.client_json(&admin, &old.id).await.status(), StatusCode::OK, "not yet");
    h.emu.advance_clock(Duration::from_secs(61));
    let gone = h.client_json(&admin, &old.id).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_body(gone).await.code, "not.found");
    assert!(!h.listed_ids(&admin).await.contains(&old.id));
    assert_eq!(h.delete(&admin, &old.id).await.status(), StatusCode::NOT_FOUND);
    assert!(h.emu.clients().iter().all(|c| c.id != old.id));
    assert_eq!(h.emu.purged_client_ids(), vec![old.id.clone()]);
}

#[tokio::test]
async fn a_client_created_within_30_days_or_with_soft_delete_off_is_removed_at_once() {
    let h = Harness::default().await;
    let admin = h.admin_token().await;
    // GIVEN clients created 29 days ago and just now (through the API)
    let young = aged(&h, "young", 29);
    let fresh = h.create_ok(&admin, "fresh").await;
    for (id, name) in [(&young.id, "young"), (&fresh.id, "fresh")] {
        // WHEN deleted THEN gone at once
        assert_eq!(
            h.deactivate_and_delete(&admin, id, name).await.status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(h.client_json(&admin, id).await.status(), StatusCode::NOT_FOUND);
    }
    // GIVEN soft delete switched off (at run time) WHEN an old client is deleted THEN gone at once
    h.emu.set_soft_delete(false);
    let old = aged(&h, "old", 400);
    assert_eq!(
        h.deactivate_and_delete(&admin, &old.id, "old").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(h.client_json(&admin, &old.id).await.status(), StatusCode::NOT_FOUND);
    // AND on again, over the admin API
    let resp = h
        .http
        .post(h.url("/__admin/config"))
        .json(&json!({"softDelete": true}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let old2 = aged(&h, "old2", 400);
    h.deactivate_and_delete(&admin, &old2.id, "old2").await;
    assert_eq!(h.client_json(&admin, &old2.id).await.status(), StatusCode::OK);
    assert!(h.emu.purged_client_ids().is_empty());
}

#[tokio::test]
async fn a_repeated_delete_and_the_limit_follow_their_settings() {
    let h = Harness::new(EmulatorConfig {
        client_limit: 3,
        ..EmulatorConfig::default()
    })
    .await;
    let admin = h.admin_token().await;
    let old = aged(&h, "old", 60);
    h.create_ok(&admin, "third").await;
    h.deactivate_and_delete(&admin, &old.id, "old").await;
    // GIVEN a soft-deleted client: by default it counts against the limit
    assert_eq!(
        h.create(&admin, cc_body("fourth")).await.status(),
        StatusCode::BAD_REQUEST
    );
    h.emu.set_soft_deleted_count_against_limit(false);
    h.create_ok(&admin, "fourth").await;
    h.emu.set_soft_deleted_count_against_limit(true);
    assert_eq!(
        h.create(&admin, cc_body("fifth")).await.status(),
        StatusCode::BAD_REQUEST
    );
    // AND a second DELETE answers per the setting, and never changes the client
    h.emu.set_repeat_delete(RepeatDelete::NotFound);
    let resp = h.delete(&admin, &old.id).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_body(resp).await.code, "not.found");
    h.emu.set_repeat_delete(RepeatDelete::Conflict);
    let resp = h.delete(&admin, &old.id).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(error_body(resp).await.code, "conflict");
    let resp = h
        .http
        .post(h.url("/__admin/config"))
        .json(&json!({"repeatDelete": "noContent", "softDeletedCountAgainstLimit": false}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert_eq!(h.delete(&admin, &old.id).await.status(), StatusCode::NO_CONTENT);
    h.emu.set_client_limit(4);
    h.create_ok(&admin, "fifth").await;
    let rec = h.emu.clients().into_iter().find(|c| c.id == old.id).unwrap();
    assert!(rec.soft_deleted && rec.state == ClientState::Inactive);
}

#[tokio::test]
async fn genesys_deletes_inactive_clients_by_itself_only_when_set() {
    let h = Harness::default().await;
    let admin = h.admin_token().await;
    let now = time::OffsetDateTime::now_utc();
    // GIVEN an inactive client last modified 2 days ago, one modified now, and an active old one
    let stale = h.emu.seed_client(SeedClient {
        state: ClientState::Inactive,
        date_created: Some(now - 10 * DAY),
        date_modified: Some(now - 2 * DAY),
        ..SeedClient::new("stale", &[])
    });
    let recent = h.emu.seed_client(SeedClient {
        state: ClientState::Inactive,
        ..SeedClient::new("recent", &[])
    });
    let active = aged(&h, "active", 10);
    // WHEN the switch is off (default) THEN nothing goes
    assert_eq!(h.client_json(&admin, &stale.id).await.status(), StatusCode::OK);
    // WHEN Genesys removes inactive clients after a day
    h.emu.set_auto_delete_inactive_after(Some(DAY));
    // THEN the stale one is gone, the others stay
    assert_eq!(h.client_json(&admin, &stale.id).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(h.client_json(&admin, &recent.id).await.status(), StatusCode::OK);
    assert_eq!(h.emu.purged_client_ids(), vec![stale.id.clone()]);
    assert!(h.emu.deleted_client_ids().is_empty(), "not deleted through the API");
    // AND a day later the recent one too, never the active one
    h.emu.advance_clock(DAY + Duration::from_secs(1));
    let admin = h.admin_token().await;
    let listed = h.listed_ids(&admin).await;
    assert!(!listed.contains(&recent.id) && listed.contains(&active.id));
    // AND the admin API turns it off
    let resp = h
        .http
        .post(h.url("/__admin/config"))
        .json(&json!({"autoDeleteInactiveAfterSeconds": null}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let kept = h.emu.seed_client(SeedClient {
        state: ClientState::Inactive,
        date_modified: Some(now - 100 * DAY),
        date_created: Some(now - 100 * DAY),
        ..SeedClient::new("kept", &[])
    });
    assert_eq!(h.client_json(&admin, &kept.id).await.status(), StatusCode::OK);
    let purged: Vec<String> = h
        .http
        .get(h.url("/__admin/purged"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(purged, vec![stale.id, recent.id]);
}

fn rd(role: &str, division: &str) -> RoleDivision {
    RoleDivision {
        role_id: role.into(),
        division_id: division.into(),
    }
}

fn with_roles(name: &str, pairs: &[(&str, &str)]) -> Value {
    let mut body = cc_body(name);
    body["roleDivisions"] = json!(pairs
        .iter()
        .map(|(r, d)| json!({"roleId": r, "divisionId": d}))
        .collect::<Vec<_>>());
    body
}

#[tokio::test]
async fn the_role_rule_refuses_roles_the_caller_does_not_hold() {
    let h = Harness::default().await;
    for role in ["r1", "r2", "r3"] {
        h.emu.seed_role(role, &["conversation:communication:view"]);
    }
    // GIVEN a master holding r1 in every division and r2 in d1 only
    let master = h.emu.seed_client(SeedClient {
        role_divisions: vec![rd("r1", "*"), rd("r2", "d1")],
        ..SeedClient::admin("master")
    });
    let token = h.token(&master).await;
    // AND the rule off (the default): anything that exists is assigned
    let foreign: OAuthClient = h
        .create(&token, with_roles("foreign", &[("r3", "d9")]))
        .await
        .json()
        .await
        .unwrap();
    // WHEN the rule is on
    h.emu.set_role_rule(true);
    // THEN held pairs are assigned (a held `*` covers any division), no roles at all too
    for (name, pairs) in [
        ("a", vec![("r1", "anything")]),
        ("b", vec![("r2", "d1"), ("r1", "*")]),
        ("c", vec![]),
    ] {
        assert_eq!(
            h.create(&token, with_roles(name, &pairs)).await.status(),
            StatusCode::OK,
            "{name}"
        );
    }
    // AND a pair it lacks is refused 403 missing.permissions, naming every missing pair
    let resp = h
        .create(&token, with_roles("d", &[("r2", "d2"), ("r1", "x"), ("r3", "d1")]))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let err = error_body(resp).await;
    assert_eq!((err.code.as_str(), err.status), ("missing.permissions", 403));
    assert_eq!(
        err.message_params["missingRoleDivisions"],
        "[role r2 in division d2, role r3 in division d1]"
    );
    assert!(err.message.contains("role r2 in division d2"), "{}", err.message);
    // AND a deprecated roleIds entry needs the role in some division
    let mut body = cc_body("e");
    body["roleIds"] = json!(["r2"]);
    assert_eq!(h.create(&token, body.clone()).await.status(), StatusCode::OK);
    body["roleIds"] = json!(["r3"]);
    let err = error_body(h.create(&token, body).await).await;
    assert_eq!(err.message_params["missingRoleDivisions"], "[role r3]");
    // AND editing needs the client's current roles too: even a PUT dropping them is refused
    let resp = h.put(&token, &foreign.id, cc_body("foreign")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(error_body(resp).await.message.contains("role r3 in division d9"));
    let made: OAuthClient = h
        .create(&token, with_roles("mine", &[("r1", "d5")]))
        .await
        .json()
        .await
        .unwrap();
    let mut deactivate = with_roles("mine", &[("r1", "d5")]);
    deactivate["state"] = json!("inactive");
    assert_eq!(h.put(&token, &made.id, deactivate).await.status(), StatusCode::OK);
    // AND a master holding only permissions (no roles) may create only role-less clients
    let bare = h.admin_token().await;
    assert_eq!(h.create(&bare, cc_body("plain")).await.status(), StatusCode::OK);
    assert_eq!(
        h.create(&bare, with_roles("f", &[("r1", "d1")])).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.emu
            .clients()
            .iter()
            .filter(|c| c.name == "d" || c.name == "f")
            .count(),
        0
    );
    // AND the admin API turns it off
    let resp = h
        .http
        .post(h.url("/__admin/config"))
        .json(&json!({"roleRule": false}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert_eq!(
        h.create(&bare, with_roles("f", &[("r1", "d1")])).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn listing_items_lack_the_grant_type_when_set() {
    let h = Harness::default().await;
    let token = h.admin_token().await;
    let made = h.create_ok(&token, "x").await;
    let listed = |h: &Harness| {
        let token = token.clone();
        let url = h.url("/api/v2/oauth/clients");
        let http = h.http.clone();
        async move {
            let v: Value = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v
        }
    };
    let on = |b: bool| h.emu.set_listing_without_grant_type(b);
    assert!(listed(&h).await["entities"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["authorizedGrantType"] == "CLIENT-CREDENTIALS"));
    // WHEN switched on THEN no item has authorizedGrantType; every other field is there
    on(true);
    let v = listed(&h).await;
    let entities = v["entities"].as_array().unwrap();
    assert_eq!(entities.len(), 2);
    for e in entities {
        assert!(e.get("authorizedGrantType").is_none(), "{e}");
        for field in [
            "id",
            "name",
            "state",
            "dateCreated",
            "dateModified",
            "selfUri",
            "accessTokenValiditySeconds",
        ] {
            assert!(e.get(field).is_some(), "{field} in {e}");
        }
    }
    assert_eq!((v["total"].as_u64(), v["pageCount"].as_u64()), (Some(2), Some(1)));
    // AND GET by id still answers the whole OAuthClient
    let got: Value = h.client_json(&token, &made.id).await.json().await.unwrap();
    assert_eq!(got["authorizedGrantType"], "CLIENT-CREDENTIALS");
    on(false);
    let _: OAuthClientEntityListing = serde_json::from_value(listed(&h).await).unwrap();
}

#[tokio::test]
async fn a_credential_get_hides_the_client_id_when_set() {
    let h = Harness::default().await;
    let caller = h
        .emu
        .seed_client(SeedClient::new("integrator", &["integrations:integration:view"]));
    let token = h.token(&caller).await;
    let id = h
        .emu
        .seed_credential(genesys_emulator::SeedCredential::oauth_client(
            "crm", "client-1", "s3cret",
        ))
        .id;
    let path = format!("/api/v2/integrations/credentials/{id}");
    let fields = |v: Value| v["credentialFields"].clone();
    assert_eq!(
        fields(h.get(&token, &path).await.json().await.unwrap()),
        json!({"clientId": "client-1"})
    );
    h.emu.set_credential_get_hides_client_id(true);
    let got: Value = h.get(&token, &path).await.json().await.unwrap();
    assert_eq!(fields(got.clone()), json!({}));
    assert_eq!(got["type"]["name"], "pureCloudOAuthClient");
    // The stored credential is unchanged.
    assert_eq!(h.emu.credentials()[0].fields["clientId"], "client-1");
    let resp = h
        .http
        .post(h.url("/__admin/config"))
        .json(&json!({"credentialGetHidesClientId": false}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert_eq!(
        fields(h.get(&token, &path).await.json().await.unwrap()),
        json!({"clientId": "client-1"})
    );
}
