use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sightline_clickhouse::{BatchConfig, ClickHouseConfig};
use sightline_events::RegistryConfig;
use sightline_kafka::{KafkaConfig, TopicsConfig};
use sightline_runtime::{Problem, Validate};

/// The sink's config file (`sink.toml`), overridable by `SIGHTLINE__…` env vars.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// `[kafka]`
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// `[topics]`
    #[serde(default)]
    pub topics: TopicsConfig,
    /// `[clickhouse]`
    #[serde(default)]
    pub clickhouse: ClickHouseConfig,
    /// `[batch]`
    #[serde(default)]
    pub batch: BatchConfig,
    /// `[sink]`
    #[serde(default)]
    pub sink: SinkSection,
    /// `[schema_registry]`
    #[serde(default)]
    pub schema_registry: RegistryConfig,
}

/// `[sink]`: the processor's own settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSection {
    /// Consumer group.
    #[serde(default = "default_group")]
    pub group_id: String,
    /// How long shutdown may take to flush and commit.
    #[serde(default = "default_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Longest back-off between retries of a failing insert.
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
}

fn default_group() -> String {
    "sightline-sink".into()
}

fn default_grace() -> Duration {
    Duration::from_secs(20)
}

fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}

impl Default for SinkSection {
    fn default() -> Self {
        Self {
            group_id: default_group(),
            shutdown_grace: default_grace(),
            max_backoff: default_max_backoff(),
        }
    }
}

impl Validate for SinkConfig {
    fn validate(&self) -> Vec<Problem> {
        let mut p = self.kafka.validate("kafka");
        p.extend(self.topics.validate("topics"));
        p.extend(self.clickhouse.validate("clickhouse"));
        p.extend(self.batch.validate("batch"));
        p.extend(self.schema_registry.validate("schema_registry"));
        if self.sink.group_id.is_empty() {
            p.push(Problem::new("sink.group_id", "must not be empty"));
        }
        p
    }
}

/// Command-line arguments of `sightline-sink`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "sightline-sink",
    about = "Kafka → ClickHouse sink for Sightline events"
)]
pub struct Args {
    /// TOML config file; every key can also be set as SIGHTLINE__SECTION__KEY.
    #[arg(long, env = "SIGHTLINE_CONFIG")]
    pub config: Option<PathBuf>,
}
