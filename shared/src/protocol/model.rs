//! The Mattermost model objects that appear in an expanded Apps context. Only the fields this
//! host reads are typed; everything else is kept in `extra` so a decode/encode round trip loses
//! nothing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

macro_rules! model {
    ($(#[$doc:meta])* $name:ident { $($field:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            $(
                #[serde(default, skip_serializing_if = "String::is_empty")]
                pub $field: String,
            )*
            #[serde(flatten)]
            pub extra: Map<String, Value>,
        }
    };
}

model!(
    /// `model.User` (the acting user, or the subject user of a notification).
    User { id, username, first_name, last_name, nickname, email, locale, roles }
);
model!(
    /// `model.Channel`.
    Channel { id, team_id, name, display_name }
);
model!(
    /// `model.Team`.
    Team { id, name, display_name }
);
model!(
    /// `model.Post`.
    Post { id, channel_id, user_id, root_id, message }
);
model!(
    /// `model.ChannelMember`.
    ChannelMember { user_id, channel_id, roles }
);
model!(
    /// `model.TeamMember`.
    TeamMember { user_id, team_id, roles }
);

impl User {
    /// A user known only by id and, when the request carried it, username.
    pub fn named(id: impl Into<String>, username: impl Into<String>) -> Self {
        User {
            id: id.into(),
            username: username.into(),
            ..Default::default()
        }
    }
}
