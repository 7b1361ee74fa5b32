//! What a client the engine creates is for: one `creds/` lease, or a role's `token/` client.
//! Kept in the client's record and in the write-ahead record of its create.
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What a client is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Purpose {
    /// The client of one `creds/<role>` lease.
    Lease {
        /// The role it was issued for.
        role: String,
        /// When the lease ends unless renewed (updated by renewals). Past it (plus a grace), the
        /// periodic pass retires the client even if the server never revokes the lease.
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    /// The client `token/<role>` mints from.
    Token {
        /// The role.
        role: String,
    },
}

impl Purpose {
    /// The role it serves.
    pub fn role(&self) -> &str {
        match self {
            Purpose::Lease { role, .. } | Purpose::Token { role } => role,
        }
    }
}
