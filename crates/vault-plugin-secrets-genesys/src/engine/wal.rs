//! Write-ahead records: one is stored before every change to Genesys whose answer the engine
//! must not lose, and deleted once the outcome is stored. A record left behind by a crash is
//! finished by the periodic pass ([`super::periodic`]):
//! - [`WalKind::CreateClient`] (before every create): rolled back once older than
//!   `rollback_min_age`: the client of that name is deleted (its secret was never handed out),
//!   with its record;
//! - [`WalKind::NewSecret`] (before a new secret for a static role's client or a `token/`
//!   client): rolled forward once settled: if the stored secret no longer works, the client gets
//!   another one, which is stored.
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::purpose::Purpose;
use super::store;
use crate::logical::{LogicalError, Storage};

/// Whose secret a [`WalKind::NewSecret`] changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SecretTarget {
    /// A static role's client. `creating`: the rotation period of a role being created (the
    /// role is stored with the first secret).
    Static {
        /// The static role.
        role: String,
        /// Set while the role is being created: its rotation period in seconds.
        creating: Option<u64>,
    },
    /// The `token/` client `clients/<uuid>`.
    TokenClient {
        /// Its record's uuid.
        uuid: String,
    },
}

/// What is in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WalKind {
    /// A client named `name` (`<prefix><uuid>`) is being created.
    CreateClient {
        /// The uuid in its name.
        uuid: String,
        /// Its full name.
        name: String,
        /// What it is for.
        purpose: Purpose,
    },
    /// Client `client_id` is getting a new secret; the stored one is generation `generation`.
    NewSecret {
        /// Whose secret.
        target: SecretTarget,
        /// The client.
        client_id: String,
        /// The generation of the stored secret before the request.
        generation: u64,
    },
}

/// One write-ahead record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wal {
    /// Its id (the key under `wal/`).
    pub id: String,
    /// When it was stored.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// What is in flight.
    pub kind: WalKind,
}

impl Wal {
    /// Stores a record of `kind` before the change it announces.
    pub async fn begin(storage: &dyn Storage, kind: WalKind, now: OffsetDateTime) -> Result<Wal, LogicalError> {
        let wal = Wal {
            id: uuid::Uuid::new_v4().to_string(),
            created_at: now,
            kind,
        };
        store::put(storage, &wal.key(), &wal).await?;
        Ok(wal)
    }

    /// Deletes it: the change's outcome is stored.
    pub async fn end(&self, storage: &dyn Storage) -> Result<(), LogicalError> {
        store::delete(storage, &self.key()).await
    }

    /// Stores it again as started at `now`: a request it announces was sent again and may still
    /// land, so it must settle again before anyone acts on it.
    pub async fn restamp(&self, storage: &dyn Storage, now: OffsetDateTime) -> Result<(), LogicalError> {
        let mut again = self.clone();
        again.created_at = now;
        store::put(storage, &again.key(), &again).await
    }

    /// Its storage key.
    pub fn key(&self) -> String {
        format!("{}{}", store::WAL, self.id)
    }

    /// Every record.
    pub async fn all(storage: &dyn Storage) -> Result<Vec<Wal>, LogicalError> {
        Ok(store::all::<Wal>(storage, store::WAL)
            .await?
            .into_iter()
            .map(|(_, w)| w)
            .collect())
    }

    /// Whether a new-secret record for `target` is in flight.
    pub fn changes(&self, target: &SecretTarget) -> bool {
        matches!(&self.kind, WalKind::NewSecret { target: t, .. } if t == target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logical::MemoryStorage;

    #[tokio::test]
    async fn a_record_lives_from_begin_to_end() {
        // GIVEN an empty storage
        let s = MemoryStorage::default();
        let now = OffsetDateTime::now_utc();
        // WHEN a record begins
        let target = SecretTarget::Static {
            role: "crm".into(),
            creating: None,
        };
        let wal = Wal::begin(
            &s,
            WalKind::NewSecret {
                target: target.clone(),
                client_id: "c1".into(),
                generation: 3,
            },
            now,
        )
        .await
        .unwrap();
        // THEN it is listed until it ends
        let all = Wal::all(&s).await.unwrap();
        assert_eq!(all, vec![wal.clone()]);
        assert!(all[0].changes(&target));
        wal.end(&s).await.unwrap();
        assert!(Wal::all(&s).await.unwrap().is_empty());
    }
}
