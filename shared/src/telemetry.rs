//! Logging set-up: JSON lines in Lambda (CloudWatch), readable text on a terminal. The level
//! comes from `RUST_LOG` (default `info`). Nothing logs request bodies or headers, so tokens
//! and secrets never reach a log.

use tracing_subscriber::EnvFilter;

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// JSON logs with the request span's fields (tenant, app, command, request id) on every line.
pub fn init_json() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter())
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_ansi(false)
        .try_init();
}

/// Human-readable logs for the local host, on stderr (stdout carries its setup block).
pub fn init_text() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
