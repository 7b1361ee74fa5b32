//! `genesys-rotator`: the operator's command line over the same library the Lambdas use.
//!
//! - `inventory`: every client of the orgs behind the given secrets, by stage, against the limit.
//! - `reconcile [--dry-run]`: what reconciliation deletes (or would), and why.
//! - `rotate`: a whole rotation run here (break-glass, or local use with the emulator).
//! - `check`: a secret's JSON validates and its credential works; changes nothing.
//! - `enroll`: an existing client becomes a served integration secret (its secret read from
//!   standard input, never the command line), checked before anything is written.
//! - `status`: per secret, rotation schedule, last rotation and failure, every client it held.
//!
//! Configuration comes from the environment, as for the Lambdas (`ALLOWED_MASTER_SECRET_ARNS`
//! and the rest, see the README); AWS credentials and region from the usual AWS variables.
//! Human output by default, `--json` for scripts; progress goes to stderr.
//!
//! The `cli` feature does not bring `endpoint-overrides`: an operator's CLI talks to real
//! Genesys Cloud, so a build with `--features cli` refuses `GENESYS_ENDPOINT_OVERRIDES` like the
//! release Lambdas do. The tests that run it against the emulator build it with every feature.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use genesys_rotator::config::{DrainConfig, ReconcileConfig, RotatorConfig};
use genesys_rotator::deployment::Deployment;
use genesys_rotator::drain::{DrainRetirement, SqsDrainQueue};
use genesys_rotator::enroll::{enroll, EnrollReport, EnrollRequest, RotationSchedule, Schedule};
use genesys_rotator::inventory::{inventory, Inventory, Stage};
use genesys_rotator::reconcile::ReconcileReport;
use genesys_rotator::rotation::Rotator;
use genesys_rotator::status::{status, ClientLife, SecretStatus};
use genesys_rotator::store::{AwsSecretStore, AWSPENDING};
use genesys_rotator::sweep::reconcile_all;
use time::OffsetDateTime;

#[derive(Parser)]
#[command(
    name = "genesys-rotator",
    version,
    about = "Inspect and operate Genesys Cloud OAuth client rotation"
)]
struct Cli {
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the org's clients grouped by managed secret and stage, with counts against the limit.
    Inventory {
        /// An integration secret (ARN or name); repeat for several.
        #[arg(long = "secret", required = true)]
        secrets: Vec<String>,
    },
    /// Delete managed orphans older than the horizon (or, with --dry-run, list them).
    Reconcile {
        /// An integration secret (ARN or name); repeat for several.
        #[arg(long = "secret", required = true)]
        secrets: Vec<String>,
        /// List what would be deleted and why; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run the four rotation steps now, here. Needs DRAIN_QUEUE_URL to retire the old client.
    Rotate {
        /// The integration secret (ARN or name).
        #[arg(long)]
        secret: String,
    },
    /// Validate a secret's JSON and check that its master and its credential work, and that the
    /// master holds every role-division it will assign (the role rule).
    Check {
        /// The integration secret (ARN or name).
        #[arg(long)]
        secret: String,
        /// Skip the role rule: only if your organization lets masters assign roles they do not
        /// hold (`genesys-rotator conformance` tells).
        #[arg(long)]
        no_role_rule: bool,
    },
    /// Make an integration secret for an existing client. Its secret is read from standard
    /// input (never a flag); everything is checked before anything is written.
    Enroll(Box<EnrollArgs>),
    /// Per secret: rotation schedule, last and next rotation, last failure and its errorType,
    /// and every client it has held with its state.
    Status {
        /// A secret (ARN or name); repeat for several. Default: every served secret.
        #[arg(long = "secret")]
        secrets: Vec<String>,
    },
    /// Check, once, against a real org, what the rotator assumes of Genesys Cloud: with the
    /// master, one throwaway client (with an ownership marker) is created, exercised and
    /// deleted; nothing else is touched, no secret or token is printed. Exit 1 if any
    /// assumption is broken.
    Conformance(ConformanceArgs),
}

/// The flags of `conformance`.
#[derive(clap::Args)]
struct ConformanceArgs {
    /// An integration secret (its master runs the checks, its roleDivisions are the throwaway
    /// client's) or a master secret (ARN or name).
    #[arg(long, required_unless_present = "master_file", conflicts_with = "master_file")]
    secret: Option<String>,
    /// A master credential as JSON ({"clientId", "clientSecret", "region"}) in a file, instead
    /// of a secret: for the OpenBao / Vault engine's master, no AWS needed.
    #[arg(long)]
    master_file: Option<std::path::PathBuf>,
    /// The region, when the master secret or file states none.
    #[arg(long)]
    region: Option<String>,
    /// A role-division the throwaway client gets (ROLE_ID[:DIVISION_ID]); repeat. Default: the
    /// integration secret's roleDivisions.
    #[arg(long = "role")]
    roles: Vec<String>,
    /// A role-division the master does NOT hold (ROLE_ID[:DIVISION_ID]): whether a client with
    /// it is refused tells whether the role rule binds the master.
    #[arg(long)]
    probe_role: Option<String>,
    /// An integration credential id: whether its GET shows the clientId it holds.
    #[arg(long)]
    credential: Option<String>,
    /// How long to wait for the throwaway client's first token, in seconds.
    #[arg(long, default_value_t = 60)]
    propagation_timeout: u64,
}

/// The flags of `enroll`.
#[derive(clap::Args)]
struct EnrollArgs {
    /// Name of the integration secret to create.
    #[arg(long)]
    name: String,
    /// The existing client-credentials client.
    #[arg(long)]
    client_id: String,
    /// The organization's region (`mypurecloud.ie`, `usw2.pure.cloud`, or an SDK name).
    #[arg(long)]
    region: String,
    /// The master secret (one of ALLOWED_MASTER_SECRET_ARNS).
    #[arg(long)]
    master_secret_arn: String,
    /// Name prefix of the clients rotation makes (`<prefix><version id>`).
    #[arg(long)]
    prefix: String,
    /// A role of the new clients, `ROLE_ID[:DIVISION_ID]` (division `*` if omitted);
    /// repeat for several. Default: the client's own roles.
    #[arg(long = "role")]
    roles: Vec<String>,
    /// accessTokenValiditySeconds of new clients. Default: the client's own.
    #[arg(long)]
    token_lifetime_seconds: Option<u64>,
    /// Description of new clients (the ownership marker is added to it).
    #[arg(long)]
    description: Option<String>,
    /// Turn rotation on with this rotation Lambda (needs --schedule).
    #[arg(long, requires = "schedule")]
    rotation_lambda_arn: Option<String>,
    /// `rate(N days)`, `rate(N hours)` (N >= 4) or `cron(...)` (needs --rotation-lambda-arn).
    #[arg(long, requires = "rotation_lambda_arn")]
    schedule: Option<String>,
    /// KMS key of the new secret (default: Secrets Manager's own key).
    #[arg(long)]
    kms_key_id: Option<String>,
    /// Skip the role rule (the master must hold every role-division the new clients get): only
    /// if your organization lets masters assign roles they do not hold.
    #[arg(long)]
    no_role_rule: bool,
}

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Error> {
    if let Command::Conformance(flags) = &cli.command {
        if flags.master_file.is_some() {
            return conformance(cli.json, flags).await;
        }
    }
    let config = RotatorConfig::from_env()?;
    let reconcile = ReconcileConfig::from_env()?;
    let aws = genesys_rotator::config::load_aws().await;
    let sm = aws_sdk_secretsmanager::Client::new(&aws);
    let store = AwsSecretStore::new(sm.clone());
    let now = OffsetDateTime::now_utc();
    let progress = |msg: &str| {
        if !cli.json {
            eprintln!("{msg}");
        }
    };
    match cli.command {
        Command::Inventory { secrets } => {
            let deployment = Deployment::new(store, config).with_reconcile(reconcile);
            progress(&format!("reading {} secret(s) and listing clients…", secrets.len()));
            let inv = inventory(&deployment, &secrets, now).await;
            print(cli.json, &inv, print_inventory)?;
            Ok(exit_for(inv.unreadable.is_empty()))
        }
        Command::Reconcile { secrets, dry_run } => {
            let deployment = Deployment::new(store, config).with_reconcile(ReconcileConfig { dry_run, ..reconcile });
            progress(&format!(
                "reconciling {} secret(s){}…",
                secrets.len(),
                if dry_run { " (dry run)" } else { "" }
            ));
            let report = reconcile_all(&deployment, &secrets, now).await;
            print(cli.json, &report, print_report)?;
            Ok(exit_for(report.errors.is_empty()))
        }
        Command::Check { secret, no_role_rule } => {
            let rotator = Rotator::new(store, config).with_reconcile(reconcile);
            let outcome = rotator.check(&secret).await?;
            if !no_role_rule {
                rotator.deployment().check_roles(&secret).await?;
            }
            let warnings = rotator.deployment().sharing_warnings(&secret).await?;
            // The outcome's own fields, plus the warnings.
            let mut report = serde_json::to_value(&outcome)?;
            report["warnings"] = serde_json::json!(warnings);
            print(cli.json, &report, |_| {
                println!("ok: {}", serde_json::to_string(&outcome).unwrap_or_default());
                for w in &warnings {
                    println!("warning: {w}");
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Enroll(flags) => {
            let req = enroll_request(*flags)?;
            let rotator = Rotator::new(store, config).with_reconcile(reconcile);
            progress(&format!(
                "checking client {} before writing anything…",
                req.credentials.client_id
            ));
            let report = enroll(&rotator, &sm, &req).await?;
            print(cli.json, &report, print_enroll)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Conformance(flags) => conformance(cli.json, &flags).await,
        Command::Status { secrets } => {
            let deployment = Deployment::new(store, config).with_reconcile(reconcile);
            let report = status(&deployment, &sm, &secrets, now).await?;
            print(cli.json, &report, |r| print_status(r, now))?;
            Ok(exit_for(report.iter().all(|s| s.error.is_none())))
        }
        Command::Rotate { secret } => {
            let drain = DrainConfig::from_env()?;
            let retirement = DrainRetirement::new(
                SqsDrainQueue::new(aws_sdk_sqs::Client::new(&aws), drain.queue_url),
                drain.settings,
            );
            let rotator = Rotator::with_retirement(store, config, retirement).with_reconcile(reconcile);
            let token = uuid::Uuid::new_v4().to_string();
            progress(&format!("rotating {secret} as version {token}…"));
            let outcomes = rotator.rotate_locally(&secret, &token).await?;
            // Secrets Manager drops AWSPENDING once a rotation succeeds; so does this.
            sm.update_secret_version_stage()
                .secret_id(&secret)
                .version_stage(AWSPENDING)
                .remove_from_version_id(&token)
                .send()
                .await?;
            print(cli.json, &outcomes, |outcomes| {
                for (step, o) in ["createSecret", "setSecret", "testSecret", "finishSecret"]
                    .iter()
                    .zip(outcomes)
                {
                    println!("{step:<13} {}", serde_json::to_string(o).unwrap_or_default());
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The flags checked, and the client secret read from standard input (one line; the line end
/// is not part of it). Nothing here quotes the secret.
fn enroll_request(f: EnrollArgs) -> Result<EnrollRequest, Error> {
    use genesys_rotator::domain::{ClientId, NamePrefix};
    use genesys_rotator::secret_format::TokenLifetime;
    genesys_rotator::enroll::validate_secret_name(&f.name)?;
    let client_id = ClientId::parse(&f.client_id).map_err(|e| format!("--client-id: {e}"))?;
    let region = genesys_rotator::region::Region::parse(&f.region).map_err(|e| format!("--region: {e}"))?;
    let name_prefix = NamePrefix::parse(&f.prefix).map_err(|e| format!("--prefix: {e}"))?;
    let role_divisions = f
        .roles
        .iter()
        .map(|r| role_division("--role", r))
        .collect::<Result<Vec<_>, _>>()?;
    let token_lifetime = f
        .token_lifetime_seconds
        .map(TokenLifetime::new)
        .transpose()
        .map_err(|e| format!("--token-lifetime-seconds: {e}"))?;
    let rotation = match (f.rotation_lambda_arn, f.schedule) {
        (Some(lambda_arn), Some(schedule)) => {
            genesys_rotator::enroll::validate_lambda_arn(&lambda_arn)?;
            Some(RotationSchedule {
                lambda_arn,
                schedule: Schedule::parse(&schedule)?,
            })
        }
        _ => None,
    };
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("client secret (input is not echoed back; end with Enter):");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let secret = line.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err("no client secret on standard input (pipe it in: never pass it as a flag)".into());
    }
    Ok(EnrollRequest {
        name: f.name,
        credentials: genesys_rotator::secret::ClientCredentials {
            client_id,
            client_secret: secrecy::SecretString::from(secret.to_owned()),
        },
        region,
        master_secret_arn: f.master_secret_arn,
        name_prefix,
        role_divisions,
        token_lifetime,
        description: f.description,
        rotation,
        kms_key_id: f.kms_key_id,
        role_rule: !f.no_role_rule,
    })
}

fn print_enroll(r: &EnrollReport) {
    println!("enrolled client {} as {}", r.client_id, r.secret_arn);
    println!("  region        {}", r.region);
    println!("  master secret {}", r.master_secret_arn);
    println!("  name prefix   {}", r.name_prefix);
    let roles: Vec<String> = r
        .role_divisions
        .iter()
        .map(|rd| format!("{}:{}", rd.role_id, rd.division_id))
        .collect();
    println!("  roles         {}", roles.join(", "));
    println!("  token life    {}s", r.token_lifetime_seconds);
    match &r.rotation {
        Some(rot) => println!(
            "  rotation      on, {} by {}",
            match &rot.schedule {
                Schedule::Days(n) => format!("rate({n} days)"),
                Schedule::Expression(e) => e.clone(),
            },
            rot.lambda_arn
        ),
        None => println!("  rotation      off (turn it on with --rotation-lambda-arn and --schedule)"),
    }
    println!("check ok: {}", serde_json::to_string(&r.check).unwrap_or_default());
    for w in &r.warnings {
        println!("warning: {w}");
    }
}

fn print_status(secrets: &[SecretStatus], now: OffsetDateTime) {
    let when = |t: &Option<OffsetDateTime>| match t {
        Some(t) => {
            let ago = (now - *t).whole_seconds();
            let rel = if ago >= 0 {
                format!("{} ago", human_duration(ago))
            } else {
                format!("in {}", human_duration(-ago))
            };
            format!("{} ({rel})", rfc3339(t))
        }
        None => "-".into(),
    };
    for s in secrets {
        println!("{}", s.name.as_deref().unwrap_or(&s.secret_arn));
        println!("  arn            {}", s.secret_arn);
        match (&s.rotation_enabled, &s.schedule) {
            (true, sched) => println!(
                "  rotation       on, {} by {}",
                sched.as_deref().unwrap_or("-"),
                s.rotation_lambda_arn.as_deref().unwrap_or("-")
            ),
            (false, _) => println!("  rotation       off"),
        }
        if let Some(o) = &s.organization {
            println!(
                "  org clients    {} of {} ({} soft-deleted, still counted): {} create(s) left before createSecret refuses",
                o.listed, o.limit, o.soft_deleted, o.creates_left
            );
        }
        println!("  last rotated   {}", when(&s.last_rotated));
        println!("  next rotation  {}", when(&s.next_rotation));
        match &s.last_failure {
            Some(f) => println!(
                "  last failure   {} {} {}",
                f.at,
                f.step.as_deref().unwrap_or("-"),
                f.error_type.as_deref().unwrap_or("-")
            ),
            None => println!("  last failure   none recorded"),
        }
        if !s.clients.is_empty() {
            println!("  {:<38} {:<9} {:<22} VERSION", "CLIENT ID", "STATE", "DETAIL");
        }
        for c in &s.clients {
            let detail = match &c.life {
                ClientLife::Draining { seconds_left } if *seconds_left > 0 => {
                    format!("{} left", human_duration(*seconds_left))
                }
                ClientLife::Draining { seconds_left } => format!("overdue by {}", human_duration(-seconds_left)),
                _ => String::new(),
            };
            println!(
                "  {:<38} {:<9} {:<22} {}",
                c.client_id,
                c.life.label(),
                detail,
                c.version_id
            );
        }
        if let Some(e) = &s.error {
            println!("  error: {e}");
        }
        println!();
    }
}

fn rfc3339(t: &OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn exit_for(clean: bool) -> ExitCode {
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// `ROLE_ID[:DIVISION_ID]` (division `*` when none is given).
fn role_division(flag: &str, r: &str) -> Result<genesys_rotator::genesys::RoleDivision, Error> {
    let (role, division) = r.split_once(':').unwrap_or((r, "*"));
    if role.trim().is_empty() || division.trim().is_empty() {
        return Err(format!("{flag} {r:?}: expected ROLE_ID[:DIVISION_ID]").into());
    }
    Ok(genesys_rotator::genesys::RoleDivision::new(
        role.trim(),
        division.trim(),
    ))
}

/// `conformance`: the master from a secret or a file, then the core's checks.
async fn conformance(json: bool, f: &ConformanceArgs) -> Result<ExitCode, Error> {
    use genesys_rotator::conformance::{run, Options};
    use genesys_rotator::region::Region;
    let region = f
        .region
        .as_deref()
        .map(Region::parse)
        .transpose()
        .map_err(|e| format!("--region: {e}"))?;
    let (master, secret_roles) = match (&f.secret, &f.master_file) {
        (_, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("--master-file {}: {e}", path.display()))?;
            let master = genesys_rotator::secret_format::MasterSecret::parse(&text)
                .map_err(|e| format!("--master-file {}: {e}", path.display()))?;
            let region = master
                .region
                .or(region)
                .ok_or("--master-file states no region: give --region")?;
            let config = RotatorConfig::from_env_without_masters()?;
            let client = genesys_rotator::rotation::standalone_client(&config, region, master.credentials);
            (std::sync::Arc::new(client), Vec::new())
        }
        (Some(secret), None) => {
            let aws = genesys_rotator::config::load_aws().await;
            let store = AwsSecretStore::new(aws_sdk_secretsmanager::Client::new(&aws));
            let deployment = Deployment::new(store, RotatorConfig::from_env()?);
            deployment.master_for(secret, region).await?
        }
        (None, None) => return Err("give --secret or --master-file".into()),
    };
    let role_divisions = if f.roles.is_empty() {
        secret_roles
    } else {
        f.roles
            .iter()
            .map(|r| role_division("--role", r))
            .collect::<Result<_, _>>()?
    };
    let options = Options {
        role_divisions,
        probe_role: f
            .probe_role
            .as_deref()
            .map(|r| role_division("--probe-role", r))
            .transpose()?,
        credential: f
            .credential
            .as_deref()
            .map(genesys_rotator::domain::CredentialId::parse)
            .transpose()
            .map_err(|e| format!("--credential: {e}"))?,
        propagation_timeout: std::time::Duration::from_secs(f.propagation_timeout),
    };
    if !json {
        eprintln!(
            "creating one throwaway client with master {} and checking it…",
            master.client_id()
        );
    }
    let report = run(&master, &options, &uuid::Uuid::new_v4().to_string()).await;
    print(json, &report, |r| {
        for c in &r.checks {
            println!("{} {:<14} {}", c.verdict.mark(), c.key, c.detail);
            if let Some(meaning) = &c.meaning {
                println!("  {:<14} means: {meaning}", "");
            }
        }
        match (&r.client_id, r.cleaned_up) {
            (Some(id), true) => println!("throwaway client {id} deleted"),
            (Some(id), false) => println!("throwaway client {id} could NOT be deleted: delete it by hand"),
            (None, true) => {}
            (None, false) => {
                println!("a throwaway client may exist: look for clients named genesys-rotator-conformance-*")
            }
        }
    })?;
    Ok(exit_for(!report.any_broken() && report.cleaned_up))
}

fn print<T: serde::Serialize>(json: bool, value: &T, human: impl Fn(&T)) -> Result<(), Error> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        human(value);
    }
    Ok(())
}

fn print_inventory(inv: &Inventory) {
    println!(
        "{:<38} {:<50} {:<9} {:<9} DETAIL",
        "CLIENT ID", "NAME", "STATE", "STAGE"
    );
    let mut secret: Option<&str> = Some("");
    for e in &inv.entries {
        if e.secret_arn.as_deref() != secret {
            secret = e.secret_arn.as_deref();
            println!("\n{}", secret.unwrap_or("(not managed by these secrets)"));
        }
        let detail = match &e.stage {
            Stage::Draining { seconds_left } if *seconds_left > 0 => {
                format!("due in {}", human_duration(*seconds_left))
            }
            Stage::Draining { seconds_left } => format!("overdue by {}", human_duration(-seconds_left)),
            Stage::Orphan { age_seconds: Some(age) } => format!("age {}", human_duration(*age)),
            _ => String::new(),
        };
        println!(
            "{:<38} {:<50} {:<9} {:<9} {}",
            e.client_id,
            e.name,
            e.state,
            e.stage.label(),
            detail
        );
    }
    println!(
        "\n{} clients of {} allowed ({} free): {} current, {} pending, {} draining, {} previous, {} orphan, {} foreign",
        inv.total,
        inv.client_limit,
        inv.client_limit.saturating_sub(inv.total),
        inv.count("current"),
        inv.count("pending"),
        inv.count("draining"),
        inv.count("previous"),
        inv.count("orphan"),
        inv.count("foreign") + inv.count("master"),
    );
    for u in &inv.unreadable {
        println!("unreadable: {}: {}", u.secret_arn, u.error);
    }
}

fn print_report(report: &ReconcileReport) {
    for c in &report.would_delete {
        println!(
            "would delete {} {} ({}): {}",
            c.client_id, c.client_name, c.secret_arn, c.reason
        );
    }
    for c in &report.deleted {
        println!(
            "deleted {} {} ({}): {}",
            c.client_id, c.client_name, c.secret_arn, c.reason
        );
    }
    println!(
        "examined {}, managed {}, deleted {}, would delete {}, kept: {} referenced, {} young, {} soft-deleted, {} unproven",
        report.examined,
        report.managed,
        report.deleted.len(),
        report.would_delete.len(),
        report.kept_referenced,
        report.kept_young,
        report.soft_deleted,
        report.kept_unproven
    );
    for e in &report.errors {
        println!("error: {} {}: {}", e.secret_arn, e.kind, e.message);
    }
}

fn human_duration(seconds: i64) -> String {
    match seconds {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}
