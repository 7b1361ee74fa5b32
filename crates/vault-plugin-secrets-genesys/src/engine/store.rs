//! The engine's storage layout and typed JSON records over the server's [`Storage`]: one key
//! constant per record kind, `get`/`put`/`delete`/`list` that (de)serialize records, and
//! [`StoredSecret`], the one way a secret enters a record. All state lives here, in the storage
//! the server gives the mount (encrypted by the server), never in local files. The layout and
//! what each record holds: docs/design/openbao-engine.md.
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::logical::{LogicalError, Storage};

/// The mount's owner identity (a random id made once, named in every client's marker).
pub const IDENTITY: &str = "identity";
/// The master credential and the mount's settings.
pub const CONFIG: &str = "config";
/// The write-ahead record of a root rotation in progress (holds a recovery token).
pub const ROOT_ROTATION: &str = "root-rotation";
/// `roles/<name>`: roles for `creds/` and `token/`.
pub const ROLES: &str = "roles/";
/// `static-roles/<name>`: existing clients whose secret the engine rotates.
pub const STATIC_ROLES: &str = "static-roles/";
/// `clients/<uuid>`: every client the engine created and has not yet deleted.
pub const CLIENTS: &str = "clients/";
/// `token-clients/<role>`: which client `token/<role>` mints from.
pub const TOKEN_CLIENTS: &str = "token-clients/";
/// `wal/<id>`: write-ahead records, one per external change in flight.
pub const WAL: &str = "wal/";

/// A secret kept in a record: written to storage as a plain string (the server encrypts
/// storage), shown nowhere else. `Debug` is redacted and there is no `Display`.
#[derive(Clone)]
pub struct StoredSecret(SecretString);

impl StoredSecret {
    /// Wraps a secret.
    pub fn new(secret: SecretString) -> Self {
        Self(secret)
    }

    /// The secret, for an HTTP request or a response to the caller, nowhere else.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The wrapped secret.
    pub fn secret(&self) -> SecretString {
        self.0.clone()
    }
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl Serialize for StoredSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.expose_secret())
    }
}

impl<'de> Deserialize<'de> for StoredSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Self(SecretString::from(s)))
    }
}

/// The record under `key`, if any. A record that does not parse is an error that says where
/// parsing failed, never what the record holds (records hold secrets).
pub async fn get<T: DeserializeOwned>(storage: &dyn Storage, key: &str) -> Result<Option<T>, LogicalError> {
    let Some(bytes) = storage.get(key).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        LogicalError::Internal(format!(
            "storage record {key:?} is unreadable ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// Stores `record` under `key`.
pub async fn put<T: Serialize>(storage: &dyn Storage, key: &str, record: &T) -> Result<(), LogicalError> {
    let bytes = serde_json::to_vec(record).map_err(|e| {
        LogicalError::Internal(format!(
            "could not encode storage record {key:?}: {:?} error",
            e.classify()
        ))
    })?;
    storage.put(key, bytes).await?;
    Ok(())
}

/// Removes `key` (absent is fine).
pub async fn delete(storage: &dyn Storage, key: &str) -> Result<(), LogicalError> {
    storage.delete(key).await?;
    Ok(())
}

/// The leaf names directly under `prefix` (folders left out), sorted.
pub async fn list(storage: &dyn Storage, prefix: &str) -> Result<Vec<String>, LogicalError> {
    let mut names: Vec<String> = storage
        .list(prefix)
        .await?
        .into_iter()
        .filter(|name| !name.ends_with('/'))
        .collect();
    names.sort();
    Ok(names)
}

/// Every record under `prefix`, with its leaf name; records that vanished between the list and
/// the read are left out.
pub async fn all<T: DeserializeOwned>(storage: &dyn Storage, prefix: &str) -> Result<Vec<(String, T)>, LogicalError> {
    let mut out = Vec::new();
    for name in list(storage, prefix).await? {
        if let Some(record) = get(storage, &format!("{prefix}{name}")).await? {
            out.push((name, record));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logical::MemoryStorage;

    #[derive(Debug, Serialize, Deserialize)]
    struct Rec {
        name: String,
        secret: StoredSecret,
    }

    #[tokio::test]
    async fn records_round_trip_and_secrets_stay_out_of_debug_and_errors() {
        // GIVEN a record holding a secret
        let s = MemoryStorage::default();
        let rec = Rec {
            name: "a".into(),
            secret: StoredSecret::new(SecretString::from("s3cret-value")),
        };
        // WHEN it is stored and read back
        put(&s, "clients/a", &rec).await.unwrap();
        let back: Rec = get(&s, "clients/a").await.unwrap().unwrap();
        // THEN the secret survives storage but not Debug
        assert_eq!(back.secret.expose(), "s3cret-value");
        assert!(!format!("{back:?}").contains("s3cret"));
        // AND a record that does not parse is reported without its content
        s.put("clients/b", br#"{"name":"b","secret":42}"#.to_vec())
            .await
            .unwrap();
        let err = get::<Rec>(&s, "clients/b").await.unwrap_err();
        assert!(!err.to_string().contains("42"), "{err}");
        assert!(err.to_string().contains("clients/b"), "{err}");
    }

    #[tokio::test]
    async fn list_gives_leaves_only_and_all_reads_them() {
        let s = MemoryStorage::default();
        for k in ["wal/b", "wal/a", "wal/sub/x"] {
            put(
                &s,
                k,
                &Rec {
                    name: k.into(),
                    secret: StoredSecret::new(SecretString::from("x")),
                },
            )
            .await
            .unwrap();
        }
        assert_eq!(list(&s, WAL).await.unwrap(), vec!["a", "b"]);
        let recs: Vec<(String, Rec)> = all(&s, WAL).await.unwrap();
        assert_eq!(
            recs.iter()
                .map(|(n, r)| (n.as_str(), r.name.as_str()))
                .collect::<Vec<_>>(),
            vec![("a", "wal/a"), ("b", "wal/b")]
        );
        delete(&s, "wal/a").await.unwrap();
        assert_eq!(get::<Rec>(&s, "wal/a").await.unwrap().map(|r| r.name), None);
    }
}
