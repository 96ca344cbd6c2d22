//! The Mattermost REST API port: what this host asks of a tenant's Mattermost server.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::outbound::{Answer, OutboundClient, OutboundError, PrivateNetworks};
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

/// The model objects read by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    User,
    Channel,
    Team,
    Post,
}

impl Model {
    /// Where the API keeps one: `users/{id}`.
    pub fn path(self, id: &str) -> String {
        let collection = match self {
            Model::User => "users",
            Model::Channel => "channels",
            Model::Team => "teams",
            Model::Post => "posts",
        };
        format!("{collection}/{id}")
    }
}

/// A Mattermost server's version, from the `X-Version-Id` header of its API answers
/// (`<major>.<minor>.<patch>.<build>.<config hash>.<licensed>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
}

impl ServerVersion {
    pub fn parse(version_id: &str) -> Option<Self> {
        let mut parts = version_id.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(ServerVersion { major, minor })
    }

    /// Interactive dialogs' dynamic selects (`data_source: "dynamic"` with a
    /// `data_source_url`) came in 11.0; older servers refuse to open a dialog that has one.
    pub fn has_dynamic_dialog_selects(self) -> bool {
        self >= ServerVersion {
            major: 11,
            minor: 0,
        }
    }
}

#[async_trait]
pub trait Mattermost: Send + Sync + 'static {
    /// The server's version, from `GET {site}/api/v4/system/ping` (which takes no token);
    /// `None` when it cannot be told.
    async fn server_version(&self, site_url: &str) -> Option<ServerVersion>;

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

    /// `DELETE {site}/api/v4/commands/{command_id}` with an admin's token (undoing an install).
    async fn delete_command(
        &self,
        site_url: &str,
        token: &str,
        command_id: &str,
    ) -> Result<(), MattermostError>;

    /// `DELETE {site}/api/v4/hooks/outgoing/{hook_id}` with an admin's token (undoing an
    /// install).
    async fn delete_outgoing_webhook(
        &self,
        site_url: &str,
        token: &str,
        hook_id: &str,
    ) -> Result<(), MattermostError>;

    /// `POST {site}/api/v4/posts` with the bot's token.
    async fn create_post(
        &self,
        site_url: &str,
        token: &str,
        post: &NewPost,
    ) -> Result<(), MattermostError>;

    /// `GET {site}/api/v4/{users|channels|teams|posts}/{id}` with the bot's token: a model
    /// object, as Mattermost sanitises it for the bot.
    async fn get(
        &self,
        site_url: &str,
        token: &str,
        model: Model,
        id: &str,
    ) -> Result<serde_json::Value, MattermostError>;

    /// `POST {site}/api/v4/posts/ephemeral` with the bot's token: a post only `user_id` sees.
    async fn create_ephemeral_post(
        &self,
        site_url: &str,
        token: &str,
        user_id: &str,
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

/// The HTTP adapter: one pooled client per process, under the [`crate::outbound`] policy.
#[derive(Clone)]
pub struct HttpMattermost {
    client: OutboundClient,
    /// Each site's version as last read, and when: a dialog needs it, and it rarely changes.
    versions: std::sync::Arc<std::sync::Mutex<HashMap<String, (Instant, Option<ServerVersion>)>>>,
}

/// How long a site's version is trusted; an unknown one (the ping failed) is asked again sooner.
const VERSION_TTL: Duration = Duration::from_secs(300);
const UNKNOWN_VERSION_TTL: Duration = Duration::from_secs(30);
/// How long the version ping may take, well within a dialog trigger id's 3 s.
const VERSION_PING_TIMEOUT: Duration = Duration::from_secs(1);
/// The most sites whose version is kept; past it the memory starts over.
const MAX_VERSIONS_KEPT: usize = 1024;

impl Default for HttpMattermost {
    /// Public addresses only.
    fn default() -> Self {
        Self::new(PrivateNetworks::Refused)
    }
}

/// How long one Mattermost request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The most of an answer read: Mattermost's objects and errors are a few KB.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// The most of Mattermost's own error message passed on.
const MAX_MESSAGE_CHARS: usize = 300;

/// Mattermost's error body (`model.AppError`).
#[derive(Deserialize)]
struct AppError {
    #[serde(default)]
    message: String,
}

impl HttpMattermost {
    pub fn new(private_networks: PrivateNetworks) -> Self {
        HttpMattermost {
            client: OutboundClient::new(private_networks, TIMEOUT, MAX_ANSWER_BYTES),
            versions: Default::default(),
        }
    }

    /// POSTs JSON to `{site}/api/v4/{path}`; see [`HttpMattermost::send`].
    async fn post(
        &self,
        site_url: &str,
        path: &str,
        token: &str,
        body: &impl Serialize,
    ) -> Result<Answer, MattermostError> {
        let request = self
            .client
            .post(&api_url(site_url, path))?
            .bearer_auth(token)
            .json(body);
        self.send(request).await
    }

    /// Sends `request`; a non-2xx answer becomes [`MattermostError::Refused`] with Mattermost's
    /// own message, a redirect included (never followed, its body never read).
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, MattermostError> {
        let answer = self.client.send(request).await?;
        let status = answer.status();
        if status.is_success() {
            return Ok(answer);
        }
        let message = if status.is_redirection() {
            "a redirect, which this host does not follow".to_owned()
        } else {
            answer
                .body()
                .await
                .map(|body| mattermost_message(&body))
                .unwrap_or_default()
        };
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
        let answer = self.post(site_url, path, token, body).await?;
        read(answer, "the created object (with its id and token)").await
    }

    /// Sends a bodiless request to `{site}/api/v4/{path}` with `token`; any 2xx is done.
    async fn bodiless(
        &self,
        method: reqwest::Method,
        site_url: &str,
        path: &str,
        token: &str,
    ) -> Result<Answer, MattermostError> {
        let request = self
            .client
            .request(method, &api_url(site_url, path))?
            .bearer_auth(token);
        self.send(request).await
    }

    /// Sends a `regen_token` request, which has no body, and reads the new token.
    async fn regen_token(
        &self,
        method: reqwest::Method,
        site_url: &str,
        path: &str,
        token: &str,
    ) -> Result<String, MattermostError> {
        let answer = self.bodiless(method, site_url, path, token).await?;
        let regenerated: NewToken = read(answer, "a new token").await?;
        if regenerated.token.is_empty() {
            return Err(MattermostError::Refused {
                status: 200,
                message: "the answer has no token".into(),
            });
        }
        Ok(regenerated.token)
    }
}

fn api_url(site_url: &str, path: &str) -> String {
    format!("{}/api/v4/{path}", site_url.trim_end_matches('/'))
}

/// Reads a successful answer's JSON body, through the size cap.
async fn read<T: serde::de::DeserializeOwned>(
    answer: Answer,
    expected: &str,
) -> Result<T, MattermostError> {
    let body = answer.body().await?;
    // Not serde's message: it may quote what was answered.
    serde_json::from_slice::<T>(&body).map_err(|_| MattermostError::Refused {
        status: 200,
        message: format!("the answer is not {expected}"),
    })
}

/// The `message` of Mattermost's error body, if it is one: capped and without control
/// characters, since it ends up in this host's answers and logs.
fn mattermost_message(body: &[u8]) -> String {
    serde_json::from_slice::<AppError>(body)
        .map(|e| {
            e.message
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_MESSAGE_CHARS)
                .collect()
        })
        .unwrap_or_default()
}

impl From<OutboundError> for MattermostError {
    fn from(e: OutboundError) -> Self {
        MattermostError::Unreachable(e.to_string())
    }
}

#[async_trait]
impl Mattermost for HttpMattermost {
    async fn server_version(&self, site_url: &str) -> Option<ServerVersion> {
        let site = site_url.trim_end_matches('/').to_owned();
        let kept = self.versions.lock().ok()?.get(&site).copied();
        if let Some((read_at, version)) = kept {
            let ttl = if version.is_some() {
                VERSION_TTL
            } else {
                UNKNOWN_VERSION_TTL
            };
            if read_at.elapsed() < ttl {
                return version;
            }
        }
        let ping = async {
            let url = api_url(&site, "system/ping");
            let request = self.client.request(reqwest::Method::GET, &url).ok()?;
            let answer = self.client.send(request).await.ok()?;
            if !answer.status().is_success() {
                return None;
            }
            answer.header("x-version-id").and_then(ServerVersion::parse)
        };
        // A dialog's trigger id lasts 3 s: a slow ping must leave it the time to open.
        let version = tokio::time::timeout(VERSION_PING_TIMEOUT, ping)
            .await
            .ok()
            .flatten();
        if let Ok(mut versions) = self.versions.lock() {
            if versions.len() >= MAX_VERSIONS_KEPT {
                versions.clear();
            }
            versions.insert(site, (Instant::now(), version));
        }
        version
    }

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
        self.regen_token(reqwest::Method::PUT, site_url, &path, token)
            .await
    }

    async fn regen_outgoing_webhook_token(
        &self,
        site_url: &str,
        token: &str,
        hook_id: &str,
    ) -> Result<String, MattermostError> {
        let path = format!("hooks/outgoing/{}/regen_token", checked_id(hook_id)?);
        self.regen_token(reqwest::Method::POST, site_url, &path, token)
            .await
    }

    async fn delete_command(
        &self,
        site_url: &str,
        token: &str,
        command_id: &str,
    ) -> Result<(), MattermostError> {
        let path = format!("commands/{}", checked_id(command_id)?);
        self.bodiless(reqwest::Method::DELETE, site_url, &path, token)
            .await
            .map(|_| ())
    }

    async fn delete_outgoing_webhook(
        &self,
        site_url: &str,
        token: &str,
        hook_id: &str,
    ) -> Result<(), MattermostError> {
        let path = format!("hooks/outgoing/{}", checked_id(hook_id)?);
        self.bodiless(reqwest::Method::DELETE, site_url, &path, token)
            .await
            .map(|_| ())
    }

    async fn create_post(
        &self,
        site_url: &str,
        token: &str,
        post: &NewPost,
    ) -> Result<(), MattermostError> {
        self.post(site_url, "posts", token, post).await.map(|_| ())
    }

    async fn get(
        &self,
        site_url: &str,
        token: &str,
        model: Model,
        id: &str,
    ) -> Result<serde_json::Value, MattermostError> {
        let path = model.path(checked_id(id)?);
        let answer = self
            .bodiless(reqwest::Method::GET, site_url, &path, token)
            .await?;
        read(answer, "a Mattermost object").await
    }

    async fn create_ephemeral_post(
        &self,
        site_url: &str,
        token: &str,
        user_id: &str,
        post: &NewPost,
    ) -> Result<(), MattermostError> {
        // `model.PostEphemeral`.
        let body = serde_json::json!({"user_id": user_id, "post": post});
        self.post(site_url, "posts/ephemeral", token, &body)
            .await
            .map(|_| ())
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

/// A Mattermost that records what it is asked to do, for the tests of what calls it.
#[cfg(test)]
pub(crate) mod recording {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use serde_json::Value;

    use super::*;

    #[derive(Default)]
    pub(crate) struct RecordingMattermost {
        pub(crate) opened: Mutex<Vec<(String, String, OpenDialogRequest)>>,
        pub(crate) posts: Mutex<Vec<(String, String, NewPost)>>,
        /// Ephemeral posts: site, token, the user who sees it, the post.
        pub(crate) ephemeral: Mutex<Vec<(String, String, String, NewPost)>>,
        /// What `GET {path}` answers with `token`, by (token, path); anything else is a 404.
        pub(crate) objects: Mutex<HashMap<(String, String), Value>>,
        /// What `server_version` answers.
        pub(crate) version: Mutex<Option<ServerVersion>>,
    }

    #[async_trait]
    impl Mattermost for RecordingMattermost {
        async fn server_version(&self, _: &str) -> Option<ServerVersion> {
            *self.version.lock().unwrap()
        }

        async fn create_command(
            &self,
            _: &str,
            _: &str,
            _: &NewCommand,
        ) -> Result<Created, MattermostError> {
            Err(MattermostError::Unreachable("not used here".into()))
        }
        async fn create_outgoing_webhook(
            &self,
            _: &str,
            _: &str,
            _: &NewOutgoingWebhook,
        ) -> Result<Created, MattermostError> {
            Err(MattermostError::Unreachable("not used here".into()))
        }
        async fn regen_command_token(
            &self,
            _: &str,
            _: &str,
            _: &str,
        ) -> Result<String, MattermostError> {
            Err(MattermostError::Unreachable("not used here".into()))
        }
        async fn regen_outgoing_webhook_token(
            &self,
            _: &str,
            _: &str,
            _: &str,
        ) -> Result<String, MattermostError> {
            Err(MattermostError::Unreachable("not used here".into()))
        }
        async fn delete_command(&self, _: &str, _: &str, _: &str) -> Result<(), MattermostError> {
            Err(MattermostError::Unreachable("not used here".into()))
        }
        async fn delete_outgoing_webhook(
            &self,
            _: &str,
            _: &str,
            _: &str,
        ) -> Result<(), MattermostError> {
            Err(MattermostError::Unreachable("not used here".into()))
        }
        async fn create_post(
            &self,
            site: &str,
            token: &str,
            post: &NewPost,
        ) -> Result<(), MattermostError> {
            self.posts
                .lock()
                .unwrap()
                .push((site.into(), token.into(), post.clone()));
            Ok(())
        }
        async fn get(
            &self,
            _: &str,
            token: &str,
            model: Model,
            id: &str,
        ) -> Result<Value, MattermostError> {
            let path = model.path(id);
            let objects = self.objects.lock().unwrap();
            let found = objects.get(&(token.to_owned(), path.clone())).cloned();
            found.ok_or_else(|| MattermostError::Refused {
                status: 404,
                message: format!("no {path} for this token"),
            })
        }
        async fn create_ephemeral_post(
            &self,
            site: &str,
            token: &str,
            user_id: &str,
            post: &NewPost,
        ) -> Result<(), MattermostError> {
            self.ephemeral.lock().unwrap().push((
                site.into(),
                token.into(),
                user_id.into(),
                post.clone(),
            ));
            Ok(())
        }
        async fn open_dialog(
            &self,
            site: &str,
            token: &str,
            req: &OpenDialogRequest,
        ) -> Result<(), MattermostError> {
            self.opened
                .lock()
                .unwrap()
                .push((site.into(), token.into(), req.clone()));
            Ok(())
        }
    }
}
