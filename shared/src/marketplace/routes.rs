//! The marketplace's HTTP routes: one operation each, under `/marketplace`.

use crate::error::Error;
use crate::ids::valid_id;

/// A marketplace operation; each is its own Lambda function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    RegisterTenant,
    List,
    Get,
    Install,
    ChangeVersion,
    ConfigForm,
    Configure,
    Enable,
    Disable,
    Rotate,
    Uninstall,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::RegisterTenant,
        Op::List,
        Op::Get,
        Op::Install,
        Op::ChangeVersion,
        Op::ConfigForm,
        Op::Configure,
        Op::Enable,
        Op::Disable,
        Op::Rotate,
        Op::Uninstall,
    ];

    pub fn method(self) -> &'static str {
        match self {
            Op::List | Op::Get | Op::ConfigForm => "GET",
            Op::Uninstall => "DELETE",
            _ => "POST",
        }
    }

    /// The path template, with `{tenant}` and `{app}`.
    pub fn path(self) -> &'static str {
        match self {
            Op::RegisterTenant => "/marketplace/tenants",
            Op::List => "/marketplace/t/{tenant}/apps",
            Op::Get | Op::Uninstall => "/marketplace/t/{tenant}/apps/{app}",
            Op::Install => "/marketplace/t/{tenant}/apps/{app}/install",
            Op::ChangeVersion => "/marketplace/t/{tenant}/apps/{app}/version",
            Op::ConfigForm | Op::Configure => "/marketplace/t/{tenant}/apps/{app}/config",
            Op::Enable => "/marketplace/t/{tenant}/apps/{app}/enable",
            Op::Disable => "/marketplace/t/{tenant}/apps/{app}/disable",
            Op::Rotate => "/marketplace/t/{tenant}/apps/{app}/rotate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketRoute {
    pub op: Op,
    pub tenant: String,
    pub app: String,
}

/// Matches a method and path against the operations' templates.
pub fn parse(method: &str, path: &str) -> Result<MarketRoute, Error> {
    let path = path.trim_end_matches('/');
    let mut allowed = Vec::new();
    for op in Op::ALL {
        let Some((tenant, app)) = match_template(op.path(), path) else {
            continue;
        };
        if op.method() == method {
            return Ok(MarketRoute { op, tenant, app });
        }
        allowed.push(op.method());
    }
    if allowed.is_empty() {
        Err(Error::NotFound(format!(
            "no marketplace route for {path}; see the README's marketplace routes"
        )))
    } else {
        Err(Error::MethodNotAllowed {
            method: method.to_owned(),
            allowed: if allowed.len() == 1 {
                allowed[0]
            } else {
                "GET, POST or DELETE as documented"
            },
        })
    }
}

fn match_template(template: &str, path: &str) -> Option<(String, String)> {
    let (mut tenant, mut app) = (String::new(), String::new());
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some((tenant, app)),
            (Some("{tenant}"), Some(seg)) if valid_id(seg) => tenant = seg.to_owned(),
            (Some("{app}"), Some(seg)) if valid_id(seg) => app = seg.to_owned(),
            (Some(a), Some(b)) if a == b => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_parses_from_its_own_route() {
        for op in Op::ALL {
            let path = op
                .path()
                .replace("{tenant}", "acme")
                .replace("{app}", "hello");
            let route = parse(op.method(), &path).unwrap();
            assert_eq!(route.op, op);
            assert_eq!(
                route.tenant,
                if op == Op::RegisterTenant { "" } else { "acme" }
            );
        }
    }

    #[test]
    fn wrong_methods_and_unknown_paths() {
        assert_eq!(
            parse("PUT", "/marketplace/t/acme/apps/hello")
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(
            parse("GET", "/marketplace/t/acme/apps/hello/install")
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(parse("GET", "/marketplace/nope").unwrap_err().status(), 404);
        assert_eq!(
            parse("GET", "/marketplace/t/ac me/apps")
                .unwrap_err()
                .status(),
            404
        );
    }
}
