//! The `rotation` binary as Lambda starts it, under the workspace's shared Runtime API
//! (`tests/runtime_api`): one event, then the function waits; what it answered.

use std::time::Duration;

#[path = "../../../../tests/runtime_api/mod.rs"]
mod server;
pub use server::{Answer, RuntimeApi};

/// The request id of the one invocation.
pub const REQUEST_ID: &str = "req-1";

/// A Runtime API that serves `event` (deadline 60 s away) to the first poll; later polls wait
/// for ever.
pub async fn start(event: serde_json::Value) -> RuntimeApi {
    let api = RuntimeApi::start(
        "arn:aws:lambda:us-east-1:123456789012:function:rotation",
        Duration::from_secs(60),
    )
    .await;
    api.invoke(REQUEST_ID, event);
    api
}

/// An allowed master secret ARN of the environments these tests give the function.
pub const MASTER_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:genesys/master-AbCdEf";
/// A drain queue URL of the same environments.
#[allow(dead_code)] // not every test binary gives the function a queue
pub const QUEUE_URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/genesys-rotator-drain";

/// The `rotation` binary as Lambda starts it against `api`: the runtime's own variables and a
/// region, nothing else. `with_aws` adds static credentials and an AWS endpoint where nothing
/// listens (no metadata lookups, no call can reach anything); the caller adds the function's own
/// variables.
pub fn function(api: &RuntimeApi, with_aws: bool) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rotation"));
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "rotation")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .kill_on_drop(true);
    if with_aws {
        command
            .env("AWS_ACCESS_KEY_ID", "AKIDTESTONLY")
            .env("AWS_SECRET_ACCESS_KEY", "test-only")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    }
    command
}
