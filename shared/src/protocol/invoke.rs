//! The Apps plugin's direct `lambda:Invoke` envelope (`apps.HTTPCallRequest` /
//! `HTTPCallResponse`): a scoped-down API Gateway proxy event. The result shape is also exactly
//! what an API Gateway HTTP API (payload 2.0) expects back from a function, so one type serves
//! both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvokeRequest {
    #[serde(default)]
    pub path: String,
    #[serde(rename = "httpMethod", default)]
    pub http_method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(rename = "rawQuery", default, skip_serializing_if = "String::is_empty")]
    pub raw_query: String,
    #[serde(default)]
    pub body: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvokeResponse {
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(rename = "isBase64Encoded", default)]
    pub is_base64_encoded: bool,
    #[serde(default)]
    pub body: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ping_envelope_and_pong_result() {
        let sample = json!({"path":"/ping","httpMethod":"POST","headers":{"Content-Type":"application/json"},"body":"{\"path\":\"/ping\",\"context\":{\"app_id\":\"\",\"mattermost_site_url\":\"\",\"app_path\":\"\",\"bot_user_id\":\"\",\"oauth2\":{}}}"});
        let req: InvokeRequest = serde_json::from_value(sample.clone()).unwrap();
        assert_eq!(req.http_method, "POST");
        assert_eq!(serde_json::to_value(&req).unwrap(), sample);
        let result = json!({"statusCode":200,"headers":{"Content-Type":"application/json"},"isBase64Encoded":false,"body":"{\"type\":\"ok\",\"text\":\"PONG\"}"});
        let resp: InvokeResponse = serde_json::from_value(result.clone()).unwrap();
        assert_eq!(serde_json::to_value(&resp).unwrap(), result);
    }
}
