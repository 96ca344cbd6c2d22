//! The Mattermost REST API port: what this host asks of a tenant's Mattermost server.

use async_trait::async_trait;

use crate::protocol::classic::OpenDialogRequest;

#[derive(Debug, thiserror::Error)]
pub enum MattermostError {
    #[error("Mattermost answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("Mattermost could not be reached: {0}")]
    Unreachable(String),
}

#[async_trait]
pub trait Mattermost: Send + Sync + 'static {
    /// `POST {site}/api/v4/actions/dialogs/open` with the bot's token.
    async fn open_dialog(
        &self,
        site_url: &str,
        token: &str,
        request: &OpenDialogRequest,
    ) -> Result<(), MattermostError>;
}

/// The HTTP adapter: one pooled client per process.
#[derive(Clone)]
pub struct HttpMattermost {
    client: reqwest::Client,
}

impl Default for HttpMattermost {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpMattermost {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(3))
            .timeout(std::time::Duration::from_secs(10))
            .user_agent(concat!("cloudapps/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        HttpMattermost { client }
    }
}

/// Mattermost's error body (`model.AppError`).
#[derive(serde::Deserialize)]
struct AppError {
    #[serde(default)]
    message: String,
}

#[async_trait]
impl Mattermost for HttpMattermost {
    async fn open_dialog(
        &self,
        site_url: &str,
        token: &str,
        request: &OpenDialogRequest,
    ) -> Result<(), MattermostError> {
        let url = format!(
            "{}/api/v4/actions/dialogs/open",
            site_url.trim_end_matches('/')
        );
        let resp = self
            .client
            .post(url)
            .bearer_auth(token)
            .json(request)
            .send()
            .await
            .map_err(|e| MattermostError::Unreachable(e.without_url().to_string()))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let message = resp
            .json::<AppError>()
            .await
            .map(|e| e.message)
            .unwrap_or_default();
        Err(MattermostError::Refused {
            status: status.as_u16(),
            message,
        })
    }
}
