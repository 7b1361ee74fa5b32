//! Conformance: a live check, against a real org, of what the rotator assumes of Genesys Cloud
//! (`genesys-rotator conformance`). It creates one throwaway client carrying an ownership
//! marker, exercises it (token, deactivation, listing, delete), and reports each assumption as
//! held (✔), broken (✘, with what that means for the rotator) or a note (ℹ, a behaviour the
//! rotator handles either way). It deletes its client whatever happens, touches nothing else,
//! and never reports a secret or a token.

use std::time::{Duration, Instant};

use serde::Serialize;
use time::OffsetDateTime;

use secrecy::ExposeSecret;

use crate::classify::Classify;
use crate::domain::{ClientId, CredentialId};
use crate::genesys::{ClientState, GenesysClient, GenesysError, OAuthClient, OAuthClientRequest, RoleDivision};
use crate::secret::ClientCredentials;

/// What to run with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The throwaway client's roles (those the rotator's clients get, so propagation is timed
    /// as it will be); may be empty.
    pub role_divisions: Vec<RoleDivision>,
    /// A role-division the master does not hold, to see whether the role rule binds it.
    pub probe_role: Option<RoleDivision>,
    /// An integration credential to read, to see whether GET shows its `clientId`.
    pub credential: Option<CredentialId>,
    /// How long to wait for the new client's first token.
    pub propagation_timeout: Duration,
}

/// How an assumption fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    /// It holds.
    Holds,
    /// It does not: the meaning says what that does to the rotator.
    Broken,
    /// A behaviour the rotator handles either way, reported for the operator.
    Note,
}

impl Verdict {
    /// ✔, ✘ or ℹ.
    pub fn mark(self) -> &'static str {
        match self {
            Verdict::Holds => "✔",
            Verdict::Broken => "✘",
            Verdict::Note => "ℹ",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// A stable key (`create`, `token`, ...).
    pub key: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// What was seen.
    pub detail: String,
    /// For a broken assumption: what it means for the rotator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meaning: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The throwaway client's id, if it was created.
    pub client_id: Option<String>,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Whether every client this run created is gone (or soft-deleted) at the end.
    pub cleaned_up: bool,
}

impl Report {
    fn push(&mut self, key: &'static str, verdict: Verdict, detail: impl Into<String>, meaning: Option<&str>) {
        self.checks.push(Check {
            key,
            verdict,
            detail: detail.into(),
            meaning: meaning.map(str::to_owned),
        });
    }

    /// Whether any assumption is broken.
    pub fn any_broken(&self) -> bool {
        self.checks.iter().any(|c| c.verdict == Verdict::Broken)
    }
}

const NAME_PREFIX: &str = "genesys-rotator-conformance-";

/// The marker the throwaway client carries: an ownership marker naming this run.
pub fn marker(run: &str) -> String {
    crate::guard::ownership::marker(&format!("conformance run {run}"))
}

/// Runs every check with `master` (the master client, from its secret) and deletes what it made.
pub async fn run(master: &GenesysClient, options: &Options, run_id: &str) -> Report {
    let mut report = Report::default();
    let name = format!("{NAME_PREFIX}{run_id}");
    let description = marker(run_id);
    let mut request = OAuthClientRequest::client_credentials(&name, options.role_divisions.clone());
    request.description = Some(description.clone());
    request.access_token_validity_seconds = Some(crate::domain::TOKEN_LIFETIME_RANGE.start().to_owned());
    let created = match master.create_client(&request).await {
        Ok(c) => c,
        Err(e) => {
            report.push(
                "create",
                Verdict::Broken,
                format!("the master could not create a client: {e}"),
                Some("no rotation can make its new client; fix the master's permissions (oauth:client:add) or roles"),
            );
            // A create whose answer was lost may still have made the client: find it by name.
            report.cleaned_up = delete_named(master, &name, &mut report).await;
            return report;
        }
    };
    report.client_id = Some(created.id.clone());
    let mut made = vec![created.id.clone()];
    checks(master, options, &created, &description, &mut report, &mut made).await;
    let mut cleaned = true;
    for id in &made {
        cleaned &= delete_fully(master, id).await;
    }
    report.cleaned_up = cleaned;
    report
}

/// The checks on the created client; `made` collects every client created.
async fn checks(
    master: &GenesysClient,
    options: &Options,
    created: &OAuthClient,
    description: &str,
    report: &mut Report,
    made: &mut Vec<String>,
) {
    let id = created.id.clone();
    let Some(secret) = created.secret.clone() else {
        report.push(
            "create",
            Verdict::Broken,
            "the create answer carries no secret",
            Some("createSecret cannot store the new client's secret: every rotation fails"),
        );
        return;
    };
    report.push(
        "create",
        Verdict::Holds,
        format!("client {id} created, its secret in the answer"),
        None,
    );

    // The fields the ownership rule and the drain read.
    let read = match master.get_client(&id).await {
        Ok(Some(c)) => c,
        other => {
            report.push(
                "fields",
                Verdict::Broken,
                format!("GET of the new client answered {}", describe(&other)),
                Some("the rotator reads every client it judges: nothing can be judged"),
            );
            return;
        }
    };
    let marker_kept = read.description.as_deref() == Some(description);
    let dated = read.date_modified.is_some() && read.date_created.is_some();
    match (marker_kept, dated) {
        (true, true) => report.push(
            "fields",
            Verdict::Holds,
            "GET shows description as written, dateCreated and dateModified",
            None,
        ),
        (false, _) => report.push(
            "fields",
            Verdict::Broken,
            "GET does not show the description as written",
            Some("the ownership marker is lost: no client the rotator makes is provably its own, so reconciliation and the cleanup never delete one (orphans), and only proof of possession retires"),
        ),
        (true, false) => report.push(
            "fields",
            Verdict::Broken,
            "GET shows no dateModified (or dateCreated)",
            Some("a retired client's drain cannot be dated: the cleanup and reconciliation keep retired clients"),
        ),
    }

    // Propagation: the first token and tokens/me.
    let credentials = match ClientId::parse(&id) {
        Ok(client_id) => ClientCredentials::new(client_id, secret.expose_secret()),
        Err(why) => {
            report.push(
                "token",
                Verdict::Broken,
                format!("the client id is unusable: {why}"),
                None,
            );
            return;
        }
    };
    let own = master.sibling(credentials);
    let started = Instant::now();
    let token = loop {
        match own.token_info().await {
            Ok(info) if info.o_auth_client.as_ref().map(|c| c.id.as_str()) == Some(id.as_str()) => {
                match own.token().await {
                    Ok(token) => break Some(token),
                    Err(_) => break None,
                }
            }
            Ok(_) => {
                report.push(
                    "token",
                    Verdict::Broken,
                    "tokens/me names another client",
                    Some("testSecret can never prove the new client"),
                );
                return;
            }
            Err(_) if started.elapsed() < options.propagation_timeout => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            Err(e) => {
                report.push(
                    "token",
                    Verdict::Broken,
                    format!(
                        "no working token within {} s: {e}",
                        options.propagation_timeout.as_secs()
                    ),
                    Some("testSecret fails until the client works: raise PROPAGATION_TIMEOUT_SECONDS"),
                );
                return;
            }
        }
    };
    let Some(token) = token else {
        report.push("token", Verdict::Broken, "the token could not be kept", None);
        return;
    };
    report.push(
        "token",
        Verdict::Holds,
        format!("a token worked after {} ms", started.elapsed().as_millis()),
        None,
    );

    // Deactivation: dateModified moves, the token issued before still works, no new one.
    let before = read.date_modified;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    if let Err(e) = master.deactivate(&read).await {
        report.push(
            "deactivate",
            Verdict::Broken,
            format!("PUT state inactive failed: {e}"),
            Some("finishSecret cannot retire the old client"),
        );
        return;
    }
    let held = own.sibling_with_token(&id, token);
    match held.token_info().await {
        Ok(_) => report.push(
            "drain",
            Verdict::Holds,
            "a token issued before the deactivation still works",
            None,
        ),
        Err(e) => report.push(
            "drain",
            Verdict::Broken,
            format!("the token issued before the deactivation is refused: {e}"),
            Some("tokens die at deactivation: consumers that have not re-read the secret fail at once (they recover on 401 by re-reading it); the drain protects nobody"),
        ),
    }
    let fresh = master.sibling(ClientCredentials::new(
        ClientId::parse(&id).expect("parsed above"),
        secret.expose_secret(),
    ));
    match fresh.fresh_token().await {
        Err(GenesysError::InvalidClient { .. }) => report.push(
            "no-new-token",
            Verdict::Holds,
            "an inactive client gets no new token",
            None,
        ),
        Ok(_) => report.push(
            "no-new-token",
            Verdict::Broken,
            "an inactive client still gets new tokens",
            Some("a retired credential keeps working until its client is deleted, a drain later"),
        ),
        Err(e) => report.push(
            "no-new-token",
            Verdict::Note,
            format!("the token request failed otherwise: {e}"),
            None,
        ),
    }
    match master.get_client(&id).await {
        Ok(Some(after)) => {
            let moved = matches!((before, after.date_modified), (Some(b), Some(a)) if a > b);
            if moved {
                report.push("date-modified", Verdict::Holds, "dateModified moved at deactivation", None);
            } else {
                report.push(
                    "date-modified",
                    Verdict::Broken,
                    "dateModified did not move at deactivation",
                    Some("drain age counts from dateModified: a retired client could be deleted before its tokens drained; set DRAIN_SECONDS generously and report this"),
                );
            }
            if after.effective_state() != ClientState::Inactive {
                report.push(
                    "deactivate",
                    Verdict::Broken,
                    "the client is not inactive after the PUT",
                    Some("retirement does not take"),
                );
            }
        }
        Ok(None) => report.push(
            "inactive-kept",
            Verdict::Broken,
            "Genesys removed the client as soon as it was inactive",
            Some("Genesys deletes inactive clients on its own: a drain ends early (tokens may still work), and a hand-made client only deactivated may vanish"),
        ),
        Err(e) => report.push("date-modified", Verdict::Broken, format!("GET failed: {e}"), None),
    }

    // The listing: complete, paged as announced, every item readable.
    match master.list_all_clients().await {
        Ok(listing) => {
            let listed = listing.clients.iter().any(|c| c.id == id);
            let detail = format!(
                "{} items in {} page(s), pageSize {}, total {}",
                listing.len(),
                listing.pages,
                listing.page_size.map_or("not stated".into(), |n| n.to_string()),
                listing.total.map_or("not stated".into(), |n| n.to_string())
            );
            if !listing.undecoded.is_empty() {
                report.push(
                    "listing",
                    Verdict::Broken,
                    format!("{detail}; {} item(s) are not readable as clients", listing.undecoded.len()),
                    Some("items without every OAuthClient field (the pre-v250 listing model) are foreign: they are counted, never reconciled, so orphans among them stay"),
                );
            } else if !listed {
                report.push(
                    "listing",
                    Verdict::Broken,
                    format!("{detail}; the new client is not listed"),
                    Some("reconciliation and the client limit read the listing: it misses clients"),
                );
            } else if listing.total.is_none() {
                report.push(
                    "listing",
                    Verdict::Note,
                    format!("{detail}; no total: completeness is judged by nextUri alone"),
                    None,
                );
            } else {
                report.push("listing", Verdict::Holds, detail, None);
            }
        }
        Err(e) => report.push(
            "listing",
            Verdict::Broken,
            format!("the listing failed: {e}"),
            Some("reconciliation, the client limit check and createSecret need it"),
        ),
    }

    // The role rule: is a role-division the master lacks refused?
    if let Some(probe) = &options.probe_role {
        let mut probe_request =
            OAuthClientRequest::client_credentials(format!("{NAME_PREFIX}probe-{id}"), vec![probe.clone()]);
        probe_request.description = read.description.clone();
        let pair = format!("{}/{}", probe.role_id, probe.division_id);
        match master.create_client(&probe_request).await {
            Ok(extra) => {
                made.push(extra.id);
                report.push(
                    "role-rule",
                    Verdict::Note,
                    format!("a client with {pair}, which the master lacks, was accepted: the role rule does not bind this master"),
                    None,
                );
            }
            Err(e) if !e.is_retryable() => report.push(
                "role-rule",
                Verdict::Note,
                format!("a client with {pair}, which the master lacks, was refused ({e}): the role rule binds; the master must hold every role-division it assigns (genesys-rotator check names the missing ones)"),
                None,
            ),
            Err(e) => report.push("role-rule", Verdict::Broken, format!("the probe failed: {e}"), None),
        }
    } else {
        report.push(
            "role-rule",
            Verdict::Note,
            "not probed (give --probe-role ROLE[:DIVISION] the master lacks)",
            None,
        );
    }

    if let Some(credential) = &options.credential {
        match master.get_credential(credential).await {
            Ok(Some(c)) if c.client_id().is_some() => report.push(
                "credential",
                Verdict::Holds,
                format!("GET of credential {} shows its clientId", credential.as_str()),
                None,
            ),
            Ok(Some(_)) => report.push(
                "credential",
                Verdict::Broken,
                format!("GET of credential {} does not show its clientId", credential.as_str()),
                Some("integrationCredentials cannot be kept in step: nothing proves which client a credential holds, so every listed one is refused (IntegrationCredentialNotOwned); remove them from the secrets and update those credentials by hand after each rotation"),
            ),
            Ok(None) => report.push("credential", Verdict::Broken, format!("credential {} not found", credential.as_str()), None),
            Err(e) => report.push("credential", Verdict::Broken, format!("GET failed: {e}"), None),
        }
    }

    // What DELETE does: gone, or listed with dateToDelete; and a second DELETE.
    let first = master.delete_client(&id).await;
    let after = master.get_client(&id).await;
    let again = master.delete_client(&id).await;
    let second = match &again {
        Ok(d) => format!("{d:?}"),
        Err(e) => format!("error: {e}"),
    };
    match (&first, &after) {
        (Ok(_), Ok(None)) => report.push(
            "delete",
            Verdict::Holds,
            format!("DELETE removed the client (a second DELETE: {second})"),
            None,
        ),
        (Ok(_), Ok(Some(c))) if c.is_soft_deleted() => report.push(
            "delete",
            Verdict::Note,
            format!(
                "DELETE soft-deleted the client: still listed, inactive, dateToDelete {} (a second DELETE: {second})",
                c.date_to_delete.map(rfc3339).unwrap_or_default()
            ),
            None,
        ),
        (Ok(_), Ok(Some(_))) => report.push(
            "delete",
            Verdict::Broken,
            format!("after DELETE the client is still listed, without dateToDelete (a second DELETE: {second})"),
            Some("deleted clients are not recognisable: they count against the limit and reconciliation deletes them again"),
        ),
        (Err(e), _) => report.push(
            "delete",
            Verdict::Broken,
            format!("DELETE failed: {e}"),
            Some("the cleanup cannot delete drained clients (oauth:client:delete?)"),
        ),
        (Ok(_), Err(e)) => report.push("delete", Verdict::Broken, format!("GET after DELETE failed: {e}"), None),
    }
    report.push(
        "rate-limit",
        Verdict::Note,
        "no 429 met in this run (the rotator retries 429 after Retry-After and paces itself to GENESYS_REQUESTS_PER_MINUTE)",
        None,
    );
}

fn describe(r: &Result<Option<OAuthClient>, GenesysError>) -> String {
    match r {
        Ok(Some(_)) => "the client".into(),
        Ok(None) => "404".into(),
        Err(e) => e.to_string(),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Deactivates and deletes client `id` unless it is gone or soft-deleted already; whether it is
/// gone (or soft-deleted) at the end.
async fn delete_fully(master: &GenesysClient, id: &str) -> bool {
    for _ in 0..3 {
        match master.get_client(id).await {
            Ok(None) => return true,
            Ok(Some(c)) if c.is_soft_deleted() => return true,
            Ok(Some(c)) => {
                let _ = master.retire_and_delete(&c).await;
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    matches!(master.get_client(id).await, Ok(None))
}

/// Deletes every client named `name` (a create whose answer was lost); whether none is left.
async fn delete_named(master: &GenesysClient, name: &str, report: &mut Report) -> bool {
    let Ok(clients) = master.list_clients().await else {
        report.push(
            "cleanup",
            Verdict::Broken,
            format!("could not list clients to find a client named {name} a lost answer may have made: look for it"),
            None,
        );
        return false;
    };
    let mut all = true;
    for c in clients.iter().filter(|c| c.name == name) {
        all &= delete_fully(master, &c.id).await;
    }
    all
}
