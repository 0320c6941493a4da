//! `sightline replay`: rebuilds raw tables (and so the rollups fed from them) from the
//! topics, for a range of offsets or times.
//!
//! It reads each partition of the topics that fill the chosen tables, maps records with the
//! sink's own step, and writes them with the sink's effect in [`Mode::Fill`]: before every
//! insert it asks ClickHouse which records it already holds (by offset and by id), so a range
//! that overlaps what is there leaves every count exact. Records that do not decode were
//! dead-lettered when they were first read; replay counts and skips them.

use std::time::Instant;

use sightline_events::Codec;
use sightline_kafka::{high_watermark, partition_count, read_back};
use sightline_runtime::Shutdown;
use sightline_stage::{At, Effect, Fault, Prepare, Step};

use crate::rows::Table;
use crate::sink::{parts, tables_of};
use crate::tables::{Counts, Mode};
use crate::{Error, Result, SinkConfig};

/// Records read per chunk (and at most per insert).
const CHUNK: usize = 5_000;

/// One end of the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// An offset, in every partition.
    Offset(i64),
    /// A time (epoch millis), by the broker's record timestamps.
    Time(i64),
}

impl std::str::FromStr for Bound {
    type Err = String;

    /// A plain number is an offset; anything else an RFC 3339 time
    /// (`2026-11-30T09:00:00Z`, or `2026-11-30 09:00:00` in UTC).
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(offset) = s.parse::<i64>() {
            return if offset >= 0 {
                Ok(Bound::Offset(offset))
            } else {
                Err(format!("offset {offset} is negative"))
            };
        }
        humantime::parse_rfc3339_weak(s)
            .map_err(|e| format!("'{s}' is neither an offset nor an RFC 3339 time: {e}"))
            .and_then(|t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .map_err(|e| e.to_string())
            })
            .map(|d| Bound::Time(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }
}

/// How far a replay has come, for a progress display.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Records read so far.
    pub read: u64,
    /// Records the range holds, as the broker estimates it.
    pub estimated: u64,
    /// Rows inserted (rows ClickHouse already held are not counted).
    pub inserted: u64,
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Report {
    /// Records read in the range.
    pub read: u64,
    /// Rows inserted.
    pub inserted: u64,
    /// Rows ClickHouse already held, so not inserted again.
    pub held_rows: u64,
    /// Records skipped because their fact was already written (its id was in ClickHouse
    /// or earlier in this replay).
    pub duplicates: u64,
    /// Records that did not decode (dead-lettered when first read).
    pub undecodable: u64,
}

/// Replays `from..=to` (to the end without `to`) of the topics that fill `tables` (every
/// raw table when empty) into ClickHouse, calling `progress` after every chunk.
pub async fn replay(
    config: &SinkConfig,
    from: Bound,
    to: Option<Bound>,
    tables: &[Table],
    shutdown: &Shutdown,
    mut progress: impl FnMut(Progress),
) -> Result<Report> {
    let tables = if tables.is_empty() {
        Table::ALL.to_vec()
    } else {
        tables.to_vec()
    };
    let codec: Codec = config.schema_registry.codec()?;
    let counts = Counts::default();
    let mut parts = parts(config, codec, tables.clone(), Mode::Fill, counts.clone())?;
    let fatal = |f: Fault| Error::Replay(f.to_string());
    parts.effect.assigned(shutdown).await.map_err(fatal)?;

    // Which partitions to read, from where to where.
    let (first, last) = (
        match from {
            Bound::Offset(o) => o,
            Bound::Time(_) => 0,
        },
        match to {
            Some(Bound::Offset(o)) => Some(o.saturating_add(1)),
            _ => None,
        },
    );
    let (t0, t1) = (
        match from {
            Bound::Time(t) => t,
            Bound::Offset(_) => i64::MIN,
        },
        match to {
            Some(Bound::Time(t)) => t,
            _ => i64::MAX,
        },
    );
    let mut ranges = vec![];
    let mut estimated = 0u64;
    for (index, (name, kind)) in parts.names.iter().zip(&parts.kinds).enumerate() {
        if !tables_of(*kind).iter().any(|t| tables.contains(t)) {
            continue;
        }
        let kafka = config.kafka.clone();
        let topic = name.clone();
        let count = blocking(move || partition_count(&kafka, &topic)).await?;
        for partition in 0..i32::try_from(count).unwrap_or(i32::MAX) {
            let (kafka, topic) = (config.kafka.clone(), name.clone());
            let high = blocking(move || high_watermark(&kafka, &topic, partition)).await?;
            let end = last.map_or(high, |l| l.min(high));
            estimated += u64::try_from(end.saturating_sub(first)).unwrap_or(0);
            ranges.push((index, name.clone(), partition));
        }
    }

    let mut report = Report::default();
    let started = Instant::now();
    for (index, name, partition) in ranges {
        let mut next = first;
        loop {
            if shutdown.is_triggered() {
                return Err(Error::Replay(
                    "interrupted; run it again to finish (it is safe to overlap)".into(),
                ));
            }
            let (kafka, topic) = (config.kafka.clone(), name.clone());
            let records =
                blocking(move || read_back(&kafka, &topic, partition, next, last, CHUNK)).await?;
            let done = records.len() < CHUNK;
            let mut facts = Vec::with_capacity(records.len());
            for r in records {
                next = r.offset + 1;
                report.read += 1;
                let written = r.timestamp_ms.unwrap_or(0);
                if written < t0 || written > t1 {
                    continue;
                }
                let Some(payload) = r.payload.as_deref() else {
                    continue;
                };
                let input = match parts.prepare.prepare(index, payload, false).await {
                    Ok(input) => input,
                    Err(Fault::BadInput(_)) => {
                        report.undecodable += 1;
                        continue;
                    }
                    Err(f) => return Err(fatal(f)),
                };
                let at = At {
                    topic: index,
                    partition,
                    offset: r.offset,
                };
                if parts.step.apply(input, at, written, &mut facts).is_err() {
                    report.undecodable += 1;
                }
            }
            let before = counts.inserted.get();
            parts.effect.write(facts, shutdown).await.map_err(fatal)?;
            parts.effect.flush(shutdown).await.map_err(fatal)?;
            report.inserted += counts.inserted.get() - before;
            progress(Progress {
                read: report.read,
                estimated: estimated.max(report.read),
                inserted: report.inserted,
            });
            if done {
                break;
            }
        }
    }
    report.held_rows = counts.skipped.get();
    report.duplicates = counts.duplicates.get();
    tracing::info!(read = report.read, inserted = report.inserted, took = ?started.elapsed(), "replay done");
    Ok(report)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> sightline_kafka::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Replay(format!("reader task failed: {e}")))?
        .map_err(Error::Kafka)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_offsets_or_times() {
        assert_eq!("42".parse::<Bound>(), Ok(Bound::Offset(42)));
        assert_eq!(
            "2026-11-30T00:00:00Z".parse::<Bound>(),
            Ok(Bound::Time(1_795_996_800_000))
        );
        assert!("-1".parse::<Bound>().is_err());
        assert!(matches!("yesterday".parse::<Bound>(), Err(e) if e.contains("RFC 3339")));
    }
}
