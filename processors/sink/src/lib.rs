//! The ClickHouse sink: consumes the grouped events, verdicts, incidents and notifications
//! topics and batch-inserts their facts into the raw tables (`sql/0003_*`), whose
//! materialized views keep the rollups (`sql/0004_*`); on the stage runtime (a pure step maps
//! records to rows; the ClickHouse inserts are the effect).
//!
//! Delivery guarantee: at-least-once from Kafka, each fact exactly once in ClickHouse.
//! Offsets are stored only after the inserts return. On (re)assignment the sink reads the
//! highest offset each table holds per partition (`sink_progress`) and skips records at or
//! below it; a fact published twice (same id at two offsets) is written once; a retried
//! insert first asks what ClickHouse already holds. Undecodable records go to the DLQ.

pub mod config;
pub mod error;
pub mod replay;
pub mod rows;
pub mod seen;
pub mod sink;
pub mod tables;

pub use config::SinkConfig;
pub use error::{Error, Result};
pub use sink::run;
