//! Publishing off the request path: a bounded queue drained by one task into the producer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use sightline_events::{Codec, LlmEvent};
use sightline_kafka::Producer;
use tokio::sync::mpsc;

/// Hands events to the publishing task without ever blocking the caller.
#[derive(Debug, Clone)]
pub struct Publisher {
    tx: mpsc::Sender<LlmEvent>,
    counters: Arc<Counters>,
    metrics: Arc<crate::metrics::Metrics>,
}

/// What happened to published events.
#[derive(Debug, Default)]
pub struct Counters {
    /// Events acknowledged by Kafka.
    pub delivered: AtomicU64,
    /// Events lost because the queue was full or delivery failed.
    pub lost: AtomicU64,
}

impl Publisher {
    /// A publisher and the receiving end for [`run`].
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<LlmEvent>) {
        let (tx, rx) = mpsc::channel(capacity);
        (
            Self {
                tx,
                counters: Arc::default(),
                metrics: Arc::default(),
            },
            rx,
        )
    }

    /// Queues `event`. A full queue loses the event loudly; the call is still answered.
    pub fn publish(&self, event: LlmEvent) {
        self.metrics.observe(&event);
        if let Err(e) = self.tx.try_send(event) {
            let event = match e {
                mpsc::error::TrySendError::Full(ev) | mpsc::error::TrySendError::Closed(ev) => ev,
            };
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                event_id = %event.event_id,
                call_id = %event.call_id,
                kind = event.kind.as_str(),
                "publish queue full or closed; event lost"
            );
        }
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

/// A delivery awaiting the broker's acknowledgement, with its event id.
type InFlight = BoxFuture<'static, (String, sightline_kafka::Result<(i32, i64)>)>;

/// Drains `rx` into Kafka until every sender is gone, then waits for acknowledgements.
pub async fn run(
    mut rx: mpsc::Receiver<LlmEvent>,
    producer: Producer,
    codec: Codec,
    topic: String,
    counters: Arc<Counters>,
) {
    let mut in_flight: FuturesUnordered<InFlight> = FuturesUnordered::new();
    loop {
        tokio::select! {
            Some((event_id, result)) = in_flight.next(), if !in_flight.is_empty() => {
                record(&counters, &event_id, result);
            }
            next = rx.recv() => {
                let Some(event) = next else { break };
                let payload = match codec.encode(&topic, &event).await {
                    Ok(p) => p,
                    Err(e) => {
                        counters.lost.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(event_id = %event.event_id, error = %e, "cannot encode event; lost");
                        continue;
                    }
                };
                let key = event.kafka_key();
                loop {
                    match producer.enqueue(&topic, key.as_bytes(), &payload) {
                        Ok(delivery) => {
                            let id = event.event_id.clone();
                            in_flight.push(Box::pin(async move { (id, delivery.await) }));
                            break;
                        }
                        Err(e) if Producer::is_queue_full(&e) => {
                            // Backpressure from librdkafka: wait for acknowledgements.
                            match in_flight.next().await {
                                Some((id, result)) => record(&counters, &id, result),
                                None => tokio::time::sleep(Duration::from_millis(10)).await,
                            }
                        }
                        Err(e) => {
                            counters.lost.fetch_add(1, Ordering::Relaxed);
                            tracing::error!(event_id = %event.event_id, error = %e, "cannot enqueue event; lost");
                            break;
                        }
                    }
                }
            }
        }
    }
    while let Some((event_id, result)) = in_flight.next().await {
        record(&counters, &event_id, result);
    }
}

fn record(counters: &Counters, event_id: &str, result: sightline_kafka::Result<(i32, i64)>) {
    match result {
        Ok(_) => {
            counters.delivered.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            counters.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!(event_id, error = %e, "event delivery failed; lost");
        }
    }
}
