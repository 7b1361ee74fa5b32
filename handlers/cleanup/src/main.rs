//! The cleanup Lambda: will hard-delete rotated-out clients once their tokens have drained,
//! from the drain queue's messages. Until that lands it accepts SQS batches and reports every
//! message as failed, so nothing is lost or deleted by mistake: the messages stay on the queue.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        let mut response = SqsBatchResponse::default();
        for record in event.payload.records {
            tracing::warn!(message_id = ?record.message_id, "cleanup not implemented yet; message left on the queue");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
        Ok::<_, Error>(response)
    }))
    .await
}
