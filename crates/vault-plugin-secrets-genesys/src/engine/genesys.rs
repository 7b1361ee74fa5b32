//! How the engine reaches Genesys Cloud, through the core's one client: the endpoints of a
//! region (with the test-only loopback overrides), the master client (cached in memory with its
//! token, rebuilt when the stored credential changes), clients for credentials the engine holds,
//! the wait until a fresh client can get a token (the core's [`propagation`]), and the check of a
//! master credential. What a failed change may have done is the core's one rule
//! ([`genesys_core::lifecycle::renewal::Outcome`]).
use std::sync::Arc;
use std::time::Duration;

use genesys_core::classify::Classify;
use genesys_core::genesys::{
    request_token, GenesysCall, GenesysClient, GenesysError, HttpSettings, OAuthClientRequest, RoleDivision, TokenInfo,
};
use genesys_core::lifecycle::propagation;
use genesys_core::lifecycle::renewal::RenewalError;
use genesys_core::region::{EndpointOverrides, Endpoints, Region};
use genesys_core::secret::ClientCredentials;
use tracing::debug;

use crate::logical::LogicalError;

/// Credentials from a stored client id: ids are validated before they are stored, so one that
/// no longer parses is a damaged record, answered as an internal error (never guessed at).
pub fn stored_credentials(
    client_id: &str,
    client_secret: secrecy::SecretString,
) -> Result<ClientCredentials, LogicalError> {
    let client_id = genesys_core::domain::ClientId::parse(client_id)
        .map_err(|e| LogicalError::Internal(format!("a stored client id is damaged: it {e}")))?;
    Ok(ClientCredentials {
        client_id,
        client_secret,
    })
}

/// The four permissions the master needs: list and read clients, create them, deactivate them
/// and give them new secrets, delete them.
pub const MASTER_PERMISSIONS: [&str; 4] = [
    "oauth:client:view",
    "oauth:client:add",
    "oauth:client:edit",
    "oauth:client:delete",
];

/// Which stored master credential a cached client was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MasterKey {
    client_id: String,
    region: Region,
    generation: u64,
}

/// The engine's way to Genesys Cloud. One per engine; cheap to share.
pub struct Connector {
    http: reqwest::Client,
    overrides: EndpointOverrides,
    settings: HttpSettings,
    propagation_timeout: Duration,
    master: tokio::sync::Mutex<Option<(MasterKey, Arc<GenesysClient>)>>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("overrides", &self.overrides)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector with these endpoint overrides, retry settings and propagation budget.
    pub fn new(overrides: EndpointOverrides, settings: HttpSettings, propagation_timeout: Duration) -> Self {
        Self {
            http: settings.http_client(),
            overrides,
            settings,
            propagation_timeout,
            master: tokio::sync::Mutex::new(None),
        }
    }

    /// The endpoints of `region` (an override if the build takes them and one is set).
    pub fn endpoints(&self, region: Region) -> Endpoints {
        self.overrides.resolve(region)
    }

    /// A client acting as `credentials` in `region`.
    pub fn client(&self, region: Region, credentials: ClientCredentials) -> GenesysClient {
        GenesysClient::new(
            self.http.clone(),
            self.endpoints(region),
            credentials,
            self.settings.clone(),
        )
    }

    /// A client that can only use `token`, a token of `client_id` (root recovery).
    pub fn with_token(
        &self,
        region: Region,
        client_id: &str,
        token: genesys_core::secret::AccessToken,
    ) -> GenesysClient {
        GenesysClient::with_access_token(
            self.http.clone(),
            self.endpoints(region),
            client_id,
            token,
            self.settings.clone(),
        )
    }

    /// The master client for the stored credential `generation` of `client_id`: the cached one
    /// (and its token) if it was built from that very credential, else a new one.
    pub async fn master(&self, region: Region, generation: u64, credentials: ClientCredentials) -> Arc<GenesysClient> {
        let key = MasterKey {
            client_id: credentials.client_id.as_str().to_owned(),
            region,
            generation,
        };
        let mut cached = self.master.lock().await;
        if let Some((k, client)) = cached.as_ref() {
            if *k == key {
                return client.clone();
            }
        }
        let client = Arc::new(self.client(region, credentials));
        *cached = Some((key, client.clone()));
        client
    }

    /// Drops the cached master client (the credential changed, or was deleted).
    pub async fn forget_master(&self) {
        *self.master.lock().await = None;
    }

    /// Waits until `credentials` can get a token (a new client propagates for a few seconds):
    /// token requests with a growing wait between them, at most the propagation budget and never
    /// past the operation's deadline. The token got is dropped at once. Returns the attempts.
    pub async fn wait_usable(&self, region: Region, credentials: &ClientCredentials) -> Result<u32, GenesysError> {
        let login = self.endpoints(region).login_base;
        let (_, attempts) = propagation::until_usable(self.propagation_timeout, self.settings.request_timeout, || {
            request_token(
                &self.http,
                &login,
                credentials,
                genesys_core::deadline::clamp(self.settings.request_timeout),
            )
        })
        .await
        .map_err(propagation::NotUsable::into_last)?;
        debug!(client_id = %credentials.client_id, attempts, "new client gets tokens");
        Ok(attempts)
    }

    /// One token request with `credentials` (no retry, no wait, the token dropped at once): does
    /// this secret work right now?
    pub async fn try_token(&self, region: Region, credentials: &ClientCredentials) -> Result<(), GenesysError> {
        let login = self.endpoints(region).login_base;
        let timeout = genesys_core::deadline::clamp(self.settings.request_timeout);
        request_token(&self.http, &login, credentials, timeout)
            .await
            .map(|_| ())
    }

    /// Checks a master credential end to end, changing nothing: it gets a token, `tokens/me`
    /// names `credentials`' client, and each of the four `oauth:client:*` permissions is shown
    /// by a call that cannot change anything (see [`probe_permissions`]). Returns what
    /// `tokens/me` said.
    pub async fn check_master(
        &self,
        region: Region,
        credentials: ClientCredentials,
    ) -> Result<TokenInfo, LogicalError> {
        let client_id = credentials.client_id.as_str().to_owned();
        let master = self.client(region, credentials);
        let info = master.token_info().await.map_err(|e| match e {
            GenesysError::InvalidClient { .. } => LogicalError::BadRequest(format!(
                "client_id, client_secret: Genesys Cloud ({region}) refused the credential: {e}"
            )),
            e => genesys_error("checking the master credential (tokens/me)", e),
        })?;
        let named = info.o_auth_client.as_ref().map(|c| c.id.as_str());
        if named != Some(client_id.as_str()) {
            return Err(LogicalError::BadRequest(format!(
                "client_id: the token belongs to client {}, not to {client_id}",
                named.unwrap_or("(none named)")
            )));
        }
        probe_permissions(&master).await?;
        Ok(info)
    }
}

/// Shows each of the four permissions with a call that cannot change anything: a read, an update
/// and a delete of a random client id nobody holds (allowed: 404; missing: 403), and a create
/// whose body Genesys must refuse (an empty name; allowed: 400; missing: 403). Genesys checks
/// the permission before the body and the id, as the emulator models it.
async fn probe_permissions(master: &GenesysClient) -> Result<(), LogicalError> {
    let nobody = uuid::Uuid::new_v4().to_string();
    let mut missing = Vec::new();
    let mut note = |permission: &'static str, outcome: Result<(), GenesysError>| -> Result<(), LogicalError> {
        match outcome {
            Ok(()) => Ok(()),
            Err(GenesysError::Http { status: 403, .. }) => {
                missing.push(permission);
                Ok(())
            }
            Err(e) => Err(genesys_error(
                &format!("checking the master's {permission} permission"),
                e,
            )),
        }
    };
    let view = match master.get_client(&nobody).await {
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    };
    note(MASTER_PERMISSIONS[0], view)?;
    let mut refused = OAuthClientRequest::client_credentials("", Vec::new());
    refused.access_token_validity_seconds = Some(1);
    let add = match master.create_client(&refused).await {
        Err(GenesysError::Http { status: 400, .. }) => Ok(()),
        Ok(created) => Err(GenesysError::Decode {
            call: GenesysCall::CreateClient,
            message: format!(
                "the create probe was accepted (client {}); it must be refused",
                created.id
            ),
        }),
        Err(e) => Err(e),
    };
    note(MASTER_PERMISSIONS[1], add)?;
    let edit = match master
        .update_client(&nobody, &OAuthClientRequest::client_credentials("probe", Vec::new()))
        .await
    {
        Err(GenesysError::NotFound { .. }) => Ok(()),
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    };
    note(MASTER_PERMISSIONS[2], edit)?;
    let delete = master.delete_client(&nobody).await.map(|_| ());
    note(MASTER_PERMISSIONS[3], delete)?;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(LogicalError::BadRequest(format!(
            "client_id: the master client lacks the permission(s) {}; it needs {}",
            missing.join(", "),
            MASTER_PERMISSIONS.join(", ")
        )))
    }
}

/// What an operator does when the master lacks role-divisions a role assigns (the role rule,
/// [`genesys_core::role_rule`]), for messages.
pub const ROLE_RULE_REMEDY: &str = "give the master's client these role-divisions in Genesys Cloud (the role in that \
     division, or in every division), or narrow the role's role_divisions; only if `genesys-rotator conformance \
     --probe-role` showed that this organization lets a master assign roles it does not hold, write config with \
     role_rule=false";

/// The role-divisions the master's own client holds ([`genesys_core::role_rule::held_by`]: a
/// GET of its own client, which `oauth:client:view` allows).
pub async fn held_by_master(master: &GenesysClient) -> Result<Vec<RoleDivision>, LogicalError> {
    genesys_core::role_rule::held_by(master)
        .await
        .map_err(|e| genesys_error("reading the role-divisions the master's own client holds", e))
}

/// A Genesys failure of `what`, for the caller: the error's own message (ids, statuses, codes;
/// never a secret) and whether trying again later may help. A create or edit of a client
/// refused 403 also says what that may mean: a missing permission, or the role rule.
pub fn genesys_error(what: &str, e: GenesysError) -> LogicalError {
    let retry = if e.is_retryable() {
        " (temporary: try again later)"
    } else {
        ""
    };
    let hint = if may_be_the_role_rule(&e) {
        " (a create or edit of a client refused as forbidden: the master lacks oauth:client:add or \
         oauth:client:edit, or, under Genesys Cloud's role rule, a role-division the client gets or already has; \
         the config and roles/ writes check the master's role-divisions against every role's unless config has \
         role_rule=false: give the master's client the role-divisions the error names, or narrow the role)"
    } else {
        ""
    };
    LogicalError::Internal(format!("{what}: {e}{retry}{hint}"))
}

/// A failed renewal of a secret (`what`), for the caller, like [`genesys_error`]: a failed call
/// as that says it, an answer without the client's secret by what was wrong with it.
pub fn renewal_error(what: &str, e: RenewalError) -> LogicalError {
    match e {
        RenewalError::Call(e) => genesys_error(what, e),
        e @ RenewalError::Answer { .. } => LogicalError::Internal(format!("{what}: {e}")),
    }
}

/// Whether `e` is a 403 to a create or an edit of a client: what the role rule answers when
/// the master does not hold a role-division the client gets or has.
fn may_be_the_role_rule(e: &GenesysError) -> bool {
    matches!(
        e,
        GenesysError::Http {
            status: 403,
            call: GenesysCall::CreateClient | GenesysCall::UpdateClient,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forbidden_create_or_edit_mentions_the_role_rule() {
        let forbidden = |call| GenesysError::Http {
            call,
            status: 403,
            code: Some("missing.permissions".into()),
            message: "you are missing: [role crm in division d1]".into(),
        };
        for call in [GenesysCall::CreateClient, GenesysCall::UpdateClient] {
            let text = genesys_error("creating a client", forbidden(call)).to_string();
            assert!(
                text.contains("role rule") && text.contains("role crm in division d1"),
                "{text}"
            );
            assert!(
                text.contains("role_rule=false") && text.contains("narrow the role"),
                "{text}"
            );
        }
        // Other calls' 403s, and other statuses of a create, are no role rule.
        let text = genesys_error("listing clients", forbidden(GenesysCall::ListClients)).to_string();
        assert!(!text.contains("role rule"), "{text}");
        let text = genesys_error(
            "creating a client",
            GenesysError::Http {
                call: GenesysCall::CreateClient,
                status: 400,
                code: None,
                message: String::new(),
            },
        )
        .to_string();
        assert!(!text.contains("role rule"), "{text}");
    }
}
