//! Which clients a bystander must never re-key: someone's master. A new secret for a master cuts
//! off whoever holds it (an OpenBao mount, a Lambda deployment, a tool), so a client is refused
//! (the OpenBao engine's static roles ask, when one is written and before every re-key: a
//! client's roles can change):
//! - (a) that is the actor's own master;
//! - (b) whose description carries a genesys-rotator ownership marker, of any owner (the actor's
//!   clients, another mount's, a Lambda secret's): its owner re-keys or replaces it;
//! - (c) any of whose roles grants an `oauth:client:*` permission (wildcards included): such a
//!   client can manage other clients, so it is someone's master.
//!
//! (c) needs the client's roles (`GET /api/v2/authorization/roles/{id}`, which needs
//! [`ROLE_VIEW_PERMISSION`]); a role that cannot be read must refuse the client (fail closed).
//! [`judge`] is the decision, pure; the front end gathers its facts.
use std::fmt;

use crate::genesys::OAuthClient;

/// The permission the master needs to read a client's roles.
pub const ROLE_VIEW_PERMISSION: &str = "authorization:role:view";

/// What one role of a client grants: its id and its permissions (`domain:entity:action`).
pub type RoleGrants = (String, Vec<String>);

/// Why a static role may not take a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// (a) It is this mount's master.
    ThisMaster,
    /// (b) Its description carries this mount's own marker: a client the mount created.
    OwnClient,
    /// (b) Its description carries another owner's marker.
    OtherOwner,
    /// (c) Role `role_id` grants `permission`, an `oauth:client:*` one.
    ManagesClients {
        /// The role.
        role_id: String,
        /// The permission that makes it a master.
        permission: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::ThisMaster => f.write_str("is the master client: rotate it with rotate-root"),
            Refusal::OwnClient => f.write_str("is a client this mount created and manages itself"),
            Refusal::OtherOwner => f.write_str(
                "carries a genesys-rotator ownership marker: another mount or secret manages it, and a new secret \
                 from here would cut it off; rotate it where it is managed",
            ),
            Refusal::ManagesClients { role_id, permission } => write!(
                f,
                "is a master: its role {role_id} grants {permission}, so it manages OAuth clients (for another \
                 mount, a Lambda deployment or a tool), and a new secret from here would cut its holder off; \
                 static roles never re-key a master: rotate it where it is used as one (rotate-root on its \
                 mount, its own Secrets Manager rotation), or take {permission} out of its roles if it is \
                 no master"
            ),
        }
    }
}

/// Whether `permission` (`domain:entity:action`, segments may be `*`) lets its holder manage
/// OAuth clients: its domain is `oauth` and entity `client` (or `*`), whatever the action. A
/// permission with fewer segments is read as covering the missing ones (fail closed).
pub fn manages_clients(permission: &str) -> bool {
    let mut parts = permission.trim().split(':');
    let matches = |part: Option<&str>, want: &str| part.is_none_or(|p| p == "*" || p.eq_ignore_ascii_case(want));
    matches(parts.next(), "oauth") && matches(parts.next(), "client")
}

/// The decision: `Ok` if a static role may re-key `client`, given this mount's master id, its own
/// marker (if it has an identity) and what each of the client's roles grants (`(role id,
/// permissions)`). The checks run in the order (a), (b), (c); the first that applies refuses.
pub fn judge(
    client: &OAuthClient,
    master_id: &str,
    own_marker: Option<&str>,
    roles: &[RoleGrants],
) -> Result<(), Refusal> {
    if client.id == master_id {
        return Err(Refusal::ThisMaster);
    }
    let description = client.description.as_deref().unwrap_or_default();
    if own_marker.is_some_and(|m| description.contains(m)) {
        return Err(Refusal::OwnClient);
    }
    if carries_any_marker(description) {
        return Err(Refusal::OtherOwner);
    }
    for (role_id, permissions) in roles {
        if let Some(permission) = permissions.iter().find(|p| manages_clients(p)) {
            return Err(Refusal::ManagesClients {
                role_id: role_id.clone(),
                permission: permission.clone(),
            });
        }
    }
    Ok(())
}

/// Whether `description` carries the ownership marker of any owner (the part of the core's
/// marker before the owner's id).
pub fn carries_any_marker(description: &str) -> bool {
    const PROBE: &str = "\u{0}";
    let marker = super::ownership::marker(PROBE);
    let head = &marker[..marker.find(PROBE).unwrap_or(marker.len())];
    description.contains(head)
}

/// Every role id `client` holds, once each: its `roleDivisions` and the deprecated `roleIds`.
pub fn role_ids(client: &OAuthClient) -> Vec<&str> {
    let mut ids: Vec<&str> = Vec::new();
    for id in client
        .role_divisions
        .iter()
        .map(|rd| rd.role_id.as_str())
        .chain(client.role_ids.iter().map(String::as_str))
    {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use crate::genesys::RoleDivision;
    use serde_json::json;

    use super::*;

    fn client(id: &str, description: Option<&str>, roles: &[&str]) -> OAuthClient {
        let mut c: OAuthClient = serde_json::from_value(json!({
            "id": id,
            "name": "n",
            "authorizedGrantType": "CLIENT-CREDENTIALS",
            "description": description,
        }))
        .unwrap();
        c.role_divisions = roles.iter().map(|r| RoleDivision::new(*r, "*")).collect();
        c
    }

    fn grants(role: &str, permissions: &[&str]) -> RoleGrants {
        (role.to_owned(), permissions.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn every_oauth_client_permission_and_wildcard_manages_clients_and_nothing_else_does() {
        for p in [
            "oauth:client:add",
            "oauth:client:edit",
            "oauth:client:delete",
            "oauth:client:view",
            "oauth:client:*",
            "oauth:*:*",
            "*:*:*",
            "*:client:view",
            "OAuth:Client:Edit",
            " oauth:client:authorize ",
            "oauth",
            "*",
            "oauth:client",
        ] {
            assert!(manages_clients(p), "{p}");
        }
        for p in [
            "conversation:communication:view",
            "authorization:role:view",
            "integrations:integration:edit",
            "oauth:token:view",
            "oauthx:client:view",
            "directory:*:*",
            "",
        ] {
            assert!(!manages_clients(p), "{p}");
        }
    }

    #[test]
    fn the_master_marked_clients_and_client_managers_are_refused_by_their_rule() {
        let own = crate::guard::ownership::marker("vault-plugin-secrets-genesys/me");
        let other_mount = crate::guard::ownership::description("vault-plugin-secrets-genesys/them", Some("x"));
        let lambda = crate::guard::ownership::marker("arn:aws:secretsmanager:eu-west-1:1:secret:s");
        let crm = grants("crm", &["conversation:communication:view"]);
        let admin = grants("admin", &["directory:user:view", "oauth:client:edit"]);
        let cases: Vec<(OAuthClient, Vec<RoleGrants>, Result<(), Refusal>)> = vec![
            // (a) this mount's master, whatever else it is
            (client("m", None, &[]), vec![admin.clone()], Err(Refusal::ThisMaster)),
            // (b) this mount's own client, another mount's, a Lambda secret's
            (client("c1", Some(&own), &[]), vec![], Err(Refusal::OwnClient)),
            (client("c2", Some(&other_mount), &[]), vec![], Err(Refusal::OtherOwner)),
            (
                client("c3", Some(&lambda), &[]),
                vec![crm.clone()],
                Err(Refusal::OtherOwner),
            ),
            // (c) a role granting oauth:client:*, after harmless ones
            (
                client("c4", Some("the CRM's master"), &["crm", "admin"]),
                vec![crm.clone(), admin.clone()],
                Err(Refusal::ManagesClients {
                    role_id: "admin".into(),
                    permission: "oauth:client:edit".into(),
                }),
            ),
            // an ordinary integration client, with or without roles or description
            (
                client("c5", Some("CRM integration"), &["crm"]),
                vec![crm.clone()],
                Ok(()),
            ),
            (client("c6", None, &[]), vec![], Ok(())),
            // a description that merely mentions the rotator is no marker
            (client("c7", Some("rotated by genesys-rotator"), &[]), vec![], Ok(())),
        ];
        for (c, roles, expected) in cases {
            assert_eq!(judge(&c, "m", Some(&own), &roles), expected, "{}", c.id);
        }
        // Without an identity yet, the mount's own marker is just another owner's.
        assert_eq!(
            judge(&client("c1", Some(&own), &[]), "m", None, &[]),
            Err(Refusal::OtherOwner)
        );
    }

    #[test]
    fn refusals_say_which_rule_and_what_to_do() {
        let r = Refusal::ManagesClients {
            role_id: "admin".into(),
            permission: "oauth:client:edit".into(),
        }
        .to_string();
        assert!(
            r.contains("is a master") && r.contains("role admin grants oauth:client:edit"),
            "{r}"
        );
        assert!(
            r.contains("rotate-root") && r.contains("take oauth:client:edit out"),
            "{r}"
        );
        assert!(Refusal::OtherOwner.to_string().contains("ownership marker"));
        assert!(Refusal::ThisMaster.to_string().contains("rotate-root"));
    }

    #[test]
    fn role_ids_are_the_role_divisions_and_the_deprecated_list_once_each() {
        let mut c = client("c", None, &["a", "b", "a"]);
        c.role_ids = vec!["b".into(), "c".into()];
        assert_eq!(role_ids(&c), ["a", "b", "c"]);
    }
}
