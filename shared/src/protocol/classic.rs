//! Classic (Slack-compatible) integrations from `mattermost/server/public/model`: custom slash
//! commands, message attachments with interactive actions, and interactive dialogs.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{is_false, is_zero};

/// What Mattermost POSTs (form-encoded) to a custom slash command's URL. Mention maps arrive as
/// repeated keys, `user_mentions` and `user_mentions_ids` in the same order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlashCommandRequest {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub team_id: String,
    #[serde(default)]
    pub team_domain: String,
    #[serde(default)]
    pub channel_id: String,
    #[serde(default)]
    pub channel_name: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub user_name: String,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub trigger_id: String,
    #[serde(default)]
    pub root_id: String,
    #[serde(default)]
    pub response_url: String,
    #[serde(default)]
    pub user_mentions: Vec<String>,
    #[serde(default)]
    pub user_mentions_ids: Vec<String>,
    #[serde(default)]
    pub channel_mentions: Vec<String>,
    #[serde(default)]
    pub channel_mentions_ids: Vec<String>,
}

impl SlashCommandRequest {
    /// The ids Mattermost resolved for the `@user` and `~channel` mentions in the text, indexed
    /// once: a command naming many users then takes one lookup each, not a scan of them all.
    pub fn mentions(&self) -> Mentions<'_> {
        Mentions {
            users: mention_index(&self.user_mentions, &self.user_mentions_ids),
            channels: mention_index(&self.channel_mentions, &self.channel_mentions_ids),
        }
    }
}

/// See [`SlashCommandRequest::mentions`].
pub struct Mentions<'a> {
    users: HashMap<&'a str, &'a str>,
    channels: HashMap<&'a str, &'a str>,
}

impl<'a> Mentions<'a> {
    /// The user id Mattermost resolved for `@name`, if the text mentioned it.
    pub fn user_id(&self, name: &str) -> Option<&'a str> {
        self.users.get(name).copied()
    }

    /// The channel id Mattermost resolved for `~name`, if the text mentioned it.
    pub fn channel_id(&self, name: &str) -> Option<&'a str> {
        self.channels.get(name).copied()
    }
}

/// Names and ids pair up by position; a name mentioned twice keeps its first id.
fn mention_index<'a>(names: &'a [String], ids: &'a [String]) -> HashMap<&'a str, &'a str> {
    let mut index = HashMap::new();
    for (name, id) in names.iter().zip(ids) {
        index.entry(name.as_str()).or_insert(id.as_str());
    }
    index
}

/// Whether a command response is shown only to the user or posted in the channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseVisibility {
    #[default]
    Ephemeral,
    InChannel,
}

/// The answer to a slash command (`model.CommandResponse`, Slack-compatible).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandResponse {
    #[serde(default)]
    pub response_type: ResponseVisibility,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub channel_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub icon_url: String,
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub props: Map<String, Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub goto_location: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trigger_id: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub skip_slack_parsing: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<SlackAttachment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_responses: Vec<CommandResponse>,
}

impl CommandResponse {
    /// A reply only the invoking user sees.
    pub fn ephemeral(text: impl Into<String>) -> Self {
        CommandResponse {
            text: text.into(),
            ..Default::default()
        }
    }
}

/// A Slack-style message attachment (`model.SlackAttachment`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlackAttachment {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub id: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fallback: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub color: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pretext: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author_link: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author_icon: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title_link: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<SlackAttachmentField>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub thumb_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub footer: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub footer_icon: String,
    /// Seconds as a number or a string: Slack senders use both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<PostAction>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlackAttachmentField {
    #[serde(default)]
    pub title: String,
    /// A string or a number.
    #[serde(default)]
    pub value: Value,
    #[serde(default)]
    pub short: bool,
}

/// A button or select in an attachment; clicking it POSTs to `integration.url`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostAction {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub style: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data_source: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<PostActionOption>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default_option: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration: Option<PostActionIntegration>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cookie: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostActionOption {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostActionIntegration {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub context: Map<String, Value>,
}

/// What Mattermost POSTs (JSON) when a user clicks a post action.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostActionIntegrationRequest {
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub user_name: String,
    #[serde(default)]
    pub channel_id: String,
    #[serde(default)]
    pub channel_name: String,
    #[serde(default)]
    pub team_id: String,
    #[serde(default)]
    pub team_domain: String,
    #[serde(default)]
    pub post_id: String,
    #[serde(default)]
    pub trigger_id: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub data_source: String,
    #[serde(default)]
    pub context: Map<String, Value>,
}

/// The answer to a post action: replace the post, and/or tell the user something.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostActionIntegrationResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ephemeral_text: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub skip_slack_parsing: bool,
}

/// `POST /api/v4/actions/dialogs/open`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenDialogRequest {
    pub trigger_id: String,
    pub url: String,
    pub dialog: Dialog,
}

/// An interactive dialog (a modal form of the classic integrations).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dialog {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub callback_id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub introduction_text: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub icon_url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elements: Vec<DialogElement>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub submit_label: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub notify_on_cancel: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub state: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DialogElement {
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subtype: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub placeholder: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub help_text: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub optional: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_length: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_length: i64,
    /// `users`, `channels`, or (servers from 11.0) `dynamic` with [`Self::data_source_url`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data_source: String,
    /// Where Mattermost POSTs a `dialog_lookup` request as the user types in a dynamic select.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data_source_url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<PostActionOption>,
}

/// What Mattermost POSTs (JSON) when a user submits (or cancels) a dialog.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubmitDialogRequest {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub callback_id: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub channel_id: String,
    #[serde(default)]
    pub team_id: String,
    #[serde(default)]
    pub submission: Map<String, Value>,
    #[serde(default)]
    pub cancelled: bool,
}

/// The answer to a dialog submission (`model.SubmitDialogResponse`): nothing (close it),
/// errors (keep it open; Mattermost decodes `errors` as strings only), or on newer servers
/// another form. It has no place for a text or a URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubmitDialogResponse {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, String>,
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<Dialog>,
}

/// The `type` of a [`SubmitDialogRequest`] Mattermost sends to a dynamic select's
/// `data_source_url` (`app.LookupInteractiveDialog`): the submission then holds `query`, the
/// `selected_field` and the other fields' current values.
pub const DIALOG_LOOKUP: &str = "dialog_lookup";

/// The answer to a dialog lookup (`model.LookupDialogResponse`), which Mattermost reads only
/// from a 200.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LookupDialogResponse {
    pub items: Vec<PostActionOption>,
}

/// What Mattermost POSTs to an outgoing webhook's callback URL, as JSON or form-encoded.
/// `timestamp` is milliseconds in JSON and seconds in the form (Mattermost divides by 1000).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutgoingWebhookRequest {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub team_id: String,
    #[serde(default)]
    pub team_domain: String,
    #[serde(default)]
    pub channel_id: String,
    #[serde(default)]
    pub channel_name: String,
    #[serde(default)]
    pub timestamp: i64,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub user_name: String,
    #[serde(default)]
    pub post_id: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub trigger_word: String,
    #[serde(default)]
    pub file_ids: String,
}

/// The answer to an outgoing webhook: posted as a reply when it has text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutgoingWebhookResponse {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// `comment` replies in the thread of the triggering post.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub response_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<SlackAttachment>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn slash_command_form_body_with_repeated_mention_keys() {
        let body = "token=xr3j&team_id=t1&team_domain=myteam&channel_id=c1&channel_name=townsquare&user_id=u1&user_name=alice&command=%2Fweather&text=berlin+%40bob&trigger_id=dHJpZw%3D%3D&root_id=&response_url=https%3A%2F%2Fmm.example.com%2Fhooks%2Fcommands%2Fh1&user_mentions=bob&user_mentions=carol&user_mentions_ids=u2&user_mentions_ids=u3&unknown=1";
        let req: SlashCommandRequest = serde_html_form::from_str(body).unwrap();
        assert_eq!(req.command, "/weather");
        assert_eq!(req.text, "berlin @bob");
        assert_eq!(req.trigger_id, "dHJpZw==");
        assert_eq!(req.response_url, "https://mm.example.com/hooks/commands/h1");
        assert_eq!(req.mentions().user_id("carol"), Some("u3"));
        assert_eq!(req.mentions().user_id("dave"), None);
    }

    #[test]
    fn mentions_pair_by_position_and_a_repeated_name_keeps_its_first_id() {
        let req = SlashCommandRequest {
            user_mentions: ["bob", "carol", "bob", "dave"].map(String::from).to_vec(),
            user_mentions_ids: ["u2", "u3", "u9"].map(String::from).to_vec(),
            channel_mentions: vec!["town".into()],
            ..Default::default()
        };
        let mentions = req.mentions();
        assert_eq!(mentions.user_id("bob"), Some("u2"));
        assert_eq!(mentions.user_id("carol"), Some("u3"));
        assert_eq!(mentions.user_id("dave"), None, "no id was sent for it");
        assert_eq!(mentions.channel_id("town"), None);
        assert_eq!(mentions.channel_id("bob"), None, "users are not channels");
    }

    #[test]
    fn outgoing_webhook_payload_in_both_encodings() {
        let json_body = json!({"token":"t","team_id":"t1","team_domain":"acme","channel_id":"c1","channel_name":"townsquare","timestamp":1700000000123i64,"user_id":"u1","user_name":"alice","post_id":"p1","text":"hello send hi","trigger_word":"hello","file_ids":""});
        let from_json: OutgoingWebhookRequest = serde_json::from_value(json_body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&from_json).unwrap(), json_body);
        let form = "token=t&team_id=t1&channel_id=c1&timestamp=1700000000&user_id=u1&user_name=alice&text=hello+send+hi&trigger_word=hello&file_ids=f1%2Cf2";
        let from_form: OutgoingWebhookRequest = serde_html_form::from_str(form).unwrap();
        assert_eq!(
            (
                from_form.timestamp,
                from_form.text.as_str(),
                from_form.file_ids.as_str()
            ),
            (1_700_000_000, "hello send hi", "f1,f2")
        );
    }

    #[test]
    fn command_response_sample_round_trips() {
        let sample = json!({"response_type":"in_channel","text":"Sunny","attachments":[{"title":"Berlin","fields":[{"title":"Temp","value":"21C","short":true}]}]});
        let r: CommandResponse = serde_json::from_value(sample.clone()).unwrap();
        assert_eq!(r.response_type, ResponseVisibility::InChannel);
        assert_eq!(serde_json::to_value(&r).unwrap(), sample);
        // The reference sample carries an empty goto_location; it decodes to the same value.
        let with_goto: CommandResponse = serde_json::from_value(
            json!({"response_type":"in_channel","text":"Sunny","goto_location":""}),
        )
        .unwrap();
        assert_eq!(with_goto.goto_location, "");
    }

    #[test]
    fn ephemeral_is_the_default_visibility() {
        let r = CommandResponse::ephemeral("only you");
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"response_type":"ephemeral","text":"only you"})
        );
    }

    #[test]
    fn post_action_request_and_response() {
        let sample = json!({"user_id":"u1","user_name":"alice","channel_id":"c1","channel_name":"townsquare","team_id":"t1","team_domain":"myteam","post_id":"p1","trigger_id":"tr","type":"select","data_source":"","context":{"call":"x","selected_option":"high"}});
        let req: PostActionIntegrationRequest = serde_json::from_value(sample.clone()).unwrap();
        assert_eq!(req.context["selected_option"], "high");
        assert_eq!(serde_json::to_value(&req).unwrap(), sample);
        let resp = PostActionIntegrationResponse {
            ephemeral_text: "done".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&resp).unwrap(),
            json!({"ephemeral_text":"done"})
        );
    }

    #[test]
    fn attachment_with_actions_round_trips() {
        let sample = json!({"text":"Pick one","ts":1700000000,"actions":[{"id":"approve","type":"button","name":"Approve","style":"good","integration":{"url":"https://h/action","context":{"k":"v"}}},{"id":"pick","type":"select","name":"Pick","data_source":"users","options":[{"text":"A","value":"a"}],"default_option":"a"}]});
        let a: SlackAttachment = serde_json::from_value(sample.clone()).unwrap();
        assert_eq!(serde_json::to_value(&a).unwrap(), sample);
    }

    #[test]
    fn dialog_submission_and_responses() {
        let sample = json!({"type":"dialog_submission","callback_id":"cb","state":"st","user_id":"u1","channel_id":"c1","team_id":"t1","submission":{"message":"hi","shout":true},"cancelled":false});
        let req: SubmitDialogRequest = serde_json::from_value(sample.clone()).unwrap();
        assert_eq!(serde_json::to_value(&req).unwrap(), sample);
        let errors = SubmitDialogResponse {
            errors: serde_json::from_value(json!({"message":"required"})).unwrap(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&errors).unwrap(),
            json!({"errors":{"message":"required"}})
        );
        assert_eq!(
            serde_json::to_value(SubmitDialogResponse::default()).unwrap(),
            json!({})
        );
    }

    #[test]
    fn open_dialog_request_shape() {
        let open = OpenDialogRequest {
            trigger_id: "tr".into(),
            url: "https://h/dialog".into(),
            dialog: Dialog {
                callback_id: "cb".into(),
                title: "Say hello".into(),
                elements: vec![DialogElement {
                    display_name: "Message".into(),
                    name: "message".into(),
                    kind: "text".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
        };
        assert_eq!(
            serde_json::to_value(&open).unwrap(),
            json!({"trigger_id":"tr","url":"https://h/dialog","dialog":{"callback_id":"cb","title":"Say hello","elements":[{"display_name":"Message","name":"message","type":"text"}]}})
        );
    }
}
