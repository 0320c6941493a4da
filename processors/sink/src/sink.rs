//! The stage loop: consume, decode, batch, insert, then store offsets.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sightline_clickhouse::{progress, Batch};
use sightline_events::{Codec, LlmEvent};
use sightline_kafka::{
    AtLeastOnceConsumer, BorrowedMessage, DeadLetters, Message, Producer, Topic, TopicNames,
};
use sightline_runtime::{Backoff, Shutdown};

use crate::row::LlmCallRow;
use crate::{Result, SinkConfig};

/// Table this sink writes.
pub const TABLE: &str = "llm_calls";

/// Counters reported in the periodic progress log.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Rows inserted into ClickHouse.
    pub inserted: u64,
    /// Records skipped because ClickHouse already held them (replays).
    pub skipped: u64,
    /// Records sent to the DLQ.
    pub dead_lettered: u64,
}

struct Stage {
    client: sightline_clickhouse::Client,
    consumer: AtLeastOnceConsumer,
    codec: Codec,
    dlq: DeadLetters,
    source: String,
    batch: Batch<LlmCallRow>,
    /// Highest offset handled per partition, not yet stored.
    pending: HashMap<i32, i64>,
    /// Highest offset ClickHouse holds per partition.
    watermarks: HashMap<i32, i64>,
    /// Partitions whose watermark was checked against a record ClickHouse holds.
    verified: std::collections::HashSet<i32>,
    generation: Option<u64>,
    max_backoff: Duration,
    stats: Stats,
}

/// Runs the sink until `shutdown`, then flushes and commits within the grace period.
pub async fn run(config: SinkConfig, shutdown: Shutdown) -> Result<Stats> {
    let codec = config.schema_registry.codec()?;
    let names = TopicNames::from(&config.topics);
    let source = names.name(Topic::Events);
    let producer = Producer::new(&config.kafka)?;
    let dlq = DeadLetters::new(producer, codec.clone(), names.name(Topic::Dlq), "sink");
    let consumer =
        AtLeastOnceConsumer::subscribe(&config.kafka, &config.sink.group_id, &[&source])?;
    tracing::info!(topic = %source, group = %config.sink.group_id, table = TABLE, "sink started");
    let mut stage = Stage {
        client: config.clickhouse.client(),
        consumer,
        codec,
        dlq,
        source,
        batch: Batch::new(config.batch.clone()),
        pending: HashMap::new(),
        watermarks: HashMap::new(),
        verified: Default::default(),
        generation: None,
        max_backoff: config.sink.max_backoff,
        stats: Stats::default(),
    };
    let result = stage.consume(&shutdown).await;
    let drained = sightline_runtime::shutdown::within_grace(config.sink.shutdown_grace, async {
        stage.flush(&Shutdown::new()).await?;
        stage.consumer.commit_now()?;
        Ok::<_, crate::Error>(())
    })
    .await;
    match drained {
        Some(Ok(())) => tracing::info!(stats = ?stage.stats, "sink stopped; offsets committed"),
        Some(Err(e)) => {
            tracing::error!(error = %e, "sink could not flush on shutdown; records will be replayed")
        }
        None => {
            tracing::error!("sink shutdown grace period passed; unflushed records will be replayed")
        }
    }
    result.map(|()| stage.stats)
}

impl Stage {
    async fn consume(&mut self, shutdown: &Shutdown) -> Result<()> {
        let mut last_report = Instant::now();
        loop {
            let deadline = self.batch.deadline().map(tokio::time::Instant::from_std);
            tokio::select! {
                biased;
                () = shutdown.wait() => return Ok(()),
                () = sleep_until(deadline) => {}
                msg = self.consumer.recv() => match msg {
                    Ok(msg) => {
                        let owned = Owned::from(&msg);
                        drop(msg);
                        self.handle(owned, shutdown).await?;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "kafka consumer error; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                },
            }
            if self.batch.is_due(Instant::now()) {
                self.flush(shutdown).await?;
            }
            if last_report.elapsed() >= Duration::from_secs(30) {
                tracing::info!(stats = ?self.stats, batched = self.batch.len(), "sink progress");
                last_report = Instant::now();
            }
        }
    }

    async fn handle(&mut self, msg: Owned, shutdown: &Shutdown) -> Result<()> {
        let generation = self.consumer.rebalance_generation();
        if self.generation != Some(generation) {
            // Partitions moved: write what we hold, then learn what ClickHouse already has.
            self.flush(shutdown).await?;
            self.watermarks = self
                .with_retry("reading sink_progress", shutdown, |s| {
                    let client = s.client.clone();
                    let topic = s.source.clone();
                    async move { progress::watermarks(&client, TABLE, &topic).await }
                })
                .await?;
            self.verified.clear();
            tracing::info!(watermarks = ?self.watermarks, "resuming from ClickHouse");
            self.generation = Some(generation);
        }
        let covered = self
            .watermarks
            .get(&msg.partition)
            .is_some_and(|w| msg.offset <= *w);
        if covered && self.verified.contains(&msg.partition) {
            self.stats.skipped += 1;
        } else {
            let decoded = self.decode(&msg, shutdown).await?;
            let mut skip = covered;
            if let (true, Ok(event)) = (covered, &decoded) {
                // Trust the watermark only once ClickHouse holds this very record at this
                // offset: a recreated or wiped topic restarts its offsets, and its records must
                // not be mistaken for ones already written.
                let stored = self
                    .with_retry("checking sink_progress", shutdown, |s| {
                        let (client, topic) = (s.client.clone(), s.source.clone());
                        let (partition, offset) = (msg.partition, msg.offset);
                        async move {
                            progress::event_at(&client, TABLE, &topic, partition, offset).await
                        }
                    })
                    .await?;
                if stored.as_deref() == Some(event.event_id.as_str()) {
                    self.verified.insert(msg.partition);
                } else {
                    tracing::warn!(
                        topic = %msg.topic,
                        partition = msg.partition,
                        watermark = ?self.watermarks.get(&msg.partition),
                        "ClickHouse holds offsets this topic does not (was it recreated?); writing the partition from here"
                    );
                    self.watermarks.remove(&msg.partition);
                    skip = false;
                }
            }
            match decoded {
                // Undecodable records under the watermark were dead-lettered the first time.
                _ if skip => self.stats.skipped += 1,
                Ok(event) => {
                    let row = LlmCallRow::from_event(event, &msg.topic, msg.partition, msg.offset);
                    let size = row.approx_bytes();
                    self.batch.push(row, size, Instant::now());
                }
                Err(reason) => {
                    self.dead_letter(&msg, &reason, shutdown).await?;
                    self.stats.dead_lettered += 1;
                }
            }
        }
        self.pending.insert(msg.partition, msg.offset);
        if self.batch.is_empty() {
            self.store_pending()?;
        }
        Ok(())
    }

    /// `Ok(Err(reason))` for bad input; retries while the registry is unreachable.
    async fn decode(
        &mut self,
        msg: &Owned,
        shutdown: &Shutdown,
    ) -> Result<std::result::Result<LlmEvent, String>> {
        let mut backoff = Backoff::new(Duration::from_millis(100), self.max_backoff);
        loop {
            let Some(payload) = msg.payload.as_deref() else {
                return Ok(Err("record has no payload (tombstone)".into()));
            };
            match self.codec.decode::<LlmEvent>(payload).await {
                Ok(event) => return Ok(Ok(event)),
                Err(e) if e.is_retryable() && !shutdown.is_triggered() => {
                    tracing::warn!(error = %e, "cannot decode yet; retrying");
                    tokio::time::sleep(backoff.next_wait()).await;
                }
                Err(e) => return Ok(Err(e.to_string())),
            }
        }
    }

    async fn dead_letter(&mut self, msg: &Owned, reason: &str, shutdown: &Shutdown) -> Result<()> {
        let mut backoff = Backoff::new(Duration::from_millis(100), self.max_backoff);
        loop {
            match self
                .dlq
                .send_parts(
                    &msg.topic,
                    msg.partition,
                    msg.offset,
                    msg.key.as_deref(),
                    msg.payload.as_deref(),
                    reason,
                )
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) if !shutdown.is_triggered() => {
                    tracing::warn!(error = %e, "DLQ send failed; retrying");
                    tokio::time::sleep(backoff.next_wait()).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn flush(&mut self, shutdown: &Shutdown) -> Result<()> {
        if !self.batch.is_empty() {
            let rows = self.batch.len();
            self.with_retry("inserting into llm_calls", shutdown, |s| {
                let client = s.client.clone();
                let rows = s.batch.rows().to_vec();
                async move { insert(&client, &rows).await }
            })
            .await?;
            for row in self.batch.rows() {
                let w = self.watermarks.entry(row._partition).or_insert(row._offset);
                *w = (*w).max(row._offset);
            }
            self.stats.inserted += rows as u64;
            tracing::debug!(rows, "batch inserted");
            self.batch.clear();
        }
        self.store_pending()
    }

    fn store_pending(&mut self) -> Result<()> {
        for (partition, offset) in self.pending.drain() {
            self.consumer.store(&self.source, partition, offset)?;
        }
        Ok(())
    }

    /// Retries a ClickHouse call with exponential back-off until it succeeds, fails with a
    /// non-retryable error, or shutdown starts.
    async fn with_retry<T, F, Fut>(
        &mut self,
        what: &str,
        shutdown: &Shutdown,
        mut f: F,
    ) -> Result<T>
    where
        F: FnMut(&Self) -> Fut,
        Fut: std::future::Future<Output = sightline_clickhouse::Result<T>>,
    {
        let mut backoff = Backoff::new(Duration::from_millis(200), self.max_backoff);
        loop {
            match f(self).await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retryable() && !shutdown.is_triggered() => {
                    let wait = backoff.next_wait();
                    tracing::warn!(error = %e, what, retry_in = ?wait, "ClickHouse unavailable; retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, what, "ClickHouse refused the request; check that `sightline migrate` ran against this database");
                    return Err(e.into());
                }
            }
        }
    }
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

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The parts of a Kafka message the stage needs after releasing the consumer borrow.
struct Owned {
    topic: String,
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
}

impl From<&BorrowedMessage<'_>> for Owned {
    fn from(m: &BorrowedMessage<'_>) -> Self {
        Self {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
        }
    }
}
