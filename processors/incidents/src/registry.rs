//! The incidents of one partition and their workflow: pure, no I/O.
//!
//! An incident is its latest [`IncidentEvent`]: every event carries the whole state. The
//! registry holds them by id, knows which incident of a dedupe key is open, and how far each
//! dedupe key has taken in each input topic (so an input handled again after a restart is
//! recognised). It is rebuilt from the incidents topic itself.

use std::collections::HashMap;

use sightline_events::{
    CommandAction, IncidentCommand, IncidentEvent, IncidentEventType, IncidentSource,
    IncidentStatus,
};

use crate::window::Offsets;

/// The actor of events rules write.
pub const RULE_ACTOR: &str = "sightline";

/// Longest note a command may carry.
pub const MAX_NOTE_CHARS: usize = 4_000;

/// Where an event's input came from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Input topic name.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

#[derive(Debug, Clone)]
struct Held {
    event: IncidentEvent,
    /// Offset of the latest event of this incident read back from the incidents topic, and
    /// that event's `seq`. Newer events may be written and not yet read back: until one is,
    /// this is the record a rebuild needs.
    changelog_offset: Option<i64>,
    changelog_seq: i64,
}

#[derive(Debug, Clone, Default)]
struct KeyState {
    open: Option<String>,
    sources: HashMap<String, i64>,
    closed_at_ms: Option<i64>,
    incidents: usize,
}

/// The incidents of a partition.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    incidents: HashMap<String, Held>,
    keys: HashMap<String, KeyState>,
    changelog: Offsets,
}

impl Registry {
    /// The incident `id`.
    pub fn get(&self, id: &str) -> Option<&IncidentEvent> {
        self.incidents.get(id).map(|h| &h.event)
    }

    /// The open incident of `dedupe_key`.
    pub fn open(&self, dedupe_key: &str) -> Option<&IncidentEvent> {
        let id = self.keys.get(dedupe_key)?.open.as_ref()?;
        self.get(id)
    }

    /// Whether `dedupe_key` has already taken in input `source` (an input handled again).
    pub fn has_taken(&self, dedupe_key: &str, source: Source<'_>) -> bool {
        self.keys
            .get(dedupe_key)
            .and_then(|k| k.sources.get(source.topic))
            .is_some_and(|o| *o >= source.offset)
    }

    /// How far `dedupe_key` has taken in each topic, for a new incident of the key.
    pub fn sources(&self, dedupe_key: &str) -> Vec<IncidentSource> {
        let mut v: Vec<IncidentSource> = self
            .keys
            .get(dedupe_key)
            .map(|k| {
                k.sources
                    .iter()
                    .map(|(topic, offset)| IncidentSource {
                        topic: topic.clone(),
                        offset: *offset,
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| a.topic.cmp(&b.topic));
        v
    }

    /// When the last incident of `dedupe_key` was closed.
    pub fn closed_at(&self, dedupe_key: &str) -> Option<i64> {
        self.keys.get(dedupe_key).and_then(|k| k.closed_at_ms)
    }

    /// Takes in an event, written now (`changelog_offset` `None`) or read back from the
    /// incidents topic. An event older than the one held changes only its key's offsets.
    pub fn apply(&mut self, event: &IncidentEvent, changelog_offset: Option<i64>) {
        let key = self.keys.entry(event.dedupe_key.clone()).or_default();
        for s in &event.sources {
            let o = key.sources.entry(s.topic.clone()).or_insert(s.offset);
            *o = (*o).max(s.offset);
        }
        match self.incidents.get_mut(&event.incident_id) {
            Some(held) => {
                if event.seq > held.event.seq {
                    held.event = event.clone();
                }
                if let Some(offset) = changelog_offset {
                    if held.changelog_offset.is_none() || event.seq >= held.changelog_seq {
                        if let Some(old) = held.changelog_offset.replace(offset) {
                            self.changelog.release(old);
                        }
                        held.changelog_seq = event.seq;
                        self.changelog.hold(offset);
                    }
                }
            }
            None => {
                key.incidents += 1;
                if let Some(offset) = changelog_offset {
                    self.changelog.hold(offset);
                }
                self.incidents.insert(
                    event.incident_id.clone(),
                    Held {
                        event: event.clone(),
                        changelog_offset,
                        changelog_seq: event.seq,
                    },
                );
            }
        }
        let current = &self.incidents[&event.incident_id].event;
        if current.status.is_closed() {
            if key.open.as_deref() == Some(current.incident_id.as_str()) {
                key.open = None;
            }
            key.closed_at_ms = key.closed_at_ms.max(current.closed_at_ms);
        } else {
            key.open = Some(current.incident_id.clone());
        }
    }

    /// Forgets closed incidents closed at or before `before_ms`.
    pub fn evict(&mut self, before_ms: i64) {
        let old: Vec<String> = self
            .incidents
            .values()
            .filter(|h| h.event.closed_at_ms.is_some_and(|c| c <= before_ms))
            .map(|h| h.event.incident_id.clone())
            .collect();
        for id in old {
            if let Some(h) = self.incidents.remove(&id) {
                if let Some(o) = h.changelog_offset {
                    self.changelog.release(o);
                }
                if let Some(k) = self.keys.get_mut(&h.event.dedupe_key) {
                    k.incidents -= 1;
                    if k.incidents == 0 {
                        self.keys.remove(&h.event.dedupe_key);
                    }
                }
            }
        }
    }

    /// The lowest incidents-topic offset the registry depends on.
    pub fn retained_from(&self) -> Option<i64> {
        self.changelog.lowest()
    }

    /// Incidents held.
    pub(crate) fn len(&self) -> usize {
        self.incidents.len()
    }
}

/// The next event of the incident `prev`: `seq` + 1, its own id, no links, note or command,
/// and `source` taken into `sources`.
pub fn follow(
    prev: &IncidentEvent,
    event_type: IncidentEventType,
    at_ms: i64,
    actor: &str,
    source: Source<'_>,
) -> IncidentEvent {
    let seq = prev.seq + 1;
    let mut next = IncidentEvent {
        event_id: IncidentEvent::id_for(&prev.incident_id, seq),
        seq,
        event_type,
        previous_status: None,
        links: Vec::new(),
        actor: actor.to_string(),
        note: None,
        command_id: None,
        at_ms,
        ..prev.clone()
    };
    take_in(&mut next, source);
    next
}

/// Records `source` as the event's input and the highest offset of its topic.
pub fn take_in(event: &mut IncidentEvent, source: Source<'_>) {
    event.source_topic = source.topic.to_string();
    event.source_partition = source.partition;
    event.source_offset = source.offset;
    match event.sources.iter_mut().find(|s| s.topic == source.topic) {
        Some(s) => s.offset = s.offset.max(source.offset),
        None => {
            event.sources.push(IncidentSource {
                topic: source.topic.to_string(),
                offset: source.offset,
            });
            event.sources.sort_by(|a, b| a.topic.cmp(&b.topic));
        }
    }
}

/// Carries out `command` on the incident `current`, or says why the workflow forbids it.
pub fn carry_out(
    current: &IncidentEvent,
    command: &IncidentCommand,
    source: Source<'_>,
) -> Result<IncidentEvent, String> {
    let actor = command.actor.trim();
    if actor.is_empty() || actor.len() > 200 {
        return Err("the command's actor must be 1 to 200 characters".into());
    }
    let id = &current.incident_id;
    let status = current.status;
    let workflow = "the workflow is OPEN → INVESTIGATING → RESOLVED | DISMISSED";
    let at = command.issued_at_ms;
    let moved = |to: IncidentStatus| {
        let mut e = follow(current, IncidentEventType::StatusChanged, at, actor, source);
        e.previous_status = Some(status);
        e.status = to;
        if to.is_closed() {
            e.closed_at_ms = Some(at);
        }
        e.command_id = Some(command.command_id.clone());
        e
    };
    let action = command.action.as_str();
    let event = match command.action {
        CommandAction::Ack if status.allows(CommandAction::Ack) => {
            moved(IncidentStatus::Investigating)
        }
        CommandAction::Resolve if status.allows(CommandAction::Resolve) => {
            moved(IncidentStatus::Resolved)
        }
        CommandAction::Dismiss if status.allows(CommandAction::Dismiss) => {
            moved(IncidentStatus::Dismissed)
        }
        CommandAction::Ack | CommandAction::Resolve | CommandAction::Dismiss => {
            return Err(format!(
                "cannot {action} incident {id}: it is {}; {workflow}",
                status.as_str()
            ));
        }
        CommandAction::Assign => {
            if !status.allows(CommandAction::Assign) {
                return Err(format!(
                    "cannot ASSIGN incident {id}: it is {} (closed)",
                    status.as_str()
                ));
            }
            let who = command
                .assignee
                .as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty() && a.len() <= 200)
                .ok_or("ASSIGN needs an assignee of 1 to 200 characters")?;
            let mut e = follow(current, IncidentEventType::Assigned, at, actor, source);
            e.assignee = Some(who.to_string());
            e.command_id = Some(command.command_id.clone());
            e
        }
        CommandAction::Note => {
            let note = command
                .note
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .ok_or("NOTE needs a note")?;
            if note.chars().count() > MAX_NOTE_CHARS {
                return Err(format!(
                    "a note may hold at most {MAX_NOTE_CHARS} characters"
                ));
            }
            let mut e = follow(current, IncidentEventType::NoteAdded, at, actor, source);
            e.note = Some(note.to_string());
            e.command_id = Some(command.command_id.clone());
            e
        }
    };
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_events::{IncidentCategory, IncidentSeverity};

    pub(crate) fn opened(id: &str, key: &str) -> IncidentEvent {
        IncidentEvent {
            event_id: IncidentEvent::id_for(id, 1),
            incident_id: id.into(),
            seq: 1,
            event_type: IncidentEventType::Opened,
            partition_key: "acme/dana".into(),
            tenant_id: "acme".into(),
            user_id: Some("dana".into()),
            rule: "critical_verdict".into(),
            dedupe_key: key.into(),
            severity: IncidentSeverity::Critical,
            category: IncidentCategory::Safety,
            status: IncidentStatus::Open,
            previous_status: None,
            title: "t".into(),
            description: "d".into(),
            first_seen_ms: 1,
            last_seen_ms: 1,
            occurrences: 1,
            links: vec![],
            assignee: None,
            actor: RULE_ACTOR.into(),
            note: None,
            command_id: None,
            at_ms: 1,
            closed_at_ms: None,
            source_topic: "v".into(),
            source_partition: 0,
            source_offset: 10,
            sources: vec![IncidentSource {
                topic: "v".into(),
                offset: 10,
            }],
        }
    }

    fn command(action: CommandAction) -> IncidentCommand {
        IncidentCommand {
            command_id: format!("c-{action:?}"),
            incident_id: "i1".into(),
            partition_key: "acme/dana".into(),
            action,
            actor: "sam".into(),
            assignee: Some("alex".into()),
            note: Some("rotated".into()),
            issued_at_ms: 50,
        }
    }

    const SRC: Source<'static> = Source {
        topic: "c",
        partition: 0,
        offset: 3,
    };

    #[test]
    fn the_workflow_allows_only_its_transitions() {
        let open = opened("i1", "k");
        let ack = carry_out(&open, &command(CommandAction::Ack), SRC).expect("ack");
        assert_eq!(ack.status, IncidentStatus::Investigating);
        assert_eq!(ack.previous_status, Some(IncidentStatus::Open));
        assert_eq!(ack.seq, 2);
        assert_eq!(ack.actor, "sam");
        assert!(carry_out(&ack, &command(CommandAction::Ack), SRC)
            .expect_err("acked twice")
            .contains("INVESTIGATING"));
        let resolved = carry_out(&ack, &command(CommandAction::Resolve), SRC).expect("resolve");
        assert_eq!(resolved.status, IncidentStatus::Resolved);
        assert_eq!(resolved.closed_at_ms, Some(50));
        for action in [
            CommandAction::Ack,
            CommandAction::Resolve,
            CommandAction::Dismiss,
            CommandAction::Assign,
        ] {
            assert!(
                carry_out(&resolved, &command(action), SRC).is_err(),
                "{action:?} on a resolved incident"
            );
        }
        let noted = carry_out(&resolved, &command(CommandAction::Note), SRC).expect("note");
        assert_eq!(noted.note.as_deref(), Some("rotated"));
        assert_eq!(noted.status, IncidentStatus::Resolved);
        let dismissed = carry_out(&open, &command(CommandAction::Dismiss), SRC).expect("dismiss");
        assert_eq!(dismissed.status, IncidentStatus::Dismissed);
        let assigned = carry_out(&open, &command(CommandAction::Assign), SRC).expect("assign");
        assert_eq!(assigned.assignee.as_deref(), Some("alex"));
        let mut nobody = command(CommandAction::Assign);
        nobody.assignee = Some("  ".into());
        assert!(carry_out(&open, &nobody, SRC).is_err());
        let mut anonymous = command(CommandAction::Ack);
        anonymous.actor = " ".into();
        assert!(carry_out(&open, &anonymous, SRC).is_err());
    }

    #[test]
    fn an_event_read_back_is_held_until_a_newer_one_is_read_back() {
        let mut r = Registry::default();
        let first = opened("i1", "k");
        let mut second = first.clone();
        second.seq = 2;
        second.event_type = IncidentEventType::Occurred;
        let mut third = second.clone();
        third.seq = 3;
        // Written live, one after another, before any is read back.
        for e in [&first, &second, &third] {
            r.apply(e, None);
        }
        assert_eq!(r.retained_from(), None);
        // The first comes back: a rebuild from past it would lose the incident should the
        // newer ones never have been written.
        r.apply(&first, Some(10));
        assert_eq!(r.retained_from(), Some(10));
        r.apply(&second, Some(11));
        assert_eq!(r.retained_from(), Some(11));
        // An older copy read again does not move it back.
        r.apply(&first, Some(12));
        assert_eq!(r.retained_from(), Some(11));
        r.apply(&third, Some(13));
        assert_eq!(r.retained_from(), Some(13));
    }

    #[test]
    fn a_key_remembers_what_it_took_in_across_its_incidents() {
        let mut r = Registry::default();
        let first = opened("i1", "k");
        r.apply(&first, None);
        assert_eq!(r.open("k").map(|e| e.incident_id.as_str()), Some("i1"));
        let src = |offset| Source {
            topic: "v",
            partition: 0,
            offset,
        };
        assert!(r.has_taken("k", src(10)));
        assert!(!r.has_taken("k", src(11)));
        let closed = carry_out(&first, &command(CommandAction::Resolve), SRC).expect("resolve");
        r.apply(&closed, Some(4));
        assert!(r.open("k").is_none());
        assert_eq!(r.closed_at("k"), Some(50));
        assert!(r.has_taken("k", src(10)), "still known after the close");
        // An older event read back changes nothing.
        r.apply(&first, Some(2));
        assert!(r.open("k").is_none());
        assert_eq!(r.retained_from(), Some(4));
        r.evict(50);
        assert_eq!(r.len(), 0);
        assert!(!r.has_taken("k", src(10)));
        assert_eq!(r.retained_from(), None);
    }
}
