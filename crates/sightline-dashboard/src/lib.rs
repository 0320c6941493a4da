//! The Sightline dashboard: server-rendered pages, a JSON API mirroring them, streamed
//! exports and a live view, over the ClickHouse tables and rollups.
//!
//! - Who is asking comes from the shared identity crate (API keys, verified JWTs); their role
//!   and tenant become a [`scope::Scope`] that every query carries, built on the server and
//!   never from the request ([`auth`], [`scope`]).
//! - [`store`] holds every read, one function per page; [`render`] and the JSON API are two
//!   renderings of the same model; [`charts`] draws on the server.
//! - Every request, refused ones included, is written to the access audit log ([`audit`]);
//!   requests and failed sign-ins are rate limited ([`limits`]).
//! - Incident actions go to the incidents processor as commands ([`actions`]).
//!
//! Guarantees: reads only what the caller's scope allows; an audit entry per request,
//! written in batches (a request waits rather than lose one); exports stream in bounded
//! memory.

pub mod actions;
pub mod audit;
pub mod auth;
pub mod charts;
pub mod config;
pub mod cursor;
pub mod error;
pub mod export;
pub mod limits;
pub mod live;
pub mod range;
pub mod render;
pub mod routes;
pub mod scope;
pub mod session;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use sightline_identity::Authenticator;
use sightline_runtime::Shutdown;

pub use config::DashboardConfig;
pub use error::{Error, Result};

/// Everything a request needs.
pub struct App {
    /// Config.
    pub config: DashboardConfig,
    /// Sign-in.
    pub auth: Authenticator,
    /// Reads.
    pub store: store::Store,
    /// Templates.
    pub pages: render::Pages,
    /// Rate limits.
    pub limits: limits::Limits,
    /// Access audit log.
    pub audit: audit::AuditLog,
    /// Incident commands.
    pub commands: actions::Commands,
    /// Browser sessions.
    pub sessions: session::Sessions,
    /// Live streams open per caller.
    pub live: Arc<live::Open>,
    /// Ends live streams at shutdown.
    pub shutdown: Shutdown,
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Serves the dashboard on `[dashboard] listen` until `shutdown`; in-flight requests finish,
/// live streams end, and the audit log is written before it returns.
pub async fn run(config: DashboardConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&config.dashboard.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (dashboard.listen)",
                config.dashboard.listen
            )
        })?;
    serve(config, listener, shutdown).await
}

/// [`run`] on a listener the caller bound (tests bind port 0).
pub async fn serve(
    config: DashboardConfig,
    listener: tokio::net::TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let auth = Authenticator::new(&config.identity).map_err(|problems| {
        anyhow::anyhow!(
            "invalid [identity]: {}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let client = config.clickhouse.client();
    let reads = client.clone().with_setting(
        "max_execution_time",
        config.dashboard.query_timeout.as_secs().to_string(),
    );
    let writer_shutdown = Shutdown::new();
    let (audit, writer) = audit::AuditLog::start(client.clone(), writer_shutdown.clone());
    let app = Arc::new(App {
        auth,
        store: store::Store::new(reads),
        pages: render::Pages::new().context("a page template does not parse")?,
        limits: limits::Limits::new(&config.dashboard),
        audit,
        commands: actions::Commands::new(&config)?,
        shutdown: shutdown.clone(),
        sessions: session::Sessions::new(
            config.dashboard.session_ttl,
            config.dashboard.secure_cookies,
        )
        .context("cannot make the session key")?,
        live: Arc::default(),
        config,
    });
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "dashboard listening");
    let router = routes::router(app);
    let token = shutdown.token();
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { token.cancelled().await })
    .await
    .context("the dashboard server failed")?;
    // Every request has been answered: the audit writer drains what they sent, then stops.
    writer_shutdown.trigger();
    let _ = writer.await;
    Ok(())
}
