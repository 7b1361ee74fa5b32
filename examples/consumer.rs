//! Calling Genesys Cloud with a credential the rotator keeps fresh.
//!
//! ```sh
//! GENESYS_SECRET_ARN=arn:aws:secretsmanager:eu-west-1:123456789012:secret:crm-AbCdEf \
//!     cargo run --example consumer --features consumer [-- <secret-arn> [calls]]
//! ```
//!
//! The AWS SDK takes its region and credentials from the usual environment (`AWS_REGION`,
//! `AWS_PROFILE`, instance or task roles, ...). `GENESYS_ENDPOINT_OVERRIDES` (loopback URLs only)
//! points the secret's region at a local emulator, for trying it out without an org; only a build
//! with `--features consumer,endpoint-overrides` takes it (others refuse it).

use std::time::Duration;

use genesys_rotator::consumer::{Consumer, ConsumerSettings};
use genesys_rotator::region::EndpointOverrides;
use genesys_rotator::store::AwsSecretStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let secret_arn = args
        .next()
        .or_else(|| std::env::var("GENESYS_SECRET_ARN").ok())
        .ok_or("usage: consumer <secret-arn> [calls] (or set GENESYS_SECRET_ARN)")?;
    let calls: u32 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(3);

    // Build the SDK client once, from the environment.
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);

    // One consumer per secret; clone it into every task that calls Genesys Cloud.
    let settings = ConsumerSettings {
        endpoint_overrides: EndpointOverrides::from_env()?,
        ..ConsumerSettings::default()
    };
    let genesys = Consumer::new(
        AwsSecretStore::new(secrets),
        secret_arn,
        reqwest::Client::new(),
        settings,
    );
    // Fail at start-up, not on the first request, if the secret or credential is unusable.
    genesys.warm_up().await?;

    for i in 1..=calls {
        // Any Platform API call: `send` hands you the client and the region's API base URL.
        let response = genesys
            .send(|http, base| http.get(format!("{base}/api/v2/tokens/me")))
            .await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        println!(
            "call {i}: HTTP {status}, OAuth client {}",
            body["OAuthClient"]["id"].as_str().unwrap_or("?")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let stats = genesys.stats();
    println!(
        "requests {}, secret reads {}, token requests {}, 401s recovered {}",
        stats.requests, stats.secret_reads, stats.token_requests, stats.recovered
    );
    Ok(())
}
