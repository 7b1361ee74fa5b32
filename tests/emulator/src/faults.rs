//! Injected faults: the failures a real Genesys org shows now and then (5xx, 429, connections
//! that die before or after the server acted, slow answers, a listing that misses a client), on
//! demand and one request at a time.
//!
//! Faults are matched by route key (see [`routes`]) and optionally by client id, and are consumed
//! in the order they were injected: for a given request only the first matching fault is looked
//! at. A fault first lets `skip` matching calls through, then hits the next `times` ones, then is
//! gone.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Route keys: `"METHOD /path-pattern"`, the names used by faults and call counts.
pub mod routes {
    pub const TOKEN: &str = "POST /oauth/token";
    pub const LIST_CLIENTS: &str = "GET /api/v2/oauth/clients";
    pub const CREATE_CLIENT: &str = "POST /api/v2/oauth/clients";
    pub const GET_CLIENT: &str = "GET /api/v2/oauth/clients/{id}";
    pub const UPDATE_CLIENT: &str = "PUT /api/v2/oauth/clients/{id}";
    pub const DELETE_CLIENT: &str = "DELETE /api/v2/oauth/clients/{id}";
    pub const NEW_SECRET: &str = "POST /api/v2/oauth/clients/{id}/secret";
    pub const TOKENS_ME: &str = "GET /api/v2/tokens/me";
    pub const LIST_CREDENTIALS: &str = "GET /api/v2/integrations/credentials";
    pub const CREATE_CREDENTIAL: &str = "POST /api/v2/integrations/credentials";
    pub const GET_CREDENTIAL: &str = "GET /api/v2/integrations/credentials/{id}";
    pub const UPDATE_CREDENTIAL: &str = "PUT /api/v2/integrations/credentials/{id}";
    pub const DELETE_CREDENTIAL: &str = "DELETE /api/v2/integrations/credentials/{id}";
    pub const GET_ROLE: &str = "GET /api/v2/authorization/roles/{id}";

    /// Every route key the emulator implements.
    pub const ALL: [&str; 14] = [
        TOKEN,
        LIST_CLIENTS,
        CREATE_CLIENT,
        GET_CLIENT,
        UPDATE_CLIENT,
        DELETE_CLIENT,
        NEW_SECRET,
        TOKENS_ME,
        LIST_CREDENTIALS,
        CREATE_CREDENTIAL,
        GET_CREDENTIAL,
        UPDATE_CREDENTIAL,
        DELETE_CREDENTIAL,
        GET_ROLE,
    ];
}

/// One injected fault.
///
/// JSON (admin API): `{"route": "POST /api/v2/oauth/clients", "skip": 0, "times": 1,
/// "action": {"type": "status", "status": 503, "retryAfter": 2}, "clientId": null}`;
/// `skip` defaults to 0, `times` to 1, `clientId` to none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// A route key, e.g. `"POST /api/v2/oauth/clients"` (see [`routes`]).
    pub route: String,
    /// Let this many matching calls through before the fault starts hitting.
    #[serde(default)]
    pub skip: u32,
    /// Hit this many matching calls, then disappear.
    #[serde(default = "one")]
    pub times: u32,
    pub action: FaultAction,
    /// Only calls whose `{id}` path parameter (a client's, or a credential's on the credential
    /// routes), or whose Basic-auth client id (token requests), equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault on `route` that hits the next call.
    pub fn new(route: impl Into<String>, action: FaultAction) -> Self {
        Fault {
            route: route.into(),
            skip: 0,
            times: 1,
            action,
            client_id: None,
        }
    }

    /// Builder: let `n` matching calls through first.
    pub fn skip(mut self, n: u32) -> Self {
        self.skip = n;
        self
    }

    /// Builder: hit `n` matching calls.
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    /// Builder: only calls about (or authenticated as) this client id.
    pub fn for_client(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Why this fault cannot be injected, if it cannot: an action that only makes sense on some
    /// routes is refused elsewhere rather than silently never acting.
    pub fn check(&self) -> Result<(), String> {
        match self.action {
            FaultAction::ShortListing if self.route != routes::LIST_CLIENTS => Err(format!(
                "fault action shortListing applies only to route {:?}, not {:?}",
                routes::LIST_CLIENTS,
                self.route
            )),
            _ => Ok(()),
        }
    }

    fn matches(&self, route: &str, path_id: Option<&str>, basic_id: Option<&str>) -> bool {
        self.route == route
            && match &self.client_id {
                None => true,
                Some(want) => path_id == Some(want) || basic_id == Some(want),
            }
    }
}

/// What a fault does to the request it hits.
///
/// JSON: `{"type":"status","status":503,"retryAfter":5}` (`retryAfter` optional),
/// `{"type":"drop"}`, `{"type":"dropAfterApply"}`, `{"type":"statusAfterApply","status":502}`,
/// `{"type":"delay","ms":1500}`, `{"type":"shortListing"}` (route `GET /api/v2/oauth/clients`
/// only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "FaultActionWire", into = "FaultActionWire")]
pub enum FaultAction {
    /// Answer this status with an error body instead of acting; a `Retry-After` header is sent
    /// when `retry_after` is set.
    Status { status: u16, retry_after: Option<u64> },
    /// Close the connection without answering, before acting: the server did nothing.
    Drop,
    /// Act (state changes!) and then close the connection without answering: models a crash or
    /// lost answer after the server acted.
    DropAfterApply,
    /// Act (state changes!) and then answer this status with an error body instead of the real
    /// answer: models a gateway or front end that fails the call after the backend committed it
    /// (a 502 or 500 whose request was applied all the same).
    StatusAfterApply { status: u16 },
    /// Answer normally, after this delay.
    Delay(Duration),
    /// `GET /api/v2/oauth/clients` only: answer the listing without its last client while
    /// `total` still counts it, as a real listing does when the org shifts between pages (an
    /// org without clients gets its honest empty listing).
    ShortListing,
}

/// Internally tagged JSON shape of [`FaultAction`] (serde cannot tag a newtype `Duration`).
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum FaultActionWire {
    #[serde(rename_all = "camelCase")]
    Status {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
    Drop,
    DropAfterApply,
    StatusAfterApply {
        status: u16,
    },
    Delay {
        ms: u64,
    },
    ShortListing,
}

impl From<FaultActionWire> for FaultAction {
    fn from(w: FaultActionWire) -> Self {
        match w {
            FaultActionWire::Status { status, retry_after } => FaultAction::Status { status, retry_after },
            FaultActionWire::Drop => FaultAction::Drop,
            FaultActionWire::DropAfterApply => FaultAction::DropAfterApply,
            FaultActionWire::StatusAfterApply { status } => FaultAction::StatusAfterApply { status },
            FaultActionWire::Delay { ms } => FaultAction::Delay(Duration::from_millis(ms)),
            FaultActionWire::ShortListing => FaultAction::ShortListing,
        }
    }
}

impl From<FaultAction> for FaultActionWire {
    fn from(a: FaultAction) -> Self {
        match a {
            FaultAction::Status { status, retry_after } => FaultActionWire::Status { status, retry_after },
            FaultAction::Drop => FaultActionWire::Drop,
            FaultAction::DropAfterApply => FaultActionWire::DropAfterApply,
            FaultAction::StatusAfterApply { status } => FaultActionWire::StatusAfterApply { status },
            FaultAction::Delay(d) => FaultActionWire::Delay {
                ms: d.as_millis().try_into().unwrap_or(u64::MAX),
            },
            FaultAction::ShortListing => FaultActionWire::ShortListing,
        }
    }
}

/// The pending faults, in injection order.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    faults: Vec<Fault>,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, fault: Fault) {
        // A fault that can never hit would only confuse a later reader of the queue.
        if fault.times > 0 {
            self.faults.push(fault);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.faults.clear();
    }

    /// Faults that have not yet hit all their calls.
    pub(crate) fn len(&self) -> usize {
        self.faults.len()
    }

    /// Consults the first fault matching this call: returns its action if it hits, and uses up
    /// one `skip` or one `times` of it either way.
    pub(crate) fn take(&mut self, route: &str, path_id: Option<&str>, basic_id: Option<&str>) -> Option<FaultAction> {
        let pos = self.faults.iter().position(|f| f.matches(route, path_id, basic_id))?;
        let fault = &mut self.faults[pos];
        if fault.skip > 0 {
            fault.skip -= 1;
            return None;
        }
        fault.times -= 1;
        let action = fault.action.clone();
        if fault.times == 0 {
            self.faults.remove(pos);
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_then_times_then_gone() {
        let mut q = FaultQueue::default();
        q.push(Fault::new(routes::TOKEN, FaultAction::Drop).skip(1).times(2));
        assert_eq!(q.take(routes::TOKEN, None, None), None);
        assert_eq!(q.take(routes::TOKEN, None, None), Some(FaultAction::Drop));
        assert_eq!(q.take(routes::TOKEN, None, None), Some(FaultAction::Drop));
        assert_eq!(q.take(routes::TOKEN, None, None), None);
    }

    #[test]
    fn consumed_in_order_and_filtered_by_client() {
        let mut q = FaultQueue::default();
        let s503 = FaultAction::Status {
            status: 503,
            retry_after: None,
        };
        q.push(Fault::new(routes::GET_CLIENT, s503.clone()).for_client("a"));
        q.push(Fault::new(routes::GET_CLIENT, FaultAction::Drop));
        assert_eq!(q.take(routes::LIST_CLIENTS, None, None), None);
        assert_eq!(q.take(routes::GET_CLIENT, Some("b"), None), Some(FaultAction::Drop));
        assert_eq!(q.take(routes::GET_CLIENT, Some("b"), None), None);
        assert_eq!(q.take(routes::GET_CLIENT, Some("a"), None), Some(s503));
    }

    #[test]
    fn json_shape() {
        let f: Fault =
            serde_json::from_str(r#"{"route":"POST /oauth/token","action":{"type":"delay","ms":250},"clientId":"x"}"#)
                .unwrap();
        assert_eq!(f.times, 1);
        assert_eq!(f.skip, 0);
        assert_eq!(f.action, FaultAction::Delay(Duration::from_millis(250)));
        let v = serde_json::to_value(Fault::new(
            routes::TOKEN,
            FaultAction::Status {
                status: 429,
                retry_after: Some(3),
            },
        ))
        .unwrap();
        assert_eq!(
            v["action"],
            serde_json::json!({"type":"status","status":429,"retryAfter":3})
        );
        let f: Fault =
            serde_json::from_str(r#"{"route":"GET /api/v2/oauth/clients","action":{"type":"shortListing"}}"#).unwrap();
        assert_eq!(f, Fault::new(routes::LIST_CLIENTS, FaultAction::ShortListing));
        let f: Fault = serde_json::from_str(
            r#"{"route":"POST /api/v2/oauth/clients/{id}/secret","action":{"type":"statusAfterApply","status":502}}"#,
        )
        .unwrap();
        assert_eq!(
            f,
            Fault::new(routes::NEW_SECRET, FaultAction::StatusAfterApply { status: 502 })
        );
        assert_eq!(
            serde_json::to_value(&f).unwrap()["action"],
            serde_json::json!({"type":"statusAfterApply","status":502})
        );
    }

    #[test]
    fn a_short_listing_is_refused_off_the_listing_route() {
        assert!(Fault::new(routes::LIST_CLIENTS, FaultAction::ShortListing)
            .check()
            .is_ok());
        let err = Fault::new(routes::GET_CLIENT, FaultAction::ShortListing)
            .check()
            .unwrap_err();
        assert!(err.contains("GET /api/v2/oauth/clients/{id}"), "{err}");
        for action in [
            FaultAction::Drop,
            FaultAction::DropAfterApply,
            FaultAction::StatusAfterApply { status: 502 },
        ] {
            assert!(Fault::new(routes::GET_CLIENT, action).check().is_ok());
        }
    }
}
