//! What both Lambda functions do around their own work, so each handler is a few lines: logs
//! (JSON under the function's JSON log format), EMF metrics flushed after every invocation, the
//! environment checked once at start (a bad one answers every invocation with
//! `NonRetryable.InvalidConfiguration` naming the variable), the AWS clients built once, and each
//! invocation run against the deadline in its context.

use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;
use time::OffsetDateTime;

use crate::cleanup::{Cleanup, Trigger};
use crate::config::{ConfigError, DrainConfig, ReconcileConfig, RotatorConfig};
use crate::drain::{DrainRetirement, SqsDrainQueue};
use crate::metrics::Emitter;
use crate::rotation::Rotator;
use crate::store::AwsSecretStore;

/// A function past its start-up checks.
struct Started {
    metrics: Emitter,
    config: RotatorConfig,
    drain: DrainConfig,
    reconcile: ReconcileConfig,
    store: AwsSecretStore,
    sqs: aws_sdk_sqs::Client,
}

/// Sets up logs and metrics and checks the environment; `Ok(None)` once a function whose
/// environment was refused has served its invocations (each answered with the reason).
async fn start() -> Result<Option<Started>, Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let metrics = Emitter::install()?;
    let (config, drain, reconcile) = match crate::config::function_env() {
        Ok(loaded) => loaded,
        Err(e) => {
            serve_invalid_configuration(e).await?;
            return Ok(None);
        }
    };
    let aws = crate::config::load_aws().await;
    Ok(Some(Started {
        metrics,
        config,
        drain,
        reconcile,
        store: AwsSecretStore::new(aws_sdk_secretsmanager::Client::new(&aws)),
        sqs: aws_sdk_sqs::Client::new(&aws),
    }))
}

/// The rotation function: Secrets Manager's four steps, the rotated-out client retired through
/// the drain queue (required: a rotation that could not retire the old client would leave a
/// live credential behind). Each step answers before the invocation's deadline, in a state its
/// retry finishes.
pub async fn serve_rotation() -> Result<(), Error> {
    let Some(s) = start().await? else { return Ok(()) };
    let config = match s.config.for_rotation_function(|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(e) => return serve_invalid_configuration(e).await,
    };
    let queue = SqsDrainQueue::new(s.sqs, s.drain.queue_url);
    let rotator = Rotator::with_retirement(s.store, config, DrainRetirement::new(queue, s.drain.settings))
        .with_reconcile(s.reconcile);
    let (rotator, metrics) = (&rotator, &s.metrics);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = genesys_core::deadline::from_lambda_deadline_ms(event.context.deadline);
        let result = rotator.handle_json(&event.payload, Some(deadline)).await;
        metrics.flush(&event.context.request_id);
        result
            .map(|outcome| serde_json::to_value(outcome).expect("outcomes serialize"))
            .map_err(Diagnostic::from)
    }))
    .await
}

/// The cleanup function: a drain-queue batch (each message that must come back reported as a
/// batch item failure, those not started before the deadline included), or the scheduled
/// reconciliation (which stops before the deadline; the next pass resumes). Only an
/// unrecognised payload fails a whole invocation.
pub async fn serve_cleanup() -> Result<(), Error> {
    let Some(s) = start().await? else { return Ok(()) };
    let queue = SqsDrainQueue::new(s.sqs, s.drain.queue_url.clone());
    let cleanup = Cleanup::new(s.store, s.config, queue, s.drain.settings)
        .with_reconcile(s.reconcile)
        .accept_only_from(&s.drain.queue_url);
    let (cleanup, metrics) = (&cleanup, &s.metrics);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = genesys_core::deadline::from_lambda_deadline_ms(event.context.deadline);
        let result = match Trigger::from_json(event.payload) {
            Ok(trigger) => {
                let work = cleanup.handle(trigger, OffsetDateTime::now_utc());
                Ok(genesys_core::deadline::scope(deadline, work).await)
            }
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

/// Serves a function whose environment failed its start-up check: every invocation answers
/// [`INVALID_CONFIGURATION`](crate::config::INVALID_CONFIGURATION) with the reason, and changes nothing. Exiting instead would show
/// only `Runtime.ExitError` to Secrets Manager and the alarms, and hide which variable is wrong.
async fn serve_invalid_configuration(e: ConfigError) -> Result<(), Error> {
    tracing::error!(error = %e, "invalid configuration: every invocation fails until it is fixed");
    let e = &e;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| async move {
        Err::<serde_json::Value, Diagnostic>(Diagnostic::from(e))
    }))
    .await
}
