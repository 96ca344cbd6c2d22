//! The Lambda functions: which binary serves which route. This list is the one source of truth
//! for the function binaries, the manifest's `aws_lambda` block and (checked by a test) the
//! resources and HTTP API events of `template.yaml`.

use super::route::{Kind, Route, app_root};
use crate::apps::hello;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// The binary and the function's name in `template.yaml`'s `BuildProperties.Binary`.
    pub name: &'static str,
    pub app: &'static str,
    pub kind: Kind,
    /// For [`Kind::Call`]: the call path served.
    pub call_path: &'static str,
}

const fn call(name: &'static str, app: &'static str, call_path: &'static str) -> Function {
    Function {
        name,
        app,
        kind: Kind::Call,
        call_path,
    }
}

const fn fixed(name: &'static str, app: &'static str, kind: Kind) -> Function {
    Function {
        name,
        app,
        kind,
        call_path: "",
    }
}

pub const FUNCTIONS: &[Function] = &[
    fixed("hello-manifest", hello::APP_ID, Kind::Manifest),
    call("hello-ping", hello::APP_ID, "/ping"),
    call("hello-bindings", hello::APP_ID, "/bindings"),
    call("hello-send-form", hello::APP_ID, hello::SEND_FORM),
    call("hello-send", hello::APP_ID, hello::SEND),
    fixed("hello-command", hello::APP_ID, Kind::SlashCommand),
    fixed("hello-action", hello::APP_ID, Kind::PostAction),
    fixed("hello-dialog", hello::APP_ID, Kind::Dialog),
];

impl Function {
    pub fn by_name(name: &str) -> Option<&'static Function> {
        FUNCTIONS.iter().find(|f| f.name == name)
    }

    /// The functions of one app.
    pub fn of_app(app: &str) -> impl Iterator<Item = &'static Function> {
        FUNCTIONS.iter().filter(move |f| f.app == app)
    }

    /// The path below the app root this function serves.
    pub fn path(&self) -> &'static str {
        self.kind.fixed_path().unwrap_or(self.call_path)
    }

    /// The HTTP API route: method and path template, e.g. `POST /t/{tenant}/apps/hello/send`.
    pub fn http_route(&self) -> (&'static str, String) {
        (
            self.kind.method(),
            format!("{}{}", app_root("{tenant}", self.app), self.path()),
        )
    }

    /// The IAM actions the function needs on the install table, and nothing more: serving a
    /// request reads the tenant and the install in one batch (the warm-up reads one item).
    pub fn table_actions(&self) -> &'static [&'static str] {
        &["dynamodb:BatchGetItem", "dynamodb:GetItem"]
    }

    pub fn serves(&self, route: &Route) -> bool {
        route.app == self.app
            && route.kind == self.kind
            && (self.kind != Kind::Call || route.path == self.call_path)
    }
}
