//! The drain queue: one narrow trait ([`DrainQueue`]) for sending a [`DrainMessage`] with a
//! delay, and its SQS implementation ([`SqsDrainQueue`]). Tests wrap it to fail chosen sends.

use genesys_core::classify::Classify;
use std::future::Future;
use std::time::Duration;

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use thiserror::Error;

use super::message::DrainMessage;
use crate::store::error_chain;

/// Longest delay SQS accepts on a message (`DelaySeconds`).
pub const MAX_SQS_DELAY: Duration = Duration::from_secs(900);

/// The SQS call a [`QueueError`] names (`errorType` `SqsUnavailable.SendMessage`).
pub const SEND_MESSAGE: &str = "SendMessage";

/// A failed send.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueueError {
    /// Throttling, a server error, a timeout, a dropped connection: a retry may succeed.
    #[error("SendMessage: transient failure: {0}")]
    Transient(String),
    /// The queue refused the request (no such queue, access denied, bad parameter).
    #[error("SendMessage: refused ({code}): {message}")]
    Refused {
        /// The SQS error code.
        code: String,
        /// The service's message.
        message: String,
    },
}

impl Classify for QueueError {
    fn is_retryable(&self) -> bool {
        matches!(self, QueueError::Transient(_))
    }

    fn kind(&self) -> &'static str {
        match self {
            QueueError::Transient(_) => "SqsUnavailable",
            QueueError::Refused { .. } => "SqsRefused",
        }
    }

    /// The one SQS call there is.
    fn call_name(&self) -> Option<&'static str> {
        Some(SEND_MESSAGE)
    }
}

/// Where retired clients wait for their deletion.
pub trait DrainQueue: Send + Sync {
    /// Sends `message`, invisible for `delay` (at most [`MAX_SQS_DELAY`]; longer is clamped).
    fn send(&self, message: &DrainMessage, delay: Duration) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// [`DrainQueue`] over an SQS queue.
#[derive(Debug, Clone)]
pub struct SqsDrainQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDrainQueue {
    /// Sends to `queue_url` with `client`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// The queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

impl DrainQueue for SqsDrainQueue {
    async fn send(&self, message: &DrainMessage, delay: Duration) -> Result<(), QueueError> {
        // Rounded up: a copy must never come back before its time, only up to a second late.
        let delay_s = delay.min(MAX_SQS_DELAY).as_secs_f64().ceil() as i32;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(message.to_body())
            .delay_seconds(delay_s)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

fn classify<E, R>(err: SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("Unknown").to_owned();
            let message = se.err().message().unwrap_or_default().to_owned();
            if code.contains("Throttl")
                || code.contains("InternalError")
                || code.contains("ServiceUnavailable")
                || code.contains("RequestThrottled")
            {
                QueueError::Transient(format!("{code}: {message}"))
            } else {
                QueueError::Refused { code, message }
            }
        }
        SdkError::ConstructionFailure(_) => QueueError::Refused {
            code: "ConstructionFailure".into(),
            message: error_chain(&err),
        },
        _ => QueueError::Transient(error_chain(&err)),
    }
}
