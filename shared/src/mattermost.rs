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
    #[error("{0:?} is not a Mattermost id")]
    NotAnId(String),
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

/// What Mattermost answers on regenerating a command's or hook's token: the new token.
#[derive(Deserialize)]
struct NewToken {
    token: String,
}

/// `model.IsValidId`: 26 letters and digits. Ids go into URL paths, so nothing else is sent.
fn checked_id(id: &str) -> Result<&str, MattermostError> {
    if id.len() == 26 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        Err(MattermostError::NotAnId(id.to_owned()))
    }
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

    /// `PUT {site}/api/v4/commands/{command_id}/regen_token` with an admin's token: the
    /// command's new token; Mattermost stops sending the old one.
    async fn regen_command_token(
        &self,
        site_url: &str,
        token: &str,
        command_id: &str,
    ) -> Result<String, MattermostError>;

    /// `POST {site}/api/v4/hooks/outgoing/{hook_id}/regen_token` with an admin's token: the
    /// hook's new token; Mattermost stops sending the old one.
    async fn regen_outgoing_webhook_token(
        &self,
        site_url: &str,
        token: &str,
        hook_id: &str,
    ) -> Result<String, MattermostError>;

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

    /// POSTs JSON to `{site}/api/v4/{path}`; see [`HttpMattermost::send`].
    async fn post(
        &self,
        site_url: &str,
        path: &str,
        token: &str,
        body: &impl Serialize,
    ) -> Result<reqwest::Response, MattermostError> {
        let request = self.client.post(api_url(site_url, path)).json(body);
        self.send(request, token).await
    }

    /// Sends `request` with `token`; a non-2xx answer becomes [`MattermostError::Refused`] with
    /// Mattermost's own message.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        token: &str,
    ) -> Result<reqwest::Response, MattermostError> {
        let resp = request
            .bearer_auth(token)
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
        answer(resp).await
    }

    /// Sends a `regen_token` request, which has no body, and reads the new token.
    async fn regen_token(
        &self,
        request: reqwest::RequestBuilder,
        token: &str,
    ) -> Result<String, MattermostError> {
        let regenerated: NewToken = answer(self.send(request, token).await?).await?;
        if regenerated.token.is_empty() {
            return Err(MattermostError::Refused {
                status: 200,
                message: "unexpected answer: no token".into(),
            });
        }
        Ok(regenerated.token)
    }
}

fn api_url(site_url: &str, path: &str) -> String {
    format!("{}/api/v4/{path}", site_url.trim_end_matches('/'))
}

/// Reads a successful answer's JSON body.
async fn answer<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
) -> Result<T, MattermostError> {
    resp.json::<T>()
        .await
        .map_err(|e| MattermostError::Refused {
            status: 200,
            message: format!("unexpected answer: {}", e.without_url()),
        })
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

    async fn regen_command_token(
        &self,
        site_url: &str,
        token: &str,
        command_id: &str,
    ) -> Result<String, MattermostError> {
        let path = format!("commands/{}/regen_token", checked_id(command_id)?);
        let request = self.client.put(api_url(site_url, &path));
        self.regen_token(request, token).await
    }

    async fn regen_outgoing_webhook_token(
        &self,
        site_url: &str,
        token: &str,
        hook_id: &str,
    ) -> Result<String, MattermostError> {
        let path = format!("hooks/outgoing/{}/regen_token", checked_id(hook_id)?);
        let request = self.client.post(api_url(site_url, &path));
        self.regen_token(request, token).await
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
