//! The rotation Lambda: Secrets Manager calls it with createSecret, setSecret, testSecret and
//! finishSecret. All logic lives in the `genesys_rotator` library; this only wires it up.
//!
//! Logs are JSON lines when the function's log format is JSON (`AWS_LAMBDA_LOG_FORMAT`, set by
//! the template's LoggingConfig), text otherwise: lambda_runtime's own subscriber does that. EMF
//! metrics are flushed after every invocation. A failed step answers a `Diagnostic` whose
//! `errorType` is `Retryable.<Kind>` or `NonRetryable.<Kind>` (`genesys_rotator::error_type`).
//!
//! finishSecret retires the rotated-out client through the drain queue (`DRAIN_QUEUE_URL`,
//! required: a rotation that could not retire the old client would leave a live credential
//! behind, which is what this tool exists to prevent).

#![recursion_limit = "256"] // the SDK futures nest deeper than the default allows

use genesys_rotator::drain::{DrainRetirement, SqsDrainQueue};
use genesys_rotator::metrics::Emitter;
use genesys_rotator::rotation::Rotator;
use genesys_rotator::store::AwsSecretStore;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let metrics = Emitter::install()?;
    // Checked once at start: a bad environment fails the cold start, not every rotation.
    // A bad one is then the answer to every invocation (NonRetryable.InvalidConfiguration).
    let (config, drain, reconcile) = match genesys_rotator::config::function_env() {
        Ok(loaded) => loaded,
        Err(e) => return genesys_rotator::error_type::serve_invalid_configuration(e).await,
    };
    let aws = genesys_rotator::config::load_aws().await;
    let retirement = DrainRetirement::new(
        SqsDrainQueue::new(aws_sdk_sqs::Client::new(&aws), drain.queue_url),
        drain.settings,
    );
    let rotator = Rotator::with_retirement(
        AwsSecretStore::new(aws_sdk_secretsmanager::Client::new(&aws)),
        config,
        retirement,
    )
    .with_reconcile(reconcile);
    let rotator = &rotator;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // The step answers before the invocation's deadline, with a state its retry finishes.
        let deadline = genesys_rotator::deadline::from_lambda_deadline_ms(event.context.deadline);
        let result = rotator.handle_json(&event.payload, Some(deadline)).await;
        metrics.flush(&event.context.request_id);
        result
            .map(|outcome| serde_json::to_value(outcome).expect("outcomes serialize"))
            .map_err(Diagnostic::from)
    }))
    .await
}
