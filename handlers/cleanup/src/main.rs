//! The cleanup Lambda: triggered by the drain queue (SQS, with `ReportBatchItemFailures`), it
//! deletes rotated-out clients once their tokens have drained; triggered by its EventBridge
//! schedule, it reconciles orphans of the secrets it serves (tagged `genesys-rotator`). All logic lives in
//! the `genesys_rotator` library (`genesys_rotator::lambda`); this only starts it.
//!
//! Logs and metrics as in the rotation function: JSON lines under the JSON log format, EMF
//! metrics flushed after every invocation. Only an unrecognised payload fails a whole invocation,
//! with `errorType` `NonRetryable.UnrecognisedEvent`.

#![recursion_limit = "256"] // the SDK futures nest deeper than the default allows

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    genesys_rotator::lambda::serve_cleanup().await
}
