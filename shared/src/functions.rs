//! The Lambda functions: which binary serves which route. The apps' functions come from their
//! [`Endpoint`]s; the marketplace's and the events' are listed here. This list is the one
//! source of truth for the function binaries (generated from it), the manifest's `aws_lambda`
//! block and the resources of `template.yaml` (generated from it too). Their IAM policies are
//! held to what each function calls (`tests/iam_from_use.rs`).

use std::sync::LazyLock;

use crate::apps::{BuiltinApps, Endpoint};
use crate::paths::{AppRoute, EventRoute, Op, app_root};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serves {
    /// One route of one app.
    App { app: &'static str, route: AppRoute },
    /// One marketplace operation.
    Marketplace(Op),
    /// Event routes, for any installed app.
    Events(EventRoute),
    /// The SQS consumer that delivers events to subscribers (no HTTP route).
    FanOut,
    /// The deploy step that publishes the catalog (a CloudFormation custom resource; no route).
    CatalogPublish,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// The binary, and the function's name in `template.yaml`'s `Metadata.Binary`.
    pub name: &'static str,
    pub serves: Serves,
}

const MARKETPLACE: [(&str, Op); 11] = [
    ("marketplace-register-tenant", Op::RegisterTenant),
    ("marketplace-list", Op::List),
    ("marketplace-get", Op::Get),
    ("marketplace-install", Op::Install),
    ("marketplace-change-version", Op::ChangeVersion),
    ("marketplace-config-form", Op::ConfigForm),
    ("marketplace-configure", Op::Configure),
    ("marketplace-enable", Op::Enable),
    ("marketplace-disable", Op::Disable),
    ("marketplace-rotate", Op::Rotate),
    ("marketplace-uninstall", Op::Uninstall),
];

const EVENTS: [Function; 5] = [
    Function {
        name: "events-ingest",
        serves: Serves::Events(EventRoute::Ingest),
    },
    Function {
        name: "events-subscriptions",
        serves: Serves::Events(EventRoute::Subscriptions),
    },
    Function {
        name: "events-fanout",
        serves: Serves::FanOut,
    },
    Function {
        name: "events-dead-letters",
        serves: Serves::Events(EventRoute::DeadLetters),
    },
    Function {
        name: "catalog-publish",
        serves: Serves::CatalogPublish,
    },
];

/// Every function: the built-in apps' endpoints, the marketplace's operations, the events'.
pub fn all() -> &'static [Function] {
    static ALL: LazyLock<Vec<Function>> = LazyLock::new(|| {
        let apps = BuiltinApps::all();
        let app_functions = apps.iter().flat_map(|(_, app)| {
            let id = app.id();
            app.endpoints()
                .iter()
                .filter_map(move |e| of_endpoint(id, e))
        });
        let market = MARKETPLACE.iter().map(|&(name, op)| Function {
            name,
            serves: Serves::Marketplace(op),
        });
        app_functions.chain(market).chain(EVENTS).collect()
    });
    &ALL
}

/// The function serving one endpoint of `app`, if it has one.
pub fn of_endpoint(app: &'static str, endpoint: &Endpoint) -> Option<Function> {
    Some(Function {
        name: endpoint.function?,
        serves: Serves::App {
            app,
            route: endpoint.route,
        },
    })
}

impl Function {
    pub fn by_name(name: &str) -> Option<&'static Function> {
        all().iter().find(|f| f.name == name)
    }

    /// The functions of one app.
    pub fn of_app(app: &str) -> impl Iterator<Item = &'static Function> {
        all().iter().filter(move |f| f.app() == Some(app))
    }

    /// The app this function serves an endpoint of.
    pub fn app(&self) -> Option<&'static str> {
        match self.serves {
            Serves::App { app, .. } => Some(app),
            _ => None,
        }
    }

    /// The call path, for a function serving an Apps call.
    pub fn call_path(&self) -> Option<&'static str> {
        match self.serves {
            Serves::App {
                route: AppRoute::Call(path),
                ..
            } => Some(path),
            _ => None,
        }
    }

    /// The HTTP API routes: method and path template, e.g. `POST /t/{tenant}/apps/hello/send`.
    pub fn http_routes(&self) -> Vec<(&'static str, String)> {
        match self.serves {
            Serves::App { app, route } => {
                let path = format!("{}{}", app_root("{tenant}", app), route.path());
                route.methods().iter().map(|m| (*m, path.clone())).collect()
            }
            Serves::Marketplace(op) => vec![(op.method(), op.path().to_owned())],
            Serves::Events(route) => route.http_routes(),
            Serves::FanOut | Serves::CatalogPublish => Vec::new(),
        }
    }
}

impl Function {
    /// The source of its binary, `functions/src/bin/<name>.rs`: its `main` names what it
    /// serves, so it links only that (`tests/template.rs` checks these files, and writes them
    /// with `CLOUDAPPS_BLESS=1`).
    pub fn binary_source(&self) -> String {
        let mut uses = vec!["cloudapps::lambda".to_owned()];
        let run = match self.serves {
            Serves::App { app, route } if app == crate::apps::marketplace::APP_ID => {
                uses.push("cloudapps::paths::AppRoute".into());
                format!("lambda::run_marketplace_app(AppRoute::{route:?})")
            }
            Serves::App { app, route } => {
                uses.push(format!("cloudapps::apps::{app}"));
                uses.push("cloudapps::paths::AppRoute".into());
                format!("lambda::run_app({app}::APP, AppRoute::{route:?})")
            }
            Serves::Marketplace(op) => {
                uses.push("cloudapps::paths::Op".into());
                format!("lambda::run_marketplace(Op::{op:?})")
            }
            Serves::Events(route) => {
                uses.push("cloudapps::paths::EventRoute".into());
                format!("lambda::run_events(EventRoute::{route:?})")
            }
            Serves::FanOut => "lambda::run_fanout()".to_owned(),
            Serves::CatalogPublish => "lambda::run_catalog_publish()".to_owned(),
        };
        let what = self.describe();
        // As rustfmt orders them.
        uses.sort();
        let uses: String = uses.iter().map(|u| format!("use {u};\n")).collect();
        format!(
            "//! The Lambda function for {what}.\n//! Generated from `cloudapps::functions` by `tests/template.rs`; do not edit.\n\n{uses}\n#[tokio::main]\nasync fn main() -> Result<(), lambda_runtime::Error> {{\n    {run}.await\n}}\n"
        )
    }

    /// What it serves: `POST /t/{tenant}/apps/hello/send`.
    pub fn describe(&self) -> String {
        match self.serves {
            Serves::FanOut => return "batches of the events queue".to_owned(),
            Serves::CatalogPublish => {
                return "CloudFormation's catalog-publish custom resource".to_owned();
            }
            _ => {}
        }
        let routes: Vec<String> = self
            .http_routes()
            .into_iter()
            .map(|(m, p)| format!("`{m} {p}`"))
            .collect();
        routes.join(" and ")
    }
}
