//! Recording off the request path: a bounded queue of events, or of the work that builds
//! them, drained by one thread of its own into the producer.
//!
//! The threads that serve calls only relay them. Building an event (redacting its text,
//! parsing and scanning a response), encoding it and producing it all run on the recording
//! thread, so on a small machine none of it competes with a call in flight for a core.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use sightline_events::{Codec, LlmEvent};

use crate::spool::{Kind, Record, Spool};
use sightline_kafka::Producer;
use sightline_runtime::Backoff;
use tokio::sync::mpsc;

/// librdkafka defaults for the shim's producer. Events wait up to 50 ms to share a batch: at
/// 500 calls a second that cuts the broker's CPU about sixfold (tansu, measured with the
/// overhead bench), which on a shared machine is CPU the calls themselves get back. No caller
/// waits for an event's acknowledgement, so the linger costs no call any latency.
pub const PRODUCER_DEFAULTS: &[(&str, &str)] = &[("linger.ms", "50")];

/// An event, or the work that builds it; run on the recording thread.
pub type Job = Box<dyn FnOnce() -> LlmEvent + Send>;

/// The receiving end of a [`Publisher`], drained by [`start`].
pub struct Jobs {
    rx: mpsc::Receiver<Job>,
    metrics: Arc<crate::metrics::Metrics>,
}

/// Hands events to the recording thread without ever blocking the caller.
#[derive(Debug, Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Job>,
    counters: Arc<Counters>,
    metrics: Arc<crate::metrics::Metrics>,
    spool: Option<Arc<Spool>>,
}

/// What happened to published events.
#[derive(Debug, Default)]
pub struct Counters {
    /// Events acknowledged by Kafka.
    pub delivered: AtomicU64,
    /// Events lost: the spool was full or unwritable (or disabled).
    pub lost: AtomicU64,
    /// Events written to the spool.
    pub spooled: AtomicU64,
    /// Times an event could not be encoded (the schema registry down, say): it was spooled,
    /// or kept there, until it can be.
    pub unencodable: AtomicU64,
}

impl Publisher {
    /// A publisher (spilling to `spool` when given) and the receiving end for [`start`].
    pub fn new(
        capacity: usize,
        spool: Option<Arc<Spool>>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> (Self, Jobs) {
        let (tx, rx) = mpsc::channel(capacity);
        let jobs = Jobs {
            rx,
            metrics: metrics.clone(),
        };
        let publisher = Self {
            tx,
            counters: Arc::default(),
            metrics,
            spool,
        };
        (publisher, jobs)
    }

    /// Queues `event` without blocking. A full queue spills the event to the spool.
    pub fn publish(&self, event: LlmEvent) {
        self.record(move || event);
    }

    /// Queues `build`, which the recording thread runs to get the event it publishes, without
    /// blocking. A full queue builds the event here and spills it to the spool.
    pub fn record(&self, build: impl FnOnce() -> LlmEvent + Send + 'static) {
        let build = match self.tx.try_send(Box::new(build)) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(b) | mpsc::error::TrySendError::Closed(b)) => b,
        };
        let Some(event) = built(build, &self.counters) else {
            return;
        };
        self.metrics.observe(&event);
        let record = serde_json::to_vec(&event).map(|data| Record {
            kind: Kind::Json,
            key: event.kafka_key().into_bytes(),
            data,
        });
        match (self.spool.as_deref(), record) {
            (Some(spool), Ok(record)) => {
                spill(spool, &self.counters, &event.event_id, &record);
                sync(Some(spool));
            }
            _ => {
                self.counters.lost.fetch_add(1, Ordering::Relaxed);
                tracing::error!(event_id = %event.event_id, "publish queue full and no spool; event lost");
            }
        }
    }

    /// Whether events currently bypass Kafka (spooling or losing them): for fail-closed mode.
    pub fn degraded(&self) -> bool {
        self.spool.as_ref().is_some_and(|s| !s.is_empty()) || self.tx.capacity() == 0
    }

    /// Metrics of published calls.
    pub fn metrics(&self) -> Arc<crate::metrics::Metrics> {
        self.metrics.clone()
    }

    /// Events waiting in the queue.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// The queue's capacity.
    pub fn queue_capacity(&self) -> usize {
        self.tx.max_capacity()
    }

    /// Shared counters.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }
}

/// Runs `build`; a panic in it loses that one event (counted and logged), not the thread.
fn built(build: Job, counters: &Counters) -> Option<LlmEvent> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(build));
    if outcome.is_err() {
        counters.lost.fetch_add(1, Ordering::Relaxed);
        tracing::error!("building an event panicked; event lost");
    }
    outcome.ok()
}

/// Makes what was spilled durable; once per batch of spills.
fn sync(spool: Option<&Spool>) {
    if let Some(Err(e)) = spool.map(Spool::sync) {
        tracing::error!(error = %e, "cannot sync the spool to disk; a crash may lose spooled events");
    }
}

fn spill(spool: &Spool, counters: &Counters, event_id: &str, record: &Record) {
    match spool.append(record) {
        Ok(()) => {
            counters.spooled.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            counters.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!(event_id, error = %e, "cannot spool event; lost");
        }
    }
}

/// A delivery awaiting the broker's acknowledgement, with what is needed to spool it instead.
type InFlight = BoxFuture<'static, (String, Record, sightline_kafka::Result<(i32, i64)>)>;

/// How often the recording thread takes the queued events while calls are arriving. Calls
/// never wake it: it builds, encodes and produces what has queued up at its own pace, between
/// calls rather than at their ends, where a small machine's cores are busiest. The producer's
/// linger (50 ms) is far longer anyway.
const BATCH_EVERY: Duration = Duration::from_millis(5);

/// The longest pause between looks at a queue that keeps coming up empty: each empty look
/// doubles the pause up to this, and the first event brings it back to [`BATCH_EVERY`]. An
/// idle shim then wakes 10 times a second rather than 200 (which cost 1% of a core).
const IDLE_BATCH_EVERY: Duration = Duration::from_millis(100);

/// Starts the recording thread, which runs [`run`]. Resolves once it has finished (every
/// [`Publisher`] gone, every event acknowledged or spooled) or has failed.
pub fn start(
    jobs: Jobs,
    kafka: sightline_kafka::KafkaConfig,
    producer: Producer,
    codec: Codec,
    topic: String,
    counters: Arc<Counters>,
    spool: Option<Arc<Spool>>,
) -> std::io::Result<tokio::sync::oneshot::Receiver<()>> {
    let (done, finished) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("sightline-record".into())
        .spawn(move || {
            runtime.block_on(run(jobs, kafka, producer, codec, topic, counters, spool));
            let _ = done.send(());
        })?;
    Ok(finished)
}

/// Drains `jobs` into Kafka until every sender is gone, then waits for acknowledgements. Events
/// Kafka does not acknowledge go to the spool; while the spool holds events, new ones follow
/// them there (order is kept), and the spool is replayed once the broker answers again.
pub async fn run(
    jobs: Jobs,
    kafka: sightline_kafka::KafkaConfig,
    mut producer: Producer,
    codec: Codec,
    topic: String,
    counters: Arc<Counters>,
    spool: Option<Arc<Spool>>,
) {
    let Jobs { mut rx, metrics } = jobs;
    let mut in_flight: FuturesUnordered<InFlight> = FuturesUnordered::new();
    let mut spooling = spool.as_ref().is_some_and(|s| !s.is_empty());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut pauses = Backoff::new(BATCH_EVERY, IDLE_BATCH_EVERY);
    let batch = tokio::time::sleep(pauses.next_wait());
    tokio::pin!(batch);
    let mut replayed = Replay::default();
    let mut open = true;
    while open || !in_flight.is_empty() {
        tokio::select! {
            Some((event_id, record, result)) = in_flight.next(), if !in_flight.is_empty() => {
                match (result, spool.as_deref()) {
                    (Ok(_), _) => { counters.delivered.fetch_add(1, Ordering::Relaxed); }
                    (Err(e), Some(s)) => {
                        if !spooling {
                            tracing::error!(error = %e, "Kafka is not acknowledging events; spooling them to disk");
                        }
                        spooling = true;
                        spill(s, &counters, &event_id, &record);
                        sync(Some(s));
                    }
                    (Err(e), None) => {
                        counters.lost.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(event_id, error = %e, "event delivery failed and no spool; lost");
                    }
                }
            }
            _ = tick.tick(), if spooling && in_flight.is_empty() => {
                if let Some(s) = spool.as_deref() {
                    if replay(s, &producer, &codec, &topic, &counters, &mut replayed).await {
                        spooling = false;
                        tracing::info!(events = replayed.sent, "spool replayed; publishing directly again");
                        replayed = Replay::default();
                    } else {
                        // A restarted broker may refuse the old producer's idempotence state
                        // (its sequence has gaps where deliveries timed out), and librdkafka
                        // keeps retrying it: start each replay attempt with a fresh session.
                        match Producer::with_defaults(&kafka, PRODUCER_DEFAULTS) {
                            Ok(fresh) => producer = fresh,
                            Err(e) => tracing::error!(error = %e, "cannot create a producer"),
                        }
                    }
                }
            }
            () = &mut batch, if open => {
                let (mut taken, mut spilled) = (false, false);
                loop {
                    let build = match rx.try_recv() {
                        Ok(build) => build,
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => { open = false; break }
                    };
                    taken = true;
                    let Some(event) = built(build, &counters) else { continue };
                    metrics.observe(&event);
                    let record = match codec.encode(&topic, &event).await {
                        Ok(data) => Record { kind: Kind::Wire, key: event.kafka_key().into_bytes(), data },
                        Err(e) => {
                            // The schema registry is down, say: keep the event as JSON in
                            // the spool, and let later events queue behind it (in order).
                            if !spooling {
                                tracing::error!(event_id = %event.event_id, error = %e, "cannot encode events; spooling them until they can be");
                            }
                            counters.unencodable.fetch_add(1, Ordering::Relaxed);
                            match serde_json::to_vec(&event) {
                                Ok(data) => {
                                    spooling = true;
                                    Record { kind: Kind::Json, key: event.kafka_key().into_bytes(), data }
                                }
                                Err(e) => {
                                    counters.lost.fetch_add(1, Ordering::Relaxed);
                                    tracing::error!(event_id = %event.event_id, error = %e, "cannot serialise event; lost");
                                    continue;
                                }
                            }
                        }
                    };
                    if let (true, Some(s)) = (spooling || record.kind == Kind::Json, spool.as_deref()) {
                        spill(s, &counters, &event.event_id, &record);
                        spilled = true;
                        continue;
                    }
                    if record.kind == Kind::Json {
                        counters.lost.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(event_id = %event.event_id, "event cannot be encoded and there is no spool; lost");
                        continue;
                    }
                    enqueue(&producer, &topic, event.event_id, record, &mut in_flight, &counters).await;
                }
                if taken {
                    pauses.reset();
                }
                if spilled {
                    sync(spool.as_deref());
                }
                batch.as_mut().reset(tokio::time::Instant::now() + pauses.next_wait());
            }
        }
    }
}

async fn enqueue(
    producer: &Producer,
    topic: &str,
    event_id: String,
    record: Record,
    in_flight: &mut FuturesUnordered<InFlight>,
    counters: &Counters,
) {
    loop {
        match producer.enqueue(topic, &record.key, &record.data) {
            Ok(delivery) => {
                in_flight.push(Box::pin(async move { (event_id, record, delivery.await) }));
                return;
            }
            Err(e) if Producer::is_queue_full(&e) => {
                // Backpressure from librdkafka: wait for an acknowledgement.
                match in_flight.next().await {
                    Some((_, _, Ok(_))) => {
                        counters.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    Some((id, failed, Err(e))) => {
                        counters.lost.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(event_id = %id, error = %e, bytes = failed.data.len(), "event delivery failed under backpressure; lost");
                    }
                    None => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
            Err(e) => {
                counters.lost.fetch_add(1, Ordering::Relaxed);
                tracing::error!(event_id, error = %e, "cannot enqueue event; lost");
                return;
            }
        }
    }
}

/// Spooled records sent to Kafka at once during a replay. Waiting for each acknowledgement
/// before the next send replays ~150 records a second (one linger and one round trip each),
/// slower than a busy shim spools them; a window keeps the producer's batches full. The
/// idempotent producer keeps the order within each partition.
const REPLAY_WINDOW: usize = 500;

/// How often a long replay reports its progress.
const REPLAY_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What a replay has done so far, across attempts.
#[derive(Debug, Default)]
struct Replay {
    /// Records Kafka took past a segment's acknowledged prefix, as `(segment, index)`: a
    /// retry after a partial failure skips them, so none is sent twice.
    delivered: std::collections::BTreeSet<(u64, usize)>,
    /// Records sent since the spool last emptied.
    sent: u64,
}

/// Sends spooled records in order, a window at a time, and records each segment's
/// acknowledged prefix as it grows. Returns whether the spool is now empty.
async fn replay(
    spool: &Spool,
    producer: &Producer,
    codec: &Codec,
    topic: &str,
    counters: &Counters,
    state: &mut Replay,
) -> bool {
    let started = std::time::Instant::now();
    let mut reported = started;
    loop {
        let (seq, records) = match spool.oldest() {
            Ok(Some(segment)) => segment,
            Ok(None) => return true,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the spool");
                return false;
            }
        };
        let already = spool.oldest_acked(seq).unwrap_or(0);
        let mut acked = already;
        for (n, window) in records.chunks(REPLAY_WINDOW).enumerate() {
            let first = already + n * REPLAY_WINDOW;
            let mut failed = false;
            let mut deliveries = Vec::with_capacity(window.len());
            for (index, record) in (first..).zip(window) {
                if state.delivered.contains(&(seq, index)) {
                    continue;
                }
                let data = match wire(record, codec, topic).await {
                    Ok(data) => data,
                    Err(Unsendable::NotYet(e)) => {
                        // Kept, in order: the replay stops here and tries again later.
                        counters.unencodable.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(error = %e, waiting = spool.bytes(), "a spooled event cannot be encoded yet; spool kept");
                        failed = true;
                        break;
                    }
                    Err(Unsendable::Corrupt(e)) => {
                        // It can never be sent: set aside, whole, for an operator.
                        match spool.quarantine(record) {
                            Ok(path) => {
                                tracing::error!(error = %e, file = %path.display(), "a spooled event is corrupt; kept aside, not sent")
                            }
                            Err(io) => {
                                counters.lost.fetch_add(1, Ordering::Relaxed);
                                tracing::error!(error = %e, io = %io, "a spooled event is corrupt and cannot be kept aside; lost");
                            }
                        }
                        state.delivered.insert((seq, index));
                        continue;
                    }
                };
                match producer.enqueue(topic, &record.key, &data) {
                    Ok(delivery) => deliveries.push(async move { (index, delivery.await) }),
                    Err(e) => {
                        tracing::warn!(error = %e, waiting = spool.bytes(), "Kafka unavailable; spool kept");
                        failed = true;
                        break;
                    }
                }
            }
            for (index, result) in futures::future::join_all(deliveries).await {
                match result {
                    Ok(_) => {
                        state.delivered.insert((seq, index));
                        state.sent += 1;
                        counters.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) if !failed => {
                        tracing::warn!(error = %e, waiting = spool.bytes(), "Kafka unavailable; spool kept");
                        failed = true;
                    }
                    Err(_) => {}
                }
            }
            while state.delivered.remove(&(seq, acked)) {
                acked += 1;
            }
            if let Err(e) = spool.mark_acked(seq, acked) {
                tracing::warn!(error = %e, "cannot record replay progress; a restart may resend some events");
            }
            if failed {
                return false;
            }
            if reported.elapsed() >= REPLAY_PROGRESS_EVERY {
                reported = std::time::Instant::now();
                tracing::info!(
                    sent = state.sent,
                    waiting_bytes = spool.bytes(),
                    per_second = (state.sent as f64 / started.elapsed().as_secs_f64()) as u64,
                    "replaying the spool"
                );
            }
        }
        if let Err(e) = spool.remove(seq) {
            tracing::error!(error = %e, "cannot remove a replayed spool segment");
            return false;
        }
        state.delivered.retain(|(segment, _)| *segment != seq);
    }
}

/// Why a spooled record cannot be sent now.
enum Unsendable {
    /// Encoding failed (the schema registry is down, say): retry later.
    NotYet(String),
    /// The record is not an event at all: it never will be sent.
    Corrupt(String),
}

/// A spooled record in wire format.
async fn wire(record: &Record, codec: &Codec, topic: &str) -> Result<Vec<u8>, Unsendable> {
    match record.kind {
        Kind::Wire => Ok(record.data.clone()),
        Kind::Json => {
            let event = serde_json::from_slice::<LlmEvent>(&record.data)
                .map_err(|e| Unsendable::Corrupt(e.to_string()))?;
            codec
                .encode(topic, &event)
                .await
                .map_err(|e| Unsendable::NotYet(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_events::Provider;

    #[test]
    fn a_build_that_panics_loses_its_event_only() {
        let counters = Counters::default();
        let panics: Job = Box::new(|| panic!("bad response"));
        assert!(built(panics, &counters).is_none());
        assert_eq!(counters.lost.load(Ordering::Relaxed), 1);

        let fine: Job = Box::new(|| LlmEvent::request("t", "u", Provider::Anthropic, "e"));
        let event = built(fine, &counters).expect("the next event is built");
        assert_eq!(event.tenant_id, "t");
        assert_eq!(counters.lost.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_record_that_cannot_be_encoded_yet_is_kept_and_a_corrupt_one_set_aside() {
        let unreachable = sightline_events::RegistryResolver::new("http://127.0.0.1:9");
        let codec = Codec::new(Arc::new(unreachable)).expect("codec");
        let event = LlmEvent::request("t", "u", Provider::Anthropic, "e");
        let json = Record {
            kind: Kind::Json,
            key: b"k".to_vec(),
            data: serde_json::to_vec(&event).expect("json"),
        };
        assert!(matches!(
            wire(&json, &codec, "t").await,
            Err(Unsendable::NotYet(_))
        ));
        let corrupt = Record {
            data: b"{not an event".to_vec(),
            ..json
        };
        assert!(matches!(
            wire(&corrupt, &codec, "t").await,
            Err(Unsendable::Corrupt(_))
        ));
        let dir = std::env::temp_dir().join(format!("sightline-publish-{}", uuid::Uuid::new_v4()));
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let spool = Spool::open(&dir, 1 << 20, metrics.spool_bytes.clone()).expect("spool");
        let kept = spool.quarantine(&corrupt).expect("kept aside");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_full_queue_builds_the_event_and_spools_it() {
        let dir = std::env::temp_dir().join(format!("sightline-publish-{}", uuid::Uuid::new_v4()));
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let spool =
            Arc::new(Spool::open(&dir, 1 << 20, metrics.spool_bytes.clone()).expect("spool"));
        let (publisher, _jobs) = Publisher::new(1, Some(spool.clone()), metrics);
        publisher.publish(LlmEvent::request("t", "u", Provider::Anthropic, "first"));
        assert!(spool.is_empty(), "the first event fits in the queue");
        publisher.record(|| LlmEvent::request("t", "u", Provider::Anthropic, "second"));
        assert!(
            !spool.is_empty(),
            "the second event is built here and spooled"
        );
        assert_eq!(publisher.counters().spooled.load(Ordering::Relaxed), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
