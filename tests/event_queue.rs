//! The event queue contract on SQS, through aws-sdk-sqs, on moto server.

use cloudapps::events::queue::{SqsQueue, contract};
use cloudapps_tests::moto_sqs;

#[tokio::test]
async fn sqs_queue_meets_the_contract() {
    let client = moto_sqs().await;
    let name = format!("events-{}", &cloudapps::auth::generate_secret()[..8]).replace('_', "x");
    let url = client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    contract::at_least_once_with_visibility(&SqsQueue::new(client, url)).await;
}
