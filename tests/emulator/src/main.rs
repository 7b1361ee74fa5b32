//! `genesys-emulator`: runs the emulator as a process, for demos and tests outside Rust.
//!
//! Prints exactly one line, `genesys-emulator listening on http://127.0.0.1:PORT`, to stdout once
//! it accepts connections (logs go to stderr; `RUST_LOG` sets the level), optionally writes the
//! base URL to `--url-file`, and serves until SIGTERM or SIGINT.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Parser, ValueEnum};
use genesys_emulator::{Emulator, EmulatorConfig, RepeatDelete};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "genesys-emulator",
    version,
    about = "Local emulator of the Genesys Cloud OAuth client, token and tokens/me APIs"
)]
struct Args {
    /// Address to listen on; loopback only (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The org's OAuth client limit.
    #[arg(long, default_value_t = 500)]
    client_limit: usize,
    /// Requests per minute per access token on /api/v2 (default: unlimited).
    #[arg(long)]
    rate_limit_per_minute: Option<u32>,
    /// How long a newly created client cannot get tokens, in milliseconds.
    #[arg(long, default_value_t = 0)]
    propagation_delay_ms: u64,
    /// A new client secret also revokes the client's existing tokens (default: they survive).
    #[arg(long)]
    revoke_tokens_on_new_secret: bool,
    /// A field every new client-credentials client must carry, e.g. `allowedIpAddresses`
    /// (repeatable; default: none). A create without it is a 400 `bad.request`.
    #[arg(long = "require-client-field", value_name = "FIELD")]
    required_client_fields: Vec<String>,
    /// Soft delete: a DELETE of a client created more than 30 days ago leaves it inactive with
    /// `dateToDelete` in 7 days (documented; `--soft-delete false` removes it at once).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    soft_delete: bool,
    /// Whether soft-deleted clients count against the client limit (unconfirmed).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    soft_deleted_count_against_limit: bool,
    /// The answer to a DELETE of a soft-deleted client (unconfirmed).
    #[arg(long, value_enum, default_value_t = RepeatDeleteArg::NoContent)]
    repeat_delete: RepeatDeleteArg,
    /// Genesys removes an inactive client this many seconds after its `dateModified`
    /// (unconfirmed; default: never).
    #[arg(long, value_name = "SECONDS")]
    auto_delete_inactive_after_seconds: Option<u64>,
    /// The role rule: a create or update assigning (or an update of a client holding)
    /// role-divisions the caller does not hold is a 403 (unconfirmed for client credentials).
    #[arg(long)]
    role_rule: bool,
    /// Listing items without `authorizedGrantType` (the pre-v250 `OAuthClientListing`).
    #[arg(long)]
    listing_without_grant_type: bool,
    /// A credential GET leaves `clientId` out of `credentialFields` (undocumented either way).
    #[arg(long)]
    credential_get_hides_client_id: bool,
    /// Also write the base URL (no newline) to this file.
    #[arg(long)]
    url_file: Option<PathBuf>,
}

/// [`RepeatDelete`] as a command-line value.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum RepeatDeleteArg {
    NoContent,
    NotFound,
    Conflict,
}

impl From<RepeatDeleteArg> for RepeatDelete {
    fn from(a: RepeatDeleteArg) -> Self {
        match a {
            RepeatDeleteArg::NoContent => RepeatDelete::NoContent,
            RepeatDeleteArg::NotFound => RepeatDelete::NotFound,
            RepeatDeleteArg::Conflict => RepeatDelete::Conflict,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();

    // Test equipment with no auth on /__admin must never face a network.
    if !args.listen.ip().is_loopback() {
        eprintln!(
            "genesys-emulator: --listen must be a loopback address, got {}",
            args.listen
        );
        return ExitCode::from(2);
    }
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("genesys-emulator: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    let config = EmulatorConfig {
        client_limit: args.client_limit,
        rate_limit_per_minute: args.rate_limit_per_minute,
        propagation_delay: Duration::from_millis(args.propagation_delay_ms),
        revoke_tokens_on_new_secret: args.revoke_tokens_on_new_secret,
        required_client_fields: args.required_client_fields,
        soft_delete: args.soft_delete,
        soft_deleted_count_against_limit: args.soft_deleted_count_against_limit,
        repeat_delete: args.repeat_delete.into(),
        auto_delete_inactive_after: args.auto_delete_inactive_after_seconds.map(Duration::from_secs),
        role_rule: args.role_rule,
        listing_without_grant_type: args.listing_without_grant_type,
        credential_get_hides_client_id: args.credential_get_hides_client_id,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start_on(listener, config).await;
    let url = emulator.base_url();

    if let Some(path) = &args.url_file {
        if let Err(e) = std::fs::write(path, &url) {
            eprintln!("genesys-emulator: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "genesys-emulator listening on {url}");
    let _ = stdout.flush();

    wait_for_signal().await;
    tracing::info!("shutting down");
    emulator.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("can install a SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
