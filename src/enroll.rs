//! Enrollment: turns an existing, hand-made Genesys client into an integration secret the
//! rotator serves (`genesys-rotator enroll`), instead of hand-written JSON.
//!
//! Everything that can be checked is checked before anything is written: the input's shape, the
//! master (allowed, readable, gets a token, sees the client in its organization, is not the
//! client itself), the client's credential (gets a token that `tokens/me` names), the secret's
//! name (free) and its prefix (overlapping no other served secret's in the same organization).
//! Then one CreateSecret writes the documented format ([`crate::secret_format`]) with the served
//! tag; rotation is turned on only if asked, and a refusal there deletes the secret just made.

use std::collections::HashMap;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{json, Value};
use thiserror::Error;
use tracing::info;

use crate::deployment::{Deployment, DeploymentError};
use crate::drain::Retirement;
use crate::rotation::{RotationError, Rotator, StepOutcome};
use crate::secret_format::{IntegrationSecret, TokenLifetime};
use crate::store::{error_chain, SecretStore, StoreError, Version, AWSCURRENT, SERVED_TAG};
use genesys_core::domain::NamePrefix;
use genesys_core::genesys::{GrantType, RoleDivision, TokenInfo};
use genesys_core::guard::ownership::prefixes_overlap;
use genesys_core::region::Region;
use genesys_core::secret::ClientCredentials;

/// The value enrollment gives the served tag ([`SERVED_TAG`]; only the key matters).
pub const SERVED_TAG_VALUE: &str = "integration";

/// When the enrolled secret rotates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Schedule {
    /// `rate(N days)`, sent as `AutomaticallyAfterDays`: the same interval, counted from the
    /// last rotation, in the field DescribeSecret reports a schedule in days with (and the one
    /// moto, which ignores `ScheduleExpression`, honours).
    Days(i64),
    /// Any other `rate(...)` or `cron(...)` expression, sent as `ScheduleExpression`.
    Expression(String),
}

impl Schedule {
    /// Parses `rate(N days)`, `rate(N hours)` (at least 4: Secrets Manager's floor) or
    /// `cron(...)`. Secrets Manager checks the expression itself; this catches typos early.
    pub fn parse(s: &str) -> Result<Schedule, String> {
        let s = s.trim();
        let bad = || format!("--schedule {s:?}: expected rate(N days), rate(N hours) with N >= 4, or cron(...)");
        if let Some(inner) = s.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            let mut words = inner.split_whitespace();
            let n: i64 = words.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
            let unit = words.next().ok_or_else(bad)?;
            if words.next().is_some() {
                return Err(bad());
            }
            return match unit {
                "day" | "days" if (1..=1000).contains(&n) => Ok(Schedule::Days(n)),
                "hour" | "hours" if (4..=24_000).contains(&n) => Ok(Schedule::Expression(s.to_owned())),
                _ => Err(bad()),
            };
        }
        match s.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
            Some(inner) if inner.split_whitespace().count() == 6 => Ok(Schedule::Expression(s.to_owned())),
            _ => Err(bad()),
        }
    }

    fn rules(&self) -> aws_sdk_secretsmanager::types::RotationRulesType {
        let rules = aws_sdk_secretsmanager::types::RotationRulesType::builder();
        match self {
            Schedule::Days(n) => rules.automatically_after_days(*n),
            Schedule::Expression(e) => rules.schedule_expression(e),
        }
        .build()
    }
}

/// What rotation enrollment turns on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationSchedule {
    /// The rotation Lambda's ARN.
    pub lambda_arn: String,
    /// When it rotates.
    pub schedule: Schedule,
}

/// Checks the shape of a Lambda function ARN (`arn:aws:lambda:<region>:<account>:function:<name>`).
pub fn validate_lambda_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = (7..=8).contains(&parts.len())
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "lambda"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5] == "function"
        && !parts[6].is_empty();
    if ok {
        Ok(())
    } else {
        Err(format!("--rotation-lambda-arn {arn:?} is not a Lambda function ARN"))
    }
}

/// Checks a new secret's name: 1 to 512 of the characters Secrets Manager accepts, and not
/// ending in `-` and six characters, which Secrets Manager's partial-ARN lookup would confuse
/// with its own suffix.
pub fn validate_secret_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c);
    if name.is_empty() || name.len() > 512 || !name.chars().all(allowed) {
        return Err(format!(
            "--name {name:?}: 1 to 512 letters, digits and / _ + = . @ - only"
        ));
    }
    let bytes = name.as_bytes();
    if bytes.len() > 7 && bytes[bytes.len() - 7] == b'-' {
        return Err(format!(
            "--name {name:?} ends in '-' and six characters, which Secrets Manager confuses with the \
             suffix it adds to ARNs: choose another name"
        ));
    }
    Ok(())
}

/// What to enroll. The client secret is held as a [`SecretString`]: never printed.
#[derive(Debug)]
pub struct EnrollRequest {
    /// Name of the integration secret to create.
    pub name: String,
    /// The existing client's credential.
    pub credentials: ClientCredentials,
    /// Its organization's region.
    pub region: Region,
    /// The master secret's ARN (one of `ALLOWED_MASTER_SECRET_ARNS`).
    pub master_secret_arn: String,
    /// Managed-name prefix of the clients rotation makes.
    pub name_prefix: NamePrefix,
    /// Roles of new clients; empty: the client's own (read by the master).
    pub role_divisions: Vec<RoleDivision>,
    /// Token lifetime of new clients; `None`: the client's own, else the default.
    pub token_lifetime: Option<TokenLifetime>,
    /// Description of new clients (the ownership marker is appended to it).
    pub description: Option<String>,
    /// Rotation to turn on, if any.
    pub rotation: Option<RotationSchedule>,
    /// KMS key of the new secret (default: Secrets Manager's own).
    pub kms_key_id: Option<String>,
    /// Whether the master must hold every role-division the new clients get and the client has
    /// ([`genesys_core::role_rule`]).
    pub role_rule: bool,
}

/// What enrollment did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollReport {
    /// The new secret.
    pub secret_arn: String,
    /// Its name.
    pub secret_name: String,
    /// The enrolled client.
    pub client_id: String,
    /// Its organization, as `tokens/me` names it.
    pub organization_id: Option<String>,
    /// The region domain.
    pub region: String,
    /// The master secret.
    pub master_secret_arn: String,
    /// The prefix.
    pub name_prefix: String,
    /// Roles of the new clients.
    pub role_divisions: Vec<RoleDivision>,
    /// Token lifetime of new clients.
    pub token_lifetime_seconds: u32,
    /// Rotation turned on, if asked.
    pub rotation: Option<RotationSchedule>,
    /// The result of `check` on the new secret.
    pub check: StepOutcome,
    /// `check`'s warnings about how the secret shares its organization.
    pub warnings: Vec<String>,
}

/// Why enrollment refused or failed. Every variant before [`EnrollError::EnableRotation`]
/// is raised before anything is written. None quotes a secret.
#[derive(Debug, Error)]
pub enum EnrollError {
    /// The master secret is not in `ALLOWED_MASTER_SECRET_ARNS`.
    #[error("master secret {0} is not in ALLOWED_MASTER_SECRET_ARNS; nothing was written")]
    MasterNotAllowed(String),
    /// The master secret cannot be read or its client gets no token.
    #[error("the master secret {arn} does not work: {source}; nothing was written")]
    Master {
        /// The master secret.
        arn: String,
        /// Why.
        source: Box<DeploymentError>,
    },
    /// A secret with this name exists (perhaps scheduled for deletion).
    #[error("a secret named {0:?} already exists ({1}); nothing was written")]
    NameTaken(String, String),
    /// The client's credential gets no token, or `tokens/me` cannot be read with it.
    #[error("the client's credential does not work: {0}; nothing was written")]
    Credential(String),
    /// `tokens/me` names another client than the one given.
    #[error("the secret given belongs to client {seen}, not to {expected}; nothing was written")]
    WrongClient {
        /// `--client-id`.
        expected: String,
        /// The client `tokens/me` names.
        seen: String,
    },
    /// The master does not see the client: another organization, or a deleted client.
    #[error(
        "the master of {master_arn} sees no client {client_id}: the client is in another organization \
         than the master's, or gone; nothing was written"
    )]
    NotInMastersOrg {
        /// The client.
        client_id: String,
        /// The master secret.
        master_arn: String,
    },
    /// The client is not one rotation can replace.
    #[error("client {client_id} cannot be enrolled: {reason}; nothing was written")]
    Unsuitable {
        /// The client.
        client_id: String,
        /// Why.
        reason: String,
    },
    /// The prefix is equal to or nested with another served secret's in the same organization.
    #[error(
        "namePrefix {prefix:?} overlaps {other_prefix:?} of {other_arn} in the same organization: \
         choose a prefix that neither starts nor is the start of another; nothing was written"
    )]
    PrefixOverlap {
        /// The prefix asked for.
        prefix: String,
        /// The other secret's.
        other_prefix: String,
        /// The other secret.
        other_arn: String,
    },
    /// Another served secret with an overlapping prefix could not be placed in or out of the
    /// organization: refused, since nothing proves the prefixes are apart.
    #[error(
        "namePrefix {prefix:?} overlaps that of {other_arn} and it cannot be told whether that secret \
         is in the same organization ({reason}); nothing was written"
    )]
    OverlapUnknown {
        /// The prefix asked for.
        prefix: String,
        /// The other secret.
        other_arn: String,
        /// Why.
        reason: String,
    },
    /// The secret the flags describe does not pass the format's validation.
    #[error("the secret would be invalid: {0}; nothing was written")]
    Invalid(String),
    /// A Secrets Manager read failed before anything was written.
    #[error("{0}; nothing was written")]
    Store(#[from] StoreError),
    /// CreateSecret failed.
    #[error("CreateSecret failed: {0}")]
    Create(String),
    /// RotateSecret refused; the new secret was deleted again (or, if that failed too, says so).
    #[error("RotateSecret failed: {reason}; {undo}")]
    EnableRotation {
        /// Secrets Manager's answer.
        reason: String,
        /// What became of the new secret.
        undo: String,
    },
    /// The secret was written but `check` fails on it.
    #[error("the secret {arn} was created, but check fails: {source}")]
    Check {
        /// The new secret.
        arn: String,
        /// Why.
        source: Box<RotationError>,
    },
}

/// What enrollment learnt about the client before writing.
struct Checked {
    organization_id: Option<String>,
    role_divisions: Vec<RoleDivision>,
    token_lifetime: TokenLifetime,
}

/// Enrolls `req`: checks, CreateSecret, RotateSecret if asked, then `check`. See the module doc.
pub async fn enroll<S: SecretStore, R: Retirement>(
    rotator: &Rotator<S, R>,
    sm: &aws_sdk_secretsmanager::Client,
    req: &EnrollRequest,
) -> Result<EnrollReport, EnrollError> {
    let checked = check_before_writing(rotator.deployment(), req).await?;
    let value = secret_json(req, &checked.role_divisions, checked.token_lifetime);
    // The rotation's own validation, on exactly what will be written.
    IntegrationSecret::parse(value.expose_secret()).map_err(|e| EnrollError::Invalid(e.to_string()))?;
    check_prefix(rotator.deployment(), req, checked.organization_id.as_deref()).await?;

    let created = sm
        .create_secret()
        .name(&req.name)
        .secret_string(value.expose_secret())
        .set_kms_key_id(req.kms_key_id.clone())
        .description(format!(
            "Genesys Cloud client credential rotated by genesys-rotator (prefix {})",
            req.name_prefix.as_str()
        ))
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key(SERVED_TAG)
                .value(SERVED_TAG_VALUE)
                .build(),
        )
        .send()
        .await
        .map_err(|e| EnrollError::Create(error_chain(&e)))?;
    let arn = created.arn().unwrap_or(&req.name).to_owned();
    info!(secret_arn = %arn, client_id = %req.credentials.client_id, "integration secret created");

    if let Some(rotation) = &req.rotation {
        // RotateImmediately=false: Secrets Manager only runs testSecret, which checks the
        // configuration; the first new client comes with the first scheduled rotation.
        let result = sm
            .rotate_secret()
            .secret_id(&arn)
            .rotation_lambda_arn(&rotation.lambda_arn)
            .rotation_rules(rotation.schedule.rules())
            .rotate_immediately(false)
            .send()
            .await;
        if let Err(e) = result {
            let reason = error_chain(&e);
            // The secret is this run's own and a minute old: nothing can be using it yet.
            let undo = match sm
                .delete_secret()
                .secret_id(&arn)
                .force_delete_without_recovery(true)
                .send()
                .await
            {
                Ok(_) => "the secret just created was deleted again; nothing is left".to_owned(),
                Err(d) => format!(
                    "deleting the secret just created failed too ({}): delete {arn} by hand",
                    error_chain(&d)
                ),
            };
            return Err(EnrollError::EnableRotation { reason, undo });
        }
        info!(secret_arn = %arn, "rotation turned on");
    }

    let check = rotator.check(&arn).await.map_err(|source| EnrollError::Check {
        arn: arn.clone(),
        source: Box::new(source),
    })?;
    let warnings = rotator
        .deployment()
        .sharing_warnings(&arn)
        .await
        .map_err(|source| EnrollError::Check {
            arn: arn.clone(),
            source: Box::new(source.into()),
        })?;
    Ok(EnrollReport {
        secret_arn: arn,
        secret_name: req.name.clone(),
        client_id: req.credentials.client_id.as_str().to_owned(),
        organization_id: checked.organization_id,
        region: req.region.domain().to_owned(),
        master_secret_arn: req.master_secret_arn.clone(),
        name_prefix: req.name_prefix.as_str().to_owned(),
        role_divisions: checked.role_divisions,
        token_lifetime_seconds: checked.token_lifetime.seconds(),
        rotation: req.rotation.clone(),
        check,
        warnings,
    })
}

/// The master, the name and the client, in the order that fails cheapest first.
async fn check_before_writing<S: SecretStore>(
    deployment: &Deployment<S>,
    req: &EnrollRequest,
) -> Result<Checked, EnrollError> {
    let client_id = req.credentials.client_id.as_str();
    if !deployment.config().master_allowed(&req.master_secret_arn) {
        return Err(EnrollError::MasterNotAllowed(req.master_secret_arn.clone()));
    }
    match deployment.store().describe(&req.name).await {
        Ok(existing) => return Err(EnrollError::NameTaken(req.name.clone(), existing.arn)),
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let client = deployment.genesys_client(req.region, req.credentials.clone());
    let me = client
        .token_info()
        .await
        .map_err(|e| EnrollError::Credential(e.to_string()))?;
    let organization_id = named_client(&me, client_id)?;
    let master = deployment
        .master_of(&req.master_secret_arn, req.region)
        .await
        .map_err(|source| EnrollError::Master {
            arn: req.master_secret_arn.clone(),
            source: Box::new(source),
        })?;
    if master.client_id() == client_id {
        return Err(EnrollError::Unsuitable {
            client_id: client_id.to_owned(),
            reason: "it is the master client; rotate the master with `rotate --secret <master secret>`".into(),
        });
    }
    let existing = master
        .get_client(client_id)
        .await
        .map_err(|e| EnrollError::Master {
            arn: req.master_secret_arn.clone(),
            source: Box::new(e.into()),
        })?
        .ok_or_else(|| EnrollError::NotInMastersOrg {
            client_id: client_id.to_owned(),
            master_arn: req.master_secret_arn.clone(),
        })?;
    if existing.authorized_grant_type != GrantType::ClientCredentials {
        return Err(EnrollError::Unsuitable {
            client_id: client_id.to_owned(),
            reason: format!(
                "its grant type is {}, and only client-credentials clients are rotated",
                existing.authorized_grant_type.as_str()
            ),
        });
    }
    let role_divisions = if req.role_divisions.is_empty() {
        existing.role_divisions.clone()
    } else {
        req.role_divisions.clone()
    };
    if role_divisions.is_empty() {
        return Err(EnrollError::Unsuitable {
            client_id: client_id.to_owned(),
            reason: "it has no roleDivisions to copy; give --role ROLE_ID[:DIVISION_ID]".into(),
        });
    }
    if req.role_rule {
        // The new clients get `role_divisions`; retiring this client edits it (its own roles).
        let wanted: Vec<RoleDivision> = role_divisions.iter().chain(&existing.role_divisions).cloned().collect();
        let held = genesys_core::role_rule::held_by(&master)
            .await
            .map_err(|e| EnrollError::Master {
                arn: req.master_secret_arn.clone(),
                source: Box::new(e.into()),
            })?;
        let missing = genesys_core::role_rule::missing(&held, &wanted);
        if !missing.is_empty() {
            return Err(EnrollError::Master {
                arn: req.master_secret_arn.clone(),
                source: Box::new(DeploymentError::MasterLacksRoles {
                    master_client_id: master.client_id().to_owned(),
                    missing: genesys_core::role_rule::describe(&missing),
                }),
            });
        }
    }
    let token_lifetime = req
        .token_lifetime
        .or_else(|| {
            existing
                .access_token_validity_seconds
                .and_then(|s| TokenLifetime::new(s.into()).ok())
        })
        .unwrap_or(TokenLifetime::DEFAULT);
    Ok(Checked {
        organization_id,
        role_divisions,
        token_lifetime,
    })
}

/// Fails unless `tokens/me` names client `expected`; answers the organization it names.
fn named_client(me: &TokenInfo, expected: &str) -> Result<Option<String>, EnrollError> {
    match me.o_auth_client.as_ref().map(|c| c.id.as_str()) {
        Some(seen) if seen == expected => {}
        seen => {
            return Err(EnrollError::WrongClient {
                expected: expected.to_owned(),
                seen: seen.unwrap_or("(none named)").to_owned(),
            })
        }
    }
    Ok(me
        .organization
        .as_ref()
        .or(me.home_organization.as_ref())
        .map(|o| o.id.clone()))
}

/// The value of the new secret, in the documented format.
fn secret_json(req: &EnrollRequest, roles: &[RoleDivision], lifetime: TokenLifetime) -> SecretString {
    let mut value = json!({
        "clientId": req.credentials.client_id.as_str(),
        "clientSecret": req.credentials.client_secret.expose_secret(),
        "region": req.region.domain(),
        "masterSecretArn": req.master_secret_arn,
        "namePrefix": req.name_prefix.as_str(),
        "roleDivisions": roles,
        "tokenLifetimeSeconds": lifetime.seconds(),
    });
    if let Some(d) = &req.description {
        value["description"] = Value::String(d.clone());
    }
    SecretString::from(value.to_string())
}

/// Another served secret as far as the prefix rule cares, read leniently from its AWSCURRENT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedPrefix {
    /// The secret.
    pub arn: String,
    /// Its region, if readable.
    pub region: Option<Region>,
    /// Its master secret.
    pub master_secret_arn: Option<String>,
    /// Its prefix.
    pub prefix: NamePrefix,
}

/// The served secrets whose prefix overlaps `prefix` in `region` (equal, or one the start of
/// the other): the candidates for a clash, before their organization is known.
pub fn overlapping<'a>(prefix: &NamePrefix, region: Region, served: &'a [ServedPrefix]) -> Vec<&'a ServedPrefix> {
    served
        .iter()
        .filter(|s| s.region.is_none_or(|r| r == region) && prefixes_overlap(prefix, &s.prefix))
        .collect()
}

fn served_prefix(arn: &str, json: &str) -> Option<ServedPrefix> {
    let v: Value = serde_json::from_str(json).ok()?;
    let prefix = NamePrefix::parse(v.get("namePrefix")?.as_str()?).ok()?;
    Some(ServedPrefix {
        arn: arn.to_owned(),
        region: v
            .get("region")
            .and_then(Value::as_str)
            .and_then(|r| Region::parse(r).ok()),
        master_secret_arn: v.get("masterSecretArn").and_then(Value::as_str).map(str::to_owned),
        prefix,
    })
}

/// Refuses a prefix that overlaps another served secret's in the same organization: same
/// region, and the same master secret or a master whose `tokens/me` names the same
/// organization. One whose organization cannot be told is refused too.
async fn check_prefix<S: SecretStore>(
    deployment: &Deployment<S>,
    req: &EnrollRequest,
    organization_id: Option<&str>,
) -> Result<(), EnrollError> {
    let mut served = Vec::new();
    for secret in deployment.store().served_secrets().await? {
        // A master secret carries no prefix; an unreadable or foreign value is no prefix either.
        let Some(value) = deployment
            .store()
            .get_value(&secret.arn, Version::Stage(AWSCURRENT))
            .await?
        else {
            continue;
        };
        if let Some(p) = served_prefix(&secret.arn, value.value.expose_secret()) {
            served.push(p);
        }
    }
    let mut orgs: HashMap<String, Result<Option<String>, String>> = HashMap::new();
    for other in overlapping(&req.name_prefix, req.region, &served) {
        let clash = || EnrollError::PrefixOverlap {
            prefix: req.name_prefix.as_str().to_owned(),
            other_prefix: other.prefix.as_str().to_owned(),
            other_arn: other.arn.clone(),
        };
        let unknown = |reason: String| EnrollError::OverlapUnknown {
            prefix: req.name_prefix.as_str().to_owned(),
            other_arn: other.arn.clone(),
            reason,
        };
        let Some(master) = &other.master_secret_arn else {
            return Err(unknown("it names no master secret".into()));
        };
        if other.region.is_none() {
            return Err(unknown("its region is unreadable".into()));
        }
        if *master == req.master_secret_arn {
            return Err(clash());
        }
        if !orgs.contains_key(master) {
            let org = async {
                let client = deployment
                    .master_of(master, req.region)
                    .await
                    .map_err(|e| e.to_string())?;
                let me = client.token_info().await.map_err(|e| e.to_string())?;
                Ok(me.organization.or(me.home_organization).map(|o| o.id))
            }
            .await;
            orgs.insert(master.clone(), org);
        }
        match (&orgs[master], organization_id) {
            (Ok(Some(theirs)), Some(ours)) if theirs != ours => {}
            (Ok(_), Some(_)) => return Err(clash()),
            (Ok(_), None) => return Err(unknown("tokens/me named no organization".into())),
            (Err(e), _) => return Err(unknown(format!("its master does not work: {e}"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use genesys_core::domain::ClientId;

    fn prefix(s: &str) -> NamePrefix {
        NamePrefix::parse(s).unwrap()
    }

    fn served(arn: &str, region: Option<Region>, p: &str) -> ServedPrefix {
        ServedPrefix {
            arn: arn.into(),
            region,
            master_secret_arn: Some("m".into()),
            prefix: prefix(p),
        }
    }

    #[test]
    fn tokens_me_must_name_the_client_given() {
        let me = |client: Option<&str>| -> TokenInfo {
            serde_json::from_value(serde_json::json!({
                "organization": {"id": "org-1"},
                "OAuthClient": client.map(|id| serde_json::json!({"id": id})),
            }))
            .unwrap()
        };
        assert_eq!(named_client(&me(Some("c1")), "c1").unwrap(), Some("org-1".into()));
        let other = named_client(&me(Some("c2")), "c1").unwrap_err();
        assert!(other.to_string().contains("belongs to client c2, not to c1"), "{other}");
        let none = named_client(&me(None), "c1").unwrap_err();
        assert!(none.to_string().contains("(none named)"), "{none}");
    }

    #[test]
    fn schedules_parse_days_as_days_and_keep_other_expressions() {
        assert_eq!(Schedule::parse("rate(30 days)"), Ok(Schedule::Days(30)));
        assert_eq!(Schedule::parse(" rate(1 day) "), Ok(Schedule::Days(1)));
        assert_eq!(
            Schedule::parse("rate(4 hours)"),
            Ok(Schedule::Expression("rate(4 hours)".into()))
        );
        assert_eq!(
            Schedule::parse("cron(0 16 1,15 * ? *)"),
            Ok(Schedule::Expression("cron(0 16 1,15 * ? *)".into()))
        );
        for bad in [
            "rate(3 hours)",
            "rate(0 days)",
            "rate(1001 days)",
            "rate(days)",
            "30",
            "cron(0 16 *)",
            "rate(5 minutes)",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lambda_arns_and_secret_names_are_checked_for_shape() {
        assert!(validate_lambda_arn("arn:aws:lambda:eu-west-1:123456789012:function:genesys-rotation").is_ok());
        assert!(validate_lambda_arn("arn:aws:lambda:eu-west-1:123456789012:function:f:live").is_ok());
        assert!(validate_lambda_arn("arn:aws:secretsmanager:eu-west-1:123456789012:secret:x").is_err());
        assert!(validate_lambda_arn("genesys-rotation").is_err());
        assert!(validate_secret_name("genesys/crm-integration").is_ok());
        assert!(validate_secret_name("").is_err());
        assert!(validate_secret_name("has space").is_err());
        assert!(
            validate_secret_name("genesys/crm-AbCdEf").is_err(),
            "looks like an ARN suffix"
        );
    }

    #[test]
    fn prefixes_clash_when_equal_or_nested_in_the_same_region() {
        let ie = Region::parse("mypurecloud.ie").unwrap();
        let us = Region::parse("mypurecloud.com").unwrap();
        let all = [
            served("same", Some(ie), "crm-rot-"),
            served("shorter", Some(ie), "crm-"),
            served("longer", Some(ie), "crm-rot-eu-"),
            served("apart", Some(ie), "erp-"),
            served("other-region", Some(us), "crm-rot-"),
            served("unknown-region", None, "crm-rot-"),
        ];
        let hits: Vec<&str> = overlapping(&prefix("crm-rot-"), ie, &all)
            .iter()
            .map(|s| s.arn.as_str())
            .collect();
        assert_eq!(hits, ["same", "shorter", "longer", "unknown-region"]);
    }

    #[test]
    fn another_secrets_prefix_is_read_leniently_and_never_needs_its_secret() {
        let p = served_prefix(
            "a",
            r#"{"namePrefix":"crm-","region":"mypurecloud.ie","masterSecretArn":"m","clientSecret":"x"}"#,
        )
        .unwrap();
        assert_eq!(p.prefix.as_str(), "crm-");
        assert_eq!(p.region, Region::parse("mypurecloud.ie").ok());
        assert_eq!(
            served_prefix("a", r#"{"clientId":"master"}"#),
            None,
            "a master has no prefix"
        );
        assert_eq!(served_prefix("a", "not json"), None);
    }

    #[test]
    fn the_secret_written_is_the_documented_format_and_passes_the_rotations_validation() {
        let req = EnrollRequest {
            name: "genesys/crm".into(),
            credentials: ClientCredentials {
                client_id: ClientId::parse("2f1c8a52-8f0e-4c1e-9d6b-0d3c5c7e9a11").unwrap(),
                client_secret: SecretString::from("s3cr3t".to_owned()),
            },
            region: Region::parse("mypurecloud.ie").unwrap(),
            master_secret_arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:genesys/master-AbCdEf".into(),
            name_prefix: prefix("crm-rot-"),
            role_divisions: Vec::new(),
            token_lifetime: None,
            description: Some("CRM sync".into()),
            rotation: None,
            kms_key_id: None,
            role_rule: true,
        };
        let roles = [RoleDivision::new("r1", "*")];
        let value = secret_json(&req, &roles, TokenLifetime::new(3600).unwrap());
        let parsed = IntegrationSecret::parse(value.expose_secret()).unwrap();
        assert_eq!(parsed.credentials.client_id, req.credentials.client_id);
        assert_eq!(parsed.settings.name_prefix, req.name_prefix);
        assert_eq!(parsed.settings.role_divisions, roles);
        assert_eq!(parsed.settings.token_lifetime.seconds(), 3600);
        assert_eq!(parsed.settings.description.as_deref(), Some("CRM sync"));
        assert!(
            !format!("{req:?}").contains("s3cr3t"),
            "the request never shows the secret"
        );
    }
}
