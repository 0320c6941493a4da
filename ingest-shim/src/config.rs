use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sightline_events::RegistryConfig;
use sightline_kafka::{KafkaConfig, TopicsConfig};
use sightline_policy::PolicySection;
use sightline_runtime::{Problem, Validate};

/// The shim's config file (`shim.toml`), overridable by `SIGHTLINE__…` env vars.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShimConfig {
    /// `[shim]`
    #[serde(default)]
    pub shim: ShimSection,
    /// `[upstream]`
    #[serde(default)]
    pub upstream: UpstreamConfig,
    /// `[kafka]`
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// `[topics]`
    #[serde(default)]
    pub topics: TopicsConfig,
    /// `[schema_registry]`
    #[serde(default)]
    pub schema_registry: RegistryConfig,
    /// `[policy]`
    #[serde(default)]
    pub policy: PolicySection,
    /// `[identity]`
    #[serde(default)]
    pub identity: crate::identity::IdentityConfig,
    /// `[prices."<model or glob>"]`: USD per million tokens, for the cost of each call.
    #[serde(default)]
    pub prices: crate::pricing::PriceTable,
}

/// `[shim]`: the listener and request handling.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShimSection {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Tenant for calls that do not name one.
    #[serde(default = "default_tenant")]
    pub default_tenant: String,
    /// Largest request body accepted; larger ones get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// How long to wait for upstream's response headers.
    #[serde(default = "default_upstream_timeout", with = "humantime_serde")]
    pub upstream_timeout: Duration,
    /// Events waiting to be published; when full, events are logged as lost.
    #[serde(default = "default_queue")]
    pub publish_queue: usize,
    /// How long shutdown may take to drain streams and publish.
    #[serde(default = "default_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Where events go while Kafka is unavailable or the queue is full; replayed in order.
    #[serde(default = "default_spool_dir")]
    pub spool_dir: PathBuf,
    /// Largest spool; beyond it events are lost, loudly and counted.
    #[serde(default = "default_spool_max")]
    pub spool_max_bytes: u64,
    /// Refuse calls (503) while events cannot reach Kafka, instead of serving them (fail-open).
    #[serde(default)]
    pub fail_closed: bool,
    /// A `POST` to an endpoint the shim does not inspect.
    #[serde(default = "default_unknown_endpoints")]
    pub unknown_endpoints: UnknownEndpoints,
    /// Threads serving connections. One keeps each call on one thread, which adds the least
    /// latency (a thread serves a few thousand calls a second); raise it only when that is not
    /// enough. Scans of large bodies run on a separate blocking pool either way.
    #[serde(default = "default_worker_threads")]
    pub worker_threads: usize,
}

/// What happens to a `POST` to an endpoint the shim does not inspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownEndpoints {
    /// Relayed untouched, without an event.
    Relay,
    /// Relayed untouched, and recorded: REQUEST and RESPONSE events with the caller, the
    /// endpoint, the sizes and the outcome, no text.
    Record,
    /// Refused with 404: only the endpoints the shim inspects reach a model.
    Reject,
}

fn default_unknown_endpoints() -> UnknownEndpoints {
    UnknownEndpoints::Record
}

fn default_worker_threads() -> usize {
    1
}

fn default_spool_dir() -> PathBuf {
    PathBuf::from(".sightline-spool")
}

fn default_spool_max() -> u64 {
    1 << 30
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8787))
}

fn default_tenant() -> String {
    "default".into()
}

fn default_max_body() -> usize {
    32 * 1024 * 1024
}

fn default_upstream_timeout() -> Duration {
    Duration::from_secs(600)
}

fn default_queue() -> usize {
    10_000
}

fn default_grace() -> Duration {
    Duration::from_secs(30)
}

impl Default for ShimSection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            default_tenant: default_tenant(),
            max_body_bytes: default_max_body(),
            upstream_timeout: default_upstream_timeout(),
            publish_queue: default_queue(),
            shutdown_grace: default_grace(),
            spool_dir: default_spool_dir(),
            spool_max_bytes: default_spool_max(),
            fail_closed: false,
            unknown_endpoints: default_unknown_endpoints(),
            worker_threads: default_worker_threads(),
        }
    }
}

/// `[upstream]`: where calls are forwarded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL of the Anthropic API.
    #[serde(default = "default_anthropic")]
    pub anthropic: String,
    /// Base URL of the OpenAI API.
    #[serde(default = "default_openai")]
    pub openai: String,
    /// Env var with an Anthropic API key that replaces the caller's `x-api-key` upstream
    /// (central billing); unset passes the caller's key through. The var is read at start
    /// and must be set then.
    #[serde(default)]
    pub anthropic_api_key_env: Option<String>,
    /// Env var with an OpenAI API key that replaces the caller's `Authorization` upstream.
    #[serde(default)]
    pub openai_api_key_env: Option<String>,
}

fn default_anthropic() -> String {
    "https://api.anthropic.com".into()
}

fn default_openai() -> String {
    "https://api.openai.com".into()
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            anthropic: default_anthropic(),
            openai: default_openai(),
            anthropic_api_key_env: None,
            openai_api_key_env: None,
        }
    }
}

impl Validate for ShimConfig {
    fn validate(&self) -> Vec<Problem> {
        let mut p = self.kafka.validate("kafka");
        if self.shim.worker_threads == 0 {
            p.push(Problem::new(
                "shim.worker_threads",
                "must be at least 1 (1 is the default and adds the least latency)",
            ));
        }
        p.extend(self.topics.validate("topics"));
        p.extend(self.schema_registry.validate("schema_registry"));
        for (key, url) in [
            ("upstream.anthropic", &self.upstream.anthropic),
            ("upstream.openai", &self.upstream.openai),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                p.push(Problem::new(
                    key,
                    format!("'{url}' is not an http(s) base URL"),
                ));
            }
        }
        p.extend(self.identity.validate());
        p.extend(self.identity.forwarded_header_problems());
        if self.shim.max_body_bytes == 0 {
            p.push(Problem::new("shim.max_body_bytes", "must be more than 0"));
        }
        if self.shim.publish_queue == 0 {
            p.push(Problem::new("shim.publish_queue", "must be at least 1"));
        }
        p.extend(self.policy.validate("policy", false));
        if self.shim.default_tenant.is_empty() {
            p.push(Problem::new("shim.default_tenant", "must not be empty"));
        }
        p
    }
}

/// Command-line arguments of `sightline-shim`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "sightline-shim",
    about = "Sightline ingest shim for the Anthropic and OpenAI APIs"
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
    fn the_documented_example_config_loads() {
        let path = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/config/shim.toml"
        ));
        let config: ShimConfig =
            sightline_runtime::load(Some(path)).expect("docs/config/shim.toml is valid");
        assert_eq!(config.shim.listen.port(), 8787);
        assert_eq!(config.shim.worker_threads, 1);
        assert_eq!(config.prices.len(), 2);
        assert_eq!(config.identity.headers.user, "x-sightline-user");
    }

    #[test]
    fn bad_values_name_their_keys() {
        let dir =
            std::env::temp_dir().join(format!("sightline-shim-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("shim.toml");
        std::fs::write(&path, "[shim]\nworker_threads = 0\n[upstream]\nanthropic = \"ftp://x\"\n[policy]\nfile = \"/nonexistent/policy.toml\"\n[identity.api_keys.plaintext-key]\nuser = \"x\"\n").expect("write");
        let err = sightline_runtime::load::<ShimConfig>(Some(&path)).expect_err("invalid");
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"shim.worker_threads"), "{keys:?}");
        assert!(keys.contains(&"upstream.anthropic"), "{keys:?}");
        assert!(keys.contains(&"policy.file"), "{keys:?}");
        assert!(
            keys.iter().any(|k| k.starts_with("identity.api_keys.")),
            "{keys:?}"
        );
    }
}
