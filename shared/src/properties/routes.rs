//! Ids and routes. Written against `valid_id` itself, so they hold whatever the id rule is:
//! what it accepts, formatted into a route, parses back to the same tenant, app and path.

use proptest::prelude::*;

use super::{config, nasty_string};
use crate::host::route::{self, Kind, app_root};
use crate::ids::valid_id;
use crate::lambda::tenant_of_alias;
use crate::marketplace::routes::{self as market, Op};

/// Id candidates, only those `valid_id` accepts: long lowercase ones (valid under a strict
/// rule too) and short ones of a looser alphabet (some of which only a loose rule accepts).
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[a-z0-9][a-z0-9_-]{0,40}",
        1 => "[a-zA-Z0-9._-]{1,6}",
    ]
    .prop_filter("valid_id accepts it", |id| valid_id(id))
}

/// A call path: `/`-separated segments that are neither empty, `.` nor `..`.
fn call_path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        3 => "[a-z0-9_.-]{1,12}",
        1 => "[^/]{1,12}",
        1 => prop::sample::select(vec!["v1", "command", "manifest.json", "notify", "subscribe"])
            .prop_map(str::to_owned),
    ]
    .prop_filter("no dot segments", |s| s != "." && s != "..");
    prop::collection::vec(segment, 1..5).prop_map(|segments| format!("/{}", segments.join("/")))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn an_app_route_parses_back(tenant in id(), app in id(), path in call_path(), slash in any::<bool>()) {
        let url = format!("{}{path}{}", app_root(&tenant, &app), if slash { "/" } else { "" });
        let r = route::parse(&url).map_err(|e| TestCaseError::fail(format!("{url}: {e}")))?;
        prop_assert_eq!((&r.tenant, &r.app, &r.path), (&tenant, &app, &path));
        let fixed = Kind::FIXED.into_iter().find(|k| k.fixed_path() == Some(path.as_str()));
        prop_assert_eq!(r.kind, fixed.unwrap_or(Kind::Call));
    }

    #[test]
    fn a_marketplace_route_parses_back(
        op in prop::sample::select(Op::ALL.to_vec()),
        tenant in id(),
        app in id(),
    ) {
        let path = op.path().replace("{tenant}", &tenant).replace("{app}", &app);
        let r = market::parse(op.method(), &path).map_err(|e| TestCaseError::fail(format!("{path}: {e}")))?;
        prop_assert_eq!(r.op, op);
        if op.path().contains("{tenant}") {
            prop_assert_eq!(&r.tenant, &tenant);
        }
        if op.path().contains("{app}") {
            prop_assert_eq!(&r.app, &app);
        }
    }

    #[test]
    fn a_tenant_alias_names_its_tenant(tenant in id()) {
        let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:hello-send:t-{tenant}");
        prop_assert_eq!(tenant_of_alias(&arn), Some(tenant));
    }

    /// Any path is either refused with a 404 or names valid ids and a clean call path.
    #[test]
    fn any_path_is_parsed_or_refused(
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
        method in prop::sample::select(vec!["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "get"]),
    ) {
        match route::parse(&path) {
            Ok(r) => {
                prop_assert!(valid_id(&r.tenant) && valid_id(&r.app), "{:?}", r);
                prop_assert!(r.path.starts_with('/'));
                let clean = r.path[1..].split('/').all(|s| !s.is_empty() && s != "." && s != "..");
                prop_assert!(clean, "{:?}", r);
            }
            Err(e) => prop_assert_eq!(e.status(), 404),
        }
        match market::parse(method, &path) {
            Ok(r) => {
                prop_assert!(r.op == Op::RegisterTenant || valid_id(&r.tenant), "{:?}", r);
                prop_assert_eq!(r.op.method(), method);
            }
            Err(e) => prop_assert!(matches!(e.status(), 404 | 405), "{}", e),
        }
        let _ = tenant_of_alias(&path);
    }
}
