use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;

use crate::{KafkaConfig, Result};

/// An idempotent producer. `send` resolves once the broker has acknowledged the record.
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").finish_non_exhaustive()
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
        let inner = config
            .client_config(&[&[("linger.ms", "5")], defaults].concat())
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                config.delivery_timeout.as_millis().to_string(),
            )
            .create()?;
        Ok(Self { inner })
    }

    /// Sends one record and waits for the acknowledgement. Returns `(partition, offset)`.
    ///
    /// A full local queue waits (backpressure) instead of failing.
    pub async fn send(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: Option<rdkafka::message::OwnedHeaders>,
    ) -> Result<(i32, i64)> {
        let mut record = FutureRecord::to(topic).key(key).payload(payload);
        if let Some(h) = headers {
            record = record.headers(h);
        }
        match self.inner.send(record, Timeout::Never).await {
            Ok(delivery) => Ok((delivery.partition, delivery.offset)),
            Err((e, _)) => Err(e.into()),
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
        let record = FutureRecord::to(topic).key(key).payload(payload);
        let delivery = self.inner.send_result(record).map_err(|(e, _)| e)?;
        Ok(async move {
            match delivery.await {
                Ok(Ok(d)) => Ok((d.partition, d.offset)),
                Ok(Err((e, _))) => Err(e.into()),
                Err(_) => Err(KafkaError::Canceled.into()),
            }
        })
    }

    /// Whether an enqueue error means "local queue full" (backpressure).
    pub fn is_queue_full(e: &KafkaError) -> bool {
        matches!(
            e,
            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
        )
    }

    /// Records waiting for delivery.
    pub fn in_flight(&self) -> i32 {
        self.inner.in_flight_count()
    }

    /// Waits up to `timeout` for every queued record to be acknowledged.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.inner.flush(Timeout::After(timeout))?;
        Ok(())
    }
}
