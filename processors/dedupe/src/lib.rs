//! The dedupe processor: `sightline.events.v1` → `sightline.grouped.v1`.
//!
//! N identical requests sent in parallel (resampling) are one logical request: the policy
//! and any judge run once, on the PRIMARY. Every event goes on, none dropped or merged, with
//! `logical_id`, `resample_role` and `resample_index` set; see [`window`] for the rules.
//! Events from producers that did not pass the shim get a content hash computed from their
//! text; every event's text is scanned and redacted here before the grouped topic carries it
//! (the shim's events already are).
//!
//! Delivery guarantee: at-least-once, on the stage runtime. The output is the input event
//! (same `event_id`) plus its grouping, and the grouping is a function of the partition's
//! records in order, so a replay writes identical records. After a restart or rebalance the
//! windows are rebuilt by re-reading each partition from the oldest record its state depends
//! on, so the output equals that of a run that never stopped.

pub mod config;
pub mod direct;
pub mod window;

use std::collections::HashMap;

use prometheus_client::metrics::counter::Counter;
use sightline_detect::KeyRing;
use sightline_events::LlmEvent;
use sightline_kafka::{Producer, Topic, TopicNames};
use sightline_policy::Policy;
use sightline_runtime::Shutdown;
use sightline_stage::{At, AvroInput, Fault, KafkaOutput, Stage, StageMetrics, Stats, Step};

pub use config::DedupeConfig;
use window::{Settings, Windows};

/// How far ahead of when its record was written (the broker's timestamp) an event's time may
/// be; later ones go to the DLQ (one far-future time would otherwise end every open window of
/// its partition).
const MAX_AHEAD_MS: i64 = 24 * 3600 * 1000;

/// Processor name: consumer group `sightline-dedupe`, DLQ `processor`, metrics label.
pub const PROCESSOR: &str = "dedupe";

/// The step: groups each event and emits it with its grouping.
pub struct Dedupe {
    windows: Windows,
    policy: Policy,
    keys: KeyRing,
    evicted: Counter,
    unmatched: Counter,
    reported: (u64, u64),
}

impl Dedupe {
    /// A step with `settings`, scrubbing direct producers' events with `policy` and hashing
    /// with keys derived from `master_key`.
    pub fn new(
        settings: Settings,
        policy: Policy,
        master_key: Vec<u8>,
        metrics: &StageMetrics,
    ) -> Self {
        Self {
            windows: Windows::new(settings),
            policy,
            keys: KeyRing::new(master_key),
            evicted: metrics.counter(
                "dedupe_evicted",
                "Window entries dropped because a partition reached dedupe.max_entries_per_partition",
            ),
            unmatched: metrics.counter(
                "dedupe_unmatched_responses",
                "Responses whose call was no longer remembered (older than dedupe.response_horizon)",
            ),
            reported: (0, 0),
        }
    }
}

impl Step for Dedupe {
    type In = LlmEvent;
    type Out = LlmEvent;
    const STATEFUL: bool = true;

    fn apply(
        &mut self,
        mut event: LlmEvent,
        at: At,
        now_ms: i64,
        out: &mut Vec<LlmEvent>,
    ) -> Result<(), Fault> {
        if event.tenant_id.is_empty() || event.user_id.is_empty() || event.call_id.is_empty() {
            return Err(Fault::BadInput(
                "event has an empty tenant_id, user_id or call_id".into(),
            ));
        }
        if event.occurred_at_ms < 0 || event.occurred_at_ms > now_ms.saturating_add(MAX_AHEAD_MS) {
            return Err(Fault::BadInput(format!(
                "occurred_at_ms {} is before 1970 or more than a day ahead of this processor's clock",
                event.occurred_at_ms
            )));
        }
        let key = self.keys.tenant(&event.tenant_id);
        // Hashed before redaction, so resamples of one prompt match; the shim's hash is kept.
        let hash = event
            .content_hash
            .clone()
            .or_else(|| direct::content_hash(&event, &key));
        // Every event's text is scanned and redacted before anything downstream reads it: the
        // shim's is already, other producers' may not be.
        self.policy.scrub(&mut event, &key);
        event.content_hash = hash.clone();
        let grouping =
            self.windows
                .group((at.topic, at.partition), at.offset, &event, hash.as_deref());
        event.logical_id = Some(grouping.logical_id);
        event.resample_role = grouping.role;
        event.resample_index = grouping.index;
        out.push(event);
        let (evicted, unmatched) = (self.windows.evicted, self.windows.unmatched_responses);
        self.evicted.inc_by(evicted - self.reported.0);
        self.unmatched.inc_by(unmatched - self.reported.1);
        self.reported = (evicted, unmatched);
        Ok(())
    }

    fn revoke(&mut self, lost: &[(usize, i32)]) {
        self.windows.revoke(lost);
    }

    fn retained_from(&self, topic: usize, partition: i32) -> Option<i64> {
        self.windows.retained_from((topic, partition))
    }

    fn state_size(&self) -> usize {
        self.windows.size()
    }
}

/// Runs the processor until `shutdown`.
pub async fn run(config: DedupeConfig, shutdown: Shutdown) -> anyhow::Result<Stats> {
    let codec = config.schema_registry.codec()?;
    let names = TopicNames::from(&config.topics);
    let policy = config.policy.load()?;
    let key = config.policy.master_key().ok_or_else(|| {
        anyhow::anyhow!(
            "{} is not set; set it to the shim's fingerprint key",
            config.policy.fingerprint_key_env
        )
    })?;
    let d = &config.dedupe;
    let settings = Settings {
        window_ms: millis(d.window),
        tenant_windows: d
            .tenant_windows
            .iter()
            .map(|(t, w)| (t.clone(), millis(w.0)))
            .collect::<HashMap<_, _>>(),
        response_horizon_ms: millis(d.response_horizon),
        max_entries_per_partition: d.max_entries_per_partition,
    };
    let metrics = StageMetrics::new(PROCESSOR);
    let step = Dedupe::new(settings, policy, key, &metrics);
    let effect = KafkaOutput::new(
        Producer::new(&config.kafka)?,
        codec.clone(),
        names.name(Topic::Grouped),
        config.stage.max_backoff,
    );
    let stage = Stage {
        processor: PROCESSOR.into(),
        kafka: config.kafka.clone(),
        inputs: vec![names.name(Topic::Events)],
        dlq_topic: names.name(Topic::Dlq),
        codec: codec.clone(),
        section: config.stage.clone(),
        prepare: AvroInput::<LlmEvent>::new(codec),
        step,
        effect,
        metrics,
    };
    Ok(sightline_stage::run(stage, shutdown).await?)
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_events::{Message, Provider};

    fn dedupe() -> Dedupe {
        let settings = Settings {
            window_ms: 5_000,
            tenant_windows: HashMap::new(),
            response_horizon_ms: 60_000,
            max_entries_per_partition: 1_000,
        };
        Dedupe::new(
            settings,
            Policy::builtin_default(),
            b"k".to_vec(),
            &StageMetrics::new("test"),
        )
    }

    fn at(offset: i64) -> At {
        At {
            topic: 0,
            partition: 0,
            offset,
        }
    }

    #[test]
    fn every_event_is_redacted_even_with_a_content_hash_and_far_future_times_are_refused() {
        let now = 1_800_000_000_000;
        let mut step = dedupe();
        let mut e = LlmEvent::request("acme", "dana", Provider::Other, "POST /x");
        e.occurred_at_ms = now;
        e.content_hash = Some("chosen-by-the-producer".into());
        let secret = ["AKIA", "Z7Q3MVW2XN4RP6TL"].concat();
        e.messages.push(Message {
            role: "user".into(),
            text: format!("key {secret}"),
        });
        let mut out = vec![];
        step.apply(e.clone(), at(0), now, &mut out).expect("apply");
        assert!(!out[0].messages[0].text.contains(&secret), "redacted");
        assert_eq!(out[0].findings.len(), 1);
        assert_eq!(
            out[0].content_hash.as_deref(),
            Some("chosen-by-the-producer")
        );
        let mut late = e;
        late.occurred_at_ms = now + 2 * MAX_AHEAD_MS;
        let refused = step.apply(late, at(1), now, &mut out);
        assert!(
            matches!(refused, Err(Fault::BadInput(ref m)) if m.contains("ahead")),
            "{refused:?}"
        );
        assert_eq!(out.len(), 1);
    }
}
