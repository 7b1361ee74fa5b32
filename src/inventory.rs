//! The inventory: every OAuth client of the organizations behind a set of secrets, each placed
//! in the life of its secret (current, pending, draining, previous, orphan) or marked foreign,
//! with the count against the organization's client limit. Read-only: it lists, it never acts.
//!
//! A client is placed by the secret versions that hold it, not by its name alone; a client a
//! secret owns ([`genesys_core::guard::ownership`]) that no labelled version holds is an orphan, which the
//! reconciliation deletes a horizon after its retirement.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use time::OffsetDateTime;

use crate::deployment::Deployment;
use crate::reconcile::version_refs;
use crate::store::{SecretStore, AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use genesys_core::genesys::{ClientState, OAuthClient};
use genesys_core::guard::ownership::{retired_since, Owner};

/// Where a client stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "stage", rename_all = "camelCase")]
pub enum Stage {
    /// AWSCURRENT holds it: the live credential.
    Current,
    /// AWSPENDING holds it: a rotation in progress.
    Pending,
    /// AWSPREVIOUS holds it and it is inactive: its tokens drain until the cleanup deletes it.
    #[serde(rename_all = "camelCase")]
    Draining {
        /// Seconds until the drain has passed (negative: overdue for the cleanup).
        seconds_left: i64,
    },
    /// AWSPREVIOUS (or another label) holds it and it is still active: not retired yet.
    Previous,
    /// A managed name that no labelled version holds.
    #[serde(rename_all = "camelCase")]
    Orphan {
        /// Seconds since it was created, if known.
        age_seconds: Option<i64>,
    },
    /// The master client of one of the secrets.
    Master,
    /// Not managed by any of the secrets.
    Foreign,
}

impl Stage {
    /// A short word for tables.
    pub fn label(&self) -> &'static str {
        match self {
            Stage::Current => "current",
            Stage::Pending => "pending",
            Stage::Draining { .. } => "draining",
            Stage::Previous => "previous",
            Stage::Orphan { .. } => "orphan",
            Stage::Master => "master",
            Stage::Foreign => "foreign",
        }
    }
}

/// One client in the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The OAuth client id.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// Its state in Genesys Cloud.
    pub state: String,
    /// When it was created, if Genesys says.
    #[serde(with = "time::serde::rfc3339::option")]
    pub date_created: Option<OffsetDateTime>,
    /// The secret it belongs to, if any.
    pub secret_arn: Option<String>,
    /// Where it stands.
    #[serde(flatten)]
    pub stage: Stage,
}

/// A secret the inventory could not read; its clients show as foreign or orphan by name only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unreadable {
    /// The secret.
    pub secret_arn: String,
    /// Why.
    pub error: String,
}

/// The inventory of one or more organizations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// Every client listed, grouped by secret (foreign last).
    pub entries: Vec<Entry>,
    /// Clients in the organization(s), all states.
    pub total: usize,
    /// The configured client limit.
    pub client_limit: usize,
    /// Secrets that could not be read.
    pub unreadable: Vec<Unreadable>,
}

impl Inventory {
    /// How many clients stand at `label` (see [`Stage::label`]).
    pub fn count(&self, label: &str) -> usize {
        self.entries.iter().filter(|e| e.stage.label() == label).count()
    }
}

/// Builds the inventory of the organizations behind `secret_arns`, at time `now`.
pub async fn inventory<S: SecretStore>(
    deployment: &Deployment<S>,
    secret_arns: &[String],
    now: OffsetDateTime,
) -> Inventory {
    let mut inv = Inventory {
        client_limit: deployment.reconcile_config().client_limit,
        ..Inventory::default()
    };
    // Per org (master client), the clients and what each secret says of them.
    let mut orgs: Vec<(std::sync::Arc<genesys_core::genesys::GenesysClient>, Vec<SecretView>)> = Vec::new();
    for arn in secret_arns {
        let view = async {
            let desc = deployment.store().describe(arn).await.map_err(|e| e.to_string())?;
            let current = deployment.read_current(&desc).await.map_err(|e| e.to_string())?;
            let master = deployment.master(&current).await.map_err(|e| e.to_string())?;
            let refs = version_refs(deployment.store(), &desc, &[])
                .await
                .map_err(|e| e.to_string())?;
            let versions = deployment
                .store()
                .version_ids(&desc.arn)
                .await
                .map_err(|e| e.to_string())?;
            let drain = deployment
                .reconcile_config()
                .longest_drain(current.settings.token_lifetime);
            Ok::<_, String>((
                master,
                SecretView {
                    arn: desc.arn.clone(),
                    current,
                    refs,
                    versions,
                    drain,
                },
            ))
        }
        .await;
        match view {
            Ok((master, view)) => match orgs.iter_mut().find(|(m, _)| std::sync::Arc::ptr_eq(m, &master)) {
                Some((_, views)) => views.push(view),
                None => orgs.push((master, vec![view])),
            },
            Err(error) => inv.unreadable.push(Unreadable {
                secret_arn: arn.clone(),
                error,
            }),
        }
    }
    for (master, views) in orgs {
        let (clients, undecoded) = match master.list_all_clients().await {
            Ok(listing) => (listing.clients, listing.undecoded.len()),
            Err(e) => {
                inv.unreadable.extend(views.iter().map(|v| Unreadable {
                    secret_arn: v.arn.clone(),
                    error: format!("listing clients: {e}"),
                }));
                continue;
            }
        };
        inv.total += clients.len() + undecoded;
        let mut entries: Vec<Entry> = clients
            .iter()
            .map(|c| place(c, master.client_id(), &views, now))
            .collect();
        // Grouped by secret, foreign last, stable otherwise.
        entries.sort_by_key(|e| (e.secret_arn.is_none(), e.secret_arn.clone()));
        inv.entries.extend(entries);
    }
    inv
}

struct SecretView {
    arn: String,
    current: crate::secret_format::IntegrationSecret,
    refs: Vec<crate::reconcile::VersionRef>,
    versions: HashSet<String>,
    drain: std::time::Duration,
}

impl SecretView {
    fn owner(&self) -> Owner<'_> {
        Owner {
            id: &self.arn,
            prefix: &self.current.settings.name_prefix,
            versions: &self.versions,
        }
    }
}

fn place(client: &OAuthClient, master_id: &str, views: &[SecretView], now: OffsetDateTime) -> Entry {
    let holders: HashMap<&str, (&SecretView, &[String])> = views
        .iter()
        .flat_map(|v| {
            v.refs
                .iter()
                .filter(|r| r.client_id.as_deref() == Some(client.id.as_str()))
                .map(move |r| (v.arn.as_str(), (v, r.stages.as_slice())))
        })
        .collect();
    let has = |stages: &[String], s: &str| stages.iter().any(|x| x == s);
    let (secret_arn, stage) = if client.id == master_id {
        (None, Stage::Master)
    } else if let Some((arn, (view, stages))) = holders.iter().next() {
        let stage = if has(stages, AWSCURRENT) {
            Stage::Current
        } else if has(stages, AWSPENDING) {
            Stage::Pending
        } else if has(stages, AWSPREVIOUS) && client.effective_state() == ClientState::Inactive {
            Stage::Draining {
                seconds_left: drain_seconds_left(client, view.drain, now),
            }
        } else {
            Stage::Previous
        };
        (Some(arn.to_string()), stage)
    } else if let Some(owner) = views.iter().find(|v| v.owner().owns(client)) {
        (
            Some(owner.arn.clone()),
            Stage::Orphan {
                age_seconds: client.date_created.map(|c| (now - c).whole_seconds()),
            },
        )
    } else {
        (None, Stage::Foreign)
    };
    Entry {
        client_id: client.id.clone(),
        name: client.name.clone(),
        state: state_name(&client.effective_state()),
        date_created: client.date_created,
        secret_arn,
        stage,
    }
}

/// Seconds until a retired client has drained `drain` (negative: overdue for the cleanup),
/// counted from its retirement: its last modification, the PUT to inactive; from `now` when
/// nothing dates it (a drain never ends early).
pub(crate) fn drain_seconds_left(client: &OAuthClient, drain: std::time::Duration, now: OffsetDateTime) -> i64 {
    let due = retired_since(client).unwrap_or(now) + drain;
    (due - now).whole_seconds()
}

pub(crate) fn state_name(state: &ClientState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}
