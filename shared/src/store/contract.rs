//! The contract every [`ItemStore`] adapter must meet. [`contract_tests!`](crate::contract_tests)
//! turns each check into a test for one adapter; the SQLite suite runs in this crate, the
//! DynamoDB suite in `tests/` against moto server.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::json;

use super::{ItemStore, StoreError};

/// A partition key no other run uses, so suites can share a table.
fn fresh_pk(name: &str) -> String {
    format!("contract#{name}#{}", crate::auth::generate_secret())
}

pub async fn get_of_a_missing_item_is_none(store: Arc<dyn ItemStore>) {
    assert!(
        store
            .get(&fresh_pk("missing"), "x")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn get_many_returns_items_in_the_order_asked(store: Arc<dyn ItemStore>) {
    let pk = fresh_pk("many");
    store.create(&pk, "TENANT", &json!({"t": 1})).await.unwrap();
    store
        .create(&pk, "INSTALL#a", &json!({"a": 1}))
        .await
        .unwrap();
    let got = store
        .get_many(&pk, &["INSTALL#a", "INSTALL#missing", "TENANT"])
        .await
        .unwrap();
    let bodies: Vec<Option<serde_json::Value>> =
        got.into_iter().map(|i| i.map(|i| i.body)).collect();
    assert_eq!(bodies, [Some(json!({"a": 1})), None, Some(json!({"t": 1}))]);
    assert!(store.get_many(&pk, &[]).await.unwrap().is_empty());
    assert_eq!(
        store.get_many(&fresh_pk("none"), &["x"]).await.unwrap(),
        [None]
    );
}

/// More keys than one DynamoDB batch holds (100), asked out of order, with keys that do not
/// exist and keys asked twice, also across batch boundaries (fan-out asks one per subscriber).
pub async fn get_many_of_more_keys_than_one_batch_holds(store: Arc<dyn ItemStore>) {
    let pk = fresh_pk("many-keys");
    let stored = 250;
    let creates = (0..stored).map(|n| {
        let (store, pk) = (store.clone(), pk.clone());
        async move {
            store
                .create(&pk, &format!("k{n:03}"), &json!({"n": n}))
                .await
        }
    });
    // A few at a time: moto serves one connection per thread.
    let created: Vec<_> = futures::stream::iter(creates)
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(created.iter().all(Result::is_ok), "creates: {created:?}");
    // 300 distinct keys from the last to the first (the last 50 are missing), then 30 again.
    let mut asked: Vec<usize> = (0..300).rev().collect();
    asked.extend((90..120).chain([299, 0]));
    let sks: Vec<String> = asked.iter().map(|n| format!("k{n:03}")).collect();
    let sks: Vec<&str> = sks.iter().map(String::as_str).collect();
    let got = store.get_many(&pk, &sks).await.unwrap();
    let numbers: Vec<Option<u64>> = got
        .iter()
        .map(|i| i.as_ref().map(|i| i.body["n"].as_u64().unwrap()))
        .collect();
    let expected: Vec<Option<u64>> = asked
        .iter()
        .map(|&n| (n < stored).then_some(n as u64))
        .collect();
    assert_eq!(numbers, expected);
    assert!(
        got.iter()
            .zip(&sks)
            .all(|(i, sk)| i.as_ref().is_none_or(|i| i.sk == *sk)),
        "each item under the key asked"
    );
}

pub async fn create_starts_at_revision_one_and_only_once(store: Arc<dyn ItemStore>) {
    let pk = fresh_pk("create");
    let item = store.create(&pk, "a", &json!({"v": 1})).await.unwrap();
    assert_eq!(item.revision, 1);
    assert!(matches!(
        store.create(&pk, "a", &json!({"v": 2})).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.get(&pk, "a").await.unwrap().unwrap().body,
        json!({"v": 1}),
        "the loser changed nothing"
    );
}

pub async fn replace_is_conditional_on_the_revision(store: Arc<dyn ItemStore>) {
    let pk = fresh_pk("replace");
    store.create(&pk, "a", &json!({"v": 1})).await.unwrap();
    let second = store.replace(&pk, "a", 1, &json!({"v": 2})).await.unwrap();
    assert_eq!(second.revision, 2);
    assert!(matches!(
        store.replace(&pk, "a", 1, &json!({"v": 3})).await,
        Err(StoreError::Conflict)
    ));
    let read = store.get(&pk, "a").await.unwrap().unwrap();
    assert_eq!((read.revision, read.body), (2, json!({"v": 2})));
    assert!(matches!(
        store.replace(&pk, "gone", 1, &json!({})).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn bodies_round_trip(store: Arc<dyn ItemStore>) {
    let pk = fresh_pk("body");
    let body = json!({
        "text": "héllo ☃ \"quoted\"", "empty": "", "int": 42, "neg": -7, "big": 9_007_199_254_740_993u64,
        "float": 1.5, "yes": true, "no": false, "nothing": null,
        "list": ["a", 1, {"k": "v"}], "nested": {"deep": {"deeper": [true]}}, "empty_map": {}, "empty_list": []
    });
    store.create(&pk, "a", &body).await.unwrap();
    assert_eq!(store.get(&pk, "a").await.unwrap().unwrap().body, body);
}

pub async fn query_returns_a_prefix_of_one_partition_in_order(store: Arc<dyn ItemStore>) {
    let pk = fresh_pk("query");
    let other = fresh_pk("query-other");
    for sk in ["INSTALL#b", "INSTALL#a", "TENANT", "INSTALL#c_%"] {
        store.create(&pk, sk, &json!({"sk": sk})).await.unwrap();
    }
    store.create(&other, "INSTALL#z", &json!({})).await.unwrap();
    let found: Vec<String> = store
        .query(&pk, "INSTALL#")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.sk)
        .collect();
    assert_eq!(found, ["INSTALL#a", "INSTALL#b", "INSTALL#c_%"]);
    assert_eq!(
        store.query(&pk, "INSTALL#c_").await.unwrap().len(),
        1,
        "_ and % are literal"
    );
    assert!(
        store
            .query(&fresh_pk("empty"), "")
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn delete_reports_whether_it_removed_something(store: Arc<dyn ItemStore>) {
    let pk = fresh_pk("delete");
    store.create(&pk, "a", &json!({})).await.unwrap();
    assert!(store.delete(&pk, "a").await.unwrap());
    assert!(!store.delete(&pk, "a").await.unwrap());
    assert!(store.get(&pk, "a").await.unwrap().is_none());
    store
        .create(&pk, "a", &json!({"again": true}))
        .await
        .unwrap();
}

pub async fn concurrent_creates_have_exactly_one_winner(store: Arc<dyn ItemStore>) {
    let pk = fresh_pk("race-create");
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let (store, pk) = (store.clone(), pk.clone());
            tokio::spawn(async move { store.create(&pk, "a", &json!({"writer": n})).await })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(wins, 1);
}

pub async fn concurrent_read_modify_writes_lose_no_update(store: Arc<dyn ItemStore>) {
    let pk = fresh_pk("race-update");
    store
        .create(&pk, "counter", &json!({"n": 0}))
        .await
        .unwrap();
    let writers = 8;
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (store, pk) = (store.clone(), pk.clone());
            tokio::spawn(async move {
                loop {
                    let item = store.get(&pk, "counter").await.unwrap().unwrap();
                    let n = item.body["n"].as_u64().unwrap();
                    match store
                        .replace(&pk, "counter", item.revision, &json!({"n": n + 1}))
                        .await
                    {
                        Ok(_) => return,
                        Err(StoreError::Conflict) => continue,
                        Err(other) => panic!("unexpected error: {other}"),
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let item = store.get(&pk, "counter").await.unwrap().unwrap();
    assert_eq!(item.body, json!({"n": writers}));
    assert_eq!(item.revision, writers + 1);
}

/// One `#[tokio::test]` per contract check for the adapter built by `$make` (an expression,
/// which may `.await`, evaluated in each test).
#[macro_export]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@each $make;
            get_of_a_missing_item_is_none,
            get_many_returns_items_in_the_order_asked,
            get_many_of_more_keys_than_one_batch_holds,
            create_starts_at_revision_one_and_only_once,
            replace_is_conditional_on_the_revision,
            bodies_round_trip,
            query_returns_a_prefix_of_one_partition_in_order,
            delete_reports_whether_it_removed_something,
            concurrent_creates_have_exactly_one_winner,
            concurrent_read_modify_writes_lose_no_update,
        );
    };
    (@each $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let store: ::std::sync::Arc<dyn $crate::store::ItemStore> = ::std::sync::Arc::new($make);
                $crate::store::contract::$check(store).await;
            }
        )*
    };
}
