//! Who holds which client, org-wide, as a front end read it: the masters, every served secret's
//! current and pending client, and the possible holders it could not read (which refuse every
//! touch: fail closed).

use std::collections::HashMap;

/// Who holds which client, org-wide: the masters of every allowed master secret and what every
/// other served secret holds in its current and pending versions, plus the possible holders that
/// could not be read. An incomplete view refuses every touch ([`super::Refusal::Unreadable`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holders {
    held: HashMap<String, String>,
    unreadable: Vec<(String, String)>,
}

impl Holders {
    /// Records that `holder` (for example `AWSCURRENT of <arn>`) holds client `client_id`.
    pub fn hold(&mut self, client_id: impl Into<String>, holder: impl Into<String>) {
        self.held.entry(client_id.into()).or_insert_with(|| holder.into());
    }

    /// Records that possible holder `secret` (a served secret, a master secret; `*` for the
    /// list of them) could not be read, and why: it may hold any client.
    pub fn unreadable(&mut self, secret: impl Into<String>, why: impl Into<String>) {
        self.unreadable.push((secret.into(), why.into()));
    }

    /// Who holds `client_id`, if anyone.
    pub fn holder(&self, client_id: &str) -> Option<&str> {
        self.held.get(client_id).map(String::as_str)
    }

    /// The first possible holder that could not be read, if any: the secret, and why.
    pub fn first_unreadable(&self) -> Option<(&str, &str)> {
        self.unreadable.first().map(|(s, why)| (s.as_str(), why.as_str()))
    }

    /// Whether every possible holder was read.
    pub fn is_complete(&self) -> bool {
        self.unreadable.is_empty()
    }
}
