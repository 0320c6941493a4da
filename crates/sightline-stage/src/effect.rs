use std::time::Duration;

use async_trait::async_trait;
use sightline_events::{AvroRecord, Codec};
use sightline_kafka::Producer;
use sightline_runtime::{retry, Shutdown};

use crate::Fault;

/// Whether the outputs handed to an effect are durable yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durable {
    /// Durable now: the inputs' offsets may be stored.
    Now,
    /// Buffered: durable after the next [`Effect::flush`].
    Later,
}

/// Makes a step's outputs durable. Retries transient failures itself (with
/// [`sightline_runtime::retry`]) and returns a [`Fault`] only when it gives up (a transient
/// one only once shutdown has started).
#[async_trait]
pub trait Effect: Send + 'static {
    /// What it writes.
    type Item: Send + 'static;

    /// Writes `items` (possibly none).
    async fn write(
        &mut self,
        items: Vec<Self::Item>,
        shutdown: &Shutdown,
    ) -> Result<Durable, Fault>;

    /// Makes everything buffered durable.
    async fn flush(&mut self, _shutdown: &Shutdown) -> Result<(), Fault> {
        Ok(())
    }

    /// Partitions moved before the buffered items were made durable: drop them (their inputs
    /// are redone from the last commit by whoever owns the partitions now).
    fn discard(&mut self) {}

    /// When buffered items must be flushed by, if any are buffered.
    fn deadline(&self) -> Option<std::time::Instant> {
        None
    }

    /// Partitions of input topic names were (re)assigned, before any of their records; lets
    /// an effect learn what its destination already holds.
    async fn assigned(&mut self, _shutdown: &Shutdown) -> Result<(), Fault> {
        Ok(())
    }
}

/// An output record for a Kafka topic.
pub trait OutputRecord: AvroRecord + Send + Sync + 'static {
    /// Its key (tenant/user, so a user's records stay in order on one partition).
    fn key(&self) -> String;

    /// The partition it must be written to, when not the key's.
    fn partition(&self) -> Option<i32> {
        None
    }
}

impl OutputRecord for sightline_events::LlmEvent {
    fn key(&self) -> String {
        self.kafka_key()
    }
}

impl OutputRecord for sightline_events::Verdict {
    fn key(&self) -> String {
        self.kafka_key()
    }
}

/// Keyed like the incident's inputs, so its events land on the same partition number.
impl OutputRecord for sightline_events::IncidentEvent {
    fn key(&self) -> String {
        self.partition_key.clone()
    }
}

/// Keyed by tenant: one partition sees all of a tenant's calls.
impl OutputRecord for sightline_events::IncidentSignal {
    fn key(&self) -> String {
        self.tenant_id.clone()
    }
}

/// Written to the partition number of the group's inputs: the alert processor rebuilds a
/// partition's groups from the same partition of the notifications topic.
impl OutputRecord for sightline_events::Notification {
    fn key(&self) -> String {
        self.group_id.clone()
    }

    fn partition(&self) -> Option<i32> {
        Some(self.partition)
    }
}

/// Produces outputs to one topic and returns once the broker acknowledged all of them.
#[derive(Debug, Clone)]
pub struct KafkaOutput<T> {
    producer: Producer,
    codec: Codec,
    topic: String,
    max_backoff: Duration,
    _t: std::marker::PhantomData<fn(T)>,
}

impl<T> KafkaOutput<T> {
    /// Writes to `topic`.
    pub fn new(producer: Producer, codec: Codec, topic: String, max_backoff: Duration) -> Self {
        Self {
            producer,
            codec,
            topic,
            max_backoff,
            _t: std::marker::PhantomData,
        }
    }
}

#[async_trait]
impl<T: OutputRecord> Effect for KafkaOutput<T> {
    type Item = T;

    async fn write(&mut self, items: Vec<T>, shutdown: &Shutdown) -> Result<Durable, Fault> {
        let mut encoded = Vec::with_capacity(items.len());
        for item in &items {
            let bytes = self.codec.encode(&self.topic, item).await.map_err(|e| {
                Fault::Fatal(format!("cannot encode an output for {}: {e}", self.topic))
            })?;
            encoded.push((item.key(), item.partition(), bytes));
        }
        // Everything from the first unacknowledged record on is sent again, in order, so a
        // key's records never overtake each other (the ids make the copies identical).
        let from = std::sync::atomic::AtomicUsize::new(0);
        let (producer, topic) = (&self.producer, self.topic.as_str());
        retry(
            "producing outputs",
            shutdown,
            self.max_backoff,
            |e: &sightline_kafka::Error| e.is_retryable(),
            || async {
                let start = from.load(std::sync::atomic::Ordering::SeqCst);
                let mut acks = Vec::with_capacity(encoded.len() - start);
                for (key, partition, bytes) in &encoded[start..] {
                    loop {
                        match producer.enqueue_to(topic, *partition, key.as_bytes(), bytes) {
                            Ok(ack) => break acks.push(ack),
                            // Backpressure: librdkafka's queue drains as acks come back.
                            Err(e) if Producer::is_queue_full(&e) => {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            Err(e) => return Err(sightline_kafka::Error::from(e)),
                        }
                    }
                }
                for (i, ack) in futures::future::join_all(acks)
                    .await
                    .into_iter()
                    .enumerate()
                {
                    if let Err(e) = ack {
                        from.store(start + i, std::sync::atomic::Ordering::SeqCst);
                        return Err(e);
                    }
                }
                Ok(())
            },
        )
        .await
        .map_err(|e| {
            if e.is_retryable() {
                Fault::Transient(format!(
                    "outputs to {topic} not acknowledged at shutdown: {e}"
                ))
            } else {
                Fault::Fatal(format!("{topic} refused an output: {e}"))
            }
        })?;
        Ok(Durable::Now)
    }
}
