//! Co-partitioned inputs: a step that keeps one state per partition number across its input
//! topics needs every topic to have the same number of partitions.

use sightline_kafka::KafkaConfig;

use crate::{Error, Result};

/// Checks that every topic of `topics` exists and that all have the same number of
/// partitions; the error names each topic with its count and what to do.
pub fn check_copartitioned(
    kafka: &KafkaConfig,
    processor: &str,
    topics: &[String],
) -> Result<usize> {
    let fatal = |message: String| Error::Fatal {
        processor: processor.to_string(),
        message,
    };
    let mut counts = Vec::new();
    for t in topics {
        let n = sightline_kafka::partition_count(kafka, t).map_err(|e| {
            fatal(format!(
                "reading the metadata of {t} from {}: {e}",
                kafka.brokers
            ))
        })?;
        if n == 0 {
            return Err(fatal(format!(
                "topic {t} does not exist; create Sightline's topics with `sightline topics apply`"
            )));
        }
        counts.push((t, n));
    }
    let first = counts.first().map_or(0, |(_, n)| *n);
    if counts.iter().any(|(_, n)| *n != first) {
        let found: Vec<String> = counts.iter().map(|(t, n)| format!("{t}: {n}")).collect();
        return Err(fatal(format!(
            "the {processor} processor's inputs must have the same number of partitions (a key's records share a partition number on every topic); found {}. Set one topics.partitions for them",
            found.join(", ")
        )));
    }
    Ok(first)
}
