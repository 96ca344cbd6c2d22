//! All user actions are commands. An Apps call (V2), a classic slash command (V1), a post-action
//! click and a dialog submission are each decoded into one [`Command`] that reaches one handler;
//! the handler's [`CallResponse`] is rendered back by [`render`] into the request's wire format.

pub mod render;
pub mod slash;

use serde_json::{Map, Value};

use crate::protocol::apps::{CallRequest, Context};
use crate::protocol::classic::{PostActionIntegrationRequest, SubmitDialogRequest};
use crate::protocol::model::{Channel, Team, User};

pub use crate::protocol::apps::CallResponse;

/// Which wire format a command arrived in; its answer is rendered back in the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A Mattermost Apps call (JSON `CallRequest`).
    AppsCall,
    /// A classic slash command (form-encoded).
    SlashCommand,
    /// A click on an interactive message button or select.
    PostAction,
    /// An interactive dialog submission.
    Dialog,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::AppsCall => "apps_call",
            Source::SlashCommand => "slash_command",
            Source::PostAction => "post_action",
            Source::Dialog => "dialog",
        }
    }
}

/// One user action, whatever it came in as.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub source: Source,
    /// The call path of the handler, e.g. `/send`.
    pub path: String,
    /// The user's input by field name: strings, booleans, or `{"label","value"}` options.
    pub values: Map<String, Value>,
    /// Who, where, and for which Mattermost. Classic requests fill the same fields an Apps call
    /// would carry expanded.
    pub context: Context,
    /// State the app attached to the form or action that led here.
    pub state: Option<Value>,
    /// The command line as typed, for slash commands.
    pub raw: String,
    /// Lets a classic request open a dialog in reply.
    pub trigger_id: String,
    /// Lookups and refreshes: the field being changed and what was typed so far.
    pub selected_field: String,
    pub query: String,
    /// The install's configuration, as the tenant admin last saved it.
    pub config: Map<String, Value>,
}

impl Command {
    fn new(source: Source, path: impl Into<String>, context: Context) -> Self {
        Command {
            source,
            path: path.into(),
            values: Map::new(),
            context,
            state: None,
            raw: String::new(),
            trigger_id: String::new(),
            selected_field: String::new(),
            query: String::new(),
            config: Map::new(),
        }
    }

    /// A call the host makes itself (install, uninstall and configuration calls).
    pub fn internal(path: &str, values: Map<String, Value>) -> Self {
        Command {
            values,
            ..Command::new(Source::AppsCall, path, Context::default())
        }
    }

    /// Fills what the tenant and install know into the context: site URL, app, bot, config.
    pub fn bind_install(&mut self, tenant: &crate::store::Tenant, install: &crate::store::Install) {
        let c = &mut self.context;
        if c.mattermost_site_url.is_empty() {
            c.mattermost_site_url = tenant.site_url.clone();
        }
        if c.app_id.is_empty() {
            c.app_id = install.app_id.clone();
        }
        if c.bot_user_id.is_empty() {
            c.bot_user_id = install.bot_user_id.clone();
        }
        self.config = install.config.clone();
    }

    /// A V2 Apps call. `path` is the path the request was routed by.
    pub fn from_call(path: &str, req: CallRequest) -> Self {
        Command {
            values: req.values,
            state: req.state,
            raw: req.raw_command,
            selected_field: req.selected_field,
            query: req.query,
            ..Command::new(Source::AppsCall, path, req.context)
        }
    }

    /// A click on a post action. `path` and `state` come from the verified call token.
    pub fn from_post_action(
        path: &str,
        state: Option<Value>,
        req: PostActionIntegrationRequest,
    ) -> Self {
        let mut context =
            classic_context(&req.user_id, &req.user_name, &req.channel_id, &req.team_id);
        context.post_id = req.post_id;
        if let Some(ch) = context.channel.as_mut() {
            ch.name = req.channel_name;
        }
        if let Some(team) = context.team.as_mut() {
            team.name = req.team_domain;
        }
        let mut values = Map::new();
        // A select sends its choice as `selected_option`; expose it like a form value.
        if let Some(selected) = req.context.get("selected_option") {
            values.insert("selected_option".into(), selected.clone());
        }
        Command {
            values,
            state,
            trigger_id: req.trigger_id,
            ..Command::new(Source::PostAction, path, context)
        }
    }

    /// A dialog submission. `path` and `state` come from the verified call token.
    pub fn from_dialog(path: &str, state: Option<Value>, req: SubmitDialogRequest) -> Self {
        let context = classic_context(&req.user_id, "", &req.channel_id, &req.team_id);
        Command {
            values: req.submission,
            state,
            ..Command::new(Source::Dialog, path, context)
        }
    }

    /// A dynamic select's lookup from a dialog: the submission's `selected_field` and `query`
    /// say what is looked up, the other fields' current values are the values.
    pub fn from_dialog_lookup(path: &str, state: Option<Value>, req: SubmitDialogRequest) -> Self {
        let mut command = Command::from_dialog(path, state, req);
        let mut take = |key: &str| match command.values.remove(key) {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        (command.selected_field, command.query) = (take("selected_field"), take("query"));
        command
    }

    /// The acting user's id.
    pub fn user_id(&self) -> &str {
        self.context.acting_user_id()
    }

    /// A text value, trimmed; `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// A boolean value; accepts `true`/`false` as booleans or strings (dialogs send strings).
    pub fn flag(&self, name: &str) -> bool {
        match self.values.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        }
    }

    /// The value of a select: the option's `value`, or a bare string.
    pub fn option(&self, name: &str) -> Option<&str> {
        match self.values.get(name)? {
            Value::String(s) => Some(s),
            Value::Object(o) => o.get("value").and_then(Value::as_str),
            _ => None,
        }
    }
}

/// The context classic requests carry: ids plus the names Mattermost sends alongside them.
fn classic_context(user_id: &str, user_name: &str, channel_id: &str, team_id: &str) -> Context {
    let some_if = |id: &str| (!id.is_empty()).then_some(());
    Context {
        user_id: user_id.to_owned(),
        channel_id: channel_id.to_owned(),
        team_id: team_id.to_owned(),
        acting_user: some_if(user_id).map(|_| User::named(user_id, user_name)),
        channel: some_if(channel_id).map(|_| Channel {
            id: channel_id.to_owned(),
            team_id: team_id.to_owned(),
            ..Default::default()
        }),
        team: some_if(team_id).map(|_| Team {
            id: team_id.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
