//! The install-state contract against DynamoDB, through aws-sdk-dynamodb, on moto server.

use cloudapps::store::dynamo::DynamoStore;
use cloudapps_tests::moto_dynamodb;

const TABLE: &str = "cloudapps-contract";

async fn store() -> DynamoStore {
    let store = DynamoStore::new(moto_dynamodb().await, TABLE);
    store
        .create_table()
        .await
        .expect("create the contract table on moto");
    store
}

cloudapps::contract_tests!(store().await);

#[tokio::test]
async fn a_missing_table_is_a_store_error_not_a_panic() {
    let store = DynamoStore::new(moto_dynamodb().await, "no-such-table");
    use cloudapps::store::ItemStore;
    let err = store.get("p", "s").await.unwrap_err();
    assert!(err.to_string().contains("store failed"), "{err}");
}

#[tokio::test]
async fn install_records_round_trip_through_native_attributes() {
    use std::sync::Arc;

    use cloudapps::apps::BuiltinApps;
    use cloudapps::first_run::ensure_tenant_with_apps;
    use cloudapps::store::{InstallState, StoreError};

    let state = InstallState::new(Arc::new(store().await));
    let tenant = format!("t-{}", &cloudapps::auth::generate_secret()[..10]).to_lowercase();
    let created = ensure_tenant_with_apps(&state, &tenant, "https://mm.test", &BuiltinApps::all())
        .await
        .unwrap()
        .remove(0);
    assert!(created.installed.is_some());
    let read = state.install(&tenant, "hello").await.unwrap().unwrap();
    assert_eq!(read, created.install);
    assert_eq!(
        state.tenant(&tenant).await.unwrap().unwrap().site_url,
        "https://mm.test"
    );

    // Parallel read-modify-writes of one install through the typed layer lose nothing.
    let tasks: Vec<_> = (0..6)
        .map(|n| {
            let (state, tenant) = (state.clone(), tenant.clone());
            tokio::spawn(async move {
                state
                    .modify_install::<StoreError>(&tenant, "hello", |i| {
                        i.config.insert(format!("k{n}"), n.into());
                        Ok(())
                    })
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let after = state.install(&tenant, "hello").await.unwrap().unwrap();
    assert_eq!((after.config.len(), after.revision), (6, 7));
}

/// A stand-in for DynamoDB's BatchGetItem on 127.0.0.1 (the JSON protocol), for what moto does
/// not do: leave keys unprocessed. Every key exists unless its sort key starts with `missing`.
/// Like DynamoDB it refuses more than 100 keys or a key named twice in one request.
mod batch_stub {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use serde_json::{Value, json};

    /// How many of the keys asked for round `n` (0-based) it answers; `None`: all of them.
    pub type Answers = fn(usize) -> Option<usize>;

    #[derive(Clone)]
    pub struct Stub {
        answers: Answers,
        /// The sort keys of each request, in order.
        pub requests: Arc<Mutex<Vec<Vec<String>>>>,
    }

    /// Starts the stub and returns it with a DynamoDB client pointed at it.
    pub async fn start(answers: Answers) -> (Stub, aws_sdk_dynamodb::Client) {
        let stub = Stub {
            answers,
            requests: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .fallback(axum::routing::post(batch_get_item))
            .with_state(stub.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let config = cloudapps::aws::defaults()
            .endpoint_url(url)
            .region(aws_config::Region::new("us-east-1"))
            .test_credentials()
            .load()
            .await;
        (stub, aws_sdk_dynamodb::Client::new(&config))
    }

    async fn batch_get_item(State(stub): State<Stub>, headers: HeaderMap, body: Bytes) -> Response {
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
        assert_eq!(target, Some("DynamoDB_20120810.BatchGetItem"));
        let request: Value = serde_json::from_slice(&body).unwrap();
        let tables = request["RequestItems"].as_object().unwrap();
        assert_eq!(tables.len(), 1, "one table: {request}");
        let (table, asked) = tables.iter().next().unwrap();
        let keys = asked["Keys"].as_array().unwrap().clone();
        let sks: Vec<String> = keys
            .iter()
            .map(|k| k["sk"]["S"].as_str().unwrap().to_owned())
            .collect();
        let round = {
            let mut requests = stub.requests.lock().unwrap();
            requests.push(sks.clone());
            requests.len() - 1
        };
        let distinct: HashSet<&String> = sks.iter().collect();
        if sks.len() > 100 || distinct.len() < sks.len() {
            let error = json!({
                "__type": "com.amazon.coral.validation#ValidationException",
                "message": "Too many items requested or duplicate keys in the BatchGetItem call",
            });
            return reply(StatusCode::BAD_REQUEST, error);
        }
        let answered = (stub.answers)(round).unwrap_or(keys.len()).min(keys.len());
        let items: Vec<Value> = keys[..answered]
            .iter()
            .filter(|k| !k["sk"]["S"].as_str().unwrap().starts_with("missing"))
            .map(|k| json!({"pk": k["pk"], "sk": k["sk"], "_rev": {"N": "1"}, "sk_copy": k["sk"]}))
            .collect();
        let mut out = json!({"Responses": {table: items}, "UnprocessedKeys": {}});
        if answered < keys.len() {
            out["UnprocessedKeys"][table] =
                json!({"Keys": keys[answered..], "ConsistentRead": true});
        }
        reply(StatusCode::OK, out)
    }

    fn reply(status: StatusCode, body: Value) -> Response {
        let content_type = [(header::CONTENT_TYPE, "application/x-amz-json-1.0")];
        (status, content_type, body.to_string()).into_response()
    }
}

/// A stub read, with a deadline: a retry loop that never ends fails the test instead of hanging it.
async fn read<T>(read: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(60), read)
        .await
        .expect("get_many still running after 60 s: its retries are unbounded")
}

#[tokio::test]
async fn keys_left_unprocessed_are_asked_for_again() {
    use cloudapps::store::ItemStore;

    // Round 0 answers one key and leaves the rest; round 1 answers none; round 2 answers all.
    let (stub, client) =
        batch_stub::start(|round| [Some(1), Some(0)].get(round).copied().flatten()).await;
    let store = DynamoStore::new(client, "stub-table");
    let sks = ["a", "missing-b", "c", "a", "d"];
    let got = read(store.get_many("p", &sks)).await.unwrap();
    let found: Vec<Option<String>> = got
        .into_iter()
        .map(|i| i.map(|i| i.body["sk_copy"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        found,
        [
            Some("a".into()),
            None,
            Some("c".into()),
            Some("a".into()),
            Some("d".into())
        ]
    );
    let requests = stub.requests.lock().unwrap().clone();
    assert_eq!(
        requests,
        [
            vec!["a", "missing-b", "c", "d"],
            vec!["missing-b", "c", "d"],
            vec!["missing-b", "c", "d"],
        ],
        "each retry asks only for the keys left unprocessed"
    );
}

#[tokio::test]
async fn keys_that_stay_unprocessed_fail_the_read_after_bounded_attempts() {
    use cloudapps::store::dynamo::BATCH_STALLS;
    use cloudapps::store::{ItemStore, StoreError};

    let (stub, client) = batch_stub::start(|_| Some(0)).await;
    let store = DynamoStore::new(client, "stub-table");
    let err = read(store.get_many("p", &["a", "b"])).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(m) if m.contains("2 of 2 keys unprocessed")),
        "{err}"
    );
    assert_eq!(stub.requests.lock().unwrap().len(), BATCH_STALLS as usize);
}

#[tokio::test]
async fn partial_answers_are_progress_not_failed_attempts() {
    use cloudapps::store::ItemStore;
    use cloudapps::store::dynamo::BATCH_STALLS;

    // As when a response would pass DynamoDB's 16 MB cap: one key per round, more rounds than
    // the read tolerates in a row without progress.
    let (stub, client) = batch_stub::start(|_| Some(1)).await;
    let store = DynamoStore::new(client, "stub-table");
    let keys = BATCH_STALLS as usize + 3;
    let sks: Vec<String> = (0..keys).map(|n| format!("k{n}")).collect();
    let sks: Vec<&str> = sks.iter().map(String::as_str).collect();
    let got = read(store.get_many("p", &sks)).await.unwrap();
    assert!(got.iter().all(Option::is_some));
    assert_eq!(stub.requests.lock().unwrap().len(), keys);
}

#[tokio::test]
async fn a_read_of_more_than_100_keys_is_split_into_batches_the_service_accepts() {
    use cloudapps::store::ItemStore;

    let (stub, client) = batch_stub::start(|_| None).await;
    let store = DynamoStore::new(client, "stub-table");
    let sks: Vec<String> = (0..250).map(|n| format!("k{n}")).collect();
    let sks: Vec<&str> = sks.iter().map(String::as_str).collect();
    let got = read(store.get_many("p", &sks)).await.unwrap();
    assert!(
        got.iter()
            .zip(&sks)
            .all(|(i, sk)| i.as_ref().unwrap().sk == *sk)
    );
    let sizes: Vec<usize> = stub.requests.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, [100, 100, 50]);
}
