//! The real Lambda binaries (`rotation`, `cleanup`, built beside this test by `make test`), each
//! under a Lambda Runtime API on a loopback port that hands it the events a test invokes, one at
//! a time, and returns what it answered: the functions exactly as Lambda runs them, against moto
//! and the emulators.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::{endpoint_overrides, World};

#[path = "../../runtime_api/mod.rs"]
mod runtime_api;
use runtime_api::{Answer, RuntimeApi};

/// What the function answered to one invocation.
pub type Answered = Result<Value, Value>;

/// One of the workspace's Lambda binaries, running.
pub struct Function {
    api: RuntimeApi,
    child: tokio::process::Child,
}

/// The path of workspace binary `name`: in the target directory this test binary runs from
/// (`target/debug/deps/integration-…` beside `target/debug/<name>`).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: build the workspace's binaries first (`make test` does)",
        bin.display()
    );
    bin
}

impl Function {
    /// Starts binary `name` (`rotation` or `cleanup`) with the world's environment: moto, the
    /// emulators, its masters, `queue_url` as the drain queue, plus `extra`.
    pub async fn start(name: &str, w: &World, queue_url: &str, extra: &[(&str, &str)]) -> Function {
        let api = RuntimeApi::start(
            "arn:aws:lambda:us-east-1:123456789012:function:genesys-rotation",
            Duration::from_secs(300),
        )
        .await;
        let mut command = tokio::process::Command::new(binary(name));
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            // Named as the harness's secrets name their rotation function (ROTATION_LAMBDA_ARN),
            // which the cleanup is told too: a tagged secret is served only if it names it.
            .env("AWS_LAMBDA_FUNCTION_NAME", format!("genesys-{name}"))
            .env("ROTATION_FUNCTION_NAME", super::world::ROTATION_LAMBDA_ARN)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_ENDPOINT_URL", &w._moto.url)
            // Secrets Manager through the layer that answers as AWS does; SQS straight to moto.
            .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &w._moto.sm.url)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("ALLOWED_MASTER_SECRET_ARNS", w.master_arns.join(","))
            .env("GENESYS_ENDPOINT_OVERRIDES", endpoint_overrides(&w.orgs))
            .env("GENESYS_REQUEST_TIMEOUT_SECONDS", "5")
            .env("PROPAGATION_TIMEOUT_SECONDS", "20")
            .env("DRAIN_QUEUE_URL", queue_url)
            .kill_on_drop(true);
        for (k, v) in extra {
            command.env(k, v);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        Function { api, child }
    }

    /// Invokes the function with `event`; its answer (a response, or an error body).
    pub async fn invoke(&mut self, event: Value) -> Answered {
        self.api.invoke(&uuid::Uuid::new_v4().to_string(), event);
        match self.api.answer(Duration::from_secs(120)).await {
            Some(Answer::Response { body, .. }) => Ok(body),
            Some(Answer::Error { body, .. }) => Err(body),
            None => {
                let exited = self.child.try_wait().ok().flatten();
                panic!("the function did not answer within 120 s (exited: {exited:?})")
            }
        }
    }
}
