use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sightline_clickhouse::ClickHouseConfig;
use sightline_events::RegistryConfig;
use sightline_kafka::{KafkaConfig, TopicsConfig};
use sightline_runtime::{Problem, Validate};

/// The anomaly job's config file (`anomaly.toml`), overridable by `SIGHTLINE__…` env vars.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyConfig {
    /// `[kafka]`: where incidents are written.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// `[topics]`
    #[serde(default)]
    pub topics: TopicsConfig,
    /// `[clickhouse]`: the rollups read.
    #[serde(default)]
    pub clickhouse: ClickHouseConfig,
    /// `[schema_registry]`
    #[serde(default)]
    pub schema_registry: RegistryConfig,
    /// `[anomaly]`: thresholds and schedule.
    #[serde(default)]
    pub anomaly: AnomalySection,
}

/// `[anomaly]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalySection {
    /// How often the checks run.
    #[serde(default = "default_every", with = "humantime_serde")]
    pub every: Duration,
    /// A day's volume above this multiple of the 14-day median is a SPIKE.
    #[serde(default = "default_spike")]
    pub spike_ratio: f64,
    /// A day's volume below this multiple of the 14-day median is a DROP.
    #[serde(default = "default_drop")]
    pub drop_ratio: f64,
    /// Days of history a capability needs before its volume is judged.
    #[serde(default = "default_min_baseline_days")]
    pub min_baseline_days: u64,
    /// Days back the volume check looks (incidents are opened once per day and capability).
    #[serde(default = "default_lookback_days")]
    pub lookback_days: u64,
    /// Error rate over a 15-minute bucket above which an incident opens.
    #[serde(default = "default_error_rate")]
    pub error_rate: f64,
    /// Calls a bucket needs before its error rate is judged.
    #[serde(default = "default_min_calls")]
    pub min_calls: u64,
    /// No calls for this long during business hours opens an incident.
    #[serde(default = "default_silence", with = "humantime_serde")]
    pub silence: Duration,
    /// `[anomaly.business_hours]`
    #[serde(default)]
    pub business_hours: BusinessHours,
    /// A capability, model or attachment type first seen this recently, for a tenant with
    /// older history, is new.
    #[serde(default = "default_new_within", with = "humantime_serde")]
    pub new_within: Duration,
    /// Prometheus `/metrics` listen address; empty turns it off.
    #[serde(default = "default_metrics_listen")]
    pub metrics_listen: String,
    /// Longest wait between retries while ClickHouse or Kafka is down.
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
}

/// When silence is an anomaly: weekdays and hours, in UTC shifted by `utc_offset_minutes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// ISO weekdays (1 Monday … 7 Sunday).
    #[serde(default = "default_days")]
    pub days: Vec<u8>,
    /// First hour (0–23) of the working day.
    #[serde(default = "default_start_hour")]
    pub start_hour: u8,
    /// Hour (1–24) the working day ends.
    #[serde(default = "default_end_hour")]
    pub end_hour: u8,
    /// Local time minus UTC, in minutes (e.g. 60 for CET).
    #[serde(default)]
    pub utc_offset_minutes: i32,
}

fn default_every() -> Duration {
    Duration::from_secs(300)
}
fn default_spike() -> f64 {
    1.75
}
fn default_drop() -> f64 {
    0.4
}
fn default_min_baseline_days() -> u64 {
    7
}
fn default_lookback_days() -> u64 {
    3
}
fn default_error_rate() -> f64 {
    0.05
}
fn default_min_calls() -> u64 {
    20
}
fn default_silence() -> Duration {
    Duration::from_secs(2 * 3600)
}
fn default_new_within() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_metrics_listen() -> String {
    "0.0.0.0:9307".into()
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}
fn default_days() -> Vec<u8> {
    vec![1, 2, 3, 4, 5]
}
fn default_start_hour() -> u8 {
    9
}
fn default_end_hour() -> u8 {
    18
}

impl Default for AnomalySection {
    fn default() -> Self {
        Self {
            every: default_every(),
            spike_ratio: default_spike(),
            drop_ratio: default_drop(),
            min_baseline_days: default_min_baseline_days(),
            lookback_days: default_lookback_days(),
            error_rate: default_error_rate(),
            min_calls: default_min_calls(),
            silence: default_silence(),
            business_hours: BusinessHours::default(),
            new_within: default_new_within(),
            metrics_listen: default_metrics_listen(),
            max_backoff: default_max_backoff(),
        }
    }
}

impl Default for BusinessHours {
    fn default() -> Self {
        Self {
            days: default_days(),
            start_hour: default_start_hour(),
            end_hour: default_end_hour(),
            utc_offset_minutes: 0,
        }
    }
}

/// Strictly between 0 and 1.
fn within_0_1(x: f64) -> bool {
    x > 0.0 && x < 1.0
}

impl AnomalySection {
    fn validate(&self, prefix: &str) -> Vec<Problem> {
        let mut p = vec![];
        let mut bad = |key: &str, why: &str| p.push(Problem::new(format!("{prefix}.{key}"), why));
        if self.every.is_zero() {
            bad("every", "must be positive, e.g. \"5m\"");
        }
        if self.spike_ratio.is_nan() || self.spike_ratio <= 1.0 {
            bad("spike_ratio", "must be above 1, e.g. 1.75");
        }
        if !within_0_1(self.drop_ratio) {
            bad("drop_ratio", "must be between 0 and 1, e.g. 0.4");
        }
        if !within_0_1(self.error_rate) {
            bad("error_rate", "must be between 0 and 1, e.g. 0.05");
        }
        if self.min_baseline_days == 0 || self.min_baseline_days > 14 {
            bad(
                "min_baseline_days",
                "must be 1 to 14 (the median covers 14 days)",
            );
        }
        if self.silence < Duration::from_secs(15 * 60) {
            bad("silence", "must be at least \"15m\" (the rollup's bucket)");
        }
        let h = &self.business_hours;
        if h.days.is_empty() || h.days.iter().any(|d| !(1..=7).contains(d)) {
            bad(
                "business_hours.days",
                "must list ISO weekdays 1 (Monday) to 7 (Sunday)",
            );
        }
        if h.start_hour >= h.end_hour || h.end_hour > 24 {
            bad(
                "business_hours.end_hour",
                "must be after start_hour and at most 24",
            );
        }
        if h.utc_offset_minutes.abs() > 14 * 60 {
            bad("business_hours.utc_offset_minutes", "must be within ±840");
        }
        p
    }
}

impl Validate for AnomalyConfig {
    fn validate(&self) -> Vec<Problem> {
        let mut p = self.kafka.validate("kafka");
        p.extend(self.topics.validate("topics"));
        p.extend(self.clickhouse.validate("clickhouse"));
        p.extend(self.schema_registry.validate("schema_registry"));
        p.extend(self.anomaly.validate("anomaly"));
        p
    }
}

/// Command-line arguments of `sightline-anomaly`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "sightline-anomaly",
    about = "Opens incidents for usage anomalies found in the ClickHouse rollups"
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
    fn every_bad_threshold_is_named() {
        let mut c = AnomalyConfig::default();
        c.anomaly.spike_ratio = 0.9;
        c.anomaly.business_hours.days = vec![0];
        c.anomaly.business_hours.start_hour = 18;
        let keys: Vec<String> = c.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "anomaly.spike_ratio",
                "anomaly.business_hours.days",
                "anomaly.business_hours.end_hour"
            ]
        );
        assert!(AnomalyConfig::default().validate().is_empty());
    }

    #[test]
    fn the_example_config_is_valid_and_says_the_defaults() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/config/anomaly.toml"
        );
        let c: AnomalyConfig =
            sightline_runtime::load(Some(std::path::Path::new(path))).expect("valid");
        let d = AnomalySection::default();
        assert_eq!(
            (
                c.anomaly.every,
                c.anomaly.spike_ratio,
                c.anomaly.drop_ratio,
                c.anomaly.silence
            ),
            (d.every, d.spike_ratio, d.drop_ratio, d.silence)
        );
        assert_eq!(c.anomaly.business_hours.days, d.business_hours.days);
    }
}
