use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use sightline_runtime::Problem;

/// `[clickhouse]`: where the projection lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// HTTP endpoint.
    #[serde(default = "default_url")]
    pub url: String,
    /// Database holding Sightline's tables; created by `sightline migrate`.
    #[serde(default = "default_database")]
    pub database: String,
    /// User.
    #[serde(default = "default_user")]
    pub user: String,
    /// Password.
    #[serde(default)]
    pub password: String,
    /// Days of raw data `sightline retention run` keeps; rollups and incidents are kept
    /// forever.
    #[serde(default = "default_raw_retention_days")]
    pub raw_retention_days: u32,
}

fn default_raw_retention_days() -> u32 {
    90
}

fn default_url() -> String {
    "http://127.0.0.1:8123".into()
}

fn default_database() -> String {
    "sightline".into()
}

fn default_user() -> String {
    "default".into()
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: default_url(),
            database: default_database(),
            user: default_user(),
            password: String::new(),
            raw_retention_days: default_raw_retention_days(),
        }
    }
}

impl ClickHouseConfig {
    /// Problems with this section, keys prefixed by `prefix`.
    pub fn validate(&self, prefix: &str) -> Vec<Problem> {
        let mut problems = vec![];
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            problems.push(Problem::new(
                format!("{prefix}.url"),
                format!(
                    "'{}' is not an HTTP URL; use e.g. \"http://127.0.0.1:8123\"",
                    self.url
                ),
            ));
        }
        if self.database.is_empty()
            || !self
                .database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            problems.push(Problem::new(
                format!("{prefix}.database"),
                "must be non-empty and use only [a-zA-Z0-9_]",
            ));
        }
        if self.raw_retention_days == 0 {
            problems.push(Problem::new(
                format!("{prefix}.raw_retention_days"),
                "must be at least 1 (the default keeps 90 days)",
            ));
        }
        problems
    }

    /// A client bound to [`database`](Self::database).
    pub fn client(&self) -> clickhouse::Client {
        self.server_client().with_database(&self.database)
    }

    /// A client with no database, for `CREATE DATABASE`.
    pub fn server_client(&self) -> clickhouse::Client {
        // No idle connections are kept: ClickHouse goes on serving requests that arrive on a
        // kept-alive connection while it shuts down, and ends such an insert wherever it is
        // when it stops, which can be after the table's part and before its materialized
        // views (a rollup would then miss rows the raw table holds). A connection per request
        // is refused as soon as shutdown begins, and an insert already running is awaited.
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        // 18.16 lacks RowBinaryWithNamesAndTypes, which schema validation needs.
        clickhouse::Client::with_http_client(http)
            .with_url(&self.url)
            .with_user(&self.user)
            .with_password(&self.password)
            .with_validation(false)
    }
}
