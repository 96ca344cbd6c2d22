//! The apps area: the routes of one built-in app, under `/t/{tenant}/apps/<app>`. Each is
//! looked up (tenant, install, enabled), authenticated (the app JWT, the command token or the
//! signed call token of the kind of request), decoded into a [`Command`], dispatched to the
//! app, and its answer rendered in the wire format the request came in.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::MethodRouter;
use http::Method;

use super::method_filter;
use super::{
    Host, Incoming, InvokedForTenant, PathIds, Req, header_str, json, query,
    refusing_other_methods, require_content_type,
};
use crate::apps::{App, Handler, PING_PATH, Services};
use crate::auth::{self, CallToken};
use crate::command::{Command, render, slash};
use crate::error::Error;
use crate::functions;
use crate::marketplace::provisioner::tenant_alias;
use crate::mattermost::{NewPost, ServerVersion};
use crate::paths::{AppRoute, app_root};
use crate::protocol::apps::{
    AwsLambdaDeploy, AwsLambdaFunction, Binding, Call, CallRequest, CallResponse, FieldType, Form,
    HttpDeploy, Permission, ResponseType, location,
};
use crate::protocol::classic::{
    DIALOG_LOOKUP, Dialog, OpenDialogRequest, OutgoingWebhookResponse, PostActionIntegration,
    PostActionIntegrationRequest, SlashCommandRequest, SubmitDialogRequest,
};
use crate::store::{Install, Tenant};

/// How long a dialog opened for a command may take to be submitted.
pub(super) const DIALOG_TTL_SECONDS: u64 = 3600;

/// The query parameter of a dynamic select's `data_source_url` that holds its lookup's token.
const LOOKUP_PARAM: &str = "lookup";

/// The key of the signed call token in a post action's `integration.context`.
pub const ACTION_TOKEN_KEY: &str = "cloudapps_call";

/// What the handlers of one app's routes share, behind one `Arc` (a request clones a pointer).
struct AppArea {
    host: Host,
    app: Arc<dyn App>,
}

impl Host {
    /// The router for `routes` of the built-in app `app_id` (none when this host does not run
    /// it): every route for the local host, one for a function.
    pub fn apps_router(&self, app_id: &str, routes: &[AppRoute]) -> Router {
        let Some(app) = self.apps().get(app_id).cloned() else {
            return Router::new();
        };
        let area = AppArea {
            host: self.clone(),
            app,
        };
        routes
            .iter()
            .fold(Router::new(), |router, route| {
                let path = format!("{}{}", app_root("{tenant}", app_id), route.path());
                router.route(&path, method_router(*route))
            })
            .with_state(Arc::new(area))
    }
}

fn method_router(route: AppRoute) -> MethodRouter<Arc<AppArea>> {
    let handler = move |State(area): State<Arc<AppArea>>,
                        PathIds { tenant, .. }: PathIds,
                        Incoming(req): Incoming| async move {
        let answer = area.host.serve_app(&area.app, route, &tenant, &req).await;
        match (route, answer) {
            // Mattermost decodes any answer to an outgoing webhook as a post, whatever its
            // status: a refusal is a reply that says what went wrong.
            (AppRoute::OutgoingWebhook, Err(e)) => Ok(super::error_as_reply(e)),
            (_, answer) => answer,
        }
    };
    let router = route
        .methods()
        .iter()
        .fold(MethodRouter::new(), |router, method| {
            router.on(method_filter(method), handler.clone())
        });
    refusing_other_methods(router, route.methods().to_vec())
}

impl Host {
    async fn serve_app(
        &self,
        app: &Arc<dyn App>,
        route: AppRoute,
        tenant_id: &str,
        req: &Req,
    ) -> Result<Response, Error> {
        let app_id = app.id();
        let span = tracing::Span::current();
        span.record("app", app_id);
        span.record("command", route.path());
        if let Some(InvokedForTenant(t)) = req
            .extensions()
            .get::<InvokedForTenant>()
            .filter(|t| t.0 != tenant_id)
        {
            return Err(Error::Forbidden(format!(
                "this function alias belongs to tenant {t}, not {tenant_id}"
            )));
        }
        let (tenant, install) = self.enabled_install(tenant_id, app_id).await?;
        let ctx = Ctx {
            req,
            app_id,
            path: route.path(),
            app: app.as_ref(),
            tenant: &tenant,
            install: &install,
        };
        match route {
            AppRoute::Manifest => self.manifest(&ctx).await,
            AppRoute::Call(_) => self.apps_call(&ctx).await,
            AppRoute::SlashCommand => self.slash_command(&ctx).await,
            AppRoute::PostAction => self.post_action(&ctx).await,
            AppRoute::Dialog => self.dialog(&ctx).await,
            AppRoute::OutgoingWebhook => self.outgoing_webhook(&ctx).await,
        }
    }

    /// The manifest of the installed version (from the catalog), with this tenant's root URL.
    async fn manifest(&self, ctx: &Ctx<'_>) -> Result<Response, Error> {
        let listed = self.state().listing(&ctx.app_id).await?;
        let mut manifest = listed
            .and_then(|l| l.version(&ctx.install.version).map(|v| v.manifest.clone()))
            .unwrap_or_else(|| ctx.app.manifest());
        manifest.http = Some(HttpDeploy {
            root_url: ctx.root_url(self),
            use_jwt: true,
        });
        // The plugin invokes `<app>_<version>_<name>`; the tenant's alias rides in the name
        // (`send:t-acme`), which Lambda reads as function and qualifier.
        let alias = tenant_alias(&ctx.tenant.id);
        let functions = ctx
            .app
            .endpoints()
            .iter()
            .filter_map(|e| functions::of_endpoint(ctx.app.id(), e))
            .filter_map(|f| {
                Some(AwsLambdaFunction {
                    path: f.call_path()?.into(),
                    name: format!("{}:{alias}", f.manifest_name()?),
                    handler: "bootstrap".into(),
                    runtime: "provided.al2023".into(),
                })
            })
            .collect();
        manifest.aws_lambda = Some(AwsLambdaDeploy { functions });
        Ok(json(200, &manifest))
    }

    /// An Apps call. Once authenticated, a refusal is answered with 200 and an error
    /// CallResponse, as Mattermost reads one; authentication failures stay 401 (403 for a
    /// call from another Mattermost), an unknown path 404, and a failure of this host or what it depends on keeps its 5xx. So does any
    /// refusal of a notification, which the fan-out reads by status to retry or dead-letter.
    async fn apps_call(&self, ctx: &Ctx<'_>) -> Result<Response, Error> {
        require_content_type(ctx.req, "application/json")?;
        let claims = authenticate_call(ctx)?;
        let call: Result<CallRequest, Error> = if ctx.req.body().is_empty() {
            Ok(CallRequest::default())
        } else {
            serde_json::from_slice(ctx.req.body()).map_err(|e| {
                Error::BadRequest(format!("the body is not an Apps call request: {e}"))
            })
        };
        // A call from another Mattermost is refused as one, like a bad JWT.
        if let Ok(c) = &call {
            check_site(&ctx.path, &c.context.mattermost_site_url, ctx.tenant)?;
        }
        let notification = call.as_ref().is_ok_and(|c| c.context.subject.is_some());
        match self.authenticated_call(ctx, claims, call).await {
            Ok(answer) => Ok(json(200, &answer)),
            Err(e @ (Error::Unauthorized(_) | Error::NotFound(_))) => Err(e),
            Err(e) if notification || e.status() >= 500 => Err(e),
            Err(e) => Ok(super::error_call_response(e)),
        }
    }

    async fn authenticated_call(
        &self,
        ctx: &Ctx<'_>,
        claims: Option<auth::AppClaims>,
        call: Result<CallRequest, Error>,
    ) -> Result<CallResponse, Error> {
        let call = call?;
        let wants_user_token = call
            .expand
            .as_ref()
            .is_some_and(|e| !e.acting_user_access_token.is_empty())
            || !call.context.acting_user_access_token.is_empty();
        if wants_user_token
            && !ctx
                .install
                .granted_permissions
                .contains(&Permission::ActAsUser)
        {
            return Err(Error::Forbidden(format!(
                "`{}` was not granted act_as_user for tenant `{}`, so it may not receive user tokens",
                ctx.app_id, ctx.tenant.id
            )));
        }
        let mut command = Command::from_call(&ctx.path, call);
        if let Some(claims) = claims.filter(|c| !c.acting_user_id.is_empty()) {
            let in_context = command.context.acting_user_id();
            if !in_context.is_empty() && in_context != claims.acting_user_id {
                return Err(Error::Unauthorized(
                    "the JWT was issued for another acting user".into(),
                ));
            }
            if in_context.is_empty() {
                command.context.user_id = claims.acting_user_id;
            }
        }
        self.dispatch(ctx, command).await
    }

    async fn slash_command(&self, ctx: &Ctx<'_>) -> Result<Response, Error> {
        let form: &[u8] = if ctx.req.method() == Method::GET {
            query(ctx.req).as_bytes()
        } else {
            require_content_type(ctx.req, "application/x-www-form-urlencoded")?;
            ctx.req.body()
        };
        let req: SlashCommandRequest = serde_html_form::from_bytes(form)
            .map_err(|e| Error::BadRequest(format!("the body is not a slash command form: {e}")))?;
        let header_token = header_str(ctx.req, "authorization")
            .and_then(|h| h.strip_prefix("Token "))
            .map(str::trim);
        let token = Some(req.token.as_str())
            .filter(|t| !t.is_empty())
            .or(header_token);
        ctx.install
            .accepts_command_token(token)
            .map_err(|e| Error::Unauthorized(e.to_string()))?;

        let commands = command_bindings(ctx.app, ctx.install);
        let answer = match slash::decode(&req, &commands) {
            Ok(command) => self.dispatch(ctx, command).await?,
            Err(answer) => answer,
        };
        let answer = self
            .present_form(ctx, answer, &req.user_id, &req.trigger_id)
            .await;
        Ok(json(200, &render::slash(&answer)))
    }

    /// A message that starts with a trigger word: the rest of it is run as that command, and
    /// the answer is posted as a reply.
    async fn outgoing_webhook(&self, ctx: &Ctx<'_>) -> Result<Response, Error> {
        let (hook, _) = super::events::outgoing_webhook_body(ctx.req)?;
        ctx.install
            .accepts_command_token(Some(hook.token.as_str()))
            .map_err(|e| Error::Unauthorized(e.to_string()))?;
        let text = hook.text.trim_start();
        let rest = text
            .get(hook.trigger_word.len()..)
            .filter(|_| !hook.trigger_word.is_empty() && text.starts_with(&hook.trigger_word));
        let req = SlashCommandRequest {
            command: format!("/{}", hook.trigger_word),
            text: rest.unwrap_or(text).trim().to_owned(),
            team_id: hook.team_id,
            team_domain: hook.team_domain,
            channel_id: hook.channel_id,
            channel_name: hook.channel_name,
            user_id: hook.user_id,
            user_name: hook.user_name,
            root_id: hook.post_id,
            ..Default::default()
        };
        let answer = match slash::decode(&req, &command_bindings(ctx.app, ctx.install)) {
            Ok(command) => self.dispatch(ctx, command).await?,
            Err(answer) => answer,
        };
        let reply = render::slash(&answer);
        Ok(json(
            200,
            &OutgoingWebhookResponse {
                text: reply.text,
                response_type: "comment".into(),
                attachments: reply.attachments,
            },
        ))
    }

    async fn post_action(&self, ctx: &Ctx<'_>) -> Result<Response, Error> {
        require_content_type(ctx.req, "application/json")?;
        let req: PostActionIntegrationRequest =
            serde_json::from_slice(ctx.req.body()).map_err(|e| {
                Error::BadRequest(format!("the body is not a post action request: {e}"))
            })?;
        let token = req.context.get(ACTION_TOKEN_KEY).and_then(|v| v.as_str()).ok_or_else(|| {
            Error::Unauthorized(format!("the action's context has no `{ACTION_TOKEN_KEY}` token; create actions with this host's action URL"))
        })?;
        let call = verify_call(ctx, token, &req.user_id, false)?;
        let (user_id, trigger_id) = (req.user_id.clone(), req.trigger_id.clone());
        let answer = self
            .dispatch(ctx, Command::from_post_action(&call.path, call.state, req))
            .await?;
        let answer = self.present_form(ctx, answer, &user_id, &trigger_id).await;
        Ok(json(200, &render::post_action(&answer)))
    }

    async fn dialog(&self, ctx: &Ctx<'_>) -> Result<Response, Error> {
        require_content_type(ctx.req, "application/json")?;
        let req: SubmitDialogRequest = serde_json::from_slice(ctx.req.body())
            .map_err(|e| Error::BadRequest(format!("the body is not a dialog submission: {e}")))?;
        if req.kind == DIALOG_LOOKUP {
            return self.dialog_lookup(ctx, req).await;
        }
        let call = verify_call(ctx, &req.state, &req.user_id, false)?;
        if req.cancelled {
            return Ok(json(200, &serde_json::json!({})));
        }
        let (user_id, channel_id) = (req.user_id.clone(), req.channel_id.clone());
        let answer = self
            .dispatch(ctx, Command::from_dialog(&call.path, call.state, req))
            .await?;
        let next = match (&answer.kind, &answer.form) {
            (ResponseType::Form, Some(form)) => Some(self.form_dialog(ctx, form, &user_id).await),
            _ => None,
        };
        if let Some(notice) = render::dialog_notice(&answer) {
            self.tell(ctx, &user_id, &channel_id, notice).await;
        }
        Ok(json(200, &render::dialog(&answer, next)))
    }

    /// A dynamic select's lookup (`type: dialog_lookup`), which Mattermost sends to the
    /// `data_source_url` this host gave the select: the call token in its query names the
    /// lookup call, for the user the dialog was opened for. The answer is the app's items; one
    /// that has none (an error included) is an empty list, since Mattermost reads only a 200.
    async fn dialog_lookup(
        &self,
        ctx: &Ctx<'_>,
        req: SubmitDialogRequest,
    ) -> Result<Response, Error> {
        #[derive(serde::Deserialize)]
        struct Lookup {
            #[serde(rename = "lookup")]
            token: String,
        }
        let Lookup { token } = serde_html_form::from_str(query(ctx.req)).map_err(|_| {
            Error::Unauthorized(format!(
                "a dialog lookup needs the `{LOOKUP_PARAM}` token of the select's data_source_url"
            ))
        })?;
        let call = verify_call(ctx, &token, &req.user_id, true)?;
        let answer = self
            .dispatch(
                ctx,
                Command::from_dialog_lookup(&call.path, call.state, req),
            )
            .await?;
        if answer.kind != ResponseType::Ok {
            tracing::info!(app = ctx.app_id, path = %call.path, kind = ?answer.kind, "a lookup answered no items");
        }
        Ok(json(200, &render::lookup(&answer)))
    }

    /// The dialog for `form`, opened for `user_id`, with dynamic selects where the tenant's
    /// server has them.
    async fn form_dialog(&self, ctx: &Ctx<'_>, form: &Form, user_id: &str) -> Dialog {
        let has_lookups = form
            .fields
            .iter()
            .any(|f| f.kind == FieldType::DynamicSelect && f.lookup.is_some());
        let dynamic = match self.mattermost() {
            Some(mm) if has_lookups => mm
                .server_version(&ctx.tenant.site_url)
                .await
                .is_some_and(ServerVersion::has_dynamic_dialog_selects),
            _ => false,
        };
        let dialog_url = format!("{}{}", ctx.root_url(self), AppRoute::Dialog.path());
        let lookup_url = |lookup: &Call| {
            dynamic.then(|| {
                format!(
                    "{dialog_url}?{LOOKUP_PARAM}={}",
                    call_token(ctx, lookup, user_id, true)
                )
            })
        };
        let submit = form.submit.clone().unwrap_or_default();
        render::form_to_dialog(form, call_token(ctx, &submit, user_id, false), &lookup_url)
    }

    /// Shows `message` to one user in a channel, as an ephemeral post of the install's bot:
    /// what a closing dialog cannot say itself. Without a bot token, a channel or a client to
    /// post with, the message is logged as lost rather than failing what already happened.
    async fn tell(&self, ctx: &Ctx<'_>, user_id: &str, channel_id: &str, message: String) {
        let lost = |why: &str| {
            tracing::warn!(
                app = ctx.app_id,
                why,
                "a dialog answer's text was not shown"
            );
        };
        let bot_token = ctx.install.bot_access_token.expose();
        if bot_token.is_empty() {
            return lost("the install has no bot token to post it with");
        }
        if channel_id.is_empty() || ctx.tenant.site_url.is_empty() {
            return lost("the submission names no channel, or the tenant no site");
        }
        let Some(mm) = self.mattermost() else {
            return lost("this function has no Mattermost client");
        };
        let post = NewPost {
            channel_id: channel_id.to_owned(),
            message,
            root_id: String::new(),
        };
        if let Err(e) = mm
            .create_ephemeral_post(&ctx.tenant.site_url, bot_token, user_id, &post)
            .await
        {
            lost(&e.to_string());
        }
    }

    /// Runs a command through the handler the app bound to its path; `/ping`, the bindings
    /// call and the posting of a notification are the host's.
    async fn dispatch(&self, ctx: &Ctx<'_>, mut command: Command) -> Result<CallResponse, Error> {
        command.bind_install(ctx.tenant, ctx.install);
        let no_handler = || {
            Error::NotFound(format!(
                "app `{}` has no call path {}",
                ctx.app_id, command.path
            ))
        };
        let handler = ctx.app.handler(&command.path).ok_or_else(no_handler)?;
        match handler {
            Handler::Ping => return Ok(CallResponse::ok("PONG")),
            Handler::Bindings => {
                let bindings = granted_bindings(ctx.app.bindings(), ctx.install);
                return Ok(CallResponse::ok_data(
                    serde_json::to_value(bindings).unwrap_or_default(),
                ));
            }
            Handler::Notify(notify) => return self.notify(&command, notify).await,
            Handler::Host | Handler::Reply(_) | Handler::Run(_) => {}
        }
        let base = self.base_url(ctx.req);
        let services = Services {
            tenant: ctx.tenant,
            marketplace: &self.marketplace,
            base_url: Some(&base),
        };
        handler
            .answer(&command, &services)
            .await
            .ok_or_else(no_handler)
    }

    /// Answers a post-event notification: the post the app's handler makes of it, posted as
    /// the install's bot. An app's own bot's activity is never news to it (no loops).
    async fn notify(
        &self,
        command: &Command,
        notify: fn(&Command) -> Option<NewPost>,
    ) -> Result<CallResponse, Error> {
        let ctx = &command.context;
        if ctx.subject.is_none() {
            return Err(Error::BadRequest(format!(
                "{} answers post-event notifications only (a call with context.subject)",
                command.path
            )));
        }
        let subject_user = ctx.user.as_ref().map(|u| u.id.as_str()).unwrap_or_default();
        if !ctx.bot_user_id.is_empty() && subject_user == ctx.bot_user_id {
            return Ok(CallResponse::ok(""));
        }
        let Some(post) =
            notify(command).filter(|p| !p.message.is_empty() && !p.channel_id.is_empty())
        else {
            return Ok(CallResponse::ok(""));
        };
        // What the caller left out is its to fix, before what this host lacks.
        if ctx.bot_access_token.is_empty() || ctx.mattermost_site_url.is_empty() {
            return Err(Error::Forbidden(format!(
                "{} needs the install's bot token and the tenant's site URL to post",
                ctx.app_id
            )));
        }
        let mattermost = self.mattermost().ok_or_else(|| {
            Error::Dependency("this function has no Mattermost client to post with".into())
        })?;
        mattermost
            .create_post(&ctx.mattermost_site_url, &ctx.bot_access_token, &post)
            .await
            .map(|()| CallResponse::ok("posted"))
            .map_err(|e| Error::Dependency(e.to_string()))
    }

    /// A form answered to a classic request opens as a dialog when Mattermost can be reached
    /// with the install's bot token; otherwise it is described as text.
    async fn present_form(
        &self,
        ctx: &Ctx<'_>,
        answer: CallResponse,
        user_id: &str,
        trigger_id: &str,
    ) -> CallResponse {
        let (Some(form), Some(mm)) = (
            answer
                .form
                .as_ref()
                .filter(|_| answer.kind == ResponseType::Form),
            self.mattermost(),
        ) else {
            return answer;
        };
        if trigger_id.is_empty()
            || ctx.install.bot_access_token.is_empty()
            || ctx.tenant.site_url.is_empty()
        {
            return answer;
        }
        let open = OpenDialogRequest {
            trigger_id: trigger_id.to_owned(),
            url: format!("{}{}", ctx.root_url(self), AppRoute::Dialog.path()),
            dialog: self.form_dialog(ctx, form, user_id).await,
        };
        match mm
            .open_dialog(
                &ctx.tenant.site_url,
                ctx.install.bot_access_token.expose(),
                &open,
            )
            .await
        {
            Ok(()) => CallResponse::ok(""),
            Err(e) => {
                tracing::warn!(error = %e, "could not open a dialog; answering with text");
                answer
            }
        }
    }

    /// The tenant and its install of the app, which must be enabled.
    pub(super) async fn enabled_install(
        &self,
        tenant_id: &str,
        app_id: &str,
    ) -> Result<(Tenant, Install), Error> {
        let (tenant, install) = self.state().tenant_and_install(tenant_id, app_id).await?;
        // An unknown tenant is answered like an app it has not installed, so these routes do
        // not tell who is a tenant here.
        let not_installed = || {
            Error::NotFound(format!(
                "app `{}` is not installed for tenant `{}`",
                app_id, tenant_id
            ))
        };
        let tenant = tenant.ok_or_else(not_installed)?;
        let install = install.ok_or_else(not_installed)?;
        if !install.enabled {
            return Err(Error::Forbidden(format!(
                "app `{}` is disabled for tenant `{}`",
                app_id, tenant_id
            )));
        }
        Ok((tenant, install))
    }
}

/// The integration a post action needs so that clicks reach `path` of this install:
/// the action URL and a signed call token in its context.
pub fn action_integration(
    base_url: &str,
    install: &Install,
    path: &str,
    state: Option<serde_json::Value>,
) -> PostActionIntegration {
    let token = CallToken {
        path: path.to_owned(),
        state,
        ..Default::default()
    };
    let mut context = serde_json::Map::new();
    context.insert(
        ACTION_TOKEN_KEY.into(),
        auth::sign_call_token(&token, install.jwt_secret.expose()).into(),
    );
    PostActionIntegration {
        url: format!(
            "{base_url}{}{}",
            app_root(&install.tenant_id, &install.app_id),
            AppRoute::PostAction.path()
        ),
        context,
    }
}

/// What one request is about, once routed and looked up.
struct Ctx<'a> {
    req: &'a Req,
    app_id: &'a str,
    /// The call path, or the fixed path of the route.
    path: &'a str,
    app: &'a dyn App,
    tenant: &'a Tenant,
    install: &'a Install,
}

impl Ctx<'_> {
    fn root_url(&self, host: &Host) -> String {
        format!(
            "{}{}",
            host.base_url(self.req),
            app_root(&self.tenant.id, self.app_id)
        )
    }
}

/// A call must come from the tenant's own Mattermost: one from another site is refused, and so
/// is one that names no site, except the install ping (the Apps plugin sends it with an empty
/// context, `server/proxy/invoke_static.go`), which only answers PONG.
pub(super) fn check_site(path: &str, site: &str, tenant: &Tenant) -> Result<(), Error> {
    let site = site.trim_end_matches('/');
    if site.is_empty() {
        return if path == PING_PATH {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "the call names no Mattermost site (context.mattermost_site_url); only the tenant's own Mattermost may call".into(),
            ))
        };
    }
    if site != tenant.site_url.trim_end_matches('/') {
        return Err(Error::Forbidden(format!(
            "this call comes from {site}, but tenant `{}` is registered for {}",
            tenant.id, tenant.site_url
        )));
    }
    Ok(())
}

/// Checks a dialog's or post action's call token and that the right user is submitting it.
fn verify_call(
    ctx: &Ctx<'_>,
    token: &str,
    user_id: &str,
    lookup: bool,
) -> Result<CallToken, Error> {
    let call = auth::verify_call_token(token, ctx.install.jwt_secret.expose()).map_err(|e| {
        Error::Unauthorized(format!("the call token is not valid for this install: {e}"))
    })?;
    if call.lookup != lookup {
        return Err(Error::Unauthorized(if lookup {
            "the token is not a lookup's; use the select's data_source_url".into()
        } else {
            "a lookup's token cannot submit".into()
        }));
    }
    if !call.user_id.is_empty() && call.user_id != user_id {
        return Err(Error::Forbidden(
            "this dialog was opened for another user".into(),
        ));
    }
    Ok(call)
}

/// The token that binds what a dialog sends back (its submission, or a select's `lookup`) to
/// `call`, for `user_id`, while the dialog may be open.
fn call_token(ctx: &Ctx<'_>, call: &Call, user_id: &str, lookup: bool) -> String {
    let token = CallToken {
        path: call.path.clone(),
        user_id: user_id.to_owned(),
        exp: Some(auth::now() + DIALOG_TTL_SECONDS),
        state: call.state.clone(),
        lookup,
    };
    auth::sign_call_token(&token, ctx.install.jwt_secret.expose())
}

/// The app's bindings minus every top-level location the install was not granted.
fn granted_bindings(bindings: Vec<Binding>, install: &Install) -> Vec<Binding> {
    bindings
        .into_iter()
        .filter(|b| install.location_granted(&b.location))
        .collect()
}

/// The command bindings a slash command walks (empty when `/command` was not granted).
fn command_bindings(app: &dyn App, install: &Install) -> Vec<Binding> {
    granted_bindings(app.bindings(), install)
        .into_iter()
        .filter(|b| b.location == location::COMMAND)
        .flat_map(|b| b.bindings)
        .collect()
}

/// The app JWT of an Apps call, checked. `None` when no JWT came with a direct invoke of the
/// tenant's alias that only the tenant's registered principal may invoke: IAM authenticated
/// it. A JWT, when sent, is always checked.
fn authenticate_call(ctx: &Ctx<'_>) -> Result<Option<auth::AppClaims>, Error> {
    let header = header_str(ctx.req, auth::APP_AUTH_HEADER);
    let iam_checked = ctx.req.extensions().get::<InvokedForTenant>().is_some()
        && ctx.tenant.aws_principal.is_some();
    if iam_checked && header.is_none() {
        return Ok(None);
    }
    auth::verify_app_jwt(header, ctx.install.jwt_secret.expose())
        .map(Some)
        .map_err(|e| Error::Unauthorized(e.to_string()))
}
