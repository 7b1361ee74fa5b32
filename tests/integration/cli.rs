//! The operator command line, run as a real process against moto and the emulator.

use std::process::Output;

// Async, so the emulator (served by this test's runtime) keeps answering while the CLI runs.
use tokio::process::Command;

use serde_json::Value;
use time::OffsetDateTime;

use crate::harness::{endpoint_overrides, Seeded, SqsPlayer, World, PREFIX};
use genesys_rotator::store::AWSCURRENT;

pub(crate) struct Cli<'a> {
    w: &'a World,
    queue_url: String,
}

impl Cli<'_> {
    pub(crate) async fn run(&self, args: &[&str]) -> Output {
        let overrides = endpoint_overrides(&self.w.orgs);
        Command::new(env!("CARGO_BIN_EXE_genesys-rotator"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", &self.w._moto.url)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("ALLOWED_MASTER_SECRET_ARNS", self.w.master_arns.join(","))
            .env("GENESYS_ENDPOINT_OVERRIDES", overrides)
            .env("DRAIN_QUEUE_URL", &self.queue_url)
            .output()
            .await
            .expect("run genesys-rotator")
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
