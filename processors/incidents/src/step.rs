//! The step: routes each input to the rules of its partition, carries out commands, and
//! turns grouped responses into signals keyed by tenant. Pure.
//!
//! Inputs, by index (all co-partitioned: one partition number holds a key on every topic):
//! - [`INCIDENTS`]: the processor's own output read back. It is the registry's source of
//!   truth after a restart (rebuilt to the end of the partition, see
//!   [`Step::rebuilds_to_end`]); live, it only tells the registry where each event landed.
//! - [`VERDICTS`], [`SIGNALS`]: feed the rules.
//! - [`GROUPED`]: each RESPONSE becomes an [`IncidentSignal`] on the signals topic.
//! - [`COMMANDS`]: people's changes, validated against the workflow.

use std::collections::HashMap;

use prometheus_client::metrics::counter::Counter;
use sightline_events::{
    CallStatus, EventKind, IncidentCommand, IncidentEvent, IncidentEventType, IncidentSignal,
    LlmEvent, Verdict,
};
use sightline_runtime::reload::Live;
use sightline_stage::{At, Fault, Step};

use crate::config::RuleBook;
use crate::registry::{carry_out, Source};
use crate::rules::Part;

/// Input index of `sightline.incidents.v1` (read back).
pub const INCIDENTS: usize = 0;
/// Input index of `sightline.verdicts.v1`.
pub const VERDICTS: usize = 1;
/// Input index of `sightline.grouped.v1`.
pub const GROUPED: usize = 2;
/// Input index of `sightline.incident-signals.v1`.
pub const SIGNALS: usize = 3;
/// Input index of `sightline.incident-commands.v1`.
pub const COMMANDS: usize = 4;

/// A decoded input.
#[derive(Debug, Clone)]
pub enum Input {
    /// An incident event read back.
    Incident(Box<IncidentEvent>),
    /// A verdict.
    Verdict(Box<Verdict>),
    /// A grouped event.
    Grouped(Box<LlmEvent>),
    /// A call re-keyed by tenant.
    Signal(IncidentSignal),
    /// A person's command.
    Command(IncidentCommand),
}

/// An input and whether it is re-read to rebuild state (then it only rebuilds windows).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The input.
    pub input: Input,
    /// Re-read after a restart or a rebalance.
    pub rebuilding: bool,
}

/// What the step writes.
#[derive(Debug, Clone)]
pub enum Out {
    /// To `sightline.incidents.v1`.
    Incident(Box<IncidentEvent>),
    /// To `sightline.incident-signals.v1`.
    Signal(IncidentSignal),
}

/// The incidents step.
pub struct Incidents {
    topics: Vec<String>,
    rules: Live<RuleBook>,
    parts: HashMap<i32, Part>,
    opened: Counter,
}

impl Incidents {
    /// A step over input `topics` (in the index order above) under `rules`; `opened` counts
    /// incidents opened.
    pub fn new(topics: Vec<String>, rules: Live<RuleBook>, opened: Counter) -> Self {
        Self {
            topics,
            rules,
            parts: HashMap::new(),
            opened,
        }
    }

    /// The open incident of `dedupe_key` on `partition`.
    #[cfg(test)]
    pub fn open_incident(&self, partition: i32, dedupe_key: &str) -> Option<&IncidentEvent> {
        self.parts.get(&partition)?.registry.open(dedupe_key)
    }
}

/// The signal the tenant-wide rules need of a finished call; `None` for requests.
pub fn signal_of(event: &LlmEvent) -> Option<IncidentSignal> {
    if event.kind != EventKind::Response {
        return None;
    }
    Some(IncidentSignal {
        signal_id: IncidentSignal::id_for(&event.event_id),
        event_id: event.event_id.clone(),
        call_id: event.call_id.clone(),
        tenant_id: event.tenant_id.clone(),
        user_id: event.user_id.clone(),
        model: event.model.clone(),
        occurred_at_ms: event.occurred_at_ms,
        latency_ms: event.latency_ms,
        failed: matches!(event.status, CallStatus::UpstreamError | CallStatus::Failed),
        cost_usd_micros: event.cost_usd_micros.unwrap_or(0).max(0),
    })
}

/// How far ahead of its record's broker timestamp an event time may be. A time far ahead
/// would move the partition's watermark and end windows early. (The broker's timestamp, not
/// the processor's clock: a replay must decide the same.)
const MAX_AHEAD_MS: i64 = 15 * 60_000;

/// How far from its record's broker timestamp a command's `issued_at_ms` may be.
const MAX_COMMAND_SKEW_MS: u64 = 86_400_000;

fn plausible(field: &str, at_ms: i64, written_ms: i64) -> Result<(), Fault> {
    if at_ms < 0 {
        Err(Fault::BadInput(format!("{field} is before 1970")))
    } else if at_ms > written_ms.saturating_add(MAX_AHEAD_MS) {
        Err(Fault::BadInput(format!(
            "{field} is more than {} minutes ahead of when the record was written",
            MAX_AHEAD_MS / 60_000
        )))
    } else {
        Ok(())
    }
}

fn require(field: &str, value: &str) -> Result<(), Fault> {
    if value.trim().is_empty() {
        Err(Fault::BadInput(format!("{field} is empty")))
    } else {
        Ok(())
    }
}

impl Step for Incidents {
    type In = Prepared;
    type Out = Out;
    const STATEFUL: bool = true;
    const SHARES_PARTITIONS: bool = true;

    fn apply(
        &mut self,
        prepared: Prepared,
        at: At,
        written_ms: i64,
        out: &mut Vec<Out>,
    ) -> Result<(), Fault> {
        let live = !prepared.rebuilding;
        let book = self.rules.current();
        let part = self.parts.entry(at.partition).or_default();
        let source = Source {
            topic: self.topics.get(at.topic).map_or("", String::as_str),
            partition: at.partition,
            offset: at.offset,
        };
        let mut events = Vec::new();
        match prepared.input {
            Input::Incident(event) => part.registry.apply(&event, Some(at.offset)),
            Input::Verdict(v) => {
                require("tenant_id", &v.tenant_id)?;
                require("user_id", &v.user_id)?;
                plausible("occurred_at_ms", v.occurred_at_ms, written_ms)?;
                part.verdict(&v, source, &book, live, &mut events);
            }
            Input::Signal(s) => {
                require("tenant_id", &s.tenant_id)?;
                require("signal_id", &s.signal_id)?;
                plausible("occurred_at_ms", s.occurred_at_ms, written_ms)?;
                part.signal(&s, source, &book, live, &mut events);
            }
            Input::Grouped(event) => {
                if live {
                    require("tenant_id", &event.tenant_id)?;
                    out.extend(signal_of(&event).map(Out::Signal));
                }
            }
            Input::Command(command) => {
                if live {
                    let current = part.registry.get(&command.incident_id).ok_or_else(|| {
                        Fault::BadInput(format!(
                            "no incident {} on partition {}: the id is unknown, or the command was not keyed by the incident's partition_key",
                            command.incident_id, at.partition
                        ))
                    })?;
                    if current.partition_key != command.partition_key {
                        return Err(Fault::BadInput(format!(
                            "incident {} has partition_key {}, the command names another",
                            command.incident_id, current.partition_key
                        )));
                    }
                    // Handled again after a restart, or sent twice in a row by its producer.
                    let again = part.registry.has_taken(&current.dedupe_key, source)
                        || current.command_id.as_deref() == Some(command.command_id.as_str());
                    if !again {
                        // A command's time becomes the incident's (and closes its windows): it
                        // must be near when the command was written.
                        if command.issued_at_ms.abs_diff(written_ms) > MAX_COMMAND_SKEW_MS {
                            return Err(Fault::BadInput(format!(
                                "issued_at_ms of command {} is more than a day from when it was written",
                                command.command_id
                            )));
                        }
                        let event =
                            carry_out(current, &command, source).map_err(Fault::BadInput)?;
                        part.registry.apply(&event, None);
                        events.push(event);
                    }
                }
            }
        }
        for e in events {
            if e.event_type == IncidentEventType::Opened {
                self.opened.inc();
            }
            out.push(Out::Incident(Box::new(e)));
        }
        Ok(())
    }

    fn tick(&mut self, _now_ms: i64, _out: &mut Vec<Out>) {
        let horizons = self.rules.current().horizons;
        for part in self.parts.values_mut() {
            part.evict(horizons);
        }
    }

    fn revoke(&mut self, lost: &[(usize, i32)]) {
        for (_, partition) in lost {
            self.parts.remove(partition);
        }
    }

    fn retained_from(&self, topic: usize, partition: i32) -> Option<i64> {
        let part = self.parts.get(&partition)?;
        match topic {
            INCIDENTS => part.registry.retained_from(),
            VERDICTS => part.verdict_offsets.lowest(),
            SIGNALS => part.signal_offsets.lowest(),
            _ => None,
        }
    }

    fn rebuilds_to_end(&self, topic: usize) -> bool {
        topic == INCIDENTS
    }

    fn state_size(&self) -> usize {
        self.parts.values().map(Part::size).sum()
    }
}
