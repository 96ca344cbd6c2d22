//! The Mattermost REST adapter over real HTTP, against the validating stand-in.

use cloudapps::mattermost::{HttpMattermost, Mattermost, MattermostError};
use cloudapps::protocol::classic::{Dialog, DialogElement, OpenDialogRequest};
use cloudapps_tests::mattermost_standin::StandIn;

fn request() -> OpenDialogRequest {
    OpenDialogRequest {
        trigger_id: "trigger".into(),
        url: "http://127.0.0.1:1/t/acme/apps/hello/v1/dialog".into(),
        dialog: Dialog {
            title: "Say hello".into(),
            elements: vec![DialogElement {
                display_name: "Message".into(),
                name: "message".into(),
                kind: "text".into(),
                ..Default::default()
            }],
            state: "signed".into(),
            ..Default::default()
        },
    }
}

#[tokio::test]
async fn opens_a_dialog_with_the_bot_token() {
    let (standin, site) = StandIn::start("bot-token").await;
    HttpMattermost::new()
        .open_dialog(&format!("{site}/"), "bot-token", &request())
        .await
        .unwrap();
    let opened = standin.opened.lock().unwrap();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0]["dialog"]["state"], "signed");
}

#[tokio::test]
async fn reports_what_mattermost_refused() {
    let (standin, site) = StandIn::start("bot-token").await;
    let client = HttpMattermost::new();
    match client.open_dialog(&site, "wrong", &request()).await {
        Err(MattermostError::Refused {
            status: 401,
            message,
        }) => assert!(message.contains("session")),
        other => panic!("expected a 401 refusal, got {other:?}"),
    }
    let mut untitled = request();
    untitled.dialog.title.clear();
    match client.open_dialog(&site, "bot-token", &untitled).await {
        Err(MattermostError::Refused {
            status: 400,
            message,
        }) => assert!(message.contains("title")),
        other => panic!("expected a 400 refusal, got {other:?}"),
    }
    assert!(standin.opened.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_not_a_hang() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let site = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = HttpMattermost::new()
        .open_dialog(&site, "t", &request())
        .await
        .unwrap_err();
    assert!(matches!(err, MattermostError::Unreachable(_)), "{err:?}");
}

#[tokio::test]
async fn creates_commands_and_outgoing_webhooks_and_reports_refusals() {
    use cloudapps::mattermost::{NewCommand, NewOutgoingWebhook};
    let (standin, site) = StandIn::start("admin").await;
    let client = HttpMattermost::new();
    let command = NewCommand {
        team_id: "t1".into(),
        trigger: "hello".into(),
        method: "P".into(),
        url: "https://apps.example/t/acme/apps/hello/v1/command".into(),
        ..Default::default()
    };
    let created = client
        .create_command(&site, "admin", &command)
        .await
        .unwrap();
    assert!(!created.id.is_empty() && !created.token.is_empty());
    assert_eq!(standin.commands.lock().unwrap()[0]["token"], created.token);
    let bad = NewCommand {
        trigger: "/hello".into(),
        ..command.clone()
    };
    assert!(matches!(
        client.create_command(&site, "admin", &bad).await,
        Err(MattermostError::Refused { status: 400, .. })
    ));
    assert!(matches!(
        client.create_command(&site, "user", &command).await,
        Err(MattermostError::Refused { status: 401, .. })
    ));

    let hook = NewOutgoingWebhook {
        team_id: "t1".into(),
        display_name: "hello".into(),
        trigger_words: vec!["hello".into()],
        callback_urls: vec!["https://apps.example/t/acme/apps/hello/v1/outgoing".into()],
        content_type: "application/json".into(),
        ..Default::default()
    };
    assert!(
        !client
            .create_outgoing_webhook(&site, "admin", &hook)
            .await
            .unwrap()
            .token
            .is_empty()
    );
    let no_trigger = NewOutgoingWebhook {
        trigger_words: vec![],
        ..hook
    };
    assert!(matches!(
        client
            .create_outgoing_webhook(&site, "admin", &no_trigger)
            .await,
        Err(MattermostError::Refused { status: 400, .. })
    ));
}

#[tokio::test]
async fn regenerates_command_and_outgoing_webhook_tokens_with_an_admin_token() {
    use cloudapps::mattermost::{NewCommand, NewOutgoingWebhook};
    let (standin, site) = StandIn::start("admin").await;
    let client = HttpMattermost::new();
    let command = client
        .create_command(
            &site,
            "admin",
            &NewCommand {
                team_id: "t1".into(),
                trigger: "hello".into(),
                method: "P".into(),
                url: "https://apps.example/t/acme/apps/hello/v1/command".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let hook = client
        .create_outgoing_webhook(
            &site,
            "admin",
            &NewOutgoingWebhook {
                team_id: "t1".into(),
                trigger_words: vec!["hello".into()],
                callback_urls: vec!["https://apps.example/t/acme/apps/hello/v1/outgoing".into()],
                content_type: "application/json".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let new_command_token = client
        .regen_command_token(&site, "admin", &command.id)
        .await
        .unwrap();
    let new_hook_token = client
        .regen_outgoing_webhook_token(&site, "admin", &hook.id)
        .await
        .unwrap();
    assert_ne!(new_command_token, command.token);
    assert_ne!(new_hook_token, hook.token);
    assert_eq!(
        *standin.regenerated.lock().unwrap(),
        [
            serde_json::json!({"kind": "command", "id": command.id, "token": new_command_token}),
            serde_json::json!({"kind": "outgoing_hook", "id": hook.id, "token": new_hook_token}),
        ]
    );

    // Refusals: another user's token, an id Mattermost does not know.
    assert!(matches!(
        client.regen_command_token(&site, "user", &command.id).await,
        Err(MattermostError::Refused { status: 401, .. })
    ));
    assert!(matches!(
        client
            .regen_outgoing_webhook_token(&site, "admin", &command.id)
            .await,
        Err(MattermostError::Refused { status: 404, .. })
    ));
    // What is not an id never reaches a URL.
    assert!(matches!(
        client
            .regen_command_token(&site, "admin", "../../users/me")
            .await,
        Err(MattermostError::NotAnId(_))
    ));
    assert_eq!(standin.regenerated.lock().unwrap().len(), 2);
}
