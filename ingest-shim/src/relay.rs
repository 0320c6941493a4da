//! Relays an upstream response body chunk by chunk while observing it, and publishes the
//! RESPONSE event when the body ends, fails, or the client goes away.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use sightline_events::{now_ms, CallStatus, EventKind, LlmEvent, Message};

use crate::publish::Publisher;
use crate::sse::Observer;
use crate::upstream::describe;

/// Scans response text with the caller's tenant policy before it is published.
#[derive(Clone)]
pub struct ResponseScanner {
    /// The policy.
    pub policy: std::sync::Arc<sightline_policy::Policy>,
    /// Tenant fingerprint keys.
    pub keys: std::sync::Arc<sightline_detect::KeyRing>,
    /// Prices for the cost of each call.
    pub prices: std::sync::Arc<crate::pricing::PriceTable>,
    /// Responses API response ids and their conversations.
    pub chains: std::sync::Arc<crate::chains::ResponseChains>,
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
    /// The record of a call received at `started`, whose response text `scanner` scans.
    pub fn new(request: LlmEvent, started: Instant, scanner: ResponseScanner) -> Self {
        Self {
            request,
            started,
            http_status: 0,
            scanner: Some(scanner),
        }
    }

    /// How the call ended, as of now: for a RESPONSE event built later.
    pub fn ended(&self, status: CallStatus, error: Option<String>) -> Ending {
        Ending {
            status,
            error,
            at_ms: now_ms(),
            latency: self.started.elapsed(),
        }
    }

    /// The RESPONSE event of a call that failed, as of now, with nothing seen of a response.
    pub fn failed(&self, error: String) -> LlmEvent {
        let ending = self.ended(CallStatus::Failed, Some(error));
        self.response(ending, None, Default::default())
    }

    /// The RESPONSE event for a call that ended as `ending` says, upstream having sent its
    /// first byte after `ttft`, with what the shim saw of the response.
    pub fn response(
        &self,
        ending: Ending,
        ttft: Option<Duration>,
        observed: crate::extract::ResponseInfo,
    ) -> LlmEvent {
        let Ending {
            status,
            error,
            at_ms,
            latency,
        } = ending;
        let mut e = self.request.clone();
        e.event_id = LlmEvent::new_id();
        e.kind = EventKind::Response;
        e.occurred_at_ms = at_ms;
        e.model = observed.model.or(e.model);
        // One assistant message per choice, each scanned and redacted on its own (a finding's
        // span is an offset into its choice's text).
        let mut findings = vec![];
        let key = self.scanner.as_ref().map(|s| s.keys.tenant(&e.tenant_id));
        e.messages = observed
            .texts
            .into_iter()
            .enumerate()
            .filter(|(_, text)| !text.is_empty())
            .map(|(choice, text)| {
                let text = match (&self.scanner, &key) {
                    (Some(scanner), Some(key)) => {
                        let (published, found) =
                            scanner.policy.scan_and_redact(text, &e.tenant_id, key);
                        findings.extend(found.iter().map(|f| {
                            let (tier, _) = scanner.policy.tier_of(f, &e.tenant_id);
                            sightline_policy::finding_record(
                                f,
                                Some(format!("response/{choice}")),
                                Some(tier),
                            )
                        }));
                        published
                    }
                    _ => text,
                };
                Message {
                    role: "assistant".into(),
                    text,
                }
            })
            .collect();
        e.attachments = vec![];
        e.cost_usd_micros = match (&self.scanner, &observed.usage, &e.model) {
            (Some(s), Some(usage), Some(model)) => {
                crate::pricing::cost_micros(&s.prices, e.provider, model, usage)
            }
            _ => None,
        };
        e.usage = observed.usage;
        e.latency_ms = Some(millis(latency));
        e.ttft_ms = ttft.map(millis);
        e.status = status;
        e.http_status = Some(i32::from(self.http_status));
        e.error = error;
        e.findings = findings;
        e.stop_reason = observed.stop_reason;
        e.response_bytes = Some(observed.bytes);
        e
    }
}

/// How and when a call ended.
#[derive(Debug)]
pub struct Ending {
    status: CallStatus,
    error: Option<String>,
    at_ms: i64,
    latency: Duration,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The relayed body: upstream's frames, passed on as they arrive.
pub struct Relay {
    inner: Incoming,
    observer: Option<Observer>,
    record: Option<CallRecord>,
    first_byte: Option<Duration>,
    publisher: Publisher,
}

impl Relay {
    /// Relays `inner`; publishes through `publisher` when done.
    pub fn new(
        inner: Incoming,
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

    /// Remembers the response's id with its conversation as soon as it is seen, before the
    /// client has the answer, so that a call continuing from it at once joins it.
    fn chain(&mut self) {
        let (Some(record), Some(observer)) = (&self.record, &mut self.observer) else {
            return;
        };
        let (Some(scanner), Some(conversation)) =
            (&record.scanner, &record.request.conversation_id)
        else {
            return;
        };
        if let Some(id) = observer.new_response_id() {
            scanner
                .chains
                .remember(&record.request.tenant_id, &id, conversation);
        }
    }

    fn finish(&mut self, status: CallStatus, error: Option<String>) {
        self.chain();
        let (Some(record), Some(observer)) = (self.record.take(), self.observer.take()) else {
            return;
        };
        let ending = record.ended(status, error);
        let first_byte = self.first_byte;
        // The recording thread builds the event: this runs before the last bytes are handed to
        // the client, and parsing and scanning the response is no part of the answer.
        self.publisher
            .record(move || record.response(ending, first_byte, observer.finish()));
    }
}

impl Body for Relay {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(chunk) = frame.data_ref() {
                    if this.first_byte.is_none() {
                        this.first_byte = this.record.as_ref().map(|r| r.started.elapsed());
                    }
                    if let Some(o) = this.observer.as_mut() {
                        o.feed(chunk);
                    }
                    this.chain();
                }
                // The server stops polling once the body says it has ended (a length-delimited
                // body, say), so the end is recognised here rather than by a last poll.
                if this.inner.is_end_stream() {
                    this.complete();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish(
                    CallStatus::Failed,
                    Some(format!("upstream body failed: {}", describe(&e))),
                );
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.complete();
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
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

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_events::Provider;

    #[test]
    fn each_choice_is_its_own_message_and_is_redacted_on_its_own() {
        let scanner = ResponseScanner {
            policy: std::sync::Arc::new(sightline_policy::Policy::builtin_default()),
            keys: std::sync::Arc::new(sightline_detect::KeyRing::new(b"k".to_vec())),
            prices: std::sync::Arc::default(),
            chains: std::sync::Arc::default(),
        };
        let request = LlmEvent::request("t", "u", Provider::Openai, "POST /v1/chat/completions");
        let record = CallRecord::new(request, Instant::now(), scanner);
        let secret = "AKIAZ7QWERTYUIOP5XYZ";
        let observed = crate::extract::ResponseInfo {
            texts: vec![
                "plain answer".into(),
                String::new(),
                format!("use {secret}"),
            ],
            ..Default::default()
        };
        let e = record.response(record.ended(CallStatus::Ok, None), None, observed);
        let texts: Vec<&str> = e.messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts.len(), 2, "one message per non-empty choice");
        assert_eq!(texts[0], "plain answer");
        assert!(
            !texts[1].contains(secret),
            "the key reached the published text"
        );
        assert_eq!(e.findings.len(), 1, "{:?}", e.findings);
        // The span is an offset into the choice's own text.
        assert_eq!(e.findings[0].start, 4);
    }
}
