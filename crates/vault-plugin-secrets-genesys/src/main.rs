//! The plugin binary the server starts: serve the Genesys engine over the plugin protocol.
use std::sync::Arc;

fn main() -> std::process::ExitCode {
    vault_plugin_secrets_genesys::protocol::run(Arc::new(vault_plugin_secrets_genesys::engine::GenesysBackend::new()))
}
