//! Relays an upstream response body chunk by chunk while observing it, and publishes the
//! RESPONSE event when the body ends, fails, or the client goes away.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{BoxStream, Stream};
use sightline_events::{now_ms, CallStatus, EventKind, LlmEvent, Message};

use crate::publish::Publisher;
use crate::sse::Observer;

/// Scans response text with the caller's tenant policy before it is published.
#[derive(Clone)]
pub struct ResponseScanner {
    /// The policy.
    pub policy: std::sync::Arc<sightline_policy::Policy>,
    /// Fingerprint master key.
    pub key: std::sync::Arc<Vec<u8>>,
    /// Prices for the cost of each call.
    pub prices: std::sync::Arc<crate::pricing::PriceTable>,
}

impl std::fmt::Debug for ResponseScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseScanner").finish_non_exhaustive()
    }
}

/// Builds the RESPONSE event of one call.
#[derive(Debug, Clone)]
pub struct CallRecord {
    /// The call's REQUEST event; identity and routing are copied from it.
    pub request: LlmEvent,
    /// When the shim received the call.
    pub started: Instant,
    /// Upstream's HTTP status.
    pub http_status: u16,
    /// Scans the response text; `None` publishes it as is.
    pub scanner: Option<ResponseScanner>,
}

impl CallRecord {
    /// The RESPONSE event for this call.
    pub fn response(
        &self,
        status: CallStatus,
        error: Option<String>,
        ttft: Option<Duration>,
        observed: crate::extract::ResponseInfo,
    ) -> LlmEvent {
        let mut e = self.request.clone();
        e.event_id = LlmEvent::new_id();
        e.kind = EventKind::Response;
        e.occurred_at_ms = now_ms();
        e.model = observed.model.or(e.model);
        let mut findings = vec![];
        let mut text = observed.text;
        if let (Some(scanner), false) = (&self.scanner, text.is_empty()) {
            let found = scanner.policy.scan(&text, &e.tenant_id, &scanner.key);
            if !found.is_empty() {
                findings = found.iter().map(crate::inline::to_event).collect();
                text = sightline_detect::redact(&text, &found);
            }
        }
        e.messages = if text.is_empty() {
            vec![]
        } else {
            vec![Message {
                role: "assistant".into(),
                text,
            }]
        };
        e.attachments = vec![];
        e.cost_usd_micros = match (&self.scanner, &observed.usage, &e.model) {
            (Some(s), Some(usage), Some(model)) => {
                crate::pricing::cost_micros(&s.prices, model, usage)
            }
            _ => None,
        };
        e.usage = observed.usage;
        e.latency_ms = Some(millis(self.started.elapsed()));
        e.ttft_ms = ttft.map(millis);
        e.status = status;
        e.http_status = Some(i32::from(self.http_status));
        e.error = error;
        e.findings = findings;
        e
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Responses observed up to this size are parsed and scanned on the reactor thread.
const INLINE_LIMIT: usize = 16 * 1024;

/// The relayed body.
pub struct Relay {
    inner: BoxStream<'static, Result<Bytes, reqwest::Error>>,
    observer: Option<Observer>,
    record: Option<CallRecord>,
    first_byte: Option<Duration>,
    publisher: Publisher,
    /// `content-length` of the upstream response: the server stops polling once it has sent
    /// that many bytes, so the end is recognised by count rather than by end-of-stream.
    remaining: Option<u64>,
}

impl Relay {
    /// Relays `inner`; publishes through `publisher` when done.
    pub fn new(
        inner: BoxStream<'static, Result<Bytes, reqwest::Error>>,
        content_length: Option<u64>,
        observer: Observer,
        record: CallRecord,
        publisher: Publisher,
    ) -> Self {
        Self {
            inner,
            observer: Some(observer),
            record: Some(record),
            first_byte: None,
            publisher,
            remaining: content_length,
        }
    }

    fn complete(&mut self) {
        let ok = self
            .record
            .as_ref()
            .is_some_and(|r| (200..300).contains(&r.http_status));
        let status = if ok {
            CallStatus::Ok
        } else {
            CallStatus::UpstreamError
        };
        self.finish(status, None);
    }

    fn finish(&mut self, status: CallStatus, error: Option<String>) {
        let (Some(record), Some(observer)) = (self.record.take(), self.observer.take()) else {
            return;
        };
        let observed_bytes = observer.observed_bytes();
        let publisher = self.publisher.clone();
        let first_byte = self.first_byte;
        let build = move || {
            let observed = observer.finish();
            publisher.publish(record.response(status, error, first_byte, observed));
        };
        // Not here: this runs before the last bytes are handed to the client, and the event is
        // no part of the answer. A task of its own runs once this one yields, after the bytes
        // are written; it holds a publisher handle, so shutdown waits for it. Parsing and
        // scanning a large response is CPU work, kept off the async reactor; small ones cost
        // less than the hand-off to a blocking thread.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if observed_bytes > INLINE_LIMIT => drop(handle.spawn_blocking(build)),
            Ok(handle) => drop(handle.spawn(async move { build() })),
            Err(_) => build(),
        }
    }
}

impl Stream for Relay {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                if self.first_byte.is_none() {
                    self.first_byte = self.record.as_ref().map(|r| r.started.elapsed());
                }
                if let Some(o) = self.observer.as_mut() {
                    o.feed(&chunk);
                }
                if let Some(left) = self.remaining.as_mut() {
                    *left = left.saturating_sub(chunk.len() as u64);
                    if *left == 0 {
                        self.complete();
                    }
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                let message = format!("upstream body failed: {e}");
                self.finish(CallStatus::Failed, Some(message.clone()));
                Poll::Ready(Some(Err(std::io::Error::other(message))))
            }
            Poll::Ready(None) => {
                self.complete();
                Poll::Ready(None)
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.finish(
            CallStatus::Failed,
            Some("client disconnected before the response ended".into()),
        );
    }
}
