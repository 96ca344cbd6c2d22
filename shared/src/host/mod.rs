//! The request pipeline every function and the local host share: route, look up the tenant and
//! install, authenticate, decode into a [`Command`], dispatch to the app, render the answer.
//! Transports (the Lambda adapter, the local HTTP server) only convert to and from
//! [`Inbound`] and [`Outbound`].

pub mod events;
pub mod functions;
pub mod route;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde::Serialize;
use tracing::Instrument;

use crate::apps::{App, BuiltinApps};
use crate::auth::{self, CallToken};
use crate::command::{Command, render, slash};
use crate::error::Error;
use crate::events::queue::EventQueue;
use crate::limits::{EventRate, Limits};
use crate::marketplace::Marketplace;
use crate::marketplace::provisioner::{EmbeddedProvisioner, Provisioner};
use crate::marketplace::routes::{self as market_routes, Op};
use crate::marketplace::service::{ListQuery, RegisterTenant};
use crate::mattermost::Mattermost;
use crate::outbound::PrivateNetworks;
use crate::protocol::apps::Permission;
use crate::protocol::apps::{
    AwsLambdaDeploy, AwsLambdaFunction, Binding, CallRequest, CallResponse, Form, HttpDeploy,
    ResponseType, location,
};
use crate::protocol::classic::OutgoingWebhookResponse;
use crate::protocol::classic::{
    OpenDialogRequest, PostActionIntegration, PostActionIntegrationRequest, SlashCommandRequest,
    SubmitDialogRequest,
};
use crate::store::{Install, InstallState, Tenant};
pub use functions::{FUNCTIONS, Function};
use route::{Kind, Route, app_root};

/// Bodies larger than this are refused before they are parsed.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long a dialog opened for a command may take to be submitted.
const DIALOG_TTL_SECONDS: u64 = 3600;

/// The key of the signed call token in a post action's `integration.context`.
pub const ACTION_TOKEN_KEY: &str = "cloudapps_call";

/// A request, whatever transport it came by.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Set when the request came by direct `lambda:Invoke` of a tenant's function alias: IAM
    /// already authenticated the caller for this tenant, so an app JWT is optional.
    pub invoked_for_tenant: Option<String>,
    pub request_id: String,
}

impl Inbound {
    pub fn new(method: Method, path: impl Into<String>, headers: HeaderMap, body: Bytes) -> Self {
        let path = path.into();
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (path, String::new()),
        };
        Inbound {
            method,
            path,
            query,
            headers,
            body,
            invoked_for_tenant: None,
            request_id: String::new(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A response: always JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    pub status: u16,
    pub body: Vec<u8>,
    /// Seconds for a `Retry-After` header: when a limit was hit, how long to wait.
    pub retry_after: Option<u64>,
}

impl Outbound {
    pub const CONTENT_TYPE: &'static str = "application/json";

    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Outbound {
                status,
                body,
                retry_after: None,
            },
            Err(e) => Outbound {
                status: 500,
                retry_after: None,
                body: format!(
                    r#"{{"type":"error","code":"internal","text":"cannot encode the answer: {e}"}}"#
                )
                .into_bytes(),
            },
        }
    }

    pub fn error(e: &Error) -> Self {
        Outbound {
            retry_after: e.retry_after_seconds(),
            ..Self::json(e.status(), &e.body())
        }
    }
}

/// Everything a request needs, built once per process.
#[derive(Clone)]
pub struct Host {
    state: InstallState,
    apps: BuiltinApps,
    /// The URL Mattermost reaches this host at; derived from each request when unset.
    public_url: Option<String>,
    /// Set for a Lambda function: the one route it serves.
    only: Option<&'static Function>,
    mattermost: Option<Arc<dyn Mattermost>>,
    marketplace: Marketplace,
    /// Where accepted events wait for fan-out.
    queue: Option<Arc<dyn EventQueue>>,
    /// Events per second per tenant.
    event_rate: EventRate,
}

impl Host {
    /// A host over `state`, provisioning tenants with the embedded adapter.
    pub fn new(state: InstallState, apps: BuiltinApps) -> Self {
        let provisioner = Arc::new(EmbeddedProvisioner::new(state.clone()));
        let marketplace = Marketplace::new(state.clone(), apps.clone(), provisioner);
        Host {
            state,
            apps,
            public_url: None,
            only: None,
            mattermost: None,
            marketplace,
            queue: None,
            event_rate: EventRate::new(Limits::default().events_per_second),
        }
    }

    /// Holds every tenant to `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.marketplace = self.marketplace.with_limits(limits);
        self.event_rate = EventRate::new(limits.events_per_second);
        self
    }

    /// Provisions tenants with `provisioner` (the Lambda adapter in AWS).
    pub fn with_provisioner(mut self, provisioner: Arc<dyn Provisioner>) -> Self {
        self.marketplace = self.marketplace.with_provisioner(provisioner);
        self
    }

    /// Lets holders of the operator credential with this SHA-256 register tenants.
    pub fn with_operator_token_hash(mut self, hash: Option<String>) -> Self {
        self.marketplace = self.marketplace.with_operator_token_hash(hash);
        self
    }

    /// Accepts events onto `queue`.
    pub fn with_queue(mut self, queue: Arc<dyn EventQueue>) -> Self {
        self.queue = Some(queue);
        self
    }

    pub fn marketplace(&self) -> &Marketplace {
        &self.marketplace
    }

    pub fn with_public_url(mut self, url: Option<String>) -> Self {
        self.public_url = url
            .map(|u| u.trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty());
        self
    }

    /// Restricts the host to the route of one Lambda function.
    pub fn only(mut self, function: &'static Function) -> Self {
        self.only = Some(function);
        self
    }

    /// Lets tenants register a Mattermost on a private network; give the outbound clients the
    /// same setting.
    pub fn with_private_networks(mut self, private_networks: PrivateNetworks) -> Self {
        self.marketplace = self.marketplace.with_private_networks(private_networks);
        self
    }

    /// The Mattermost REST client classic commands open dialogs with.
    pub fn with_mattermost(mut self, client: Arc<dyn Mattermost>) -> Self {
        self.marketplace = self.marketplace.with_mattermost(client.clone());
        self.mattermost = Some(client);
        self
    }

    pub fn state(&self) -> &InstallState {
        &self.state
    }

    pub fn apps(&self) -> &BuiltinApps {
        &self.apps
    }

    /// Answers one request. Never fails: errors become JSON 4xx (or 503 when the store is down).
    pub async fn handle(&self, req: Inbound) -> Outbound {
        let span = tracing::info_span!(
            "request",
            request_id = %req.request_id,
            tenant = tracing::field::Empty,
            app = tracing::field::Empty,
            command = tracing::field::Empty,
        );
        async move {
            match self.serve(req).await {
                Ok(out) => {
                    tracing::debug!(status = out.status, "answered");
                    out
                }
                Err(e) => {
                    if e.status() >= 500 {
                        tracing::error!(status = e.status(), code = e.code(), error = %e, cause = ?std::error::Error::source(&e), "failed");
                    } else {
                        tracing::info!(status = e.status(), code = e.code(), error = %e, "refused");
                    }
                    Outbound::error(&e)
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn serve(&self, req: Inbound) -> Result<Outbound, Error> {
        if req.body.len() > MAX_BODY_BYTES {
            return Err(Error::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        if req.path.starts_with("/events/") {
            return self.serve_events(&req).await;
        }
        if req.path == "/marketplace" || req.path.starts_with("/marketplace/") {
            return self.serve_marketplace(&req).await;
        }
        let route = route::parse(&req.path)?;
        let span = tracing::Span::current();
        span.record("tenant", route.tenant.as_str());
        span.record("app", route.app.as_str());
        span.record("command", route.path.as_str());
        if let Some(f) = self.only.filter(|f| !f.serves_app(&route)) {
            return Err(f.wrong_route());
        }
        if let Some(t) = req
            .invoked_for_tenant
            .as_ref()
            .filter(|t| **t != route.tenant)
        {
            return Err(Error::Forbidden(format!(
                "this function alias belongs to tenant {t}, not {}",
                route.tenant
            )));
        }
        let allowed = route.kind.method();
        let method_ok = req.method.as_str() == allowed
            || (route.kind == Kind::SlashCommand && req.method == Method::GET);
        if !method_ok {
            return Err(Error::MethodNotAllowed {
                method: req.method.to_string(),
                allowed,
            });
        }
        if route.kind.is_events() {
            return self.serve_app_events(&req, &route).await;
        }
        let app = self
            .apps
            .get(&route.app)
            .ok_or_else(|| Error::NotFound(format!("this host runs no app `{}`", route.app)))?;
        let (tenant, install) = self.enabled_install(&route).await?;
        let ctx = Ctx {
            req: &req,
            route: &route,
            app: app.as_ref(),
            tenant: &tenant,
            install: &install,
        };
        match route.kind {
            Kind::Manifest => self.manifest(&ctx).await,
            Kind::Call => self.apps_call(&ctx).await,
            Kind::SlashCommand => self.slash_command(&ctx).await,
            Kind::PostAction => self.post_action(&ctx).await,
            Kind::Dialog => self.dialog(&ctx).await,
            Kind::OutgoingWebhook => self.outgoing_webhook(&ctx).await,
            _ => Err(Error::NotFound(format!("no route for {}", req.path))),
        }
    }

    /// The route's tenant and its install of the route's app, which must be enabled.
    async fn enabled_install(&self, route: &Route) -> Result<(Tenant, Install), Error> {
        let (tenant, install) = self
            .state
            .tenant_and_install(&route.tenant, &route.app)
            .await?;
        // An unknown tenant is answered like an app it has not installed, so these routes do
        // not tell who is a tenant here.
        let not_installed = || {
            Error::NotFound(format!(
                "app `{}` is not installed for tenant `{}`",
                route.app, route.tenant
            ))
        };
        let tenant = tenant.ok_or_else(not_installed)?;
        let install = install.ok_or_else(not_installed)?;
        if !install.enabled {
            return Err(Error::Forbidden(format!(
                "app `{}` is disabled for tenant `{}`",
                route.app, route.tenant
            )));
        }
        Ok((tenant, install))
    }

    /// A marketplace operation: operator or tenant-admin auth, JSON in and out.
    async fn serve_marketplace(&self, req: &Inbound) -> Result<Outbound, Error> {
        let route = market_routes::parse(req.method.as_str(), &req.path)?;
        let span = tracing::Span::current();
        span.record("tenant", route.tenant.as_str());
        span.record("app", route.app.as_str());
        span.record("command", format!("{:?}", route.op).as_str());
        if let Some(f) = self.only.filter(|f| !f.serves_marketplace(route.op)) {
            return Err(f.wrong_route());
        }
        let m = &self.marketplace;
        let base = self.base_url(req);
        let bearer = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim);
        if route.op == Op::RegisterTenant {
            m.authorize_operator(bearer)?;
            let req: RegisterTenant = json_body(req, "tenant registration")?;
            return Ok(Outbound::json(201, &m.create_tenant(&req, &base).await?));
        }
        let tenant = m.authorize_admin(&route.tenant, bearer).await?;
        let app = route.app.as_str();
        Ok(match route.op {
            Op::RegisterTenant => unreachable_route(),
            Op::List => {
                let query: ListQuery = serde_html_form::from_str(&req.query).map_err(|e| {
                    Error::BadRequest(format!(
                        "bad query: {e}; use q, type, category and installed=true|false"
                    ))
                })?;
                Outbound::json(
                    200,
                    &serde_json::json!({ "apps": m.list(&tenant, &query).await? }),
                )
            }
            Op::Get => Outbound::json(200, &m.get(&tenant, app).await?),
            Op::Install => {
                let install = json_body_or_default(req, "install request")?;
                Outbound::json(201, &m.install(&tenant, app, install, &base).await?)
            }
            Op::ChangeVersion => Outbound::json(
                200,
                &m.change_version(&tenant, app, json_body(req, "version change")?)
                    .await?,
            ),
            Op::ConfigForm => {
                Outbound::json(200, &CallResponse::form(m.config_form(&tenant, app).await?))
            }
            Op::Configure => {
                let body: ConfigureRequest = json_body(req, "configuration")?;
                Outbound::json(200, &m.configure(&tenant, app, body.values).await?)
            }
            Op::Enable => Outbound::json(200, &m.set_enabled(&tenant, app, true).await?),
            Op::Disable => Outbound::json(200, &m.set_enabled(&tenant, app, false).await?),
            Op::Rotate => {
                let rotate = json_body_or_default(req, "rotate request")?;
                Outbound::json(200, &m.rotate(&tenant, app, rotate).await?)
            }
            Op::Uninstall => {
                let force = req
                    .query
                    .split('&')
                    .any(|kv| kv == "force=true" || kv == "force=1");
                Outbound::json(200, &m.uninstall(&tenant, app, force).await?)
            }
        })
    }

    /// The manifest of the installed version (from the catalog), with this tenant's root URL.
    async fn manifest(&self, ctx: &Ctx<'_>) -> Result<Outbound, Error> {
        let listed = self.state.listing(&ctx.route.app).await?;
        let mut manifest = listed
            .and_then(|l| l.version(&ctx.install.version).map(|v| v.manifest.clone()))
            .unwrap_or_else(|| ctx.app.manifest());
        manifest.http = Some(HttpDeploy {
            root_url: ctx.root_url(self),
            use_jwt: true,
        });
        let functions = Function::of_app(&ctx.route.app)
            .filter_map(|f| {
                Some(AwsLambdaFunction {
                    path: f.call_path()?.into(),
                    name: f.name.into(),
                    handler: "bootstrap".into(),
                    runtime: "provided.al2023".into(),
                })
            })
            .collect();
        manifest.aws_lambda = Some(AwsLambdaDeploy { functions });
        Ok(Outbound::json(200, &manifest))
    }

    async fn apps_call(&self, ctx: &Ctx<'_>) -> Result<Outbound, Error> {
        require_content_type(ctx.req, "application/json")?;
        let header = ctx.req.header(auth::APP_AUTH_HEADER);
        // A direct invoke of the tenant's alias is authenticated by IAM when the alias lets only
        // the tenant's registered principal invoke it; a JWT, when sent, is still checked.
        let iam_checked =
            ctx.req.invoked_for_tenant.is_some() && ctx.tenant.aws_principal.is_some();
        let claims = if iam_checked && header.is_none() {
            None
        } else {
            Some(
                auth::verify_app_jwt(header, ctx.install.jwt_secret.expose())
                    .map_err(|e| Error::Unauthorized(e.to_string()))?,
            )
        };
        let call: CallRequest = if ctx.req.body.is_empty() {
            CallRequest::default()
        } else {
            serde_json::from_slice(&ctx.req.body).map_err(|e| {
                Error::BadRequest(format!("the body is not an Apps call request: {e}"))
            })?
        };
        check_site(
            &ctx.route.path,
            &call.context.mattermost_site_url,
            ctx.tenant,
        )?;
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
                ctx.route.app, ctx.tenant.id
            )));
        }
        let mut command = Command::from_call(&ctx.route.path, call);
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
        let answer = self.dispatch(ctx, command).await?;
        Ok(Outbound::json(200, &answer))
    }

    async fn slash_command(&self, ctx: &Ctx<'_>) -> Result<Outbound, Error> {
        let form: &[u8] = if ctx.req.method == Method::GET {
            ctx.req.query.as_bytes()
        } else {
            require_content_type(ctx.req, "application/x-www-form-urlencoded")?;
            &ctx.req.body
        };
        let req: SlashCommandRequest = serde_html_form::from_bytes(form)
            .map_err(|e| Error::BadRequest(format!("the body is not a slash command form: {e}")))?;
        let header_token = ctx
            .req
            .header("authorization")
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
        Ok(Outbound::json(200, &render::slash(&answer)))
    }

    /// A message that starts with a trigger word: the rest of it is run as that command, and
    /// the answer is posted as a reply.
    async fn outgoing_webhook(&self, ctx: &Ctx<'_>) -> Result<Outbound, Error> {
        let (hook, _) = events::outgoing_webhook_body(ctx.req)?;
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
        Ok(Outbound::json(
            200,
            &OutgoingWebhookResponse {
                text: reply.text,
                response_type: "comment".into(),
                attachments: reply.attachments,
            },
        ))
    }

    async fn post_action(&self, ctx: &Ctx<'_>) -> Result<Outbound, Error> {
        require_content_type(ctx.req, "application/json")?;
        let req: PostActionIntegrationRequest =
            serde_json::from_slice(&ctx.req.body).map_err(|e| {
                Error::BadRequest(format!("the body is not a post action request: {e}"))
            })?;
        let token = req.context.get(ACTION_TOKEN_KEY).and_then(|v| v.as_str()).ok_or_else(|| {
            Error::Unauthorized(format!("the action's context has no `{ACTION_TOKEN_KEY}` token; create actions with this host's action URL"))
        })?;
        let call = verify_call(ctx, token, &req.user_id)?;
        let (user_id, trigger_id) = (req.user_id.clone(), req.trigger_id.clone());
        let answer = self
            .dispatch(ctx, Command::from_post_action(&call.path, call.state, req))
            .await?;
        let answer = self.present_form(ctx, answer, &user_id, &trigger_id).await;
        Ok(Outbound::json(200, &render::post_action(&answer)))
    }

    async fn dialog(&self, ctx: &Ctx<'_>) -> Result<Outbound, Error> {
        require_content_type(ctx.req, "application/json")?;
        let req: SubmitDialogRequest = serde_json::from_slice(&ctx.req.body)
            .map_err(|e| Error::BadRequest(format!("the body is not a dialog submission: {e}")))?;
        let call = verify_call(ctx, &req.state, &req.user_id)?;
        if req.cancelled {
            return Ok(Outbound::json(200, &serde_json::json!({})));
        }
        let user_id = req.user_id.clone();
        let answer = self
            .dispatch(ctx, Command::from_dialog(&call.path, call.state, req))
            .await?;
        let next = match (&answer.kind, &answer.form) {
            (ResponseType::Form, Some(form)) => Some(render::form_to_dialog(
                form,
                dialog_token(ctx, form, &user_id),
            )),
            _ => None,
        };
        Ok(Outbound::json(200, &render::dialog(&answer, next)))
    }

    /// Runs a command: `/ping` and the bindings call are the host's, the rest the app's.
    async fn dispatch(&self, ctx: &Ctx<'_>, mut command: Command) -> Result<CallResponse, Error> {
        command.bind_install(ctx.tenant, ctx.install);
        if command.path == PING_PATH {
            return Ok(CallResponse::ok("PONG"));
        }
        if let (Some(_), Some(mm)) = (command.context.subject, &self.mattermost)
            && let Some(answer) = ctx.app.notify(&command, mm.as_ref()).await
        {
            return answer;
        }
        if command.path == ctx.app.manifest().bindings_path() {
            let bindings = granted_bindings(ctx.app.bindings(), ctx.install);
            return Ok(CallResponse::ok_data(
                serde_json::to_value(bindings).unwrap_or_default(),
            ));
        }
        let base = self.base_url(ctx.req);
        if let Some(answer) = ctx
            .app
            .call_marketplace(&command, &self.marketplace, ctx.tenant, &base)
            .await
        {
            return Ok(answer);
        }
        ctx.app.call(&command).await.ok_or_else(|| {
            Error::NotFound(format!(
                "app `{}` has no call path {}",
                ctx.route.app, command.path
            ))
        })
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
            &self.mattermost,
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
            url: format!(
                "{}{}",
                ctx.root_url(self),
                Kind::Dialog.fixed_path().unwrap_or_default()
            ),
            dialog: render::form_to_dialog(form, dialog_token(ctx, form, user_id)),
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

    fn base_url(&self, req: &Inbound) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let proto = match req.header("x-forwarded-proto") {
            Some("https") => "https",
            _ => "http",
        };
        // Only a plausible host name goes into URLs handed out (no header injection).
        let host = req
            .header("host")
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
            })
            .unwrap_or("localhost");
        format!("{proto}://{host}")
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
            Kind::PostAction.fixed_path().unwrap_or_default()
        ),
        context,
    }
}

/// What one request is about, once routed and looked up.
struct Ctx<'a> {
    req: &'a Inbound,
    route: &'a Route,
    app: &'a dyn App,
    tenant: &'a Tenant,
    install: &'a Install,
}

impl Ctx<'_> {
    fn root_url(&self, host: &Host) -> String {
        format!(
            "{}{}",
            host.base_url(self.req),
            app_root(&self.route.tenant, &self.route.app)
        )
    }
}

/// The body of a marketplace request, which must be JSON.
fn json_body<T: serde::de::DeserializeOwned>(req: &Inbound, what: &str) -> Result<T, Error> {
    require_content_type(req, "application/json")?;
    serde_json::from_slice(&req.body)
        .map_err(|e| Error::BadRequest(format!("the body is not a valid {what}: {e}")))
}

/// Like [`json_body`], but an empty body means the defaults.
fn json_body_or_default<T: serde::de::DeserializeOwned + Default>(
    req: &Inbound,
    what: &str,
) -> Result<T, Error> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        json_body(req, what)
    }
}

/// Registration was answered before the tenant-admin routes; this arm cannot be reached.
fn unreachable_route() -> Outbound {
    Outbound::error(&Error::NotFound("no such route".into()))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigureRequest {
    values: serde_json::Map<String, serde_json::Value>,
}

/// The call path Mattermost pings an app on at install, with an empty context.
const PING_PATH: &str = "/ping";

/// A call must come from the tenant's own Mattermost: one from another site is refused, and so
/// is one that names no site, except the install ping (the Apps plugin sends it with an empty
/// context, `server/proxy/invoke_static.go`), which only answers PONG.
fn check_site(path: &str, site: &str, tenant: &Tenant) -> Result<(), Error> {
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

fn require_content_type(req: &Inbound, expected: &str) -> Result<(), Error> {
    let given = req.header("content-type").unwrap_or_default();
    let essence = given.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case(expected) {
        Ok(())
    } else if given.is_empty() {
        Err(Error::UnsupportedMediaType(format!(
            "missing Content-Type; send {expected}"
        )))
    } else {
        Err(Error::UnsupportedMediaType(format!(
            "Content-Type is {essence}; send {expected}"
        )))
    }
}

/// Checks a dialog's or post action's call token and that the right user is submitting it.
fn verify_call(ctx: &Ctx<'_>, token: &str, user_id: &str) -> Result<CallToken, Error> {
    let call = auth::verify_call_token(token, ctx.install.jwt_secret.expose()).map_err(|e| {
        Error::Unauthorized(format!("the call token is not valid for this install: {e}"))
    })?;
    if !call.user_id.is_empty() && call.user_id != user_id {
        return Err(Error::Forbidden(
            "this dialog was opened for another user".into(),
        ));
    }
    Ok(call)
}

fn dialog_token(ctx: &Ctx<'_>, form: &Form, user_id: &str) -> String {
    let submit = form.submit.clone().unwrap_or_default();
    let token = CallToken {
        path: submit.path,
        user_id: user_id.to_owned(),
        exp: Some(auth::now() + DIALOG_TTL_SECONDS),
        state: submit.state,
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

#[cfg(test)]
mod tests;
