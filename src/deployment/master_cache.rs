//! The master clients a deployment context keeps across invocations, one per master secret
//! version and region, so a master's token is fetched once per lifetime, not once per call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use genesys_core::genesys::GenesysClient;
use genesys_core::region::Region;

/// A master client is reused only for the same secret version and region: a rotated master
/// secret gets a fresh client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct MasterKey {
    pub(super) arn: String,
    pub(super) version_id: String,
    pub(super) region: Region,
}

/// The cached master clients.
#[derive(Default)]
pub(super) struct MasterCache {
    clients: Mutex<HashMap<MasterKey, Arc<GenesysClient>>>,
}

impl MasterCache {
    /// The client cached for `key`, if any.
    pub(super) fn get(&self, key: &MasterKey) -> Option<Arc<GenesysClient>> {
        self.clients.lock().expect("master cache lock").get(key).cloned()
    }

    /// Caches `client` for `key`, evicting the other versions of the same master and region,
    /// except version `keep`.
    pub(super) fn insert(&self, key: MasterKey, client: Arc<GenesysClient>, keep: Option<&str>) {
        let mut cache = self.clients.lock().expect("master cache lock");
        cache.retain(|k, _| k.arn != key.arn || k.region != key.region || Some(k.version_id.as_str()) == keep);
        cache.insert(key, client);
    }

    /// Drops every cached client.
    pub(super) fn clear(&self) {
        self.clients.lock().expect("master cache lock").clear();
    }
}
