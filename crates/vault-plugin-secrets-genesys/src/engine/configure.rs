//! `config`: the master credential (`client_id`, write-only `client_secret`), its `region`, and
//! the mount's settings (`name_prefix`, `rollback_min_age`, `token_rotation_period`,
//! `role_rule`, `client_limit`, `client_limit_margin`). A write is checked in full before anything is stored: fields, then the
//! credential against Genesys Cloud (token, `tokens/me`, the four permissions), then, unless
//! `role_rule` is false, the role rule ([`genesys_core::role_rule`]): the master's own client
//! must hold every role-division of every role of the mount. A refused write changes nothing.
//! The prefix and the organization cannot change while the mount holds clients, whose cleanup
//! depends on both.
use genesys_core::client_limit::{ClientLimit, DEFAULT_CLIENT_LIMIT, DEFAULT_LIMIT_MARGIN};
use genesys_core::domain::NamePrefix;
use genesys_core::region::Region;
use genesys_core::role_rule;
use genesys_core::secret::{ClientCredentials, SecretString};
use serde_json::json;
use tracing::info;

use super::clock::rfc3339;
use super::config::{
    Config, DEFAULT_PREFIX, DEFAULT_ROLLBACK_MIN_AGE, DEFAULT_TOKEN_ROTATION, MAX_CLIENT_LIMIT, MAX_ROLLBACK_MIN_AGE,
    TOKEN_ROTATION_RANGE,
};
use super::fields::{bad, Fields};
use super::identity::Identity;
use super::limits::SETTLE;
use super::locks::Locks;
use super::org::Org;
use super::role::Role;
use super::root_rotation::RootRotation;
use super::store::{self, StoredSecret};
use crate::logical::{Context, LogicalError, Request, Response, Storage};

const FIELDS: [&str; 9] = [
    "client_id",
    "client_secret",
    "region",
    "name_prefix",
    "rollback_min_age",
    "token_rotation_period",
    "role_rule",
    "client_limit",
    "client_limit_margin",
];

/// What the mount holds that needs the master and the prefix to clean up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Holdings {
    /// Clients the engine created and has not deleted yet.
    pub clients: usize,
    /// Write-ahead records.
    pub wals: usize,
    /// Whether a root rotation is in progress.
    pub root_rotation: bool,
}

impl Holdings {
    /// Counts them.
    pub async fn of(storage: &dyn Storage) -> Result<Holdings, LogicalError> {
        Ok(Holdings {
            clients: store::list(storage, store::CLIENTS).await?.len(),
            wals: store::list(storage, store::WAL).await?.len(),
            root_rotation: RootRotation::load(storage).await?.is_some(),
        })
    }

    /// Whether there is anything.
    pub fn any(&self) -> bool {
        self.clients > 0 || self.wals > 0 || self.root_rotation
    }

    fn describe(&self) -> String {
        let mut parts = vec![
            format!("{} client(s)", self.clients),
            format!("{} write-ahead record(s)", self.wals),
        ];
        if self.root_rotation {
            parts.push("a root rotation in progress".into());
        }
        parts.join(", ")
    }
}

/// `config` write.
pub async fn write(org: &Org, locks: &Locks, ctx: &Context, req: &Request) -> Result<Option<Response>, LogicalError> {
    let f = Fields::parse(&req.data, "config", &FIELDS)?;
    let _root = locks.root_exclusive().await;
    let storage = ctx.storage.as_ref();
    let existing = Config::load(storage).await?;

    let client_id = match f.string("client_id")? {
        Some(id) => genesys_core::domain::ClientId::parse(id.trim())
            .map_err(|e| bad("client_id", e))?
            .into_string(),
        None => existing
            .as_ref()
            .map(|c| c.client_id.clone())
            .ok_or_else(|| bad("client_id", "is required"))?,
    };
    let same_client = existing.as_ref().is_some_and(|c| c.client_id == client_id);
    let client_secret = match f.string("client_secret")? {
        Some(s) if s.trim().is_empty() => return Err(bad("client_secret", "must not be empty")),
        Some(s) => StoredSecret::new(SecretString::from(s.trim().to_owned())),
        None if same_client => existing.as_ref().expect("same client").client_secret.clone(),
        None => return Err(bad("client_secret", "is required with a new client_id")),
    };
    let region = match f.string("region")? {
        Some(r) => Region::parse(&r).map_err(|e| bad("region", e))?,
        None => existing
            .as_ref()
            .map(|c| c.region)
            .ok_or_else(|| bad("region", "is required"))?,
    };
    let name_prefix = match f.string("name_prefix")? {
        Some(p) => NamePrefix::parse(&p)
            .map_err(|e| bad("name_prefix", e))?
            .as_str()
            .to_owned(),
        None => existing
            .as_ref()
            .map(|c| c.name_prefix.clone())
            .unwrap_or_else(|| DEFAULT_PREFIX.to_owned()),
    };
    let rollback_min_age = match f.duration("rollback_min_age")? {
        Some(d) if d < SETTLE || d > MAX_ROLLBACK_MIN_AGE => {
            return Err(bad(
                "rollback_min_age",
                format!(
                    "must be from {} s (longer than any operation can run) to {} s",
                    SETTLE.as_secs(),
                    MAX_ROLLBACK_MIN_AGE.as_secs()
                ),
            ))
        }
        Some(d) => d.as_secs(),
        None => existing
            .as_ref()
            .map(|c| c.rollback_min_age_s)
            .unwrap_or(DEFAULT_ROLLBACK_MIN_AGE.as_secs()),
    };
    let token_rotation = match f.duration("token_rotation_period")? {
        Some(d) if !TOKEN_ROTATION_RANGE.contains(&d.as_secs()) => {
            return Err(bad(
                "token_rotation_period",
                format!(
                    "must be from {} s to {} s",
                    TOKEN_ROTATION_RANGE.start(),
                    TOKEN_ROTATION_RANGE.end()
                ),
            ))
        }
        Some(d) => d.as_secs(),
        None => existing
            .as_ref()
            .map(|c| c.token_rotation_period_s)
            .unwrap_or(DEFAULT_TOKEN_ROTATION.as_secs()),
    };
    let role_rule = match f.bool("role_rule")? {
        Some(on) => on,
        None => existing.as_ref().is_none_or(|c| c.role_rule),
    };
    let client_limit = match f.int("client_limit")? {
        Some(n) if n == 0 || n > MAX_CLIENT_LIMIT => {
            return Err(bad("client_limit", format!("must be from 1 to {MAX_CLIENT_LIMIT}")))
        }
        Some(n) => n as usize,
        None => existing.as_ref().map_or(DEFAULT_CLIENT_LIMIT, |c| c.client_limit),
    };
    let client_limit_margin = match f.int("client_limit_margin")? {
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => existing
            .as_ref()
            .map_or(DEFAULT_LIMIT_MARGIN, |c| c.client_limit_margin),
    };
    ClientLimit::new(client_limit, client_limit_margin).map_err(|e| bad("client_limit_margin", e))?;

    let holdings = Holdings::of(storage).await?;
    if let Some(old) = &existing {
        if holdings.any() && old.name_prefix != name_prefix {
            return Err(bad(
                "name_prefix",
                format!(
                    "cannot change while the mount holds {}: their names carry {:?}",
                    holdings.describe(),
                    old.name_prefix
                ),
            ));
        }
    }

    // The credential is checked on every write, so a stored config always held a working one.
    let credentials = super::genesys::stored_credentials(&client_id, client_secret.secret())?;
    let info = org.connector().check_master(region, credentials.clone()).await?;
    let org_id = info.organization.as_ref().map(|o| o.id.clone());
    if let Some(old) = &existing {
        if holdings.any() && old.org_id.is_some() && old.org_id != org_id {
            return Err(bad(
                "client_id",
                format!(
                    "acts in organization {}, but the mount holds {} in organization {}",
                    org_id.as_deref().unwrap_or("(unknown)"),
                    holdings.describe(),
                    old.org_id.as_deref().unwrap_or("(unknown)")
                ),
            ));
        }
    }

    if role_rule {
        check_roles_held(org, storage, region, credentials).await?;
    }

    let credential_changed = match &existing {
        None => true,
        Some(old) => {
            old.client_id != client_id || old.region != region || old.client_secret.expose() != client_secret.expose()
        }
    };
    let config = Config {
        client_id,
        client_secret,
        region,
        name_prefix,
        rollback_min_age_s: rollback_min_age,
        token_rotation_period_s: token_rotation,
        role_rule,
        client_limit,
        client_limit_margin,
        org_id,
        generation: existing
            .as_ref()
            .map_or(1, |c| c.generation + u64::from(credential_changed)),
        root_rotated_at: existing.as_ref().and_then(|c| c.root_rotated_at),
    };
    Identity::load_or_create(storage, org.now()).await?;
    config.save(storage).await?;
    if credential_changed {
        // A new working master secret from the operator supersedes a root rotation that had
        // lost its own (the recovery it waited for is no longer needed).
        if holdings.root_rotation {
            store::delete(storage, store::ROOT_ROTATION).await?;
            info!(client_id = %config.client_id, "root rotation record dropped: config holds a new master secret");
        }
        org.connector().forget_master().await;
    }
    info!(client_id = %config.client_id, region = %config.region, name_prefix = %config.name_prefix, generation = config.generation, "config stored");
    Ok(None)
}

/// The role rule on a `config` write: the master `credentials` name must hold every
/// role-division of every role of the mount, or the write is refused naming each role and the
/// pairs it lacks. Reads only (one GET of the master's own client, none without roles).
async fn check_roles_held(
    org: &Org,
    storage: &dyn Storage,
    region: Region,
    credentials: ClientCredentials,
) -> Result<(), LogicalError> {
    let roles = store::all::<Role>(storage, store::ROLES).await?;
    if roles.is_empty() {
        return Ok(());
    }
    let client_id = credentials.client_id.as_str().to_owned();
    let master = org.connector().client(region, credentials);
    let held = super::genesys::held_by_master(&master).await?;
    let lacking: Vec<String> = roles
        .iter()
        .filter_map(|(name, role)| {
            let missing = role_rule::missing(&held, &role.role_divisions);
            (!missing.is_empty()).then(|| format!("role {name}: {}", role_rule::describe(&missing)))
        })
        .collect();
    if lacking.is_empty() {
        return Ok(());
    }
    Err(bad(
        "client_id",
        format!(
            "the master client {client_id} does not hold every role-division the mount's roles assign, so Genesys \
             Cloud's role rule would refuse their clients ({}): {}",
            lacking.join("; "),
            super::genesys::ROLE_RULE_REMEDY
        ),
    ))
}

/// `config` read: everything but the secret.
pub async fn read(ctx: &Context) -> Result<Option<Response>, LogicalError> {
    let storage = ctx.storage.as_ref();
    let Some(config) = Config::load(storage).await? else {
        return Ok(None);
    };
    let identity = Identity::load(storage).await?;
    let root = RootRotation::load(storage).await?;
    let root_status = match &root {
        None => json!(null),
        Some(r) => json!({
            "started_at": rfc3339(r.started_at),
            "locked": r.locked.clone(),
        }),
    };
    Ok(Some(Response::data(json!({
        "client_id": config.client_id,
        "region": config.region.domain(),
        "name_prefix": config.name_prefix,
        "rollback_min_age": config.rollback_min_age_s,
        "token_rotation_period": config.token_rotation_period_s,
        "role_rule": config.role_rule,
        "client_limit": config.client_limit,
        "client_limit_margin": config.client_limit_margin,
        "organization_id": config.org_id,
        "owner": identity.map(|i| i.owner),
        "root_rotated_at": config.root_rotated_at.map(rfc3339),
        "root_rotation_in_progress": root_status,
    }))))
}

/// `config` delete: refused while the mount holds clients or write-ahead records (their cleanup
/// needs the master); static roles stay, and stop rotating until a new config is written.
pub async fn delete(org: &Org, locks: &Locks, ctx: &Context) -> Result<Option<Response>, LogicalError> {
    let _root = locks.root_exclusive().await;
    let storage = ctx.storage.as_ref();
    let holdings = Holdings::of(storage).await?;
    if holdings.any() {
        return Err(LogicalError::BadRequest(format!(
            "config cannot be deleted while the mount holds {}: revoke the leases of creds/ and delete the roles \
             (their token/ clients are deleted once drained), then try again",
            holdings.describe()
        )));
    }
    store::delete(storage, store::CONFIG).await?;
    org.connector().forget_master().await;
    info!("config deleted");
    let statics = store::list(storage, store::STATIC_ROLES).await?.len();
    if statics > 0 {
        let mut r = Response::default();
        r.warnings.push(format!(
            "{statics} static role(s) remain; they are not rotated until config is written again"
        ));
        return Ok(Some(r));
    }
    Ok(None)
}

#[cfg(all(test, feature = "endpoint-overrides"))]
mod tests {
    use genesys_emulator::SeedClient;
    use serde_json::json;

    use super::*;
    use crate::engine::testing::{Fixture, REGION, ROLE_ID};
    use crate::logical::Operation;

    fn is_bad_request_naming(r: &Result<Option<Response>, LogicalError>, field: &str) -> bool {
        matches!(r, Err(LogicalError::BadRequest(m)) if m.contains(field))
    }

    #[tokio::test]
    async fn a_good_write_is_stored_and_the_secret_is_never_read_back() {
        // GIVEN an org with a master holding the four permissions
        let f = Fixture::new().await;
        // WHEN config is written with the SDK name of the region
        f.write(
            "config",
            json!({"client_id": f.master.id, "client_secret": f.master.secret, "region": "eu_west_1"}),
        )
        .await
        .unwrap();
        // THEN a read shows everything but the secret, with the defaults
        let read = f.read("config").await.unwrap().unwrap();
        assert_eq!(read.data["client_id"], json!(f.master.id));
        assert_eq!(read.data["region"], json!(REGION));
        assert_eq!(read.data["name_prefix"], json!(DEFAULT_PREFIX));
        assert_eq!(read.data["rollback_min_age"], json!(600));
        assert!(read.data["owner"]
            .as_str()
            .unwrap()
            .starts_with("vault-plugin-secrets-genesys/"));
        assert!(!read.data.contains_key("client_secret"));
        assert!(!serde_json::to_string(&read.data).unwrap().contains(&f.master.secret));
        // AND a later write of one setting keeps the credential
        f.write("config", json!({"rollback_min_age": "15m"})).await.unwrap();
        let read = f.read("config").await.unwrap().unwrap();
        assert_eq!(read.data["rollback_min_age"], json!(900));
        assert_eq!(read.data["client_id"], json!(f.master.id));
    }

    #[tokio::test]
    async fn a_refused_write_changes_nothing() {
        // GIVEN an org with a master, a master lacking edit, and an empty mount
        let f = Fixture::new().await;
        let weak = f.emu.seed_client(SeedClient::new(
            "weak-master",
            &["oauth:client:view", "oauth:client:add", "oauth:client:delete"],
        ));
        let cases = [
            (
                json!({"client_id": f.master.id, "client_secret": "wrong", "region": REGION}),
                "client_secret",
            ),
            (
                json!({"client_id": weak.id, "client_secret": weak.secret, "region": REGION}),
                "oauth:client:edit",
            ),
            (
                json!({"client_id": f.master.id, "client_secret": f.master.secret, "region": "mypurecloud.xx"}),
                "region",
            ),
            (
                json!({"client_id": f.master.id, "client_secret": f.master.secret, "region": "api.mypurecloud.ie"}),
                "region",
            ),
            (
                json!({"client_id": f.master.id, "client_secret": f.master.secret}),
                "region",
            ),
            (json!({"client_id": f.master.id, "region": REGION}), "client_secret"),
            (
                json!({"client_id": f.master.id, "client_secret": f.master.secret, "region": REGION, "regoin": 1}),
                "regoin",
            ),
            (
                json!({"client_id": 7, "client_secret": f.master.secret, "region": REGION}),
                "client_id",
            ),
            (
                json!({"client_id": f.master.id, "client_secret": f.master.secret, "region": REGION, "name_prefix": "a b"}),
                "name_prefix",
            ),
            (
                json!({"client_id": f.master.id, "client_secret": f.master.secret, "region": REGION, "rollback_min_age": 60}),
                "rollback_min_age",
            ),
            (
                json!({"client_id": f.master.id, "client_secret": f.master.secret, "region": REGION, "rollback_min_age": "soon"}),
                "rollback_min_age",
            ),
            (
                json!({"client_id": f.master.id, "client_secret": f.master.secret, "region": REGION, "token_rotation_period": 5}),
                "token_rotation_period",
            ),
        ];
        for (data, field) in cases {
            // WHEN the write is refused
            let r = f.write("config", data.clone()).await;
            // THEN it names the field, and the mount's storage is still empty
            assert!(is_bad_request_naming(&r, field), "{data}: {r:?}");
            assert!(
                f.storage.inner.keys().is_empty(),
                "{data}: {:?}",
                f.storage.inner.keys()
            );
        }
        // AND a bad region was refused before any call to Genesys was made... (only the
        // credential cases called it)
        assert!(
            f.emu.clients().iter().all(|c| !c.name.starts_with(DEFAULT_PREFIX)),
            "no probe client was made"
        );
    }

    #[tokio::test]
    async fn a_write_over_a_working_config_that_fails_keeps_the_old_one() {
        let f = Fixture::new().await;
        f.configure().await;
        let before = f.storage.inner.keys();
        let stored = Config::load(f.storage.as_ref()).await.unwrap().unwrap();
        let r = f.write("config", json!({"client_secret": "wrong"})).await;
        assert!(is_bad_request_naming(&r, "client_secret"), "{r:?}");
        let after = Config::load(f.storage.as_ref()).await.unwrap().unwrap();
        assert_eq!(after.client_secret.expose(), stored.client_secret.expose());
        assert_eq!(after.generation, stored.generation);
        assert_eq!(f.storage.inner.keys(), before);
    }

    #[tokio::test]
    async fn the_prefix_cannot_change_and_config_cannot_go_while_clients_exist() {
        // GIVEN a mount holding one lease's client
        let f = Fixture::with_role().await;
        let lease = Fixture::lease(&f.read("creds/crm").await.unwrap());
        // WHEN the prefix is changed or config deleted
        let r = f.write("config", json!({"name_prefix": "other-"})).await;
        assert!(is_bad_request_naming(&r, "name_prefix"), "{r:?}");
        let r = f.call(Operation::Delete, "config", json!({})).await;
        assert!(
            matches!(&r, Err(LogicalError::BadRequest(m)) if m.contains("1 client")),
            "{r:?}"
        );
        // THEN once the lease is revoked, both are allowed
        f.lease_op(Operation::Revoke, &lease).await.unwrap();
        f.write("config", json!({"name_prefix": "other-"})).await.unwrap();
        f.call(Operation::Delete, "config", json!({})).await.unwrap();
        assert_eq!(f.read("config").await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_master_must_hold_every_role_division_of_every_role() {
        // GIVEN a mount with roles crm (held by the master) and reports (not held), stored with
        // the rule off
        let f = Fixture::with_role().await;
        f.emu.seed_role("reports", &["analytics:report:view"]);
        f.write("config", json!({"role_rule": false})).await.unwrap();
        assert_eq!(f.read("config").await.unwrap().unwrap().data["role_rule"], json!(false));
        f.write("roles/reports", json!({"role_divisions": "reports:d1,reports:d2"}))
            .await
            .unwrap();
        let before = f.storage.inner.snapshot();
        // WHEN the rule is turned on, or another master is written (the rule is still off in
        // the stored config, but a write naming role_rule=true checks the new master)
        let other = f.emu.seed_client(SeedClient::new(
            "other-master",
            &crate::engine::testing::MASTER_PERMISSIONS,
        ));
        for data in [
            json!({"role_rule": true}),
            json!({"role_rule": "true", "client_id": other.id, "client_secret": other.secret}),
        ] {
            let r = f.write("config", data.clone()).await;
            // THEN it is refused naming each role and the pairs its master lacks, and nothing
            // changes
            let text = format!("{r:?}");
            assert!(is_bad_request_naming(&r, "client_id"), "{data}: {text}");
            assert!(text.contains("role reports: reports/d1, reports/d2"), "{text}");
            assert!(text.contains("role_rule=false") && text.contains("narrow"), "{text}");
            assert_eq!(f.storage.inner.snapshot(), before, "{data}");
        }
        // AND the other master, lacking crm's role too, is named for both roles
        let r = f
            .write(
                "config",
                json!({"role_rule": true, "client_id": other.id, "client_secret": other.secret}),
            )
            .await;
        let text = format!("{r:?}");
        assert!(
            text.contains(&format!("role crm: {ROLE_ID}/*; role reports: reports/d1, reports/d2")),
            "{text}"
        );
        // WHEN the master is given the roles: the rule can be turned on
        f.grant_master(&["reports:*"]).await;
        f.write("config", json!({"role_rule": true})).await.unwrap();
        let read = f.read("config").await.unwrap().unwrap();
        assert_eq!(read.data["role_rule"], json!(true));
        // AND a write that leaves role_rule out keeps it (and still checks)
        f.write("config", json!({"rollback_min_age": "15m"})).await.unwrap();
        assert_eq!(f.read("config").await.unwrap().unwrap().data["role_rule"], json!(true));
        let r = f.write("config", json!({"role_rule": "maybe"})).await;
        assert!(is_bad_request_naming(&r, "role_rule"), "{r:?}");
    }

    #[tokio::test]
    async fn a_config_stored_before_the_role_rule_existed_reads_as_on() {
        let f = Fixture::new().await;
        f.configure().await;
        let mut stored: serde_json::Value = store::get(f.storage.as_ref(), store::CONFIG).await.unwrap().unwrap();
        stored.as_object_mut().unwrap().remove("role_rule");
        store::put(f.storage.as_ref(), store::CONFIG, &stored).await.unwrap();
        let config = Config::load(f.storage.as_ref()).await.unwrap().unwrap();
        assert!(config.role_rule);
    }
}
