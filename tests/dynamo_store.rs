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
    use cloudapps::provision::ensure_tenant_with_apps;
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
