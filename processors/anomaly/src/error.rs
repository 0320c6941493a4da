use thiserror::Error;

/// Errors that stop the anomaly job.
#[derive(Debug, Error)]
pub enum Error {
    /// Kafka failed in a way retries did not fix.
    #[error(transparent)]
    Kafka(#[from] sightline_kafka::Error),
    /// ClickHouse failed in a way retries did not fix.
    #[error(transparent)]
    ClickHouse(#[from] sightline_clickhouse::Error),
    /// The codec could not be built or refused an incident.
    #[error(transparent)]
    Events(#[from] sightline_events::Error),
    /// The metrics endpoint could not start.
    #[error(transparent)]
    Stage(#[from] sightline_stage::Error),
}

impl From<clickhouse::error::Error> for Error {
    fn from(e: clickhouse::error::Error) -> Self {
        Error::ClickHouse(e.into())
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
