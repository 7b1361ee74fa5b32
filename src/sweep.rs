//! The scheduled reconciliation: one pass over every secret the deployment serves (the cleanup
//! function runs it on its EventBridge schedule; operators with `genesys-rotator reconcile`).
//! Secrets are read through the rotator (its allow-list and master cache); the rules, what may
//! be deleted or deactivated and when, are [`crate::reconcile`]'s. See
//! docs/design/reconciliation.md.

use std::collections::HashSet;
use std::sync::Arc;

use genesys_core::genesys::GenesysClient;
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::config::ReconcileConfig;
use crate::drain::Retirement;
use crate::reconcile::{
    check_horizon, execute, plan, referenced_clients, Known, ReconcileError, ReconcileFailure, ReconcileReport, Scope,
    STOP_BEFORE_DEADLINE,
};
use crate::rotation::{RotationError, Rotator};
use crate::store::SecretStore;

/// Reconciles every secret in `secret_arns` with the rotator's [`ReconcileConfig`] (its
/// `dry_run` included). See [`reconcile_all_with`].
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
    // The one guard's holders, read once for the pass: every served secret and master, whatever
    // master it goes through; a holder that cannot be read keeps every client (fail closed).
    let holders = rotator.holders("").await;
    if let Some((secret, why)) = holders.first_unreadable() {
        let e = ReconcileError::HoldersUnreadable {
            holder: format!("{secret} ({why})"),
        };
        warn!(error = %e, "reconciliation touches no client");
        report.errors.push(ReconcileFailure::of(secret, &e));
    }
    let mut groups: Vec<(Arc<GenesysClient>, Vec<Scope>)> = Vec::new();
    let mut seen = HashSet::new();
    for arn in secret_arns {
        if genesys_core::deadline::remaining().is_some_and(|left| left < STOP_BEFORE_DEADLINE) {
            info!("reconciliation stopped before its deadline; the next pass goes on");
            break;
        }
        let prepared = async {
            let desc = rotator.store().describe(arn).await?;
            let current = rotator.read_current(&desc).await?;
            let master = rotator.master(&current).await?;
            Ok::<_, RotationError>((desc, current, master))
        }
        .await;
        let (desc, current, master) = match prepared {
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
        let known =
            async {
                check_horizon(config, &desc.arn, &current)?;
                let referenced = referenced_clients(rotator.store(), &desc, &[]).await?;
                let versions = rotator.store().version_ids(&desc.arn).await.map_err(|source| {
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
        match groups.iter_mut().find(|(m, _)| Arc::ptr_eq(m, &master)) {
            Some((_, scopes)) => scopes.push(scope),
            None => groups.push((master, vec![scope])),
        }
    }
    for (master, scopes) in groups {
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
        let steps = plan(
            &clients,
            &scopes,
            &holders,
            master.client_id(),
            config.horizon,
            now,
            &mut report,
        );
        crate::metrics::orphans_found(steps.len());
        let deleted_before = report.deleted.len();
        let failures = execute(
            rotator.store(),
            &master,
            &clients,
            steps,
            config.dry_run,
            true,
            &mut report,
        )
        .await;
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
