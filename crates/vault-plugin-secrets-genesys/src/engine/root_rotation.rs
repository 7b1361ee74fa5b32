//! The write-ahead record of a root rotation (`root-rotation`): stored before the master's new
//! secret is asked for, holding a token of the current secret that can ask for another after a
//! crash. The rotation and its recovery are [`super::root`].
use std::time::{Duration, Instant};

use genesys_core::secret::AccessToken;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::store::{self, StoredSecret};
use crate::logical::{LogicalError, Storage};

/// A recovery token with less than this left is not used.
const RECOVERY_MIN_LEFT: Duration = Duration::from_secs(30);

/// The write-ahead record of a root rotation: stored before the POST, deleted once the new
/// secret is stored (or once it is proven the POST never landed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RootRotation {
    /// The master client.
    pub client_id: String,
    /// The config generation the rotation started from.
    pub generation: u64,
    /// A token of the secret that was current before the POST.
    pub recovery_token: StoredSecret,
    /// When that token expires.
    #[serde(with = "time::serde::rfc3339")]
    pub token_expires_at: OffsetDateTime,
    /// When the rotation (or the last recovery attempt that may still land) started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Why recovery is impossible, once it is: an operator must write config with a secret
    /// reset in Genesys Cloud.
    #[serde(default)]
    pub locked: Option<String>,
}

impl RootRotation {
    /// The record, if a rotation is in progress.
    pub async fn load(storage: &dyn Storage) -> Result<Option<RootRotation>, LogicalError> {
        store::get(storage, store::ROOT_ROTATION).await
    }

    pub(super) async fn save(&self, storage: &dyn Storage) -> Result<(), LogicalError> {
        store::put(storage, store::ROOT_ROTATION, self).await
    }

    pub(super) fn token(&self, now: OffsetDateTime) -> Option<AccessToken> {
        let left = Duration::try_from(self.token_expires_at - now).ok()?;
        (left >= RECOVERY_MIN_LEFT).then(|| {
            AccessToken::new(
                genesys_core::secret::SecretString::from(self.recovery_token.expose().to_owned()),
                Instant::now() + left,
            )
        })
    }
}
