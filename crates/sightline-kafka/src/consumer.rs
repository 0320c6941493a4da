use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaResult;
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientContext, TopicPartitionList};

use crate::{KafkaConfig, Result};

/// Logs rebalances and counts them, so stages can drop per-partition state on reassignment.
#[derive(Default)]
pub struct RebalanceTracker {
    generation: Arc<AtomicU64>,
}

impl ClientContext for RebalanceTracker {}

impl ConsumerContext for RebalanceTracker {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
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

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "offset commit failed; it is retried on the next interval");
        }
    }
}

/// A consumer-group member that commits only offsets the caller has stored.
///
/// Auto-commit is on, auto-store is off: call [`store`](Self::store) after the record's effect
/// is durable. On shutdown, call [`commit_now`](Self::commit_now).
pub struct AtLeastOnceConsumer {
    inner: StreamConsumer<RebalanceTracker>,
    generation: Arc<AtomicU64>,
}

impl AtLeastOnceConsumer {
    /// Joins `group` and subscribes to `topics`.
    pub fn subscribe(config: &KafkaConfig, group: &str, topics: &[&str]) -> Result<Self> {
        let tracker = RebalanceTracker::default();
        let generation = tracker.generation.clone();
        let inner: StreamConsumer<RebalanceTracker> = config
            .client_config(&[("auto.commit.interval.ms", "1000")])
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .create_with_context(tracker)?;
        inner.subscribe(topics)?;
        Ok(Self { inner, generation })
    }

    /// The next record. Errors are transient broker errors; log and keep polling.
    pub async fn recv(&self) -> Result<BorrowedMessage<'_>> {
        Ok(self.inner.recv().await?)
    }

    /// Marks the record at `offset` of `topic`/`partition` as processed; `offset + 1`, the next
    /// one to read, is committed on the next interval (librdkafka's `rd_kafka_offset_store`
    /// adds the one itself).
    pub fn store(&self, topic: &str, partition: i32, offset: i64) -> Result<()> {
        self.inner.store_offset(topic, partition, offset)?;
        Ok(())
    }

    /// Synchronously commits everything stored so far.
    pub fn commit_now(&self) -> Result<()> {
        match self.inner.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => Ok(()),
            // Nothing stored since the last commit.
            Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::NoOffset,
            )) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes whenever partitions are assigned or revoked.
    pub fn rebalance_generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Partitions currently assigned.
    pub fn assignment(&self) -> Result<TopicPartitionList> {
        Ok(self.inner.assignment()?)
    }

    /// Waits (bounded) until the group has given this member at least one partition.
    pub async fn wait_for_assignment(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.assignment().is_ok_and(|a| a.count() > 0) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}
