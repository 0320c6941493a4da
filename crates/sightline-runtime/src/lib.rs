//! What every Sightline binary shares: layered config, tracing and graceful shutdown.
//!
//! - [`config::load`]: defaults, then a TOML file, then `SIGHTLINE__SECTION__KEY` env vars,
//!   validated in a pure step before any network I/O; every problem is reported at once.
//! - [`shutdown::Shutdown`]: one token; SIGTERM/SIGINT cancel it and components drain, flush,
//!   commit and return within their grace period.
//! - [`telemetry::init_tracing`]: structured logs (JSON by default) filtered by `RUST_LOG`.
//! - [`reload::Live`] and [`reload::watch`]: settings replaced when their file changes or on
//!   SIGHUP, without a restart.
//! - [`Backoff`]: doubling waits, for retries and for polls of a quiet queue; [`retry::retry`]
//!   is the one shutdown-aware retry loop built on it.

mod backoff;
pub mod calendar;
pub mod config;
pub mod reload;
pub mod retry;
pub mod shutdown;
pub mod telemetry;

pub use backoff::Backoff;
pub use config::{load, ConfigError, Problem, Validate};
pub use retry::{retry, retry_with, Retry, RetryPolicy};
pub use shutdown::Shutdown;
