use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use thiserror::Error;

/// Errors of the Kafka layer.
#[derive(Debug, Error)]
pub enum Error {
    /// librdkafka reported an error.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// A record could not be encoded for the DLQ.
    #[error(transparent)]
    Codec(#[from] sightline_events::Error),
    /// A topic could not be created.
    #[error("topic {topic}: {message}")]
    Topic {
        /// Topic name.
        topic: String,
        /// Broker's answer.
        message: String,
    },
}

impl Error {
    /// Whether retrying may help (broker down, timeouts), as opposed to a fatal misconfiguration.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Kafka(e) => !matches!(
                e.rdkafka_error_code(),
                Some(
                    RDKafkaErrorCode::TopicAuthorizationFailed
                        | RDKafkaErrorCode::ClusterAuthorizationFailed
                        | RDKafkaErrorCode::MessageSizeTooLarge
                        | RDKafkaErrorCode::InvalidConfig,
                )
            ),
            Error::Codec(e) => e.is_retryable(),
            Error::Topic { .. } => true,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
