use thiserror::Error;

/// Errors that stop the sink. Bad records never do: they go to the DLQ.
#[derive(Debug, Error)]
pub enum Error {
    /// Kafka failed in a way retries did not fix.
    #[error(transparent)]
    Kafka(#[from] sightline_kafka::Error),
    /// ClickHouse failed in a way retries did not fix.
    #[error(transparent)]
    ClickHouse(#[from] sightline_clickhouse::Error),
    /// The codec could not be built.
    #[error(transparent)]
    Events(#[from] sightline_events::Error),
    /// The policy file could not be loaded.
    #[error(transparent)]
    Policy(#[from] sightline_policy::Error),
    /// A replay stopped (the message names why).
    #[error("replay: {0}")]
    Replay(String),
    /// The stage stopped (a fatal fault names what to fix).
    #[error(transparent)]
    Stage(#[from] sightline_stage::Error),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
