//! The loop: consume a batch, prepare, apply the step off the reactor, write the outputs
//! through the effect, store offsets once durable; rebalance, tick, commit, shut down.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use sightline_events::{now_ms, Codec};
use sightline_kafka::{AtLeastOnceConsumer, DeadLetters, KafkaConfig, Message, Producer};
use sightline_runtime::{retry, Shutdown};

use crate::{At, Durable, Effect, Error, Fault, Prepare, Result, StageMetrics, StageSection, Step};

/// Records prepared at once (decoding, an outside question such as a judge call).
const PREPARE_CONCURRENCY: usize = 16;

/// Records re-read at once when rebuilding state.
const REBUILD_CHUNK: usize = 20_000;

/// Everything a stage runs with.
pub struct Stage<P, S, E> {
    /// Processor name: the consumer group suffix, the DLQ's `processor`, the metrics label.
    pub processor: String,
    /// Broker settings.
    pub kafka: KafkaConfig,
    /// Input topics; [`At::topic`] indexes this list.
    pub inputs: Vec<String>,
    /// Where bad input goes.
    pub dlq_topic: String,
    /// Codec for DLQ records.
    pub codec: Codec,
    /// `[stage]`.
    pub section: StageSection,
    /// Decoder (and any outside question).
    pub prepare: P,
    /// The pure step.
    pub step: S,
    /// Where outputs go.
    pub effect: E,
    /// Metrics (create with [`StageMetrics::new`], register the processor's own first).
    pub metrics: StageMetrics,
}

/// What a stage did, returned when it stops.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Records read.
    pub consumed: u64,
    /// Outputs written.
    pub produced: u64,
    /// Records sent to the DLQ.
    pub dead_lettered: u64,
    /// Records re-read to rebuild state.
    pub rebuilt: u64,
}

/// A record copied out of the consumer, with the rebalance generation it arrived in.
struct Owned {
    at: At,
    /// The broker's timestamp of the record (when it was written), if it has one.
    written_ms: Option<i64>,
    generation: u64,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
}

struct Loop<P, S: Step, E> {
    processor: String,
    inputs: Vec<String>,
    section: StageSection,
    prepare: P,
    step: S,
    effect: E,
    metrics: StageMetrics,
    consumer: AtLeastOnceConsumer,
    dlq: DeadLetters,
    /// Highest offset handled per partition, with the rebuild point at that offset, not yet
    /// stored because the effect has not made it durable.
    pending: HashMap<(usize, i32), (i64, Option<i64>)>,
    assigned: HashSet<(usize, i32)>,
    /// The next offset per partition as last stored (committed on revoke): a partition that
    /// comes back with exactly this committed offset was not handled elsewhere meanwhile.
    stored_next: HashMap<(usize, i32), i64>,
    generation: u64,
    stats: Stats,
}

/// Runs `stage` until `shutdown` (or a fatal fault), then flushes and commits within the grace.
///
/// Needs Tokio's multi-thread runtime: the step and blocking broker calls run in
/// `block_in_place`.
pub async fn run<P, S, E>(stage: Stage<P, S, E>, shutdown: Shutdown) -> Result<Stats>
where
    P: Prepare<Out = S::In>,
    S: Step,
    E: Effect<Item = S::Out>,
{
    let group = stage.section.group(&stage.processor);
    let topics: Vec<&str> = stage.inputs.iter().map(String::as_str).collect();
    let consumer = AtLeastOnceConsumer::subscribe(&stage.kafka, &group, &topics)?;
    let producer = Producer::new(&stage.kafka)?;
    let dlq = DeadLetters::new(
        producer,
        stage.codec.clone(),
        stage.dlq_topic.clone(),
        &stage.processor,
    );
    if !stage.section.metrics_listen.is_empty() {
        crate::serve_metrics(
            &stage.section.metrics_listen,
            stage.metrics.clone(),
            shutdown.clone(),
        )
        .await?;
    }
    tracing::info!(processor = %stage.processor, group = %group, inputs = ?stage.inputs, "stage started");
    let grace = stage.section.shutdown_grace;
    let mut l = Loop {
        processor: stage.processor,
        inputs: stage.inputs,
        section: stage.section,
        prepare: stage.prepare,
        step: stage.step,
        effect: stage.effect,
        metrics: stage.metrics,
        consumer,
        dlq,
        pending: HashMap::new(),
        assigned: HashSet::new(),
        stored_next: HashMap::new(),
        generation: 0,
        stats: Stats::default(),
    };
    let result = match l.consume(&shutdown).await {
        Err(Error::Interrupted { message, .. }) => {
            tracing::warn!(processor = %l.processor, reason = %message, "stopped during an outage; the rest is redone from the last commit");
            Ok(())
        }
        other => other,
    };
    let drained = sightline_runtime::shutdown::within_grace(grace, async {
        // A fresh token: the grace period is for finishing, so retries go on within it.
        let finishing = Shutdown::new();
        l.effect.flush(&finishing).await.map_err(|f| l.fatal(f))?;
        l.store_pending()?;
        let consumer = &l.consumer;
        tokio::task::block_in_place(|| consumer.commit_now())?;
        Ok::<_, Error>(())
    })
    .await;
    match drained {
        Some(Ok(())) => {
            tracing::info!(processor = %l.processor, stats = ?l.stats, "stage stopped; offsets committed")
        }
        Some(Err(e)) => {
            tracing::error!(processor = %l.processor, error = %e, "stage could not flush on shutdown; unflushed records will be replayed")
        }
        None => {
            tracing::error!(processor = %l.processor, "shutdown grace period passed; unflushed records will be replayed")
        }
    }
    result.map(|()| l.stats)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

impl<P, S, E> Loop<P, S, E>
where
    P: Prepare<Out = S::In>,
    S: Step,
    E: Effect<Item = S::Out>,
{
    /// The error a fault stops the stage with: a transient one only reaches here once
    /// shutdown started, and is no failure.
    fn fatal(&self, fault: Fault) -> Error {
        match fault {
            Fault::Transient(message) => Error::Interrupted {
                processor: self.processor.clone(),
                message,
            },
            other => Error::Fatal {
                processor: self.processor.clone(),
                message: other.to_string(),
            },
        }
    }

    async fn consume(&mut self, shutdown: &Shutdown) -> Result<()> {
        let mut tick = tokio::time::interval(self.section.tick_every);
        let mut commit = tokio::time::interval(self.section.commit_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        commit.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_report = Instant::now();
        loop {
            self.follow_rebalance(shutdown).await?;
            let deadline = self.effect.deadline();
            tokio::select! {
                biased;
                () = shutdown.wait() => return Ok(()),
                () = sleep_until(deadline) => {
                    // A rebalance while the select waited drops the buffer instead: its rows
                    // may belong to partitions another member now owns.
                    if !self.follow_rebalance(shutdown).await? {
                        self.effect.flush(shutdown).await.map_err(|f| self.fatal(f))?;
                        self.store_pending()?;
                    }
                }
                _ = commit.tick() => {
                    self.report_lag();
                    let consumer = &self.consumer;
                    if let Err(e) = tokio::task::block_in_place(|| consumer.commit_now()) {
                        tracing::warn!(error = %e, "offset commit failed; retried on the next interval");
                    }
                }
                _ = tick.tick() => self.tick(shutdown).await?,
                msg = self.consumer.recv() => match msg {
                    Ok(first) => {
                        let mut batch = vec![self.own(&first)];
                        drop(first);
                        while batch.len() < self.section.max_batch {
                            match self.consumer.recv().now_or_never() {
                                Some(Ok(m)) => {
                                    let owned = self.own(&m);
                                    drop(m);
                                    batch.push(owned);
                                }
                                _ => break,
                            }
                        }
                        self.handle(batch, shutdown).await?;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "kafka consumer error; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                },
            }
            if last_report.elapsed() >= Duration::from_secs(30) {
                tracing::info!(processor = %self.processor, stats = ?self.stats, state = self.step.state_size(), "stage progress");
                last_report = Instant::now();
            }
        }
    }

    fn own(&self, m: &sightline_kafka::BorrowedMessage<'_>) -> Owned {
        let topic = self.inputs.iter().position(|t| t == m.topic()).unwrap_or(0);
        Owned {
            at: At {
                topic,
                partition: m.partition(),
                offset: m.offset(),
            },
            written_ms: m.timestamp().to_millis(),
            generation: self.consumer.rebalance_generation(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
        }
    }

    async fn tick(&mut self, shutdown: &Shutdown) -> Result<()> {
        let mut out = Vec::new();
        self.step.tick(now_ms(), &mut out);
        if !out.is_empty() {
            let n = out.len() as u64;
            self.effect
                .write(out, shutdown)
                .await
                .map_err(|f| self.fatal(f))?;
            self.stats.produced += n;
            self.metrics.produced.inc_by(n);
        }
        Ok(())
    }

    /// Handles a batch. When partitions moved since the batch began, what was fetched before
    /// is dropped: the revoke callback committed what was durable, and each partition's owner
    /// redoes the rest from there.
    async fn handle(&mut self, mut batch: Vec<Owned>, shutdown: &Shutdown) -> Result<()> {
        if self.follow_rebalance(shutdown).await? {
            let fetched = batch.len();
            let latest = self.generation;
            batch.retain(|m| m.generation == latest);
            if batch.len() < fetched {
                tracing::info!(
                    processor = %self.processor,
                    dropped = fetched - batch.len(),
                    "partitions moved; records fetched before are redone from the last commit"
                );
            }
        }
        if !batch.is_empty() {
            self.segment(batch, shutdown).await?;
        }
        Ok(())
    }

    /// Prepares, applies and writes a batch, then stores its offsets once durable. A retry cut
    /// short by shutdown leaves the rest for the next owner.
    async fn segment(&mut self, segment: Vec<Owned>, shutdown: &Shutdown) -> Result<()> {
        let mut prepared = Vec::with_capacity(segment.len());
        let mut handled = Vec::with_capacity(segment.len());
        let mut consumed = vec![0u64; self.inputs.len()];
        for m in &segment {
            consumed[m.at.topic] += 1;
        }
        self.stats.consumed += segment.len() as u64;
        // Prepared concurrently (a judge call need not wait for the one before), in order.
        let results: Vec<Option<std::result::Result<P::Out, Fault>>> = {
            let (prepare, max_backoff) = (&self.prepare, self.section.max_backoff);
            // Collected first: a lazy iterator of borrowing futures is not provably `Send`.
            let jobs: Vec<_> = segment
                .iter()
                .map(|m| async move {
                    let payload = m.payload.as_deref()?;
                    Some(
                        retry(
                            "preparing a record",
                            shutdown,
                            max_backoff,
                            |f: &Fault| matches!(f, Fault::Transient(_)),
                            || prepare.prepare(m.at.topic, payload, false),
                        )
                        .await,
                    )
                })
                .collect();
            futures::stream::iter(jobs)
                .buffered(PREPARE_CONCURRENCY)
                .collect()
                .await
        };
        for (m, result) in segment.into_iter().zip(results) {
            match result {
                None => {
                    self.dead_letter(&m, "record has no payload (tombstone)", shutdown)
                        .await?;
                    handled.push(m.at);
                }
                Some(Ok(input)) => {
                    handled.push(m.at);
                    prepared.push((m, input));
                }
                Some(Err(Fault::BadInput(reason))) => {
                    self.dead_letter(&m, &reason, shutdown).await?;
                    handled.push(m.at);
                }
                // Only once shutdown started: the rest is left for the next owner.
                Some(Err(Fault::Transient(_))) => break,
                Some(Err(fatal)) => return Err(self.fatal(fatal)),
            }
        }
        for (topic, n) in consumed.into_iter().enumerate().filter(|(_, n)| *n > 0) {
            self.metrics
                .consumed
                .get_or_create(&crate::metrics::TopicLabel {
                    topic: self.inputs[topic].clone(),
                })
                .inc_by(n);
        }
        // The step: pure CPU work, kept off the async reactor.
        let now = now_ms();
        let (out, rejected) = {
            let step = &mut self.step;
            let histogram = &self.metrics.step_seconds;
            tokio::task::block_in_place(|| {
                let mut out = Vec::new();
                let mut rejected = Vec::new();
                for (record, input) in prepared {
                    let started = Instant::now();
                    let written = record.written_ms.unwrap_or(now);
                    if let Err(fault) = step.apply(input, record.at, written, &mut out) {
                        // Kept whole: the DLQ gets the original bytes.
                        rejected.push((record, fault));
                    }
                    histogram.observe(started.elapsed().as_secs_f64());
                }
                (out, rejected)
            })
        };
        for (record, fault) in rejected {
            match fault {
                Fault::BadInput(reason) => self.dead_letter(&record, &reason, shutdown).await?,
                // A pure step has nothing to wait for: anything else is a defect or a config error.
                other => return Err(self.fatal(other)),
            }
        }
        let n = out.len() as u64;
        let durable = self
            .effect
            .write(out, shutdown)
            .await
            .map_err(|f| self.fatal(f))?;
        self.stats.produced += n;
        self.metrics.produced.inc_by(n);
        for at in handled {
            let rebuild = S::STATEFUL.then(|| {
                self.step
                    .retained_from(at.topic, at.partition)
                    .unwrap_or(at.offset + 1)
            });
            let entry = self
                .pending
                .entry((at.topic, at.partition))
                .or_insert((at.offset, rebuild));
            if at.offset >= entry.0 {
                *entry = (at.offset, rebuild);
            }
        }
        self.metrics.state_size.set(self.step.state_size() as i64);
        if durable == Durable::Now && self.effect.deadline().is_none() {
            self.store_pending()?;
        }
        Ok(())
    }

    /// Copies the lag librdkafka last reported into the gauges.
    fn report_lag(&self) {
        for (topic, partition, lag) in self.consumer.lag() {
            self.metrics
                .lag
                .get_or_create(&crate::metrics::PartitionLabel {
                    topic,
                    partition: partition.to_string(),
                })
                .set(lag);
        }
    }

    fn store_pending(&mut self) -> Result<()> {
        for ((topic, partition), (offset, rebuild)) in self.pending.drain() {
            self.stored_next.insert((topic, partition), offset + 1);
            if let Err(e) = self
                .consumer
                .store(&self.inputs[topic], partition, offset, rebuild)
            {
                // The partition moved away; its next owner replays from the last commit.
                tracing::debug!(error = %e, partition, "cannot store the offset of a revoked partition");
            }
        }
        Ok(())
    }

    async fn dead_letter(&mut self, m: &Owned, reason: &str, shutdown: &Shutdown) -> Result<()> {
        let topic = self.inputs[m.at.topic].clone();
        let dlq = self.dlq.clone();
        let payload = match m.payload.as_deref() {
            Some(bytes) => Some(self.prepare.dead_letter_payload(m.at.topic, bytes).await),
            None => None,
        };
        retry(
            "sending to the DLQ",
            shutdown,
            self.section.max_backoff,
            |e: &sightline_kafka::Error| e.is_retryable(),
            || {
                dlq.send_parts(
                    &topic,
                    m.at.partition,
                    m.at.offset,
                    m.key.as_deref(),
                    payload.as_deref(),
                    reason,
                )
            },
        )
        .await?;
        self.stats.dead_lettered += 1;
        self.metrics
            .dead_lettered
            .get_or_create(&crate::metrics::TopicLabel { topic })
            .inc();
        Ok(())
    }

    /// Handles a rebalance that happened since the last look; returns whether there was one.
    async fn follow_rebalance(&mut self, shutdown: &Shutdown) -> Result<bool> {
        let latest = self.consumer.rebalance_generation();
        if latest == self.generation {
            return Ok(false);
        }
        self.rebalance(shutdown).await?;
        self.generation = latest;
        Ok(true)
    }

    /// Partitions moved. Whatever is not durable is dropped (the revoke callback committed
    /// what is) and refetched from the commit by the partition's owner. The step keeps the
    /// state of a partition that stayed, or came back, with the committed offset it last
    /// stored (nobody handled it meanwhile); it loses the rest, and every other assigned
    /// partition is rebuilt from its committed rebuild point.
    async fn rebalance(&mut self, shutdown: &Shutdown) -> Result<()> {
        self.effect.discard();
        self.pending.clear();
        self.metrics.lag.clear();
        let (consumer, inputs) = (&self.consumer, &self.inputs);
        let now: Vec<(usize, i32)> = self
            .blocking("reading the assignment", shutdown, || consumer.assignment())
            .await?
            .into_iter()
            .filter_map(|(t, p)| inputs.iter().position(|i| *i == t).map(|i| (i, p)))
            .collect();
        let named: Vec<(String, i32)> = now
            .iter()
            .map(|(t, p)| (self.inputs[*t].clone(), *p))
            .collect();
        let points = if named.is_empty() {
            HashMap::new()
        } else {
            let consumer = &self.consumer;
            self.blocking("reading committed offsets", shutdown, || {
                consumer.resume_points(&named)
            })
            .await?
        };
        let committed: HashMap<(usize, i32), i64> = now
            .iter()
            .filter_map(|(t, p)| {
                points
                    .get(&(self.inputs[*t].clone(), *p))
                    .map(|r| ((*t, *p), r.next))
            })
            .collect();
        let kept = kept_partitions(
            &self.assigned,
            &now,
            &committed,
            &self.stored_next,
            S::SHARES_PARTITIONS,
        );
        let lost: Vec<(usize, i32)> = self.assigned.difference(&kept).copied().collect();
        if !lost.is_empty() {
            tracing::info!(processor = %self.processor, lost = lost.len(), kept = kept.len(), "dropping the state of partitions handed over");
            self.step.revoke(&lost);
        }
        // A partition nobody handles meanwhile keeps this commit: it is kept at the next
        // rebalance even if no record of it arrives before then.
        self.stored_next.retain(|p, _| kept.contains(p));
        for (p, next) in &committed {
            self.stored_next.entry(*p).or_insert(*next);
        }
        let mut gained: Vec<(usize, i32)> =
            now.iter().filter(|p| !kept.contains(p)).copied().collect();
        gained.sort_unstable();
        self.assigned = now.into_iter().collect();
        if self.assigned.is_empty() {
            return Ok(());
        }
        self.effect
            .assigned(shutdown)
            .await
            .map_err(|f| self.fatal(f))?;
        if S::STATEFUL && !gained.is_empty() {
            self.rebuild(&gained, &points, shutdown).await?;
        }
        Ok(())
    }

    /// Runs a blocking broker call off the reactor, retrying while it fails and shutdown has
    /// not started.
    async fn blocking<T>(
        &self,
        what: &str,
        shutdown: &Shutdown,
        call: impl Fn() -> sightline_kafka::Result<T>,
    ) -> Result<T> {
        let interrupted = |e: sightline_kafka::Error| Error::Interrupted {
            processor: self.processor.clone(),
            message: format!("{what}: {e}"),
        };
        retry(
            what,
            shutdown,
            self.section.max_backoff,
            |e: &sightline_kafka::Error| e.is_retryable(),
            || async { tokio::task::block_in_place(&call) },
        )
        .await
        .map_err(|e| {
            if e.is_retryable() {
                interrupted(e)
            } else {
                Error::Kafka(e)
            }
        })
    }

    /// Re-reads each gained partition from its committed rebuild point up to its committed
    /// offset (to its end, for a topic the stage writes itself) and replays it through the
    /// step, discarding the outputs (they were written before).
    async fn rebuild(
        &mut self,
        gained: &[(usize, i32)],
        points: &HashMap<(String, i32), sightline_kafka::ResumePoint>,
        shutdown: &Shutdown,
    ) -> Result<()> {
        // Cut short, the state is partial: stop rather than handle records with it.
        let interrupted = || Error::Interrupted {
            processor: self.processor.clone(),
            message: "shutdown while rebuilding state".into(),
        };
        for (topic, partition) in gained {
            if shutdown.is_triggered() {
                return Err(interrupted());
            }
            let name = self.inputs[*topic].clone();
            let point = points.get(&(name.clone(), *partition)).copied();
            let (from, until) = if self.step.rebuilds_to_end(*topic) {
                // The stage's own output: everything it wrote counts, consumed back or not.
                let from = point.map_or(0, |p| p.rebuild_from.unwrap_or(p.next));
                (from, None)
            } else if let Some(sightline_kafka::ResumePoint {
                next,
                rebuild_from: Some(from),
            }) = point
            {
                (from, Some(next))
            } else {
                tracing::info!(processor = %self.processor, topic = %name, partition, "no rebuild point committed; starting with empty state");
                continue;
            };
            if until.is_some_and(|next| from >= next) {
                continue;
            }
            let started = Instant::now();
            let mut next = from;
            let mut count = 0usize;
            let mut discard = Vec::new();
            // In chunks, so a long range is never all in memory.
            loop {
                let consumer = &self.consumer;
                let records = self
                    .blocking(
                        "re-reading a partition to rebuild its state",
                        shutdown,
                        || consumer.read_range(&name, *partition, next, until, REBUILD_CHUNK),
                    )
                    .await?;
                let done = records.len() < REBUILD_CHUNK;
                count += records.len();
                for r in records {
                    next = r.offset + 1;
                    let Some(payload) = r.payload.as_deref() else {
                        continue;
                    };
                    // Records that failed the first time went to the DLQ then; skip them again.
                    let Ok(input) = self.prepare.prepare(*topic, payload, true).await else {
                        continue;
                    };
                    let at = At {
                        topic: *topic,
                        partition: *partition,
                        offset: r.offset,
                    };
                    let written = r.timestamp_ms.unwrap_or_else(now_ms);
                    let _ = self.step.apply(input, at, written, &mut discard);
                    discard.clear();
                }
                if done {
                    break;
                }
                if shutdown.is_triggered() {
                    return Err(interrupted());
                }
                tracing::info!(processor = %self.processor, topic = %name, partition, records = count, "rebuilding state");
            }
            self.stats.rebuilt += count as u64;
            self.metrics.rebuilt.inc_by(count as u64);
            tracing::info!(processor = %self.processor, topic = %name, partition, from, until = ?until, records = count, took = ?started.elapsed(), "state rebuilt");
        }
        Ok(())
    }
}

/// The partitions whose state survives a rebalance: assigned before and now, with the
/// committed offset this member last stored (or committed when they were assigned), so nobody
/// handled them meanwhile. When the step keeps one state per partition number across its
/// inputs (`shared`), a number is kept only if all of its topics are.
fn kept_partitions(
    before: &HashSet<(usize, i32)>,
    now: &[(usize, i32)],
    committed: &HashMap<(usize, i32), i64>,
    stored_next: &HashMap<(usize, i32), i64>,
    shared: bool,
) -> HashSet<(usize, i32)> {
    let mut kept: HashSet<(usize, i32)> = now
        .iter()
        .filter(|p| before.contains(p) && committed.get(p) == stored_next.get(p))
        .copied()
        .collect();
    if shared {
        let broken: HashSet<i32> = now
            .iter()
            .chain(before.iter())
            .filter(|p| !kept.contains(p))
            .map(|(_, partition)| *partition)
            .collect();
        kept.retain(|(_, partition)| !broken.contains(partition));
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_kept_only_if_nobody_handled_it_meanwhile() {
        let before: HashSet<_> = [(0, 0), (0, 1), (1, 0), (1, 1)].into();
        let now = [(0, 0), (1, 0), (0, 2)];
        let committed: HashMap<_, _> = [((0, 0), 10), ((1, 0), 7), ((0, 2), 3)].into();
        // (1, 0) had no record here since it was assigned: its stored commit is the one it
        // was assigned with.
        let stored: HashMap<_, _> = [((0, 0), 10), ((1, 0), 7), ((0, 1), 4)].into();
        let kept = kept_partitions(&before, &now, &committed, &stored, false);
        assert_eq!(kept, [(0, 0), (1, 0)].into());
        // Someone else committed (1, 0) meanwhile: it is rebuilt.
        let moved: HashMap<_, _> = [((0, 0), 10), ((1, 0), 9), ((0, 2), 3)].into();
        let kept = kept_partitions(&before, &now, &moved, &stored, false);
        assert_eq!(kept, [(0, 0)].into());
        // One state per partition number: losing (1, 0) loses (0, 0) too.
        let kept = kept_partitions(&before, &now, &moved, &stored, true);
        assert!(kept.is_empty(), "{kept:?}");
        let kept = kept_partitions(&before, &now, &committed, &stored, true);
        assert_eq!(
            kept,
            [(0, 0), (1, 0)].into(),
            "partition 1 moved, 0 stayed whole"
        );
    }
}
