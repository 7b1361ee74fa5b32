//! The `token/` roles' clients in memory, each with its own token cache, by record uuid and
//! secret generation: a token is reused until near expiry and never stored.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use genesys_core::genesys::GenesysClient;

use crate::logical::LogicalError;

/// In-memory clients of the `token/` roles (each with its token cache), by record uuid and
/// secret generation. Never stored.
#[derive(Default)]
pub struct TokenCache {
    clients: Mutex<HashMap<String, (u64, Arc<GenesysClient>)>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").finish_non_exhaustive()
    }
}

impl TokenCache {
    /// The cached client of record `uuid` at secret `generation`, or the one `make` builds (kept
    /// in its place). The cache stays locked meanwhile, so a record gets one client.
    pub fn client(
        &self,
        uuid: &str,
        generation: u64,
        make: impl FnOnce() -> Result<GenesysClient, LogicalError>,
    ) -> Result<Arc<GenesysClient>, LogicalError> {
        let mut clients = self.clients.lock().expect("token cache lock");
        if let Some((cached, client)) = clients.get(uuid) {
            if *cached == generation {
                return Ok(client.clone());
            }
        }
        let client = Arc::new(make()?);
        clients.insert(uuid.to_owned(), (generation, client.clone()));
        Ok(client)
    }

    /// Drops the cached client (and token) of record `uuid`.
    pub fn forget(&self, uuid: &str) {
        self.clients.lock().expect("token cache lock").remove(uuid);
    }
}
