//! The HTTP transport of the local host: every area's router, and `/healthz`, under
//! `axum::serve`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

/// A part of the host `/healthz` checks: its name, and whether it is up (`Err` says why not).
pub type HealthCheck = (
    &'static str,
    Arc<dyn Fn() -> Result<(), String> + Send + Sync>,
);

/// The host's router with `/healthz`.
pub fn router(host: Router, checks: Vec<HealthCheck>) -> Router {
    let checks = Arc::new(checks);
    Router::new()
        .route("/healthz", get(move || healthz(checks.clone())))
        .merge(host)
}

/// 200 `{"status":"ok"}`, or 503 naming each part that is down and why.
async fn healthz(checks: Arc<Vec<HealthCheck>>) -> Response<Body> {
    let down: serde_json::Map<String, serde_json::Value> = checks
        .iter()
        .filter_map(|(name, check)| check().err().map(|why| ((*name).to_owned(), why.into())))
        .collect();
    if down.is_empty() {
        axum::Json(serde_json::json!({"status": "ok"})).into_response()
    } else {
        let body = serde_json::json!({"status": "down", "down": down});
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

pub async fn serve(
    listener: TcpListener,
    host: Router,
    checks: Vec<HealthCheck>,
) -> std::io::Result<()> {
    axum::serve(listener, router(host, checks))
        .with_graceful_shutdown(shutdown())
        .await
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;
    use cloudapps::apps::BuiltinApps;
    use cloudapps::http::Host;
    use cloudapps::store::InstallState;
    use cloudapps::store::sqlite::SqliteStore;
    use http_body_util::BodyExt;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    async fn healthz(checks: Vec<HealthCheck>) -> (StatusCode, Value) {
        let store = SqliteStore::open_in_memory().unwrap();
        let host = Host::new(InstallState::new(Arc::new(store)), BuiltinApps::all());
        let req = axum::http::Request::get("/healthz")
            .body(Body::empty())
            .unwrap();
        let resp = router(host.router(), checks).oneshot(req).await.unwrap();
        let status = resp.status();
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    fn check(up: bool) -> Arc<dyn Fn() -> Result<(), String> + Send + Sync> {
        Arc::new(move || {
            if up {
                Ok(())
            } else {
                Err("its writer has stopped".into())
            }
        })
    }

    #[tokio::test]
    async fn healthz_is_ok_while_every_part_is_up() {
        let checks = vec![("install-state", check(true)), ("event-queue", check(true))];
        assert_eq!(
            healthz(checks).await,
            (StatusCode::OK, json!({"status": "ok"}))
        );
    }

    #[tokio::test]
    async fn healthz_names_what_is_down() {
        let checks = vec![
            ("install-state", check(true)),
            ("event-queue", check(false)),
        ];
        assert_eq!(
            healthz(checks).await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "down", "down": {"event-queue": "its writer has stopped"}})
            )
        );
    }
}
