//! Ids and routes. Written against `valid_id` itself, so they hold whatever the id rule is:
//! what it accepts, formatted into any function's route, reaches that route's handler.

use proptest::prelude::*;

use super::{config, nasty_string};
use std::sync::Arc;

use crate::apps::BuiltinApps;
use crate::functions;
use crate::http::Host;
use crate::http::testing::{Handle, request};
use crate::ids::valid_id;
use crate::lambda::tenant_of_alias;
use crate::store::InstallState;

/// Id candidates, only those `valid_id` accepts: long lowercase ones (valid under a strict
/// rule too) and short ones of a looser alphabet (some of which only a loose rule accepts).
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[a-z0-9][a-z0-9_-]{0,40}",
        1 => "[a-zA-Z0-9._-]{1,6}",
    ]
    .prop_filter("valid_id accepts it", |id| valid_id(id))
}

/// A host with every route and no tenant, and a runtime to drive it.
fn host() -> (tokio::runtime::Runtime, axum::Router) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = crate::store::sqlite::SqliteStore::open_in_memory().unwrap();
    let host = Host::new(InstallState::new(Arc::new(store)), BuiltinApps::all());
    (rt, host.router())
}

proptest! {
    #![proptest_config(config())]

    /// Every route of every function, with ids `valid_id` accepts, reaches its handler: it is
    /// not answered as a path or method no route has.
    #[test]
    fn every_function_route_reaches_its_handler(
        tenant in id(),
        app in id(),
        function in prop::sample::select(functions::all().to_vec()),
    ) {
        let (rt, router) = host();
        for (method, template) in function.http_routes() {
            let path = template.replace("{tenant}", &tenant).replace("{app}", &app);
            let req = request(method.parse().unwrap(), &path, http::HeaderMap::new(), "");
            let out = rt.block_on(router.handle(req));
            let body: serde_json::Value = serde_json::from_slice(&out.body).unwrap();
            let text = body["text"].as_str().unwrap_or_default();
            prop_assert!(out.status != 405 && !text.starts_with("no route for"), "{method} {path}: {body}");
        }
    }

    #[test]
    fn a_tenant_alias_names_its_tenant(tenant in id()) {
        let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:hello-send:t-{tenant}");
        prop_assert_eq!(tenant_of_alias(&arn), Some(tenant));
    }

    /// Any path is answered with JSON, a 404 or 405 when no route has it.
    #[test]
    fn any_path_is_routed_or_refused_with_json(
        path in prop_oneof![
            nasty_string(),
            (prop::collection::vec(prop_oneof![
                prop::sample::select(vec![
                    "t", "apps", "acme", "hello", "", ".", "..", "v1", "marketplace", "tenants",
                    "install",
                ])
                    .prop_map(str::to_owned),
                nasty_string(),
            ], 0..8)).prop_map(|segments| format!("/{}", segments.join("/"))),
        ],
        method in prop::sample::select(vec!["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD"]),
    ) {
        let _ = tenant_of_alias(&path);
        let Ok(uri) = path.parse::<http::Uri>() else {
            // Not a URI: the server refuses it before any route.
            return Ok(());
        };
        let (rt, router) = host();
        let req = request(method.parse().unwrap(), uri.to_string(), http::HeaderMap::new(), "");
        let out = rt.block_on(router.handle(req));
        if method != "HEAD" {
            let body: Result<serde_json::Value, _> = serde_json::from_slice(&out.body);
            prop_assert!(body.is_ok(), "{method} {path}: not JSON");
        }
        prop_assert!(out.status < 500, "{method} {path}: {}", out.status);
    }
}
