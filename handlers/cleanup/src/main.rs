//! The cleanup Lambda: triggered by the drain queue (SQS, with `ReportBatchItemFailures`), it
//! deletes rotated-out clients once their tokens have drained; triggered by its EventBridge
//! schedule, it reconciles orphans of the secrets it serves (tagged `genesys-rotator`). All logic lives in
//! `genesys_rotator::cleanup`; this only wires it up.
//!
//! Logs and metrics as in the rotation function: JSON lines under the JSON log format, EMF
//! metrics flushed after every invocation. Only an unrecognised payload fails a whole invocation,
//! with `errorType` `NonRetryable.UnrecognisedEvent`.

#![recursion_limit = "256"] // the SDK futures nest deeper than the default allows

use genesys_rotator::cleanup::{Cleanup, Trigger};
use genesys_rotator::drain::SqsDrainQueue;
use genesys_rotator::metrics::Emitter;
use genesys_rotator::store::AwsSecretStore;
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use time::OffsetDateTime;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let metrics = Emitter::install()?;
    // Checked once at start: the same allowed masters and endpoints as the rotation function,
    // and the queue that not-yet-due messages are re-sent to.
    // A bad one is then the answer to every invocation (NonRetryable.InvalidConfiguration).
    let (config, drain, reconcile) = match genesys_rotator::config::function_env() {
        Ok(loaded) => loaded,
        Err(e) => return genesys_rotator::error_type::serve_invalid_configuration(e).await,
    };
    let aws = genesys_rotator::config::load_aws().await;
    let cleanup = Cleanup::new(
        AwsSecretStore::new(aws_sdk_secretsmanager::Client::new(&aws)),
        config,
        SqsDrainQueue::new(aws_sdk_sqs::Client::new(&aws), drain.queue_url),
        drain.settings,
    )
    .with_reconcile(reconcile);
    let cleanup = &cleanup;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        // An unrecognised payload is the only whole-invocation error: queue failures are
        // reported per message, so one bad message never fails the rest of its batch.
        // Messages not started before the deadline go back as batch item failures; the
        // scheduled pass stops and the next one resumes.
        let deadline = genesys_rotator::deadline::from_lambda_deadline_ms(event.context.deadline);
        let result = match Trigger::from_json(event.payload) {
            Ok(trigger) => Ok(genesys_rotator::deadline::scope(
                deadline,
                cleanup.handle(trigger, OffsetDateTime::now_utc()),
            )
            .await),
            Err(e) => {
                tracing::error!(error = %e, "cleanup invoked with an unrecognised event");
                Err(Diagnostic::from(e))
            }
        };
        metrics.flush(&event.context.request_id);
        result
    }))
    .await
}
