//! The engine's locks, in memory, between the requests one plugin process serves: the root lock,
//! between what changes the master and what creates clients with it, and one lock per role and
//! per static role. The per-name locks' names are made here only, so two modules taking a role's
//! lock always take the same one. Where both are taken, the root lock comes first.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedMutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// One async lock per name, made on first use.
#[derive(Default)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    /// Waits for and takes the lock of `name`.
    pub async fn lock(&self, name: &str) -> OwnedMutexGuard<()> {
        let lock = self
            .locks
            .lock()
            .expect("lock table")
            .entry(name.to_owned())
            .or_default()
            .clone();
        lock.lock_owned().await
    }
}

/// The engine's locks. One per engine.
#[derive(Default)]
pub struct Locks {
    /// Held exclusively by `config` writes and deletes, `rotate-root` and its recovery; shared by
    /// whatever creates clients (`creds/`, `token/`) and by role writes, so config cannot go (or
    /// the master's secret change) under a create in flight.
    root: RwLock<()>,
    /// Per role (`role/<name>`) and static role (`static/<name>`).
    names: KeyedLocks,
}

impl std::fmt::Debug for Locks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locks").finish_non_exhaustive()
    }
}

impl Locks {
    /// The root lock, alone: the master's credential may change under it.
    pub async fn root_exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.root.write().await
    }

    /// The root lock, shared: the master's credential stays as it is meanwhile.
    pub async fn root_shared(&self) -> RwLockReadGuard<'_, ()> {
        self.root.read().await
    }

    /// Role `name`'s lock: its record, its `token/` client and that client's secret.
    pub async fn role(&self, name: &str) -> OwnedMutexGuard<()> {
        self.names.lock(&format!("role/{name}")).await
    }

    /// Static role `name`'s lock: its record and its client's secret.
    pub async fn static_role(&self, name: &str) -> OwnedMutexGuard<()> {
        self.names.lock(&format!("static/{name}")).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the per-name lock `key` is held now.
    fn held(locks: &Locks, key: &str) -> bool {
        locks
            .names
            .locks
            .lock()
            .unwrap()
            .get(key)
            .is_some_and(|lock| lock.try_lock().is_err())
    }

    #[tokio::test]
    async fn a_role_and_a_static_role_of_one_name_have_a_lock_each() {
        let locks = Locks::default();
        let role = locks.role("crm").await;
        assert!(held(&locks, "role/crm") && !held(&locks, "static/crm"));
        let fixed = locks.static_role("crm").await;
        assert!(held(&locks, "role/crm") && held(&locks, "static/crm"));
        drop(role);
        assert!(!held(&locks, "role/crm") && held(&locks, "static/crm"));
        drop(fixed);
        assert!(!held(&locks, "static/crm"));
    }

    #[tokio::test]
    async fn the_root_lock_is_shared_by_readers_and_held_alone_by_a_writer() {
        let locks = Locks::default();
        let (a, b) = (locks.root_shared().await, locks.root_shared().await);
        assert!(locks.root.try_write().is_err());
        drop((a, b));
        let alone = locks.root_exclusive().await;
        assert!(locks.root.try_read().is_err());
        drop(alone);
        assert!(locks.root.try_write().is_ok());
    }
}
