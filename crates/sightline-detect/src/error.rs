use thiserror::Error;

/// Errors building an engine. Scanning itself never fails.
#[derive(Debug, Error)]
pub enum Error {
    /// A rule file could not be parsed.
    #[error("rule file {file}: {message}")]
    RuleFile {
        /// File name.
        file: String,
        /// Parser message, with line and column.
        message: String,
    },
    /// A rule is invalid.
    #[error("rule {rule}: {message}")]
    Rule {
        /// Rule id.
        rule: String,
        /// What is wrong.
        message: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
