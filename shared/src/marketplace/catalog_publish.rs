//! The deploy step that publishes the catalog: the `catalog-publish` function, run by
//! CloudFormation as a custom resource whose properties carry the catalog's generation and
//! hash, so every deploy that changes the catalog runs it once. It answers per the
//! custom-resource protocol: a PUT of the outcome to the pre-signed `ResponseURL`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::catalog::{self, Published};
use crate::store::InstallState;

/// The request CloudFormation sends (the fields this step uses).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceRequest {
    /// `Create`, `Update` or `Delete`.
    pub request_type: String,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    #[serde(default)]
    pub physical_resource_id: Option<String>,
}

/// The answer CloudFormation waits for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceResponse {
    /// `SUCCESS` or `FAILED`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    pub data: Value,
}

/// The one published catalog of a stack: the same physical id every time, so an update never
/// looks like a replacement (which would be followed by a Delete of the old one).
const PHYSICAL_ID: &str = "catalog";

/// Publishes this build's catalog on Create and Update; a Delete keeps it (the table outlives
/// the stack). A failure is answered as `FAILED` with its reason, so the deploy stops there.
pub async fn respond_to(
    state: &InstallState,
    req: &CustomResourceRequest,
) -> CustomResourceResponse {
    let outcome = match req.request_type.as_str() {
        "Create" | "Update" => publish_shipped(state).await,
        "Delete" => Ok(json!({})),
        other => Err(format!("unknown RequestType `{other}`")),
    };
    let (status, reason, data) = match outcome {
        Ok(data) => ("SUCCESS", String::new(), data),
        Err(reason) => ("FAILED", reason, json!({})),
    };
    CustomResourceResponse {
        status,
        reason,
        physical_resource_id: req
            .physical_resource_id
            .clone()
            .unwrap_or_else(|| PHYSICAL_ID.into()),
        stack_id: req.stack_id.clone(),
        request_id: req.request_id.clone(),
        logical_resource_id: req.logical_resource_id.clone(),
        data,
    }
}

async fn publish_shipped(state: &InstallState) -> Result<Value, String> {
    let listings =
        catalog::shipped().map_err(|e| format!("the shipped catalog does not load: {e}"))?;
    let published = state
        .publish_catalog(catalog::GENERATION, &listings)
        .await
        .map_err(|e| format!("publishing the catalog failed: {e}"))?;
    let (written, stored) = match published {
        Published::Written(v) => (true, v),
        Published::Kept(v) => (false, v),
    };
    tracing::info!(
        generation = catalog::GENERATION,
        stored = stored.generation,
        written,
        "catalog publish"
    );
    Ok(json!({
        "Generation": stored.generation.to_string(),
        "Sha256": stored.sha256,
        "Written": written.to_string(),
    }))
}

/// PUTs the answer to the request's pre-signed URL. The URL is signed without a content type,
/// so none is sent.
pub async fn send(
    client: &reqwest::Client,
    req: &CustomResourceRequest,
    response: &CustomResourceResponse,
) -> Result<(), String> {
    if !(req.response_url.starts_with("https://") || req.response_url.starts_with("http://")) {
        return Err("ResponseURL is not an http(s) URL".into());
    }
    let body = serde_json::to_vec(response).map_err(|e| e.to_string())?;
    let answer = client
        .put(&req.response_url)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("could not answer CloudFormation: {}", e.without_url()))?;
    if !answer.status().is_success() {
        return Err(format!(
            "CloudFormation's response URL answered {}",
            answer.status()
        ));
    }
    Ok(())
}

/// The client the answer is sent with.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("cloudapps/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}
