//! The effect: sends each message to its destination with retries, then records every
//! outcome on the notifications topic and waits for the broker; only then are the inputs'
//! offsets stored. A crash before the outcome is recorded re-sends the messages in flight
//! (PagerDuty deduplicates them by `dedup_key`; webhook receivers by group and range).
//!
//! Retries back off exponentially with jitter, honour `Retry-After` on 429 and 503 (up to the
//! destination's `max_backoff`), and stop at once on any other 4xx but 408. A message that runs out of attempts is recorded
//! DEAD_LETTERED and its payload goes to the DLQ. Destinations are sent to concurrently,
//! each in order.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde_json::Value;
use sha2::Sha256;
use sightline_events::{now_ms, Notification, NotificationOutcome};
use sightline_kafka::DeadLetters;
use sightline_runtime::{retry, retry_with, Retry, RetryPolicy, Shutdown};
use sightline_stage::{Durable, Effect, Fault, KafkaOutput, StageMetrics};

use crate::config::{AlertConfig, Kind};
use crate::groups::{Delivery, Out};

/// How much of a destination's error answer is kept (it is recorded and logged).
const MAX_REASON: usize = 200;

/// The webhook's signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub const SIGNATURE_HEADER: &str = "Sightline-Signature";
/// The webhook's delivery id header: the same on every attempt of a message.
pub const DELIVERY_HEADER: &str = "Sightline-Delivery";

/// One destination's address and delivery settings.
struct Target {
    name: String,
    kind: Kind,
    url: String,
    routing_key: String,
    secret: Vec<u8>,
    policy: RetryPolicy,
    timeout: Duration,
    /// What an error answer must not repeat: see [`secrets_of`].
    redact: Vec<String>,
}

/// The strings of a destination an answer might echo: its URL, the URL's path and query and
/// every part of them long enough to be a token, the routing key and the signing secret, each
/// also as JSON escapes them.
fn secrets_of(url: &str, routing_key: &str, secret: &str) -> Vec<String> {
    let mut out = vec![url.to_string(), routing_key.to_string(), secret.to_string()];
    if let Ok(u) = reqwest::Url::parse(url) {
        out.push(u.path().to_string());
        out.extend(u.query().map(str::to_string));
        out.extend(u.path().split('/').map(str::to_string));
        out.extend(u.query_pairs().map(|(_, v)| v.to_string()));
        if !u.username().is_empty() {
            out.push(u.username().to_string());
        }
        out.extend(u.password().map(str::to_string));
    }
    let escaped: Vec<String> = out.iter().map(|s| s.replace('/', "\\/")).collect();
    out.extend(escaped);
    out.retain(|s| s.len() >= 8);
    // Longest first, so a whole URL goes before its parts.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// How one attempt failed. Never holds a URL, key or payload.
#[derive(Debug, Clone)]
pub struct SendError {
    /// The HTTP status, if the destination answered.
    pub status: Option<u16>,
    /// What went wrong.
    pub message: String,
    /// The wait the destination asked for.
    pub retry_after: Option<Duration>,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "HTTP {s}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Whether and when a failed attempt is tried again: network errors, timeouts, 408 and 5xx
/// back off; 429 and 503 wait as long as they ask; any other answer is final.
pub fn classify(e: &SendError) -> Retry {
    match e.status {
        None | Some(408) => Retry::Backoff,
        Some(429 | 503) => e.retry_after.map_or(Retry::Backoff, Retry::After),
        Some(s) if s >= 500 => Retry::Backoff,
        Some(_) => Retry::Stop,
    }
}

/// Parses `Retry-After`: seconds or an HTTP date.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    Some(match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .unwrap_or_default(),
    })
}

/// The start of a destination's error answer, fit to record: without control characters,
/// and without anything of the destination's URL, routing key or secret should the answer echo
/// it (redacted before it is cut, and a cut-off start of one is dropped too).
fn reason(t: &Target, body: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(body).to_string();
    for secret in &t.redact {
        text = text.replace(secret.as_str(), "[redacted]");
    }
    let mut kept: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_REASON)
        .collect();
    // The answer may stop inside a secret: drop a tail that begins one.
    if let Some(cut) = (1..kept.len())
        .filter(|i| kept.is_char_boundary(*i))
        .find(|i| {
            let tail = &kept[*i..];
            tail.len() >= 4 && t.redact.iter().any(|s| s.starts_with(tail))
        })
    {
        kept.truncate(cut);
    }
    kept
}

/// The webhook signature of `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    destination: String,
    outcome: String,
}

/// Sends deliveries and records outcomes.
pub struct Deliveries {
    client: reqwest::Client,
    targets: Vec<Target>,
    records: KafkaOutput<Notification>,
    dlq: DeadLetters,
    notifications_topic: String,
    max_backoff: Duration,
    outcomes: Family<OutcomeLabel, Counter>,
}

impl Deliveries {
    /// Sends to `config`'s destinations (in name order, as the engine indexes them), records
    /// outcomes with `records`, and dead-letters with `dlq`.
    pub fn new(
        config: &AlertConfig,
        records: KafkaOutput<Notification>,
        dlq: DeadLetters,
        notifications_topic: String,
        metrics: &StageMetrics,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Sightline/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let targets = config
            .destinations
            .iter()
            .map(|(name, d)| Target {
                name: name.clone(),
                kind: d.kind,
                url: d.url.0.clone(),
                routing_key: d.routing_key.0.clone(),
                secret: d.secret.0.clone().into_bytes(),
                policy: RetryPolicy {
                    attempts: Some(d.attempts),
                    first: Duration::from_millis(500),
                    most: d.max_backoff,
                    jitter: true,
                },
                timeout: d.timeout,
                redact: secrets_of(&d.url.0, &d.routing_key.0, &d.secret.0),
            })
            .collect();
        let outcomes = Family::<OutcomeLabel, Counter>::default();
        metrics.register(
            "alert_outcomes",
            "Notification outcomes by destination (SENT, GROUPED, DEFERRED, FAILED, DEAD_LETTERED)",
            outcomes.clone(),
        );
        Ok(Self {
            client,
            targets,
            records,
            dlq,
            notifications_topic,
            max_backoff: config.stage.max_backoff,
            outcomes,
        })
    }

    /// One attempt at one request.
    async fn send(
        &self,
        t: &Target,
        delivery_id: &str,
        request: &Value,
        timeout: Duration,
    ) -> Result<u16, SendError> {
        let mut body = request.clone();
        if t.kind == Kind::Pagerduty {
            body["routing_key"] = Value::String(t.routing_key.clone());
        }
        let body = serde_json::to_vec(&body).map_err(|e| SendError {
            status: None,
            message: format!("cannot encode the message: {e}"),
            retry_after: None,
        })?;
        let mut req = self
            .client
            .post(&t.url)
            .timeout(timeout.max(Duration::from_millis(100)))
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if t.kind == Kind::Webhook {
            let ts = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            req = req
                .header(SIGNATURE_HEADER, sign(&t.secret, ts, &body))
                .header(DELIVERY_HEADER, delivery_id);
        }
        let resp = req.body(body).send().await.map_err(|e| SendError {
            status: None,
            // Without the URL: Slack's carries its token.
            message: e.without_url().to_string(),
            retry_after: None,
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(status.as_u16());
        }
        let wait = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, SystemTime::now()))
            .map(|d| d.min(t.policy.most));
        // A few KiB are enough for a reason; the rest is not read.
        let mut resp = resp;
        let mut head = Vec::new();
        while head.len() < 16 * MAX_REASON {
            match resp.chunk().await {
                Ok(Some(chunk)) => head.extend_from_slice(&chunk),
                _ => break,
            }
        }
        let reason = reason(t, &head);
        Err(SendError {
            status: Some(status.as_u16()),
            message: if reason.is_empty() {
                status.canonical_reason().unwrap_or("error").to_string()
            } else {
                reason
            },
            retry_after: wait,
        })
    }

    /// Sends one delivery's requests in order; returns its outcome records, or a transient
    /// fault when shutdown cut its retries short (it is re-sent after the restart).
    async fn deliver(
        &self,
        d: &Delivery,
        deadline: Instant,
        shutdown: &Shutdown,
    ) -> Result<Vec<Notification>, Fault> {
        let t = &self.targets[d.dest];
        // Past the write's deadline, nothing is retried: the rest is dead-lettered, so the
        // stage goes on polling.
        let classify_by = |e: &SendError| {
            if Instant::now() >= deadline {
                Retry::Stop
            } else {
                classify(e)
            }
        };
        let failures: Mutex<Vec<(i32, SendError)>> = Mutex::new(vec![]);
        let attempts = std::sync::atomic::AtomicI32::new(0);
        let mut result: Result<u16, SendError> = Ok(0);
        for request in &d.requests {
            result = retry_with(
                "sending a notification",
                shutdown,
                t.policy,
                classify_by,
                || async {
                    let n = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    let timeout = t
                        .timeout
                        .min(deadline.saturating_duration_since(Instant::now()));
                    let r = self.send(t, &d.id, request, timeout).await;
                    if let Err(e) = &r {
                        if let Ok(mut f) = failures.lock() {
                            f.push((n, e.clone()));
                        }
                    }
                    r
                },
            )
            .await;
            match &result {
                Ok(_) => {}
                Err(e) if shutdown.is_triggered() && classify(e) != Retry::Stop => {
                    return Err(Fault::Transient(format!(
                        "{} did not answer before shutdown: {e}",
                        t.name
                    )));
                }
                Err(_) => break,
            }
        }
        let attempts = attempts.load(std::sync::atomic::Ordering::SeqCst);
        let failures = failures.into_inner().unwrap_or_default();
        let mut records = vec![];
        for (attempt, e) in &failures {
            for c in &d.covers {
                records.push(d.outcome(
                    c,
                    NotificationOutcome::Failed,
                    *attempt,
                    e.status,
                    Some(e.to_string()),
                    now_ms(),
                ));
            }
        }
        let (outcome, status, error) = match &result {
            Ok(status) => (NotificationOutcome::Sent, Some(*status), None),
            Err(e) => (
                NotificationOutcome::DeadLettered,
                e.status,
                Some(e.to_string()),
            ),
        };
        for c in &d.covers {
            records.push(d.outcome(c, outcome, attempts, status, error.clone(), now_ms()));
        }
        self.count(&t.name, NotificationOutcome::Failed, failures.len() as u64);
        self.count(&t.name, outcome, 1);
        if let Err(e) = &result {
            tracing::error!(destination = %t.name, delivery = %d.id, attempts, error = %e, "notification dead-lettered");
            self.dead_letter(d, e, shutdown).await?;
        }
        Ok(records)
    }

    /// The DLQ keeps the message as it would have been sent, without the routing key.
    async fn dead_letter(
        &self,
        d: &Delivery,
        e: &SendError,
        shutdown: &Shutdown,
    ) -> Result<(), Fault> {
        let payload = serde_json::to_vec(&d.requests).unwrap_or_default();
        let partition = d.covers.first().map_or(0, |c| c.partition);
        let reason = format!(
            "{} ({}) refused the notification: {e}",
            d.destination,
            d.kind.avro().as_str()
        );
        retry(
            "sending a notification to the DLQ",
            shutdown,
            self.max_backoff,
            |e: &sightline_kafka::Error| e.is_retryable(),
            || {
                self.dlq.send_parts(
                    &self.notifications_topic,
                    partition,
                    -1,
                    Some(d.id.as_bytes()),
                    Some(&payload),
                    &reason,
                )
            },
        )
        .await
        .map_err(|e| Fault::Transient(format!("cannot dead-letter a notification: {e}")))
    }

    fn count(&self, destination: &str, outcome: NotificationOutcome, n: u64) {
        if n > 0 {
            self.outcomes
                .get_or_create(&OutcomeLabel {
                    destination: destination.to_string(),
                    outcome: outcome.as_str().to_string(),
                })
                .inc_by(n);
        }
    }
}

#[async_trait]
impl Effect for Deliveries {
    type Item = Out;

    async fn write(&mut self, items: Vec<Out>, shutdown: &Shutdown) -> Result<Durable, Fault> {
        let mut records = vec![];
        let mut by_dest: std::collections::BTreeMap<usize, Vec<Delivery>> = Default::default();
        for item in items {
            match item {
                Out::Record(n) => {
                    self.count(&n.destination, n.outcome, 1);
                    records.push(*n);
                }
                Out::Deliver(d) => by_dest.entry(d.dest).or_default().push(*d),
            }
        }
        if records.is_empty() && by_dest.is_empty() {
            return Ok(Durable::Now);
        }
        // Messages first (on-call waits for them), concurrently per destination, alongside the
        // GROUPED and DEFERRED records.
        let mut grouped = self.records.clone();
        let this = &*self;
        let deadline = Instant::now() + crate::config::MAX_DELIVERY_TIME;
        let sends = by_dest.into_values().map(|list| async move {
            let mut out = vec![];
            for d in &list {
                match this.deliver(d, deadline, shutdown).await {
                    Ok(records) => out.extend(records),
                    Err(fault) => return (out, Some(fault)),
                }
            }
            (out, None)
        });
        let (written, delivered) = futures::join!(
            grouped.write(records, shutdown),
            futures::future::join_all(sends)
        );
        // Outcomes known are recorded even when shutdown cut something else short, so what
        // was delivered is not sent again.
        let mut outcomes = vec![];
        let mut interrupted = written.err();
        for (known, fault) in delivered {
            outcomes.extend(known);
            interrupted = interrupted.or(fault);
        }
        let durable = self.records.write(outcomes, shutdown).await?;
        match interrupted {
            Some(fault) => Err(fault),
            None => Ok(durable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_retryable_answers_are_retried() {
        let e = |status: Option<u16>, after: Option<u64>| SendError {
            status,
            message: String::new(),
            retry_after: after.map(Duration::from_secs),
        };
        assert_eq!(classify(&e(None, None)), Retry::Backoff);
        assert_eq!(classify(&e(Some(408), None)), Retry::Backoff);
        assert_eq!(classify(&e(Some(500), None)), Retry::Backoff);
        assert_eq!(
            classify(&e(Some(429), Some(3))),
            Retry::After(Duration::from_secs(3))
        );
        assert_eq!(
            classify(&e(Some(503), Some(9))),
            Retry::After(Duration::from_secs(9))
        );
        assert_eq!(classify(&e(Some(429), None)), Retry::Backoff);
        for s in [400, 401, 403, 404, 410, 413] {
            assert_eq!(classify(&e(Some(s), Some(1))), Retry::Stop, "{s}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000);
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn an_answer_that_echoes_the_destination_never_reaches_a_record() {
        let url = "https://hooks.slack.test/services/T0/B0/token-123456";
        let t = Target {
            name: "slack".into(),
            kind: Kind::Slack,
            url: url.into(),
            routing_key: String::new(),
            secret: b"signing-secret".to_vec(),
            policy: RetryPolicy {
                attempts: Some(1),
                first: Duration::from_millis(1),
                most: Duration::from_millis(1),
                jitter: false,
            },
            timeout: Duration::from_secs(1),
            redact: secrets_of(url, "", "signing-secret"),
        };
        let echoed = format!(
            "bad request to {url} signed signing-secret\n{}",
            "x".repeat(500)
        );
        let r = reason(&t, echoed.as_bytes());
        assert!(
            !r.contains("token-12") && !r.contains("signing-secret"),
            "{r}"
        );
        assert!(
            r.starts_with("bad request to [redacted] signed [redacted]"),
            "{r}"
        );
        assert_eq!(r.chars().count(), MAX_REASON);
        // Only the path, JSON-escaped, or cut off at the end: still nothing of the token.
        for echo in [
            "no route for /services/T0/B0/token-123456".to_string(),
            r#"{"url":"https:\/\/hooks.slack.test\/services\/T0\/B0\/token-123456"}"#.to_string(),
            format!("{}token-12", "y".repeat(MAX_REASON - 8)),
        ] {
            let r = reason(&t, echo.as_bytes());
            assert!(!r.contains("token-12"), "{echo} -> {r}");
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_the_timestamp_and_body() {
        // RFC 4231 does not cover this layout; the value was computed independently with
        // Python's hmac module: hmac.new(b"k" * 32, b"1700000000.{}", "sha256").hexdigest().
        let sig = sign(&[b'k'; 32], 1_700_000_000, b"{}");
        assert_eq!(
            sig,
            "t=1700000000,v1=0b3b35525c10b3757ffa78df69037021fc3168d8390a51a4fcb4a8d56a25b557"
        );
    }
}
