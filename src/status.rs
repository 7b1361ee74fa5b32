//! The status of served secrets, for operators (`genesys-rotator status`). Read-only.
//!
//! Per secret: whether rotation is on and on what schedule, the last and next rotation
//! (DescribeSecret), the last failed step and its `errorType` (the record the rotation writes on
//! the secret's tags, [`crate::store::LAST_FAILURE_TAGS`]), and every client the secret has
//! held, one line each, from every version it keeps (deprecated ones included): current,
//! pending, draining (with the time left, by the same drain rule as the cleanup), active (an old
//! client still active: held elsewhere, or its retirement failed) or deleted (gone from Genesys).

use std::collections::HashMap;

use secrecy::ExposeSecret;
use serde::Serialize;
use time::OffsetDateTime;

use crate::deployment::Deployment;
use crate::inventory::drain_seconds_left;
use crate::secret_format::client_id_in;
use crate::store::{error_chain, SecretStore, Version, AWSCURRENT, AWSPENDING, LAST_FAILURE_TAGS};
use genesys_core::genesys::{ClientState, OAuthClient};

/// Where a client the secret has held stands now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum ClientLife {
    /// AWSCURRENT holds it.
    Current,
    /// AWSPENDING holds it: a rotation in progress.
    Pending,
    /// Retired (inactive): its tokens drain until the cleanup deletes it.
    #[serde(rename_all = "camelCase")]
    Draining {
        /// Seconds until the drain has passed (negative: overdue for the cleanup).
        seconds_left: i64,
    },
    /// An old version's client still active: held elsewhere, or not retired yet.
    Active,
    /// Genesys no longer has it.
    Deleted,
    /// The clients could not be listed (see [`SecretStatus::error`]).
    Unknown,
}

impl ClientLife {
    /// A short word for tables.
    pub fn label(&self) -> &'static str {
        match self {
            ClientLife::Current => "current",
            ClientLife::Pending => "pending",
            ClientLife::Draining { .. } => "draining",
            ClientLife::Active => "active",
            ClientLife::Deleted => "deleted",
            ClientLife::Unknown => "unknown",
        }
    }
}

/// One client the secret has held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientStatus {
    /// The client id.
    pub client_id: String,
    /// The newest version that holds it.
    pub version_id: String,
    /// When that version was made.
    #[serde(with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// Where it stands.
    #[serde(flatten)]
    pub life: ClientLife,
}

/// The last failed rotation step, as the rotation recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// When (RFC 3339, as recorded).
    pub at: String,
    /// The step.
    pub step: Option<String>,
    /// Its `errorType`.
    pub error_type: Option<String>,
}

/// One secret's status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretStatus {
    /// The secret.
    pub secret_arn: String,
    /// Its name.
    pub name: Option<String>,
    /// Whether rotation is on.
    pub rotation_enabled: bool,
    /// The rotation Lambda.
    pub rotation_lambda_arn: Option<String>,
    /// The schedule: `rate(N days)` or the expression set.
    pub schedule: Option<String>,
    /// Last rotation, per Secrets Manager.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_rotated: Option<OffsetDateTime>,
    /// Next rotation, per Secrets Manager.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_rotation: Option<OffsetDateTime>,
    /// The last failed step, if one was recorded.
    pub last_failure: Option<Failure>,
    /// Every client the secret has held, newest first.
    pub clients: Vec<ClientStatus>,
    /// Its organization's clients against the client limit, when they could be listed.
    pub organization: Option<OrgClients>,
    /// What could not be read, if anything.
    pub error: Option<String>,
}

/// An organization's clients against the configured client limit (`CLIENT_LIMIT`): every
/// listed item counts, soft-deleted clients (listed until Genesys removes them) and items not
/// readable as clients included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgClients {
    /// Every listed item.
    pub listed: usize,
    /// Of which soft-deleted (deleted, still listed).
    pub soft_deleted: usize,
    /// `CLIENT_LIMIT`.
    pub limit: usize,
    /// Creates left before createSecret refuses (`CLIENT_LIMIT - CLIENT_LIMIT_MARGIN - listed`).
    pub creates_left: usize,
}

impl OrgClients {
    /// From a listing, with the reconciliation settings' limit and margin.
    pub fn of(listing: &genesys_core::genesys::ClientListing, config: &crate::config::ReconcileConfig) -> Self {
        let listed = genesys_core::client_limit::ClientLimit::counted(listing);
        OrgClients {
            listed,
            soft_deleted: listing.clients.iter().filter(|c| c.is_soft_deleted()).count(),
            limit: config.client_limit,
            creates_left: config.client_limit_rule().creates_left(listed),
        }
    }
}

/// The recorded failure in a secret's tags, if any.
pub fn last_failure(tags: &HashMap<String, String>) -> Option<Failure> {
    let [at, step, error_type] = LAST_FAILURE_TAGS;
    Some(Failure {
        at: tags.get(at)?.clone(),
        step: tags.get(step).cloned(),
        error_type: tags.get(error_type).cloned(),
    })
}

/// A version of the secret and the client it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBy {
    /// The version.
    pub version_id: String,
    /// Its staging labels.
    pub stages: Vec<String>,
    /// When it was made.
    pub created: Option<OffsetDateTime>,
    /// The `clientId` its value holds.
    pub client_id: String,
}

/// Places every client the versions hold: one line per client (the union of its versions'
/// labels; the newest version named), newest first. `clients`: the org's listing, `None` if it
/// could not be read; `drain`: the secret's longest drain.
pub fn place(
    held: &[HeldBy],
    clients: Option<&[OAuthClient]>,
    drain: std::time::Duration,
    now: OffsetDateTime,
) -> Vec<ClientStatus> {
    let mut by_client: Vec<(String, Vec<&HeldBy>)> = Vec::new();
    for h in held {
        match by_client.iter_mut().find(|(id, _)| *id == h.client_id) {
            Some((_, hs)) => hs.push(h),
            None => by_client.push((h.client_id.clone(), vec![h])),
        }
    }
    let mut out: Vec<ClientStatus> = by_client
        .into_iter()
        .map(|(id, hs)| {
            let has = |stage: &str| hs.iter().any(|h| h.stages.iter().any(|s| s == stage));
            let newest = hs.iter().max_by_key(|h| h.created).expect("at least one version");
            let life = match clients {
                None => ClientLife::Unknown,
                Some(clients) => match clients.iter().find(|c| c.id == id) {
                    // Soft-deleted: still listed (and counted against the limit) until Genesys
                    // removes it, but deleted.
                    None => ClientLife::Deleted,
                    Some(c) if c.is_soft_deleted() => ClientLife::Deleted,
                    Some(_) if has(AWSCURRENT) => ClientLife::Current,
                    Some(_) if has(AWSPENDING) => ClientLife::Pending,
                    Some(c) if matches!(c.effective_state(), ClientState::Inactive | ClientState::Disabled) => {
                        ClientLife::Draining {
                            seconds_left: drain_seconds_left(c, drain, now),
                        }
                    }
                    Some(_) => ClientLife::Active,
                },
            };
            ClientStatus {
                client_id: id,
                version_id: newest.version_id.clone(),
                since: newest.created,
                life,
            }
        })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.since));
    out
}

fn to_time(t: Option<&aws_sdk_secretsmanager::primitives::DateTime>) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(t?.secs()).ok()
}

/// The status of each of `secret_ids`, or of every served secret if none is given.
pub async fn status<S: SecretStore>(
    deployment: &Deployment<S>,
    sm: &aws_sdk_secretsmanager::Client,
    secret_ids: &[String],
    now: OffsetDateTime,
) -> Result<Vec<SecretStatus>, crate::store::StoreError> {
    let ids: Vec<String> = if secret_ids.is_empty() {
        let mut arns: Vec<String> = deployment
            .store()
            .served_secrets()
            .await?
            .into_iter()
            .map(|s| s.arn)
            .collect();
        arns.sort();
        arns
    } else {
        secret_ids.to_vec()
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in &ids {
        out.push(one(deployment, sm, id, now).await);
    }
    Ok(out)
}

async fn one<S: SecretStore>(
    deployment: &Deployment<S>,
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
    now: OffsetDateTime,
) -> SecretStatus {
    let desc = match sm.describe_secret().secret_id(id).send().await {
        Ok(d) => d,
        Err(e) => {
            return SecretStatus {
                secret_arn: id.to_owned(),
                error: Some(format!("DescribeSecret: {}", error_chain(&e))),
                ..SecretStatus::default()
            }
        }
    };
    let arn = desc.arn().unwrap_or(id).to_owned();
    let tags: HashMap<String, String> = desc
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
        .collect();
    let rules = desc.rotation_rules();
    let schedule = rules.and_then(|r| {
        r.schedule_expression()
            .map(str::to_owned)
            .or_else(|| r.automatically_after_days().map(|d| format!("rate({d} days)")))
    });
    let mut status = SecretStatus {
        secret_arn: arn.clone(),
        name: desc.name().map(str::to_owned),
        rotation_enabled: desc.rotation_enabled().unwrap_or(false),
        rotation_lambda_arn: desc.rotation_lambda_arn().map(str::to_owned),
        schedule,
        last_rotated: to_time(desc.last_rotated_date()),
        next_rotation: to_time(desc.next_rotation_date()),
        last_failure: last_failure(&tags),
        ..SecretStatus::default()
    };
    match clients_of(deployment, sm, &arn, now).await {
        Ok((clients, organization)) => {
            status.clients = clients;
            status.organization = organization;
        }
        Err((clients, e)) => {
            status.clients = clients;
            status.error = Some(e);
        }
    }
    status
}

/// Every client the secret's versions hold, placed; on a failure, what could be placed and why
/// the rest could not.
async fn clients_of<S: SecretStore>(
    deployment: &Deployment<S>,
    sm: &aws_sdk_secretsmanager::Client,
    arn: &str,
    now: OffsetDateTime,
) -> Result<(Vec<ClientStatus>, Option<OrgClients>), (Vec<ClientStatus>, String)> {
    if deployment.config().master_allowed(arn) {
        // A master secret holds the one master client, renewed in place: no client history.
        return Ok((Vec::new(), None));
    }
    let mut held = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..20 {
        let page = sm
            .list_secret_version_ids()
            .secret_id(arn)
            .include_deprecated(true)
            .max_results(100)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| (Vec::new(), format!("ListSecretVersionIds: {}", error_chain(&e))))?;
        for v in page.versions() {
            let Some(version_id) = v.version_id() else { continue };
            let value = deployment
                .store()
                .get_value(arn, Version::Id(version_id))
                .await
                .map_err(|e| (Vec::new(), e.to_string()))?;
            let Some(client_id) = value.and_then(|v| client_id_in(v.value.expose_secret())) else {
                continue;
            };
            held.push(HeldBy {
                version_id: version_id.to_owned(),
                stages: v.version_stages().to_vec(),
                created: to_time(v.created_date()),
                client_id,
            });
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_owned()),
            _ => break,
        }
    }
    let listed = async {
        let desc = deployment.store().describe(arn).await?;
        let current = deployment.read_current(&desc).await?;
        let master = deployment.master(&current).await?;
        let listing = master.list_all_clients().await?;
        let drain = deployment
            .reconcile_config()
            .longest_drain(current.settings.token_lifetime);
        Ok::<_, crate::deployment::DeploymentError>((listing, drain))
    }
    .await;
    match listed {
        Ok((listing, drain)) => Ok((
            place(&held, Some(&listing.clients), drain, now),
            Some(OrgClients::of(&listing, deployment.reconcile_config())),
        )),
        Err(e) => Err((
            place(&held, None, std::time::Duration::ZERO, now),
            format!("the clients could not be listed: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use time::macros::datetime;

    fn client(id: &str, state: &str, modified: Option<&str>) -> OAuthClient {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": format!("crm-{id}"), "authorizedGrantType": "CLIENT-CREDENTIALS",
            "state": state, "dateCreated": "2026-11-01T00:00:00.000Z", "dateModified": modified,
        }))
        .unwrap()
    }

    fn held(version: &str, stages: &[&str], day: u8, client: &str) -> HeldBy {
        HeldBy {
            version_id: version.into(),
            stages: stages.iter().map(|s| s.to_string()).collect(),
            created: Some(datetime!(2026-11-01 00:00 UTC) + time::Duration::days(day.into())),
            client_id: client.into(),
        }
    }

    #[test]
    fn each_client_is_placed_once_newest_first() {
        // GIVEN five versions: current, pending, a retired one, a deleted one, an active old one,
        // and a second version holding the current client
        let now = datetime!(2026-11-30 12:00 UTC);
        let versions = [
            held("v1", &[], 1, "gone"),
            held("v2", &[], 2, "kept"),
            held("v3", &["AWSPREVIOUS"], 3, "old"),
            held("v4", &["AWSCURRENT"], 4, "cur"),
            held("v5", &["AWSPENDING"], 5, "new"),
            held("v6", &[], 0, "cur"),
        ];
        let clients = [
            client("kept", "active", None),
            client("old", "inactive", Some("2026-11-30T11:00:00.000Z")),
            client("cur", "active", None),
            client("new", "active", None),
        ];
        // WHEN they are placed with a 2 h drain
        let placed = place(&versions, Some(&clients), Duration::from_secs(7200), now);
        // THEN one line per client, newest version first, each in its state
        let lines: Vec<(&str, &str, ClientLife)> = placed
            .iter()
            .map(|c| (c.client_id.as_str(), c.version_id.as_str(), c.life.clone()))
            .collect();
        assert_eq!(
            lines,
            [
                ("new", "v5", ClientLife::Pending),
                ("cur", "v4", ClientLife::Current),
                ("old", "v3", ClientLife::Draining { seconds_left: 3600 }),
                ("kept", "v2", ClientLife::Active),
                ("gone", "v1", ClientLife::Deleted),
            ]
        );
    }

    #[test]
    fn unlisted_clients_are_unknown_not_deleted() {
        let placed = place(
            &[held("v1", &["AWSCURRENT"], 1, "cur")],
            None,
            Duration::ZERO,
            datetime!(2026-11-30 12:00 UTC),
        );
        assert_eq!(placed[0].life, ClientLife::Unknown);
    }

    #[test]
    fn the_failure_record_is_read_from_the_tags() {
        let [at, step, error_type] = LAST_FAILURE_TAGS;
        assert_eq!(last_failure(&HashMap::new()), None);
        let tags = HashMap::from([
            (at.to_owned(), "2026-11-30T12:00:00Z".to_owned()),
            (step.to_owned(), "createSecret".to_owned()),
            (error_type.to_owned(), "NonRetryable.InvalidSecret".to_owned()),
            ("genesys-rotator".to_owned(), "integration".to_owned()),
        ]);
        assert_eq!(
            last_failure(&tags),
            Some(Failure {
                at: "2026-11-30T12:00:00Z".into(),
                step: Some("createSecret".into()),
                error_type: Some("NonRetryable.InvalidSecret".into()),
            })
        );
    }

    #[test]
    fn states_serialize_with_their_detail() {
        let c = ClientStatus {
            client_id: "c".into(),
            version_id: "v".into(),
            since: None,
            life: ClientLife::Draining { seconds_left: 5 },
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["state"], "draining");
        assert_eq!(v["secondsLeft"], 5);
    }
}
