//! Reconciliation: finds managed OAuth clients that nothing references any more and deletes them
//! once they are older than a horizon, and keeps createSecret from pushing the org over its
//! client limit.
//!
//! This module owns the one rule, used in two places:
//! - at the start of every createSecret, for the secret being rotated, always for real, followed
//!   by the client-limit check (`check_client_limit`), before the POST;
//! - on a schedule, for every secret the function knows of: [`reconcile_all`] (the cleanup
//!   Lambda calls it with its list of secret ARNs).
//!
//! # The rule
//! A client is deleted only if all of these hold:
//! 1. its name is `<namePrefix><token>` for the prefix of a secret taking part (the longest such
//!    prefix wins, so secrets whose prefixes overlap do not claim each other's clients), where
//!    `<token>` has the shape of a version id (32 to 64 letters, digits and `-`); every other
//!    client, and the master itself, is never touched;
//! 2. every version of its secret that carries a staging label (AWSCURRENT, AWSPENDING,
//!    AWSPREVIOUS or any other) was read, and none of them holds its id (a version without a
//!    value references nothing). If any version cannot be read, nothing of that secret is
//!    deleted (fail closed);
//! 3. its `dateCreated` is more than the horizon ago (a client without one is kept). The
//!    horizon must exceed the longest drain (`DRAIN_SECONDS`, or the secret's
//!    `tokenLifetimeSeconds` plus the drain margin, 1 h by default), so a retired client whose
//!    tokens may still be in use is never deleted by reconciliation; a secret for which it does
//!    not is refused as a whole.
//!
//! Deleting is PUT `inactive` (full body) then DELETE, a 404 at either meaning done. Every
//! deletion is logged with the client id and its reason; in dry-run mode the same candidates are
//! logged and reported in [`ReconcileReport::would_delete`], and nothing is changed.
//!
//! Time is an input (`now`): the rotator passes the real clock, tests an advanced one.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::config::{IntegrationSecret, NamePrefix, ReconcileConfig};
use crate::drain::Retirement;
use crate::genesys::{GenesysClient, GenesysError, OAuthClient};
use crate::rotation::{delete_client, RotationError, Rotator};
use crate::store::{SecretDescription, SecretStore, StoreError, Version};

/// Why a client is (or, in dry run, would be) deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Reason {
    /// No staged version of its secret references it, and it is older than the horizon.
    #[serde(rename_all = "camelCase")]
    Orphaned {
        /// Its age at the time of the pass.
        age_seconds: u64,
        /// The horizon it exceeded.
        horizon_seconds: u64,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Orphaned {
                age_seconds,
                horizon_seconds,
            } => write!(
                f,
                "orphaned: no staged version of its secret references it, and it is {age_seconds} s old (horizon {horizon_seconds} s)"
            ),
        }
    }
}

/// A client reconciliation deletes (or would delete).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// The secret whose prefix the client's name carries.
    pub secret_arn: String,
    /// The Genesys OAuth client id.
    pub client_id: String,
    /// Its name.
    pub client_name: String,
    /// Its `dateCreated`.
    #[serde(with = "time::serde::rfc3339")]
    pub date_created: OffsetDateTime,
    /// Why it goes.
    pub reason: Reason,
}

/// A failure of a pass, kept in the report; none of the failing secret's clients was deleted
/// after it (a failed deletion leaves that one client in place).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileFailure {
    /// The secret concerned.
    pub secret_arn: String,
    /// [`ReconcileError::kind`].
    pub kind: &'static str,
    /// The error's message (ids and labels, never secret values).
    pub message: String,
    /// Whether the next pass may succeed where this one failed.
    pub retryable: bool,
}

/// What a pass examined and did. Holds no secrets; serializes as the cleanup Lambda's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    /// Clients listed in the organizations concerned.
    pub examined: usize,
    /// Those whose name is managed by a secret taking part.
    pub managed: usize,
    /// Clients deleted.
    pub deleted: Vec<Candidate>,
    /// Clients a dry run would have deleted.
    pub would_delete: Vec<Candidate>,
    /// Managed clients kept because a staged version references them.
    pub kept_referenced: usize,
    /// Managed, unreferenced clients kept because they are not older than the horizon (or show
    /// no `dateCreated`).
    pub kept_young: usize,
    /// What went wrong, per secret.
    pub errors: Vec<ReconcileFailure>,
}

/// Why reconciling failed, or why createSecret refused to create a client.
#[derive(Debug, Error)]
pub enum ReconcileError {
    /// A staged version could not be read: nothing of the secret is deleted.
    #[error(
        "secret {secret_arn}: version {version_id} could not be read, so none of its clients is deleted: {source}"
    )]
    VersionUnreadable {
        /// The secret.
        secret_arn: String,
        /// The version.
        version_id: String,
        /// The Secrets Manager failure.
        source: StoreError,
    },
    /// A staged version holds a value without a readable `clientId`: nothing of the secret is
    /// deleted.
    #[error("secret {secret_arn}: version {version_id} holds a value without a readable clientId, so none of its clients is deleted")]
    VersionUndecodable {
        /// The secret.
        secret_arn: String,
        /// The version.
        version_id: String,
    },
    /// The horizon does not exceed the secret's longest drain: nothing of the secret is deleted.
    #[error(
        "secret {secret_arn}: the reconcile horizon of {horizon_s} s ({}) must exceed the longest drain of {drain_s} s (tokenLifetimeSeconds plus DRAIN_MARGIN_SECONDS, or DRAIN_SECONDS), so none of its clients is deleted",
        ReconcileConfig::ENV_HORIZON
    )]
    HorizonTooShort {
        /// The secret.
        secret_arn: String,
        /// The horizon.
        horizon_s: u64,
        /// Its longest drain.
        drain_s: u64,
    },
    /// Creating a client would bring the org within the margin of its client limit.
    #[error(
        "refusing to create a client: the organization holds {count} OAuth clients and its client limit is {limit} ({}), with a margin of {margin} ({}); delete unused clients or raise the limit",
        ReconcileConfig::ENV_CLIENT_LIMIT,
        ReconcileConfig::ENV_LIMIT_MARGIN
    )]
    ClientLimit {
        /// Clients in the org (all of them, any state), after reconciliation.
        count: usize,
        /// `CLIENT_LIMIT`.
        limit: usize,
        /// `CLIENT_LIMIT_MARGIN`.
        margin: usize,
    },
    /// Listing the org's clients failed.
    #[error("listing clients: {0}")]
    List(GenesysError),
    /// Deleting a client failed; it stays for the next pass.
    #[error("deleting client {client_id}: {source}")]
    Delete {
        /// The client.
        client_id: String,
        /// The Genesys failure.
        source: GenesysError,
    },
    /// Reading the secret or its master failed before anything was examined.
    #[error("secret {secret_arn}: {source}")]
    Setup {
        /// The secret.
        secret_arn: String,
        /// What failed.
        source: Box<RotationError>,
    },
}

impl ReconcileError {
    /// Whether a later attempt may succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            ReconcileError::VersionUnreadable { source, .. } => source.is_retryable(),
            ReconcileError::List(e) | ReconcileError::Delete { source: e, .. } => e.is_retryable(),
            ReconcileError::Setup { source, .. } => source.is_retryable(),
            // Room is made by deleting clients or raising the limit, not by retrying at once.
            ReconcileError::ClientLimit { .. }
            | ReconcileError::VersionUndecodable { .. }
            | ReconcileError::HorizonTooShort { .. } => false,
        }
    }

    /// A short stable name of the variant, for `errorType` and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            ReconcileError::VersionUnreadable { .. } => "VersionUnreadable",
            ReconcileError::VersionUndecodable { .. } => "VersionUndecodable",
            ReconcileError::HorizonTooShort { .. } => "HorizonTooShort",
            ReconcileError::ClientLimit { .. } => "ClientLimit",
            ReconcileError::List(_) => "ListClients",
            ReconcileError::Delete { .. } => "DeleteClient",
            ReconcileError::Setup { .. } => "Setup",
        }
    }

    fn failure(&self, secret_arn: &str) -> ReconcileFailure {
        ReconcileFailure {
            secret_arn: secret_arn.to_owned(),
            kind: self.kind(),
            message: self.to_string(),
            retryable: self.is_retryable(),
        }
    }
}

/// One secret taking part in a pass.
struct Scope {
    arn: String,
    prefix: NamePrefix,
    /// What its staged versions reference; `None` if that is not known (its clients are kept).
    referenced: Option<HashSet<String>>,
}

/// Checks that the horizon exceeds the longest drain of `secret`.
fn check_horizon(config: &ReconcileConfig, arn: &str, secret: &IntegrationSecret) -> Result<(), ReconcileError> {
    let drain = config.longest_drain(secret.settings.token_lifetime_seconds);
    if config.horizon <= drain {
        return Err(ReconcileError::HorizonTooShort {
            secret_arn: arn.to_owned(),
            horizon_s: config.horizon.as_secs(),
            drain_s: drain.as_secs(),
        });
    }
    Ok(())
}

/// One labelled version of a secret and the client it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionRef {
    /// The version id.
    pub version_id: String,
    /// Its staging labels (never empty).
    pub stages: Vec<String>,
    /// The client id its value holds; `None` for a version with no value.
    pub client_id: Option<String>,
}

/// Every version of `desc` that carries a staging label, with the client it holds. `known` holds
/// versions the caller has already read: (version id, client id or `None` for no value).
pub(crate) async fn version_refs<S: SecretStore>(
    store: &S,
    desc: &SecretDescription,
    known: &[(&str, Option<&str>)],
) -> Result<Vec<VersionRef>, ReconcileError> {
    let mut versions: Vec<(&String, &Vec<String>)> = desc.versions.iter().filter(|(_, s)| !s.is_empty()).collect();
    versions.sort();
    let mut refs = Vec::with_capacity(versions.len());
    for (id, stages) in versions {
        let client_id = match known.iter().find(|(k, _)| *k == id.as_str()) {
            Some((_, client)) => client.map(str::to_owned),
            None => read_client_id(store, desc, id, &stages[0]).await?,
        };
        refs.push(VersionRef {
            version_id: id.clone(),
            stages: stages.clone(),
            client_id,
        });
    }
    Ok(refs)
}

async fn read_client_id<S: SecretStore>(
    store: &S,
    desc: &SecretDescription,
    id: &str,
    stage: &str,
) -> Result<Option<String>, ReconcileError> {
    let value = store
        .get_value(&desc.arn, Version::IdAndStage(id, stage))
        .await
        .map_err(|source| ReconcileError::VersionUnreadable {
            secret_arn: desc.arn.clone(),
            version_id: id.to_owned(),
            source,
        })?;
    let Some(value) = value else { return Ok(None) };
    // Read leniently: an old version that no longer passes validation still references its
    // client. The value is never quoted.
    serde_json::from_str::<serde_json::Value>(value.value.expose_secret())
        .ok()
        .and_then(|v| v.get("clientId").and_then(|c| c.as_str()).map(str::to_owned))
        .map(Some)
        .ok_or_else(|| ReconcileError::VersionUndecodable {
            secret_arn: desc.arn.clone(),
            version_id: id.to_owned(),
        })
}

/// The client ids held by every version of `desc` that carries a staging label.
async fn referenced_clients<S: SecretStore>(
    store: &S,
    desc: &SecretDescription,
    known: &[(&str, Option<&str>)],
) -> Result<HashSet<String>, ReconcileError> {
    Ok(version_refs(store, desc, known)
        .await?
        .into_iter()
        .filter_map(|v| v.client_id)
        .collect())
}

/// Whether the part of a client name after the prefix has the shape of a version id
/// (Secrets Manager's ClientRequestToken: 32 to 64 characters).
fn token_shaped(rest: &str) -> bool {
    (32..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Whether `prefix` manages a client called `name`: the prefix, then a version id.
pub(crate) fn manages(prefix: &NamePrefix, name: &str) -> bool {
    prefix.manages(name) && token_shaped(&name[prefix.as_str().len()..])
}

/// Decides, for each listed client of one org, whether it goes; counts what stays in `report`.
fn plan(
    clients: &[OAuthClient],
    scopes: &[Scope],
    master_id: &str,
    horizon: Duration,
    now: OffsetDateTime,
    report: &mut ReconcileReport,
) -> Vec<Candidate> {
    let referenced_anywhere = |id: &str| {
        scopes
            .iter()
            .any(|s| s.referenced.as_ref().is_some_and(|r| r.contains(id)))
    };
    let mut candidates = Vec::new();
    report.examined += clients.len();
    for client in clients {
        if client.id == master_id {
            continue;
        }
        let owner = scopes
            .iter()
            .filter(|s| manages(&s.prefix, &client.name))
            .max_by_key(|s| s.prefix.as_str().len());
        let Some(owner) = owner else { continue };
        report.managed += 1;
        if referenced_anywhere(&client.id) {
            report.kept_referenced += 1;
            continue;
        }
        if owner.referenced.is_none() {
            // Its secret could not be read: kept, and the error is in the report.
            continue;
        }
        let age = client.date_created.map(|created| now - created);
        match (client.date_created, age) {
            (Some(created), Some(age)) if age > horizon => candidates.push(Candidate {
                secret_arn: owner.arn.clone(),
                client_id: client.id.clone(),
                client_name: client.name.clone(),
                date_created: created,
                reason: Reason::Orphaned {
                    age_seconds: age.whole_seconds().max(0) as u64,
                    horizon_seconds: horizon.as_secs(),
                },
            }),
            _ => report.kept_young += 1,
        }
    }
    candidates
}

/// Deletes the candidates (or only logs them in dry run). Returns the failed deletions.
async fn execute(
    master: &GenesysClient,
    clients: &[OAuthClient],
    candidates: Vec<Candidate>,
    dry_run: bool,
    report: &mut ReconcileReport,
) -> Vec<(String, ReconcileError)> {
    let mut failures = Vec::new();
    for candidate in candidates {
        if dry_run {
            info!(
                client_id = %candidate.client_id,
                client_name = %candidate.client_name,
                secret_arn = %candidate.secret_arn,
                reason = %candidate.reason,
                "dry run: would delete client"
            );
            report.would_delete.push(candidate);
            continue;
        }
        info!(
            client_id = %candidate.client_id,
            client_name = %candidate.client_name,
            secret_arn = %candidate.secret_arn,
            reason = %candidate.reason,
            "deleting client"
        );
        let client = clients
            .iter()
            .find(|c| c.id == candidate.client_id)
            .expect("candidates come from the listing");
        match delete_client(master, client).await {
            Ok(()) => report.deleted.push(candidate),
            Err(source) => {
                warn!(client_id = %candidate.client_id, error = %source, "could not delete client; the next pass retries");
                failures.push((
                    candidate.secret_arn.clone(),
                    ReconcileError::Delete {
                        client_id: candidate.client_id,
                        source,
                    },
                ));
            }
        }
    }
    failures
}

/// Reconciles the secret being rotated, at the start of createSecret: always for real.
///
/// `clients` is the org's listing the caller already made; `known` the versions it already
/// read. The first failure is returned (nothing of the secret is deleted after it).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn before_create<S: SecretStore>(
    store: &S,
    master: &GenesysClient,
    desc: &SecretDescription,
    current: &IntegrationSecret,
    known: &[(&str, Option<&str>)],
    clients: &[OAuthClient],
    config: &ReconcileConfig,
    now: OffsetDateTime,
) -> Result<ReconcileReport, ReconcileError> {
    check_horizon(config, &desc.arn, current)?;
    let referenced = referenced_clients(store, desc, known).await?;
    let scopes = [Scope {
        arn: desc.arn.clone(),
        prefix: current.settings.name_prefix.clone(),
        referenced: Some(referenced),
    }];
    let mut report = ReconcileReport::default();
    let candidates = plan(clients, &scopes, master.client_id(), config.horizon, now, &mut report);
    crate::metrics::orphans_found(candidates.len());
    let failures = execute(master, clients, candidates, false, &mut report).await;
    crate::metrics::clients_deleted(crate::metrics::DeleteReason::Orphaned, report.deleted.len());
    match failures.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(report),
    }
}

/// Refuses a create that would bring the org (holding `count` clients) within the margin of
/// its client limit.
pub(crate) fn check_client_limit(count: usize, config: &ReconcileConfig) -> Result<(), ReconcileError> {
    crate::metrics::client_limit_headroom(config.client_limit, count);
    if count + config.limit_margin >= config.client_limit {
        warn!(
            count,
            limit = config.client_limit,
            margin = config.limit_margin,
            "organization is at its client limit; refusing to create a client"
        );
        return Err(ReconcileError::ClientLimit {
            count,
            limit: config.client_limit,
            margin: config.limit_margin,
        });
    }
    Ok(())
}

/// The scheduled pass: reconciles every secret in `secret_arns` with the rotator's
/// [`ReconcileConfig`] (its `dry_run` included). See [`reconcile_all_with`].
pub async fn reconcile_all<S: SecretStore, R: Retirement>(
    rotator: &Rotator<S, R>,
    secret_arns: &[String],
    now: OffsetDateTime,
) -> ReconcileReport {
    reconcile_all_with(rotator, rotator.reconcile_config(), secret_arns, now).await
}

/// The scheduled pass with explicit settings.
///
/// For each secret: DescribeSecret, read AWSCURRENT (prefix, master, token lifetime), check the
/// horizon, read every staged version. Secrets sharing a master are reconciled together over one
/// listing of their org, so that overlapping prefixes resolve to the longest and a client
/// referenced by any of them is kept. The rotator's master cache and allow-list apply. Never
/// fails as a whole: each secret's failure goes into [`ReconcileReport::errors`] and only that
/// secret's clients are spared.
pub async fn reconcile_all_with<S: SecretStore, R: Retirement>(
    rotator: &Rotator<S, R>,
    config: &ReconcileConfig,
    secret_arns: &[String],
    now: OffsetDateTime,
) -> ReconcileReport {
    let mut report = ReconcileReport::default();
    let mut groups: Vec<(Arc<GenesysClient>, Vec<Scope>)> = Vec::new();
    let mut seen = HashSet::new();
    for arn in secret_arns {
        let setup = |source: RotationError| ReconcileError::Setup {
            secret_arn: arn.clone(),
            source: Box::new(source),
        };
        let prepared = async {
            let desc = rotator.store().describe(arn).await.map_err(|e| setup(e.into()))?;
            let current = rotator.read_current(&desc).await.map_err(setup)?;
            let master = rotator.master(&current).await.map_err(setup)?;
            Ok::<_, ReconcileError>((desc, current, master))
        }
        .await;
        let (desc, current, master) = match prepared {
            Ok(p) => p,
            Err(e) => {
                warn!(secret_arn = %arn, error = %e, "reconciliation skipped a secret");
                report.errors.push(e.failure(arn));
                continue;
            }
        };
        if !seen.insert(desc.arn.clone()) {
            continue;
        }
        let referenced = match check_horizon(config, &desc.arn, &current) {
            Ok(()) => referenced_clients(rotator.store(), &desc, &[]).await,
            Err(e) => Err(e),
        };
        let referenced = match referenced {
            Ok(r) => Some(r),
            Err(e) => {
                warn!(secret_arn = %desc.arn, error = %e, "none of the secret's clients will be deleted");
                report.errors.push(e.failure(&desc.arn));
                None
            }
        };
        let scope = Scope {
            arn: desc.arn.clone(),
            prefix: current.settings.name_prefix.clone(),
            referenced,
        };
        match groups.iter_mut().find(|(m, _)| Arc::ptr_eq(m, &master)) {
            Some((_, scopes)) => scopes.push(scope),
            None => groups.push((master, vec![scope])),
        }
    }
    for (master, scopes) in groups {
        let clients = match master.list_clients().await {
            Ok(c) => c,
            Err(e) => {
                let e = ReconcileError::List(e);
                warn!(master_client_id = %master.client_id(), error = %e, "reconciliation could not list clients");
                report.errors.extend(scopes.iter().map(|s| e.failure(&s.arn)));
                continue;
            }
        };
        let candidates = plan(&clients, &scopes, master.client_id(), config.horizon, now, &mut report);
        crate::metrics::orphans_found(candidates.len());
        let deleted_before = report.deleted.len();
        let failures = execute(&master, &clients, candidates, config.dry_run, &mut report).await;
        let deleted = report.deleted.len() - deleted_before;
        crate::metrics::clients_deleted(crate::metrics::DeleteReason::Orphaned, deleted);
        crate::metrics::client_limit_headroom(config.client_limit, clients.len() - deleted);
        report.errors.extend(failures.iter().map(|(arn, e)| e.failure(arn)));
    }
    crate::metrics::cleanup_failures(crate::metrics::CleanupFailure::Reconcile, report.errors.len());
    info!(
        examined = report.examined,
        managed = report.managed,
        deleted = report.deleted.len(),
        would_delete = report.would_delete.len(),
        kept_referenced = report.kept_referenced,
        kept_young = report.kept_young,
        errors = report.errors.len(),
        dry_run = config.dry_run,
        "reconciliation done"
    );
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesys::GrantType;

    const H: i64 = 3600;

    fn client(id: &str, name: &str, age_h: Option<i64>, now: OffsetDateTime) -> OAuthClient {
        let json = serde_json::json!({
            "id": id,
            "name": name,
            "authorizedGrantType": "CLIENT-CREDENTIALS",
        });
        let mut c: OAuthClient = serde_json::from_value(json).unwrap();
        c.date_created = age_h.map(|h| now - time::Duration::seconds(h * H));
        assert_eq!(c.authorized_grant_type, GrantType::ClientCredentials);
        c
    }

    fn scope(arn: &str, prefix: &str, referenced: Option<&[&str]>) -> Scope {
        Scope {
            arn: arn.into(),
            prefix: NamePrefix::parse(prefix).unwrap(),
            referenced: referenced.map(|r| r.iter().map(|s| s.to_string()).collect()),
        }
    }

    const TOKEN: &str = "0b0e7c9e-5c1f-4d6e-9f7a-2b8c1d3e4f5a";

    #[test]
    fn only_old_unreferenced_token_named_clients_of_a_readable_secret_go() {
        // GIVEN clients of every kind in one org
        let now = OffsetDateTime::now_utc();
        let clients = vec![
            client("master", &format!("crm-{TOKEN}"), Some(100), now),
            client("old-orphan", &format!("crm-{TOKEN}"), Some(49), now),
            client("young-orphan", &format!("crm-{TOKEN}"), Some(47), now),
            client("undated", &format!("crm-{TOKEN}"), None, now),
            client("referenced", &format!("crm-{TOKEN}"), Some(100), now),
            client("foreign", "crm-legacy-integration", Some(100), now),
            client("other-prefix", &format!("erp-{TOKEN}"), Some(100), now),
        ];
        let scopes = [scope("a", "crm-", Some(&["referenced"]))];
        let mut report = ReconcileReport::default();
        // WHEN planned with a 48 h horizon
        let c = plan(
            &clients,
            &scopes,
            "master",
            Duration::from_secs(48 * 3600),
            now,
            &mut report,
        );
        // THEN only the old orphan goes
        assert_eq!(
            c.iter().map(|c| c.client_id.as_str()).collect::<Vec<_>>(),
            ["old-orphan"]
        );
        assert_eq!(
            (
                report.examined,
                report.managed,
                report.kept_referenced,
                report.kept_young
            ),
            (7, 4, 1, 2)
        );
        assert!(c[0].reason.to_string().contains("horizon 172800 s"), "{}", c[0].reason);
    }

    #[test]
    fn an_unreadable_secret_keeps_its_clients_and_the_longest_prefix_owns_a_name() {
        let now = OffsetDateTime::now_utc();
        let clients = vec![
            client("b1", &format!("crm-rot-{TOKEN}"), Some(100), now),
            client("a1", &format!("crm-{TOKEN}"), Some(100), now),
        ];
        // "crm-" would match b1 too, but "crm-rot-" is longer and its secret is unreadable.
        let scopes = [scope("a", "crm-", Some(&[])), scope("b", "crm-rot-", None)];
        let mut report = ReconcileReport::default();
        let c = plan(
            &clients,
            &scopes,
            "master",
            Duration::from_secs(48 * 3600),
            now,
            &mut report,
        );
        assert_eq!(c.iter().map(|c| c.client_id.as_str()).collect::<Vec<_>>(), ["a1"]);
    }

    #[test]
    fn the_limit_is_refused_within_the_margin_naming_the_numbers() {
        let config = ReconcileConfig {
            client_limit: 500,
            limit_margin: 10,
            ..ReconcileConfig::default()
        };
        assert!(check_client_limit(489, &config).is_ok());
        let err = check_client_limit(490, &config).unwrap_err();
        assert!(!err.is_retryable());
        let text = err.to_string();
        for s in ["490", "500", "10", "CLIENT_LIMIT"] {
            assert!(text.contains(s), "{text}");
        }
    }

    #[test]
    fn the_horizon_must_exceed_the_longest_drain() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let c = ReconcileConfig::from_lookup(env(&[])).unwrap();
        assert_eq!(c, ReconcileConfig::default());
        assert_eq!(c.longest_drain(86_400), Duration::from_secs(25 * 3600));
        // A 48 h token lifetime needs more than the default 48 h horizon.
        assert_eq!(c.longest_drain(172_800), Duration::from_secs(49 * 3600));
        assert!(ReconcileConfig::from_lookup(env(&[("DRAIN_SECONDS", "172800")])).is_err());
        let c = ReconcileConfig::from_lookup(env(&[("DRAIN_SECONDS", "7200"), ("RECONCILE_DRY_RUN", "true")])).unwrap();
        assert!(c.dry_run);
        assert_eq!(c.longest_drain(300), Duration::from_secs(7200));
        assert!(ReconcileConfig::from_lookup(env(&[("CLIENT_LIMIT", "10"), ("CLIENT_LIMIT_MARGIN", "10")])).is_err());
        assert!(ReconcileConfig::from_lookup(env(&[("RECONCILE_DRY_RUN", "yes")])).is_err());
        assert!(ReconcileConfig::from_lookup(env(&[("RECONCILE_HORIZON_SECONDS", "0")])).is_err());
    }
}
