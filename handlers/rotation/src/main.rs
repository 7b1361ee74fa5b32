//! The rotation Lambda: Secrets Manager calls it with createSecret, setSecret, testSecret and
//! finishSecret. All logic lives in the `genesys_rotator` library
//! (`genesys_rotator::lambda`, with the start-up both functions share); this only starts it.
//!
//! Logs are JSON lines when the function's log format is JSON (`AWS_LAMBDA_LOG_FORMAT`, set by
//! the template's LoggingConfig), text otherwise: lambda_runtime's own subscriber does that. EMF
//! metrics are flushed after every invocation. A failed step answers a `Diagnostic` whose
//! `errorType` is `Retryable.<Kind>` or `NonRetryable.<Kind>`, plus `.<Call>` when a call failed
//! (`genesys_rotator::error_type`).
//!
//! finishSecret retires the rotated-out client through the drain queue (`DRAIN_QUEUE_URL`,
//! required: a rotation that could not retire the old client would leave a live credential
//! behind, which is what this tool exists to prevent).

#![recursion_limit = "256"] // the SDK futures nest deeper than the default allows

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    genesys_rotator::lambda::serve_rotation().await
}
