//! `marketplace`: the App Marketplace as commands inside Mattermost, so that a system admin can
//! list, install, configure, upgrade and uninstall apps in place, with forms, on web and mobile.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::{App, Endpoint};
use crate::command::{Command, Source};
use crate::error::Error;
use crate::marketplace::Marketplace;
use crate::marketplace::service::{ChangeVersion, Consent, InstallRequest, ListQuery};
use crate::paths::AppRoute;
use crate::protocol::apps::{
    Binding, Call, CallResponse, Expand, Field, FieldType, Form, Manifest, Permission, location,
};
use crate::store::Tenant;

pub const APP_ID: &str = "marketplace";
pub const VERSION: &str = "v1.0.0";
pub const LIST: &str = "/list";
pub const INSTALL: &str = "/install";
pub const UPGRADE: &str = "/upgrade";
pub const CONFIGURE: &str = "/configure-app";
pub const CONFIGURE_SUBMIT: &str = "/configure-app/submit";
pub const UNINSTALL: &str = "/uninstall";

pub struct MarketplaceApp;

/// The app, as a function binary names it.
pub const APP: MarketplaceApp = MarketplaceApp;

/// Every submit needs the acting user's roles to check for a system admin.
fn call(path: &str) -> Call {
    Call {
        expand: Some(Box::new(Expand {
            acting_user: "summary".into(),
            ..Default::default()
        })),
        ..Call::path(path)
    }
}

fn app_field() -> Field {
    Field {
        is_required: true,
        position: 1,
        description: "The app's id, as `/marketplace list` shows it".into(),
        ..Field::new("app", FieldType::Text)
    }
}

fn accept_field() -> Field {
    Field {
        description:
            "I accept the permissions and locations this version asks for (see `/marketplace list`)"
                .into(),
        ..Field::new("accept", FieldType::Bool)
    }
}

fn command(label: &str, description: &str, form: Form) -> Binding {
    Binding {
        label: label.into(),
        description: description.into(),
        form: Some(form),
        ..Default::default()
    }
}

/// The manifest and every call path, each its own function.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint::served(AppRoute::Manifest, "marketplace-app-manifest"),
    Endpoint::call("/ping", "marketplace-app-ping"),
    Endpoint::call("/bindings", "marketplace-app-bindings"),
    Endpoint::call(LIST, "marketplace-app-list"),
    Endpoint::call(INSTALL, "marketplace-app-install"),
    Endpoint::call(UPGRADE, "marketplace-app-upgrade"),
    Endpoint::call(CONFIGURE, "marketplace-app-configure"),
    Endpoint::call(CONFIGURE_SUBMIT, "marketplace-app-configure-submit"),
    Endpoint::call(UNINSTALL, "marketplace-app-uninstall"),
];

#[async_trait]
impl App for MarketplaceApp {
    fn id(&self) -> &'static str {
        APP_ID
    }

    fn endpoints(&self) -> &'static [Endpoint] {
        ENDPOINTS
    }

    fn manifest(&self) -> Manifest {
        Manifest {
            app_id: APP_ID.into(),
            version: VERSION.into(),
            display_name: "Marketplace".into(),
            description: "Manage this workspace's apps.".into(),
            homepage_url: "https://developers.mattermost.com/integrate/apps/".into(),
            requested_permissions: vec![Permission::ActAsBot],
            requested_locations: vec![location::COMMAND.into()],
            ..Default::default()
        }
    }

    fn bindings(&self) -> Vec<Binding> {
        let version = Field {
            description: "A listed version (default: the newest)".into(),
            ..Field::new("version", FieldType::Text)
        };
        let force = Field {
            description: "Uninstall even if the app refuses".into(),
            ..Field::new("force", FieldType::Bool)
        };
        let query = Field {
            position: -1,
            description: "Words to search for".into(),
            ..Field::new("query", FieldType::Text)
        };
        let form = |title: &str, path: &str, fields: Vec<Field>| Form {
            title: title.into(),
            submit: Some(call(path)),
            fields,
            ..Default::default()
        };
        vec![Binding {
            location: location::COMMAND.into(),
            bindings: vec![Binding {
                label: APP_ID.into(),
                description: "Manage this workspace's apps".into(),
                hint: "list | install | configure | upgrade | uninstall".into(),
                bindings: vec![
                    command("list", "List the apps", form("Apps", LIST, vec![query])),
                    command(
                        "install",
                        "Install an app",
                        form(
                            "Install an app",
                            INSTALL,
                            vec![app_field(), version.clone(), accept_field()],
                        ),
                    ),
                    command(
                        "configure",
                        "Configure an installed app",
                        form("Configure an app", CONFIGURE, vec![app_field()]),
                    ),
                    command(
                        "upgrade",
                        "Move an app to another version",
                        form(
                            "Change version",
                            UPGRADE,
                            vec![
                                app_field(),
                                Field {
                                    is_required: true,
                                    ..version
                                },
                                accept_field(),
                            ],
                        ),
                    ),
                    command(
                        "uninstall",
                        "Uninstall an app",
                        form("Uninstall an app", UNINSTALL, vec![app_field(), force]),
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    async fn call(&self, _command: &Command) -> Option<CallResponse> {
        None
    }

    async fn call_marketplace(
        &self,
        command: &Command,
        market: &Marketplace,
        tenant: &Tenant,
        base_url: &str,
    ) -> Option<CallResponse> {
        // `/ping` and the bindings call are the host's.
        let manages = ENDPOINTS.iter().any(|e| {
            matches!(e.route, AppRoute::Call(p) if p == command.path && p != "/ping" && p != "/bindings")
        });
        if !manages {
            return None;
        }
        if let Some(refusal) = refusal(command) {
            return Some(refusal);
        }
        Some(
            run(command, market, tenant, base_url)
                .await
                .unwrap_or_else(|e| error_answer(&e)),
        )
    }
}

/// Only a system admin may manage apps. Classic commands carry no roles, so they are refused.
fn refusal(command: &Command) -> Option<CallResponse> {
    if command.source != Source::AppsCall {
        return Some(CallResponse::error(
            "Manage apps with the Apps command `/marketplace`: a classic slash command does not say who is an admin.",
        ));
    }
    let admin = command
        .context
        .acting_user
        .as_ref()
        .is_some_and(|u| u.roles.split_whitespace().any(|r| r == "system_admin"));
    (!admin).then(|| CallResponse::error("Only system admins can manage apps."))
}

fn error_answer(e: &Error) -> CallResponse {
    match e {
        Error::Invalid { text, errors } => CallResponse::field_errors(text.clone(), errors.clone()),
        other => CallResponse::error(other.to_string()),
    }
}

fn field_error(field: &str, message: &str) -> CallResponse {
    let mut errors = Map::new();
    errors.insert(field.into(), message.into());
    CallResponse::field_errors(message, errors)
}

async fn run(
    command: &Command,
    market: &Marketplace,
    tenant: &Tenant,
    base: &str,
) -> Result<CallResponse, Error> {
    let app = command.text("app").unwrap_or_default().to_owned();
    match command.path.as_str() {
        LIST => {
            let query = ListQuery {
                q: command.text("query").map(str::to_owned),
                ..Default::default()
            };
            let mut text =
                String::from("| App | Types | Latest | Installed |\n|---|---|---|---|\n");
            for a in market.list(tenant, &query).await? {
                let installed = a
                    .installed
                    .map(|i| {
                        format!(
                            "{}{}",
                            i.version,
                            if i.enabled { "" } else { " (disabled)" }
                        )
                    })
                    .unwrap_or_else(|| "no".into());
                text.push_str(&format!(
                    "| **{}** `{}` | {} | {} | {installed} |\n",
                    a.display_name,
                    a.id,
                    a.types.join(", "),
                    a.latest_version.unwrap_or_else(|| "-".into())
                ));
            }
            Ok(CallResponse::ok(text))
        }
        INSTALL | UPGRADE => {
            let detail = market.get(tenant, &app).await?;
            let version = command
                .text("version")
                .map(str::to_owned)
                .or_else(|| detail.listing.latest().map(|v| v.version.clone()));
            let Some(target) = version.as_deref().and_then(|v| detail.listing.version(v)) else {
                return Ok(field_error("version", "Pick a listed version."));
            };
            if !command.flag("accept") {
                let asks = format!(
                    "{} {} asks for permissions {} and locations {}: accept them to continue.",
                    app,
                    target.version,
                    serde_json::to_string(&target.manifest.requested_permissions)
                        .unwrap_or_default(),
                    target.manifest.requested_locations.join(", ")
                );
                return Ok(field_error("accept", &asks));
            }
            let consent = Consent {
                permissions: target.manifest.requested_permissions.clone(),
                locations: target.manifest.requested_locations.clone(),
            };
            if command.path == INSTALL {
                let req = InstallRequest {
                    version: Some(target.version.clone()),
                    consent: Some(consent),
                    ..Default::default()
                };
                let done = market.install(tenant, &app, req, base).await?;
                Ok(CallResponse::ok(format!(
                    "Installed **{app}** {}. Give Mattermost these once; they are not shown again:\n- manifest: `{}`\n- JWT secret: `{}`\n- command token: `{}`\n{}",
                    done.version,
                    done.manifest_url,
                    done.jwt_secret,
                    done.command_token,
                    done.message
                )))
            } else {
                let current = detail.installed.map(|i| i.version).unwrap_or_default();
                let req = ChangeVersion {
                    version: target.version.clone(),
                    expected_version: current,
                    consent: Some(consent),
                };
                let changed = market.change_version(tenant, &app, req).await?;
                Ok(CallResponse::ok(format!(
                    "**{app}** moved from {} to {}. {}",
                    changed.previous_version, changed.install.version, changed.message
                )))
            }
        }
        CONFIGURE => {
            let mut form = market.config_form(tenant, &app).await?;
            // The app's form, submitted back here with the app's id as state.
            form.submit = Some(Call {
                state: Some(json!({ "app": app })),
                ..call(CONFIGURE_SUBMIT)
            });
            Ok(CallResponse::form(form))
        }
        CONFIGURE_SUBMIT => {
            let app = command
                .state
                .as_ref()
                .and_then(|s| s.get("app"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            market
                .configure(tenant, &app, command.values.clone())
                .await?;
            Ok(CallResponse::ok(format!(
                "Saved the configuration of **{app}**."
            )))
        }
        UNINSTALL => {
            let gone = market
                .uninstall(tenant, &app, command.flag("force"))
                .await?;
            Ok(CallResponse::ok(if gone.uninstalled {
                format!("Uninstalled **{app}**. {}", gone.message)
            } else {
                gone.message
            }))
        }
        _ => Err(Error::NotFound(format!(
            "no marketplace command {}",
            command.path
        ))),
    }
}
