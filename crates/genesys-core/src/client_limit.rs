//! The organization's OAuth client limit: what counts against it and when a create must be
//! refused while room remains. One rule for every front end (the Lambdas' createSecret, the
//! OpenBao engine's `creds/` and `token/`), so both stop at the same count.
//!
//! Genesys Cloud refuses a create once the org holds its limit (commonly quoted as 500,
//! unconfirmed: a setting). Every listed item counts, in any state: soft-deleted clients still
//! listed with `dateToDelete` may still count (unconfirmed), and items the listing decoder cannot
//! read as clients take room too ([`ClientListing::len`]). A front end refuses while `margin`
//! places are still free, so clients made by others between its count and its create, and the
//! rotations already under way, still find room.

use crate::genesys::ClientListing;

/// The org's client limit when nothing is configured (`CLIENT_LIMIT`, `client_limit`).
pub const DEFAULT_CLIENT_LIMIT: usize = 500;
/// Places kept free under the limit when nothing is configured (`CLIENT_LIMIT_MARGIN`,
/// `client_limit_margin`).
pub const DEFAULT_LIMIT_MARGIN: usize = 10;

/// A client limit and the margin kept under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimit {
    /// The org's limit on OAuth clients.
    pub limit: usize,
    /// Creates are refused once the org holds `limit - margin` clients.
    pub margin: usize,
}

/// A limit and margin that leave no room for any create.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("margin {margin} leaves no room under the client limit {limit}")]
pub struct NoRoom {
    /// The limit.
    pub limit: usize,
    /// The margin.
    pub margin: usize,
}

impl Default for ClientLimit {
    fn default() -> Self {
        Self {
            limit: DEFAULT_CLIENT_LIMIT,
            margin: DEFAULT_LIMIT_MARGIN,
        }
    }
}

impl ClientLimit {
    /// `limit` and `margin`, if the margin leaves room for at least one create.
    pub fn new(limit: usize, margin: usize) -> Result<Self, NoRoom> {
        if margin >= limit {
            return Err(NoRoom { limit, margin });
        }
        Ok(Self { limit, margin })
    }

    /// What counts against the limit in `listing`: every listed item, readable or not, in any
    /// state (soft-deleted clients included).
    pub fn counted(listing: &ClientListing) -> usize {
        listing.len()
    }

    /// Whether a create must be refused when the org holds `count` clients: it would leave
    /// fewer than `margin` places free.
    pub fn refuses(&self, count: usize) -> bool {
        count + self.margin >= self.limit
    }

    /// Creates left before [`refuses`](Self::refuses) says no, with the org holding `count`.
    pub fn creates_left(&self, count: usize) -> usize {
        self.limit.saturating_sub(self.margin).saturating_sub(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesys::OAuthClient;

    #[test]
    fn refuses_while_the_margin_is_still_free() {
        let rule = ClientLimit::new(10, 2).unwrap();
        assert!(!rule.refuses(7));
        assert_eq!(rule.creates_left(7), 1);
        // 8 held: a create would leave 1 free, fewer than the margin of 2.
        assert!(rule.refuses(8));
        assert_eq!(rule.creates_left(8), 0);
        assert!(rule.refuses(10));
        assert!(rule.refuses(11));
        assert_eq!(rule.creates_left(11), 0);
    }

    #[test]
    fn a_zero_margin_refuses_only_at_the_limit() {
        let rule = ClientLimit::new(3, 0).unwrap();
        assert!(!rule.refuses(2));
        assert!(rule.refuses(3));
    }

    #[test]
    fn a_margin_that_leaves_no_room_is_refused() {
        assert_eq!(ClientLimit::new(5, 5), Err(NoRoom { limit: 5, margin: 5 }));
        assert!(ClientLimit::new(0, 0).is_err());
        assert_eq!(ClientLimit::default(), ClientLimit::new(500, 10).unwrap());
    }

    #[test]
    fn soft_deleted_clients_and_unreadable_items_count() {
        let soft: OAuthClient = serde_json::from_value(serde_json::json!({
            "id": "a", "name": "old", "authorizedGrantType": "CLIENT-CREDENTIALS", "state": "inactive",
            "dateToDelete": "2026-12-01T00:00:00.000Z"
        }))
        .unwrap();
        let other = OAuthClient {
            id: "b".into(),
            ..soft.clone()
        };
        assert!(soft.is_soft_deleted());
        let listing = ClientListing {
            clients: vec![soft, other],
            undecoded: vec!["(no id)".into()],
            ..ClientListing::default()
        };
        assert_eq!(ClientLimit::counted(&listing), 3);
    }
}
