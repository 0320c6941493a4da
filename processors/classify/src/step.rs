//! The step: one verdict per event; a RESAMPLE gets its primary's. Pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use sightline_events::{
    Decision, EventKind, JudgeOutcome, JudgeStatus, LlmEvent, ResampleRole, Verdict,
};
use sightline_policy::Policy;
use sightline_stage::{At, Fault, Step};

use crate::decide::{self, Evaluation};

/// A prepared input: the event, the policy in force when it was read, and, unless it is a
/// RESAMPLE, its evaluation (with the judge's outcome when the policy asked for one).
#[derive(Debug)]
pub struct Prepared {
    /// The grouped event.
    pub event: LlmEvent,
    /// The policy it is classified under.
    pub policy: Arc<Policy>,
    /// Its evaluation; `None` for a RESAMPLE, which inherits its primary's.
    pub evaluated: Option<(Evaluation, Option<JudgeOutcome>)>,
}

#[derive(Debug, Clone)]
struct Primary {
    event_id: String,
    offset: i64,
    expires: i64,
    evaluation: Evaluation,
    judge: Option<JudgeOutcome>,
    policy_version: String,
}

#[derive(Debug, Default)]
struct Partition {
    /// The latest event time seen and the offset that carried it.
    watermark: Option<(i64, i64)>,
    primaries: HashMap<String, Primary>,
    /// (expiry, offset) → logical id.
    order: BTreeMap<(i64, i64), String>,
    /// Offsets of the primaries held.
    offsets: BTreeSet<i64>,
}

impl Partition {
    fn drop_entry(&mut self, key: (i64, i64)) {
        if let Some(logical) = self.order.remove(&key) {
            if self
                .primaries
                .get(&logical)
                .is_some_and(|p| p.offset == key.1)
            {
                self.primaries.remove(&logical);
                self.offsets.remove(&key.1);
            }
        }
    }
}

/// Keeps each primary's verdict for its resamples, per partition, for `horizon_ms` of event
/// time and at most `cap` per partition.
pub struct Classify {
    horizon_ms: i64,
    cap: usize,
    partitions: HashMap<(usize, i32), Partition>,
    missing_primary: Counter,
    evicted: Counter,
}

impl Classify {
    /// A step keeping primaries for `horizon_ms`, at most `cap` per partition.
    pub fn new(horizon_ms: i64, cap: usize, missing_primary: Counter, evicted: Counter) -> Self {
        Self {
            horizon_ms,
            cap,
            partitions: HashMap::new(),
            missing_primary,
            evicted,
        }
    }
}

impl Step for Classify {
    type In = Prepared;
    type Out = Verdict;
    const STATEFUL: bool = true;

    fn apply(
        &mut self,
        input: Prepared,
        at: At,
        _now_ms: i64,
        out: &mut Vec<Verdict>,
    ) -> Result<(), Fault> {
        let Prepared {
            event,
            policy,
            evaluated,
        } = input;
        let part = self.partitions.entry((at.topic, at.partition)).or_default();
        let t = event.occurred_at_ms;
        if part.watermark.is_none_or(|(w, _)| t > w) {
            part.watermark = Some((t, at.offset));
        }
        let watermark = part.watermark.map_or(t, |w| w.0);
        while let Some((&key, _)) = part.order.first_key_value() {
            if key.0 > watermark {
                break;
            }
            part.drop_entry(key);
        }
        let version = policy.version();
        let resample =
            event.kind == EventKind::Request && event.resample_role == Some(ResampleRole::Resample);
        let verdict = match evaluated {
            Some((evaluation, judge)) => {
                if event.kind == EventKind::Request {
                    if let Some(logical) = &event.logical_id {
                        if let Some(old) =
                            part.primaries.get(logical).map(|p| (p.expires, p.offset))
                        {
                            part.drop_entry(old);
                        }
                        let key = (t.saturating_add(self.horizon_ms), at.offset);
                        part.offsets.insert(at.offset);
                        part.order.insert(key, logical.clone());
                        part.primaries.insert(
                            logical.clone(),
                            Primary {
                                event_id: event.event_id.clone(),
                                offset: at.offset,
                                expires: key.0,
                                evaluation: evaluation.clone(),
                                judge: judge.clone(),
                                policy_version: version.to_string(),
                            },
                        );
                        while part.primaries.len() > self.cap {
                            let Some((&oldest, _)) = part.order.first_key_value() else {
                                break;
                            };
                            part.drop_entry(oldest);
                            self.evicted.inc();
                        }
                    }
                }
                decide::verdict(
                    &event,
                    &evaluation,
                    judge,
                    Decision::Evaluated,
                    None,
                    version,
                )
            }
            None if resample => {
                let primary = event
                    .logical_id
                    .as_ref()
                    .and_then(|l| part.primaries.get(l))
                    // A resample is the primary's text: anything found in it must have been
                    // found in the primary too. If not (a producer-chosen content hash), it is
                    // decided on its own findings.
                    .filter(|p| {
                        event.findings.iter().all(|f| {
                            p.evaluation
                                .findings
                                .iter()
                                .any(|g| g.fingerprint == f.fingerprint)
                        })
                    });
                match primary {
                    Some(p) => decide::verdict(
                        &event,
                        &p.evaluation,
                        p.judge.clone(),
                        Decision::Inherited,
                        Some(p.event_id.clone()),
                        &p.policy_version,
                    ),
                    None => {
                        // The primary is gone (older than the horizon, or evicted), or differs:
                        // decide from the findings the event carries, without the detectors or
                        // the judge.
                        self.missing_primary.inc();
                        let evaluation = decide::evaluate(&policy, &event, None);
                        let judge = evaluation.asks_judge.then(|| {
                            decide::fallback(
                                &policy,
                                &evaluation,
                                JudgeStatus::NotAskedAgain,
                                "primary no longer held, or its findings differ",
                            )
                        });
                        let evaluation = match &judge {
                            Some(j) => decide::settle(&policy, &event.tenant_id, evaluation, j),
                            None => evaluation,
                        };
                        decide::verdict(
                            &event,
                            &evaluation,
                            judge,
                            Decision::Evaluated,
                            None,
                            version,
                        )
                    }
                }
            }
            None => {
                return Err(Fault::Fatal(
                    "an event other than a RESAMPLE was not evaluated".into(),
                ))
            }
        };
        out.push(verdict);
        Ok(())
    }

    fn revoke(&mut self, lost: &[(usize, i32)]) {
        for p in lost {
            self.partitions.remove(p);
        }
    }

    fn retained_from(&self, topic: usize, partition: i32) -> Option<i64> {
        let p = self.partitions.get(&(topic, partition))?;
        let oldest = p.offsets.first().copied();
        let holder = p.watermark.map(|w| w.1);
        match (oldest, holder) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn state_size(&self) -> usize {
        self.partitions.values().map(|p| p.primaries.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_detect::FingerprintKey;
    use sightline_events::{Message, Provider};

    fn request(n: usize, role: ResampleRole, logical: &str) -> LlmEvent {
        let mut e = LlmEvent::request("acme", "dana", Provider::Anthropic, "POST /v1/messages");
        e.event_id = format!("e{n}");
        e.call_id = format!("c{n}");
        e.occurred_at_ms = 1_000 + n as i64;
        e.logical_id = Some(logical.into());
        e.resample_role = Some(role);
        e.messages.push(Message {
            role: "user".into(),
            text: ["key ", "AKIA", "Z7Q3MVW2XN4RP6TL"].concat(),
        });
        e
    }

    /// What the prepare step hands over: evaluated unless a RESAMPLE.
    fn prepared(policy: &Arc<Policy>, event: LlmEvent) -> Prepared {
        let evaluated = (event.resample_role != Some(ResampleRole::Resample)).then(|| {
            let key = FingerprintKey::new(b"k");
            (decide::evaluate(policy, &event, Some(&key)), None)
        });
        Prepared {
            event,
            policy: policy.clone(),
            evaluated,
        }
    }

    fn step() -> Classify {
        Classify::new(60_000, 1_000, Counter::default(), Counter::default())
    }

    fn at(offset: i64) -> At {
        At {
            topic: 0,
            partition: 0,
            offset,
        }
    }

    #[test]
    fn resamples_inherit_the_primary_and_a_missing_primary_is_decided_from_the_event() {
        let policy = Arc::new(Policy::builtin_default());
        let mut s = step();
        let mut out = vec![];
        s.apply(
            prepared(&policy, request(0, ResampleRole::Primary, "c0")),
            at(0),
            0,
            &mut out,
        )
        .expect("primary");
        s.apply(
            prepared(&policy, request(1, ResampleRole::Resample, "c0")),
            at(1),
            0,
            &mut out,
        )
        .expect("resample");
        assert_eq!(
            (out[0].decision, out[1].decision),
            (Decision::Evaluated, Decision::Inherited)
        );
        assert_eq!(out[1].inherited_from.as_deref(), Some("e0"));
        assert_eq!(
            (out[1].tier, &out[1].findings),
            (out[0].tier, &out[0].findings)
        );
        assert_eq!(out[0].tier, sightline_events::VerdictTier::Critical);
        // Unknown primary: the resample's own (shim) findings decide; here it carries none.
        let missing = s.missing_primary.clone();
        s.apply(
            prepared(&policy, request(2, ResampleRole::Resample, "gone")),
            at(2),
            0,
            &mut out,
        )
        .expect("orphan");
        assert_eq!((out[2].decision, missing.get()), (Decision::Evaluated, 1));
        assert_eq!(s.retained_from(0, 0), Some(0));
        s.revoke(&[(0, 0)]);
        assert_eq!((s.state_size(), s.retained_from(0, 0)), (0, None));
    }

    #[test]
    fn a_resample_with_a_finding_its_primary_lacks_is_decided_on_its_own() {
        let policy = Arc::new(Policy::builtin_default());
        let mut s = step();
        let mut out = vec![];
        let mut clean = request(0, ResampleRole::Primary, "c0");
        clean.messages[0].text = "nothing to see".into();
        s.apply(prepared(&policy, clean), at(0), 0, &mut out)
            .expect("primary");
        // Its producer chose the primary's content hash, but dedupe found a key in it.
        let mut sneaky = request(1, ResampleRole::Resample, "c0");
        sneaky.findings.push(sightline_events::InlineFinding {
            rule_id: "aws-access-key-id".into(),
            category: "secret".into(),
            start: 4,
            end: 24,
            confidence: 0.9,
            fingerprint: "f1".into(),
            location: Some("/messages/0".into()),
            example: false,
            tier: Some("CRITICAL".into()),
        });
        s.apply(prepared(&policy, sneaky), at(1), 0, &mut out)
            .expect("resample");
        assert_eq!(out[0].tier, sightline_events::VerdictTier::None);
        assert_eq!(
            (out[1].decision, out[1].tier),
            (Decision::Evaluated, sightline_events::VerdictTier::Critical)
        );
    }

    #[test]
    fn primaries_expire_with_event_time_and_the_cap_holds() {
        let policy = Arc::new(Policy::builtin_default());
        let mut s = Classify::new(10, 3, Counter::default(), Counter::default());
        let mut out = vec![];
        for n in 0..10 {
            let mut e = request(n, ResampleRole::Primary, &format!("c{n}"));
            e.occurred_at_ms = n as i64;
            s.apply(prepared(&policy, e), at(n as i64), 0, &mut out)
                .expect("apply");
        }
        assert_eq!(s.state_size(), 3, "capped");
        assert_eq!(s.evicted.get(), 7);
        let mut late = request(99, ResampleRole::Primary, "c99");
        late.occurred_at_ms = 1_000;
        s.apply(prepared(&policy, late), at(10), 0, &mut out)
            .expect("apply");
        assert_eq!(s.state_size(), 1, "older primaries expired");
    }
}
