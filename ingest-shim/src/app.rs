//! The composition root: the state every call reads, built once from the config, and the
//! server's lifecycle (bind, serve, drain, flush).

use std::sync::Arc;

use sightline_detect::KeyRing;
use sightline_kafka::{Producer, Topic, TopicNames};
use sightline_runtime::Shutdown;

use crate::identity;
use crate::publish::{self, Publisher};
use crate::relay::ResponseScanner;
use crate::routes::handle;
use crate::spool::Spool;
use crate::upstream::Upstream;
use crate::{Error, Result, ShimConfig};

/// Shared by every request; a clone is one reference count.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// What every request reads.
#[derive(Debug)]
pub struct Shared {
    pub(crate) config: ShimConfig,
    pub(crate) auth: identity::Authenticator,
    pub(crate) upstream: Upstream,
    pub(crate) publisher: Publisher,
    pub(crate) scanner: ResponseScanner,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State for `config`, publishing through `publisher`. Loads the policy.
    pub fn new(config: ShimConfig, publisher: Publisher) -> Result<Self> {
        let policy = config.policy.load()?;
        let key = match config.policy.master_key() {
            Some(k) => k,
            None => {
                tracing::warn!(
                    env = %config.policy.fingerprint_key_env,
                    "fingerprint key not set; using a random key, so fingerprints will not match across restarts"
                );
                [
                    uuid::Uuid::new_v4().into_bytes(),
                    uuid::Uuid::new_v4().into_bytes(),
                ]
                .concat()
            }
        };
        let scanner = ResponseScanner {
            policy: Arc::new(policy),
            keys: Arc::new(KeyRing::new(key)),
            prices: Arc::new(config.prices.clone()),
            chains: Arc::default(),
        };
        let upstream = Upstream::new(&config.upstream, config.shim.upstream_timeout)?;
        let auth = identity::Authenticator::new(&config.identity).map_err(|problems| {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            Error::config("identity", list.join("; "))
        })?;
        Ok(Self(Arc::new(Shared {
            config,
            auth,
            upstream,
            publisher,
            scanner,
        })))
    }
}

/// Binds `shim.listen` and serves until `shutdown`.
pub async fn run(config: ShimConfig, shutdown: Shutdown) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(config.shim.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: config.shim.listen,
            source,
        })?;
    serve(config, listener, shutdown).await
}

/// Serves on `listener` until `shutdown`, then drains in-flight calls and publishes what they
/// produced, within `shim.shutdown_grace`.
pub async fn serve(
    config: ShimConfig,
    listener: tokio::net::TcpListener,
    shutdown: Shutdown,
) -> Result<()> {
    let codec = config.schema_registry.codec()?;
    let producer = Producer::with_defaults(&config.kafka, publish::PRODUCER_DEFAULTS)?;
    let topic = TopicNames::from(&config.topics).name(Topic::Events);
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let spool = Spool::open(
        &config.shim.spool_dir,
        config.shim.spool_max_bytes,
        metrics.spool_bytes.clone(),
    )
    .map_err(|source| Error::Spool {
        dir: config.shim.spool_dir.clone(),
        source,
    })?;
    let spool = Some(Arc::new(spool));
    let (publisher, jobs) = Publisher::new(config.shim.publish_queue, spool.clone(), metrics);
    let counters = publisher.counters();
    let grace = config.shim.shutdown_grace;
    let recording = publish::start(
        jobs,
        config.kafka.clone(),
        producer.clone(),
        codec,
        topic.clone(),
        counters.clone(),
        spool,
    )
    .map_err(|e| Error::Environment(format!("cannot start the recording thread: {e}")))?;

    tracing::info!(listen = ?listener.local_addr().ok(), topic = %topic, "shim listening");
    let state = AppState::new(config, publisher)?;
    let deadline = crate::server::serve(listener, shutdown, grace, move |request| {
        handle(state.clone(), request)
    })
    .await;

    // Every sender is gone once the server has drained; the recording thread then finishes.
    match tokio::time::timeout_at(deadline.into(), recording).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => tracing::error!("the recording thread failed; events may be unpublished"),
        Err(_) => tracing::error!("events still unpublished after the shutdown grace period"),
    }
    producer.flush(grace)?;
    tracing::info!(
        delivered = counters
            .delivered
            .load(std::sync::atomic::Ordering::Relaxed),
        lost = counters.lost.load(std::sync::atomic::Ordering::Relaxed),
        "shim stopped"
    );
    Ok(())
}
