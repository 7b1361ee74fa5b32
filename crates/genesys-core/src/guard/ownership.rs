//! Ownership: the one rule that says whether a Genesys OAuth client belongs to the owner acting
//! on it (for the Lambdas, a secret), and since when a retired client has been retired. It is one
//! of the two ways a client can belong to an actor (the other is a proof of possession); the
//! decision whether a client may be touched at all is [`crate::guard::decide`]'s.
//!
//! The org is shared: other teams' clients, the masters, and the clients of every secret, some
//! with identical or nested name prefixes. A name alone proves nothing, so a client is owned
//! only if three independent facts agree (see docs/design/ownership.md):
//! 1. its name is `<prefix><version id>`;
//! 2. that version id is one of the owner's own versions (the owner's record, not the name);
//! 3. its description carries the marker naming the owner ([`marker`]), written at create.
//!
//! Integration credentials (a Data Action's copy of a client id and secret inside Genesys) have
//! their own rule, [`judge_credential`]: one is updated only if it provably holds the owner's
//! client.
//!
//! Knows nothing of AWS: an owner is an id, a prefix and a set of version ids.

use std::collections::HashSet;
use std::fmt;

use time::OffsetDateTime;

use crate::classify::Classify;
use crate::domain::{CredentialId, NamePrefix};
use crate::genesys::{ClientState, Credential, OAuthClient, OAUTH_CLIENT_CREDENTIAL_TYPE};

const MARKER_HEAD: &str = "Managed by genesys-rotator for ";
const MARKER_TAIL: &str = "; do not edit";

/// The marker naming `owner` that every client the rotator creates carries in its description.
/// The closing `; do not edit` makes one owner's marker never a prefix of another's.
pub fn marker(owner: &str) -> String {
    format!("{MARKER_HEAD}{owner}{MARKER_TAIL}")
}

/// The description of a new client of `owner`: the owner's own text, if any, then the marker.
pub fn description(owner: &str, custom: Option<&str>) -> String {
    match custom.map(str::trim).filter(|c| !c.is_empty()) {
        Some(custom) => format!("{custom} ({})", marker(owner)),
        None => marker(owner),
    }
}

/// Who acts on clients: an id (a secret's ARN), its name prefix and every version id it has.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    /// The id the marker names.
    pub id: &'a str,
    /// The prefix of its clients' names.
    pub prefix: &'a NamePrefix,
    /// Every version id the owner has had (deprecated ones included).
    pub versions: &'a HashSet<String>,
}

/// Why a client is not owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreign {
    /// The name is not `<prefix><something>`.
    Name,
    /// The part after the prefix is not one of the owner's version ids.
    NotAVersion,
    /// The description does not carry the owner's marker.
    NoMarker,
    /// The organization's client list does not show it (gone, or an item that did not decode).
    Unlisted,
}

impl fmt::Display for Foreign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Foreign::Name => "its name does not start with the owner's prefix",
            Foreign::NotAVersion => "its name does not end in a version id of the owner",
            Foreign::NoMarker => "its description does not carry the owner's marker",
            Foreign::Unlisted => "the organization's client list does not show it",
        })
    }
}

impl Owner<'_> {
    /// The version id the client was made for, if the client provably belongs to this owner.
    pub fn judge(&self, client: &OAuthClient) -> Result<String, Foreign> {
        self.judge_parts(&client.name, client.description.as_deref())
    }

    /// [`judge`](Self::judge) from a name and a description.
    pub fn judge_parts(&self, name: &str, description: Option<&str>) -> Result<String, Foreign> {
        let version = name.strip_prefix(self.prefix.as_str()).ok_or(Foreign::Name)?;
        if !self.versions.contains(version) {
            return Err(Foreign::NotAVersion);
        }
        if !description.is_some_and(|d| d.contains(&marker(self.id))) {
            return Err(Foreign::NoMarker);
        }
        Ok(version.to_owned())
    }

    /// Whether the client provably belongs to this owner.
    pub fn owns(&self, client: &OAuthClient) -> bool {
        self.judge(client).is_ok()
    }
}

/// When `client` was retired, as far as can be proven: for an inactive or disabled client its
/// `dateModified`, which is at or after the PUT that deactivated it, so any age counted from it
/// errs on the side of keeping. `None` for a client that is active (never retired) or shows no
/// `dateModified` (nothing proves how long it has drained).
pub fn retired_since(client: &OAuthClient) -> Option<OffsetDateTime> {
    match client.effective_state() {
        ClientState::Inactive | ClientState::Disabled => client.date_modified,
        _ => None,
    }
}

/// Two prefixes of which one starts with the other (identical included). Harmless under the
/// ownership rule, but confusing to a reader of the client list: worth a warning.
pub fn prefixes_overlap(a: &NamePrefix, b: &NamePrefix) -> bool {
    a.as_str().starts_with(b.as_str()) || b.as_str().starts_with(a.as_str())
}

/// Which of the owner's clients an integration credential holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialHolds {
    /// The client the owner holds now (the one being replaced).
    Current,
    /// The owner's next client: an earlier attempt already wrote it.
    Next,
}

/// Why an integration credential may not be touched. None of these passes with a retry: a
/// person has to fix the secret's list or the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialRefusal {
    /// Genesys has no credential with this id (HTTP 404).
    NotFound,
    /// Its type is not one that holds an OAuth client ([`OAUTH_CLIENT_CREDENTIAL_TYPE`]).
    UnsupportedType(Option<String>),
    /// The answer does not show which client it holds, so nothing proves it is the owner's.
    ClientUnknown,
    /// It holds another client: someone else's, never to be overwritten.
    HeldByOther(String),
    /// It holds the owner's current client, but the owner neither owns that client nor proved
    /// it holds it: the owner's word that the client is its own is not enough.
    CurrentUnproven(String),
}

/// A listed integration credential that may not be touched, naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("integration credential {credential_id}: {}", describe(.refusal))]
pub struct CredentialRefused {
    /// The credential.
    pub credential_id: CredentialId,
    /// Why.
    pub refusal: CredentialRefusal,
}

fn describe(refusal: &CredentialRefusal) -> String {
    match refusal {
        CredentialRefusal::NotFound => "does not exist in this organization (check the id in the secret's \
                                        integrationCredentials)"
            .to_owned(),
        CredentialRefusal::UnsupportedType(name) => format!(
            "is of type {}, not {OAUTH_CLIENT_CREDENTIAL_TYPE}: only a credential that holds an OAuth client \
             (clientId and clientSecret) can be kept in step",
            name.as_deref().unwrap_or("(none given)")
        ),
        CredentialRefusal::ClientUnknown => "Genesys Cloud does not show which client it holds, so nothing \
                                             proves it holds this secret's client: it is left alone"
            .to_owned(),
        CredentialRefusal::HeldByOther(id) => format!(
            "holds client {id}, not this secret's: it is someone else's and is left alone (remove it from the \
             secret's integrationCredentials, or point it at this secret's client by hand first)"
        ),
        CredentialRefusal::CurrentUnproven(id) => format!(
            "holds client {id}, which this secret names but neither owns nor proves it holds (its stored \
             credential did not authenticate as that client): it is left alone"
        ),
    }
}

impl Classify for CredentialRefused {
    fn is_retryable(&self) -> bool {
        false
    }

    fn kind(&self) -> &'static str {
        match self.refusal {
            CredentialRefusal::NotFound => "IntegrationCredentialNotFound",
            CredentialRefusal::UnsupportedType(_) => "IntegrationCredentialUnsupported",
            CredentialRefusal::ClientUnknown
            | CredentialRefusal::HeldByOther(_)
            | CredentialRefusal::CurrentUnproven(_) => "IntegrationCredentialNotOwned",
        }
    }

    fn call_name(&self) -> Option<&'static str> {
        None
    }
}

/// Whether `credential` (the answer to a GET, `None` for a 404) may be given the owner's next
/// client: only if it is an OAuth client credential whose `clientId` names the owner's
/// `current` client, and the owner owns or proved it holds that client (`current_vouched`, see
/// [`crate::guard`]: a secret's `clientId` alone is a claim), or, once an earlier attempt wrote
/// it, the owner's `next` one (tested by the rotation before any credential is written).
pub fn judge_credential(
    credential_id: &CredentialId,
    credential: Option<&Credential>,
    current: &str,
    current_vouched: bool,
    next: Option<&str>,
) -> Result<CredentialHolds, CredentialRefused> {
    let refused = |refusal| CredentialRefused {
        credential_id: credential_id.clone(),
        refusal,
    };
    let credential = credential.ok_or_else(|| refused(CredentialRefusal::NotFound))?;
    if credential.type_name() != Some(OAUTH_CLIENT_CREDENTIAL_TYPE) {
        return Err(refused(CredentialRefusal::UnsupportedType(
            credential.type_name().map(str::to_owned),
        )));
    }
    match credential.client_id() {
        None => Err(refused(CredentialRefusal::ClientUnknown)),
        Some(held) if held == current && current_vouched => Ok(CredentialHolds::Current),
        Some(held) if Some(held) == next => Ok(CredentialHolds::Next),
        Some(held) if held == current => Err(refused(CredentialRefusal::CurrentUnproven(held.to_owned()))),
        Some(held) => Err(refused(CredentialRefusal::HeldByOther(held.to_owned()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:crm-a-AbCdEf";
    const AB: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:crm-a-AbCdEfG";
    const V1: &str = "0b0e7c9e-5c1f-4d6e-9f7a-2b8c1d3e4f5a";
    const V2: &str = "7d2f9a10-1111-4c2d-8e3f-4a5b6c7d8e9f";

    fn client(name: &str, description: Option<&str>, state: &str, modified: Option<&str>) -> OAuthClient {
        serde_json::from_value(serde_json::json!({
            "id": "c1", "name": name, "description": description,
            "authorizedGrantType": "CLIENT-CREDENTIALS", "state": state,
            "dateCreated": "2025-01-01T00:00:00.000Z", "dateModified": modified,
        }))
        .unwrap()
    }

    fn versions(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_client_is_owned_only_when_name_version_and_marker_agree() {
        // GIVEN secret A with prefix crm-rot- and versions V1
        let prefix = NamePrefix::parse("crm-rot-").unwrap();
        let vs = versions(&[V1]);
        let a = Owner {
            id: A,
            prefix: &prefix,
            versions: &vs,
        };
        let mine = description(A, None);
        // THEN only the client made for V1 with A's marker is A's
        let name = format!("crm-rot-{V1}");
        assert_eq!(a.judge(&client(&name, Some(&mine), "active", None)), Ok(V1.into()));
        assert_eq!(
            a.judge(&client(&format!("crm-rot-{V2}"), Some(&mine), "active", None)),
            Err(Foreign::NotAVersion),
            "same prefix, another secret's version"
        );
        assert_eq!(
            a.judge(&client(&name, Some(&description(AB, None)), "active", None)),
            Err(Foreign::NoMarker),
            "a marker naming a secret whose ARN extends A's"
        );
        assert_eq!(a.judge(&client(&name, None, "active", None)), Err(Foreign::NoMarker));
        assert_eq!(
            a.judge(&client("crm-rot-legacy", Some(&mine), "active", None)),
            Err(Foreign::NotAVersion)
        );
        assert_eq!(
            a.judge(&client(&format!("erp-{V1}"), Some(&mine), "active", None)),
            Err(Foreign::Name)
        );
    }

    #[test]
    fn nested_prefixes_do_not_claim_each_others_clients() {
        // GIVEN secret A with prefix crm- and secret B with prefix crm-eu-
        let short = NamePrefix::parse("crm-").unwrap();
        let long = NamePrefix::parse("crm-eu-").unwrap();
        let va = versions(&[V1]);
        let vb = versions(&[V2]);
        let a = Owner {
            id: A,
            prefix: &short,
            versions: &va,
        };
        let b = Owner {
            id: AB,
            prefix: &long,
            versions: &vb,
        };
        // WHEN each judges B's client
        let bs = client(&format!("crm-eu-{V2}"), Some(&description(AB, None)), "active", None);
        // THEN only B owns it
        assert!(b.owns(&bs));
        assert_eq!(a.judge(&bs), Err(Foreign::NotAVersion));
        assert!(prefixes_overlap(&short, &long) && prefixes_overlap(&long, &long));
        assert!(!prefixes_overlap(&long, &NamePrefix::parse("erp-").unwrap()));
    }

    #[test]
    fn a_custom_description_keeps_the_marker() {
        let d = description(A, Some("CRM sync client"));
        assert!(d.starts_with("CRM sync client (") && d.contains(&marker(A)), "{d}");
        assert_eq!(description(A, Some("  ")), marker(A));
    }

    #[test]
    fn retirement_is_dated_only_for_retired_clients_with_a_modification_date() {
        let at = "2025-02-01T00:00:00.000Z";
        let when = time::macros::datetime!(2025-02-01 00:00 UTC);
        assert_eq!(retired_since(&client("x", None, "inactive", Some(at))), Some(when));
        assert_eq!(retired_since(&client("x", None, "disabled", Some(at))), Some(when));
        assert_eq!(retired_since(&client("x", None, "inactive", None)), None);
        assert_eq!(retired_since(&client("x", None, "active", Some(at))), None);
    }

    #[test]
    fn a_credential_is_ours_only_if_it_names_our_client() {
        let id = CredentialId::parse("cred-1").unwrap();
        let cred = |v: serde_json::Value| -> Credential { serde_json::from_value(v).unwrap() };
        let oauth = |client: &str| {
            cred(
                serde_json::json!({"id": "cred-1", "type": {"name": "pureCloudOAuthClient"},
                                     "credentialFields": {"clientId": client}}),
            )
        };
        assert_eq!(
            judge_credential(&id, Some(&oauth("old")), "old", true, Some("new")),
            Ok(CredentialHolds::Current)
        );
        assert_eq!(
            judge_credential(&id, Some(&oauth("new")), "old", false, Some("new")),
            Ok(CredentialHolds::Next)
        );
        let refusal = |c: Option<&Credential>, next| judge_credential(&id, c, "old", true, next).unwrap_err().refusal;
        // The secret's word that "old" is its client is not enough without ownership or a proof.
        assert_eq!(
            judge_credential(&id, Some(&oauth("old")), "old", false, Some("new"))
                .unwrap_err()
                .refusal,
            CredentialRefusal::CurrentUnproven("old".into())
        );
        assert_eq!(
            refusal(Some(&oauth("new")), None),
            CredentialRefusal::HeldByOther("new".into())
        );
        assert_eq!(
            refusal(Some(&oauth("theirs")), Some("new")),
            CredentialRefusal::HeldByOther("theirs".into())
        );
        assert_eq!(refusal(None, None), CredentialRefusal::NotFound);
        let basic = cred(serde_json::json!({"type": {"name": "basicAuth"}, "credentialFields": {"clientId": "old"}}));
        assert_eq!(
            refusal(Some(&basic), None),
            CredentialRefusal::UnsupportedType(Some("basicAuth".into()))
        );
        let masked = cred(serde_json::json!({"type": {"name": "pureCloudOAuthClient"}}));
        assert_eq!(refusal(Some(&masked), None), CredentialRefusal::ClientUnknown);
        // Every refusal is final and names the credential.
        let e = judge_credential(&id, Some(&oauth("theirs")), "old", true, None).unwrap_err();
        assert!(!e.is_retryable() && e.to_string().contains("cred-1") && e.to_string().contains("theirs"));
        assert_eq!(e.kind(), "IntegrationCredentialNotOwned");
    }
}
