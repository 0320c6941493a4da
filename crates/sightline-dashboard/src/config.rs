use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sightline_clickhouse::ClickHouseConfig;
use sightline_events::RegistryConfig;
use sightline_identity::IdentityConfig;
use sightline_kafka::{KafkaConfig, TopicsConfig};
use sightline_runtime::{Problem, Validate};

/// The dashboard's config file (`dashboard.toml`), overridable by `SIGHTLINE__…` env vars.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// `[clickhouse]`: the tables and rollups read, and the audit log written.
    #[serde(default)]
    pub clickhouse: ClickHouseConfig,
    /// `[kafka]`: where incident commands are sent.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// `[topics]`
    #[serde(default)]
    pub topics: TopicsConfig,
    /// `[schema_registry]`
    #[serde(default)]
    pub schema_registry: RegistryConfig,
    /// `[identity]`: who may sign in (API keys, JWT; a role per key or a `role` claim).
    #[serde(default)]
    pub identity: IdentityConfig,
    /// `[dashboard]`
    #[serde(default)]
    pub dashboard: DashboardSection,
}

/// `[dashboard]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSection {
    /// Listen address.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Days a page shows when the request names no range.
    #[serde(default = "default_days")]
    pub default_days: u32,
    /// Longest range a page or export may ask for, in days.
    #[serde(default = "default_max_days")]
    pub max_days: u32,
    /// Rows per page of a list, unless the request asks for fewer.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Requests per second each caller may make (pages, API, exports).
    #[serde(default = "default_per_second")]
    pub requests_per_second: u32,
    /// Burst above that rate.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Failed sign-ins per minute each address may make before it is refused.
    #[serde(default = "default_failed_logins")]
    pub failed_logins_per_minute: u32,
    /// How often the live view looks for new events.
    #[serde(default = "default_live_every", with = "humantime_serde")]
    pub live_every: Duration,
    /// How long a browser sign-in (`/login`) lasts.
    #[serde(default = "default_session_ttl", with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Whether the session cookie is `Secure` (sent over HTTPS and to localhost only).
    #[serde(default = "default_true")]
    pub secure_cookies: bool,
    /// Longest a page's or API call's ClickHouse query may run (exports are not limited).
    #[serde(default = "default_query_timeout", with = "humantime_serde")]
    pub query_timeout: Duration,
}

fn default_listen() -> String {
    "127.0.0.1:8000".into()
}
fn default_days() -> u32 {
    7
}
fn default_max_days() -> u32 {
    366
}
fn default_page_size() -> u32 {
    50
}
fn default_per_second() -> u32 {
    20
}
fn default_burst() -> u32 {
    60
}
fn default_failed_logins() -> u32 {
    10
}
fn default_live_every() -> Duration {
    Duration::from_secs(1)
}
fn default_session_ttl() -> Duration {
    Duration::from_secs(8 * 3600)
}
fn default_true() -> bool {
    true
}
fn default_query_timeout() -> Duration {
    Duration::from_secs(30)
}

impl Default for DashboardSection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            default_days: default_days(),
            max_days: default_max_days(),
            page_size: default_page_size(),
            requests_per_second: default_per_second(),
            burst: default_burst(),
            failed_logins_per_minute: default_failed_logins(),
            live_every: default_live_every(),
            session_ttl: default_session_ttl(),
            secure_cookies: true,
            query_timeout: default_query_timeout(),
        }
    }
}

impl DashboardSection {
    fn validate(&self, prefix: &str) -> Vec<Problem> {
        let mut p = vec![];
        if self.listen.parse::<SocketAddr>().is_err() {
            p.push(Problem::new(
                format!("{prefix}.listen"),
                format!(
                    "'{}' is not an address; use e.g. \"127.0.0.1:8000\"",
                    self.listen
                ),
            ));
        }
        for (key, value, least) in [
            ("default_days", self.default_days, 1),
            ("page_size", self.page_size, 1),
            ("requests_per_second", self.requests_per_second, 1),
            ("burst", self.burst, 1),
            ("failed_logins_per_minute", self.failed_logins_per_minute, 1),
        ] {
            if value < least {
                p.push(Problem::new(
                    format!("{prefix}.{key}"),
                    format!("must be at least {least}"),
                ));
            }
        }
        if self.max_days < self.default_days {
            p.push(Problem::new(
                format!("{prefix}.max_days"),
                format!(
                    "must be at least default_days ({}); it caps the range a request may ask for",
                    self.default_days
                ),
            ));
        }
        if self.page_size > crate::cursor::MAX_PAGE {
            p.push(Problem::new(
                format!("{prefix}.page_size"),
                format!("must be at most {}", crate::cursor::MAX_PAGE),
            ));
        }
        if self.session_ttl < Duration::from_secs(60)
            || self.session_ttl > Duration::from_secs(7 * 86_400)
        {
            p.push(Problem::new(
                format!("{prefix}.session_ttl"),
                "must be between 1m and 7d",
            ));
        }
        if self.query_timeout < Duration::from_secs(1) {
            p.push(Problem::new(
                format!("{prefix}.query_timeout"),
                "must be at least 1s",
            ));
        }
        if self.live_every < Duration::from_millis(100) || self.live_every > Duration::from_secs(4)
        {
            p.push(Problem::new(
                format!("{prefix}.live_every"),
                "must be between 100ms and 4s: a critical event must reach the live view within 5 s",
            ));
        }
        p
    }
}

impl Validate for DashboardConfig {
    fn validate(&self) -> Vec<Problem> {
        let mut p = self.clickhouse.validate("clickhouse");
        p.extend(self.kafka.validate("kafka"));
        p.extend(self.topics.validate("topics"));
        p.extend(self.schema_registry.validate("schema_registry"));
        p.extend(self.identity.validate());
        if self.identity.order.is_empty() {
            p.push(Problem::new(
                "identity.order",
                "name at least one sign-in source: api_key and/or jwt",
            ));
        }
        if self.identity.unknown != sightline_identity::Unknown::Reject {
            p.push(Problem::new(
                "identity.unknown",
                "must be \"reject\" for the dashboard: anonymous callers see nothing",
            ));
        }
        p.extend(self.dashboard.validate("dashboard"));
        p
    }
}

/// Command-line arguments of `sightline-dashboard`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "sightline-dashboard",
    about = "Serves the Sightline dashboard, JSON API and exports"
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
    fn the_example_config_is_valid_and_every_problem_names_its_key() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/config/dashboard.toml"
        );
        let config: DashboardConfig =
            sightline_runtime::load(Some(std::path::Path::new(path))).expect("valid");
        let d = DashboardSection::default();
        assert_eq!(
            (
                config.dashboard.default_days,
                config.dashboard.page_size,
                config.dashboard.live_every
            ),
            (d.default_days, d.page_size, d.live_every),
            "the example says the defaults"
        );

        let mut bad = config.clone();
        bad.dashboard.listen = "nowhere".into();
        bad.dashboard.page_size = 0;
        bad.dashboard.live_every = Duration::from_secs(10);
        bad.identity.unknown = sightline_identity::Unknown::Anonymous;
        let keys: Vec<String> = bad.validate().into_iter().map(|p| p.key).collect();
        for key in [
            "dashboard.listen",
            "dashboard.page_size",
            "dashboard.live_every",
            "identity.unknown",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
        }
    }
}
