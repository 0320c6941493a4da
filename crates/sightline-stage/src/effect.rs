use std::time::Duration;

use async_trait::async_trait;
use sightline_events::{AvroRecord, Codec};
use sightline_kafka::Producer;
use sightline_runtime::Shutdown;

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
/// [`sightline_runtime::retry`]) and returns a [`Fault`] only when it gives up.
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
            encoded.push((item.key(), bytes));
        }
        // Enqueue everything, then wait for the acks; resend what failed.
        let mut todo: Vec<usize> = (0..encoded.len()).collect();
        let mut backoff =
            sightline_runtime::Backoff::new(Duration::from_millis(100), self.max_backoff);
        while !todo.is_empty() {
            let mut waits = Vec::with_capacity(todo.len());
            let mut failed = Vec::new();
            let mut last_error = None;
            for &i in &todo {
                let (key, bytes) = &encoded[i];
                loop {
                    match self.producer.enqueue(&self.topic, key.as_bytes(), bytes) {
                        Ok(ack) => {
                            waits.push((i, ack));
                            break;
                        }
                        Err(e) if Producer::is_queue_full(&e) => {
                            // Backpressure: wait for what is in flight, then go on.
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err(e) => {
                            last_error = Some(e.to_string());
                            failed.push(i);
                            break;
                        }
                    }
                }
            }
            let (idx, acks): (Vec<usize>, Vec<_>) = waits.into_iter().unzip();
            for (i, ack) in idx.into_iter().zip(futures::future::join_all(acks).await) {
                if let Err(e) = ack {
                    if !e.is_retryable() {
                        return Err(Fault::Fatal(format!(
                            "{} refused an output: {e}",
                            self.topic
                        )));
                    }
                    last_error = Some(e.to_string());
                    failed.push(i);
                }
            }
            todo = failed;
            if !todo.is_empty() {
                if shutdown.is_triggered() {
                    return Err(Fault::Transient(format!(
                        "{} outputs to {} not acknowledged at shutdown: {}",
                        todo.len(),
                        self.topic,
                        last_error.unwrap_or_default()
                    )));
                }
                let wait = backoff.next_wait();
                tracing::warn!(topic = %self.topic, failed = todo.len(), error = ?last_error, retry_in = ?wait, "outputs not acknowledged; resending");
                tokio::time::sleep(wait).await;
            }
        }
        Ok(Durable::Now)
    }
}
