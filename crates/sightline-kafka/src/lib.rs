//! Kafka plumbing shared by the shim and the processors.
//!
//! - [`Producer`]: idempotent producer; a full librdkafka queue is backpressure, never a drop.
//! - [`AtLeastOnceConsumer`]: auto-commit of *stored* offsets only; a processor stores an
//!   offset after its effect is durable, so a crash replays rather than loses.
//! - [`topics`]: the topic set of DESIGN.md §2 and an idempotent `apply`.
//! - [`DeadLetters`]: undecodable or invalid records go to the DLQ topic with the reason,
//!   the source coordinates and the original bytes.
//!
//! Delivery guarantee: at-least-once end to end, provided callers store offsets only after
//! their effect (a DLQ send included) is acknowledged.

mod config;
mod consumer;
mod dlq;
mod error;
mod producer;
pub mod topics;

pub use config::{KafkaConfig, TopicsConfig};
pub use consumer::{
    high_watermark, partition_count, read_back, read_topic, AtLeastOnceConsumer, ReadBack,
    ResumePoint, FETCH_WAIT_MAX_MS,
};
pub use dlq::DeadLetters;
pub use error::{Error, Result};
pub use producer::Producer;
pub use topics::{Topic, TopicNames};

pub use rdkafka::message::{BorrowedMessage, Message};
