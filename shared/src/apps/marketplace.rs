//! `marketplace`: the App Marketplace as commands inside Mattermost, so that a system admin can
//! list, install, configure, upgrade and uninstall apps in place, with forms, on web and mobile.

use serde_json::{Map, Value, json};

use super::{Answer, App, Endpoint, Handler, Services};
use crate::command::{Command, Source};
use crate::error::Error;
use crate::marketplace::service::{ChangeVersion, Consent, InstallRequest, ListQuery};
use crate::paths::AppRoute;
use crate::protocol::apps::{
    Binding, Call, CallResponse, Expand, Field, FieldType, Form, Manifest, Permission, location,
};

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
    Endpoint::ping("marketplace-app-ping"),
    Endpoint::bindings("marketplace-app-bindings"),
    Endpoint::call(LIST, "marketplace-app-list", Handler::Run(list)),
    Endpoint::call(INSTALL, "marketplace-app-install", Handler::Run(install)),
    Endpoint::call(UPGRADE, "marketplace-app-upgrade", Handler::Run(upgrade)),
    Endpoint::call(
        CONFIGURE,
        "marketplace-app-configure",
        Handler::Run(configure),
    ),
    Endpoint::call(
        CONFIGURE_SUBMIT,
        "marketplace-app-configure-submit",
        Handler::Run(configure_submit),
    ),
    Endpoint::call(
        UNINSTALL,
        "marketplace-app-uninstall",
        Handler::Run(uninstall),
    ),
];

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
}

/// Only a system admin may manage apps. Classic commands carry no roles, so they are refused.
fn admin_only(command: &Command) -> Result<(), Error> {
    if command.source != Source::AppsCall {
        return Err(Error::Forbidden(
            "Manage apps with the Apps command `/marketplace`: a classic slash command does not say who is an admin.".into(),
        ));
    }
    let admin = command
        .context
        .acting_user
        .as_ref()
        .is_some_and(|u| u.roles.split_whitespace().any(|r| r == "system_admin"));
    if admin {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "Only system admins can manage apps.".into(),
        ))
    }
}

fn field_error(field: &str, message: &str) -> Error {
    let mut errors = Map::new();
    errors.insert(field.into(), message.into());
    Error::Invalid {
        text: message.into(),
        errors,
    }
}

/// The `app` field of a command.
fn app_of(command: &Command) -> String {
    command.text("app").unwrap_or_default().to_owned()
}

fn list<'a>(command: &'a Command, s: &'a Services<'a>) -> Answer<'a> {
    Box::pin(async move {
        admin_only(command)?;
        let query = ListQuery {
            q: command.text("query").map(str::to_owned),
            ..Default::default()
        };
        let mut text = String::from("| App | Types | Latest | Installed |\n|---|---|---|---|\n");
        for a in s.marketplace.list(s.tenant, &query).await? {
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
    })
}

/// What an install or a version change asks for: the app, its installed version, the version
/// picked (default: the newest) and the consent to that version's permissions and locations.
struct Pick {
    app: String,
    installed: Option<String>,
    version: String,
    consent: Consent,
}

/// Reads a [`Pick`] from the command; a field error asks for what is missing.
async fn pick(command: &Command, s: &Services<'_>) -> Result<Pick, Error> {
    admin_only(command)?;
    let app = app_of(command);
    let detail = s.marketplace.get(s.tenant, &app).await?;
    let listing = &detail.listing;
    let version = command
        .text("version")
        .map(str::to_owned)
        .or_else(|| listing.latest().map(|v| v.version.clone()));
    let Some(target) = version.as_deref().and_then(|v| listing.version(v)) else {
        return Err(field_error("version", "Pick a listed version."));
    };
    if !command.flag("accept") {
        let asks = format!(
            "{} {} asks for permissions {} and locations {}: accept them to continue.",
            app,
            target.version,
            serde_json::to_string(&target.manifest.requested_permissions).unwrap_or_default(),
            target.manifest.requested_locations.join(", ")
        );
        return Err(field_error("accept", &asks));
    }
    Ok(Pick {
        consent: Consent {
            permissions: target.manifest.requested_permissions.clone(),
            locations: target.manifest.requested_locations.clone(),
        },
        version: target.version.clone(),
        installed: detail.installed.map(|i| i.version),
        app,
    })
}

fn install<'a>(command: &'a Command, s: &'a Services<'a>) -> Answer<'a> {
    Box::pin(async move {
        let Pick {
            app,
            version,
            consent,
            ..
        } = pick(command, s).await?;
        let base = s.base_url.ok_or_else(|| {
            Error::BadRequest("an install needs the URL Mattermost reaches this host at".into())
        })?;
        let req = InstallRequest {
            version: Some(version),
            consent: Some(consent),
            ..Default::default()
        };
        let done = s.marketplace.install(s.tenant, &app, req, base).await?;
        Ok(CallResponse::ok(format!(
            "Installed **{app}** {}. Give Mattermost these once; they are not shown again:\n- manifest: `{}`\n- JWT secret: `{}`\n- command token: `{}`\n{}",
            done.version, done.manifest_url, done.jwt_secret, done.command_token, done.message
        )))
    })
}

fn upgrade<'a>(command: &'a Command, s: &'a Services<'a>) -> Answer<'a> {
    Box::pin(async move {
        let pick = pick(command, s).await?;
        let req = ChangeVersion {
            version: pick.version,
            expected_version: pick.installed.unwrap_or_default(),
            consent: Some(pick.consent),
        };
        let changed = s
            .marketplace
            .change_version(s.tenant, &pick.app, req)
            .await?;
        Ok(CallResponse::ok(format!(
            "**{}** moved from {} to {}. {}",
            pick.app, changed.previous_version, changed.install.version, changed.message
        )))
    })
}

fn configure<'a>(command: &'a Command, s: &'a Services<'a>) -> Answer<'a> {
    Box::pin(async move {
        admin_only(command)?;
        let app = app_of(command);
        let mut form = s.marketplace.config_form(s.tenant, &app).await?;
        // The app's form, submitted back here with the app's id as state.
        form.submit = Some(Call {
            state: Some(json!({ "app": app })),
            ..call(CONFIGURE_SUBMIT)
        });
        Ok(CallResponse::form(form))
    })
}

fn configure_submit<'a>(command: &'a Command, s: &'a Services<'a>) -> Answer<'a> {
    Box::pin(async move {
        admin_only(command)?;
        let app = command
            .state
            .as_ref()
            .and_then(|s| s.get("app"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        s.marketplace
            .configure(s.tenant, &app, command.values.clone())
            .await?;
        Ok(CallResponse::ok(format!(
            "Saved the configuration of **{app}**."
        )))
    })
}

fn uninstall<'a>(command: &'a Command, s: &'a Services<'a>) -> Answer<'a> {
    Box::pin(async move {
        admin_only(command)?;
        let app = app_of(command);
        let gone = s
            .marketplace
            .uninstall(s.tenant, &app, command.flag("force"))
            .await?;
        Ok(CallResponse::ok(if gone.uninstalled {
            format!("Uninstalled **{app}**. {}", gone.message)
        } else {
            gone.message
        }))
    })
}
