use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::{KafkaConfig, Result};

const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// Where each partition's state can be rebuilt from: the lowest input offset a stage's state
/// still depends on, recorded with each stored offset and committed, after the group's own
/// commit, under the group `<group>.rebuild`.
///
/// Committed in that order, a crash between the two leaves an older (lower) rebuild point,
/// which only means re-reading more.
struct Checkpoints {
    client: BaseConsumer,
    stored: Mutex<HashMap<(String, i32), i64>>,
}

impl Checkpoints {
    fn commit(&self) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        if let Ok(stored) = self.stored.lock() {
            for ((topic, partition), offset) in stored.iter() {
                tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
            }
        }
        if tpl.count() > 0 {
            self.client.commit(&tpl, CommitMode::Sync)?;
        }
        Ok(())
    }
}

/// Commits what is stored before partitions move, counts rebalances and keeps the lag
/// librdkafka reports in its statistics.
struct GroupContext {
    generation: Arc<AtomicU64>,
    checkpoints: Arc<Checkpoints>,
    lag: Arc<Mutex<HashMap<(String, i32), i64>>>,
    /// See [`KafkaConfig::fetch_lookback`].
    lookback: i64,
    /// Per assigned partition, its committed offset: records before it are dropped.
    resume_from: Arc<Mutex<HashMap<(String, i32), i64>>>,
}

impl GroupContext {
    /// The assignment with each partition fetched from `lookback` records before its
    /// committed offset (remembered, so [`AtLeastOnceConsumer::recv`] drops what lies before
    /// it); partitions without a commit start where `auto.offset.reset` says.
    fn looking_back(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &TopicPartitionList,
    ) -> TopicPartitionList {
        let committed = match consumer.committed_offsets(tpl.clone(), BROKER_TIMEOUT) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read committed offsets; resuming without looking back");
                return tpl.clone();
            }
        };
        let mut out = TopicPartitionList::new();
        let mut from = self.resume_from.lock().ok();
        for e in committed.elements() {
            let (topic, partition) = (e.topic(), e.partition());
            let offset = match e.offset() {
                Offset::Offset(c) => {
                    // The broker's end may lag what it holds by up to a batch (tansu reports
                    // the start of the last batch); a commit beyond even that is from an
                    // earlier life of the topic (recreated): start at its beginning, drop
                    // nothing.
                    let high = consumer
                        .fetch_watermarks(topic, partition, BROKER_TIMEOUT)
                        .map(|(_, high)| high)
                        .unwrap_or(i64::MAX);
                    if c > high.saturating_add(self.lookback) {
                        tracing::warn!(
                            topic,
                            partition,
                            committed = c,
                            end = high,
                            "the committed offset lies beyond the partition's end (was the topic recreated?); reading it from the beginning"
                        );
                        if let Some(from) = from.as_mut() {
                            from.remove(&(topic.to_string(), partition));
                        }
                        Offset::Beginning
                    } else {
                        if let Some(from) = from.as_mut() {
                            from.insert((topic.to_string(), partition), c);
                        }
                        Offset::Offset((c - self.lookback).max(0))
                    }
                }
                other => other,
            };
            if out.add_partition_offset(topic, partition, offset).is_err() {
                out.add_partition(topic, partition);
            }
        }
        out
    }
}

impl ClientContext for GroupContext {
    /// Parsed loosely: only the lag is read, so a broker that omits other fields (tansu
    /// does) still reports it.
    fn stats_raw(&self, statistics: &[u8]) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(statistics) else {
            return;
        };
        let Some(topics) = v.get("topics").and_then(|t| t.as_object()) else {
            return;
        };
        if let Ok(mut lag) = self.lag.lock() {
            lag.clear();
            for (name, topic) in topics {
                let Some(partitions) = topic.get("partitions").and_then(|p| p.as_object()) else {
                    continue;
                };
                for (partition, p) in partitions {
                    let n = p.get("consumer_lag").and_then(serde_json::Value::as_i64);
                    // -1 is librdkafka's "unknown"; partition -1 is its internal UA partition.
                    if let (Ok(partition), Some(n)) = (partition.parse::<i32>(), n) {
                        if partition >= 0 && n >= 0 {
                            lag.insert((name.clone(), partition), n);
                        }
                    }
                }
            }
        }
    }
}

/// The context of a read-back consumer: it reads to the end of a partition on purpose, so the
/// end is no error worth an ERROR line on every restart.
struct ReadBackContext;

impl ClientContext for ReadBackContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(
            error,
            KafkaError::Global(RDKafkaErrorCode::PartitionEOF) | KafkaError::PartitionEOF(_)
        ) {
            tracing::error!(error = %error, reason, "kafka client error while reading back");
        }
    }
}

impl ConsumerContext for ReadBackContext {}

impl ConsumerContext for GroupContext {
    /// As librdkafka's own (eager) rebalance, except that an assignment starts
    /// [`KafkaConfig::fetch_lookback`] records before each committed offset.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: rdkafka::types::RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        use rdkafka::types::RDKafkaRespErr;
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.pre_rebalance(consumer, &Rebalance::Assign(tpl));
                let from = self.looking_back(consumer, tpl);
                if let Err(e) = consumer.assign(&from) {
                    tracing::error!(error = %e, "cannot take the assigned partitions");
                }
                self.post_rebalance(consumer, &Rebalance::Assign(tpl));
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.pre_rebalance(consumer, &Rebalance::Revoke(tpl));
                if let Err(e) = consumer.unassign() {
                    tracing::error!(error = %e, "cannot give up the revoked partitions");
                }
                if let Ok(mut from) = self.resume_from.lock() {
                    from.clear();
                }
                self.post_rebalance(consumer, &Rebalance::Revoke(tpl));
            }
            other => {
                let e = KafkaError::Rebalance(other.into());
                if let Err(e) = consumer.unassign() {
                    tracing::error!(error = %e, "cannot give up the partitions after a failed rebalance");
                }
                self.post_rebalance(consumer, &Rebalance::Error(e));
            }
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            // Whatever is durable is committed before another member takes the partitions.
            match commit_stored(consumer) {
                Ok(()) => {
                    if let Err(e) = self.checkpoints.commit() {
                        tracing::warn!(error = %e, "cannot commit rebuild points on revoke");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot commit offsets on revoke; the next owner replays them")
                }
            }
            if let Ok(mut stored) = self.checkpoints.stored.lock() {
                stored.clear();
            }
            tracing::info!(partitions = tpl.count(), "partitions revoked");
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = tpl.count(), "partitions assigned")
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

fn commit_stored<C: Consumer<X>, X: ConsumerContext>(consumer: &C) -> Result<()> {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => Ok(()),
        // Nothing stored since the last commit.
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A consumer-group member that commits only offsets the caller has stored.
///
/// Auto-store and auto-commit are off: call [`store`](Self::store) after the record's effect
/// is durable, and [`commit_now`](Self::commit_now) on an interval and on shutdown. Stored
/// offsets are also committed when partitions are revoked.
pub struct AtLeastOnceConsumer {
    inner: StreamConsumer<GroupContext>,
    generation: Arc<AtomicU64>,
    checkpoints: Arc<Checkpoints>,
    lag: Arc<Mutex<HashMap<(String, i32), i64>>>,
    resume_from: Arc<Mutex<HashMap<(String, i32), i64>>>,
    config: KafkaConfig,
}

/// Where a partition resumes: the group's committed offset and the rebuild point committed
/// with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumePoint {
    /// The next offset to read.
    pub next: i64,
    /// The lowest offset the state at `next` depended on, when one was committed.
    pub rebuild_from: Option<i64>,
}

/// A record read back outside a group (to rebuild state, or by the CLI).
#[derive(Debug, Clone)]
pub struct ReadBack {
    /// Its offset.
    pub offset: i64,
    /// The broker's timestamp of the record, if it has one.
    pub timestamp_ms: Option<i64>,
    /// Its bytes.
    pub payload: Option<Vec<u8>>,
}

/// How long a read to the end of a partition waits, after the broker reported the end, for
/// records its high watermark did not show yet.
const END_SETTLES: Duration = Duration::from_millis(300);

/// How long a stage's fetch waits for data at most, in milliseconds.
pub const FETCH_WAIT_MAX_MS: &str = "100";

impl AtLeastOnceConsumer {
    /// Joins `group` and subscribes to `topics`.
    pub fn subscribe(config: &KafkaConfig, group: &str, topics: &[&str]) -> Result<Self> {
        let checkpoints = Arc::new(Checkpoints {
            client: config
                .client_config(&[])
                .set("group.id", format!("{group}.rebuild"))
                .set("enable.auto.commit", "false")
                .create()?,
            stored: Mutex::new(HashMap::new()),
        });
        let generation = Arc::new(AtomicU64::new(0));
        let lag = Arc::new(Mutex::new(HashMap::new()));
        let resume_from = Arc::new(Mutex::new(HashMap::new()));
        let context = GroupContext {
            generation: generation.clone(),
            checkpoints: checkpoints.clone(),
            lag: lag.clone(),
            lookback: config.fetch_lookback.max(0),
            resume_from: resume_from.clone(),
        };
        // A fetch waits at most 100 ms for data (librdkafka's default is 500 ms): each stage
        // is a hop on the way from a paste to a page, and a broker that answers fetches only
        // when the wait is up (tansu does) would add the whole wait per hop. Idle, it costs
        // ten small fetches a second per broker. `kafka.librdkafka` may override it.
        let inner: StreamConsumer<GroupContext> = config
            .client_config(&[("fetch.wait.max.ms", FETCH_WAIT_MAX_MS)])
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            // Eager rebalancing: every partition is revoked and refetched from its commit.
            .set("partition.assignment.strategy", "range,roundrobin")
            .set("statistics.interval.ms", "5000")
            .create_with_context(context)?;
        inner.subscribe(topics)?;
        Ok(Self {
            inner,
            generation,
            checkpoints,
            lag,
            resume_from,
            config: config.clone(),
        })
    }

    /// The next record at or after its partition's committed offset (what the look-back
    /// fetches before it is dropped). Errors are transient broker errors; log and keep
    /// polling.
    pub async fn recv(&self) -> Result<BorrowedMessage<'_>> {
        loop {
            let m = self.inner.recv().await?;
            let from = self
                .resume_from
                .lock()
                .ok()
                .and_then(|f| f.get(&(m.topic().to_string(), m.partition())).copied());
            if from.is_none_or(|from| m.offset() >= from) {
                return Ok(m);
            }
        }
    }

    /// Marks the record at `offset` of `topic`/`partition` as processed; `offset + 1`, the next
    /// one to read, is committed next (librdkafka's `rd_kafka_offset_store` adds the one
    /// itself). `rebuild_from` is the lowest offset the caller's state still depends on.
    pub fn store(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        rebuild_from: Option<i64>,
    ) -> Result<()> {
        self.inner.store_offset(topic, partition, offset)?;
        if let (Some(from), Ok(mut stored)) = (rebuild_from, self.checkpoints.stored.lock()) {
            stored.insert((topic.to_string(), partition), from.min(offset + 1));
        }
        Ok(())
    }

    /// Synchronously commits everything stored so far, then the rebuild points.
    pub fn commit_now(&self) -> Result<()> {
        commit_stored(&self.inner)?;
        self.checkpoints.commit()
    }

    /// Changes whenever partitions are assigned or revoked.
    pub fn rebalance_generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Partitions currently assigned, as `(topic, partition)`.
    pub fn assignment(&self) -> Result<Vec<(String, i32)>> {
        let tpl = self.inner.assignment()?;
        Ok(tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect())
    }

    /// For each of `partitions`, the group's committed offset (the next to read) and the
    /// rebuild point committed with it, when there is one.
    pub fn resume_points(
        &self,
        partitions: &[(String, i32)],
    ) -> Result<HashMap<(String, i32), ResumePoint>> {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition) in partitions {
            tpl.add_partition(topic, *partition);
        }
        let committed = self.inner.committed_offsets(tpl.clone(), BROKER_TIMEOUT)?;
        let rebuild = self
            .checkpoints
            .client
            .committed_offsets(tpl, BROKER_TIMEOUT)?;
        let mut out = HashMap::new();
        for e in committed.elements() {
            let Offset::Offset(next) = e.offset() else {
                continue;
            };
            let from = rebuild
                .find_partition(e.topic(), e.partition())
                .and_then(|r| match r.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                });
            out.insert(
                (e.topic().to_string(), e.partition()),
                ResumePoint {
                    next,
                    rebuild_from: from,
                },
            );
        }
        Ok(out)
    }

    /// Reads up to `limit` records of `topic`/`partition` from `from`, up to (not including)
    /// `until`, or to the end of the partition when `until` is `None`; see [`read_back`].
    pub fn read_range(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        until: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ReadBack>> {
        read_back(&self.config, topic, partition, from, until, limit)
    }

    /// Records behind the high watermark per assigned partition, as librdkafka last reported
    /// (every 5 s).
    pub fn lag(&self) -> Vec<(String, i32, i64)> {
        self.lag
            .lock()
            .map(|l| l.iter().map(|((t, p), n)| (t.clone(), *p, *n)).collect())
            .unwrap_or_default()
    }

    /// Waits (bounded) until the group has given this member at least one partition.
    pub async fn wait_for_assignment(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.assignment().is_ok_and(|a| !a.is_empty()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

/// Reads up to `limit` records of `topic`/`partition` from `from`, up to (not including)
/// `until`, or up to the end the broker reports in its fetch responses when `until` is `None`,
/// outside any group, blocking. Fewer than `limit` records means the range is done; read
/// long ranges in chunks, from the offset after the last record. For rebuilding state and
/// for the CLI; run it off the async reactor. A `from` the topic no longer holds (retention)
/// starts at the oldest record kept. Fails when no record arrives for a minute.
///
/// The end comes from the fetch response's high watermark (partition EOF), not from a
/// ListOffsets request: tansu 0.6 answers the latter with the base offset of the last batch.
pub fn read_back(
    config: &KafkaConfig,
    topic: &str,
    partition: i32,
    from: i64,
    until: Option<i64>,
    limit: usize,
) -> Result<Vec<ReadBack>> {
    let reader: BaseConsumer<ReadBackContext> = config
        .client_config(&[])
        .set("group.id", "sightline.read-back")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .create_with_context(ReadBackContext)?;
    // From `fetch_lookback` records before `from` (see `KafkaConfig::fetch_lookback`); what
    // lies before `from` is dropped below.
    let mut tpl = TopicPartitionList::new();
    let start = (from - config.fetch_lookback.max(0)).max(0);
    tpl.add_partition_offset(topic, partition, Offset::Offset(start))?;
    reader.assign(&tpl)?;
    let mut out = Vec::new();
    let idle = BROKER_TIMEOUT * 6;
    let mut deadline = std::time::Instant::now() + idle;
    let mut next = from;
    let mut eof_at: Option<std::time::Instant> = None;
    loop {
        if until.is_some_and(|u| next >= u) || out.len() >= limit {
            break;
        }
        if std::time::Instant::now() > deadline {
            return Err(KafkaError::MessageConsumption(RDKafkaErrorCode::OperationTimedOut).into());
        }
        match reader.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                deadline = std::time::Instant::now() + idle;
                eof_at = None;
                if m.offset() < from {
                    continue;
                }
                next = m.offset() + 1;
                if until.is_none_or(|u| m.offset() < u) {
                    out.push(ReadBack {
                        offset: m.offset(),
                        timestamp_ms: m.timestamp().to_millis(),
                        payload: m.payload().map(<[u8]>::to_vec),
                    });
                }
            }
            // The end of what the partition holds (short of `until` only when the topic lost
            // records, e.g. it was recreated: what is there is all there is).
            Some(Err(KafkaError::PartitionEOF(_))) => {
                if until.is_some() {
                    tracing::warn!(topic, partition, next, until = ?until, "partition ends before the offset asked for");
                    break;
                }
                // To the end: a broker whose high watermark lags what it holds reports the
                // end early, so the end counts once nothing more arrives for a moment.
                eof_at.get_or_insert_with(std::time::Instant::now);
            }
            Some(Err(e)) => return Err(e.into()),
            None => {
                if eof_at.is_some_and(|t| t.elapsed() >= END_SETTLES) {
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// The offset after the last record of `topic`/`partition` as the broker reports it (may
/// lag what it holds on tansu 0.6; good for progress estimates, not for reading to the end).
pub fn high_watermark(config: &KafkaConfig, topic: &str, partition: i32) -> Result<i64> {
    let client: BaseConsumer = config
        .client_config(&[])
        .set("group.id", "sightline.metadata")
        .create()?;
    let (_, high) = client.fetch_watermarks(topic, partition, BROKER_TIMEOUT)?;
    Ok(high)
}

/// How many partitions `topic` has, from the broker's metadata.
pub fn partition_count(config: &KafkaConfig, topic: &str) -> Result<usize> {
    let client: BaseConsumer = config
        .client_config(&[])
        .set("group.id", "sightline.metadata")
        .create()?;
    let metadata = client.fetch_metadata(Some(topic), BROKER_TIMEOUT)?;
    let count = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len());
    Ok(count)
}

/// Every record of `topic`, partition by partition, from the start to the end; blocking.
pub fn read_topic(config: &KafkaConfig, topic: &str) -> Result<Vec<(i32, ReadBack)>> {
    let mut out = Vec::new();
    for partition in 0..i32::try_from(partition_count(config, topic)?).unwrap_or(i32::MAX) {
        out.extend(
            read_back(config, topic, partition, 0, None, usize::MAX)?
                .into_iter()
                .map(|r| (partition, r)),
        );
    }
    Ok(out)
}
