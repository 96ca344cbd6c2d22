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
