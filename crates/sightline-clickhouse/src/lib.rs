//! ClickHouse plumbing: client, migration runner, batching and resume-from-ClickHouse.
//!
//! SQL here and in `sql/` runs on ClickHouse 18.16 and on current releases: no TTL, no
//! DateTime64, no Map/JSON functions, no window functions.
//!
//! Delivery guarantee: inserts are at-least-once; [`progress`] lets a sink skip records
//! whose offsets ClickHouse already holds, so replays after a crash do not double-count.

mod batch;
mod config;
mod error;
pub mod migrate;
pub mod progress;
pub mod retention;

pub use batch::{Batch, BatchConfig};
pub use config::ClickHouseConfig;
pub use error::{Error, Result};

pub use clickhouse::{Client, Row};
