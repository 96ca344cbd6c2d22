//! The Lambda functions: which binary serves which route. This list is the one source of truth
//! for the function binaries, the manifest's `aws_lambda` block and (checked by a test) the
//! resources, HTTP API events and IAM policies of `template.yaml`.

use super::route::{Kind, Route, app_root};
use crate::apps::{hello, marketplace, notices};
use crate::marketplace::routes::Op;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serves {
    /// One endpoint of one app: a fixed kind, or one call path.
    App {
        app: &'static str,
        kind: Kind,
        call_path: &'static str,
    },
    /// One marketplace operation.
    Marketplace(Op),
    /// Event ingest from every source: `POST /events/t/{tenant}` and, for any installed app,
    /// Apps notifications and outgoing webhooks under its root.
    Ingest,
    /// The subscription API apps call, for any installed app.
    Subscriptions,
    /// The SQS consumer that delivers events to subscribers (no HTTP route).
    FanOut,
    /// The operator's view of the dead-letter queue, and its redrive.
    DeadLetters,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// The binary and the function's name in `template.yaml`'s `BuildProperties.Binary`.
    pub name: &'static str,
    pub serves: Serves,
}

const fn call(name: &'static str, app: &'static str, call_path: &'static str) -> Function {
    Function {
        name,
        serves: Serves::App {
            app,
            kind: Kind::Call,
            call_path,
        },
    }
}

const fn fixed(name: &'static str, app: &'static str, kind: Kind) -> Function {
    Function {
        name,
        serves: Serves::App {
            app,
            kind,
            call_path: "",
        },
    }
}

const fn market(name: &'static str, op: Op) -> Function {
    Function {
        name,
        serves: Serves::Marketplace(op),
    }
}

/// Where events from sources other than Mattermost's own calls are accepted.
pub const INGEST_PATH: &str = "/events/t/{tenant}";

pub const FUNCTIONS: &[Function] = &[
    fixed("hello-manifest", hello::APP_ID, Kind::Manifest),
    call("hello-ping", hello::APP_ID, "/ping"),
    call("hello-bindings", hello::APP_ID, "/bindings"),
    call("hello-send-form", hello::APP_ID, hello::SEND_FORM),
    call("hello-send", hello::APP_ID, hello::SEND),
    fixed("hello-command", hello::APP_ID, Kind::SlashCommand),
    fixed("hello-action", hello::APP_ID, Kind::PostAction),
    fixed("hello-dialog", hello::APP_ID, Kind::Dialog),
    fixed("hello-outgoing", hello::APP_ID, Kind::OutgoingWebhook),
    fixed(
        "marketplace-app-manifest",
        marketplace::APP_ID,
        Kind::Manifest,
    ),
    call("marketplace-app-ping", marketplace::APP_ID, "/ping"),
    call("marketplace-app-bindings", marketplace::APP_ID, "/bindings"),
    call(
        "marketplace-app-list",
        marketplace::APP_ID,
        marketplace::LIST,
    ),
    call(
        "marketplace-app-install",
        marketplace::APP_ID,
        marketplace::INSTALL,
    ),
    call(
        "marketplace-app-upgrade",
        marketplace::APP_ID,
        marketplace::UPGRADE,
    ),
    call(
        "marketplace-app-configure",
        marketplace::APP_ID,
        marketplace::CONFIGURE,
    ),
    call(
        "marketplace-app-configure-submit",
        marketplace::APP_ID,
        marketplace::CONFIGURE_SUBMIT,
    ),
    call(
        "marketplace-app-uninstall",
        marketplace::APP_ID,
        marketplace::UNINSTALL,
    ),
    market("marketplace-register-tenant", Op::RegisterTenant),
    market("marketplace-list", Op::List),
    market("marketplace-get", Op::Get),
    market("marketplace-install", Op::Install),
    market("marketplace-change-version", Op::ChangeVersion),
    market("marketplace-config-form", Op::ConfigForm),
    market("marketplace-configure", Op::Configure),
    market("marketplace-enable", Op::Enable),
    market("marketplace-disable", Op::Disable),
    market("marketplace-rotate", Op::Rotate),
    market("marketplace-uninstall", Op::Uninstall),
    call(
        "notices-on-user-joined-channel",
        notices::APP_ID,
        notices::ON_USER_JOINED_CHANNEL,
    ),
    call(
        "notices-on-channel-created",
        notices::APP_ID,
        notices::ON_CHANNEL_CREATED,
    ),
    call(
        "notices-on-message-posted",
        notices::APP_ID,
        notices::ON_MESSAGE_POSTED,
    ),
    Function {
        name: "events-ingest",
        serves: Serves::Ingest,
    },
    Function {
        name: "events-subscriptions",
        serves: Serves::Subscriptions,
    },
    Function {
        name: "events-fanout",
        serves: Serves::FanOut,
    },
    Function {
        name: "events-dead-letters",
        serves: Serves::DeadLetters,
    },
];

/// The event routes under an app's root that a function serves, with any app.
const fn app_event_kinds(serves: Serves) -> &'static [Kind] {
    match serves {
        Serves::Ingest => &[Kind::Notification, Kind::WebhookEvent],
        Serves::Subscriptions => &[Kind::Subscribe, Kind::Unsubscribe, Kind::Subscriptions],
        _ => &[],
    }
}

impl Function {
    pub fn by_name(name: &str) -> Option<&'static Function> {
        FUNCTIONS.iter().find(|f| f.name == name)
    }

    /// The app this function serves an endpoint of.
    pub fn app(&self) -> Option<&'static str> {
        match self.serves {
            Serves::App { app, .. } => Some(app),
            _ => None,
        }
    }

    /// The functions of one app.
    pub fn of_app(app: &str) -> impl Iterator<Item = &'static Function> {
        FUNCTIONS.iter().filter(move |f| f.app() == Some(app))
    }

    /// The call path, for a function serving an Apps call.
    pub fn call_path(&self) -> Option<&'static str> {
        match self.serves {
            Serves::App {
                kind: Kind::Call,
                call_path,
                ..
            } => Some(call_path),
            _ => None,
        }
    }

    /// The HTTP API routes: method and path template, e.g. `POST /t/{tenant}/apps/hello/send`.
    pub fn http_routes(&self) -> Vec<(&'static str, String)> {
        match self.serves {
            Serves::App {
                app,
                kind,
                call_path,
            } => {
                let path = format!(
                    "{}{}",
                    app_root("{tenant}", app),
                    kind.fixed_path().unwrap_or(call_path)
                );
                // Mattermost may send a slash command as a GET with the form in the query.
                match kind {
                    Kind::SlashCommand => vec![("POST", path.clone()), ("GET", path)],
                    _ => vec![(kind.method(), path)],
                }
            }
            Serves::Marketplace(op) => vec![(op.method(), op.path().to_owned())],
            Serves::DeadLetters => vec![
                ("GET", super::events::DEAD_LETTERS_PATH.to_owned()),
                ("POST", super::events::REDRIVE_PATH.to_owned()),
            ],
            serves => {
                let mut routes: Vec<(&'static str, String)> = app_event_kinds(serves)
                    .iter()
                    .map(|k| {
                        let path = k.fixed_path().unwrap_or_default();
                        (
                            k.method(),
                            format!("{}{path}", app_root("{tenant}", "{app}")),
                        )
                    })
                    .collect();
                if serves == Serves::Ingest {
                    routes.insert(0, ("POST", INGEST_PATH.to_owned()));
                }
                routes
            }
        }
    }

    /// The IAM actions the function needs on the install table, and nothing more. An app
    /// endpoint reads the tenant and the install in one batch (its warm-up reads one item).
    pub fn table_actions(&self) -> &'static [&'static str] {
        match self.serves {
            // The marketplace app runs marketplace operations, so it may write as they do.
            Serves::App {
                app: marketplace::APP_ID,
                kind: Kind::Call,
                call_path,
            } if Self::manages_installs(call_path) => &[
                "dynamodb:BatchGetItem",
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
            ],
            Serves::App { .. } => &["dynamodb:BatchGetItem", "dynamodb:GetItem"],
            Serves::Marketplace(op) => op.table_actions(),
            // The tenant admin token is checked against the tenant record; the other sources
            // read the tenant and the install in one batch.
            Serves::Ingest => &["dynamodb:BatchGetItem", "dynamodb:GetItem"],
            Serves::Subscriptions => &[
                "dynamodb:BatchGetItem",
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
            ],
            // Subscribers, installs and listings are read; delivery records are written.
            Serves::FanOut => &[
                "dynamodb:BatchGetItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
            ],
            Serves::DeadLetters => &[],
        }
    }

    /// The Lambda actions the function needs on this stack's functions (provisioning).
    pub fn lambda_actions(&self) -> &'static [&'static str] {
        match self.serves {
            Serves::App {
                app: marketplace::APP_ID,
                kind: Kind::Call,
                call_path,
            } if [
                marketplace::INSTALL,
                marketplace::UPGRADE,
                marketplace::UNINSTALL,
            ]
            .contains(&call_path) =>
            {
                Op::Install.lambda_actions()
            }
            Serves::Marketplace(op) => op.lambda_actions(),
            _ => &[],
        }
    }

    /// The actions the function needs on the events queue.
    pub fn queue_actions(&self) -> &'static [&'static str] {
        match self.serves {
            // Redriven letters are sent back onto the queue.
            Serves::Ingest | Serves::DeadLetters => &["sqs:SendMessage"],
            // Receiving and deleting come with the event source mapping; the backoff is ours.
            Serves::FanOut => &["sqs:ChangeMessageVisibility"],
            _ => &[],
        }
    }

    /// The actions the function needs on the dead-letter queue.
    pub fn dead_letter_queue_actions(&self) -> &'static [&'static str] {
        match self.serves {
            Serves::DeadLetters => &["sqs:DeleteMessage", "sqs:ReceiveMessage"],
            _ => &[],
        }
    }

    pub fn serves_ingest(&self) -> bool {
        self.serves == Serves::Ingest
    }

    pub fn serves_dead_letters(&self) -> bool {
        self.serves == Serves::DeadLetters
    }

    /// The answer to a request for a route this function does not serve.
    pub fn wrong_route(&self) -> crate::error::Error {
        crate::error::Error::NotFound(format!(
            "function {} serves only {}",
            self.name,
            self.describe()
        ))
    }

    /// The marketplace app's calls that read and change installs.
    fn manages_installs(call_path: &str) -> bool {
        [
            marketplace::LIST,
            marketplace::INSTALL,
            marketplace::UPGRADE,
            marketplace::CONFIGURE,
            marketplace::CONFIGURE_SUBMIT,
            marketplace::UNINSTALL,
        ]
        .contains(&call_path)
    }

    pub fn serves_app(&self, route: &Route) -> bool {
        match self.serves {
            Serves::App {
                app,
                kind,
                call_path,
            } => {
                route.app == app
                    && route.kind == kind
                    && (kind != Kind::Call || route.path == call_path)
            }
            serves => app_event_kinds(serves).contains(&route.kind),
        }
    }

    pub fn serves_marketplace(&self, op: Op) -> bool {
        self.serves == Serves::Marketplace(op)
    }

    /// What it serves, for error messages: `POST /t/{tenant}/apps/hello/send`.
    pub fn describe(&self) -> String {
        let routes: Vec<String> = self
            .http_routes()
            .into_iter()
            .map(|(m, p)| format!("{m} {p}"))
            .collect();
        if routes.is_empty() {
            return "batches of the events queue".into();
        }
        routes.join(" and ")
    }
}
