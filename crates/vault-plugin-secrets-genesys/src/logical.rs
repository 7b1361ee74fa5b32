//! The logical-backend model the server and the engine share: a request (operation, path, data,
//! the lease it concerns), a response (data, a new lease, warnings), errors that map to HTTP
//! statuses, and the storage and system view the server offers each call. [`crate::protocol`]
//! converts these to and from the wire; [`crate::engine`] implements [`Backend`] over them.
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// What a request asks of a path (the server's operation names on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `create`: a write to a path that does not exist yet (only when existence checks say so).
    Create,
    /// `read`.
    Read,
    /// `update`: a write.
    Update,
    /// `patch`.
    Patch,
    /// `delete`.
    Delete,
    /// `list`.
    List,
    /// `help`.
    Help,
    /// `revoke`: a lease this backend issued ended (revoked or expired); `secret` says which.
    Revoke,
    /// `renew`: a lease this backend issued asks for more time; `secret` says which.
    Renew,
    /// `rollback`: the server's periodic call (about once a minute) to each mount: the periodic
    /// function and the write-ahead rollback.
    Rollback,
    /// Any other operation name (`alias-lookahead`, `resolve-role`, `header`, ...), kept verbatim.
    Other(&'static str),
}

impl Operation {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Read => "read",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
            Operation::List => "list",
            Operation::Help => "help",
            Operation::Revoke => "revoke",
            Operation::Renew => "renew",
            Operation::Rollback => "rollback",
            Operation::Other(name) => name,
        }
    }

    /// The operation of a wire name; unknown names are kept as [`Operation::Other`].
    pub fn parse(name: &str) -> Operation {
        match name {
            "create" => Operation::Create,
            "read" => Operation::Read,
            "update" => Operation::Update,
            "patch" => Operation::Patch,
            "delete" => Operation::Delete,
            "list" => Operation::List,
            "help" => Operation::Help,
            "revoke" => Operation::Revoke,
            "renew" => Operation::Renew,
            "rollback" => Operation::Rollback,
            "alias-lookahead" => Operation::Other("alias-lookahead"),
            "resolve-role" => Operation::Other("resolve-role"),
            "header" => Operation::Other("header"),
            _ => Operation::Other("unknown"),
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The lease terms of a secret, as issued or as the server holds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaseOptions {
    /// How long the lease lasts (from issue, or from a renewal). Zero: the server's default.
    pub ttl: Duration,
    /// The longest the lease may live in all, renewals included. Zero: the server's maximum.
    pub max_ttl: Duration,
    /// Whether the lease may be renewed.
    pub renewable: bool,
    /// On renew: the increment the caller asked for (zero if none).
    pub increment: Duration,
    /// On renew and revoke: when the lease was first issued.
    pub issue_time: Option<OffsetDateTime>,
}

/// A leased secret: in a [`Response`], a new lease; in a [`Request`] (renew, revoke), the lease
/// concerned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaseSecret {
    /// The lease's terms.
    pub lease: LeaseOptions,
    /// What the backend needs to renew or revoke it later (kept by the server, never shown to the
    /// caller). The engine's own convention says which kind of secret it is.
    pub internal_data: Map<String, Value>,
    /// The server's lease id (set on renew and revoke; empty when issuing).
    pub lease_id: String,
}

/// One request to the backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The request's id (the server's), for logs.
    pub id: String,
    /// What is asked.
    pub operation: Operation,
    /// The path below the mount, without a leading slash (`config`, `roles/crm`, `creds/crm`, and
    /// `""` for the periodic rollback).
    pub path: String,
    /// The request's fields (a write's body, a list's `after`/`limit`); empty if none.
    pub data: Map<String, Value>,
    /// On renew and revoke: the lease concerned.
    pub secret: Option<LeaseSecret>,
    /// Where the backend is mounted (`genesys/`), for messages and the names of what it creates.
    pub mount_point: String,
}

impl Request {
    /// A request with no data and no lease.
    pub fn new(operation: Operation, path: impl Into<String>) -> Request {
        Request {
            id: String::new(),
            operation,
            path: path.into(),
            data: Map::new(),
            secret: None,
            mount_point: String::new(),
        }
    }

    /// The same request with `data`.
    pub fn with_data(mut self, data: Value) -> Request {
        if let Value::Object(map) = data {
            self.data = map;
        }
        self
    }
}

/// What the backend answers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    /// The fields shown to the caller (`data` of the server's JSON answer).
    pub data: Map<String, Value>,
    /// A new lease (dynamic credentials), or a renewed one's terms.
    pub secret: Option<LeaseSecret>,
    /// Warnings shown beside the data.
    pub warnings: Vec<String>,
}

impl Response {
    /// A response with `data` (a JSON object) and nothing else.
    pub fn data(data: Value) -> Response {
        let data = match data {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Response {
            data,
            ..Response::default()
        }
    }
}

/// Why a request failed. The protocol maps each to the status the server answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogicalError {
    /// 400: the request is wrong (a missing or bad field, named in the message); nothing changed.
    #[error("{0}")]
    BadRequest(String),
    /// 403.
    #[error("permission denied")]
    PermissionDenied,
    /// 404: no such path in this backend.
    #[error("unsupported path")]
    UnsupportedPath,
    /// 405: the path does not take this operation.
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// 500: the backend failed (Genesys or storage unreachable, ...); the message says what, and
    /// never holds a secret.
    #[error("{0}")]
    Internal(String),
}

/// A storage failure (the server's storage, reached over the broker).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage: {0}")]
pub struct StorageError(pub String);

impl From<StorageError> for LogicalError {
    fn from(e: StorageError) -> Self {
        LogicalError::Internal(e.to_string())
    }
}

/// The storage the server gives this mount (encrypted by the server, replicated with it). Keys
/// are relative to the mount; the engine keeps all of its state here, never in local files.
#[async_trait]
pub trait Storage: Send + Sync {
    /// The keys directly under `prefix` (which ends with `/`, or is empty): leaf names, and folder
    /// names ending with `/`, relative to `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// The value under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Stores `value` under `key` (replacing any).
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError>;
    /// Removes `key` (no error if absent).
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
}

/// What the server says about itself and this mount.
#[async_trait]
pub trait SystemView: Send + Sync {
    /// The mount's default lease TTL.
    async fn default_lease_ttl(&self) -> Result<Duration, StorageError>;
    /// The mount's maximum lease TTL.
    async fn max_lease_ttl(&self) -> Result<Duration, StorageError>;
    /// Whether this node is a standby of an HA cluster: OpenBao's standbys run the mount too
    /// (they serve reads and the periodic call), over a read-only replica of the storage, and
    /// forward a request that writes to the active node.
    async fn standby(&self) -> Result<bool, StorageError>;
}

/// What each call to the backend may use: the server's storage and system view for this mount.
#[derive(Clone)]
pub struct Context {
    /// The mount's storage.
    pub storage: Arc<dyn Storage>,
    /// The server's view of the mount.
    pub system: Arc<dyn SystemView>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

/// Paths with special treatment by the server (its `SpecialPaths`): prefixes, `*` globs as the
/// server reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialPaths {
    /// Paths that need a root token (or sudo).
    pub root: Vec<String>,
    /// Paths reachable without a token.
    pub unauthenticated: Vec<String>,
    /// Paths kept local to a cluster (not replicated).
    pub local_storage: Vec<String>,
    /// Storage paths the server seal-wraps (the master credential).
    pub seal_wrap_storage: Vec<String>,
}

/// A logical backend, as the server drives it.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The paths with special treatment.
    fn special_paths(&self) -> SpecialPaths;

    /// Called once the server has set the backend up (after `Setup`), before any request.
    async fn initialize(&self, _ctx: &Context) -> Result<(), LogicalError> {
        Ok(())
    }

    /// Handles one request. `Ok(None)`: nothing to show (a read of something absent answers 404).
    async fn handle(&self, ctx: &Context, req: Request) -> Result<Option<Response>, LogicalError>;

    /// Whether the resource a write names exists: `None` if the path has no existence check (the
    /// server then sends every write as [`Operation::Update`]).
    async fn existence_check(&self, _ctx: &Context, _req: &Request) -> Result<Option<bool>, LogicalError> {
        Ok(None)
    }

    /// The server says `key` changed elsewhere (another node): drop any cache of it.
    async fn invalidate(&self, _key: &str) {}

    /// The mount is going away (unmount, seal, shutdown): stop background work.
    async fn cleanup(&self) {}
}

/// An in-memory [`Storage`] and [`SystemView`] for tests beside the code.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    entries: std::sync::Mutex<BTreeMap<String, Vec<u8>>>,
    /// Default lease TTL the system view reports (zero: 768 h, as the server's default).
    pub default_ttl: Duration,
    /// Maximum lease TTL the system view reports (zero: 768 h).
    pub max_ttl: Duration,
    /// Whether the system view reports an HA standby.
    pub standby: bool,
}

impl MemoryStorage {
    /// An empty one whose system view reports an HA standby.
    pub fn standby() -> MemoryStorage {
        MemoryStorage {
            standby: true,
            ..MemoryStorage::default()
        }
    }

    /// All keys held, in order (for assertions).
    pub fn keys(&self) -> Vec<String> {
        self.entries.lock().unwrap().keys().cloned().collect()
    }

    /// Every entry, keys and values (for assertions that nothing changed).
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        self.entries.lock().unwrap().clone()
    }
}

const SERVER_DEFAULT_TTL: Duration = Duration::from_secs(768 * 3600);

#[async_trait]
impl Storage for MemoryStorage {
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let entries = self.entries.lock().unwrap();
        let mut out: Vec<String> = Vec::new();
        for key in entries.keys().filter(|k| k.starts_with(prefix)) {
            let rest = &key[prefix.len()..];
            let name = match rest.find('/') {
                Some(i) => &rest[..=i],
                None => rest,
            };
            if out.last().map(String::as_str) != Some(name) {
                out.push(name.to_string());
            }
        }
        Ok(out)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.entries.lock().unwrap().get(key).cloned())
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        self.entries.lock().unwrap().insert(key.to_string(), value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.entries.lock().unwrap().remove(key);
        Ok(())
    }
}

#[async_trait]
impl SystemView for MemoryStorage {
    async fn default_lease_ttl(&self) -> Result<Duration, StorageError> {
        Ok(if self.default_ttl.is_zero() {
            SERVER_DEFAULT_TTL
        } else {
            self.default_ttl
        })
    }

    async fn max_lease_ttl(&self) -> Result<Duration, StorageError> {
        Ok(if self.max_ttl.is_zero() {
            SERVER_DEFAULT_TTL
        } else {
            self.max_ttl
        })
    }

    async fn standby(&self) -> Result<bool, StorageError> {
        Ok(self.standby)
    }
}

impl Context {
    /// A context over one in-memory storage (tests).
    pub fn memory(storage: Arc<MemoryStorage>) -> Context {
        Context {
            storage: storage.clone(),
            system: storage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_storage_lists_leaves_and_folders_once() {
        let s = MemoryStorage::default();
        for k in ["roles/a", "roles/b", "wal/x/1", "wal/x/2", "config"] {
            s.put(k, vec![1]).await.unwrap();
        }
        assert_eq!(s.list("").await.unwrap(), vec!["config", "roles/", "wal/"]);
        assert_eq!(s.list("roles/").await.unwrap(), vec!["a", "b"]);
        assert_eq!(s.list("wal/").await.unwrap(), vec!["x/"]);
        s.delete("roles/a").await.unwrap();
        assert_eq!(s.get("roles/a").await.unwrap(), None);
    }

    #[test]
    fn operations_round_trip_their_wire_names() {
        for name in [
            "create", "read", "update", "patch", "delete", "list", "help", "revoke", "renew", "rollback",
        ] {
            assert_eq!(Operation::parse(name).as_str(), name);
        }
        assert_eq!(Operation::parse("nonsense"), Operation::Other("unknown"));
    }
}
