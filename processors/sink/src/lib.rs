//! The ClickHouse sink: consumes `sightline.events.v1` and batch-inserts into `llm_calls`, on
//! the stage runtime (a pure step maps events to rows; the ClickHouse insert is the effect).
//!
//! Delivery guarantee: at-least-once from Kafka, exactly-once rows in ClickHouse. Offsets are
//! stored only after the insert returns; on (re)assignment the sink reads the highest offset
//! ClickHouse holds per partition (`sink_progress`) and skips records at or below it, so a
//! crash between insert and commit does not double-count. Undecodable records go to the DLQ.

pub mod config;
pub mod error;
pub mod row;
pub mod sink;

pub use config::SinkConfig;
pub use error::{Error, Result};
pub use sink::run;
