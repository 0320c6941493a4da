use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use sightline_events::{now_ms, Codec, DlqRecord};

use crate::{Producer, Result};

/// Sends records a processor cannot handle to the DLQ topic.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    producer: Producer,
    codec: Codec,
    topic: String,
    processor: String,
}

impl DeadLetters {
    /// DLQ for `processor`, writing to `topic`.
    pub fn new(producer: Producer, codec: Codec, topic: String, processor: &str) -> Self {
        Self {
            producer,
            codec,
            topic,
            processor: processor.to_string(),
        }
    }

    /// Sends `msg` with `error` and waits for the acknowledgement. `error` must never contain
    /// the payload: it is logged and stored in plain text.
    pub async fn send(&self, msg: &BorrowedMessage<'_>, error: &str) -> Result<()> {
        self.send_parts(
            msg.topic(),
            msg.partition(),
            msg.offset(),
            msg.key(),
            msg.payload(),
            error,
        )
        .await
    }

    /// [`send`](Self::send) for a record already copied out of the consumer.
    pub async fn send_parts(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        error: &str,
    ) -> Result<()> {
        let record = DlqRecord {
            error: error.to_string(),
            processor: self.processor.clone(),
            source_topic: topic.to_string(),
            source_partition: partition,
            source_offset: offset,
            key: key.map(<[u8]>::to_vec),
            payload: payload.map(<[u8]>::to_vec),
            failed_at_ms: now_ms(),
        };
        tracing::warn!(
            processor = %self.processor,
            topic,
            partition,
            offset,
            error,
            "record sent to the DLQ"
        );
        let encoded = self.codec.encode(&self.topic, &record).await?;
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "sightline.error",
                value: Some(error),
            })
            .insert(Header {
                key: "sightline.processor",
                value: Some(self.processor.as_str()),
            });
        self.producer
            .send(
                &self.topic,
                key.unwrap_or_default(),
                &encoded,
                Some(headers),
            )
            .await?;
        Ok(())
    }
}
