//! Prometheus metrics of the shim, rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sightline_events::{EventKind, LlmEvent};

const BOUNDS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Counters and histograms; cheap to update from any thread.
#[derive(Debug, Default)]
pub struct Metrics {
    calls: Mutex<BTreeMap<(String, String), u64>>,
    latency_buckets: [AtomicU64; BOUNDS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    /// Calls rejected before identity was known (401).
    pub rejected: AtomicU64,
    /// Calls carrying identity headers from a caller that is not the trusted auth proxy
    /// (ignored, or rejected when `identity.untrusted_headers = "reject"`).
    pub untrusted_identity_headers: AtomicU64,
    /// Bytes waiting in the disk spool (shared with the spool).
    pub spool_bytes: std::sync::Arc<AtomicU64>,
}

impl Metrics {
    /// Records a published event (RESPONSE events complete a call).
    pub fn observe(&self, event: &LlmEvent) {
        if event.kind != EventKind::Response {
            return;
        }
        if let Ok(mut calls) = self.calls.lock() {
            *calls
                .entry((event.provider.as_str().into(), event.status.as_str().into()))
                .or_default() += 1;
        }
        if let (Some(ms), false) = (
            event.latency_ms,
            event.status == sightline_events::CallStatus::Blocked,
        ) {
            let secs = ms as f64 / 1000.0;
            for (i, bound) in BOUNDS.iter().enumerate() {
                if secs <= *bound {
                    self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
                }
            }
            self.latency_count.fetch_add(1, Ordering::Relaxed);
            self.latency_sum_micros
                .fetch_add(u64::try_from(ms).unwrap_or(0) * 1000, Ordering::Relaxed);
        }
    }

    /// The exposition text. `queue_depth` and the publish counters come from the publisher.
    pub fn render(&self, queue_depth: usize, events: &crate::publish::Counters) -> String {
        let delivered = events.delivered.load(Ordering::Relaxed);
        let lost = events.lost.load(Ordering::Relaxed);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP sightline_shim_calls_total Calls completed, by provider and outcome."
        );
        let _ = writeln!(out, "# TYPE sightline_shim_calls_total counter");
        let mut blocked = 0;
        if let Ok(calls) = self.calls.lock() {
            for ((provider, status), n) in calls.iter() {
                let _ = writeln!(
                    out,
                    "sightline_shim_calls_total{{provider=\"{provider}\",status=\"{status}\"}} {n}"
                );
                if status == "BLOCKED" {
                    blocked += n;
                }
            }
        }
        let gauge = |out: &mut String, name: &str, kind: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        gauge(
            &mut out,
            "sightline_shim_blocked_total",
            "counter",
            "Calls blocked by policy.",
            blocked,
        );
        gauge(
            &mut out,
            "sightline_shim_rejected_total",
            "counter",
            "Calls refused before identity was known (401).",
            self.rejected.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "sightline_shim_untrusted_identity_headers_total",
            "counter",
            "Calls carrying identity headers from a caller that is not the trusted auth proxy.",
            self.untrusted_identity_headers.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "sightline_shim_publish_queue_depth",
            "gauge",
            "Events waiting to be published.",
            queue_depth as u64,
        );
        gauge(
            &mut out,
            "sightline_shim_events_delivered_total",
            "counter",
            "Events acknowledged by Kafka.",
            delivered,
        );
        gauge(
            &mut out,
            "sightline_shim_events_lost_total",
            "counter",
            "Events that could not be published.",
            lost,
        );
        gauge(
            &mut out,
            "sightline_shim_events_unencodable_total",
            "counter",
            "Times an event could not be encoded (schema registry down?); it waits in the spool.",
            events.unencodable.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "sightline_shim_spool_bytes",
            "gauge",
            "Bytes waiting in the disk spool.",
            self.spool_bytes.load(Ordering::Relaxed),
        );
        let _ = writeln!(out, "# HELP sightline_shim_upstream_latency_seconds Time from request to the last upstream byte.");
        let _ = writeln!(
            out,
            "# TYPE sightline_shim_upstream_latency_seconds histogram"
        );
        for (i, bound) in BOUNDS.iter().enumerate() {
            let _ = writeln!(
                out,
                "sightline_shim_upstream_latency_seconds_bucket{{le=\"{bound}\"}} {}",
                self.latency_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "sightline_shim_upstream_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "sightline_shim_upstream_latency_seconds_sum {}",
            self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "sightline_shim_upstream_latency_seconds_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_events::{CallStatus, Provider};

    #[test]
    fn counts_and_buckets() {
        let m = Metrics::default();
        let mut e = LlmEvent::request("t", "u", Provider::Anthropic, "POST /v1/messages");
        m.observe(&e);
        e.kind = EventKind::Response;
        e.status = CallStatus::Ok;
        e.latency_ms = Some(40);
        m.observe(&e);
        e.status = CallStatus::Blocked;
        m.observe(&e);
        let events = crate::publish::Counters::default();
        events.delivered.store(10, Ordering::Relaxed);
        events.lost.store(1, Ordering::Relaxed);
        let text = m.render(3, &events);
        assert!(
            text.contains("sightline_shim_calls_total{provider=\"ANTHROPIC\",status=\"OK\"} 1"),
            "{text}"
        );
        assert!(text.contains("sightline_shim_blocked_total 1"));
        assert!(text.contains("sightline_shim_upstream_latency_seconds_bucket{le=\"0.05\"} 1"));
        assert!(text.contains("sightline_shim_upstream_latency_seconds_bucket{le=\"0.025\"} 0"));
        assert!(text.contains("sightline_shim_upstream_latency_seconds_count 1"));
        assert!(text.contains("sightline_shim_publish_queue_depth 3"));
    }
}
