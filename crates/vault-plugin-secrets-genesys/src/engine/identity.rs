//! The mount's owner identity: a random id made the first time the mount is configured, kept in
//! storage for the mount's whole life (deleting and rewriting `config` keeps it), and named in
//! the ownership marker of every client the mount creates. Two mounts on one org, even with one
//! name prefix, therefore never own each other's clients (docs/design/ownership.md).
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::store;
use crate::logical::{LogicalError, Storage};

/// What the marker of this mount's clients names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `vault-plugin-secrets-genesys/<uuid>`: the owner id of [`genesys_core::guard::ownership`].
    pub owner: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The head of every owner id this engine makes.
const OWNER_HEAD: &str = "vault-plugin-secrets-genesys/";

impl Identity {
    /// The identity, if the mount has one.
    pub async fn load(storage: &dyn Storage) -> Result<Option<Identity>, LogicalError> {
        store::get(storage, store::IDENTITY).await
    }

    /// The identity, made and stored now if the mount has none yet.
    pub async fn load_or_create(storage: &dyn Storage, now: OffsetDateTime) -> Result<Identity, LogicalError> {
        if let Some(identity) = Self::load(storage).await? {
            return Ok(identity);
        }
        let identity = Identity {
            owner: format!("{OWNER_HEAD}{}", uuid::Uuid::new_v4()),
            created_at: now,
        };
        store::put(storage, store::IDENTITY, &identity).await?;
        tracing::info!(owner = %identity.owner, "made this mount's owner identity");
        Ok(identity)
    }

    /// The marker every client of this mount carries in its description.
    pub fn marker(&self) -> String {
        genesys_core::guard::ownership::marker(&self.owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logical::MemoryStorage;

    #[tokio::test]
    async fn an_identity_is_made_once_and_differs_between_mounts() {
        // GIVEN two mounts' storages
        let a = MemoryStorage::default();
        let b = MemoryStorage::default();
        let now = OffsetDateTime::now_utc();
        // WHEN each is asked for its identity twice
        let a1 = Identity::load_or_create(&a, now).await.unwrap();
        let a2 = Identity::load_or_create(&a, now).await.unwrap();
        let b1 = Identity::load_or_create(&b, now).await.unwrap();
        // THEN a mount keeps its identity and two mounts never share one
        assert_eq!(a1, a2);
        assert_ne!(a1.owner, b1.owner);
        assert!(a1.owner.starts_with(OWNER_HEAD));
        assert!(a1.marker().contains(&a1.owner));
    }
}
