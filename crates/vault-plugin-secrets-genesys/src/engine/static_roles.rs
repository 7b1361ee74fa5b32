//! Static roles: an existing client (one a CRM already uses, say) whose secret the engine
//! rotates, at the role's creation, every `rotation_period` (periodic pass) and on
//! `rotate-role/<name>`; `static-creds/<name>` returns the current secret. The engine did not
//! create these clients, so it never deactivates or deletes them: it only asks the master for a
//! new secret ([`super::rekey`]). It refuses a client another static role of the mount already
//! rotates, and any master ([`super::static_guard`]: this mount's master, a client carrying any
//! genesys-rotator ownership marker, a client whose roles grant `oauth:client:*`), when the role
//! is written and again before every rotation.
use std::time::Duration;

use async_trait::async_trait;
use genesys_core::domain::ClientId;
use genesys_core::genesys::GrantType;
use genesys_core::secret::{ClientCredentials, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use tracing::info;

use super::clock::{age, rfc3339};
use super::config::Config;
use super::fields::{bad, Fields};
use super::genesys::genesys_error;
use super::identity::Identity;
use super::locks::Locks;
use super::org::Org;
use super::rekey::{self, Holder};
use super::static_guard;
use super::store::{self, StoredSecret};
use super::wal::{SecretTarget, Wal};
use crate::logical::{Context, LogicalError, Request, Response, Storage};

/// `rotation_period` when a role names none: a day.
pub const DEFAULT_ROTATION_PERIOD: Duration = Duration::from_secs(86_400);
/// Bounds of `rotation_period`: an hour to a year.
pub const ROTATION_PERIOD_RANGE: std::ops::RangeInclusive<u64> = 3600..=365 * 86_400;

const FIELDS: [&str; 2] = ["client_id", "rotation_period"];

/// A stored static role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaticRole {
    /// The client.
    pub client_id: String,
    /// Its name when the role was made (for operators).
    pub client_name: String,
    /// Its current secret.
    pub secret: Option<StoredSecret>,
    /// How often it gets a new one, in seconds.
    pub rotation_period_s: u64,
    /// When it got the current one.
    #[serde(with = "time::serde::rfc3339")]
    pub last_rotated: OffsetDateTime,
    /// Counts the secrets the engine gave it.
    pub generation: u64,
}

fn key(name: &str) -> String {
    format!("{}{name}", store::STATIC_ROLES)
}

impl StaticRole {
    /// The role `name`, if it exists.
    pub async fn load(storage: &dyn Storage, name: &str) -> Result<Option<StaticRole>, LogicalError> {
        store::get(storage, &key(name)).await
    }

    fn rotation_period(&self) -> Duration {
        Duration::from_secs(self.rotation_period_s)
    }
}

/// A static role as the [`Holder`] of its client's secret.
struct StaticHolder {
    name: String,
    role: StaticRole,
    creating: bool,
}

#[async_trait]
impl Holder for StaticHolder {
    fn target(&self) -> SecretTarget {
        SecretTarget::Static {
            role: self.name.clone(),
            creating: self.creating.then_some(self.role.rotation_period_s),
        }
    }

    fn client_id(&self) -> &str {
        &self.role.client_id
    }

    fn generation(&self) -> u64 {
        self.role.generation
    }

    fn credentials(&self) -> Option<ClientCredentials> {
        self.role
            .secret
            .as_ref()
            .and_then(|s| super::genesys::stored_credentials(&self.role.client_id, s.secret()).ok())
    }

    async fn store_secret(
        &mut self,
        storage: &dyn Storage,
        secret: SecretString,
        now: OffsetDateTime,
    ) -> Result<(), LogicalError> {
        self.role.secret = Some(StoredSecret::new(secret));
        self.role.generation += 1;
        self.role.last_rotated = now;
        store::put(storage, &key(&self.name), &self.role).await
    }
}

/// Before a rotation: re-reads `role`'s client and checks a static role may still re-key it (its
/// roles, or its description, may have changed since the role was written). Changes nothing.
async fn recheck(
    org: &Org,
    storage: &dyn Storage,
    config: &Config,
    name: &str,
    role: &StaticRole,
) -> Result<(), LogicalError> {
    let prefix = format!("static role \"{name}\" was not rotated: ");
    let result = async {
        let master = org.master(config).await?;
        let client = master
            .get_client(&role.client_id)
            .await
            .map_err(|e| genesys_error("reading its client", e))?
            .ok_or_else(|| {
                LogicalError::BadRequest(format!("client {} no longer exists in Genesys Cloud", role.client_id))
            })?;
        let own_marker = Identity::load(storage).await?.as_ref().map(Identity::marker);
        static_guard::check(&master, config.client_id.as_str(), own_marker.as_deref(), &client).await
    }
    .await;
    result.map_err(|e| {
        let e = static_guard::prefixed(&prefix, e);
        match e {
            LogicalError::BadRequest(m) => LogicalError::BadRequest(format!(
                "{m}. The role and its current secret are kept; delete the role (static-roles/{name}) if its client \
                 is to stay as it is"
            )),
            e => e,
        }
    })
}

/// `static-roles/<name>` write: creates the role (and rotates its client at once) or changes its
/// `rotation_period`.
pub async fn write(
    org: &Org,
    locks: &Locks,
    ctx: &Context,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, LogicalError> {
    let f = Fields::parse(&req.data, &format!("static-roles/{name}"), &FIELDS)?;
    let period = match f.duration("rotation_period")? {
        Some(d) if !ROTATION_PERIOD_RANGE.contains(&d.as_secs()) => {
            return Err(bad(
                "rotation_period",
                format!(
                    "must be from {} s to {} s",
                    ROTATION_PERIOD_RANGE.start(),
                    ROTATION_PERIOD_RANGE.end()
                ),
            ))
        }
        other => other,
    };
    let client_id = f
        .string("client_id")?
        .map(|id| ClientId::parse(id.trim()).map_err(|e| bad("client_id", e)))
        .transpose()?;
    let storage = ctx.storage.as_ref();
    let _guard = locks.static_role(name).await;
    if let Some(mut existing) = StaticRole::load(storage, name).await? {
        if client_id.as_ref().is_some_and(|id| *id != existing.client_id.as_str()) {
            return Err(bad(
                "client_id",
                "cannot change: delete the static role and create it again for another client",
            ));
        }
        if let Some(period) = period {
            existing.rotation_period_s = period.as_secs();
            store::put(storage, &key(name), &existing).await?;
        }
        return Ok(None);
    }
    let client_id = client_id.ok_or_else(|| bad("client_id", "is required"))?;
    let config = Config::require(storage).await?;
    let identity = Identity::load(storage).await?;
    if client_id == config.client_id.as_str() {
        return Err(bad("client_id", "is the master client: rotate it with rotate-root"));
    }
    for (other, role) in store::all::<StaticRole>(storage, store::STATIC_ROLES).await? {
        if role.client_id == client_id.as_str() {
            return Err(bad(
                "client_id",
                format!("is already rotated by static role \"{other}\""),
            ));
        }
    }
    let master = org.master(&config).await?;
    let client = master
        .get_client(&client_id)
        .await
        .map_err(|e| genesys_error("reading the client", e))?
        .ok_or_else(|| bad("client_id", "no such client in Genesys Cloud"))?;
    if client.authorized_grant_type != GrantType::ClientCredentials {
        return Err(bad(
            "client_id",
            format!(
                "is a {} client; only client-credentials clients have a secret to rotate",
                client.authorized_grant_type
            ),
        ));
    }
    let own_marker = identity.as_ref().map(Identity::marker);
    static_guard::check(&master, config.client_id.as_str(), own_marker.as_deref(), &client)
        .await
        .map_err(|e| static_guard::prefixed("field \"client_id\": ", e))?;
    let mut holder = StaticHolder {
        name: name.to_owned(),
        role: StaticRole {
            client_id: client_id.into_string(),
            client_name: client.name.clone(),
            secret: None,
            rotation_period_s: period.unwrap_or(DEFAULT_ROTATION_PERIOD).as_secs(),
            last_rotated: org.now(),
            generation: 0,
        },
        creating: true,
    };
    rekey::rotate(org, storage, &config, &mut holder).await?;
    info!(role = %name, client_id = %holder.role.client_id, "static role created; its client has a new secret");
    Ok(Some(Response {
        warnings: vec![
            "the client's previous secret stopped working: give its users the one static-creds returns".into(),
        ],
        ..Response::default()
    }))
}

/// `static-roles/<name>` read.
pub async fn read(ctx: &Context, name: &str) -> Result<Option<Response>, LogicalError> {
    let Some(role) = StaticRole::load(ctx.storage.as_ref(), name).await? else {
        return Ok(None);
    };
    Ok(Some(Response::data(json!({
        "client_id": role.client_id,
        "client_name": role.client_name,
        "rotation_period": role.rotation_period_s,
        "last_rotated": rfc3339(role.last_rotated),
        "next_rotation": rfc3339(role.last_rotated + role.rotation_period()),
    }))))
}

/// `static-roles/` list.
pub async fn list(ctx: &Context) -> Result<Option<Response>, LogicalError> {
    let keys = store::list(ctx.storage.as_ref(), store::STATIC_ROLES).await?;
    Ok(Some(Response::data(json!({ "keys": keys }))))
}

/// `static-roles/<name>` delete: forgets the role; the client keeps its current secret.
pub async fn delete(locks: &Locks, ctx: &Context, name: &str) -> Result<Option<Response>, LogicalError> {
    let _guard = locks.static_role(name).await;
    store::delete(ctx.storage.as_ref(), &key(name)).await?;
    info!(role = %name, "static role deleted; its client is left as it is");
    Ok(None)
}

/// `static-creds/<name>` read: the current secret.
pub async fn creds(org: &Org, ctx: &Context, name: &str) -> Result<Option<Response>, LogicalError> {
    let storage = ctx.storage.as_ref();
    let Some(role) = StaticRole::load(storage, name).await? else {
        return Ok(None);
    };
    let secret = role
        .secret
        .as_ref()
        .ok_or_else(|| LogicalError::Internal("the static role has no secret yet".into()))?;
    let next = role.last_rotated + role.rotation_period();
    let ttl = Duration::try_from(next - org.now()).unwrap_or(Duration::ZERO);
    let mut response = Response::data(json!({
        "client_id": role.client_id,
        "client_secret": secret.expose(),
        "last_rotated": rfc3339(role.last_rotated),
        "rotation_period": role.rotation_period_s,
        "ttl": ttl.as_secs(),
    }));
    let target = SecretTarget::Static {
        role: name.to_owned(),
        creating: None,
    };
    if Wal::all(storage).await?.iter().any(|w| w.changes(&target)) {
        response.warnings.push(
            "a rotation of this client was interrupted: this secret may have stopped working; the periodic pass \
             gives the client a new one within minutes"
                .into(),
        );
    }
    Ok(Some(response))
}

/// `rotate-role/<name>` write: rotates now.
pub async fn rotate_now(
    org: &Org,
    locks: &Locks,
    ctx: &Context,
    req: &Request,
    name: &str,
) -> Result<Option<Response>, LogicalError> {
    Fields::parse(&req.data, &format!("rotate-role/{name}"), &[])?;
    let storage = ctx.storage.as_ref();
    let config = Config::require(storage).await?;
    let _guard = locks.static_role(name).await;
    let role = StaticRole::load(storage, name)
        .await?
        .ok_or_else(|| LogicalError::BadRequest(format!("static role \"{name}\" does not exist")))?;
    recheck(org, storage, &config, name, &role).await?;
    let mut holder = StaticHolder {
        name: name.to_owned(),
        role,
        creating: false,
    };
    rekey::rotate(org, storage, &config, &mut holder).await?;
    Ok(Some(Response::data(json!({
        "client_id": holder.role.client_id,
        "last_rotated": rfc3339(holder.role.last_rotated),
    }))))
}

/// Rotates every static role whose period has passed (periodic pass); returns how many.
pub async fn rotate_due(
    org: &Org,
    locks: &Locks,
    storage: &dyn Storage,
    config: &Config,
) -> Result<usize, LogicalError> {
    let mut rotated = 0;
    for (name, role) in store::all::<StaticRole>(storage, store::STATIC_ROLES).await? {
        if age(role.last_rotated, org.now()) < role.rotation_period() {
            continue;
        }
        let _guard = locks.static_role(&name).await;
        let Some(role) = StaticRole::load(storage, &name).await? else {
            continue;
        };
        if age(role.last_rotated, org.now()) < role.rotation_period() {
            continue;
        }
        if let Err(e) = recheck(org, storage, config, &name, &role).await {
            tracing::warn!(role = %name, error = %e, "scheduled rotation of a static role refused; the next pass checks again");
            continue;
        }
        let mut holder = StaticHolder {
            name: name.clone(),
            role,
            creating: false,
        };
        match rekey::rotate(org, storage, config, &mut holder).await {
            Ok(()) => rotated += 1,
            Err(e) => {
                tracing::warn!(role = %name, error = %e, "scheduled rotation of a static role failed; the next pass tries again")
            }
        }
    }
    Ok(rotated)
}

/// Rolls forward a settled new-secret record of static role `role` (`creating`: the rotation
/// period of a role whose creation it was).
pub async fn roll_forward(
    org: &Org,
    locks: &Locks,
    storage: &dyn Storage,
    config: &Config,
    wal: &Wal,
    role_name: &str,
    creating: Option<u64>,
) -> Result<(), LogicalError> {
    let _guard = locks.static_role(role_name).await;
    let client_id = match &wal.kind {
        super::wal::WalKind::NewSecret { client_id, .. } => client_id.clone(),
        _ => return Ok(()),
    };
    let mut holder = match (StaticRole::load(storage, role_name).await?, creating) {
        (Some(role), _) => StaticHolder {
            name: role_name.to_owned(),
            role,
            creating: false,
        },
        // The creation's answer was lost: finish creating the role with a new secret.
        (None, Some(period)) => StaticHolder {
            name: role_name.to_owned(),
            role: StaticRole {
                client_name: org
                    .master(config)
                    .await?
                    .get_client(&client_id)
                    .await
                    .ok()
                    .flatten()
                    .map(|c| c.name)
                    .unwrap_or_default(),
                client_id: client_id.clone(),
                secret: None,
                rotation_period_s: period,
                last_rotated: org.now(),
                generation: 0,
            },
            creating: true,
        },
        (None, None) => return rekey::roll_forward(org, storage, config, wal, None).await,
    };
    rekey::roll_forward(org, storage, config, wal, Some(&mut holder)).await
}

#[cfg(all(test, feature = "endpoint-overrides"))]
mod tests {
    use genesys_emulator::{SeedClient, SeededClient};
    use serde_json::json;

    use super::*;
    use crate::engine::limits::SETTLE;
    use crate::engine::testing::{crash_points, Fixture, Run, ROLE_ID};
    use crate::logical::{Operation, Request};

    fn crm_client(f: &Fixture) -> SeededClient {
        f.emu.seed_client(SeedClient::new(
            "crm-prod-integration",
            &["conversation:communication:view"],
        ))
    }

    fn current_secret(f: &Fixture, id: &str) -> String {
        f.emu.clients().into_iter().find(|c| c.id == id).unwrap().secret
    }

    #[tokio::test]
    async fn a_static_role_rotates_its_client_at_once_and_static_creds_return_it() {
        // GIVEN a client a CRM uses
        let f = Fixture::with_role().await;
        let crm = crm_client(&f);
        // WHEN a static role takes it
        let r = f
            .write(
                "static-roles/crm",
                json!({"client_id": crm.id, "rotation_period": "24h"}),
            )
            .await
            .unwrap()
            .unwrap();
        assert!(r.warnings[0].contains("previous secret stopped working"));
        // THEN its old secret is dead, and static-creds return the new one, which works
        assert!(f.emu.token_grantable(&crm.id, &crm.secret).is_err());
        let creds = f.read("static-creds/crm").await.unwrap();
        let secret = Fixture::field(&creds, "client_secret");
        assert_eq!(secret, current_secret(&f, &crm.id));
        f.emu.token_grantable(&crm.id, &secret).unwrap();
        let ttl = creds.unwrap().data["ttl"].as_u64().unwrap();
        assert!((86_000..=86_400).contains(&ttl), "{ttl}");
        // AND the role reads back without the secret, and lists
        let role = f.read("static-roles/crm").await.unwrap().unwrap();
        assert_eq!(role.data["client_name"], json!("crm-prod-integration"));
        assert!(!role.data.contains_key("client_secret"));
        let list = f
            .call(Operation::List, "static-roles/", json!({}))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(list.data["keys"], json!(["crm"]));
        // WHEN rotate-role is written: a new secret now
        f.write("rotate-role/crm", json!({})).await.unwrap();
        let rotated = Fixture::field(&f.read("static-creds/crm").await.unwrap(), "client_secret");
        assert_ne!(rotated, secret);
        assert_eq!(rotated, current_secret(&f, &crm.id));
        // WHEN the period passes: the periodic pass rotates it
        f.advance(std::time::Duration::from_secs(86_400));
        f.rollback().await;
        let scheduled = Fixture::field(&f.read("static-creds/crm").await.unwrap(), "client_secret");
        assert_ne!(scheduled, rotated);
        assert_eq!(scheduled, current_secret(&f, &crm.id));
        // WHEN the role is deleted: the client stays, active, with its secret
        f.call(Operation::Delete, "static-roles/crm", json!({})).await.unwrap();
        f.emu.token_grantable(&crm.id, &scheduled).unwrap();
        assert!(!f.emu.deleted_client_ids().contains(&crm.id));
    }

    #[tokio::test]
    async fn clients_a_static_role_must_not_take_are_refused_and_nothing_changes() {
        let f = Fixture::with_role().await;
        let crm = crm_client(&f);
        let lease = f.read("creds/crm").await.unwrap();
        let own = Fixture::field(&lease, "client_id");
        f.write("static-roles/first", json!({"client_id": crm.id}))
            .await
            .unwrap();
        let crm_secret = current_secret(&f, &crm.id);
        let other = crm_client(&f);
        let cases = [
            (json!({"client_id": f.master.id}), "master"),
            (json!({"client_id": own}), "manages itself"),
            (json!({"client_id": crm.id}), "static role \"first\""),
            (json!({"client_id": "no-such-client"}), "no such client"),
            (json!({}), "client_id"),
            (json!({"client_id": other.id, "rotation_period": 60}), "rotation_period"),
            (json!({"client_id": other.id, "period": "1h"}), "period"),
        ];
        for (data, named) in cases {
            let r = f.write("static-roles/second", data.clone()).await;
            assert!(
                matches!(&r, Err(LogicalError::BadRequest(m)) if m.contains(named)),
                "{data}: {r:?}"
            );
            assert_eq!(f.read("static-roles/second").await.unwrap(), None);
        }
        // Nobody's secret changed.
        assert_eq!(current_secret(&f, &crm.id), crm_secret);
        f.emu.token_grantable(&other.id, &other.secret).unwrap();
        f.emu.token_grantable(&f.master.id, &f.master.secret).unwrap();
        // The client of a role cannot change.
        let r = f.write("static-roles/first", json!({"client_id": other.id})).await;
        assert!(
            matches!(&r, Err(LogicalError::BadRequest(m)) if m.contains("cannot change")),
            "{r:?}"
        );
    }

    /// A role granting client management, and a client holding it: another deployment's master
    /// (its permissions as the role gives them).
    fn other_master(f: &Fixture) -> SeededClient {
        f.emu
            .seed_role("client-admin", &["directory:user:view", "oauth:client:*"]);
        f.emu.seed_client(SeedClient {
            role_divisions: vec![genesys_emulator::RoleDivision {
                role_id: "client-admin".to_string(),
                division_id: "*".to_string(),
            }],
            ..SeedClient::new("lambda-master", &["oauth:client:*"])
        })
    }

    /// A client with role `role_id` (granting `permissions`).
    fn client_with_role(f: &Fixture, role_id: &str, permissions: &[&str]) -> SeededClient {
        f.emu.seed_role(role_id, permissions);
        f.emu.seed_client(SeedClient {
            role_divisions: vec![genesys_emulator::RoleDivision {
                role_id: role_id.to_string(),
                division_id: "*".to_string(),
            }],
            ..SeedClient::new("crm-with-role", permissions)
        })
    }

    fn refused(r: &Result<Option<Response>, LogicalError>, parts: &[&str]) -> bool {
        matches!(r, Err(LogicalError::BadRequest(m)) if parts.iter().all(|p| m.contains(p)))
    }

    #[tokio::test]
    async fn masters_and_other_owners_clients_are_refused_and_keep_their_secret() {
        // GIVEN another deployment's master, clients marked by a Lambda secret and by another
        // mount, and an ordinary client with a harmless role
        let f = Fixture::with_role().await;
        let master = other_master(&f);
        let marked = f.emu.seed_client(SeedClient {
            description: Some(genesys_core::guard::ownership::description(
                "arn:aws:secretsmanager:eu-west-1:111122223333:secret:crm-AbCdEf",
                Some("CRM"),
            )),
            ..SeedClient::new("crm-abc", &["conversation:communication:view"])
        });
        let other = f.another_mount();
        other.configure().await;
        other
            .write(
                "roles/crm",
                json!({"role_divisions": [{"role_id": ROLE_ID, "division_id": "*"}], "ttl": "1h"}),
            )
            .await
            .unwrap();
        let others_client = Fixture::field(&other.read("creds/crm").await.unwrap(), "client_id");
        let others_secret = current_secret(&f, &others_client);
        let plain = client_with_role(&f, "crm-role", &["conversation:communication:view"]);
        // WHEN static roles are written over each
        let cases = [
            (
                &master.id,
                vec![
                    "field \"client_id\"",
                    "is a master",
                    "role client-admin grants oauth:client:*",
                ],
            ),
            (&marked.id, vec!["ownership marker"]),
            (&others_client, vec!["ownership marker"]),
        ];
        for (id, parts) in &cases {
            let r = f.write("static-roles/taken", json!({"client_id": id})).await;
            // THEN each is refused, saying why, and no role is kept
            assert!(refused(&r, parts), "{id}: {r:?}");
            assert_eq!(f.read("static-roles/taken").await.unwrap(), None);
        }
        // AND every one of them keeps its secret
        f.emu.token_grantable(&master.id, &master.secret).unwrap();
        f.emu.token_grantable(&marked.id, &marked.secret).unwrap();
        f.emu.token_grantable(&others_client, &others_secret).unwrap();
        // AND a client whose roles manage no client is taken
        f.write("static-roles/plain", json!({"client_id": plain.id}))
            .await
            .unwrap();
        assert!(f.emu.token_grantable(&plain.id, &plain.secret).is_err());
    }

    #[tokio::test]
    async fn a_client_whose_roles_cannot_be_read_is_refused() {
        // GIVEN a client whose role is unknown, and a transient failure of the role read
        let f = Fixture::with_role().await;
        let ghost = f.emu.seed_client(SeedClient {
            role_divisions: vec![genesys_emulator::RoleDivision {
                role_id: "no-such-role".to_string(),
                division_id: "*".to_string(),
            }],
            ..SeedClient::new("ghost", &[])
        });
        let r = f.write("static-roles/ghost", json!({"client_id": ghost.id})).await;
        assert!(refused(&r, &["role no-such-role cannot be found"]), "{r:?}");
        let crm = client_with_role(&f, "crm-role", &["conversation:communication:view"]);
        f.emu.inject_fault(
            genesys_emulator::Fault::new(
                genesys_emulator::routes::GET_ROLE,
                genesys_emulator::FaultAction::Status {
                    status: 503,
                    retry_after: None,
                },
            )
            .times(20),
        );
        let r = f.write("static-roles/crm", json!({"client_id": crm.id})).await;
        assert!(
            matches!(&r, Err(LogicalError::Internal(m)) if m.contains("refused for now") && m.contains("crm-role")),
            "{r:?}"
        );
        f.emu.clear_faults();
        // AND a master that may not read roles (holding what the mount's role assigns) is
        // refused, and told which permission it lacks
        let plain_master = f.emu.seed_client(SeedClient {
            role_divisions: vec![genesys_emulator::RoleDivision {
                role_id: crate::engine::testing::ROLE_ID.to_string(),
                division_id: "*".to_string(),
            }],
            ..SeedClient::admin("plain-master")
        });
        f.write(
            "config",
            json!({"client_id": plain_master.id, "client_secret": plain_master.secret, "region": crate::engine::testing::REGION}),
        )
        .await
        .unwrap();
        let r = f.write("static-roles/crm", json!({"client_id": crm.id})).await;
        assert!(refused(&r, &["authorization:role:view"]), "{r:?}");
        // THEN no role was kept and no secret changed
        for name in ["ghost", "crm"] {
            assert_eq!(f.read(&format!("static-roles/{name}")).await.unwrap(), None);
        }
        f.emu.token_grantable(&ghost.id, &ghost.secret).unwrap();
        f.emu.token_grantable(&crm.id, &crm.secret).unwrap();
    }

    #[tokio::test]
    async fn a_client_that_becomes_a_master_is_no_longer_rotated() {
        // GIVEN a static role over a client whose role later gains oauth:client:edit
        let f = Fixture::with_role().await;
        let crm = client_with_role(&f, "crm-role", &["conversation:communication:view"]);
        f.write("static-roles/crm", json!({"client_id": crm.id})).await.unwrap();
        let stored = Fixture::field(&f.read("static-creds/crm").await.unwrap(), "client_secret");
        f.emu
            .seed_role("crm-role", &["conversation:communication:view", "oauth:client:edit"]);
        // WHEN it is rotated on demand, or its period passes
        let r = f.write("rotate-role/crm", json!({})).await;
        assert!(
            refused(
                &r,
                &["static role \"crm\" was not rotated", "is a master", "delete the role"]
            ),
            "{r:?}"
        );
        f.advance(std::time::Duration::from_secs(86_400 + 60));
        f.rollback().await;
        // THEN its secret never changes, and the role keeps the one that works
        assert_eq!(current_secret(&f, &crm.id), stored);
        assert_eq!(
            Fixture::field(&f.read("static-creds/crm").await.unwrap(), "client_secret"),
            stored
        );
        // AND once the role is harmless again, rotation resumes
        f.emu.seed_role("crm-role", &["conversation:communication:view"]);
        f.rollback().await;
        assert_ne!(current_secret(&f, &crm.id), stored);
    }

    #[tokio::test]
    async fn a_rotation_waits_for_an_interrupted_one_to_settle_then_finishes_it() {
        // GIVEN a static role whose rotation lost its answer after Genesys changed the secret
        let f = Fixture::with_role().await;
        let crm = crm_client(&f);
        f.write("static-roles/crm", json!({"client_id": crm.id})).await.unwrap();
        f.emu.inject_fault(genesys_emulator::Fault::new(
            genesys_emulator::routes::NEW_SECRET,
            genesys_emulator::FaultAction::DropAfterApply,
        ));
        assert!(f.write("rotate-role/crm", json!({})).await.is_err());
        // THEN static-creds warn that the secret may be dead
        let r = f.read("static-creds/crm").await.unwrap().unwrap();
        assert!(r.warnings[0].contains("interrupted"), "{r:?}");
        // AND another rotation is refused until the first has settled
        let r = f.write("rotate-role/crm", json!({})).await;
        assert!(
            matches!(&r, Err(LogicalError::Internal(m)) if m.contains("settling")),
            "{r:?}"
        );
        // WHEN it has settled, a rotation finishes the interrupted one and rotates
        f.advance(SETTLE);
        f.write("rotate-role/crm", json!({})).await.unwrap();
        let secret = Fixture::field(&f.read("static-creds/crm").await.unwrap(), "client_secret");
        assert_eq!(secret, current_secret(&f, &crm.id));
        assert!(crate::engine::wal::Wal::all(f.storage.as_ref())
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn a_crash_at_any_point_of_a_static_rotation_loses_no_credential() {
        for creating in [true, false] {
            // GIVEN how many writes and calls the operation makes
            let probe = Fixture::with_role().await;
            let crm = crm_client(&probe);
            if !creating {
                probe
                    .write("static-roles/crm", json!({"client_id": crm.id}))
                    .await
                    .unwrap();
            }
            let (path, data) = if creating {
                ("static-roles/crm", json!({"client_id": crm.id}))
            } else {
                ("rotate-role/crm", json!({}))
            };
            probe.storage.set_fault(None);
            let before = probe.genesys_calls();
            probe.write(path, data.clone()).await.unwrap();
            let (writes, calls) = (probe.storage.writes(), probe.genesys_calls() - before);
            for (fault, call) in crash_points(writes, calls) {
                let mut f = Fixture::with_role().await;
                let crm = crm_client(&f);
                let data = if creating {
                    json!({"client_id": crm.id})
                } else {
                    json!({})
                };
                if !creating {
                    f.write("static-roles/crm", json!({"client_id": crm.id})).await.unwrap();
                }
                f.storage.set_fault(fault);
                // WHEN it crashes there
                let outcome = f
                    .run_crashing(Request::new(Operation::Update, path).with_data(data), call)
                    .await;
                assert!(matches!(outcome, Run::Crashed), "{fault:?} {call:?}: {outcome:?}");
                f.restart();
                f.advance(SETTLE);
                f.rollback().await;
                // THEN no record is left, and either the role holds the client's current
                // secret, or there is no role and the client's secret never changed
                assert!(crate::engine::wal::Wal::all(f.storage.as_ref())
                    .await
                    .unwrap()
                    .is_empty());
                match f.read("static-creds/crm").await.unwrap() {
                    Some(r) => {
                        let secret = Fixture::field(&Some(r), "client_secret");
                        assert_eq!(secret, current_secret(&f, &crm.id), "{creating} {fault:?} {call:?}");
                    }
                    None => {
                        assert!(creating);
                        f.emu.token_grantable(&crm.id, &crm.secret).unwrap();
                    }
                }
            }
        }
    }
}
