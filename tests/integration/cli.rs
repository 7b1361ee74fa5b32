//! The operator command line, run as a real process against moto and the emulator.

use std::process::Output;

// Async, so the emulator (served by this test's runtime) keeps answering while the CLI runs.
use tokio::process::Command;

use serde_json::Value;
use time::OffsetDateTime;

use crate::harness::{endpoint_overrides, DrainWorld, Seeded, SqsPlayer, World, PREFIX, ROLE};
use genesys_emulator::{routes, Fault, FaultAction, SeedClient};
use genesys_rotator::rotation::Step;
use genesys_rotator::store::{AWSCURRENT, LAST_FAILURE_TAGS, SERVED_TAG};

pub(crate) struct Cli<'a> {
    w: &'a World,
    queue_url: String,
    /// More environment for every run (settings such as `CLIENT_LIMIT`).
    env: Vec<(String, String)>,
}

impl Cli<'_> {
    pub(crate) async fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "").await
    }

    /// Runs the CLI with `stdin` on its standard input (how `enroll` takes a client secret).
    async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use tokio::io::AsyncWriteExt;
        let overrides = endpoint_overrides(&self.w.orgs);
        let mut child = Command::new(env!("CARGO_BIN_EXE_genesys-rotator"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", &self.w._moto.url)
            // Secrets Manager through the layer that answers as AWS does; SQS straight to moto.
            .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &self.w._moto.sm.url)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("ALLOWED_MASTER_SECRET_ARNS", self.w.master_arns.join(","))
            .env("GENESYS_ENDPOINT_OVERRIDES", overrides)
            .env("DRAIN_QUEUE_URL", &self.queue_url)
            .env("RUST_LOG", "debug")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run genesys-rotator");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        child.wait_with_output().await.expect("genesys-rotator output")
    }

    async fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON output")
    }
}

pub(crate) async fn cli(w: &World) -> Cli<'_> {
    let player = SqsPlayer::create(w._moto.sqs(), "cli-drain", 3).await;
    Cli {
        w,
        queue_url: player.queue_url,
        env: Vec::new(),
    }
}

fn stages(inv: &Value) -> Vec<(String, String)> {
    inv["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["clientId"].as_str().unwrap().to_owned(),
                e["stage"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn stage_of(inv: &Value, id: &str) -> String {
    stages(inv)
        .into_iter()
        .find(|(c, _)| c == id)
        .map(|(_, s)| s)
        .unwrap_or_default()
}

#[tokio::test]
async fn rotate_then_inventory_shows_each_client_in_its_place() {
    let w = World::new().await;
    let cli = cli(&w).await;
    let arn = w.integration_secret().await;
    let foreign = w.org().seed_named("someone-elses-client", None);
    // Younger than the horizon, so the rotation's reconciliation leaves it.
    let recent = OffsetDateTime::now_utc() - time::Duration::hours(10);
    let (orphan, _) = w.seed_owned(0, &arn, PREFIX, recent, Seeded::LostSecret).await;
    // Same prefix, no version of this secret: someone else's.
    let lookalike = w.org().seed_managed(PREFIX, Some(recent));

    let outcomes = cli.json(&["--json", "rotate", "--secret", &arn]).await;
    assert_eq!(outcomes.as_array().unwrap().len(), 4, "{outcomes}");
    assert_eq!(outcomes[3]["outcome"], "promoted");
    let current = w.client_id(&arn, AWSCURRENT).await;
    assert_ne!(current, w.org().legacy_id);

    let inv = cli.json(&["--json", "inventory", "--secret", &arn]).await;
    assert_eq!(stage_of(&inv, &current), "current");
    // The legacy client was retired by finishSecret: inactive, held by AWSPREVIOUS, draining.
    assert_eq!(stage_of(&inv, &w.org().legacy_id), "draining");
    assert_eq!(stage_of(&inv, &orphan), "orphan");
    assert_eq!(stage_of(&inv, &foreign), "foreign");
    assert_eq!(stage_of(&inv, &lookalike), "foreign");
    assert_eq!(stage_of(&inv, &w.org().master_id), "master");
    assert_eq!(inv["total"], w.org().emulator.clients().len());
    assert_eq!(inv["clientLimit"], 500);

    // The human table says the same.
    let out = cli.run(&["inventory", "--secret", &arn]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains(&current) && text.contains("current"), "{text}");
    assert!(text.contains("clients of 500 allowed"), "{text}");
}

#[tokio::test]
async fn reconcile_dry_run_lists_and_deletes_nothing_then_the_real_run_deletes() {
    let w = World::new().await;
    let cli = cli(&w).await;
    let arn = w.integration_secret().await;
    let old = OffsetDateTime::now_utc() - time::Duration::hours(100);
    let (orphan, _) = w.seed_owned(0, &arn, PREFIX, old, Seeded::LostSecret).await;
    let (young, _) = w
        .seed_owned(0, &arn, PREFIX, OffsetDateTime::now_utc(), Seeded::LostSecret)
        .await;

    let report = cli.json(&["--json", "reconcile", "--dry-run", "--secret", &arn]).await;
    let would: Vec<&str> = report["wouldDelete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["clientId"].as_str().unwrap())
        .collect();
    assert_eq!(would, [orphan.as_str()]);
    assert!(report["deleted"].as_array().unwrap().is_empty());
    assert!(w.org().client(&orphan).is_some(), "dry run deletes nothing");

    let out = cli.run(&["reconcile", "--secret", &arn]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("deleted {orphan}")));
    assert!(w.org().client(&orphan).is_none());
    assert!(w.org().client(&young).is_some());
}

#[tokio::test]
async fn check_passes_for_a_good_secret_and_names_the_field_of_a_bad_one() {
    let w = World::new().await;
    let cli = cli(&w).await;
    let arn = w.integration_secret().await;
    let ok = cli.json(&["--json", "check", "--secret", &arn]).await;
    assert_eq!(ok["outcome"], "configurationChecked");
    assert_eq!(ok["currentClientId"], w.org().legacy_id.as_str());
    assert_eq!(ok["warnings"], serde_json::json!([]), "{ok}");

    // A second secret with a nested prefix, holding the same hand-made client: both warned.
    let twin = w
        .create_secret("genesys/twin", &w.integration_json_with_prefix(0, "crm-rot-eu-"))
        .await;
    let warned = cli.json(&["--json", "check", "--secret", &arn]).await;
    let warnings: Vec<&str> = warned["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("overlaps") && warnings[0].contains(&twin),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains("the current client") && warnings[1].contains(&twin),
        "{warnings:?}"
    );
    let out = cli.run(&["check", "--secret", &arn]).await;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("warning: namePrefix"));
    w.sm.delete_secret()
        .secret_id(&twin)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();

    let mut bad = w.integration_json(0);
    bad["region"] = "evil.example.com".into();
    let bad = w.create_secret("genesys/bad-region", &bad).await;
    let out = cli.run(&["check", "--secret", &bad]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`region`"), "{err}");
    assert!(!err.contains(&w.org().legacy_secret), "no secret in errors");
    // Nothing was created or changed.
    assert!(w.org().managed(PREFIX).is_empty());
}

#[tokio::test]
async fn check_names_the_role_divisions_the_master_does_not_hold() {
    // GIVEN a secret whose new clients would get a role the master does not hold
    let w = World::new().await;
    let cli = cli(&w).await;
    w.org().emulator.seed_role("reports-admin", &["analytics:report:edit"]);
    let mut value = w.integration_json(0);
    value["roleDivisions"] = serde_json::json!([
        {"roleId": ROLE, "divisionId": "*"},
        {"roleId": "reports-admin", "divisionId": "division-2"}
    ]);
    let arn = w.create_secret("genesys/wide", &value).await;
    // WHEN it is checked
    let out = cli.run(&["check", "--secret", &arn]).await;
    // THEN the check fails naming the missing pair (and only it), and nothing changed
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reports-admin/division-2"), "{err}");
    assert!(!err.contains(&format!("{ROLE}/")), "{err}");
    assert!(w.org().managed(PREFIX).is_empty());
    // AND an operator whose org does not apply the role rule can skip it
    let out = cli.run(&["check", "--secret", &arn, "--no-role-rule"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn a_client_limit_near_full_with_soft_deleted_clients_is_reported_by_check_and_status() {
    // GIVEN an org holding three clients created 40 days ago and then deleted: Genesys
    // soft-deletes them (inactive, dateToDelete set, still listed)
    let w = World::new().await;
    let arn = w.integration_secret().await;
    let org = w.org();
    let long_ago = OffsetDateTime::now_utc() - time::Duration::days(40);
    let master = genesys_rotator::deployment::Deployment::new(w.store.clone(), w.rotator_config());
    let (master, _) = master.master_for(&arn, None).await.unwrap();
    for i in 0..3 {
        let old = org.emulator.seed_client(SeedClient {
            date_created: Some(long_ago),
            state: genesys_emulator::ClientState::Inactive,
            ..SeedClient::new(format!("old-{i}"), &[])
        });
        master.delete_client(&old.id).await.unwrap();
    }
    let listed = org.emulator.clients().len();
    assert_eq!(org.emulator.clients().iter().filter(|c| c.soft_deleted).count(), 3);
    // AND a limit that leaves one create before the margin
    let mut cli = cli(&w).await;
    cli.env = vec![
        ("CLIENT_LIMIT".into(), (listed + 10 + 1).to_string()),
        ("CLIENT_LIMIT_MARGIN".into(), "10".into()),
    ];
    // WHEN check and status run
    let checked = cli.json(&["--json", "check", "--secret", &arn]).await;
    let status = cli.json(&["--json", "status", "--secret", &arn]).await;
    // THEN check warns with the count, the soft-deleted ones among it, and what is left
    let warning = checked["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .find(|w| w.contains("CLIENT_LIMIT"))
        .unwrap_or_else(|| panic!("{checked}"));
    assert!(
        warning.contains(&format!("lists {listed} clients (3 of them soft-deleted")),
        "{warning}"
    );
    assert!(warning.contains("1 create(s) left"), "{warning}");
    // AND status counts the same
    let o = &status[0]["organization"];
    assert_eq!(o["listed"], listed, "{status}");
    assert_eq!(o["softDeleted"], 3);
    assert_eq!(o["createsLeft"], 1);
}

#[tokio::test]
async fn rotate_refuses_while_another_rotation_is_in_progress() {
    let w = World::new().await;
    let cli = cli(&w).await;
    let arn = w.integration_secret().await;
    let pending = w.begin_rotation(&arn, true).await;
    let out = cli.run(&["rotate", "--secret", &arn]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rotation in progress") && err.contains(&pending), "{err}");
    assert!(w.org().managed(PREFIX).is_empty());
}

#[tokio::test]
async fn check_and_rotate_work_on_a_master_secret() {
    let w = World::new().await;
    let cli = cli(&w).await;
    let master = w.master_arns[0].clone();
    let org = w.org();
    let ok = cli.json(&["--json", "check", "--secret", &master]).await;
    assert_eq!(ok["outcome"], "configurationChecked");
    assert_eq!(ok["currentClientId"], org.master_id.as_str());

    let outcomes = cli.json(&["--json", "rotate", "--secret", &master]).await;
    assert_eq!(outcomes[0]["outcome"], "secretRenewed", "{outcomes}");
    assert_eq!(outcomes[0]["recovered"], false);
    assert_eq!(outcomes[3]["outcome"], "promoted");
    let current = w.value(&master, AWSCURRENT).await;
    assert_eq!(current["clientId"], org.master_id.as_str());
    let live = org.client(&org.master_id).unwrap().secret;
    assert_eq!(current["clientSecret"], live.as_str());
    assert_ne!(live, org.master_secret, "the master has a new secret");
    let desc = w.describe(&master).await;
    assert_eq!(
        desc.version_with(genesys_rotator::rotation::master::RECOVERY_STAGE),
        None
    );

    // The next process reads the new master secret and rotates an integration with it.
    let arn = w.integration_secret().await;
    let outcomes = cli.json(&["--json", "rotate", "--secret", &arn]).await;
    assert_eq!(outcomes[3]["outcome"], "promoted", "{outcomes}");
}

// ---------------------------------------------------------------------------------------------
// enroll and status

/// The `enroll` arguments for org 0's legacy client under `name` and `prefix`, plus `extra`.
fn enroll_args<'a>(w: &'a World, name: &'a str, prefix: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--json",
        "enroll",
        "--name",
        name,
        "--client-id",
        &w.org().legacy_id,
        "--region",
        w.org().domain,
        "--master-secret-arn",
        &w.master_arns[0],
        "--prefix",
        prefix,
    ];
    args.extend_from_slice(extra);
    args
}

/// Every secret's name with its versions and their labels, and its tags: what a refused
/// enrollment must leave exactly as it was.
async fn everything(w: &World) -> Vec<String> {
    let list = w.sm.list_secrets().send().await.unwrap();
    let mut all: Vec<String> = list
        .secret_list()
        .iter()
        .map(|s| {
            let mut versions: Vec<String> = s
                .secret_versions_to_stages()
                .map(|m| m.iter().map(|(k, v)| format!("{k}={v:?}")).collect())
                .unwrap_or_default();
            versions.sort();
            let mut tags: Vec<String> = s
                .tags()
                .iter()
                .map(|t| format!("{:?}={:?}", t.key(), t.value()))
                .collect();
            tags.sort();
            format!("{:?} {versions:?} {tags:?} {:?}", s.name(), s.rotation_enabled())
        })
        .collect();
    all.sort();
    all
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn enroll_writes_the_documented_secret_turns_rotation_on_and_a_rotation_works_on_it() {
    let w = World::new().await;
    let cli = cli(&w).await;
    let lambda = w._moto.rotation_lambda("genesys-rotation-enroll").await;
    let org = w.org();
    let secret = org.legacy_secret.clone();

    let args = enroll_args(
        &w,
        "genesys/enrolled",
        PREFIX,
        &[
            "--role",
            ROLE,
            "--token-lifetime-seconds",
            "3600",
            "--rotation-lambda-arn",
            &lambda,
            "--schedule",
            "rate(30 days)",
        ],
    );
    let out = cli.run_with_stdin(&args, &format!("{secret}\n")).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(&secret), "the secret is never printed or logged");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["check"]["outcome"], "configurationChecked", "{report}");
    assert_eq!(report["check"]["currentClientId"], org.legacy_id.as_str());
    assert_eq!(report["rotation"]["schedule"]["days"], 30, "{report}");
    let arn = report["secretArn"].as_str().unwrap().to_owned();

    // The documented format, exactly.
    let value = w.value(&arn, AWSCURRENT).await;
    assert_eq!(
        value,
        serde_json::json!({
            "clientId": org.legacy_id,
            "clientSecret": secret,
            "region": org.domain,
            "masterSecretArn": w.master_arns[0],
            "namePrefix": PREFIX,
            "roleDivisions": [{"roleId": ROLE, "divisionId": "*"}],
            "tokenLifetimeSeconds": 3600,
        })
    );
    let desc = w.describe(&arn).await;
    assert!(desc.is_served(), "tagged {SERVED_TAG}");
    assert!(desc.rotation_enabled, "rotation on");
    let described = w.sm.describe_secret().secret_id(&arn).send().await.unwrap();
    assert_eq!(described.rotation_lambda_arn(), Some(lambda.as_str()));
    assert_eq!(
        described.rotation_rules().and_then(|r| r.automatically_after_days()),
        Some(30)
    );

    let status = cli.json(&["--json", "status", "--secret", &arn]).await;
    assert_eq!(status[0]["rotationEnabled"], true, "{status}");
    assert_eq!(status[0]["schedule"], "rate(30 days)");
    assert_eq!(status[0]["rotationLambdaArn"], lambda.as_str());
    assert!(status[0]["lastRotated"].is_string() && status[0]["nextRotation"].is_string());
    assert_eq!(status[0]["clients"][0]["clientId"], org.legacy_id.as_str());
    assert_eq!(status[0]["clients"][0]["state"], "current");

    // The rotation accepts it: a whole rotation, as Secrets Manager runs it.
    let rotation = w.rotate(&arn, 1).await;
    w.assert_rotated(&arn, &rotation.token, None, 0).await;

    // Without a rotation Lambda, the secret is written and rotation stays off.
    let second = org.emulator.seed_client(SeedClient {
        role_divisions: vec![genesys_emulator::models::RoleDivision {
            role_id: ROLE.into(),
            division_id: "*".into(),
        }],
        ..SeedClient::new("erp-legacy", &["conversation:communication:view"])
    });
    let args = [
        "--json",
        "enroll",
        "--name",
        "genesys/erp",
        "--client-id",
        &second.id,
        "--region",
        org.domain,
        "--master-secret-arn",
        &w.master_arns[0],
        "--prefix",
        "erp-rot-",
    ];
    let out = cli.run_with_stdin(&args, &second.secret).await;
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let erp = report["secretArn"].as_str().unwrap();
    assert!(!w.describe(erp).await.rotation_enabled);
    // Roles copied from the client itself.
    assert_eq!(
        w.value(erp, AWSCURRENT).await["roleDivisions"],
        serde_json::json!([{"roleId": ROLE, "divisionId": "*"}])
    );
}

#[tokio::test]
async fn enroll_refuses_bad_input_and_changes_nothing() {
    let w = World::new().await;
    let cli = cli(&w).await;
    let org = w.org();
    let taken = w.integration_secret().await; // prefix crm-rot-, served
    let other = org
        .emulator
        .seed_client(SeedClient::new("crm-other", &["conversation:communication:view"]));
    let stray_master = w
        .sm
        .create_secret()
        .name("genesys/master/stray")
        .secret_string(serde_json::json!({"clientId": org.master_id, "clientSecret": org.master_secret}).to_string())
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let before = everything(&w).await;
    let clients_before = org.emulator.clients().len();
    let legacy = org.legacy_secret.as_str();

    let role = ["--role", ROLE];
    let cases: Vec<(&str, Vec<&str>, &str, String)> = vec![
        (
            "wrong secret",
            enroll_args(&w, "genesys/new", "new-rot-", &role),
            "not-the-secret",
            "credential does not work".into(),
        ),
        (
            "same prefix as a served secret of the same org",
            enroll_args(&w, "genesys/new", PREFIX, &role),
            legacy,
            format!("overlaps \"{PREFIX}\" of {taken}"),
        ),
        (
            "prefix nested in a served secret's",
            enroll_args(&w, "genesys/new", "crm-rot-eu-", &role),
            legacy,
            format!("overlaps \"{PREFIX}\" of {taken}"),
        ),
        (
            "prefix a served secret's is nested in",
            enroll_args(&w, "genesys/new", "crm-", &role),
            legacy,
            format!("overlaps \"{PREFIX}\" of {taken}"),
        ),
        (
            "name taken",
            enroll_args(&w, "genesys/crm-integration", "new-rot-", &role),
            legacy,
            "already exists".into(),
        ),
        (
            "master not allowed",
            {
                let mut a = enroll_args(&w, "genesys/new", "new-rot-", &role);
                let i = a.iter().position(|x| *x == "--master-secret-arn").unwrap();
                a[i + 1] = &stray_master;
                a
            },
            legacy,
            "not in ALLOWED_MASTER_SECRET_ARNS".into(),
        ),
        (
            "no secret on standard input",
            enroll_args(&w, "genesys/new", "new-rot-", &role),
            "",
            "no client secret on standard input".into(),
        ),
        (
            "bad schedule",
            enroll_args(
                &w,
                "genesys/new",
                "new-rot-",
                &[
                    "--rotation-lambda-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:f",
                    "--schedule",
                    "rate(1 hours)",
                ],
            ),
            legacy,
            "--schedule".into(),
        ),
    ];
    // RotateSecret refuses (moto has no such function): the secret just made is deleted again.
    let missing_lambda = "arn:aws:lambda:us-east-1:123456789012:function:not-there";
    let mut cases = cases;
    cases.push((
        "RotateSecret refused",
        enroll_args(
            &w,
            "genesys/new",
            "new-rot-",
            &[
                "--role",
                ROLE,
                "--rotation-lambda-arn",
                missing_lambda,
                "--schedule",
                "rate(30 days)",
            ],
        ),
        legacy,
        "RotateSecret failed".into(),
    ));
    for (case, args, stdin, expected) in cases {
        let out = cli.run_with_stdin(&args, stdin).await;
        let all = text(&out);
        assert!(!out.status.success(), "{case}: {all}");
        assert!(all.contains(&expected), "{case}: expected {expected:?} in {all}");
        for s in [legacy, other.secret.as_str(), org.master_secret.as_str()] {
            assert!(!all.contains(s), "{case}: a secret in the output");
        }
        assert_eq!(everything(&w).await, before, "{case}: Secrets Manager unchanged");
        if case == "RotateSecret refused" {
            assert!(all.contains("deleted again; nothing is left"), "{all}");
        }
        assert_eq!(org.emulator.clients().len(), clients_before, "{case}: no client made");
    }

    // The secret cannot be given as a flag at all.
    let mut args = enroll_args(&w, "genesys/new", "new-rot-", &role);
    args.extend(["--client-secret", legacy]);
    let out = cli.run_with_stdin(&args, legacy).await;
    assert!(!out.status.success());
    assert_eq!(everything(&w).await, before);
}

#[tokio::test]
async fn status_shows_schedule_failures_and_every_client_with_its_state() {
    let dw = DrainWorld::new(&[]).await;
    let w = &dw.w;
    let cli = cli(w).await;
    let org = w.org();
    let arn = w.integration_secret().await;

    // Two rotations retire the legacy client, then the first new one: both drain.
    let first = dw.rotate(&arn, 1).await;
    let first_client = w.client_id(&arn, AWSCURRENT).await;
    let second = dw.rotate(&arn, 1).await;
    let current = w.client_id(&arn, AWSCURRENT).await;
    let report = cli.json(&["--json", "status", "--secret", &arn]).await;
    let s = &report[0];
    assert_eq!(s["secretArn"], arn.as_str(), "{report}");
    assert_eq!(s["rotationEnabled"], true);
    assert_eq!(s["schedule"], "rate(7 days)", "the harness's schedule");
    // moto sets LastRotatedDate only when RotateSecret finds its Lambda (the enroll test has one).
    assert!(s["nextRotation"].is_string(), "{s}");
    assert_eq!(s["lastFailure"], Value::Null);
    let state = |s: &Value, id: &str| -> Value {
        s["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["clientId"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(state(s, &current)["state"], "current", "{s}");
    assert_eq!(state(s, &current)["versionId"], second.token.as_str());
    assert_eq!(state(s, &first_client)["state"], "draining", "{s}");
    assert_eq!(state(s, &first_client)["versionId"], first.token.as_str());
    let left = state(s, &first_client)["secondsLeft"].as_i64().unwrap();
    assert!(left > 0, "still draining: {left}");
    assert_eq!(state(s, &org.legacy_id)["state"], "draining", "{s}");

    // The legacy client is deleted (the cleanup refuses it: outside the prefix; the operator does it).
    let operator = genesys_rotator::genesys::GenesysClient::new(
        reqwest::Client::new(),
        w.rotator_config()
            .endpoint_overrides
            .resolve(genesys_rotator::region::Region::parse(org.domain).unwrap()),
        genesys_rotator::secret::ClientCredentials {
            client_id: genesys_rotator::domain::ClientId::parse(&org.master_id).unwrap(),
            client_secret: secrecy::SecretString::from(org.master_secret.clone()),
        },
        Default::default(),
    );
    operator.delete_client(&org.legacy_id).await.unwrap();

    // A failed rotation: Genesys refuses the new client.
    org.emulator.inject_fault(Fault::new(
        routes::CREATE_CLIENT,
        FaultAction::Status {
            status: 400,
            retry_after: None,
        },
    ));
    let token = w.begin_rotation(&arn, true).await;
    let err = dw.step(&arn, &token, Step::CreateSecret).await.unwrap_err();
    let error_type = genesys_rotator::error_type::error_type(&err);
    w.clear_pending(&arn, &token).await;

    let report = cli.json(&["--json", "status"]).await;
    let s = report
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["secretArn"] == arn.as_str())
        .expect("every served secret by default");
    assert_eq!(s["lastFailure"]["errorType"], error_type.as_str(), "{s}");
    assert_eq!(s["lastFailure"]["step"], "createSecret");
    assert!(s["lastFailure"]["at"].is_string());
    assert_eq!(state(s, &org.legacy_id)["state"], "deleted", "{s}");
    assert_eq!(state(s, &current)["state"], "current");
    assert_eq!(state(s, &first_client)["state"], "draining");
    let desc = w.describe(&arn).await;
    assert!(desc.tags.contains_key(LAST_FAILURE_TAGS[2]) && desc.is_served());

    // The human table says the same.
    let out = cli.run(&["status", "--secret", &arn]).await;
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        t.contains(&error_type) && t.contains("deleted") && t.contains("left"),
        "{t}"
    );
    assert!(!text(&out).contains(&org.legacy_secret));
}

#[tokio::test]
async fn enroll_takes_a_prefix_another_organization_already_uses() {
    let w = World::with_orgs(&[
        ("mypurecloud.ie", genesys_emulator::EmulatorConfig::default()),
        ("mypurecloud.de", genesys_emulator::EmulatorConfig::default()),
    ])
    .await;
    let cli = cli(&w).await;
    let _ie = w.integration_secret().await; // crm-rot- in the first organization
    let de = &w.orgs[1];
    let args = [
        "--json",
        "enroll",
        "--name",
        "genesys/crm-de",
        "--client-id",
        &de.legacy_id,
        "--region",
        de.domain,
        "--master-secret-arn",
        &w.master_arns[1],
        "--prefix",
        PREFIX,
        "--role",
        ROLE,
    ];
    let out = cli.run_with_stdin(&args, &de.legacy_secret).await;
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["check"]["currentClientId"], de.legacy_id.as_str());

    // The first organization's master, in another region than the client: refused, nothing written.
    let before = everything(&w).await;
    let mut crossed = args;
    crossed[3] = "genesys/crm-crossed";
    crossed[9] = &w.master_arns[0];
    crossed[11] = "xorg-rot-";
    let out = cli.run_with_stdin(&crossed, &de.legacy_secret).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("region"), "{}", text(&out));
    assert_eq!(everything(&w).await, before);
}

/// `conformance` against the emulator, as an operator runs it against a real org.
mod conformance {
    use super::*;
    use std::time::Duration;

    /// The verdict of check `key` in a `--json` report, and its detail.
    fn verdict<'a>(report: &'a Value, key: &str) -> (&'a str, &'a str) {
        let check = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .unwrap_or_else(|| panic!("no check {key}: {report}"));
        (check["verdict"].as_str().unwrap(), check["detail"].as_str().unwrap())
    }

    async fn run(cli: &Cli<'_>, args: &[&str]) -> (bool, Value) {
        let mut all = vec!["--json", "conformance"];
        all.extend_from_slice(args);
        let out = cli.run(&all).await;
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.success(), report)
    }

    #[tokio::test]
    async fn on_a_faithful_org_every_assumption_holds_and_nothing_else_is_touched() {
        // GIVEN an org and an integration secret
        let w = World::new().await;
        let cli = cli(&w).await;
        let arn = w.integration_secret().await;
        let before: Vec<_> = w.org().emulator.clients();
        // WHEN conformance runs with the secret's master
        let (ok, report) = run(&cli, &["--secret", &arn]).await;
        // THEN every assumption holds, its one client is gone, and nothing else changed
        assert!(ok, "{report}");
        for key in [
            "create",
            "fields",
            "token",
            "drain",
            "no-new-token",
            "date-modified",
            "listing",
            "delete",
        ] {
            assert_eq!(verdict(&report, key).0, "holds", "{key}: {report}");
        }
        assert_eq!(report["cleanedUp"], true);
        let id = report["clientId"].as_str().unwrap();
        assert!(w.org().client(id).is_none());
        assert_eq!(w.org().emulator.clients(), before, "no other client changed");
        // AND nothing it printed holds a secret or a token the emulator issued
        let text = report.to_string();
        for value in w
            .org()
            .emulator
            .issued_secrets()
            .iter()
            .chain(&w.org().emulator.issued_tokens())
        {
            assert!(!text.contains(value.as_str()), "a secret or token was printed");
        }
    }

    #[tokio::test]
    async fn each_switched_behaviour_is_reported() {
        let w = World::new().await;
        let cli = cli(&w).await;
        let arn = w.integration_secret().await;
        let emulator = &w.org().emulator;
        emulator.seed_role("reports-admin", &["analytics:report:edit"]);

        // Soft delete of the client it made (the age threshold lowered so a new one qualifies).
        emulator.set_soft_delete_after_age(Duration::ZERO);
        let (ok, report) = run(&cli, &["--secret", &arn]).await;
        let (v, detail) = verdict(&report, "delete");
        assert_eq!(v, "note", "{report}");
        assert!(
            detail.contains("soft-deleted") && detail.contains("dateToDelete"),
            "{detail}"
        );
        assert!(
            ok && report["cleanedUp"] == true,
            "a soft-deleted client counts as cleaned up"
        );
        emulator.set_soft_delete_after_age(genesys_emulator::SOFT_DELETE_AFTER_AGE);

        // The role rule: a role-division the master lacks, refused or accepted.
        let (_, report) = run(&cli, &["--secret", &arn, "--probe-role", "reports-admin:d2"]).await;
        assert!(verdict(&report, "role-rule").1.contains("accepted"), "{report}");
        emulator.set_role_rule(true);
        let (_, report) = run(&cli, &["--secret", &arn, "--probe-role", "reports-admin:d2"]).await;
        assert!(verdict(&report, "role-rule").1.contains("refused"), "{report}");
        emulator.set_role_rule(false);

        // Listing items without authorizedGrantType.
        emulator.set_listing_without_grant_type(true);
        let (ok, report) = run(&cli, &["--secret", &arn]).await;
        assert!(!ok);
        assert_eq!(verdict(&report, "listing").0, "broken", "{report}");
        emulator.set_listing_without_grant_type(false);

        // A credential whose GET hides clientId.
        let legacy = w.org().legacy_id.clone();
        let credential = emulator
            .seed_credential(genesys_emulator::SeedCredential::oauth_client(
                "crm-da",
                &legacy,
                &w.org().legacy_secret,
            ))
            .id;
        let (_, report) = run(&cli, &["--secret", &arn, "--credential", &credential]).await;
        assert_eq!(verdict(&report, "credential").0, "holds", "{report}");
        emulator.set_credential_get_hides_client_id(true);
        let (ok, report) = run(&cli, &["--secret", &arn, "--credential", &credential]).await;
        assert!(!ok);
        assert_eq!(verdict(&report, "credential").0, "broken", "{report}");
        emulator.set_credential_get_hides_client_id(false);

        // Genesys removing an inactive client on its own.
        emulator.set_auto_delete_inactive_after(Some(Duration::ZERO));
        let (ok, report) = run(&cli, &["--secret", &arn]).await;
        assert!(!ok);
        assert_eq!(verdict(&report, "inactive-kept").0, "broken", "{report}");
        emulator.set_auto_delete_inactive_after(None);

        // Every run cleaned up after itself: only the org's own clients are left.
        let left: Vec<String> = emulator
            .clients()
            .into_iter()
            .filter(|c| c.name.starts_with("genesys-rotator-conformance-") && !c.soft_deleted)
            .map(|c| c.name)
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test]
    async fn the_openbao_engines_master_is_checked_from_a_file() {
        // GIVEN a master credential in a file (no Secrets Manager involved)
        let w = World::new().await;
        let cli = cli(&w).await;
        let dir = std::env::temp_dir().join(format!("conformance-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("master.json");
        let org = w.org();
        std::fs::write(
            &file,
            serde_json::json!({"clientId": org.master_id, "clientSecret": org.master_secret, "region": org.domain})
                .to_string(),
        )
        .unwrap();
        // WHEN conformance runs from it
        let (ok, report) = run(&cli, &["--master-file", file.to_str().unwrap()]).await;
        std::fs::remove_dir_all(&dir).ok();
        // THEN it runs the same checks
        assert!(ok, "{report}");
        assert_eq!(verdict(&report, "token").0, "holds");
    }
}
