use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sightline_events::RegistryConfig;
use sightline_kafka::{KafkaConfig, TopicsConfig};
use sightline_policy::PolicySection;
use sightline_runtime::{Problem, Validate};
use sightline_stage::StageSection;

/// The classify processor's config file (`classify.toml`), overridable by `SIGHTLINE__…` env
/// vars.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyConfig {
    /// `[kafka]`
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// `[topics]`
    #[serde(default)]
    pub topics: TopicsConfig,
    /// `[schema_registry]`
    #[serde(default)]
    pub schema_registry: RegistryConfig,
    /// `[stage]`
    #[serde(default)]
    pub stage: StageSection,
    /// `[policy]`: the policy (reloaded on change or SIGHUP) and the fingerprint key.
    #[serde(default)]
    pub policy: PolicySection,
    /// `[classify]`
    #[serde(default)]
    pub classify: ClassifySection,
}

/// `[classify]`: how long primaries' verdicts are kept for their resamples.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifySection {
    /// A primary's verdict is kept this long (event time) for RESAMPLEs arriving after it.
    #[serde(default = "default_horizon", with = "humantime_serde")]
    pub primary_horizon: Duration,
    /// Most primaries kept per input partition; past it the oldest go
    /// (`sightline_stage_classify_evicted_total`).
    #[serde(default = "default_cap")]
    pub max_primaries_per_partition: usize,
    /// How often the policy file is checked for changes (SIGHUP reloads at once).
    #[serde(default = "default_poll", with = "humantime_serde")]
    pub policy_poll: Duration,
}

fn default_horizon() -> Duration {
    Duration::from_secs(120)
}

fn default_cap() -> usize {
    100_000
}

fn default_poll() -> Duration {
    Duration::from_secs(2)
}

impl Default for ClassifySection {
    fn default() -> Self {
        Self {
            primary_horizon: default_horizon(),
            max_primaries_per_partition: default_cap(),
            policy_poll: default_poll(),
        }
    }
}

impl Validate for ClassifyConfig {
    fn validate(&self) -> Vec<Problem> {
        let mut p = self.kafka.validate("kafka");
        p.extend(self.topics.validate("topics"));
        p.extend(self.schema_registry.validate("schema_registry"));
        p.extend(self.stage.validate("stage"));
        p.extend(self.policy.validate("policy", true));
        let c = &self.classify;
        if c.primary_horizon < Duration::from_secs(1) {
            p.push(Problem::new(
                "classify.primary_horizon",
                "must be at least 1s, and longer than the dedupe window",
            ));
        }
        if c.max_primaries_per_partition < 100 {
            p.push(Problem::new(
                "classify.max_primaries_per_partition",
                "must be at least 100",
            ));
        }
        if c.policy_poll.is_zero() {
            p.push(Problem::new(
                "classify.policy_poll",
                "must be longer than 0 (e.g. \"2s\")",
            ));
        }
        p
    }
}

/// Command-line arguments of `sightline-classify`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "sightline-classify",
    about = "Classifies every event once per logical request (sightline.grouped.v1 → sightline.verdicts.v1)"
)]
pub struct Args {
    /// TOML config file; every key can also be set as SIGHTLINE__SECTION__KEY.
    #[arg(long, env = "SIGHTLINE_CONFIG")]
    pub config: Option<PathBuf>,
}
