//! The HTTP transport of the local host: axum in, [`Host`] for everything, axum out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::{Bytes, BytesMut};
use cloudapps::Error;
use cloudapps::host::{Host, Inbound, MAX_BODY_BYTES, Outbound};
use http_body_util::BodyExt;
use tokio::net::TcpListener;

/// A part of the host `/healthz` checks: its name, and whether it is up (`Err` says why not).
pub type HealthCheck = (
    &'static str,
    Arc<dyn Fn() -> Result<(), String> + Send + Sync>,
);

pub fn router(host: Host, checks: Vec<HealthCheck>) -> Router {
    let checks = Arc::new(checks);
    Router::new()
        .route("/healthz", get(move || healthz(checks.clone())))
        .fallback(handle)
        .with_state(host)
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
    host: Host,
    checks: Vec<HealthCheck>,
) -> std::io::Result<()> {
    axum::serve(listener, router(host, checks))
        .with_graceful_shutdown(shutdown())
        .await
}

async fn handle(State(host): State<Host>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let out = match read_body(body).await {
        Ok(bytes) => {
            let path = parts
                .uri
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or("/");
            let mut inbound = Inbound::new(parts.method, path, parts.headers, bytes);
            inbound.request_id = format!("local-{}", NEXT_REQUEST.fetch_add(1, Ordering::Relaxed));
            host.handle(inbound).await
        }
        Err(e) => Outbound::error(&e),
    };
    let mut resp = Response::new(Body::from(out.body));
    *resp.status_mut() =
        StatusCode::from_u16(out.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(Outbound::CONTENT_TYPE),
    );
    if let Some(seconds) = out.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    resp
}

/// Request ids for log correlation: unique within the process.
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// Past this, an oversize body is no longer read to its end: the connection is dropped.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// Reads the body up to [`MAX_BODY_BYTES`]. A larger one is read on (and dropped) to its end,
/// within reason, so the client gets the 413 instead of a reset connection.
async fn read_body(mut body: Body) -> Result<Bytes, Error> {
    let mut buf = BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| Error::BadRequest(format!("could not read the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen <= MAX_BODY_BYTES {
            buf.extend_from_slice(&data);
        } else if seen > DRAIN_LIMIT {
            break;
        }
    }
    if seen > MAX_BODY_BYTES {
        Err(Error::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        })
    } else {
        Ok(buf.freeze())
    }
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
    use cloudapps::apps::BuiltinApps;
    use cloudapps::store::InstallState;
    use cloudapps::store::sqlite::SqliteStore;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    async fn healthz(checks: Vec<HealthCheck>) -> (StatusCode, Value) {
        let store = SqliteStore::open_in_memory().unwrap();
        let host = Host::new(InstallState::new(Arc::new(store)), BuiltinApps::all());
        let req = Request::get("/healthz").body(Body::empty()).unwrap();
        let resp = router(host, checks).oneshot(req).await.unwrap();
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
