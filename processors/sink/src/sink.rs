//! The sink on the stage runtime: a pure step maps each event to its row; the effect batches
//! rows into `llm_calls` and skips what ClickHouse already holds.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use sightline_clickhouse::{progress, Batch};
use sightline_detect::KeyRing;
use sightline_events::LlmEvent;
use sightline_kafka::{Topic, TopicNames};
use sightline_policy::Policy;
use sightline_runtime::{retry, Shutdown};
use sightline_stage::{At, AvroInput, Durable, Effect, Fault, Stage, StageMetrics, Step};

use crate::row::LlmCallRow;
use crate::{Result, SinkConfig};

/// Processor name: consumer group `sightline-sink`, DLQ `processor`, metrics label.
pub const PROCESSOR: &str = "sink";

/// Table this sink writes.
pub const TABLE: &str = "llm_calls";

/// What the sink did, returned when it stops.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Rows inserted into ClickHouse.
    pub inserted: u64,
    /// Records skipped because ClickHouse already held them (replays).
    pub skipped: u64,
    /// Records sent to the DLQ.
    pub dead_lettered: u64,
}

/// The sink's own metrics (`sightline_stage_sink_inserted_total`, `…_sink_skipped_total`).
#[derive(Debug, Clone)]
struct Counts {
    inserted: Counter,
    skipped: Counter,
}

/// The step: an event becomes its row, with where it was read.
///
/// Its text is scanned and redacted first: the shim's already is, but a producer that did not
/// pass the shim may write plaintext to the events topic, and it must not reach ClickHouse.
pub struct ToRow {
    topics: Vec<String>,
    policy: Policy,
    keys: KeyRing,
}

impl Step for ToRow {
    type In = LlmEvent;
    type Out = LlmCallRow;

    fn apply(
        &mut self,
        mut event: LlmEvent,
        at: At,
        _now_ms: i64,
        out: &mut Vec<LlmCallRow>,
    ) -> std::result::Result<(), Fault> {
        let key = self.keys.tenant(&event.tenant_id);
        self.policy.scrub(&mut event, &key);
        out.push(LlmCallRow::from_event(
            event,
            &self.topics[at.topic],
            at.partition,
            at.offset,
        ));
        Ok(())
    }
}

/// The effect: batched inserts into `llm_calls`, resuming from what ClickHouse holds.
///
/// On assignment it reads the highest offset ClickHouse holds per partition
/// (`sink_progress`); rows at or below it are skipped once ClickHouse is seen to hold the very
/// record at that offset (a recreated topic restarts its offsets and is written again).
pub struct ClickHouseCalls {
    client: sightline_clickhouse::Client,
    source: String,
    batch: Batch<LlmCallRow>,
    watermarks: HashMap<i32, i64>,
    verified: HashSet<i32>,
    max_backoff: Duration,
    counts: Counts,
}

fn refused(what: &str, e: &sightline_clickhouse::Error) -> Fault {
    Fault::Fatal(format!(
        "ClickHouse refused {what}: {e}; check that `sightline migrate` ran against this database"
    ))
}

impl ClickHouseCalls {
    async fn call<T, F, Fut>(
        &self,
        what: &str,
        shutdown: &Shutdown,
        f: F,
    ) -> std::result::Result<T, Fault>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = sightline_clickhouse::Result<T>>,
    {
        retry(
            what,
            shutdown,
            self.max_backoff,
            sightline_clickhouse::Error::is_retryable,
            f,
        )
        .await
        .map_err(|e| {
            if e.is_retryable() {
                Fault::Transient(format!("{what}: {e}"))
            } else {
                refused(what, &e)
            }
        })
    }

    /// Whether ClickHouse already holds `row`; learns to trust the partition's watermark.
    async fn holds(
        &mut self,
        row: &LlmCallRow,
        shutdown: &Shutdown,
    ) -> std::result::Result<bool, Fault> {
        let p = row._partition;
        if self.watermarks.get(&p).is_none_or(|w| row._offset > *w) {
            return Ok(false);
        }
        if self.verified.contains(&p) {
            return Ok(true);
        }
        let (client, topic) = (self.client.clone(), self.source.clone());
        let stored = self
            .call("checking sink_progress", shutdown, || {
                let (client, topic) = (client.clone(), topic.clone());
                async move { progress::event_at(&client, TABLE, &topic, p, row._offset).await }
            })
            .await?;
        if stored.as_deref() == Some(row.event_id.as_str()) {
            self.verified.insert(p);
            Ok(true)
        } else {
            tracing::warn!(
                topic = %self.source,
                partition = p,
                watermark = ?self.watermarks.get(&p),
                "ClickHouse holds offsets this topic does not (was it recreated?); writing the partition from here"
            );
            self.watermarks.remove(&p);
            Ok(false)
        }
    }
}

#[async_trait]
impl Effect for ClickHouseCalls {
    type Item = LlmCallRow;

    async fn write(
        &mut self,
        rows: Vec<LlmCallRow>,
        shutdown: &Shutdown,
    ) -> std::result::Result<Durable, Fault> {
        for row in rows {
            if self.holds(&row, shutdown).await? {
                self.counts.skipped.inc();
                continue;
            }
            let size = row.approx_bytes();
            self.batch.push(row, size, Instant::now());
        }
        if self.batch.is_due(Instant::now()) {
            self.flush(shutdown).await?;
        }
        Ok(if self.batch.is_empty() {
            Durable::Now
        } else {
            Durable::Later
        })
    }

    async fn flush(&mut self, shutdown: &Shutdown) -> std::result::Result<(), Fault> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let rows = self.batch.rows().to_vec();
        let client = self.client.clone();
        self.call("inserting into llm_calls", shutdown, || {
            insert(&client, &rows)
        })
        .await?;
        for row in &rows {
            let w = self.watermarks.entry(row._partition).or_insert(row._offset);
            *w = (*w).max(row._offset);
        }
        self.counts.inserted.inc_by(rows.len() as u64);
        tracing::debug!(rows = rows.len(), "batch inserted");
        self.batch.clear();
        Ok(())
    }

    fn deadline(&self) -> Option<Instant> {
        self.batch.deadline()
    }

    fn discard(&mut self) {
        // Their records are redone from the last commit by the partitions' owners.
        self.batch.clear();
    }

    async fn assigned(&mut self, shutdown: &Shutdown) -> std::result::Result<(), Fault> {
        let (client, topic) = (self.client.clone(), self.source.clone());
        self.watermarks = self
            .call("reading sink_progress", shutdown, || {
                progress::watermarks(&client, TABLE, &topic)
            })
            .await?;
        self.verified.clear();
        tracing::info!(watermarks = ?self.watermarks, "resuming from ClickHouse");
        Ok(())
    }
}

/// Runs the sink until `shutdown`, then flushes and commits within the grace period.
pub async fn run(config: SinkConfig, shutdown: Shutdown) -> Result<Stats> {
    let codec = config.schema_registry.codec()?;
    let names = TopicNames::from(&config.topics);
    let source = names.name(Topic::Events);
    let metrics = StageMetrics::new(PROCESSOR);
    let counts = Counts {
        inserted: metrics.counter("sink_inserted", "Rows inserted into ClickHouse"),
        skipped: metrics.counter(
            "sink_skipped",
            "Records skipped because ClickHouse already held them (replays)",
        ),
    };
    let effect = ClickHouseCalls {
        client: config.clickhouse.client(),
        source: source.clone(),
        batch: Batch::new(config.batch.clone()),
        watermarks: HashMap::new(),
        verified: HashSet::new(),
        max_backoff: config.stage.max_backoff,
        counts: counts.clone(),
    };
    let stage = Stage {
        processor: PROCESSOR.into(),
        kafka: config.kafka.clone(),
        inputs: vec![source.clone()],
        dlq_topic: names.name(Topic::Dlq),
        codec: codec.clone(),
        section: config.stage.clone(),
        prepare: AvroInput::<LlmEvent>::new(codec),
        step: ToRow {
            topics: vec![source],
            policy: config.policy.load()?,
            keys: KeyRing::new(config.policy.master_key().unwrap_or_else(|| {
                tracing::warn!(
                    env = %config.policy.fingerprint_key_env,
                    "fingerprint key not set; findings in text from producers other than the shim get fingerprints that match nothing else"
                );
                [uuid_bytes(), uuid_bytes()].concat()
            })),
        },
        effect,
        metrics,
    };
    let stats = sightline_stage::run(stage, shutdown).await?;
    Ok(Stats {
        inserted: counts.inserted.get(),
        skipped: counts.skipped.get(),
        dead_lettered: stats.dead_lettered,
    })
}

fn uuid_bytes() -> Vec<u8> {
    sightline_events::LlmEvent::new_id().into_bytes()
}

async fn insert(
    client: &sightline_clickhouse::Client,
    rows: &[LlmCallRow],
) -> sightline_clickhouse::Result<()> {
    let mut insert = client.insert::<LlmCallRow>(TABLE).await?;
    for row in rows {
        insert.write(row).await?;
    }
    insert.end().await?;
    Ok(())
}
