//! An idempotent producer whose delivery reports are served by a thread of its own.
//!
//! librdkafka hands delivery reports back only when its queue is polled. rdkafka's
//! `FutureProducer` polls it from a thread that calls `poll(100 ms)` in a loop, and that
//! poll rounds the time left down to whole milliseconds, so the last millisecond of every
//! round is spent calling it with a zero timeout: a spin. In the shim at 500 calls a second
//! that thread was a quarter of the process's CPU time (measured with `perf`, almost all of
//! it reading the clock).
//!
//! Here the reports are taken without blocking. While records are in flight the thread looks
//! again at once after a look that found reports, and otherwise waits [`POLL_FIRST`], doubling
//! up to [`POLL_MOST`] while none come (records wait for their batch and the broker before
//! any report can); while none are in flight, it sleeps until a send wakes it (or
//! [`IDLE_POLL_EVERY`] passes, for the client's errors and logs).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message as _, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::util::Timeout;
use rdkafka::ClientContext;
use sightline_runtime::Backoff;
use tokio::sync::oneshot;

use crate::{KafkaConfig, Result};

/// The first wait for delivery reports while records are in flight.
const POLL_FIRST: Duration = Duration::from_millis(1);

/// The longest wait for delivery reports while records are in flight: the most an
/// acknowledgement waits, once the broker has sent it, before its sender hears of it.
const POLL_MOST: Duration = Duration::from_millis(16);

/// How often an idle producer looks at its queue anyway, for the client's own events.
const IDLE_POLL_EVERY: Duration = Duration::from_millis(100);

/// How long [`Producer::send`] waits before retrying while librdkafka's local queue is full.
const QUEUE_FULL_RETRY: Duration = Duration::from_millis(10);

/// Where a record ended up: `(partition, offset)`, or why it was not delivered.
type Outcome = Result<(i32, i64)>;

/// An idempotent producer. `send` resolves once the broker has acknowledged the record.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").finish_non_exhaustive()
    }
}

/// The client and its poller; dropping the last [`Producer`] stops the poller, then drops
/// the client, which fails whatever is still queued (each waiting sender hears why).
struct Inner {
    client: Arc<BaseProducer<Deliveries>>,
    poller: Option<JoinHandle<()>>,
}

/// What librdkafka calls back into, and what the poller and the senders share.
#[derive(Default)]
struct Deliveries {
    /// Delivery reports handed back so far.
    served: AtomicU64,
    /// Records handed to librdkafka whose delivery report has not come back yet. Counted
    /// here, not read from librdkafka's out-queue length, which also counts the client's own
    /// events (connection errors, logs) and so changes under a record's feet.
    pending: AtomicU64,
    /// Set while the poller sleeps with nothing in flight: a send must wake it.
    idle: AtomicBool,
    /// Set when the last handle is dropped.
    stop: AtomicBool,
    /// Times the poller has looked at the queue.
    looks: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<oneshot::Sender<Outcome>>;

    fn delivery(&self, result: &DeliveryResult<'_>, sender: Self::DeliveryOpaque) {
        self.served.fetch_add(1, Ordering::Relaxed);
        // Before the sender hears: whoever waits on the outcome then sees the count without it.
        self.pending.fetch_sub(1, Ordering::AcqRel);
        let outcome = match result {
            Ok(m) => Ok((m.partition(), m.offset())),
            Err((e, _)) => Err(e.clone().into()),
        };
        // The sender may have stopped waiting; the record was handled either way.
        let _ = sender.send(outcome);
    }
}

/// Serves `client`'s delivery reports until it is told to stop.
fn poll_until_stopped(client: &BaseProducer<Deliveries>) {
    let shared = client.context();
    let mut waits = Backoff::new(POLL_FIRST, POLL_MOST);
    while !shared.stop.load(Ordering::Acquire) {
        shared.looks.fetch_add(1, Ordering::Relaxed);
        let served = shared.served.load(Ordering::Relaxed);
        client.poll(Timeout::After(Duration::ZERO));
        if shared.served.load(Ordering::Relaxed) != served {
            waits.reset();
            continue;
        }
        if shared.pending.load(Ordering::Acquire) > 0 {
            std::thread::park_timeout(waits.next_wait());
            continue;
        }
        waits.reset();
        // Announce the sleep, then look once more: a send that came in between either sees
        // the flag (and wakes this thread) or is counted here.
        shared.idle.store(true, Ordering::SeqCst);
        if shared.pending.load(Ordering::SeqCst) == 0 {
            std::thread::park_timeout(IDLE_POLL_EVERY);
        }
        shared.idle.store(false, Ordering::SeqCst);
    }
}

impl Producer {
    /// Connects lazily; librdkafka retries the brokers in the background.
    pub fn new(config: &KafkaConfig) -> Result<Self> {
        Self::with_defaults(config, &[])
    }

    /// [`new`](Self::new) with a component's own defaults for librdkafka properties (after
    /// the common ones, before `kafka.librdkafka`, which still overrides them).
    pub fn with_defaults(config: &KafkaConfig, defaults: &[(&str, &str)]) -> Result<Self> {
        let client: BaseProducer<Deliveries> = config
            .client_config(&[&[("linger.ms", "5")], defaults].concat())
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                config.delivery_timeout.as_millis().to_string(),
            )
            .create_with_context(Deliveries::default())?;
        let client = Arc::new(client);
        let polled = client.clone();
        let poller = std::thread::Builder::new()
            .name("kafka-deliveries".into())
            .spawn(move || poll_until_stopped(&polled))
            .map_err(|e| {
                KafkaError::ClientCreation(format!("cannot start the delivery thread: {e}"))
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                poller: Some(poller),
            }),
        })
    }

    /// Hands one record to librdkafka; the receiver hears how it ended.
    fn produce(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: &[u8],
        payload: &[u8],
        headers: Option<OwnedHeaders>,
    ) -> std::result::Result<oneshot::Receiver<Outcome>, KafkaError> {
        let (tx, rx) = oneshot::channel();
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(tx))
            .key(key)
            .payload(payload);
        if let Some(h) = headers {
            record = record.headers(h);
        }
        if let Some(p) = partition {
            record = record.partition(p);
        }
        let shared = self.inner.client.context();
        // Counted before the send: its report may come back before `send` returns.
        shared.pending.fetch_add(1, Ordering::SeqCst);
        match self.inner.client.send(record) {
            Ok(()) => {
                if shared.idle.load(Ordering::SeqCst) {
                    if let Some(poller) = &self.inner.poller {
                        poller.thread().unpark();
                    }
                }
                Ok(rx)
            }
            Err((e, _)) => {
                shared.pending.fetch_sub(1, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    /// Sends one record and waits for the acknowledgement. Returns `(partition, offset)`.
    ///
    /// A full local queue waits (backpressure) instead of failing.
    pub async fn send(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: Option<OwnedHeaders>,
    ) -> Result<(i32, i64)> {
        loop {
            match self.produce(topic, None, key, payload, headers.clone()) {
                Ok(delivery) => return delivered(delivery).await,
                Err(e) if Self::is_queue_full(&e) => {
                    tokio::time::sleep(QUEUE_FULL_RETRY).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Enqueues without waiting for the acknowledgement; a full queue is returned as `Err`
    /// so the caller can apply backpressure or spill.
    pub fn enqueue(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
    ) -> std::result::Result<impl std::future::Future<Output = Result<(i32, i64)>>, KafkaError>
    {
        self.enqueue_to(topic, None, key, payload)
    }

    /// [`enqueue`](Self::enqueue) to partition `partition` instead of the key's.
    pub fn enqueue_to(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: &[u8],
        payload: &[u8],
    ) -> std::result::Result<impl std::future::Future<Output = Result<(i32, i64)>>, KafkaError>
    {
        let delivery = self.produce(topic, partition, key, payload, None)?;
        Ok(delivered(delivery))
    }

    /// Whether an enqueue error means "local queue full" (backpressure).
    pub fn is_queue_full(e: &KafkaError) -> bool {
        matches!(
            e,
            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
        )
    }

    /// Records handed to this producer whose delivery has not been reported yet.
    pub fn in_flight(&self) -> u64 {
        self.inner.client.context().pending.load(Ordering::Acquire)
    }

    /// Waits up to `timeout` for every queued record to be acknowledged.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.inner.client.flush(Timeout::After(timeout))?;
        Ok(())
    }
}

/// How a record handed to librdkafka ended.
async fn delivered(delivery: oneshot::Receiver<Outcome>) -> Outcome {
    // librdkafka reports every record it accepted, so a dropped sender means the client
    // went away with the record.
    delivery.await.unwrap_or(Err(KafkaError::Canceled.into()))
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.client.context().stop.store(true, Ordering::Release);
        if let Some(poller) = self.poller.take() {
            poller.thread().unpark();
            // A handle dropped by code the poller runs cannot wait for the poller itself; it
            // ends on its own, having seen `stop`.
            if poller.thread().id() != std::thread::current().id() && poller.join().is_err() {
                tracing::error!("the Kafka delivery thread panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A producer whose broker never answers, so its records fail after `timeout`.
    fn unreachable(timeout: Duration) -> Producer {
        let config = KafkaConfig {
            brokers: "127.0.0.1:1".into(),
            delivery_timeout: timeout,
            ..KafkaConfig::default()
        };
        Producer::new(&config).expect("producer")
    }

    #[tokio::test]
    async fn a_record_that_cannot_be_delivered_fails_its_sender() {
        let producer = unreachable(Duration::from_millis(300));
        let delivery = producer.enqueue("t", b"k", b"v").expect("queued");
        let outcome = tokio::time::timeout(Duration::from_secs(30), delivery)
            .await
            .expect("the delivery report is served without anyone else polling");
        let err = outcome.expect_err("nothing can be delivered");
        assert!(
            matches!(&err, crate::Error::Kafka(KafkaError::MessageProduction(_))),
            "{err:?}"
        );
        assert_eq!(producer.in_flight(), 0);
    }

    #[tokio::test]
    async fn dropping_the_producer_fails_what_is_in_flight_and_stops_its_thread() {
        let producer = unreachable(Duration::from_secs(60));
        let delivery = producer.enqueue("t", b"k", b"v").expect("queued");
        let client = Arc::downgrade(&producer.inner.client);
        drop(producer);
        // The poller held the client too: it is gone only if the poller's thread has ended.
        assert!(
            client.upgrade().is_none(),
            "the client outlived its producer"
        );
        let outcome = tokio::time::timeout(Duration::from_secs(30), delivery)
            .await
            .expect("the sender hears of the drop");
        assert!(outcome.is_err(), "{outcome:?}");
    }

    #[test]
    fn an_idle_producer_looks_at_its_queue_about_ten_times_a_second() {
        let producer = unreachable(Duration::from_secs(60));
        let looks = || {
            producer
                .inner
                .client
                .context()
                .looks
                .load(Ordering::Relaxed)
        };
        std::thread::sleep(Duration::from_millis(200));
        let (before, started) = (looks(), std::time::Instant::now());
        std::thread::sleep(Duration::from_secs(1));
        let idle = looks() - before;
        let seconds = started.elapsed().as_secs_f64();
        // About 10 a second; a spinning poller looks many thousands of times. The window is
        // measured, so a sleep that overruns on a busy machine cannot fail the test.
        assert!(
            idle as f64 <= 30.0 * seconds,
            "{idle} looks in an idle {seconds:.2} s"
        );
    }
}
