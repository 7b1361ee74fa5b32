//! The scheduled reconciliation: one pass over every secret the deployment serves (the cleanup
//! function runs it on its EventBridge schedule; operators with `genesys-rotator reconcile`).
//! Secrets are read through the deployment context (its allow-list and master cache); the rules, what may
//! be deleted or deactivated and when, are [`crate::reconcile`]'s. See
//! docs/design/reconciliation.md.

use std::collections::HashSet;
use std::sync::Arc;

use genesys_core::genesys::GenesysClient;
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::config::ReconcileConfig;
use crate::deployment::guard::Census;
use crate::deployment::{Deployment, DeploymentError};
use crate::reconcile::{
    check_horizon, execute, plan, referenced_clients, Known, ReconcileError, ReconcileFailure, ReconcileReport, Scope,
    Step, STOP_BEFORE_DEADLINE,
};
use crate::store::{SecretStore, AWSCURRENT};

/// Reconciles every secret in `secret_arns` with the deployment's [`ReconcileConfig`] (its
/// `dry_run` included). See [`reconcile_all_with`].
pub async fn reconcile_all<S: SecretStore>(
    deployment: &Deployment<S>,
    secret_arns: &[String],
    now: OffsetDateTime,
) -> ReconcileReport {
    reconcile_all_with(deployment, deployment.reconcile_config(), secret_arns, now).await
}

/// The scheduled pass: every secret the deployment serves, over one listing and one reading
/// of them ([`Deployment::census`]) that serves both the guard's holders and each secret's current
/// value. A listing that fails changes nothing.
pub async fn reconcile_served<S: SecretStore>(deployment: &Deployment<S>, now: OffsetDateTime) -> ReconcileReport {
    let census = Box::pin(deployment.census("")).await;
    let Some(served) = &census.served else {
        let e = census
            .listing_error
            .as_ref()
            .expect("a census without a listing says why");
        warn!(error = %e, "reconciliation could not list the served secrets; nothing changed");
        crate::metrics::cleanup_failures(crate::metrics::CleanupFailure::Reconcile, 1);
        return ReconcileReport::listing_failed(e);
    };
    let arns: Vec<String> = served.iter().map(|s| s.arn.clone()).collect();
    reconcile_census(deployment, deployment.reconcile_config(), &census, &arns, now).await
}

/// The scheduled pass with explicit settings, for the secrets `secret_arns`.
pub async fn reconcile_all_with<S: SecretStore>(
    deployment: &Deployment<S>,
    config: &ReconcileConfig,
    secret_arns: &[String],
    now: OffsetDateTime,
) -> ReconcileReport {
    let census = Box::pin(deployment.census("")).await;
    reconcile_census(deployment, config, &census, secret_arns, now).await
}

/// One pass over `secret_arns` with the holders and values of `census`.
///
/// For each secret: its listed description and the AWSCURRENT value the census read (a secret
/// the census did not read is described and read on its own), check the horizon, read every
/// other staged version and its version ids. The secrets of one org are reconciled together
/// over one listing of it, whatever master each goes through (the org `tokens/me` names for
/// the master), so that overlapping prefixes resolve to the longest and a client referenced by
/// any of them is kept; each client is then retired by its own secret's master. The deployment's master cache and allow-list apply.
/// Never fails as a whole: each secret's failure goes into [`ReconcileReport::errors`] and only
/// that secret's clients are spared.
async fn reconcile_census<S: SecretStore>(
    deployment: &Deployment<S>,
    config: &ReconcileConfig,
    census: &Census,
    secret_arns: &[String],
    now: OffsetDateTime,
) -> ReconcileReport {
    let mut report = ReconcileReport::default();
    // The one guard's holders, read once for the pass: every served secret and master, whatever
    // master it goes through; a holder that cannot be read keeps every client (fail closed).
    let holders = &census.holders;
    if let Some((secret, why)) = holders.first_unreadable() {
        let e = ReconcileError::HoldersUnreadable {
            holder: format!("{secret} ({why})"),
        };
        warn!(error = %e, "reconciliation touches no client");
        report.errors.push(ReconcileFailure::of(secret, &e));
    }
    let mut orgs: Vec<OrgPass> = Vec::new();
    let mut org_of_master: Vec<(Arc<GenesysClient>, Option<String>)> = Vec::new();
    let mut seen = HashSet::new();
    for arn in secret_arns {
        if genesys_core::deadline::remaining().is_some_and(|left| left < STOP_BEFORE_DEADLINE) {
            info!("reconciliation stopped before its deadline; the next pass goes on");
            break;
        }
        let listed = census.served.iter().flatten().find(|s| &s.arn == arn);
        let prepared = async {
            let (desc, current, read) = match listed.and_then(|d| Some((d, census.current.get(&d.arn)?))) {
                Some((desc, value)) => {
                    let current = deployment.integration_from(&desc.arn, AWSCURRENT, value)?;
                    (desc.clone(), current, Some(value.version_id.clone()))
                }
                None => {
                    let desc = deployment.store().describe(arn).await?;
                    let current = deployment.read_current(&desc).await?;
                    (desc, current, None)
                }
            };
            let master = deployment.master(&current).await?;
            Ok::<_, DeploymentError>((desc, current, read, master))
        }
        .await;
        let (desc, current, read, master) = match prepared {
            Ok(p) => p,
            Err(e) => {
                warn!(secret_arn = %arn, error = %e, "reconciliation skipped a secret");
                report.errors.push(ReconcileFailure::of(arn, &e));
                continue;
            }
        };
        if !seen.insert(desc.arn.clone()) {
            continue;
        }
        let known = async {
            check_horizon(config, &desc.arn, &current)?;
            // The current version the census read is not read again.
            let known: Vec<(&str, Option<&str>)> = read
                .iter()
                .map(|v| (v.as_str(), Some(current.credentials.client_id.as_str())))
                .collect();
            let referenced = referenced_clients(deployment.store(), &desc, &known).await?;
            let versions = deployment.store().version_ids(&desc.arn).await.map_err(|source| {
                ReconcileError::VersionUnreadable {
                    secret_arn: desc.arn.clone(),
                    version_id: "(ListSecretVersionIds)".into(),
                    source,
                }
            })?;
            Ok::<_, ReconcileError>(Known { versions, referenced })
        }
        .await;
        let known = match known {
            Ok(k) => Some(k),
            Err(e) => {
                warn!(secret_arn = %desc.arn, error = %e, "no client of this secret's organization will be touched");
                report.errors.push(ReconcileFailure::of(&desc.arn, &e));
                None
            }
        };
        let scope = Scope {
            arn: desc.arn.clone(),
            prefix: current.settings.name_prefix.clone(),
            known,
        };
        let org = match org_of_master.iter().find(|(m, _)| Arc::ptr_eq(m, &master)) {
            Some((_, org)) => org.clone(),
            None => {
                let org = org_of(&master).await;
                org_of_master.push((master.clone(), org.clone()));
                org
            }
        };
        // One listing per org: secrets of several masters in one org share it. A master whose
        // org is unknown lists on its own.
        let pass = orgs.iter_mut().find(|p| match (&p.org, &org) {
            (Some(a), Some(b)) => a == b,
            _ => Arc::ptr_eq(&p.masters[0], &master),
        });
        let pass = match pass {
            Some(p) => p,
            None => {
                orgs.push(OrgPass {
                    org,
                    masters: Vec::new(),
                    scopes: Vec::new(),
                    master_of: Vec::new(),
                });
                orgs.last_mut().expect("just pushed")
            }
        };
        let index = match pass.masters.iter().position(|m| Arc::ptr_eq(m, &master)) {
            Some(i) => i,
            None => {
                pass.masters.push(master);
                pass.masters.len() - 1
            }
        };
        pass.master_of.push((scope.arn.clone(), index));
        pass.scopes.push(scope);
    }
    for OrgPass {
        masters,
        scopes,
        master_of,
        ..
    } in orgs
    {
        let master = &masters[0];
        let (clients, undecoded) = match master.list_all_clients().await {
            Ok(listing) => (listing.clients, listing.undecoded.len()),
            Err(e) => {
                let e = ReconcileError::List(e);
                warn!(master_client_id = %master.client_id(), error = %e, "reconciliation could not list clients");
                report
                    .errors
                    .extend(scopes.iter().map(|s| ReconcileFailure::of(&s.arn, &e)));
                continue;
            }
        };
        let master_ids: Vec<&str> = masters.iter().map(|m| m.client_id()).collect();
        let steps = plan(
            &clients,
            &scopes,
            holders,
            &master_ids,
            config.horizon,
            now,
            &mut report,
        );
        crate::metrics::orphans_found(steps.len());
        let deleted_before = report.deleted.len();
        // Each client is retired by its own secret's master (the one that made it, and whose
        // roles cover its divisions), whichever master listed the org.
        let mut by_master: Vec<Vec<Step>> = masters.iter().map(|_| Vec::new()).collect();
        for step in steps {
            let index = master_of
                .iter()
                .find(|(arn, _)| arn == step.secret_arn())
                .map_or(0, |(_, i)| *i);
            by_master[index].push(step);
        }
        let mut failures = Vec::new();
        for (master, steps) in masters.iter().zip(by_master) {
            if steps.is_empty() {
                continue;
            }
            failures.extend(
                execute(
                    deployment.store(),
                    master,
                    &clients,
                    steps,
                    config.dry_run,
                    true,
                    &mut report,
                )
                .await,
            );
        }
        let deleted = report.deleted.len() - deleted_before;
        crate::metrics::clients_deleted(crate::metrics::DeleteReason::Orphaned, deleted);
        crate::metrics::client_limit_headroom(
            config.client_limit,
            clients.len() + undecoded - deleted,
            master.client_id(),
        );
        report
            .errors
            .extend(failures.iter().map(|(arn, e)| ReconcileFailure::of(arn, e)));
    }
    crate::metrics::cleanup_failures(crate::metrics::CleanupFailure::Reconcile, report.errors.len());
    info!(
        examined = report.examined,
        managed = report.managed,
        deleted = report.deleted.len(),
        would_delete = report.would_delete.len(),
        deactivated = report.deactivated.len(),
        would_deactivate = report.would_deactivate.len(),
        kept_referenced = report.kept_referenced,
        kept_young = report.kept_young,
        soft_deleted = report.soft_deleted,
        kept_unproven = report.kept_unproven,
        errors = report.errors.len(),
        dry_run = config.dry_run,
        "reconciliation done"
    );
    report
}

/// The secrets of one org in a pass: the masters they go through (the first lists the org) and
/// which master each secret's clients are retired by.
struct OrgPass {
    org: Option<String>,
    masters: Vec<Arc<GenesysClient>>,
    scopes: Vec<Scope>,
    master_of: Vec<(String, usize)>,
}

/// Which org `master` acts in, as `tokens/me` names it, with the API host (an org id is unique
/// only within its region); `None` if that cannot be told now.
async fn org_of(master: &GenesysClient) -> Option<String> {
    match master.token_info().await {
        Ok(info) => info
            .organization
            .map(|org| format!("{} {}", master.endpoints().api_base, org.id)),
        Err(e) => {
            warn!(master_client_id = %master.client_id(), error = %e, "could not tell the master's organization; its clients are listed on their own");
            None
        }
    }
}
