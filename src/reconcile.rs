//! Reconciliation's rules: which owned clients no staged version holds may go, and when, and the
//! client-limit check createSecret makes before its POST. createSecret's own pass lives here
//! (always for real, and it only deletes); the scheduled pass over every served secret is
//! [`crate::sweep`]'s, above this module.
//!
//! In short: a client is touched only if its secret owns it ([`genesys_core::guard::ownership`]), no
//! staged version of any secret in the org pass holds it (every version read, else nothing is
//! touched), and its age, counted from its retirement (`dateModified` of an inactive client),
//! exceeds a horizon longer than any drain; an active client whose secret was never stored ages
//! from its creation; one a version once held is first deactivated by the scheduled pass. The
//! rule and its reasons: docs/design/reconciliation.md. Time is an input (`now`).

use genesys_core::classify::{qualified_kind, Classify};
use std::collections::HashSet;
use std::fmt;
use std::future::Future;

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::config::ReconcileConfig;
use crate::secret_format::{IntegrationSecret, NamePrefix};
use crate::store::{SecretDescription, SecretStore, StoreError, Version};
use genesys_core::genesys::{ClientState, GenesysClient, GenesysError, OAuthClient};
use genesys_core::guard::orphans::{self, Claim, Verdict};
use genesys_core::guard::ownership::{marker, Foreign, Owner};
use genesys_core::guard::{Holders, Refusal as GuardRefusal, Standing};

/// Why a client is (or, in dry run, would be) deleted or deactivated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Reason {
    /// Inactive, no staged version holds it, and retired longer ago than the horizon: deleted.
    #[serde(rename_all = "camelCase")]
    Retired {
        /// Seconds since its retirement (its `dateModified`).
        retired_seconds: u64,
        /// The horizon it exceeded.
        horizon_seconds: u64,
    },
    /// Active, and its secret was never stored (no version of it ever held the client): nobody
    /// can have used it; older than the horizon: deleted.
    #[serde(rename_all = "camelCase")]
    LostSecret {
        /// Its age at the time of the pass.
        age_seconds: u64,
        /// The horizon it exceeded.
        horizon_seconds: u64,
    },
    /// Active, once held by a version of its secret, held by no staged version now and older
    /// than the horizon: deactivated, and deleted a horizon later.
    #[serde(rename_all = "camelCase")]
    Unretired {
        /// Its age at the time of the pass.
        age_seconds: u64,
        /// The horizon it exceeded.
        horizon_seconds: u64,
    },
}

impl Step {
    /// The secret whose client it touches.
    pub(crate) fn secret_arn(&self) -> &str {
        match self {
            Step::Delete(c) | Step::Active { candidate: c, .. } => &c.secret_arn,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Retired {
                retired_seconds,
                horizon_seconds,
            } => write!(
                f,
                "retired: inactive and held by no staged version for {retired_seconds} s since its retirement (horizon {horizon_seconds} s)"
            ),
            Reason::LostSecret {
                age_seconds,
                horizon_seconds,
            } => write!(
                f,
                "orphaned: its secret was never stored, and it is {age_seconds} s old (horizon {horizon_seconds} s)"
            ),
            Reason::Unretired {
                age_seconds,
                horizon_seconds,
            } => write!(
                f,
                "not retired: active, no staged version holds it any more, and it is {age_seconds} s old (horizon {horizon_seconds} s); deactivated now, deleted a horizon later"
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
    /// Its `dateCreated`, if Genesys showed one.
    #[serde(with = "time::serde::rfc3339::option")]
    pub date_created: Option<OffsetDateTime>,
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
    /// What failed, and the call if a call failed: `<Kind>` or `<Kind>.<Call>`
    /// ([`genesys_core::classify::qualified_kind`], the `errorType` without its class).
    pub kind: String,
    /// The error's message (ids and labels, never secret values).
    pub message: String,
    /// Whether the next pass may succeed where this one failed.
    pub retryable: bool,
}

impl ReconcileFailure {
    /// The failure of `secret_arn`'s part of a pass, from any classified error.
    pub fn of(secret_arn: &str, e: &(impl Classify + std::fmt::Display)) -> Self {
        Self {
            secret_arn: secret_arn.to_owned(),
            kind: qualified_kind(e),
            message: e.to_string(),
            retryable: e.is_retryable(),
        }
    }
}

/// What a pass examined and did. Holds no secrets; serializes as the cleanup Lambda's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    /// Clients listed in the organizations concerned.
    pub examined: usize,
    /// Those owned by a secret taking part ([`genesys_core::guard::ownership`]).
    pub managed: usize,
    /// Clients deleted.
    pub deleted: Vec<Candidate>,
    /// Clients a dry run would have deleted.
    pub would_delete: Vec<Candidate>,
    /// Clients deactivated (the scheduled pass; deleted by a later one).
    pub deactivated: Vec<Candidate>,
    /// Clients a dry run would have deactivated.
    pub would_deactivate: Vec<Candidate>,
    /// Owned clients kept because a staged version references them.
    pub kept_referenced: usize,
    /// Owned, unreferenced clients kept because their age (from retirement, or from creation
    /// for one never retired) is not past the horizon, or cannot be proven.
    pub kept_young: usize,
    /// Owned, active clients a version once held, kept by createSecret's pass (the scheduled
    /// pass retires them).
    pub kept_active: usize,
    /// Owned clients already deleted but still listed (a soft delete: inactive, `dateToDelete`
    /// set): left alone, never deleted again; they still count against the client limit.
    pub soft_deleted: usize,
    /// Clients that carry a secret's marker and name prefix but whose name does not end in one
    /// of the secret's version ids: unproven, so never touched. Secrets Manager may delete a
    /// version without a label, and a client made for a deleted version is then no longer
    /// provably the secret's: a possible orphan, for the operator to delete by hand.
    pub kept_unproven: usize,
    /// What went wrong, per secret.
    pub errors: Vec<ReconcileFailure>,
}

impl ReconcileReport {
    /// The report of a pass that could not even find the secrets it serves.
    pub fn listing_failed(e: &(impl Classify + std::fmt::Display)) -> Self {
        Self {
            errors: vec![ReconcileFailure::of("*", e)],
            ..Self::default()
        }
    }
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
    /// A possible holder (a served secret, a master) could not be read: nothing is touched
    /// (fail closed). Retryable: the next pass reads again.
    #[error("{holder} could not be read, so nothing proves any client is free: no client is touched (fail closed)")]
    HoldersUnreadable {
        /// Who, and why.
        holder: String,
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
}

impl ReconcileError {
    /// The failed call this error reports, if it is one: reading a version, listing the
    /// clients, or deactivating and deleting one.
    fn failed_call(&self) -> Option<&dyn Classify> {
        match self {
            ReconcileError::VersionUnreadable { source, .. } => Some(source),
            ReconcileError::List(e) | ReconcileError::Delete { source: e, .. } => Some(e),
            ReconcileError::ClientLimit { .. }
            | ReconcileError::VersionUndecodable { .. }
            | ReconcileError::HoldersUnreadable { .. }
            | ReconcileError::HorizonTooShort { .. } => None,
        }
    }
}

impl Classify for ReconcileError {
    /// As the failed call; the others are not: room is made by deleting clients or raising the
    /// limit, and a setting or a version by an operator, not by retrying at once.
    fn is_retryable(&self) -> bool {
        matches!(self, ReconcileError::HoldersUnreadable { .. })
            || self.failed_call().is_some_and(Classify::is_retryable)
    }

    fn kind(&self) -> &'static str {
        match self {
            ReconcileError::VersionUnreadable { .. } => "VersionUnreadable",
            ReconcileError::VersionUndecodable { .. } => "VersionUndecodable",
            ReconcileError::HorizonTooShort { .. } => "HorizonTooShort",
            ReconcileError::ClientLimit { .. } => "ClientLimit",
            ReconcileError::HoldersUnreadable { .. } => "GuardUnreadable",
            ReconcileError::List(e) | ReconcileError::Delete { source: e, .. } => e.kind(),
        }
    }

    fn call_name(&self) -> Option<&'static str> {
        self.failed_call().and_then(Classify::call_name)
    }
}

/// One secret taking part in a pass.
pub(crate) struct Scope {
    pub(crate) arn: String,
    pub(crate) prefix: NamePrefix,
    /// Its version ids and what its staged versions reference; `None` if that is not known
    /// (then nothing of the org pass is touched).
    pub(crate) known: Option<Known>,
}

pub(crate) struct Known {
    pub(crate) versions: HashSet<String>,
    pub(crate) referenced: HashSet<String>,
}

impl Scope {
    fn owner(&self) -> Option<Owner<'_>> {
        self.known.as_ref().map(|k| Owner {
            id: &self.arn,
            prefix: &self.prefix,
            versions: &k.versions,
        })
    }
}

/// Checks that the horizon exceeds the longest drain of `secret`.
pub(crate) fn check_horizon(
    config: &ReconcileConfig,
    arn: &str,
    secret: &IntegrationSecret,
) -> Result<(), ReconcileError> {
    let drain = config.longest_drain(secret.settings.token_lifetime);
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
    crate::secret_format::client_id_in(value.value.expose_secret())
        .map(Some)
        .ok_or_else(|| ReconcileError::VersionUndecodable {
            secret_arn: desc.arn.clone(),
            version_id: id.to_owned(),
        })
}

/// The client ids held by every version of `desc` that carries a staging label.
pub(crate) async fn referenced_clients<S: SecretStore>(
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

/// What a pass decided for one client.
pub(crate) enum Step {
    /// Delete it.
    Delete(Candidate),
    /// Active and old: delete it if its version never held it, else deactivate it (or, in
    /// createSecret's pass, keep it).
    Active { candidate: Candidate, version_id: String },
}

/// Decides, for each listed client of one org, what becomes of it; counts what stays in
/// `report`.
pub(crate) fn plan(
    clients: &[OAuthClient],
    scopes: &[Scope],
    holders: &Holders,
    master_ids: &[&str],
    horizon: Duration,
    now: OffsetDateTime,
    report: &mut ReconcileReport,
) -> Vec<Step> {
    report.examined += clients.len();
    // Fail closed, org-wide: a secret that could not be read may hold any client.
    let all_known = scopes.iter().all(|s| s.known.is_some());
    let referenced_anywhere = |id: &str| {
        scopes
            .iter()
            .any(|s| s.known.as_ref().is_some_and(|k| k.referenced.contains(id)))
    };
    let mut steps = Vec::new();
    for client in clients {
        if master_ids.contains(&client.id.as_str()) {
            continue;
        }
        // The marker names one secret: at most one scope owns a client.
        let Some((owner, version_id)) = scopes
            .iter()
            .find_map(|s| s.owner().and_then(|o| o.judge(client).ok()).map(|v| (s, v)))
        else {
            if let Some(scope) = scopes.iter().find(|s| marked_but_unproven(s, client)) {
                report.kept_unproven += 1;
                warn!(client_id = %client.id, client_name = %client.name, secret = %scope.arn, "kept: the client carries the secret's marker and name prefix, but its name does not end in one of the secret's version ids (Secrets Manager deletes versions without a label), so nothing proves the secret owns it; delete it by hand if it is the secret's");
            }
            continue;
        };
        report.managed += 1;
        // Deleted already, only still listed (a soft delete): gone for reconciliation, though it
        // still counts against the limit. Deleting it again would repeat on every pass.
        if client.is_soft_deleted() {
            report.soft_deleted += 1;
            continue;
        }
        if referenced_anywhere(&client.id) {
            report.kept_referenced += 1;
            continue;
        }
        if !all_known {
            continue;
        }
        // The one guard, org-wide: another served secret or a master may hold this secret's
        // old client (one pasted into another secret), and an unreadable holder keeps them all.
        let standing = Standing::Owned {
            version: version_id.clone(),
        };
        match genesys_core::guard::decide(&client.id, &standing, holders) {
            Ok(_) => {}
            Err(GuardRefusal::Held { .. }) => {
                report.kept_referenced += 1;
                continue;
            }
            Err(_) => continue,
        }
        let candidate = |reason| Candidate {
            secret_arn: owner.arn.clone(),
            client_id: client.id.clone(),
            client_name: client.name.clone(),
            date_created: client.date_created,
            reason,
        };
        let horizon_seconds = horizon.as_secs();
        // An active client nothing holds lost its secret (or a version once held it): it ages
        // from its creation. A retired one ages from its retirement.
        let active = client.effective_state() == ClientState::Active;
        let claim = if active {
            Claim::Unclaimed {
                since: client.date_created,
                after: horizon,
            }
        } else {
            Claim::Released {
                recorded: None,
                drain: horizon,
            }
        };
        match orphans::judge(client, claim, now) {
            Verdict::Delete { age } if active => steps.push(Step::Active {
                candidate: candidate(Reason::LostSecret {
                    age_seconds: age.as_secs(),
                    horizon_seconds,
                }),
                version_id,
            }),
            Verdict::Delete { age } => steps.push(Step::Delete(candidate(Reason::Retired {
                retired_seconds: age.as_secs(),
                horizon_seconds,
            }))),
            Verdict::Gone => report.soft_deleted += 1,
            Verdict::Keep(_) | Verdict::Deactivate => report.kept_young += 1,
        }
    }
    steps
}

/// Whether `client` carries `scope`'s marker and name prefix while its name's version id is not
/// one of the scope's versions ([`Foreign::NotAVersion`]): a client the secret may have made for
/// a version Secrets Manager has since deleted, which the ownership rule can no longer prove.
fn marked_but_unproven(scope: &Scope, client: &OAuthClient) -> bool {
    scope
        .owner()
        .is_some_and(|o| o.judge(client) == Err(Foreign::NotAVersion))
        && client
            .description
            .as_deref()
            .is_some_and(|d| d.contains(&marker(&scope.arn)))
}

/// Carries out the plan (or only logs it in dry run). `retire`: whether active clients a
/// version once held are deactivated (the scheduled pass) or kept (createSecret's). Returns the
/// failures.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn execute<S: SecretStore>(
    store: &S,
    master: &GenesysClient,
    clients: &[OAuthClient],
    steps: Vec<Step>,
    dry_run: bool,
    retire: bool,
    report: &mut ReconcileReport,
) -> Vec<(String, ReconcileError)> {
    let mut failures = Vec::new();
    for step in steps {
        if genesys_core::deadline::remaining().is_some_and(|left| left < STOP_BEFORE_DEADLINE) {
            info!("reconciliation stopped before its deadline; the next pass goes on");
            break;
        }
        let (candidate, deactivate_only) = match step {
            Step::Delete(candidate) => (candidate, false),
            Step::Active {
                mut candidate,
                version_id,
            } => {
                let held = store
                    .get_value(&candidate.secret_arn, Version::Id(&version_id))
                    .await
                    .map(|v| v.and_then(|v| crate::secret_format::client_id_in(v.value.expose_secret())));
                match held {
                    // Never stored: nobody has its secret.
                    Ok(held) if held.as_deref() != Some(candidate.client_id.as_str()) => (candidate, false),
                    Ok(_) if !retire => {
                        report.kept_active += 1;
                        continue;
                    }
                    Ok(_) => {
                        let Reason::LostSecret {
                            age_seconds,
                            horizon_seconds,
                        } = candidate.reason
                        else {
                            unreachable!("active candidates start as LostSecret")
                        };
                        candidate.reason = Reason::Unretired {
                            age_seconds,
                            horizon_seconds,
                        };
                        (candidate, true)
                    }
                    Err(source) => {
                        failures.push((
                            candidate.secret_arn.clone(),
                            ReconcileError::VersionUnreadable {
                                secret_arn: candidate.secret_arn,
                                version_id,
                                source,
                            },
                        ));
                        continue;
                    }
                }
            }
        };
        let action = if deactivate_only { "deactivate" } else { "delete" };
        if dry_run {
            info!(
                client_id = %candidate.client_id,
                client_name = %candidate.client_name,
                secret_arn = %candidate.secret_arn,
                reason = %candidate.reason,
                action,
                "dry run: would {action} client"
            );
            if deactivate_only {
                report.would_deactivate.push(candidate);
            } else {
                report.would_delete.push(candidate);
            }
            continue;
        }
        info!(
            client_id = %candidate.client_id,
            client_name = %candidate.client_name,
            secret_arn = %candidate.secret_arn,
            reason = %candidate.reason,
            "{}",
            if deactivate_only { "deactivating client" } else { "deleting client" }
        );
        let client = clients
            .iter()
            .find(|c| c.id == candidate.client_id)
            .expect("candidates come from the listing");
        let result = if deactivate_only {
            master.deactivate(client).await.map(|_| ())
        } else {
            master.retire_and_delete(client).await
        };
        match result {
            Ok(()) if deactivate_only => report.deactivated.push(candidate),
            Ok(()) => report.deleted.push(candidate),
            Err(source) => {
                warn!(client_id = %candidate.client_id, error = %source, "could not {action} client; the next pass retries");
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

/// A pass with less than this left before its deadline stops before its next client, so that
/// it answers in time (the next pass carries on).
pub(crate) const STOP_BEFORE_DEADLINE: Duration = Duration::from_secs(5);

/// Reconciles the secret being rotated, at the start of createSecret: always for real.
///
/// `clients` is the org's listing the caller already made; `known` the versions it already
/// read; `holders` reads the org-wide holders, only when there is something to touch. The first
/// failure is returned (nothing of the secret is deleted after it).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn before_create<S: SecretStore, H: Future<Output = Holders>>(
    holders: impl FnOnce() -> H,
    store: &S,
    master: &GenesysClient,
    desc: &SecretDescription,
    current: &IntegrationSecret,
    known: &[(&str, Option<&str>)],
    version_ids: &HashSet<String>,
    clients: &[OAuthClient],
    config: &ReconcileConfig,
    now: OffsetDateTime,
) -> Result<ReconcileReport, ReconcileError> {
    check_horizon(config, &desc.arn, current)?;
    let referenced = referenced_clients(store, desc, known).await?;
    let scopes = [Scope {
        arn: desc.arn.clone(),
        prefix: current.settings.name_prefix.clone(),
        known: Some(Known {
            versions: version_ids.clone(),
            referenced,
        }),
    }];
    // Planned once with nobody else holding anything; if that finds clients to touch, planned
    // again with the holders read, so a pass with nothing to do reads no other secret.
    let mut report = ReconcileReport::default();
    let mut steps = plan(
        clients,
        &scopes,
        &Holders::default(),
        &[master.client_id()],
        config.horizon,
        now,
        &mut report,
    );
    if !steps.is_empty() {
        let holders = holders().await;
        if let Some((secret, why)) = holders.first_unreadable() {
            return Err(ReconcileError::HoldersUnreadable {
                holder: format!("{secret} ({why})"),
            });
        }
        report = ReconcileReport::default();
        steps = plan(
            clients,
            &scopes,
            &holders,
            &[master.client_id()],
            config.horizon,
            now,
            &mut report,
        );
    }
    crate::metrics::orphans_found(steps.len());
    let failures = execute(store, master, clients, steps, false, false, &mut report).await;
    crate::metrics::clients_deleted(crate::metrics::DeleteReason::Orphaned, report.deleted.len());
    match failures.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(report),
    }
}

/// Refuses a create that would bring the org (holding `count` clients) within the margin of
/// its client limit.
pub(crate) fn check_client_limit(count: usize, master: &str, config: &ReconcileConfig) -> Result<(), ReconcileError> {
    crate::metrics::client_limit_headroom(config.client_limit, count, master);
    if config.client_limit_rule().refuses(count) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use genesys_core::domain::TokenLifetime;
    use genesys_core::guard::ownership::description;

    const H: i64 = 3600;
    const A: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf";
    const B: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:b-AbCdEf";
    const V_A1: &str = "0b0e7c9e-5c1f-4d6e-9f7a-2b8c1d3e4f5a";
    const V_A2: &str = "1b0e7c9e-5c1f-4d6e-9f7a-2b8c1d3e4f5a";
    const V_A3: &str = "2b0e7c9e-5c1f-4d6e-9f7a-2b8c1d3e4f5a";
    const V_A4: &str = "3b0e7c9e-5c1f-4d6e-9f7a-2b8c1d3e4f5a";
    const V_A5: &str = "4b0e7c9e-5c1f-4d6e-9f7a-2b8c1d3e4f5a";
    const V_B1: &str = "9b0e7c9e-5c1f-4d6e-9f7a-2b8c1d3e4f5a";

    /// A client of `owner` (its marker), `created_h` hours old, `retired_h` hours since its
    /// deactivation (`None`: active).
    fn client(
        id: &str,
        name: &str,
        owner: &str,
        created_h: i64,
        retired_h: Option<i64>,
        now: OffsetDateTime,
    ) -> OAuthClient {
        let mut c: OAuthClient = serde_json::from_value(serde_json::json!({
            "id": id,
            "name": name,
            "description": description(owner, None),
            "authorizedGrantType": "CLIENT-CREDENTIALS",
            "state": if retired_h.is_some() { "inactive" } else { "active" },
        }))
        .unwrap();
        c.date_created = Some(now - time::Duration::seconds(created_h * H));
        c.date_modified = Some(now - time::Duration::seconds(retired_h.unwrap_or(created_h) * H));
        c
    }

    fn scope(arn: &str, prefix: &str, versions: &[&str], referenced: &[&str]) -> Scope {
        Scope {
            arn: arn.into(),
            prefix: NamePrefix::parse(prefix).unwrap(),
            known: Some(Known {
                versions: versions.iter().map(|s| s.to_string()).collect(),
                referenced: referenced.iter().map(|s| s.to_string()).collect(),
            }),
        }
    }

    fn planned(steps: &[Step]) -> Vec<(&str, &'static str)> {
        steps
            .iter()
            .map(|s| match s {
                Step::Delete(c) => (c.client_id.as_str(), "delete"),
                Step::Active { candidate, .. } => (candidate.client_id.as_str(), "check"),
            })
            .collect()
    }

    fn steps_owner(step: &Step) -> &str {
        match step {
            Step::Delete(c) | Step::Active { candidate: c, .. } => &c.secret_arn,
        }
    }

    #[test]
    fn only_owned_unreferenced_clients_past_the_horizon_since_their_retirement_are_touched() {
        // GIVEN an org shared by secret A (prefix crm-) and secret B (prefix crm-eu-, nested)
        let now = OffsetDateTime::now_utc();
        let n = |v: &str| format!("crm-{v}");
        let clients = vec![
            client("master", &n(V_A1), A, 100, None, now),
            client("retired-long-ago", &n(V_A1), A, 100, Some(49), now),
            // Scenario: a week-old client retired minutes ago is not deleted.
            client("retired-just-now", &n(V_A2), A, 168, Some(0), now),
            client("never-retired-old", &n(V_A3), A, 49, None, now),
            client("never-retired-young", &n(V_A4), A, 47, None, now),
            client("referenced", &n(V_A5), A, 100, Some(100), now),
            client("b-client", &format!("crm-eu-{V_B1}"), B, 100, Some(100), now),
            client("b-version-with-a-marker", &n(V_B1), A, 100, Some(100), now),
            client("a-name-with-b-marker", &n(V_A1), B, 100, Some(100), now),
            client("hand-made", "crm-legacy", A, 100, Some(100), now),
        ];
        let scopes = [
            scope(A, "crm-", &[V_A1, V_A2, V_A3, V_A4, V_A5], &["referenced"]),
            scope(B, "crm-eu-", &[V_B1], &[]),
        ];
        let mut report = ReconcileReport::default();
        // WHEN planned with a 48 h horizon
        let steps = plan(
            &clients,
            &scopes,
            &Holders::default(),
            &["master"],
            Duration::from_secs(48 * 3600),
            now,
            &mut report,
        );
        // THEN only the long-retired clients go (A's by A, B's by B), and A's old
        // never-retired one is checked; names that only look like A's or B's stay
        assert_eq!(
            planned(&steps),
            [
                ("retired-long-ago", "delete"),
                ("never-retired-old", "check"),
                ("b-client", "delete")
            ]
        );
        assert_eq!(steps_owner(&steps[2]), B);
        assert_eq!(
            (
                report.examined,
                report.managed,
                report.kept_referenced,
                report.kept_young
            ),
            (10, 6, 1, 2)
        );
        let Step::Delete(c) = &steps[0] else { unreachable!() };
        assert!(c.reason.to_string().contains("horizon 172800 s"), "{}", c.reason);
        assert!(matches!(c.reason, Reason::Retired { retired_seconds, .. } if retired_seconds >= 49 * 3600));
    }

    #[test]
    fn an_unreadable_secret_keeps_every_client_of_its_org() {
        let now = OffsetDateTime::now_utc();
        let clients = vec![client("a1", &format!("crm-{V_A1}"), A, 100, Some(100), now)];
        let mut unreadable = scope(B, "erp-", &[], &[]);
        unreadable.known = None;
        let scopes = [scope(A, "crm-", &[V_A1], &[]), unreadable];
        let mut report = ReconcileReport::default();
        let steps = plan(
            &clients,
            &scopes,
            &Holders::default(),
            &["master"],
            Duration::from_secs(48 * 3600),
            now,
            &mut report,
        );
        assert!(steps.is_empty());
        assert_eq!(report.managed, 1);
    }

    #[test]
    fn a_client_another_secret_holds_or_an_unreadable_holder_keeps_it() {
        // GIVEN A's long-retired client, pasted into secret H (served through another master)
        let now = OffsetDateTime::now_utc();
        let clients = vec![
            client("pasted", &format!("crm-{V_A1}"), A, 100, Some(100), now),
            client("free", &format!("crm-{V_A2}"), A, 100, Some(100), now),
        ];
        let scopes = [scope(A, "crm-", &[V_A1, V_A2], &[])];
        let mut holders = Holders::default();
        holders.hold("pasted", "AWSCURRENT of secret h");
        let horizon = Duration::from_secs(48 * 3600);
        // WHEN planned with the org-wide holders
        let mut report = ReconcileReport::default();
        let steps = plan(&clients, &scopes, &holders, &["master"], horizon, now, &mut report);
        // THEN the held client stays, the free one goes
        assert_eq!(planned(&steps), [("free", "delete")]);
        assert_eq!(report.kept_referenced, 1);
        // AND WHEN a possible holder could not be read, nothing goes at all
        holders.unreadable("secret x", "AccessDenied");
        let steps = plan(
            &clients,
            &scopes,
            &holders,
            &["master"],
            horizon,
            now,
            &mut ReconcileReport::default(),
        );
        assert!(steps.is_empty());
    }

    #[test]
    fn a_soft_deleted_client_is_gone_for_reconciliation_and_never_deleted_again() {
        // GIVEN an owned client retired long ago that Genesys soft-deleted (still listed)
        let now = OffsetDateTime::now_utc();
        let mut c = client("soft", &format!("crm-{V_A1}"), A, 24 * 40, Some(24 * 35), now);
        c.date_to_delete = Some(now + time::Duration::days(5));
        // WHEN a pass plans
        let mut report = ReconcileReport::default();
        let steps = plan(
            &[c],
            &[scope(A, "crm-", &[V_A1], &[])],
            &Holders::default(),
            &["m"],
            Duration::from_secs(48 * 3600),
            now,
            &mut report,
        );
        // THEN nothing is planned, and it is counted as soft-deleted
        assert!(steps.is_empty());
        assert_eq!((report.managed, report.soft_deleted), (1, 1));
    }

    #[test]
    fn a_retired_client_without_a_modification_date_is_kept() {
        let now = OffsetDateTime::now_utc();
        let mut c = client("a1", &format!("crm-{V_A1}"), A, 100, Some(100), now);
        c.date_modified = None;
        let mut report = ReconcileReport::default();
        let steps = plan(
            &[c],
            &[scope(A, "crm-", &[V_A1], &[])],
            &Holders::default(),
            &["m"],
            Duration::from_secs(3600),
            now,
            &mut report,
        );
        assert!(steps.is_empty());
        assert_eq!(report.kept_young, 1);
    }

    #[test]
    fn the_limit_is_refused_within_the_margin_naming_the_numbers() {
        let config = ReconcileConfig {
            client_limit: 500,
            limit_margin: 10,
            ..ReconcileConfig::default()
        };
        assert!(check_client_limit(489, "master", &config).is_ok());
        let err = check_client_limit(490, "master", &config).unwrap_err();
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
        assert_eq!(
            c.longest_drain(TokenLifetime::new(86_400).unwrap()),
            Duration::from_secs(25 * 3600)
        );
        // A 48 h token lifetime needs more than the default 48 h horizon.
        assert_eq!(
            c.longest_drain(TokenLifetime::new(172_800).unwrap()),
            Duration::from_secs(49 * 3600)
        );
        assert!(ReconcileConfig::from_lookup(env(&[("DRAIN_SECONDS", "172800")])).is_err());
        let c = ReconcileConfig::from_lookup(env(&[("DRAIN_SECONDS", "7200"), ("RECONCILE_DRY_RUN", "true")])).unwrap();
        assert!(c.dry_run);
        assert_eq!(
            c.longest_drain(TokenLifetime::new(300).unwrap()),
            Duration::from_secs(7200)
        );
        assert!(ReconcileConfig::from_lookup(env(&[("CLIENT_LIMIT", "10"), ("CLIENT_LIMIT_MARGIN", "10")])).is_err());
        assert!(ReconcileConfig::from_lookup(env(&[("RECONCILE_DRY_RUN", "yes")])).is_err());
        assert!(ReconcileConfig::from_lookup(env(&[("RECONCILE_HORIZON_SECONDS", "0")])).is_err());
    }
}
