use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sightline_events::RegistryConfig;
use sightline_kafka::{KafkaConfig, TopicsConfig};
use sightline_policy::PolicySection;
use sightline_runtime::{Problem, Validate};
use sightline_stage::StageSection;

/// The dedupe processor's config file (`dedupe.toml`), overridable by `SIGHTLINE__…` env vars.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeConfig {
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
    /// `[policy]`: scans and redacts events from producers that did not pass the shim.
    #[serde(default)]
    pub policy: PolicySection,
    /// `[dedupe]`
    #[serde(default)]
    pub dedupe: DedupeSection,
}

/// `[dedupe]`: the windows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeSection {
    /// Identical requests less than this apart (event time) are one logical request.
    #[serde(default = "default_window", with = "humantime_serde")]
    pub window: Duration,
    /// Per-tenant windows, e.g. `acme = "2s"`.
    #[serde(default)]
    pub tenant_windows: BTreeMap<String, WindowSetting>,
    /// How long a call is remembered so its response gets the same logical id.
    #[serde(default = "default_horizon", with = "humantime_serde")]
    pub response_horizon: Duration,
    /// Most groups plus calls held per input partition; past it the oldest are evicted
    /// (`sightline_stage_dedupe_evicted_total`).
    #[serde(default = "default_cap")]
    pub max_entries_per_partition: usize,
}

/// A duration in a map value.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(transparent)]
pub struct WindowSetting(#[serde(with = "humantime_serde")] pub Duration);

fn default_window() -> Duration {
    Duration::from_secs(5)
}

fn default_horizon() -> Duration {
    Duration::from_secs(600)
}

fn default_cap() -> usize {
    200_000
}

impl Default for DedupeSection {
    fn default() -> Self {
        Self {
            window: default_window(),
            tenant_windows: BTreeMap::new(),
            response_horizon: default_horizon(),
            max_entries_per_partition: default_cap(),
        }
    }
}

impl Validate for DedupeConfig {
    fn validate(&self) -> Vec<Problem> {
        let mut p = self.kafka.validate("kafka");
        p.extend(self.topics.validate("topics"));
        p.extend(self.schema_registry.validate("schema_registry"));
        p.extend(self.stage.validate("stage"));
        p.extend(self.policy.validate("policy", true));
        let d = &self.dedupe;
        let windows = std::iter::once(("dedupe.window".to_string(), d.window)).chain(
            d.tenant_windows
                .iter()
                .map(|(t, w)| (format!("dedupe.tenant_windows.{t}"), w.0)),
        );
        for (key, w) in windows {
            if w.is_zero() || w > Duration::from_secs(3600) {
                p.push(Problem::new(
                    key,
                    "must be between 1ms and 1h (e.g. \"5s\")",
                ));
            } else if d.response_horizon < 2 * w {
                p.push(Problem::new(
                    "dedupe.response_horizon",
                    format!("must be at least twice every window ({key} is {w:?})"),
                ));
            }
        }
        if d.max_entries_per_partition < 100 {
            p.push(Problem::new(
                "dedupe.max_entries_per_partition",
                "must be at least 100",
            ));
        }
        p
    }
}

/// Command-line arguments of `sightline-dedupe`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "sightline-dedupe",
    about = "Groups resampled requests into logical requests (sightline.events.v1 → sightline.grouped.v1)"
)]
pub struct Args {
    /// TOML config file; every key can also be set as SIGHTLINE__SECTION__KEY.
    #[arg(long, env = "SIGHTLINE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_runtime::Validate;

    #[test]
    fn windows_horizon_and_key_are_checked_by_key() {
        let mut c = DedupeConfig::default();
        c.policy.fingerprint_key_env = "SIGHTLINE_DEDUPE_TEST_UNSET_KEY".into();
        c.dedupe.response_horizon = Duration::from_secs(8);
        c.dedupe
            .tenant_windows
            .insert("acme".into(), WindowSetting(Duration::ZERO));
        let keys: Vec<String> = c.validate().iter().map(|p| p.key.clone()).collect();
        assert!(
            keys.contains(&"policy.fingerprint_key_env".to_string()),
            "{keys:?}"
        );
        assert!(
            keys.contains(&"dedupe.response_horizon".to_string()),
            "{keys:?}"
        );
        assert!(
            keys.contains(&"dedupe.tenant_windows.acme".to_string()),
            "{keys:?}"
        );
        let parsed: DedupeConfig = toml::from_str(
            "[dedupe]\nwindow = \"2s\"\n[dedupe.tenant_windows]\nacme = \"500ms\"\n",
        )
        .expect("parses");
        assert_eq!(
            parsed.dedupe.tenant_windows["acme"].0,
            Duration::from_millis(500)
        );
    }
}
