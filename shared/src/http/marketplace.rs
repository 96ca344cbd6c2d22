//! The marketplace area: one route per operation, under `/marketplace`, with the operator's or
//! the tenant admin's credential, JSON in and out.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::MethodRouter;

use super::{
    Host, Incoming, Req, bearer, json, json_body, json_body_or_default, query,
    refusing_other_methods,
};
use super::{PathIds, method_filter};
use crate::error::Error;
use crate::marketplace::service::{ListQuery, RegisterTenant};
use crate::paths::Op;
use crate::protocol::apps::CallResponse;

impl Host {
    /// The router for the marketplace operations `ops`.
    pub fn marketplace_router(&self, ops: &[Op]) -> Router {
        // One method router per path, with the methods of each operation on it.
        let mut paths: Vec<&'static str> = ops.iter().map(|op| op.path()).collect();
        paths.sort_unstable();
        paths.dedup();
        paths
            .into_iter()
            .fold(Router::new(), |router, path| {
                let on_path: Vec<Op> = ops.iter().copied().filter(|op| op.path() == path).collect();
                let methods = on_path.iter().map(|op| op.method()).collect();
                let method_router = on_path.into_iter().fold(MethodRouter::new(), |m, op| {
                    let handler = move |State(host): State<Arc<Host>>,
                                        ids: PathIds,
                                        Incoming(req): Incoming| async move {
                        host.serve_marketplace(op, &ids.tenant, &ids.app, &req)
                            .await
                    };
                    m.on(method_filter(op.method()), handler)
                });
                router.route(path, refusing_other_methods(method_router, methods))
            })
            .with_state(Arc::new(self.clone()))
    }

    async fn serve_marketplace(
        &self,
        op: Op,
        tenant: &str,
        app: &str,
        req: &Req,
    ) -> Result<Response, Error> {
        tracing::Span::current().record("command", format!("{op:?}").as_str());
        let m = &self.marketplace;
        let base = self.base_url(req);
        let bearer = bearer(req);
        if op == Op::RegisterTenant {
            m.authorize_operator(bearer)?;
            let req: RegisterTenant = json_body(req, "tenant registration")?;
            return Ok(json(201, &m.create_tenant(&req, &base).await?));
        }
        let tenant = m.authorize_admin(tenant, bearer).await?;
        Ok(match op {
            Op::RegisterTenant => unreachable_route(),
            Op::List => {
                let query: ListQuery = serde_html_form::from_str(query(req)).map_err(|e| {
                    Error::BadRequest(format!(
                        "bad query: {e}; use q, type, category and installed=true|false"
                    ))
                })?;
                json(
                    200,
                    &serde_json::json!({ "apps": m.list(&tenant, &query).await? }),
                )
            }
            Op::Get => json(200, &m.get(&tenant, app).await?),
            Op::Install => {
                let install = json_body_or_default(req, "install request")?;
                json(201, &m.install(&tenant, app, install, &base).await?)
            }
            Op::ChangeVersion => json(
                200,
                &m.change_version(&tenant, app, json_body(req, "version change")?)
                    .await?,
            ),
            Op::ConfigForm => json(200, &CallResponse::form(m.config_form(&tenant, app).await?)),
            Op::Configure => {
                let body: ConfigureRequest = json_body(req, "configuration")?;
                json(200, &m.configure(&tenant, app, body.values).await?)
            }
            Op::Enable => json(200, &m.set_enabled(&tenant, app, true).await?),
            Op::Disable => json(200, &m.set_enabled(&tenant, app, false).await?),
            Op::Rotate => {
                let rotate = json_body_or_default(req, "rotate request")?;
                json(200, &m.rotate(&tenant, app, rotate).await?)
            }
            Op::Uninstall => {
                let force = query(req)
                    .split('&')
                    .any(|kv| kv == "force=true" || kv == "force=1");
                json(200, &m.uninstall(&tenant, app, force).await?)
            }
        })
    }
}

/// Registration was answered before the tenant-admin routes; this arm cannot be reached.
fn unreachable_route() -> Response {
    axum::response::IntoResponse::into_response(Error::NotFound("no such route".into()))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigureRequest {
    values: serde_json::Map<String, serde_json::Value>,
}
