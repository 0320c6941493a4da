use thiserror::Error;

/// A policy file could not be loaded.
#[derive(Debug, Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read policy {path}: {message}")]
    Read {
        /// Path.
        path: String,
        /// OS error.
        message: String,
    },
    /// Syntax or semantic problems; each names its line and key.
    #[error("invalid policy {path}:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Path (or `<inline>`).
        path: String,
        /// `line N: key: message`, one per problem.
        problems: Vec<String>,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
