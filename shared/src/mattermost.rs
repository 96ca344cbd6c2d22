//! The Mattermost REST API port: what this host asks of a tenant's Mattermost server.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::protocol::classic::OpenDialogRequest;

#[derive(Debug, thiserror::Error)]
pub enum MattermostError {
    #[error("Mattermost answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("Mattermost could not be reached: {0}")]
    Unreachable(String),
}

/// `POST /api/v4/commands`: a custom slash command (`model.Command`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewCommand {
    pub team_id: String,
    pub trigger: String,
    /// `P` (POST) or `G` (GET).
    pub method: String,
    pub url: String,
    pub display_name: String,
    pub description: String,
    pub auto_complete: bool,
    pub auto_complete_desc: String,
    pub auto_complete_hint: String,
}

/// `POST /api/v4/hooks/outgoing` (`model.OutgoingWebhook`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewOutgoingWebhook {
    pub team_id: String,
    pub display_name: String,
    pub description: String,
    pub trigger_words: Vec<String>,
    /// 0: the first word is a trigger word; 1: it starts with one.
    pub trigger_when: i32,
    pub callback_urls: Vec<String>,
    pub content_type: String,
}

/// `POST /api/v4/posts` (`model.Post`): a message, in a thread when `root_id` is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewPost {
    pub channel_id: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub root_id: String,
}

/// What Mattermost answers on creating a command or hook: its id and the token it will send.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Created {
    pub id: String,
    pub token: String,
}

#[async_trait]
pub trait Mattermost: Send + Sync + 'static {
    /// `POST {site}/api/v4/commands` with an admin's token.
    async fn create_command(
        &self,
        site_url: &str,
        token: &str,
        command: &NewCommand,
    ) -> Result<Created, MattermostError>;

    /// `POST {site}/api/v4/hooks/outgoing` with an admin's token.
    async fn create_outgoing_webhook(
        &self,
        site_url: &str,
        token: &str,
        hook: &NewOutgoingWebhook,
    ) -> Result<Created, MattermostError>;

    /// `POST {site}/api/v4/posts` with the bot's token.
    async fn create_post(
        &self,
        site_url: &str,
        token: &str,
        post: &NewPost,
    ) -> Result<(), MattermostError>;

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

/// Mattermost's error body (`model.AppError`).
#[derive(Deserialize)]
struct AppError {
    #[serde(default)]
    message: String,
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

    /// POSTs JSON to `{site}/api/v4/{path}`; a non-2xx answer becomes
    /// [`MattermostError::Refused`] with Mattermost's own message.
    async fn post(
        &self,
        site_url: &str,
        path: &str,
        token: &str,
        body: &impl Serialize,
    ) -> Result<reqwest::Response, MattermostError> {
        let url = format!("{}/api/v4/{path}", site_url.trim_end_matches('/'));
        let resp = self
            .client
            .post(url)
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .map_err(|e| MattermostError::Unreachable(e.without_url().to_string()))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
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

    async fn create(
        &self,
        site_url: &str,
        path: &str,
        token: &str,
        body: &impl Serialize,
    ) -> Result<Created, MattermostError> {
        let resp = self.post(site_url, path, token, body).await?;
        resp.json::<Created>()
            .await
            .map_err(|e| MattermostError::Refused {
                status: 200,
                message: format!("unexpected answer: {}", e.without_url()),
            })
    }
}

#[async_trait]
impl Mattermost for HttpMattermost {
    async fn create_command(
        &self,
        site_url: &str,
        token: &str,
        command: &NewCommand,
    ) -> Result<Created, MattermostError> {
        self.create(site_url, "commands", token, command).await
    }

    async fn create_outgoing_webhook(
        &self,
        site_url: &str,
        token: &str,
        hook: &NewOutgoingWebhook,
    ) -> Result<Created, MattermostError> {
        self.create(site_url, "hooks/outgoing", token, hook).await
    }

    async fn create_post(
        &self,
        site_url: &str,
        token: &str,
        post: &NewPost,
    ) -> Result<(), MattermostError> {
        self.post(site_url, "posts", token, post).await.map(|_| ())
    }

    async fn open_dialog(
        &self,
        site_url: &str,
        token: &str,
        request: &OpenDialogRequest,
    ) -> Result<(), MattermostError> {
        self.post(site_url, "actions/dialogs/open", token, request)
            .await
            .map(|_| ())
    }
}
