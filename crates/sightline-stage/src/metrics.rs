use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use sightline_runtime::Shutdown;

use crate::{Error, Result};

/// A topic label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    /// Topic name.
    pub topic: String,
}

/// A topic-partition label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: String,
}

/// The metrics every stage reports, in one registry a processor can add its own to.
///
/// Names start with `sightline_stage_` and carry a `processor` label.
#[derive(Debug, Clone)]
pub struct StageMetrics {
    registry: Arc<Mutex<Registry>>,
    /// Records read, by input topic.
    pub consumed: Family<TopicLabel, Counter>,
    /// Outputs handed to the effect (a Kafka output counts once acknowledged; the sink's
    /// rows are buffered until their batch is inserted).
    pub produced: Counter,
    /// Records sent to the DLQ, by input topic.
    pub dead_lettered: Family<TopicLabel, Counter>,
    /// Records behind the partition's high watermark.
    pub lag: Family<PartitionLabel, Gauge>,
    /// Time the step took per record.
    pub step_seconds: Histogram,
    /// Entries in the step's state.
    pub state_size: Gauge,
    /// Records re-read to rebuild state after an assignment.
    pub rebuilt: Counter,
}

impl StageMetrics {
    /// Metrics for `processor`.
    pub fn new(processor: &str) -> Self {
        let m = Self {
            registry: Arc::new(Mutex::new(Registry::with_prefix_and_labels(
                "sightline_stage",
                [("processor".into(), processor.to_string().into())].into_iter(),
            ))),
            consumed: Family::default(),
            produced: Counter::default(),
            dead_lettered: Family::default(),
            lag: Family::default(),
            step_seconds: Histogram::new(exponential_buckets(0.000_005, 4.0, 10)),
            state_size: Gauge::default(),
            rebuilt: Counter::default(),
        };
        m.register(
            "consumed",
            "Records read, by input topic",
            m.consumed.clone(),
        );
        m.register(
            "produced",
            "Outputs handed to the effect (Kafka outputs once acknowledged)",
            m.produced.clone(),
        );
        m.register(
            "dead_lettered",
            "Records sent to the DLQ with a reason, by input topic",
            m.dead_lettered.clone(),
        );
        m.register(
            "lag",
            "Records between the group's committed offset and the partition's high watermark, as librdkafka last reported",
            m.lag.clone(),
        );
        m.register(
            "step_seconds",
            "Time the step took per record",
            m.step_seconds.clone(),
        );
        m.register(
            "state_size",
            "Entries held in the step's state",
            m.state_size.clone(),
        );
        m.register(
            "rebuilt",
            "Records re-read to rebuild state after partitions were assigned",
            m.rebuilt.clone(),
        );
        m
    }

    /// Adds a processor's own counter, named `sightline_stage_<name>_total`.
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        let c = Counter::default();
        self.register(name, help, c.clone());
        c
    }

    /// Adds a processor's own metric (a labelled family, a gauge…), named
    /// `sightline_stage_<name>`.
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        if let Ok(mut r) = self.registry.lock() {
            r.register(name, help, metric);
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        }
        out
    }
}

/// Serves `GET /metrics` and `GET /healthz` on `listen` until shutdown; returns the bound
/// address (so `127.0.0.1:0` works in tests).
pub async fn serve_metrics(
    listen: &str,
    metrics: StageMetrics,
    shutdown: Shutdown,
) -> Result<std::net::SocketAddr> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Listen {
            addr: listen.into(),
            message: e.to_string(),
        })?;
    let addr = listener.local_addr().map_err(|e| Error::Listen {
        addr: listen.into(),
        message: e.to_string(),
    })?;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move {
                    (
                        [(
                            "content-type",
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        m.render(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    tokio::spawn(async move {
        let stop = shutdown.token();
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
        {
            tracing::warn!(error = %e, "metrics server stopped");
        }
    });
    tracing::info!(%addr, "serving /metrics");
    Ok(addr)
}
