//! The role rule: a client's role-division pairs must be a subset of those its creator holds,
//! and editing a client needs the client's roles (Genesys's developer center and help pages,
//! stated for users; whether it binds a client-credentials master is unconfirmed). If it binds,
//! a master with only `oauth:client:*` is refused its first create, and maybe every
//! deactivation. So every front end checks, before it relies on a master, that the master holds
//! every role-division it will assign or edit, and names the missing ones.
//!
//! A pair `(role, division)` is held when the master holds that role in that division, or in
//! division `*` (every division; unconfirmed too, so the narrowest reading that still lets a
//! `*` grant cover the rest).

use crate::genesys::{GenesysClient, GenesysError, RoleDivision};

/// The division id that stands for every division.
pub const ALL_DIVISIONS: &str = "*";

/// The pairs of `wanted` that `held` does not cover, each once, in `wanted`'s order.
pub fn missing(held: &[RoleDivision], wanted: &[RoleDivision]) -> Vec<RoleDivision> {
    let covers = |w: &RoleDivision| {
        held.iter()
            .any(|h| h.role_id == w.role_id && (h.division_id == w.division_id || h.division_id == ALL_DIVISIONS))
    };
    let mut out: Vec<RoleDivision> = Vec::new();
    for w in wanted {
        if !covers(w) && !out.contains(w) {
            out.push(w.clone());
        }
    }
    out
}

/// `role/division` pairs, comma-separated, for messages.
pub fn describe(pairs: &[RoleDivision]) -> String {
    pairs
        .iter()
        .map(|p| format!("{}/{}", p.role_id, p.division_id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The role-division pairs `master` itself holds: `tokens/me` names its client, which it reads
/// (`oauth:client:view`). A client that shows only the deprecated `roleIds` holds those in
/// every division.
pub async fn held_by(master: &GenesysClient) -> Result<Vec<RoleDivision>, GenesysError> {
    let client = match master.get_client(master.client_id()).await? {
        Some(client) => client,
        None => return Ok(Vec::new()),
    };
    if !client.role_divisions.is_empty() {
        return Ok(client.role_divisions);
    }
    Ok(client
        .role_ids
        .into_iter()
        .map(|role_id| RoleDivision {
            role_id,
            division_id: ALL_DIVISIONS.to_owned(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rd(role: &str, division: &str) -> RoleDivision {
        RoleDivision {
            role_id: role.into(),
            division_id: division.into(),
        }
    }

    #[test]
    fn a_pair_is_held_in_its_division_or_in_every_division() {
        let held = [rd("crm", "d1"), rd("reports", ALL_DIVISIONS)];
        assert!(missing(&held, &[rd("crm", "d1"), rd("reports", "d2"), rd("reports", "*")]).is_empty());
        assert_eq!(
            missing(&held, &[rd("crm", "d2"), rd("admin", "d1"), rd("crm", "d2")]),
            [rd("crm", "d2"), rd("admin", "d1")]
        );
        // A master with no roles at all (only oauth:client permissions through none) lacks all.
        assert_eq!(missing(&[], &[rd("crm", "*")]), [rd("crm", "*")]);
        assert_eq!(describe(&[rd("crm", "d2"), rd("admin", "*")]), "crm/d2, admin/*");
    }
}
