//! The shim library's one error type. `anyhow` is for `main` only.

use std::net::SocketAddr;
use std::path::PathBuf;

/// What can go wrong in the shim, and whose it is to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is wrong: the operator fixes `key` (raised at start, before serving).
    #[error("{key}: {message}")]
    Config {
        /// The config key, e.g. `upstream.anthropic`.
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A request the policy cannot read: answered 400, never forwarded.
    #[error("{0}")]
    InvalidRequest(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr} (shim.listen): {source}")]
    Listen {
        /// `shim.listen`.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The spool directory could not be opened.
    #[error("cannot open the spool at {} (shim.spool_dir): {source}", dir.display())]
    Spool {
        /// `shim.spool_dir`.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The environment refused something at start (TLS roots, a thread).
    #[error("{0}")]
    Environment(String),
    /// Kafka.
    #[error(transparent)]
    Kafka(#[from] sightline_kafka::Error),
    /// The event codec or schema registry.
    #[error(transparent)]
    Events(#[from] sightline_events::Error),
    /// The policy file.
    #[error(transparent)]
    Policy(#[from] sightline_policy::Error),
}

impl Error {
    /// A configuration problem at `key`.
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The shim's `Result`.
pub type Result<T> = std::result::Result<T, Error>;
