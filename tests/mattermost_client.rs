//! The Mattermost REST adapter over real HTTP, against the validating stand-in.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use cloudapps::mattermost::{HttpMattermost, Mattermost, MattermostError};
use cloudapps::outbound::PrivateNetworks;
use cloudapps::protocol::classic::{Dialog, DialogElement, OpenDialogRequest};
use cloudapps_tests::mattermost_standin::StandIn;

/// The stand-in listens on loopback, so these clients allow private networks.
fn loopback_client() -> HttpMattermost {
    HttpMattermost::new(PrivateNetworks::Allowed)
}

/// A dialog to open with a trigger id the stand-in issued just now.
fn request(standin: &StandIn) -> OpenDialogRequest {
    OpenDialogRequest {
        trigger_id: standin.trigger_id("u1"),
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
    loopback_client()
        .open_dialog(&format!("{site}/"), "bot-token", &request(&standin))
        .await
        .unwrap();
    let opened = standin.opened.lock().unwrap();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0]["dialog"]["state"], "signed");
}

#[tokio::test]
async fn reports_what_mattermost_refused() {
    let (standin, site) = StandIn::start("bot-token").await;
    let client = loopback_client();
    match client.open_dialog(&site, "wrong", &request(&standin)).await {
        Err(MattermostError::Refused {
            status: 401,
            message,
        }) => assert!(message.contains("session")),
        other => panic!("expected a 401 refusal, got {other:?}"),
    }
    let mut untitled = request(&standin);
    untitled.dialog.title.clear();
    match client.open_dialog(&site, "bot-token", &untitled).await {
        Err(MattermostError::Refused {
            status: 400,
            message,
        }) => assert!(message.contains("title")),
        other => panic!("expected a 400 refusal, got {other:?}"),
    }
    // Trigger ids Mattermost did not issue, or issued longer ago than their 3 s.
    let four_seconds_ago =
        standin.trigger_id_issued_at("u1", cloudapps_tests::mattermost_standin::now_ms() - 4000);
    for trigger_id in ["trigger".to_owned(), four_seconds_ago] {
        let made_up = OpenDialogRequest {
            trigger_id,
            ..request(&standin)
        };
        assert!(matches!(
            client.open_dialog(&site, "bot-token", &made_up).await,
            Err(MattermostError::Refused { status: 400, .. })
        ));
    }
    assert!(standin.opened.lock().unwrap().is_empty());
}

/// The version comes from `X-Version-Id` of the unauthenticated ping, and is kept a while
/// per site: a dialog needs it, and it changes only with an upgrade.
#[tokio::test]
async fn reads_a_servers_version_from_its_ping_and_keeps_it() {
    use cloudapps::mattermost::ServerVersion;
    let (standin, site) = StandIn::start_as("t", "10.11.2.17200.0a1b2c.false").await;
    let client = loopback_client();
    let ten_eleven = ServerVersion {
        major: 10,
        minor: 11,
    };
    assert_eq!(client.server_version(&site).await, Some(ten_eleven));
    assert!(!ten_eleven.has_dynamic_dialog_selects());
    *standin.version.lock().unwrap() = StandIn::VERSION.into();
    assert_eq!(
        client.server_version(&format!("{site}/")).await,
        Some(ten_eleven),
        "kept, not asked again"
    );
    let (_, eleven) = StandIn::start("t").await;
    let version = client.server_version(&eleven).await.unwrap();
    assert!(version.has_dynamic_dialog_selects(), "{version:?}");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    assert_eq!(client.server_version(&gone).await, None);
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_not_a_hang() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let site = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let (standin, _) = StandIn::start("t").await;
    let err = loopback_client()
        .open_dialog(&site, "t", &request(&standin))
        .await
        .unwrap_err();
    assert!(matches!(err, MattermostError::Unreachable(_)), "{err:?}");
}

#[tokio::test]
async fn creates_commands_and_outgoing_webhooks_and_reports_refusals() {
    use cloudapps::mattermost::{NewCommand, NewOutgoingWebhook};
    let (standin, site) = StandIn::start("admin").await;
    let client = loopback_client();
    let command = NewCommand {
        team_id: "000000000000000000000team1".into(),
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
        team_id: "000000000000000000000team1".into(),
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

/// A loopback listener answering every request with `response`, recording what it was sent.
async fn canned(response: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = vec![0u8; 64 * 1024];
            let n = conn.read(&mut buf).await.unwrap_or(0);
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = conn.write_all(response.as_bytes()).await;
            let _ = conn.shutdown().await;
        }
    });
    (url, received)
}

fn command() -> cloudapps::mattermost::NewCommand {
    cloudapps::mattermost::NewCommand {
        team_id: "000000000000000000000team1".into(),
        trigger: "hello".into(),
        method: "P".into(),
        url: "https://apps.example/t/acme/apps/hello/v1/command".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_redirect_is_refused_never_followed_and_its_target_never_sees_the_token() {
    let admin_body = r#"{"id":"internal-admin-page","token":"internal-admin-secret"}"#;
    let (internal, internal_got) = canned(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{admin_body}",
        admin_body.len()
    ))
    .await;
    let moved = "moved to the internal admin page";
    let (site, site_got) = canned(format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: {internal}/internal-admin\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{moved}",
        moved.len()
    ))
    .await;
    let err = loopback_client()
        .create_command(&site, "mm-admin-token", &command())
        .await
        .unwrap_err();
    match &err {
        MattermostError::Refused { status: 307, .. } => {}
        other => panic!("expected a 307 refusal, got {other:?}"),
    }
    let text = err.to_string();
    for leaked in ["mm-admin-token", "internal-admin", moved, &internal] {
        assert!(!text.contains(leaked), "{leaked:?} in {text:?}");
    }
    assert_eq!(site_got.lock().unwrap().len(), 1);
    assert!(
        internal_got.lock().unwrap().is_empty(),
        "the redirect was followed: {:?}",
        internal_got.lock().unwrap()
    );
}

#[tokio::test]
async fn a_default_client_refuses_a_site_on_loopback_before_connecting() {
    let (site, got) = canned("HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}".into()).await;
    let err = HttpMattermost::default()
        .create_command(&site, "mm-admin-token", &command())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, MattermostError::Unreachable(_)) && text.contains("only public addresses"),
        "{text}"
    );
    assert!(!text.contains("mm-admin-token"), "{text}");
    assert!(got.lock().unwrap().is_empty());
}

#[tokio::test]
async fn mattermosts_message_is_passed_on_capped_and_without_control_characters() {
    let body = serde_json::json!({
        "id": "api.command.invalid",
        "message": format!("bad\u{1b}[31m trigger\r\nInjected: {}", "x".repeat(5000)),
    })
    .to_string();
    let (site, _) = canned(format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
    .await;
    match loopback_client()
        .create_command(&site, "admin", &command())
        .await
    {
        Err(MattermostError::Refused {
            status: 400,
            message,
        }) => {
            assert!(
                message.starts_with("bad[31m triggerInjected: xxx"),
                "{message}"
            );
            assert_eq!(message.chars().count(), 300);
            assert!(!message.contains(char::is_control), "{message:?}");
        }
        other => panic!("expected a 400 refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn regenerates_command_and_outgoing_webhook_tokens_with_an_admin_token() {
    use cloudapps::mattermost::{NewCommand, NewOutgoingWebhook};
    let (standin, site) = StandIn::start("admin").await;
    let client = loopback_client();
    let command = client
        .create_command(
            &site,
            "admin",
            &NewCommand {
                team_id: "000000000000000000000team1".into(),
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
                team_id: "000000000000000000000team1".into(),
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

    // Deleting (an install's undo): each by its own route, a second time is a 404, and what is
    // not an id never reaches a URL.
    client
        .delete_command(&site, "admin", &command.id)
        .await
        .unwrap();
    client
        .delete_outgoing_webhook(&site, "admin", &hook.id)
        .await
        .unwrap();
    assert_eq!(
        *standin.deleted.lock().unwrap(),
        [command.id.clone(), hook.id.clone()]
    );
    assert!(
        standin.commands.lock().unwrap().is_empty() && standin.hooks.lock().unwrap().is_empty()
    );
    assert!(matches!(
        client.delete_command(&site, "admin", &command.id).await,
        Err(MattermostError::Refused { status: 404, .. })
    ));
    assert!(matches!(
        client
            .delete_outgoing_webhook(&site, "user", &hook.id)
            .await,
        Err(MattermostError::Refused { status: 401, .. })
    ));
    assert!(matches!(
        client
            .delete_command(&site, "admin", "../../users/me")
            .await,
        Err(MattermostError::NotAnId(_))
    ));
}

#[tokio::test]
async fn posts_as_the_bot_in_a_channel_or_thread_and_reports_refusals() {
    use cloudapps::mattermost::NewPost;
    let (standin, site) = StandIn::start("bot-token").await;
    let client = loopback_client();
    let channel = "0000000000000000townsquare";
    let post = |root_id: &str| NewPost {
        channel_id: channel.into(),
        message: "Welcome!".into(),
        root_id: root_id.into(),
    };
    client
        .create_post(&site, "bot-token", &post(""))
        .await
        .unwrap();
    client
        .create_post(&site, "bot-token", &post("0000000000000000000post123"))
        .await
        .unwrap();
    let posted = standin.posts.lock().unwrap().clone();
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[0]["channel_id"], channel);
    assert!(
        posted[0].get("root_id").is_none(),
        "no root_id outside a thread"
    );
    assert_eq!(posted[1]["root_id"], "0000000000000000000post123");
    // Refusals: the wrong token, a channel's name instead of its id.
    assert!(matches!(
        client.create_post(&site, "wrong", &post("")).await,
        Err(MattermostError::Refused { status: 401, .. })
    ));
    let by_name = NewPost {
        channel_id: "town-square".into(),
        ..post("")
    };
    assert!(matches!(
        client.create_post(&site, "bot-token", &by_name).await,
        Err(MattermostError::Refused { status: 400, .. })
    ));
    assert_eq!(standin.posts.lock().unwrap().len(), 2);
}
