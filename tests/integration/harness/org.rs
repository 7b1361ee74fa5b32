//! Org: one Genesys emulator per organization, its master and legacy clients, and the clients
//! tests plant in it.

use genesys_emulator::{ClientRecord, Emulator, EmulatorConfig, SeedClient};

pub const ROLE: &str = "crm-integration-role";
pub const MASTER_PERMISSIONS: [&str; 6] = [
    "oauth:client:add",
    "oauth:client:edit",
    "oauth:client:delete",
    "oauth:client:view",
    // For the integration credentials a secret may list.
    "integrations:integration:view",
    "integrations:integration:edit",
];

/// One organization (emulator) with a master client and a legacy integration client.
pub struct Org {
    pub emulator: Emulator,
    pub domain: &'static str,
    pub master_id: String,
    pub master_secret: String,
    pub legacy_id: String,
    pub legacy_secret: String,
}

impl Org {
    pub async fn start(domain: &'static str, config: EmulatorConfig) -> Org {
        let emulator = Emulator::start(config).await.expect("start emulator");
        emulator.seed_role(ROLE, &["conversation:communication:view"]);
        // The master holds the role it gives every new client (the role rule: see
        // genesys_core::role_rule), in every division.
        let master = emulator.seed_client(SeedClient {
            role_divisions: vec![genesys_emulator::RoleDivision {
                role_id: ROLE.to_owned(),
                division_id: "*".to_owned(),
            }],
            ..SeedClient::new("genesys-rotator-master", &MASTER_PERMISSIONS)
        });
        let legacy = emulator.seed_client(SeedClient::new(
            "crm-legacy-integration",
            &["conversation:communication:view"],
        ));
        Org {
            emulator,
            domain,
            master_id: master.id,
            master_secret: master.secret,
            legacy_id: legacy.id,
            legacy_secret: legacy.secret,
        }
    }

    /// Clients whose name starts with `prefix`.
    pub fn managed(&self, prefix: &str) -> Vec<ClientRecord> {
        self.emulator
            .clients()
            .into_iter()
            .filter(|c| c.name.starts_with(prefix))
            .collect()
    }

    pub fn client(&self, id: &str) -> Option<ClientRecord> {
        self.emulator.clients().into_iter().find(|c| c.id == id)
    }
}

/// `GENESYS_ENDPOINT_OVERRIDES` sending every org's region to its emulator.
pub fn endpoint_overrides(orgs: &[Org]) -> String {
    orgs.iter()
        .map(|o| format!("{}={}", o.domain, o.emulator.base_url()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The status of `GET /api/v2/tokens/me` with a raw bearer token.
pub async fn tokens_me_status(org: &Org, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/api/v2/tokens/me", org.emulator.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("tokens/me")
        .status()
        .as_u16()
}

impl Org {
    /// Plants a client named `<prefix><uuid>` (the shape of a managed client) created at
    /// `created` (`None`: the emulator's now). Returns its id.
    pub fn seed_managed(&self, prefix: &str, created: Option<time::OffsetDateTime>) -> String {
        self.seed_named(&format!("{prefix}{}", uuid::Uuid::new_v4()), created)
    }

    /// Plants a client with this exact name, created at `created`. Returns its id.
    pub fn seed_named(&self, name: &str, created: Option<time::OffsetDateTime>) -> String {
        self.emulator
            .seed_client(SeedClient {
                date_created: created,
                ..SeedClient::new(name, &["conversation:communication:view"])
            })
            .id
    }
}
