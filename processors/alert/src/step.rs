//! The step: turns verdicts and incident events into alerts for the grouping engine, and
//! rebuilds the engine from the notifications topic. Pure.
//!
//! Inputs, by index (co-partitioned: a partition number holds a key on every topic):
//! - [`NOTIFICATIONS`]: the processor's own outcomes read back, rebuilt to the end of the
//!   partition after a restart ([`Step::rebuilds_to_end`]): the groups, what each message
//!   covered, when each group last went out, and how far each input was taken.
//! - [`VERDICTS`], [`INCIDENTS`]: alerts. An input a GROUPED record already took for a
//!   destination (its offset was not stored before a crash) is not grouped there twice.

use std::collections::HashSet;

use sightline_events::{IncidentEvent, Notification, Verdict};
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
}

impl Alerts {
    /// A step over input `topics` (in the index order above).
    pub fn new(topics: Vec<String>, engine: Engine) -> Self {
        Self { topics, engine }
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
                    self.engine.add(&a, at.partition, written_ms, out);
                }
            }
            Input::Incident(e) => {
                if let Some(a) =
                    Alert::of_incident(&e, &self.topics[INCIDENTS], at.partition, at.offset)
                {
                    self.engine.add(&a, at.partition, written_ms, out);
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
