use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sightline_clickhouse::{BatchConfig, ClickHouseConfig};
use sightline_events::RegistryConfig;
use sightline_kafka::{KafkaConfig, Topic, TopicsConfig};
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
    /// `[sink]`: which topics to read, and the duplicate window.
    #[serde(default)]
    pub sink: SinkSection,
}

/// `[sink]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSection {
    /// Topics to read, by short name: `grouped` (or `events`, when no dedupe processor runs),
    /// `verdicts`, `incidents`, `notifications`.
    #[serde(default = "default_inputs")]
    pub inputs: Vec<String>,
    /// How far behind the newest event time seen on a partition the ids written are held: a
    /// copy of a fact read while its id is held is not written again.
    #[serde(default = "default_duplicate_window", with = "humantime_serde")]
    pub duplicate_window: Duration,
}

fn default_inputs() -> Vec<String> {
    ["grouped", "verdicts", "incidents", "notifications"]
        .map(String::from)
        .to_vec()
}

fn default_duplicate_window() -> Duration {
    Duration::from_secs(15 * 60)
}

impl Default for SinkSection {
    fn default() -> Self {
        Self {
            inputs: default_inputs(),
            duplicate_window: default_duplicate_window(),
        }
    }
}

impl SinkSection {
    /// The input topics, parsed.
    pub fn topics(&self) -> Vec<Topic> {
        self.inputs.iter().filter_map(|s| input(s)).collect()
    }

    fn validate(&self, prefix: &str) -> Vec<Problem> {
        let mut p = vec![];
        let unknown: Vec<&String> = self.inputs.iter().filter(|s| input(s).is_none()).collect();
        if !unknown.is_empty() {
            p.push(Problem::new(
                format!("{prefix}.inputs"),
                format!(
                    "{unknown:?} cannot be read; use some of \"grouped\" (or \"events\"), \"verdicts\", \"incidents\", \"notifications\""
                ),
            ));
        }
        if self.topics().contains(&Topic::Events) && self.topics().contains(&Topic::Grouped) {
            p.push(Problem::new(
                format!("{prefix}.inputs"),
                "\"events\" and \"grouped\" carry the same calls; read one of them",
            ));
        }
        if self.inputs.is_empty() {
            p.push(Problem::new(
                format!("{prefix}.inputs"),
                "must name at least one topic",
            ));
        }
        if self.duplicate_window.is_zero() {
            p.push(Problem::new(
                format!("{prefix}.duplicate_window"),
                "must be positive, e.g. \"15m\"",
            ));
        }
        p
    }
}

/// The topics the sink can read, and the tables each fills.
pub fn input(short: &str) -> Option<Topic> {
    Topic::from_short(short).filter(|t| {
        matches!(
            t,
            Topic::Events
                | Topic::Grouped
                | Topic::Verdicts
                | Topic::Incidents
                | Topic::Notifications
        )
    })
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
        p.extend(self.sink.validate("sink"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_is_valid_and_reads_every_topic() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/config/sink.toml");
        let c: SinkConfig =
            sightline_runtime::load(Some(std::path::Path::new(path))).expect("valid");
        assert_eq!(c.sink.inputs, SinkSection::default().inputs);
        assert_eq!(
            c.sink.duplicate_window,
            SinkSection::default().duplicate_window
        );
    }

    #[test]
    fn unknown_or_overlapping_inputs_are_named() {
        let mut c = SinkConfig::default();
        c.sink.inputs = vec!["grouped".into(), "events".into(), "dlq".into()];
        let problems = c.validate();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(|p| p.key == "sink.inputs"));
        assert!(problems[0].message.contains("dlq"));
    }
}
