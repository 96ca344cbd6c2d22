//! Mattermost Apps v1.2 (`mattermost-plugin-apps` `apps/*.go`): manifests, calls, call requests
//! and responses, bindings, forms, locations, subjects and permissions.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::model::{Channel, ChannelMember, Post, Team, TeamMember, User};
use super::{is_false, is_zero};

/// A call to an app: a path plus what to expand and opaque state echoed back.
/// A bare JSON string is accepted and means `{"path": "<string>"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "CallWire")]
pub struct Call {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand: Option<Box<Expand>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CallWire {
    Path(String),
    Full {
        #[serde(default)]
        path: String,
        #[serde(default)]
        expand: Option<Box<Expand>>,
        #[serde(default)]
        state: Option<Value>,
    },
}

impl From<CallWire> for Call {
    fn from(w: CallWire) -> Self {
        match w {
            CallWire::Path(path) => Call {
                path,
                ..Default::default()
            },
            CallWire::Full {
                path,
                expand,
                state,
            } => Call {
                path,
                expand,
                state,
            },
        }
    }
}

impl Call {
    pub fn path(path: impl Into<String>) -> Self {
        Call {
            path: path.into(),
            ..Default::default()
        }
    }
}

/// What the proxy should expand into the context, per field: `""`, `id`, `summary` or `all`,
/// optionally prefixed with `+` (required). Levels stay strings on the wire; see [`ExpandLevel`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Expand {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub acting_user: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub acting_user_access_token: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub locale: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub channel: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub channel_member: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub team: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub team_member: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub post: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub root_post: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub oauth2_app: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub oauth2_user: String,
}

/// A parsed expand level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExpandLevel {
    None,
    Id,
    Summary,
    All,
}

impl ExpandLevel {
    /// Parses a wire level; returns the level and whether it is required (`+` prefix).
    pub fn parse(s: &str) -> Result<(ExpandLevel, bool), String> {
        let (required, level) = match s.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let level = match level {
            "" | "none" => ExpandLevel::None,
            "id" => ExpandLevel::Id,
            "summary" => ExpandLevel::Summary,
            "all" => ExpandLevel::All,
            other => return Err(format!("\"{other}\" is not a known expand level")),
        };
        Ok((level, required))
    }
}

/// The context of a call: the subject of a notification, what the client sent, and what the
/// proxy expanded. Fields Go always emits (`app_id`, `mattermost_site_url`, `app_path`,
/// `bot_user_id`, `oauth2`) are always emitted here too.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub channel_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub team_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub post_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub root_post_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_id: String,
    #[serde(default)]
    pub app_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub track_as_submit: bool,
    #[serde(default)]
    pub mattermost_site_url: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub developer_mode: bool,
    #[serde(default)]
    pub app_path: String,
    #[serde(default)]
    pub bot_user_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bot_access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<Box<App>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_user: Option<User>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub acting_user_access_token: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub locale: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_member: Option<ChannelMember>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<Team>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_member: Option<TeamMember>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<Post>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_post: Option<Post>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(default)]
    pub oauth2: OAuth2Context,
}

impl Context {
    /// The acting user's id, from the expanded user or the user-agent field.
    pub fn acting_user_id(&self) -> &str {
        match &self.acting_user {
            Some(u) if !u.id.is_empty() => &u.id,
            _ => &self.user_id,
        }
    }

    /// The channel id, from the expanded channel or the user-agent field.
    pub fn channel_id(&self) -> &str {
        match &self.channel {
            Some(c) if !c.id.is_empty() => &c.id,
            _ => &self.channel_id,
        }
    }
}

/// `apps.OAuth2Context`: always emitted, usually `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OAuth2Context {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub remote_root_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub connect_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub complete_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Value>,
}

/// An installed app as it appears in `context.app`: the manifest plus install facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct App {
    #[serde(flatten)]
    pub manifest: Manifest,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deploy_type: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub secret: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub webhook_secret: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bot_user_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bot_username: String,
    #[serde(default)]
    pub remote_oauth2: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub granted_permissions: Vec<Permission>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub granted_locations: Vec<String>,
}

/// What an app receives: the call, the user's input and the (expanded) context.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallRequest {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand: Option<Box<Expand>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub values: Map<String, Value>,
    #[serde(default)]
    pub context: Context,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub raw_command: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selected_field: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub query: String,
}

/// The kind of a [`CallResponse`]. An empty `type` means `ok`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseType {
    #[default]
    #[serde(alias = "")]
    Ok,
    Error,
    Form,
    Call,
    Navigate,
}

/// What an app answers: ok with text or data, an error (with field errors in
/// `data.errors`), a form to open, or a URL to navigate to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallResponse {
    #[serde(rename = "type", default)]
    pub kind: ResponseType,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub refresh_bindings: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub navigate_to_url: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_external_browser: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<Call>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<Form>,
}

impl CallResponse {
    pub fn ok(text: impl Into<String>) -> Self {
        CallResponse {
            text: text.into(),
            ..Default::default()
        }
    }

    pub fn ok_data(data: Value) -> Self {
        CallResponse {
            data: Some(data),
            ..Default::default()
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        CallResponse {
            kind: ResponseType::Error,
            text: text.into(),
            ..Default::default()
        }
    }

    /// An error with a message per form field, shown next to each field.
    pub fn field_errors(text: impl Into<String>, errors: Map<String, Value>) -> Self {
        CallResponse {
            data: Some(serde_json::json!({ "errors": errors })),
            ..Self::error(text)
        }
    }

    pub fn form(form: Form) -> Self {
        CallResponse {
            kind: ResponseType::Form,
            form: Some(form),
            ..Default::default()
        }
    }

    pub fn navigate(url: impl Into<String>, external: bool) -> Self {
        CallResponse {
            kind: ResponseType::Navigate,
            navigate_to_url: url.into(),
            use_external_browser: external,
            ..Default::default()
        }
    }

    /// The per-field messages of an error response, if any.
    pub fn errors(&self) -> Option<&Map<String, Value>> {
        self.data.as_ref()?.get("errors")?.as_object()
    }
}

/// A UX element an app contributes: a command, a post-menu item, a channel-header button.
/// Each (sub-)binding has exactly one of `submit`, `form` or `bindings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub icon: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hint: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit: Option<Call>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<Form>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<Binding>,
}

/// A form: a modal on web and mobile, flags and positional arguments on the command line.
/// A bare JSON string is accepted and means `{"source": {"path": "<string>"}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "FormWire")]
pub struct Form {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Call>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub header: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub footer: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub icon: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit: Option<Call>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub submit_buttons: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FormWire {
    Source(String),
    Full(Box<FormFields>),
}

#[derive(Deserialize)]
struct FormFields {
    #[serde(default)]
    source: Option<Call>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    header: String,
    #[serde(default)]
    footer: String,
    #[serde(default)]
    icon: String,
    #[serde(default)]
    submit: Option<Call>,
    #[serde(default)]
    submit_buttons: String,
    #[serde(default)]
    fields: Vec<Field>,
}

impl From<FormWire> for Form {
    fn from(w: FormWire) -> Self {
        match w {
            FormWire::Source(path) => Form {
                source: Some(Call::path(path)),
                ..Default::default()
            },
            FormWire::Full(f) => Form {
                source: f.source,
                title: f.title,
                header: f.header,
                footer: f.footer,
                icon: f.icon,
                submit: f.submit,
                submit_buttons: f.submit_buttons,
                fields: f.fields,
            },
        }
    }
}

/// The type of a form field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    #[default]
    Text,
    StaticSelect,
    DynamicSelect,
    Bool,
    User,
    Channel,
    Markdown,
}

/// One input of a form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Field {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: FieldType,
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_required: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub readonly: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hint: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub position: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub modal_label: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub multiselect: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub refresh: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<SelectOption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<Call>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subtype: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_length: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_length: i64,
}

impl Field {
    pub fn new(name: impl Into<String>, kind: FieldType) -> Self {
        Field {
            name: name.into(),
            kind,
            ..Default::default()
        }
    }

    /// The `--flag` of this field on the command line: its label, else its name with `_` → `-`.
    pub fn flag(&self) -> String {
        if self.label.is_empty() {
            self.name.replace('_', "-")
        } else {
            self.label.clone()
        }
    }
}

/// An option of a select field; also what a select submits as its value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SelectOption {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    #[serde(default)]
    pub value: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub icon_data: String,
}

/// Where bindings may appear. Command bindings nest below `/command/<trigger>/...`.
pub mod location {
    pub const COMMAND: &str = "/command";
    pub const POST_MENU: &str = "/post_menu";
    pub const CHANNEL_HEADER: &str = "/channel_header";
    pub const APP_BAR: &str = "/app_bar";
    pub const IN_POST: &str = "/in_post";
}

/// An enum of Apps strings that Go keeps open (`type Permission string`): the values this host
/// knows are variants, any other is kept as written in `Other`, so a manifest round-trips
/// whole; it is refused only where it would have to be enforced.
macro_rules! open_string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this host does not know, as written.
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(s) => s,
                }
            }

            /// Whether this host knows the value.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($text => $name::$variant,)*
                    _ => $name::Other(s),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                match v {
                    $name::Other(s) => s,
                    known => known.as_str().to_owned(),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_string_enum! {
    /// What an app may do once installed.
    Permission {
        ActAsBot = "act_as_bot",
        ActAsUser = "act_as_user",
        RemoteOauth2 = "remote_oauth2",
        RemoteWebhooks = "remote_webhooks",
        UserJoinedChannelNotification = "user_joined_channel_notification",
    }
}

open_string_enum! {
    /// The events an app can subscribe to.
    Subject {
        UserCreated = "user_created",
        UserJoinedChannel = "user_joined_channel",
        UserLeftChannel = "user_left_channel",
        UserJoinedTeam = "user_joined_team",
        UserLeftTeam = "user_left_team",
        ChannelCreated = "channel_created",
        BotJoinedChannel = "bot_joined_channel",
        BotLeftChannel = "bot_left_channel",
        BotJoinedTeam = "bot_joined_team",
        BotLeftTeam = "bot_left_team",
        PostCreated = "post_created",
        BotMentioned = "bot_mentioned",
        SelfMentioned = "self_mentioned",
        /// A host extension: Apps has no subject for profile changes, this host delivers them.
        UserUpdated = "user_updated",
    }
}

/// How Mattermost reaches an app over HTTP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpDeploy {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub root_url: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_jwt: bool,
}

/// How Mattermost reaches an app through `lambda:Invoke`: the function serving each path prefix.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AwsLambdaDeploy {
    #[serde(default)]
    pub functions: Vec<AwsLambdaFunction>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AwsLambdaFunction {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub handler: String,
    #[serde(default)]
    pub runtime: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenFaasDeploy {
    #[serde(default)]
    pub functions: Vec<OpenFaasFunction>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenFaasFunction {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PluginDeploy {
    #[serde(default)]
    pub plugin_id: String,
}

/// An app's manifest, as served at `/manifest.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(
        rename = "SchemaVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub schema_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub homepage_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub icon: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bindings: Option<Call>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_install: Option<Call>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_version_changed: Option<Call>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_uninstall: Option<Call>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_enable: Option<Call>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disable: Option<Call>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_oauth2_connect_url: Option<Call>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_oauth2_complete: Option<Call>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_remote_webhook: Option<Call>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requested_permissions: Vec<Permission>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub remote_webhook_auth_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requested_locations: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_lambda: Option<AwsLambdaDeploy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpDeploy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_faas: Option<OpenFaasDeploy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginDeploy>,
}

impl Manifest {
    /// The bindings call, `/bindings` unless the manifest says otherwise.
    pub fn bindings_path(&self) -> &str {
        match &self.bindings {
            Some(c) if !c.path.is_empty() => &c.path,
            _ => "/bindings",
        }
    }
}

#[cfg(test)]
mod tests;
