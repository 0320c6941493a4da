//! The ingest shim: a transparent proxy in front of the Anthropic Messages and OpenAI Chat
//! Completions APIs.
//!
//! Each call produces a REQUEST event when it arrives and a RESPONSE event when it completes,
//! fails or the client goes away, published to `sightline.events.v1` keyed by tenant/user.
//! Responses, streamed ones included, are relayed chunk by chunk as upstream sends them.
//!
//! Delivery guarantee: publishing is off the request path. Events go through a bounded queue
//! to an idempotent producer; if the queue is full the event is counted and logged as lost
//! (a disk spool is planned) and the call is still answered.

pub mod block;
pub mod config;
pub mod extract;
pub mod identity;
pub mod inline;
pub mod media;
pub mod metrics;
pub mod pricing;
pub mod proxy;
pub mod publish;
pub mod relay;
pub mod spool;
pub mod sse;

pub use config::ShimConfig;
pub use proxy::{router, run, serve, AppState};
