use serde::{Deserialize, Serialize};

/// A record a processor could not handle: see `schemas/dlq_record.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DlqRecord {
    /// Why it was rejected; never contains the payload.
    pub error: String,
    /// Which processor rejected it.
    pub processor: String,
    /// Where it came from.
    pub source_topic: String,
    /// Source partition.
    pub source_partition: i32,
    /// Source offset.
    pub source_offset: i64,
    /// Original key bytes.
    #[serde(with = "apache_avro::serde::bytes_opt")]
    pub key: Option<Vec<u8>>,
    /// Original payload bytes.
    #[serde(with = "apache_avro::serde::bytes_opt")]
    pub payload: Option<Vec<u8>>,
    /// Epoch milliseconds of the rejection.
    pub failed_at_ms: i64,
}
