use thiserror::Error;

/// Errors of the codec and the schema resolvers.
#[derive(Debug, Error)]
pub enum Error {
    /// The bytes are not a valid record: bad magic byte, unknown id, or Avro that does not
    /// match the schema. Caused by input; the record belongs in the DLQ.
    #[error("cannot decode record: {0}")]
    Decode(String),
    /// The value could not be written with its schema. A bug, not bad input.
    #[error("cannot encode record: {0}")]
    Encode(String),
    /// A schema file or pinned id table is invalid. Fatal at start-up.
    #[error("invalid schema configuration: {0}")]
    Schema(String),
    /// The schema registry could not be reached or refused a call.
    #[error("schema registry error: {message}")]
    Registry {
        /// What the registry said.
        message: String,
        /// Whether trying again may succeed.
        retryable: bool,
    },
}

impl Error {
    /// Whether the same call may succeed later (environment, not input).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Registry {
                retryable: true,
                ..
            }
        )
    }

    /// Whether the error was caused by the record itself.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Error::Decode(_))
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
