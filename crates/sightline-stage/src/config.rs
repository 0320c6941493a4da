use std::time::Duration;

use serde::Deserialize;
use sightline_runtime::Problem;

/// `[stage]`: how a processor's loop runs. Every processor has this section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSection {
    /// Consumer group; defaults to `sightline-<processor>`.
    #[serde(default)]
    pub group_id: Option<String>,
    /// Most records handled per batch (one effect write, one offset store).
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// How often stored offsets are committed.
    #[serde(default = "default_commit_every", with = "humantime_serde")]
    pub commit_every: Duration,
    /// How often the step's `tick` runs.
    #[serde(default = "default_tick_every", with = "humantime_serde")]
    pub tick_every: Duration,
    /// How long shutdown may take to flush and commit.
    #[serde(default = "default_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Longest back-off between retries.
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Address of the Prometheus `/metrics` endpoint; empty turns it off.
    #[serde(default)]
    pub metrics_listen: String,
}

fn default_max_batch() -> usize {
    500
}

fn default_commit_every() -> Duration {
    Duration::from_secs(1)
}

fn default_tick_every() -> Duration {
    Duration::from_secs(1)
}

fn default_grace() -> Duration {
    Duration::from_secs(20)
}

fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}

impl Default for StageSection {
    fn default() -> Self {
        Self {
            group_id: None,
            max_batch: default_max_batch(),
            commit_every: default_commit_every(),
            tick_every: default_tick_every(),
            shutdown_grace: default_grace(),
            max_backoff: default_max_backoff(),
            metrics_listen: String::new(),
        }
    }
}

impl StageSection {
    /// The consumer group for `processor`.
    pub fn group(&self, processor: &str) -> String {
        self.group_id
            .clone()
            .unwrap_or_else(|| format!("sightline-{processor}"))
    }

    /// Problems, keys prefixed by `prefix` (usually `stage`).
    pub fn validate(&self, prefix: &str) -> Vec<Problem> {
        let mut p = vec![];
        if self.group_id.as_deref() == Some("") {
            p.push(Problem::new(
                format!("{prefix}.group_id"),
                "must not be empty; leave it out for sightline-<processor>",
            ));
        }
        if self.max_batch == 0 || self.max_batch > 100_000 {
            p.push(Problem::new(
                format!("{prefix}.max_batch"),
                "must be between 1 and 100000",
            ));
        }
        for (key, d) in [
            ("commit_every", self.commit_every),
            ("tick_every", self.tick_every),
            ("shutdown_grace", self.shutdown_grace),
            ("max_backoff", self.max_backoff),
        ] {
            if d.is_zero() {
                p.push(Problem::new(
                    format!("{prefix}.{key}"),
                    "must be longer than 0 (e.g. \"1s\")",
                ));
            }
        }
        if !self.metrics_listen.is_empty()
            && self.metrics_listen.parse::<std::net::SocketAddr>().is_err()
        {
            p.push(Problem::new(
                format!("{prefix}.metrics_listen"),
                format!(
                    "'{}' is not host:port (e.g. \"0.0.0.0:9301\")",
                    self.metrics_listen
                ),
            ));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_names_its_key() {
        let section = StageSection {
            group_id: Some(String::new()),
            max_batch: 0,
            commit_every: Duration::ZERO,
            metrics_listen: "localhost".into(),
            ..StageSection::default()
        };
        let keys: Vec<String> = section
            .validate("stage")
            .iter()
            .map(|p| p.key.clone())
            .collect();
        assert_eq!(
            keys,
            [
                "stage.group_id",
                "stage.max_batch",
                "stage.commit_every",
                "stage.metrics_listen"
            ]
        );
        assert!(StageSection::default().validate("stage").is_empty());
        assert_eq!(StageSection::default().group("dedupe"), "sightline-dedupe");
    }
}
