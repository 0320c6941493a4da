//! Reading a grouped event and asking what must be asked outside: the policy's evaluation
//! (CPU, off the reactor) and, for a PRIMARY whose tier asks for it, the judge.

use async_trait::async_trait;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sightline_detect::KeyRing;
use sightline_events::{Codec, EventKind, JudgeStatus, LlmEvent, ResampleRole};
use sightline_stage::{decode, Fault, Prepare};

use crate::decide::{self, fallback};
use crate::judge::Judge;
use crate::reload::PolicyCell;
use crate::step::Prepared;

/// Judge calls by outcome.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `answered`, `failed` or `timed_out`.
    pub outcome: String,
}

/// The classify processor's [`Prepare`].
pub struct ClassifyPrepare {
    /// Decoder.
    pub codec: Codec,
    /// The policy in force.
    pub policy: PolicyCell,
    /// Fingerprint keys.
    pub keys: KeyRing,
    /// The judge client.
    pub judge: Judge,
    /// Judge calls by outcome.
    pub judge_calls: Family<OutcomeLabel, Counter>,
}

#[async_trait]
impl Prepare for ClassifyPrepare {
    type Out = Prepared;

    async fn prepare(
        &self,
        _topic: usize,
        bytes: &[u8],
        rebuilding: bool,
    ) -> Result<Prepared, Fault> {
        let event: LlmEvent = decode(&self.codec, bytes).await?;
        let policy = self.policy.current();
        if event.kind == EventKind::Request && event.resample_role == Some(ResampleRole::Resample) {
            return Ok(Prepared {
                event,
                policy,
                evaluated: None,
            });
        }
        let key = self.keys.tenant(&event.tenant_id);
        let evaluation =
            tokio::task::block_in_place(|| decide::evaluate(&policy, &event, Some(&key)));
        if !evaluation.asks_judge {
            return Ok(Prepared {
                event,
                policy,
                evaluated: Some((evaluation, None)),
            });
        }
        let outcome = if rebuilding {
            // Its verdict was written before the restart; do not ask a second time.
            fallback(
                &policy,
                &evaluation,
                JudgeStatus::NotAskedAgain,
                "judged before a restart",
            )
        } else {
            let outcome = self.judge.ask(&policy, &key, &event, &evaluation).await;
            let label = match outcome.status {
                JudgeStatus::Answered => "answered",
                JudgeStatus::TimedOut => "timed_out",
                _ => "failed",
            };
            self.judge_calls
                .get_or_create(&OutcomeLabel {
                    outcome: label.into(),
                })
                .inc();
            outcome
        };
        let settled = decide::settle(&policy, &event.tenant_id, evaluation, &outcome);
        Ok(Prepared {
            event,
            policy,
            evaluated: Some((settled, Some(outcome))),
        })
    }
}
