//! Test helpers for Sightline.
//!
//! - [`TestEnv`]: unique topic names and a unique, migrated ClickHouse database per test,
//!   against the real broker and server (`SIGHTLINE_TEST_KAFKA_BROKERS`,
//!   `SIGHTLINE_TEST_CLICKHOUSE_URL`, defaulting to localhost as `cargo xtask services up`
//!   starts them).
//! - [`fake_upstream::FakeUpstream`]: a local HTTP server speaking the Anthropic Messages and
//!   OpenAI Chat Completions formats, streaming included.
//! - [`clickhouse_server::ClickHouseServer`]: a ClickHouse server of a test's own, to restart.
//! - [`evasions`]: request bodies that hide a secret from a scanner reading raw JSON.
//! - [`registry::FakeRegistry`]: a schema registry fixture that can go down and come back.

pub mod clickhouse_server;
pub mod evasions;
pub mod fake_upstream;
pub mod recorder;
pub mod registry;

use sightline_clickhouse::ClickHouseConfig;
use sightline_kafka::{KafkaConfig, TopicsConfig};

/// Broker address for tests.
pub fn kafka_brokers() -> String {
    std::env::var("SIGHTLINE_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// ClickHouse HTTP URL for tests.
pub fn clickhouse_url() -> String {
    std::env::var("SIGHTLINE_TEST_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// `prefix` plus a random suffix, safe for topic and database names.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// One test's private slice of the real services.
#[derive(Debug, Clone)]
pub struct TestEnv {
    /// Broker settings.
    pub kafka: KafkaConfig,
    /// Unique topic prefix; topics already created.
    pub topics: TopicsConfig,
    /// Unique database; migrations already applied.
    pub clickhouse: ClickHouseConfig,
}

impl TestEnv {
    /// Creates the topics (with `partitions` each) and the migrated database.
    pub async fn new(partitions: i32) -> anyhow::Result<Self> {
        Self::with_clickhouse(partitions, &clickhouse_url()).await
    }

    /// As [`new`](Self::new), with the database on the ClickHouse server at `url`.
    pub async fn with_clickhouse(partitions: i32, url: &str) -> anyhow::Result<Self> {
        let kafka = KafkaConfig {
            brokers: kafka_brokers(),
            ..KafkaConfig::default()
        };
        let topics = TopicsConfig {
            prefix: unique("t"),
            partitions,
            ..TopicsConfig::default()
        };
        let clickhouse = ClickHouseConfig {
            url: url.into(),
            database: unique("test"),
            ..ClickHouseConfig::default()
        };
        sightline_kafka::topics::apply(&kafka, &topics).await.map_err(|e| {
            anyhow::anyhow!("creating topics on {} failed ({e}); is the broker up? `cargo xtask services up`", kafka.brokers)
        })?;
        let migrations = sightline_clickhouse::migrate::embedded()?;
        sightline_clickhouse::migrate::apply(&clickhouse, &migrations)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "migrating {} failed ({e}); is ClickHouse up? `cargo xtask services up`",
                    clickhouse.url
                )
            })?;
        Ok(Self {
            kafka,
            topics,
            clickhouse,
        })
    }

    /// Name of one of this test's topics.
    pub fn topic(&self, topic: sightline_kafka::Topic) -> String {
        sightline_kafka::TopicNames::from(&self.topics).name(topic)
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or fails after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
