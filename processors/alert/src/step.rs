//! The step: turns verdicts and incident events into alerts for the grouping engine, routed
//! as the policy says, and rebuilds the engine from the notifications topic. Pure.
//!
//! A verdict goes to the destinations its tier's actions name (`alert:<name>`: the policy
//! classify applied, for the verdict's tenant); an incident event to those the policy's
//! `[severities.<SEVERITY>]` names for its tenant.
//!
//! Inputs, by index (co-partitioned: a partition number holds a key on every topic):
//! - [`NOTIFICATIONS`]: the processor's own outcomes read back, rebuilt to the end of the
//!   partition after a restart ([`Step::rebuilds_to_end`]): the groups, what each message
//!   covered, when each group last went out, and how far each input was taken.
//! - [`VERDICTS`], [`INCIDENTS`]: alerts. An input a GROUPED record already took for a
//!   destination (its offset was not stored before a crash) is not grouped there twice.

use std::collections::HashSet;

use prometheus_client::metrics::counter::Counter;
use sightline_events::{IncidentEvent, Notification, Verdict};
use sightline_policy::Policy;
use sightline_stage::{At, Fault, Step};

use crate::alert::Alert;
use crate::groups::{Engine, Out};

/// Input index of `sightline.notifications.v1` (read back).
pub const NOTIFICATIONS: usize = 0;
/// Input index of `sightline.verdicts.v1`.
pub const VERDICTS: usize = 1;
/// Input index of `sightline.incidents.v1`.
pub const INCIDENTS: usize = 2;

/// A decoded input.
#[derive(Debug, Clone)]
pub enum Input {
    /// An outcome read back, and whether it is re-read to rebuild state.
    Notification(Box<Notification>, bool),
    /// A verdict.
    Verdict(Box<Verdict>),
    /// An incident event.
    Incident(Box<IncidentEvent>),
}

/// The alert step.
pub struct Alerts {
    topics: Vec<String>,
    engine: Engine,
    policy: Policy,
    /// Alerts to a destination this processor does not configure (a verdict classified under
    /// another policy).
    unrouted: Counter,
    /// Such destinations, warned about once.
    warned: HashSet<String>,
}

impl Alerts {
    /// A step over input `topics` (in the index order above), routing incidents with
    /// `policy`; `unrouted` counts alerts to destinations not configured.
    pub fn new(topics: Vec<String>, engine: Engine, policy: Policy, unrouted: Counter) -> Self {
        Self {
            topics,
            engine,
            policy,
            unrouted,
            warned: HashSet::new(),
        }
    }

    fn destinations(&mut self, names: Vec<String>) -> Vec<usize> {
        let mut to = vec![];
        for name in names {
            match self.engine.destination(&name) {
                Some(d) => to.push(d),
                None => {
                    self.unrouted.inc();
                    if self.warned.insert(name.clone()) {
                        tracing::warn!(destination = %name, "alerts name a destination that is not configured; they are not sent there (counted in sightline_stage_alert_unrouted_total)");
                    }
                }
            }
        }
        to
    }

    /// The engine, for tests.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Step for Alerts {
    type In = Input;
    type Out = Out;
    const STATEFUL: bool = true;
    const SHARES_PARTITIONS: bool = true;

    fn apply(
        &mut self,
        input: Input,
        at: At,
        written_ms: i64,
        out: &mut Vec<Out>,
    ) -> Result<(), Fault> {
        match input {
            Input::Notification(n, rebuilding) => self.engine.restore(&n, at.offset, rebuilding),
            Input::Verdict(v) => {
                if let Some(a) =
                    Alert::of_verdict(&v, &self.topics[VERDICTS], at.partition, at.offset)
                {
                    let names = v.actions.iter().filter_map(|a| a.strip_prefix("alert:"));
                    let to = self.destinations(names.map(str::to_string).collect());
                    self.engine.add(&a, &to, at.partition, written_ms, out);
                }
            }
            Input::Incident(e) => {
                if let Some(a) =
                    Alert::of_incident(&e, &self.topics[INCIDENTS], at.partition, at.offset)
                {
                    let names = self
                        .policy
                        .severity_alerts(e.severity.as_str(), &e.tenant_id);
                    let to = self.destinations(names.to_vec());
                    self.engine.add(&a, &to, at.partition, written_ms, out);
                }
            }
        }
        Ok(())
    }

    fn tick(&mut self, now_ms: i64, out: &mut Vec<Out>) {
        self.engine.tick(now_ms, out);
    }

    fn revoke(&mut self, lost: &[(usize, i32)]) {
        let partitions: HashSet<i32> = lost.iter().map(|(_, p)| *p).collect();
        self.engine.revoke(&partitions);
    }

    fn retained_from(&self, topic: usize, partition: i32) -> Option<i64> {
        (topic == NOTIFICATIONS)
            .then(|| self.engine.retained_from(partition))
            .flatten()
    }

    fn rebuilds_to_end(&self, topic: usize) -> bool {
        topic == NOTIFICATIONS
    }

    fn state_size(&self) -> usize {
        self.engine.size()
    }
}
