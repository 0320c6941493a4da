use thiserror::Error;

/// Why a stage stopped.
#[derive(Debug, Error)]
pub enum Error {
    /// The broker refused or the client could not be set up.
    #[error(transparent)]
    Kafka(#[from] sightline_kafka::Error),
    /// The schema registry or codec is misconfigured.
    #[error(transparent)]
    Events(#[from] sightline_events::Error),
    /// The step or effect hit something retrying cannot fix.
    #[error("{processor} stopped: {message}")]
    Fatal {
        /// Processor name.
        processor: String,
        /// What happened and what to do about it.
        message: String,
    },
    /// Shutdown started while something outside was unavailable; what was not durable is
    /// redone from the last commit.
    #[error("{processor} stopped during an outage: {message}")]
    Interrupted {
        /// Processor name.
        processor: String,
        /// What was unavailable.
        message: String,
    },
    /// The metrics listener could not bind.
    #[error("cannot listen for /metrics on {addr}: {message}")]
    Listen {
        /// Configured address.
        addr: String,
        /// OS error.
        message: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
