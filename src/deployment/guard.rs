//! The AWS side of the guard ([`genesys_core::guard`]): who holds which client org-wide, and
//! what a secret can show for a client (owned by the ownership rule, or proven by its stored
//! credential). The decision itself is the core's [`genesys_core::guard::decide`]; this module
//! only gathers its inputs from Secrets Manager and Genesys.
//!
//! Holders: the clients held by the masters of every allowed master secret and by every *other*
//! served secret's AWSCURRENT and AWSPENDING, found by the served tag
//! ([`crate::store::SERVED_TAG`], secrets scheduled for deletion included), their AWSCURRENT
//! values read 20 to a call (BatchGetSecretValue), so a rotation's reads grow by one call per
//! 20 served secrets, not one per secret. Client ids are
//! unique across Genesys Cloud, so one view over every served secret covers every org the
//! deployment reaches. What cannot be read is recorded, never skipped: the decision then refuses
//! every touch (fail closed) and names it. A value that is read but holds no `clientId` holds no
//! client.

use std::collections::{HashMap, HashSet};

use secrecy::ExposeSecret;
use time::OffsetDateTime;
use tracing::warn;

use super::context::Deployment;
use super::error::DeploymentError;
use crate::secret_format::IntegrationSecret;
use crate::store::{
    SecretDescription, SecretStore, SecretValue, StoreError, Version, AWSCURRENT, AWSPENDING, AWSPREVIOUS, BATCH_LIMIT,
};
use genesys_core::genesys::{ClientState, OAuthClient};
use genesys_core::guard::ownership::{Foreign, Owner};
use genesys_core::guard::{prove_possession, Holders, Proof, Standing};

/// What one reading of every possible holder found ([`Deployment::census`]).
#[derive(Default)]
pub(crate) struct Census {
    /// Who holds which client, and what could not be read.
    pub(crate) holders: Holders,
    /// The served secrets as listed; `None` if the listing failed (see `listing_error`).
    pub(crate) served: Option<Vec<SecretDescription>>,
    /// Why the listing failed.
    pub(crate) listing_error: Option<DeploymentError>,
    /// The AWSCURRENT value read of each served secret (by ARN) whose version is the one the
    /// listing showed.
    pub(crate) current: HashMap<String, SecretValue>,
}

/// Records what one version holds. AWSCURRENT must have a value (a listed secret that reads as
/// missing is unreadable, not empty); AWSPENDING may have none yet (a rotation before its
/// createSecret).
fn record(holders: &mut Holders, arn: &str, stage: &str, read: Result<Option<SecretValue>, StoreError>, who: &str) {
    match read {
        Ok(Some(value)) => match crate::secret_format::client_id_in(value.value.expose_secret()) {
            Some(id) => holders.hold(id, format!("{stage} of {who}")),
            None => {
                warn!(secret_arn = %arn, stage, "a served version holds no readable clientId: it holds no client")
            }
        },
        Ok(None) if stage == AWSPENDING => {}
        Ok(None) => holders.unreadable(arn, format!("{stage} of {who} has no value")),
        Err(e) => {
            warn!(secret_arn = %arn, stage, error = %e, "a possible holder could not be read: no client is retired");
            holders.unreadable(arn, format!("{stage} of {who}: {e}"));
        }
    }
}

/// Whether a recorded proof alone stands for a client that is no longer active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// For retirement: deactivating an inactive client changes nothing, and the cleanup deletes
    /// only owned clients, so the record may stand (a finishSecret retried after an earlier
    /// attempt deactivated the client still sends its drain message).
    EnoughWhenInactive,
    /// For writing into an integration credential: only a live proof.
    NeedsLiveProof,
}

impl<S: SecretStore> Deployment<S> {
    /// The clients that the masters and the served secrets other than `except` hold, and which
    /// of them could not be read. See [`census`](Self::census).
    pub(crate) async fn holders(&self, except: &str) -> Holders {
        // Boxed: the census is a long chain of calls, awaited deep inside a step.
        Box::pin(self.census(except)).await.holders
    }

    /// One reading of every possible holder: the [`Holders`] of the masters and of the served
    /// secrets other than `except` (`""`: all of them), with the listing and the AWSCURRENT
    /// values read, for a caller that goes on to use them (the scheduled pass).
    ///
    /// Calls: ListSecrets (one per 100 served secrets); BatchGetSecretValue of the AWSCURRENT
    /// values, one per [`BATCH_LIMIT`] other served secrets; GetSecretValue of AWSPENDING only
    /// for a secret whose listed stages show a rotation pending; each allowed master's AWSCURRENT
    /// and AWSPENDING, once per invocation ([`super::invocation`]).
    ///
    /// As strict as one read per secret: a secret the batch answers with an error, does not
    /// answer, answers without a value, or answers with another AWSCURRENT version than the
    /// listing showed (it moved in between), is unreadable, and the decision fails closed.
    pub(crate) async fn census(&self, except: &str) -> Census {
        let mut census = Census::default();
        let holders = &mut census.holders;
        for arn in &self.config().allowed_master_arns {
            for stage in [AWSCURRENT, AWSPENDING] {
                let who = format!("master secret {arn}");
                let read = self.master_value(arn, stage).await;
                record(holders, arn, stage, read, &who);
            }
        }
        let served = match self.served_secrets().await {
            Ok(served) => served,
            Err(e) => {
                warn!(error = %e, "the served secrets could not be listed: no client is retired");
                holders.unreadable("*", format!("the list of served secrets: {e}"));
                census.listing_error = Some(e);
                return census;
            }
        };
        let others: Vec<&SecretDescription> = served.iter().filter(|s| s.arn != except).collect();
        let mut readable = Vec::with_capacity(others.len());
        for secret in &others {
            match secret.version_with(AWSCURRENT) {
                Some(current) => readable.push((secret.arn.as_str(), current)),
                None => holders.unreadable(&secret.arn, "no AWSCURRENT version listed"),
            }
        }
        for chunk in readable.chunks(BATCH_LIMIT) {
            let ids: Vec<&str> = chunk.iter().map(|(arn, _)| *arn).collect();
            let batch = Box::pin(self.store().current_values(&ids)).await;
            for &(arn, listed) in chunk {
                let who = format!("secret {arn}");
                let answer = match &batch {
                    Err(e) => Err(e.to_string()),
                    Ok(batch) => batch
                        .answer_for(arn)
                        .unwrap_or_else(|| Err("BatchGetSecretValue answered nothing for it".into())),
                };
                match answer {
                    Ok(value) if value.version_id == listed => {
                        record(holders, arn, AWSCURRENT, Ok(Some(value.clone())), &who);
                        census.current.insert(arn.to_owned(), value.clone());
                    }
                    Ok(value) => {
                        // It moved since the listing: the version the listing named is no
                        // longer readable as AWSCURRENT, so the view is incomplete (as a read of
                        // the listed version by id and label would find it).
                        record(holders, arn, AWSCURRENT, Ok(Some(value.clone())), &who);
                        holders.unreadable(
                            arn,
                            format!(
                                "{AWSCURRENT} of {who} moved from version {listed} to {} after the listing",
                                value.version_id
                            ),
                        );
                    }
                    Err(why) => {
                        warn!(secret_arn = %arn, stage = AWSCURRENT, error = %why, "a possible holder could not be read: no client is retired");
                        holders.unreadable(arn, format!("{AWSCURRENT} of {who}: {why}"));
                    }
                }
            }
        }
        for secret in &others {
            let current = secret.version_with(AWSCURRENT);
            let Some(pending) = secret
                .version_with(AWSPENDING)
                .filter(|p| current.is_some() && Some(*p) != current)
            else {
                continue;
            };
            let read = self
                .store()
                .get_value(&secret.arn, Version::IdAndStage(pending, AWSPENDING))
                .await;
            record(
                holders,
                &secret.arn,
                AWSPENDING,
                read,
                &format!("secret {}", secret.arn),
            );
        }
        census.served = Some(served);
        census
    }

    /// What the secret `arn` can show for its current client, before createSecret changes
    /// anything: owned by the ownership rule (judged over `clients`, the org's listing, and
    /// every version id of the secret), or else proven now by the current credential (a token,
    /// and `tokens/me` names the client). A transient failure of the proof fails the step.
    pub(crate) async fn standing_of_current(
        &self,
        arn: &str,
        current: &IntegrationSecret,
        version_ids: &HashSet<String>,
        clients: &[OAuthClient],
    ) -> Result<Standing, DeploymentError> {
        let id = current.credentials.client_id.as_str();
        let owner = Owner {
            id: arn,
            prefix: &current.settings.name_prefix,
            versions: version_ids,
        };
        let foreign = match clients.iter().find(|c| c.id == id).map(|c| owner.judge(c)) {
            Some(Ok(version)) => return Ok(Standing::Owned { version }),
            Some(Err(foreign)) => foreign,
            None => Foreign::Unlisted,
        };
        self.prove(current, foreign).await
    }

    /// What the secret `arn` can show, at finishSecret, for `client`, the client its replaced
    /// version `old_version` (whose value is `old`) held: owned (made for that version), or a
    /// proof that createSecret recorded (`record`, from the version now replacing it) *and* that
    /// holds again now. The record alone is not enough: it is text in a secret's value, which
    /// whoever may write the secret could forge; the live proof needs the client's real secret.
    /// `recorded` says whether the record alone may stand for a client that is no longer active
    /// (no live proof is then possible; see [`Recorded`]).
    pub(crate) async fn standing_at_finish(
        &self,
        arn: &str,
        old_version: &str,
        old: &IntegrationSecret,
        client: &OAuthClient,
        record: Option<&Proof>,
        recorded: Recorded,
    ) -> Result<Standing, DeploymentError> {
        let versions = HashSet::from([old_version.to_owned()]);
        let owner = Owner {
            id: arn,
            prefix: &old.settings.name_prefix,
            versions: &versions,
        };
        let foreign = match owner.judge(client) {
            Ok(version) => return Ok(Standing::Owned { version }),
            Err(foreign) => foreign,
        };
        let Some(record) = record.filter(|p| p.client_id == client.id) else {
            return Ok(Standing::Unproven {
                foreign,
                not_proven: None,
            });
        };
        if recorded == Recorded::EnoughWhenInactive && client.effective_state() != ClientState::Active {
            return Ok(Standing::Proven(record.clone()));
        }
        self.prove(old, foreign).await
    }

    /// The live proof of possession with `secret`'s stored credential.
    async fn prove(&self, secret: &IntegrationSecret, foreign: Foreign) -> Result<Standing, DeploymentError> {
        let client = self.genesys_client(secret.settings.region, secret.credentials.clone());
        let claimed = secret.credentials.client_id.as_str();
        Ok(
            match prove_possession(&client, claimed, OffsetDateTime::now_utc()).await? {
                Ok(proof) => Standing::Proven(proof),
                Err(not_proven) => Standing::Unproven {
                    foreign,
                    not_proven: Some(not_proven),
                },
            },
        )
    }

    /// What an operator should know about how secret `arn` shares its org, for `check`: other
    /// served secrets whose prefix is the same as or nested with this one's (harmless under the
    /// ownership rule, confusing in a client list), clients of this secret that someone else
    /// holds (the current client, which the next rotation will leave active; the previous one,
    /// left active by the last rotation for that reason), possible holders that cannot be read,
    /// and a current client the secret neither owns nor can prove it holds. Changes nothing.
    pub async fn sharing_warnings(&self, arn: &str) -> Result<Vec<String>, DeploymentError> {
        let desc = self.store().describe(arn).await?;
        if self.is_master(&desc) {
            return Ok(Vec::new());
        }
        let current = self.read_current(&desc).await?;
        let prefix = &current.settings.name_prefix;
        // One reading of the other served secrets serves both the prefix check and the holders.
        let census = Box::pin(self.census(&desc.arn)).await;
        let Some(served) = &census.served else {
            return Err(census.listing_error.expect("a census without a listing says why"));
        };
        let mut warnings = Vec::new();
        for other in served.iter().filter(|s| s.arn != desc.arn) {
            let Some(theirs) = census
                .current
                .get(&other.arn)
                .and_then(|value| self.integration_from(&other.arn, AWSCURRENT, value).ok())
            else {
                continue;
            };
            let same_org = theirs.settings.region == current.settings.region
                && theirs.settings.master_secret_arn == current.settings.master_secret_arn;
            if same_org && genesys_core::guard::ownership::prefixes_overlap(prefix, &theirs.settings.name_prefix) {
                warnings.push(format!(
                    "namePrefix {:?} overlaps {:?} of {} in the same organization: harmless (clients are told apart \
                 by version and marker), but a reader of the client list may confuse them; prefer distinct prefixes",
                    prefix.as_str(),
                    theirs.settings.name_prefix.as_str(),
                    other.arn
                ));
            }
        }
        let holders = census.holders;
        if let Some((secret, why)) = holders.first_unreadable() {
            warnings.push(format!(
                "{secret} cannot be read ({why}): until it can, no rotation retires any client (fail closed)"
            ));
        }
        if let Some(holder) = holders.holder(&current.credentials.client_id) {
            warnings.push(format!(
                "the current client {} is also held by {holder}: the next rotation will leave it active; rotate \
                 the other holders too, then retire it by hand",
                current.credentials.client_id
            ));
        }
        let master = self.master(&current).await?;
        let listing = master.list_all_clients().await?;
        let config = self.reconcile_config();
        let soft_deleted = listing.clients.iter().filter(|c| c.is_soft_deleted()).count();
        let left = config
            .client_limit
            .saturating_sub(config.limit_margin)
            .saturating_sub(listing.len());
        if left <= config.limit_margin {
            warnings.push(format!(
                "the organization lists {} clients ({soft_deleted} of them soft-deleted, which still count) of its limit of \
                 {} (CLIENT_LIMIT): {left} create(s) left before createSecret refuses (CLIENT_LIMIT_MARGIN {}); delete \
                 unused clients or raise the limit",
                listing.len(),
                config.client_limit,
                config.limit_margin
            ));
        }
        let clients = listing.clients;
        let versions = self.store().version_ids(&desc.arn).await?;
        if let Standing::Unproven { foreign, not_proven } = self
            .standing_of_current(&desc.arn, &current, &versions, &clients)
            .await?
        {
            let why = not_proven.map(|n| n.to_string()).unwrap_or_default();
            warnings.push(format!(
                "the current client {} is not this secret's ({foreign}) and the stored credential does not prove it \
                 holds it ({why}): the next rotation will make a new client but keep this one active",
                current.credentials.client_id
            ));
        }
        if let Some(previous) = self.read_integration(&desc.arn, Version::Stage(AWSPREVIOUS)).await? {
            let id = &previous.credentials.client_id;
            if let Some(holder) = holders.holder(id) {
                warnings.push(format!(
                    "the previous client {id} was left active because {holder} holds it; retire it by hand once \
                 nothing does"
                ));
            }
        }
        Ok(warnings)
    }
}
