use std::path::PathBuf;

use serde::Deserialize;
use sightline_clickhouse::{BatchConfig, ClickHouseConfig};
use sightline_events::RegistryConfig;
use sightline_kafka::{KafkaConfig, TopicsConfig};
use sightline_policy::PolicySection;
use sightline_runtime::{Problem, Validate};
use sightline_stage::StageSection;

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
    /// `[stage]`: consumer group (default `sightline-sink`), grace, back-off, metrics.
    #[serde(default)]
    pub stage: StageSection,
    /// `[schema_registry]`
    #[serde(default)]
    pub schema_registry: RegistryConfig,
    /// `[policy]`: text is scanned and redacted before it is stored.
    #[serde(default)]
    pub policy: PolicySection,
}

impl Validate for SinkConfig {
    fn validate(&self) -> Vec<Problem> {
        let mut p = self.kafka.validate("kafka");
        p.extend(self.topics.validate("topics"));
        p.extend(self.clickhouse.validate("clickhouse"));
        p.extend(self.batch.validate("batch"));
        p.extend(self.schema_registry.validate("schema_registry"));
        p.extend(self.stage.validate("stage"));
        p.extend(self.policy.validate("policy", false));
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
