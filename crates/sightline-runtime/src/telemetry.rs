//! Structured logging.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: JSON lines unless `SIGHTLINE_LOG_FORMAT=text`, filtered by
/// `RUST_LOG` (default `info`). Safe to call twice; the second call does nothing.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let text = std::env::var("SIGHTLINE_LOG_FORMAT").is_ok_and(|v| v == "text");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if text {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).try_init()
    };
}
