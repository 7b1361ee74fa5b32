//! The server's `pb.Storage` and `pb.SystemView`, reached over the broker connection given to
//! `Setup`, as the backend's [`Storage`] and [`SystemView`]. Errors come back as strings in the
//! replies (the server's storage), or as gRPC statuses (the connection).
use std::time::Duration;

use async_trait::async_trait;
use tonic::transport::Channel;

use super::pb::pb;
use super::pb::pb::storage_client::StorageClient;
use super::pb::pb::system_view_client::SystemViewClient;
use super::translate::duration_from_nanos;
use crate::logical::{Storage, StorageError, SystemView};

/// Replies as large as the server sends them (it allows `math.MaxInt32`).
const MAX_MESSAGE: usize = i32::MAX as usize;

/// The mount's storage and system view, over one broker connection.
#[derive(Debug, Clone)]
pub struct BrokeredServer {
    storage: StorageClient<Channel>,
    system: SystemViewClient<Channel>,
}

impl BrokeredServer {
    /// Clients over `channel` (a connection to the server's broker listener).
    pub fn new(channel: Channel) -> BrokeredServer {
        BrokeredServer {
            storage: StorageClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            system: SystemViewClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
        }
    }
}

fn transport(op: &str, status: tonic::Status) -> StorageError {
    StorageError(format!("{op}: {} ({:?})", status.message(), status.code()))
}

fn server_error(op: &str, err: String) -> Result<(), StorageError> {
    if err.is_empty() {
        Ok(())
    } else {
        Err(StorageError(format!("{op}: {err}")))
    }
}

#[async_trait]
impl Storage for BrokeredServer {
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let reply = self
            .storage
            .clone()
            .list(pb::StorageListArgs {
                prefix: prefix.to_string(),
                txn: String::new(),
            })
            .await
            .map_err(|s| transport("list", s))?
            .into_inner();
        server_error("list", reply.err)?;
        Ok(reply.keys)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let reply = self
            .storage
            .clone()
            .get(pb::StorageGetArgs {
                key: key.to_string(),
                txn: String::new(),
            })
            .await
            .map_err(|s| transport("get", s))?
            .into_inner();
        server_error("get", reply.err)?;
        Ok(reply.entry.map(|entry| entry.value))
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        let reply = self
            .storage
            .clone()
            .put(pb::StoragePutArgs {
                entry: Some(pb::StorageEntry {
                    key: key.to_string(),
                    value,
                    seal_wrap: false,
                }),
                txn: String::new(),
            })
            .await
            .map_err(|s| transport("put", s))?
            .into_inner();
        server_error("put", reply.err)
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let reply = self
            .storage
            .clone()
            .delete(pb::StorageDeleteArgs {
                key: key.to_string(),
                txn: String::new(),
            })
            .await
            .map_err(|s| transport("delete", s))?
            .into_inner();
        server_error("delete", reply.err)
    }
}

#[async_trait]
impl SystemView for BrokeredServer {
    async fn default_lease_ttl(&self) -> Result<Duration, StorageError> {
        let reply = self
            .system
            .clone()
            .default_lease_ttl(pb::Empty {})
            .await
            .map_err(|s| transport("default lease TTL", s))?;
        Ok(duration_from_nanos(reply.into_inner().ttl))
    }

    async fn max_lease_ttl(&self) -> Result<Duration, StorageError> {
        let reply = self
            .system
            .clone()
            .max_lease_ttl(pb::Empty {})
            .await
            .map_err(|s| transport("max lease TTL", s))?;
        Ok(duration_from_nanos(reply.into_inner().ttl))
    }

    async fn standby(&self) -> Result<bool, StorageError> {
        let reply = self
            .system
            .clone()
            .replication_state(pb::Empty {})
            .await
            .map_err(|s| transport("replication state", s))?;
        Ok(reply.into_inner().state & REPLICATION_PERFORMANCE_STANDBY != 0)
    }
}

/// sdk/helper/consts' `ReplicationPerformanceStandby`: set on an HA standby (OpenBao's standbys
/// serve reads; Vault Enterprise's performance standbys likewise).
const REPLICATION_PERFORMANCE_STANDBY: i32 = 1 << 14;
