//! The Lambda functions: which binary serves which route. This list is the one source of truth
//! for the function binaries, the manifest's `aws_lambda` block and (checked by a test) the
//! resources and HTTP API events of `template.yaml`. Their IAM policies are held to what each
//! function calls (`tests/iam_from_use.rs`), not to a list.

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
    /// The deploy step that publishes the catalog (a CloudFormation custom resource; no route).
    CatalogPublish,
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
    Function {
        name: "catalog-publish",
        serves: Serves::CatalogPublish,
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
            Serves::CatalogPublish => Vec::new(),
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
            return match self.serves {
                Serves::CatalogPublish => "CloudFormation's catalog-publish custom resource".into(),
                _ => "batches of the events queue".into(),
            };
        }
        routes.join(" and ")
    }
}
