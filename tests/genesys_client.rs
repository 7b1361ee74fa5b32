//! HTTP-level tests of `GenesysClient` against the Genesys Cloud emulator
//! (a real server on 127.0.0.1:0): tokens, the OAuth client calls, and the
//! retry policy under injected faults.

use genesys_rotator::Classify;
use std::time::Duration;

use genesys_emulator::{routes, Emulator, EmulatorConfig, Fault, FaultAction, SeedClient};
use genesys_rotator::domain::ClientId;
use genesys_rotator::genesys::{
    ClientState, Deleted, GenesysCall, GenesysClient, GenesysError, GrantType, HttpSettings, OAuthClientRequest,
    RoleDivision,
};
use genesys_rotator::region::Endpoints;
use genesys_rotator::secret::{ClientCredentials, ExposeSecret};
use reqwest::Url;

/// Fast retries so fault tests take milliseconds.
fn fast_settings() -> HttpSettings {
    HttpSettings {
        request_timeout: Duration::from_secs(5),
        max_attempts: 4,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(10),
        max_retry_after: Duration::from_secs(2),
        requests_per_minute: HttpSettings::default().requests_per_minute,
    }
}

struct Setup {
    emu: Emulator,
    client: GenesysClient,
    admin_id: String,
}

async fn setup_with(settings: HttpSettings, seed: SeedClient) -> Setup {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    emu.seed_role("r1", &["oauth:client:view"]);
    let admin = emu.seed_client(seed);
    let client = GenesysClient::new(
        reqwest::Client::new(),
        Endpoints::single(Url::parse(&emu.base_url()).unwrap()),
        ClientCredentials::new(ClientId::parse(&admin.id).unwrap(), admin.secret.clone()),
        settings,
    );
    Setup {
        emu,
        client,
        admin_id: admin.id,
    }
}

async fn setup() -> Setup {
    setup_with(fast_settings(), SeedClient::admin("rotator-admin")).await
}

fn count(emu: &Emulator, route: &str) -> u64 {
    emu.call_counts().get(route).copied().unwrap_or(0)
}

fn new_client_request(name: &str) -> OAuthClientRequest {
    let mut req = OAuthClientRequest::client_credentials(name, vec![RoleDivision::new("r1", "*")]);
    req.description = Some("made by a test".into());
    req.access_token_validity_seconds = Some(3600);
    req
}

fn status_fault(route: &str, status: u16, retry_after: Option<u64>, times: u32) -> Fault {
    Fault::new(route, FaultAction::Status { status, retry_after }).times(times)
}

#[tokio::test]
async fn token_info_names_the_client_and_the_token_is_cached() {
    let s = setup().await;
    // WHEN two calls are made
    let info = s.client.token_info().await.unwrap();
    s.client.token_info().await.unwrap();
    // THEN the token belongs to the admin client and was fetched once
    assert_eq!(info.o_auth_client.unwrap().id, s.admin_id);
    assert_eq!(count(&s.emu, routes::TOKEN), 1);
    assert_eq!(count(&s.emu, routes::TOKENS_ME), 2);
    assert_eq!(s.client.client_id(), s.admin_id);
}

#[tokio::test]
async fn client_lifecycle_create_get_list_deactivate_delete() {
    let s = setup().await;

    // create: the answer carries the secret, which works
    let created = s.client.create_client(&new_client_request("rotated-1")).await.unwrap();
    let secret = created.secret.as_ref().expect("create returns the secret");
    assert_eq!(created.authorized_grant_type, GrantType::ClientCredentials);
    assert_eq!(created.access_token_validity_seconds, Some(3600));
    assert!(created.date_created.is_some());
    let record = s.emu.clients().into_iter().find(|c| c.id == created.id).unwrap();
    assert_eq!(record.secret, secret.expose_secret());

    // get: no secret
    let fetched = s.client.get_client(&created.id).await.unwrap().unwrap();
    assert!(fetched.secret.is_none());
    assert_eq!(fetched.name, "rotated-1");
    assert_eq!(fetched.role_divisions, vec![RoleDivision::new("r1", "*")]);

    // list: both clients
    let all = s.client.list_clients().await.unwrap();
    let ids: Vec<_> = all.iter().map(|c| c.id.as_str()).collect();
    assert!(ids.contains(&created.id.as_str()));
    assert!(ids.contains(&s.admin_id.as_str()));

    // deactivate with a full PUT
    let mut req = fetched.to_request();
    req.state = Some(ClientState::Inactive);
    let updated = s.client.update_client(&created.id, &req).await.unwrap();
    assert_eq!(updated.state, Some(ClientState::Inactive));
    assert_eq!(updated.description.as_deref(), Some("made by a test"));
    assert_eq!(updated.access_token_validity_seconds, Some(3600));

    // delete, then again: already gone; get: none; update: not found
    assert_eq!(s.client.delete_client(&created.id).await.unwrap(), Deleted::Deleted);
    assert_eq!(s.client.delete_client(&created.id).await.unwrap(), Deleted::AlreadyGone);
    assert!(s.client.get_client(&created.id).await.unwrap().is_none());
    assert_eq!(
        s.client.update_client(&created.id, &req).await.unwrap_err(),
        GenesysError::NotFound {
            call: GenesysCall::UpdateClient
        }
    );
}

#[tokio::test]
async fn idempotent_calls_retry_5xx() {
    let s = setup().await;
    s.emu.inject_fault(status_fault(routes::LIST_CLIENTS, 503, None, 2));
    let all = s.client.list_clients().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(count(&s.emu, routes::LIST_CLIENTS), 3);
}

#[tokio::test]
async fn retries_are_bounded() {
    let s = setup().await;
    s.emu.inject_fault(status_fault(routes::LIST_CLIENTS, 500, None, 100));
    let err = s.client.list_clients().await.unwrap_err();
    assert!(
        matches!(
            err,
            GenesysError::Http {
                status: 500,
                call: GenesysCall::ListClients,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(count(&s.emu, routes::LIST_CLIENTS), 4);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    // GIVEN a client that may only view
    let s = setup_with(fast_settings(), SeedClient::new("viewer", &["oauth:client:view"])).await;
    // WHEN it tries to create
    let err = s.client.create_client(&new_client_request("x")).await.unwrap_err();
    // THEN 403 missing.permissions, once
    match &err {
        GenesysError::Http { status, code, .. } => {
            assert_eq!(*status, 403);
            assert_eq!(code.as_deref(), Some("missing.permissions"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(err.call(), GenesysCall::CreateClient);
    assert_eq!(count(&s.emu, routes::CREATE_CLIENT), 1);
}

#[tokio::test]
async fn rate_limit_waits_retry_after() {
    let s = setup().await;
    s.emu.inject_fault(status_fault(routes::TOKENS_ME, 429, Some(1), 1));
    let started = std::time::Instant::now();
    s.client.token_info().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(count(&s.emu, routes::TOKENS_ME), 2);
}

#[tokio::test]
async fn rate_limit_longer_than_allowed_fails_at_once_retryably() {
    let s = setup().await;
    s.emu.inject_fault(status_fault(routes::TOKENS_ME, 429, Some(120), 1));
    let err = s.client.token_info().await.unwrap_err();
    assert_eq!(
        err,
        GenesysError::RateLimited {
            call: GenesysCall::TokensMe,
            retry_after: Some(Duration::from_secs(120))
        }
    );
    assert!(err.is_retryable());
    assert_eq!(count(&s.emu, routes::TOKENS_ME), 1);
}

#[tokio::test]
async fn create_retries_a_429_and_makes_one_client() {
    let s = setup().await;
    s.emu.inject_fault(status_fault(routes::CREATE_CLIENT, 429, Some(0), 1));
    let created = s.client.create_client(&new_client_request("c")).await.unwrap();
    assert!(created.secret.is_some());
    assert_eq!(count(&s.emu, routes::CREATE_CLIENT), 2);
    assert_eq!(s.emu.clients().len(), 2);
}

#[tokio::test]
async fn create_does_not_retry_a_5xx() {
    let s = setup().await;
    s.emu.inject_fault(status_fault(routes::CREATE_CLIENT, 503, None, 1));
    let err = s.client.create_client(&new_client_request("c")).await.unwrap_err();
    assert!(
        matches!(
            err,
            GenesysError::Http {
                status: 503,
                call: GenesysCall::CreateClient,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable(), "the caller may retry after reconciling");
    assert_eq!(count(&s.emu, routes::CREATE_CLIENT), 1);
}

#[tokio::test]
async fn create_does_not_retry_a_lost_answer() {
    let s = setup().await;
    // GIVEN the server creates the client and then the connection dies
    s.emu
        .inject_fault(Fault::new(routes::CREATE_CLIENT, FaultAction::DropAfterApply));
    // WHEN the client creates
    let err = s.client.create_client(&new_client_request("orphan")).await.unwrap_err();
    // THEN it reports a transport error without retrying: exactly one
    // (orphaned) client exists for the caller to reconcile
    assert!(
        matches!(
            err,
            GenesysError::Transport {
                call: GenesysCall::CreateClient,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(count(&s.emu, routes::CREATE_CLIENT), 1);
    let orphans: Vec<_> = s.emu.clients().into_iter().filter(|c| c.name == "orphan").collect();
    assert_eq!(orphans.len(), 1);
}

#[tokio::test]
async fn idempotent_calls_retry_dropped_connections() {
    let s = setup().await;
    s.emu
        .inject_fault(Fault::new(routes::LIST_CLIENTS, FaultAction::Drop).times(2));
    assert_eq!(s.client.list_clients().await.unwrap().len(), 1);
    assert_eq!(count(&s.emu, routes::LIST_CLIENTS), 3);
}

#[tokio::test]
async fn delete_whose_answer_was_lost_reports_already_gone() {
    let s = setup().await;
    let created = s.client.create_client(&new_client_request("d")).await.unwrap();
    let mut req = created.to_request();
    req.state = Some(ClientState::Inactive);
    s.client.update_client(&created.id, &req).await.unwrap();
    s.emu
        .inject_fault(Fault::new(routes::DELETE_CLIENT, FaultAction::DropAfterApply));
    assert_eq!(s.client.delete_client(&created.id).await.unwrap(), Deleted::AlreadyGone);
    assert_eq!(s.emu.deleted_client_ids(), vec![created.id]);
}

#[tokio::test]
async fn timeouts_are_retried() {
    let s = setup_with(
        HttpSettings {
            request_timeout: Duration::from_millis(300),
            ..fast_settings()
        },
        SeedClient::admin("a"),
    )
    .await;
    // get the token first, so the timeout hits the API call
    s.client.token().await.unwrap();
    s.emu.inject_fault(Fault::new(
        routes::TOKENS_ME,
        FaultAction::Delay(Duration::from_secs(2)),
    ));
    let started = std::time::Instant::now();
    s.client.token_info().await.unwrap();
    // The first attempt was abandoned at the timeout (the emulator logs a
    // call only when it finishes, so count by time, not by call log).
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn bad_credentials_are_invalid_client_and_not_retried() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let admin = emu.seed_client(SeedClient::admin("a"));
    let client = GenesysClient::new(
        reqwest::Client::new(),
        Endpoints::single(Url::parse(&emu.base_url()).unwrap()),
        ClientCredentials::new(ClientId::parse(&admin.id).unwrap(), "wrong-secret-value"),
        fast_settings(),
    );
    let err = client.token_info().await.unwrap_err();
    assert!(
        matches!(err, GenesysError::InvalidClient { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(
        err.call(),
        GenesysCall::Token,
        "a refused token names the token call, not tokens/me"
    );
    assert!(!err.to_string().contains("wrong-secret-value"));
    assert!(!format!("{err:?}").contains(&admin.secret));
    assert_eq!(count(&emu, routes::TOKEN), 1);
    assert_eq!(count(&emu, routes::TOKENS_ME), 0);
}

#[tokio::test]
async fn a_token_failure_during_a_call_names_the_token_call() {
    // GIVEN a token endpoint that keeps failing
    let s = setup().await;
    s.emu.inject_fault(status_fault(routes::TOKEN, 503, None, 100));
    // WHEN a client is created
    let err = s.client.create_client(&new_client_request("c")).await.unwrap_err();
    // THEN the error names the token request, which failed, and not the create, never sent
    assert_eq!(err.call(), GenesysCall::Token, "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(count(&s.emu, routes::CREATE_CLIENT), 0);
}

#[tokio::test]
async fn token_endpoint_5xx_is_retried() {
    let s = setup().await;
    s.emu.inject_fault(status_fault(routes::TOKEN, 502, None, 2));
    s.client.token_info().await.unwrap();
    assert_eq!(count(&s.emu, routes::TOKEN), 3);
}

#[tokio::test]
async fn a_401_from_the_api_gets_a_new_token_once() {
    let s = setup().await;
    s.client.token_info().await.unwrap();
    // GIVEN the cached token is refused once
    s.emu.inject_fault(status_fault(routes::TOKENS_ME, 401, None, 1));
    // THEN the call succeeds with a new token
    s.client.token_info().await.unwrap();
    assert_eq!(count(&s.emu, routes::TOKEN), 2);
    assert_eq!(count(&s.emu, routes::TOKENS_ME), 3);

    // GIVEN every token is refused
    s.emu.inject_fault(status_fault(routes::TOKENS_ME, 401, None, 10));
    // THEN it gives up after one new token
    let err = s.client.token_info().await.unwrap_err();
    assert!(matches!(err, GenesysError::Http { status: 401, .. }), "{err:?}");
    assert_eq!(count(&s.emu, routes::TOKEN), 3);
}

#[tokio::test]
async fn an_expired_token_is_replaced() {
    let s = setup_with(
        fast_settings(),
        SeedClient {
            access_token_validity_seconds: 300,
            ..SeedClient::admin("short-lived")
        },
    )
    .await;
    s.client.token_info().await.unwrap();
    // WHEN the server's clock passes the token's expiry
    s.emu.advance_clock(Duration::from_secs(600));
    // THEN the refused token is replaced transparently
    s.client.token_info().await.unwrap();
    assert_eq!(count(&s.emu, routes::TOKEN), 2);
}

#[tokio::test]
async fn request_token_is_one_plain_attempt() {
    let s = setup().await;
    s.emu.inject_fault(status_fault(routes::TOKEN, 503, None, 1));
    let base = Url::parse(&s.emu.base_url()).unwrap();
    let admin = s.emu.clients().into_iter().next().unwrap();
    let creds = ClientCredentials::new(ClientId::parse(&admin.id).unwrap(), admin.secret);
    let http = reqwest::Client::new();
    let err = genesys_rotator::genesys::request_token(&http, &base, &creds, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    let (token, lifetime) = genesys_rotator::genesys::request_token(&http, &base, &creds, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(lifetime, Duration::from_secs(86_400));
    assert!(token.is_fresh(Duration::from_secs(60)));
}

/// A scripted server for what the emulator does not do: a paged listing.
mod paging {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn client_json(id: &str) -> String {
        format!(r#"{{"id":"{id}","name":"{id}","authorizedGrantType":"CLIENT-CREDENTIALS"}}"#)
    }

    /// What the scripted listing answers.
    #[derive(Clone, Copy)]
    enum Script {
        /// Two pages, the second on a `nextUri` naming another host.
        TwoPages,
        /// Every page names itself as the next one.
        LoopForever,
        /// Page 1 of 2 announces 3 clients and lists 2; page 2 lists one of page 1's again
        /// (the org shifted between pages): one client is never seen.
        Shifted,
        /// One page whose items include the pre-v250 listing model (no authorizedGrantType)
        /// and an item without an id.
        OldItems,
    }

    async fn serve(listener: TcpListener, script: Script) {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                let body = if target.starts_with("/oauth/token") {
                    r#"{"access_token":"t","token_type":"bearer","expires_in":3600}"#.to_owned()
                } else if matches!(script, Script::LoopForever) {
                    format!(
                        r#"{{"entities":[{}],"nextUri":"/api/v2/oauth/clients?pageNumber=1"}}"#,
                        client_json("x")
                    )
                } else if matches!(script, Script::OldItems) {
                    format!(
                        r#"{{"entities":[{},{{"id":"old","name":"old"}},{{"name":"no id"}}],"pageNumber":1,"pageCount":1,"total":3}}"#,
                        client_json("a")
                    )
                } else if matches!(script, Script::Shifted) && target.ends_with("pageNumber=2") {
                    format!(
                        r#"{{"entities":[{}],"pageNumber":2,"pageCount":2,"total":3}}"#,
                        client_json("b")
                    )
                } else if matches!(script, Script::Shifted) {
                    format!(
                        r#"{{"entities":[{},{}],"pageNumber":1,"pageCount":2,"total":3,
                            "nextUri":"/api/v2/oauth/clients?pageNumber=2"}}"#,
                        client_json("a"),
                        client_json("b")
                    )
                } else if target.ends_with("pageNumber=2") {
                    format!(r#"{{"entities":[{}],"pageNumber":2,"pageCount":2}}"#, client_json("b"))
                } else {
                    format!(
                        r#"{{"entities":[{}],"pageNumber":1,"pageCount":2,
                            "nextUri":"https://elsewhere.example.com/api/v2/oauth/clients?pageNumber=2"}}"#,
                        client_json("a")
                    )
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    }

    async fn client_for(script: Script) -> GenesysClient {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(serve(listener, script));
        GenesysClient::new(
            reqwest::Client::new(),
            Endpoints::single(Url::parse(&base).unwrap()),
            ClientCredentials::new(ClientId::parse("id").unwrap(), "secret"),
            fast_settings(),
        )
    }

    #[tokio::test]
    async fn list_follows_next_uri_on_the_api_host() {
        let client = client_for(Script::TwoPages).await;
        let ids: Vec<_> = client.list_clients().await.unwrap().into_iter().map(|c| c.id).collect();
        assert_eq!(ids, vec!["a", "b"]);
    }

    #[tokio::test]
    async fn list_refuses_a_page_loop() {
        let client = client_for(Script::LoopForever).await;
        let err = client.list_clients().await.unwrap_err();
        assert!(
            matches!(
                err,
                GenesysError::Decode {
                    call: GenesysCall::ListClients,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn listed_items_that_are_no_readable_client_are_kept_aside_and_counted() {
        let client = client_for(Script::OldItems).await;
        let listing = client.list_all_clients().await.unwrap();
        let ids: Vec<_> = listing.clients.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["a"]);
        assert_eq!(listing.undecoded, ["old", "(no id)"]);
        assert_eq!(listing.len(), 3, "every item counts against the limit");
        assert_eq!(client.list_clients().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn list_fails_closed_when_clients_shift_between_pages() {
        let client = client_for(Script::Shifted).await;
        let err = client.list_clients().await.unwrap_err();
        assert_eq!(
            err,
            GenesysError::IncompleteListing {
                listed: 2,
                total: Some(3),
                pages: 2,
                page_count: Some(2)
            }
        );
        assert!(err.is_retryable());
    }
}

/// The pacing promise end to end: against a server counting 60 calls a minute per token, a
/// client paced at 60 a minute makes 64 calls (more than a minute's worth, so the window is
/// really crossed) and never meets a 429, while an unpaced client with its own token is refused
/// as soon as its minute is used up (so the server does count).
#[tokio::test]
async fn a_paced_client_never_meets_the_rate_limit() {
    const LIMIT: u32 = 60;
    let paced = setup_with(
        HttpSettings {
            requests_per_minute: std::num::NonZeroU32::new(LIMIT),
            max_attempts: 1,
            ..fast_settings()
        },
        SeedClient::admin("rotator-admin"),
    )
    .await;
    paced.emu.set_rate_limit(Some(LIMIT));
    let other = paced.emu.seed_client(SeedClient::admin("unpaced-admin"));
    let unpaced = GenesysClient::new(
        reqwest::Client::new(),
        Endpoints::single(Url::parse(&paced.emu.base_url()).unwrap()),
        ClientCredentials::new(ClientId::parse(&other.id).unwrap(), other.secret.clone()),
        HttpSettings {
            requests_per_minute: None,
            max_attempts: 1,
            ..fast_settings()
        },
    );
    let mut refused = None;
    for n in 1..=LIMIT + 1 {
        if let Err(e) = unpaced.get_client(&other.id).await {
            refused = Some((n, e));
            break;
        }
    }
    let (n, e) = refused.expect("the server refuses an unpaced client past its limit");
    assert_eq!(n, LIMIT + 1, "refused at call {n}");
    assert!(matches!(e, GenesysError::RateLimited { .. }), "{e:?}");

    for n in 1..=LIMIT + 4 {
        paced
            .client
            .get_client(&paced.admin_id)
            .await
            .unwrap_or_else(|e| panic!("paced call {n}: {e}"));
    }
    let paced_429s = paced
        .emu
        .calls()
        .iter()
        .filter(|c| c.client_id.as_deref() == Some(paced.admin_id.as_str()) && c.status == Some(429))
        .count();
    assert_eq!(paced_429s, 0, "the paced client met the rate limit");
}
