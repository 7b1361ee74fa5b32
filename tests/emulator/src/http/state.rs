//! The state the HTTP face shares with the [`crate::Emulator`] handle: the org's store, behind
//! one lock that first purges what Genesys would have removed by now.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::store::Store;

/// State shared by the server and the [`crate::Emulator`] handle.
#[derive(Debug)]
pub(crate) struct Shared {
    store: Mutex<Store>,
}

pub(crate) type AppState = Arc<Shared>;

impl Shared {
    pub(crate) fn new(store: Store) -> Self {
        Shared {
            store: Mutex::new(store),
        }
    }

    /// Locks the store, first removing the clients Genesys would have removed by now (soft
    /// deletes past their `dateToDelete`, auto-deleted inactive clients): every access sees the
    /// org as of the emulator's clock. A panic elsewhere while holding the lock leaves the data
    /// usable (every store method leaves it consistent before it can panic), so poisoning is
    /// ignored.
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        store.purge_expired();
        store
    }
}
