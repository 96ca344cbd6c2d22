//! Logging set-up: JSON lines in Lambda (CloudWatch), readable text on a terminal. The level
//! comes from `RUST_LOG` (default `info`). Nothing logs request bodies or headers, so tokens
//! and secrets never reach a log.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// JSON logs with the request span's fields (tenant, app, command, request id) on every line.
/// `RUST_LOG` is read as levels per target (`info`, `info,cloudapps=debug`): a Lambda function
/// needs no more, and `EnvFilter`'s regex engine would add a third of a megabyte to each.
pub fn init_json() {
    let targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_ansi(false);
    let _ = tracing_subscriber::registry()
        .with(json)
        .with(targets)
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
