//! The ingest shim: a transparent proxy in front of the Anthropic and OpenAI APIs.
//!
//! Each call is attributed to a caller ([`identity`]), inspected by the policy before it is
//! forwarded ([`inline`] over what the model reads, [`content`]: detect, redact, block with a
//! reply in the API's own shape), and
//! produces a REQUEST event when it arrives and a RESPONSE event when it completes, fails, is
//! blocked or the client goes away, published to `sightline.events.v1` keyed by tenant/user.
//! Calls reach the providers through one pooled client ([`upstream`]), and go there before
//! their REQUEST event is built. Responses, streamed ones included, are relayed chunk by chunk
//! as upstream sends them ([`relay`], observed by [`sse`]); each API's formats live in one
//! module of [`provider`]; pure parsing lives in [`extract`],
//! [`media`] and [`pricing`].
//!
//! Connections are served by [`server`], hyper's HTTP/1.1 server with a `match` for routes
//! ([`routes::handle`]); the state every call reads is built in [`app`], each call is
//! handled in [`call`], and what the shim answers itself is in [`replies`].
//!
//! Delivery guarantee: recording is off the request path ([`publish`]). Events, or the work
//! that builds them, go through a bounded queue to a recording thread of its own and on to an
//! idempotent producer; events Kafka does not acknowledge, or that find
//! the queue full, go to a disk [`spool`] and are replayed in order, so none is lost unless
//! the spool is full (counted and logged). Calls are served throughout unless
//! `shim.fail_closed` is set.

pub mod app;
pub mod call;
pub mod chains;
pub mod config;
pub mod content;
pub mod error;
pub mod extract;
pub use sightline_identity as identity;
pub mod inline;
pub mod media;
pub mod metrics;
pub mod pricing;
pub mod provider;
pub mod publish;
pub mod relay;
pub mod replies;
pub mod routes;
pub mod server;
pub mod spool;
pub mod sse;
pub mod upstream;

pub use app::{run, serve, AppState};
pub use config::ShimConfig;
pub use error::{Error, Result};
pub use routes::handle;
