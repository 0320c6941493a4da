use thiserror::Error;

/// Errors of the ClickHouse layer.
#[derive(Debug, Error)]
pub enum Error {
    /// The server refused or failed a query, or could not be reached.
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    /// A migration file is invalid or was changed after it was applied.
    #[error("migration {file}: {message}")]
    Migration {
        /// File in `sql/`.
        file: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl Error {
    /// Whether retrying may help: network errors and server-side failures, but not bad SQL or
    /// edited migrations.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::ClickHouse(e) => matches!(
                e,
                clickhouse::error::Error::Network(_) | clickhouse::error::Error::TimedOut
            ),
            Error::Migration { .. } => false,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
