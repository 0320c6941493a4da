//! The stage runtime: one async loop that every Sightline processor runs on.
//!
//! A processor is three parts and some configuration:
//! - a [`Prepare`]: decodes a record (and, where a processor must ask something outside, such
//!   as classify's judge, asks it); [`AvroInput`] is the plain decoder;
//! - a [`Step`]: pure and synchronous. It takes the prepared input, its source coordinates
//!   and when the record was written (the broker's timestamp, passed in; no clock is read
//!   inside) and appends outputs; `tick` lets
//!   windows expire; `revoke` drops the state of partitions that moved;
//! - an [`Effect`]: makes outputs durable ([`KafkaOutput`] produces and waits for the
//!   broker's acks; the ClickHouse sink inserts).
//!
//! The loop ([`run`]) consumes in batches, runs the step off the async reactor, hands the
//! outputs to the effect and stores offsets only once the effect says they are durable. Bad
//! input goes to the DLQ with its reason and coordinates and the stage goes on; transient
//! failures back off and retry while shutdown has not started; a fatal one stops the stage
//! with a message an operator can act on. On a rebalance the loop flushes, tells the step
//! which partitions it lost, and rebuilds the state of new partitions by re-reading their
//! inputs from the rebuild point committed with the offsets (see `docs/adr/0008-stage-runtime.md`).
//! On shutdown it stops consuming, flushes, commits and returns within its grace.
//!
//! Delivery guarantee: at-least-once. Outputs carry ids derived from their inputs, so the
//! records a replay writes again are identical and consumers deduplicate them.

mod config;
mod effect;
mod error;
mod metrics;
mod partitions;
mod runtime;
mod step;

pub use config::StageSection;
pub use effect::{Durable, Effect, KafkaOutput, OutputRecord};
pub use error::{Error, Result};
pub use metrics::{serve_metrics, StageMetrics};
pub use partitions::check_copartitioned;
pub use runtime::{run, Stage, Stats};
pub use step::{decode, At, AvroInput, Fault, Prepare, Step};
