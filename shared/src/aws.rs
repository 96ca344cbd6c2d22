//! The one AWS SDK configuration every AWS client is built from: credentials and region from
//! the environment, a profile or the function's role (`AWS_ENDPOINT_URL` points the clients
//! elsewhere, e.g. at moto server), and HTTPS through rustls with ring, the crypto the outbound
//! HTTP client links already (the SDK's default would add aws-lc, about 1.8 MB a binary).

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// The configuration loader, for callers that set more (an endpoint, a region).
pub fn defaults() -> ConfigLoader {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(https)
}

/// The configuration, loaded once per process.
pub async fn load() -> SdkConfig {
    defaults().load().await
}
