use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use serde::Deserialize;
use sightline_runtime::Problem;

/// `[kafka]`: how to reach the brokers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma separated.
    #[serde(default = "default_brokers")]
    pub brokers: String,
    /// Client id reported to the broker.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// How long a produce may wait for an acknowledgement before it fails.
    #[serde(default = "default_delivery_timeout", with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// Records a consumer fetches before the offset it resumes from (its group's commit, or
    /// the start of a read), dropping them unread. tansu 0.6 answers a fetch from an offset
    /// inside a record batch with the batches after it only, so without this a consumer
    /// resuming mid-batch loses the rest of that batch. At least the largest batch a
    /// producer writes (librdkafka's `batch.num.messages`, 10,000); 0 on Apache Kafka
    /// saves the re-read.
    #[serde(default = "default_fetch_lookback")]
    pub fetch_lookback: i64,
    /// Raw librdkafka properties for everything not typed above (`security.protocol`, SASL…).
    #[serde(default)]
    pub librdkafka: BTreeMap<String, String>,
}

fn default_fetch_lookback() -> i64 {
    10_000
}

fn default_brokers() -> String {
    "127.0.0.1:9092".into()
}

fn default_client_id() -> String {
    "sightline".into()
}

fn default_delivery_timeout() -> Duration {
    Duration::from_secs(30)
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: default_brokers(),
            client_id: default_client_id(),
            delivery_timeout: default_delivery_timeout(),
            fetch_lookback: default_fetch_lookback(),
            librdkafka: BTreeMap::new(),
        }
    }
}

/// Properties Sightline sets itself; overriding them through `kafka.librdkafka` would break
/// the delivery guarantee.
const RESERVED: &[&str] = &[
    "acks",
    "bootstrap.servers",
    "enable.auto.offset.store",
    "enable.idempotence",
    "group.id",
    // The stage runtime redoes everything not yet durable on a rebalance, which is only
    // correct when every partition is revoked and refetched from its commit (eager).
    "group.protocol",
    "partition.assignment.strategy",
];

impl KafkaConfig {
    /// Problems with this section, keys prefixed by `prefix` (usually `kafka`).
    pub fn validate(&self, prefix: &str) -> Vec<Problem> {
        let mut problems = vec![];
        if self.brokers.trim().is_empty() {
            problems.push(Problem::new(
                format!("{prefix}.brokers"),
                "must list at least one broker, e.g. \"127.0.0.1:9092\"",
            ));
        }
        for key in self.librdkafka.keys() {
            if RESERVED.contains(&key.as_str()) {
                problems.push(Problem::new(
                    format!("{prefix}.librdkafka.{key}"),
                    "is set by Sightline itself; remove it (use kafka.brokers for bootstrap.servers)",
                ));
            }
        }
        if self.fetch_lookback < 0 {
            problems.push(Problem::new(
                format!("{prefix}.fetch_lookback"),
                "must be 0 or more records (default 10000; 0 on Apache Kafka)",
            ));
        }
        if self.delivery_timeout < Duration::from_secs(1) {
            problems.push(Problem::new(
                format!("{prefix}.delivery_timeout"),
                "must be at least 1s, e.g. \"30s\"",
            ));
        }
        problems
    }

    /// Base client config: brokers and client id, then `defaults` (Sightline's choices for
    /// this kind of client), then the raw `kafka.librdkafka` properties, which override them.
    pub fn client_config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id);
        for (k, v) in defaults {
            c.set(*k, *v);
        }
        for (k, v) in &self.librdkafka {
            c.set(k, v);
        }
        c
    }
}

/// `[topics]`: names and sizing of Sightline's topics.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicsConfig {
    /// Names are `<prefix>.<topic>.v1`, e.g. `sightline.events.v1`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Partitions for each topic created by `sightline topics apply`.
    #[serde(default = "default_partitions")]
    pub partitions: i32,
    /// Replication factor for created topics.
    #[serde(default = "default_replication")]
    pub replication_factor: i32,
    /// Per-topic partition overrides, keyed by short name (`events`, `dlq`…).
    #[serde(default)]
    pub partitions_by_topic: BTreeMap<String, i32>,
}

fn default_prefix() -> String {
    "sightline".into()
}

fn default_partitions() -> i32 {
    6
}

fn default_replication() -> i32 {
    1
}

impl Default for TopicsConfig {
    fn default() -> Self {
        Self {
            prefix: default_prefix(),
            partitions: default_partitions(),
            replication_factor: default_replication(),
            partitions_by_topic: BTreeMap::new(),
        }
    }
}

impl TopicsConfig {
    /// Problems with this section.
    pub fn validate(&self, prefix: &str) -> Vec<Problem> {
        let mut problems = vec![];
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if self.prefix.is_empty() || !self.prefix.chars().all(legal) {
            problems.push(Problem::new(
                format!("{prefix}.prefix"),
                "must be non-empty and use only [a-zA-Z0-9._-]",
            ));
        }
        if self.partitions < 1 {
            problems.push(Problem::new(
                format!("{prefix}.partitions"),
                "must be at least 1",
            ));
        }
        if self.replication_factor < 1 {
            problems.push(Problem::new(
                format!("{prefix}.replication_factor"),
                "must be at least 1",
            ));
        }
        for (name, n) in &self.partitions_by_topic {
            if crate::Topic::from_short(name).is_none() {
                problems.push(Problem::new(
                    format!("{prefix}.partitions_by_topic.{name}"),
                    format!(
                        "unknown topic; use one of {}",
                        crate::Topic::short_names().join(", ")
                    ),
                ));
            }
            if *n < 1 {
                problems.push(Problem::new(
                    format!("{prefix}.partitions_by_topic.{name}"),
                    "must be at least 1",
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_properties_override_defaults_but_reserved_ones_are_refused() {
        let mut config = KafkaConfig::default();
        config.librdkafka.insert("linger.ms".into(), "50".into());
        let client = config.client_config(&[("linger.ms", "5"), ("batch.size", "1000")]);
        assert_eq!(client.get("linger.ms"), Some("50"));
        assert_eq!(client.get("batch.size"), Some("1000"));
        assert!(config.validate("kafka").is_empty());

        config.librdkafka.insert("acks".into(), "1".into());
        let problems = config.validate("kafka");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "kafka.librdkafka.acks");
    }
}
