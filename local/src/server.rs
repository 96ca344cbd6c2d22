//! The HTTP transport of the local host: axum in, [`Host`] for everything, axum out.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::routing::get;
use cloudapps::Error;
use cloudapps::host::{Host, Inbound, MAX_BODY_BYTES, Outbound};
use tokio::net::TcpListener;

pub fn router(host: Host) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .fallback(handle)
        .with_state(host)
}

pub async fn serve(listener: TcpListener, host: Host) -> std::io::Result<()> {
    axum::serve(listener, router(host))
        .with_graceful_shutdown(shutdown())
        .await
}

async fn handle(State(host): State<Host>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    // Read one byte past the limit so the host can tell "too large" from "exactly the limit".
    let out = match to_bytes(body, MAX_BODY_BYTES + 1).await {
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
        Err(e) if is_length_limit(&e) => Outbound::error(&Error::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        }),
        Err(e) => Outbound::error(&Error::BadRequest(format!(
            "could not read the request body: {e}"
        ))),
    };
    let mut resp = Response::new(Body::from(out.body));
    *resp.status_mut() =
        StatusCode::from_u16(out.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(Outbound::CONTENT_TYPE),
    );
    resp
}

/// Request ids for log correlation: unique within the process.
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
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
