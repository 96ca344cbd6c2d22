//! The Lambda functions: which binary serves which route. The apps' functions come from their
//! [`Endpoint`]s; the marketplace's and the events' are listed here. This list is the one
//! source of truth for the function binaries (generated from it), the manifest's `aws_lambda`
//! block and the resources of `template.yaml` (generated from it too). Their IAM policies are
//! held to what each function calls (`tests/iam_from_use.rs`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use crate::apps::{BuiltinApps, Endpoint};
use crate::marketplace::catalog;
use crate::paths::{AppRoute, EventRoute, Op, TENANT_ALIAS_PREFIX, app_root};

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

/// The longest function name Lambda takes, past which the Apps plugin hashes the name it
/// derives (`upstream/upaws/client_lambda.go`, `MaxLambdaName`).
pub const MAX_LAMBDA_NAME: usize = 64;

/// The function name the Apps plugin invokes for the manifest function `function` of `app` at
/// `version` (`upstream/upaws`, `LambdaName`): `<app>_<version>_<function>`, dots of the id and
/// version made dashes, spaces of the function's name too. `None` where the plugin would hash
/// it instead (over [`MAX_LAMBDA_NAME`] characters): a hashed name can be deployed by no one.
pub fn plugin_lambda_name(app: &str, version: &str, function: &str) -> Option<String> {
    let name = format!(
        "{}_{}_{}",
        app.replace('.', "-"),
        version.replace('.', "-"),
        function.replace(' ', "-")
    );
    (name.len() <= MAX_LAMBDA_NAME).then_some(name)
}

/// The versions the shipped catalog lists for a built-in app, newest first. Each is deployed
/// as a set of functions of its own: the Apps plugin names the function it invokes after the
/// app's version.
pub fn app_versions(app: &str) -> &'static [String] {
    static VERSIONS: LazyLock<BTreeMap<String, Vec<String>>> = LazyLock::new(|| {
        catalog::shipped()
            .expect("the shipped catalog parses (tested)")
            .into_iter()
            .map(|l| (l.id, l.versions.into_iter().map(|v| v.version).collect()))
            .collect()
    });
    VERSIONS.get(app).map_or(&[], Vec::as_slice)
}

/// The deployed names of the functions the Apps plugin invokes for `app` at `version` (see
/// [`Function::deployed_name`]); `None` when this deploy does not carry that version of an
/// app that has such functions.
pub fn invoked_functions(app: &str, version: &str) -> Option<Vec<String>> {
    let mut invoked = Function::of_app(app)
        .filter(|f| f.call_path().is_some())
        .peekable();
    if invoked.peek().is_some() && !app_versions(app).iter().any(|v| v == version) {
        return None;
    }
    invoked.map(|f| f.deployed_name(version)).collect()
}

/// The deployed names of the functions the Apps plugin invokes for `app`, every version's.
pub fn every_invoked_function(app: &str) -> Vec<String> {
    Function::of_app(app)
        .flat_map(Function::deployed_names)
        .collect()
}

/// The deployed name of every function the Apps plugin invokes, of every app and version.
pub fn invoked_names() -> impl Iterator<Item = String> {
    all().iter().flat_map(Function::deployed_names)
}

/// The longest tenant id whose alias fits every name the Apps plugin invokes on this host:
/// `<function>:t-<tenant>` stays within [`MAX_LAMBDA_NAME`] for every app function of every
/// version.
pub fn longest_tenant_id_on_lambda() -> usize {
    static LONGEST: LazyLock<usize> = LazyLock::new(|| {
        let longest = invoked_names().map(|n| n.len()).max().unwrap_or_default();
        MAX_LAMBDA_NAME.saturating_sub(longest + ":".len() + TENANT_ALIAS_PREFIX.len())
    });
    *LONGEST
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

    /// Its `name` in its app's manifest: the binary's name less the app's (`hello-send` →
    /// `send`), so that the names the Apps plugin derives leave room for a tenant's alias.
    pub fn manifest_name(&self) -> Option<&'static str> {
        let app = self.app()?;
        self.name.strip_prefix(app)?.strip_prefix('-')
    }

    /// The name a function serving a call path is deployed under for `version` of its app:
    /// the one the Apps plugin invokes (`hello_v1-1-0_send`). `None` for the others (routes
    /// only HTTP reaches, like the manifest or the classic routes, deployed once per stack).
    pub fn deployed_name(&self, version: &str) -> Option<String> {
        self.call_path()?;
        plugin_lambda_name(self.app()?, version, self.manifest_name()?)
    }

    /// The versions of its app this function is deployed for, the current first: every one
    /// the catalog lists for a function the Apps plugin invokes, none for the others.
    pub fn deployed_versions(&self) -> &'static [String] {
        match (self.app(), self.call_path()) {
            (Some(app), Some(_)) => app_versions(app),
            _ => &[],
        }
    }

    /// Its deployed names, one per version it is deployed for.
    pub fn deployed_names(&self) -> impl Iterator<Item = String> + '_ {
        self.deployed_versions()
            .iter()
            .filter_map(|v| self.deployed_name(v))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugins_names_leave_room_for_a_tenant_alias() {
        assert_eq!(
            plugin_lambda_name("com.example.app", "v1.2.0", "on join"),
            Some("com-example-app_v1-2-0_on-join".into())
        );
        assert_eq!(plugin_lambda_name("a", "v1", &"f".repeat(60)), None);
        // A function with a longer name or a longer app id would shrink what tenants may be
        // called: keep the ids of tenants on AWS at least this long.
        assert_eq!(longest_tenant_id_on_lambda(), 22);
        let send = Function::by_name("hello-send").unwrap();
        assert_eq!(send.manifest_name(), Some("send"));
        assert_eq!(
            send.deployed_name("v1.1.0").as_deref(),
            Some("hello_v1-1-0_send")
        );
        // The manifest and the classic routes are reached by HTTP only: deployed once.
        let manifest = Function::by_name("hello-manifest").unwrap();
        assert_eq!(manifest.deployed_name("v1.1.0"), None);
        assert_eq!(
            invoked_functions("hello", "v9.9.9"),
            None,
            "a version this deploy does not carry"
        );
        assert_eq!(invoked_functions("jitsi", "v1.0.0"), Some(Vec::new()));
        // Every function the plugin invokes is named `<app>-…`, so it has a name there.
        for f in all().iter().filter(|f| f.call_path().is_some()) {
            assert!(!f.deployed_versions().is_empty(), "{}", f.name);
            assert_eq!(
                f.deployed_names().count(),
                f.deployed_versions().len(),
                "{} has no name the plugin can invoke",
                f.name
            );
        }
    }
}
