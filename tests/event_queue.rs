//! The event queue contract on SQS, through aws-sdk-sqs, on moto server: at-least-once with
//! visibility, and retries into a dead-letter queue by a redrive policy, inspected and redriven.

use cloudapps::events::queue::{SqsQueue, contract};
use cloudapps_tests::moto_sqs;

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    prefix: &str,
    redrive: Option<String>,
) -> String {
    let name =
        format!("{prefix}-{}", &cloudapps::auth::generate_secret()[..8]).replace(['_', '-'], "x");
    let mut req = client.create_queue().queue_name(name);
    if let Some(policy) = redrive {
        req = req.attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            policy,
        );
    }
    req.send().await.unwrap().queue_url.unwrap()
}

#[tokio::test]
async fn sqs_queue_meets_the_contract() {
    let client = moto_sqs().await;
    let url = create_queue(&client, "events", None).await;
    contract::at_least_once_with_visibility(&SqsQueue::new(client, url)).await;
}

#[tokio::test]
async fn sqs_dead_letters_after_max_receives_and_redrives() {
    let client = moto_sqs().await;
    let dlq = create_queue(&client, "dlq", None).await;
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let policy =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}).to_string();
    let url = create_queue(&client, "events", Some(policy)).await;
    let queue = SqsQueue::new(client, url).with_dead_letter_queue(dlq);
    contract::retries_then_dead_letters(&queue, 3).await;
}
