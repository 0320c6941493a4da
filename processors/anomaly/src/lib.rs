//! The anomaly job: every `[anomaly] every` it reads the ClickHouse rollups and opens an
//! incident on `sightline.incidents.v1` for each anomaly:
//! - a capability's daily volume above 1.75× or below 0.4× its rolling 14-day median;
//! - no calls for more than 2 hours of business hours;
//! - an error rate above 5% over 15 minutes;
//! - a capability, model or attachment type never seen before for a tenant.
//!
//! The checks are pure ([`checks`]); [`source`] reads the rollups. An incident is keyed by
//! its tenant, so the incidents processor takes it in like its own (commands acknowledge and
//! resolve it, the alert processor routes it by severity) and the sink stores it.
//!
//! Delivery guarantee: each anomaly opens one incident. Its id derives from its rule, tenant
//! and subject; the job skips anomalies whose incident ClickHouse already holds or it wrote
//! itself, and a copy that slips through (a crash between the write and the sink) has the
//! same id, which every consumer deduplicates.

pub mod checks;
pub mod config;
pub mod error;
pub mod simulate;
pub mod source;

use std::collections::HashSet;

use prometheus_client::metrics::counter::Counter;
use sightline_events::Codec;
use sightline_kafka::{Producer, Topic, TopicNames};
use sightline_runtime::{retry, Shutdown};
use sightline_stage::{serve_metrics, StageMetrics};

pub use config::AnomalyConfig;
pub use error::{Error, Result};

/// Processor name: metrics label.
pub const PROCESSOR: &str = "anomaly";

/// What one run of the checks did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    /// Anomalies found (opened before or now).
    pub found: usize,
    /// Incidents opened by this run.
    pub opened: Vec<sightline_events::IncidentEvent>,
}

/// The job: checks on a schedule, incidents to Kafka.
pub struct Job {
    config: AnomalyConfig,
    client: sightline_clickhouse::Client,
    producer: Producer,
    codec: Codec,
    topic: String,
    opened: HashSet<String>,
    counts: Option<(Counter, Counter)>,
}

impl Job {
    /// A job for `config`.
    pub fn new(config: AnomalyConfig) -> Result<Self> {
        Ok(Self {
            client: config.clickhouse.client(),
            producer: Producer::new(&config.kafka)?,
            codec: config.schema_registry.codec()?,
            topic: TopicNames::from(&config.topics).name(Topic::Incidents),
            config,
            opened: HashSet::new(),
            counts: None,
        })
    }

    /// Runs every check once as of `now_ms` and opens the incidents not opened before.
    pub async fn run_once(&mut self, now_ms: i64, shutdown: &Shutdown) -> Result<Run> {
        let s = &self.config.anomaly;
        let backoff = s.max_backoff;
        let client = &self.client;
        let read = retry(
            "reading the rollups",
            shutdown,
            backoff,
            sightline_clickhouse::Error::is_retryable,
            || source::read(client, now_ms, s),
        )
        .await?;
        let mut anomalies = checks::volume(&read.volumes, now_ms, s);
        anomalies.extend(checks::error_rate(&read.buckets, now_ms, s));
        anomalies.extend(checks::silence(&read.last_calls, now_ms, s));
        anomalies.extend(checks::new_usage(&read.first_seen, now_ms, s));
        let incidents: Vec<_> = anomalies.iter().map(checks::incident).collect();
        let ids: Vec<String> = incidents.iter().map(|i| i.incident_id.clone()).collect();
        let held = retry(
            "asking which incidents exist",
            shutdown,
            backoff,
            sightline_clickhouse::Error::is_retryable,
            || source::existing_incidents(client, &ids),
        )
        .await?;
        let mut run = Run {
            found: anomalies.len(),
            opened: vec![],
        };
        for incident in incidents {
            if held.contains(&incident.incident_id) || self.opened.contains(&incident.incident_id) {
                continue;
            }
            let payload = self.codec.encode(&self.topic, &incident).await?;
            let (producer, topic, key) = (&self.producer, &self.topic, &incident.partition_key);
            retry(
                "writing an incident",
                shutdown,
                backoff,
                sightline_kafka::Error::is_retryable,
                || producer.send(topic, key.as_bytes(), &payload, None),
            )
            .await?;
            tracing::warn!(
                tenant = %incident.tenant_id,
                rule = %incident.rule,
                incident = %incident.incident_id,
                title = %incident.title,
                "anomaly: incident opened"
            );
            self.opened.insert(incident.incident_id.clone());
            run.opened.push(incident);
        }
        if let Some((found, opened)) = &self.counts {
            found.inc_by(run.found as u64);
            opened.inc_by(run.opened.len() as u64);
        }
        Ok(run)
    }
}

/// Runs the checks every `[anomaly] every` until `shutdown`.
pub async fn run(config: AnomalyConfig, shutdown: Shutdown) -> Result<()> {
    let metrics = StageMetrics::new(PROCESSOR);
    let counts = (
        metrics.counter("anomaly_found", "Anomalies found by the checks (each run)"),
        metrics.counter("anomaly_opened", "Incidents opened for anomalies"),
    );
    if !config.anomaly.metrics_listen.is_empty() {
        serve_metrics(&config.anomaly.metrics_listen, metrics, shutdown.clone()).await?;
    }
    let every = config.anomaly.every;
    let mut job = Job::new(config)?;
    job.counts = Some(counts);
    tracing::info!(every = ?every, "anomaly checks scheduled");
    loop {
        match job.run_once(sightline_events::now_ms(), &shutdown).await {
            Ok(run) => tracing::info!(
                found = run.found,
                opened = run.opened.len(),
                "anomaly checks done"
            ),
            Err(e) if shutdown.is_triggered() => {
                tracing::info!(error = %e, "stopping");
                return Ok(());
            }
            Err(e) => {
                if matches!(&e, Error::ClickHouse(c) if !c.is_retryable()) {
                    tracing::error!(error = %e, "the rollups cannot be read; check that `sightline migrate` ran against this database");
                    return Err(e);
                }
                tracing::error!(error = %e, "anomaly checks failed; trying again next time");
            }
        }
        tokio::select! {
            () = shutdown.wait() => return Ok(()),
            () = tokio::time::sleep(every) => {}
        }
    }
}
