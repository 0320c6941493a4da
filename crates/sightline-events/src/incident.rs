//! Incidents: the events `processors/incidents` writes, the commands people send it, and the
//! per-call signals it re-keys by tenant. See `schemas/incident_*.v1.avsc`.

use serde::{Deserialize, Serialize};

/// What an [`IncidentEvent`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncidentEventType {
    /// A rule opened the incident.
    Opened,
    /// The same thing happened again while it was open.
    Occurred,
    /// Someone moved it along the workflow.
    StatusChanged,
    /// Someone assigned it.
    Assigned,
    /// Someone added a note.
    NoteAdded,
}

impl IncidentEventType {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentEventType::Opened => "OPENED",
            IncidentEventType::Occurred => "OCCURRED",
            IncidentEventType::StatusChanged => "STATUS_CHANGED",
            IncidentEventType::Assigned => "ASSIGNED",
            IncidentEventType::NoteAdded => "NOTE_ADDED",
        }
    }
}

/// How bad an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncidentSeverity {
    /// For the record.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl IncidentSeverity {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentSeverity::Info => "INFO",
            IncidentSeverity::Low => "LOW",
            IncidentSeverity::Medium => "MEDIUM",
            IncidentSeverity::High => "HIGH",
            IncidentSeverity::Critical => "CRITICAL",
        }
    }
}

/// What an incident is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncidentCategory {
    /// Secrets, production access, repeated policy warnings.
    Safety,
    /// Personal data.
    Privacy,
    /// Regulatory obligations.
    Compliance,
    /// Failures and slowness.
    Performance,
    /// Spend.
    Cost,
}

impl IncidentCategory {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentCategory::Safety => "SAFETY",
            IncidentCategory::Privacy => "PRIVACY",
            IncidentCategory::Compliance => "COMPLIANCE",
            IncidentCategory::Performance => "PERFORMANCE",
            IncidentCategory::Cost => "COST",
        }
    }
}

/// Where an incident is in its workflow: OPEN → INVESTIGATING → RESOLVED | DISMISSED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncidentStatus {
    /// Opened by a rule, nobody on it yet.
    Open,
    /// Acknowledged.
    Investigating,
    /// Closed: dealt with.
    Resolved,
    /// Closed: not a real problem.
    Dismissed,
}

impl IncidentStatus {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "OPEN",
            IncidentStatus::Investigating => "INVESTIGATING",
            IncidentStatus::Resolved => "RESOLVED",
            IncidentStatus::Dismissed => "DISMISSED",
        }
    }

    /// Resolved or dismissed: a new occurrence opens a new incident.
    pub fn is_closed(self) -> bool {
        matches!(self, IncidentStatus::Resolved | IncidentStatus::Dismissed)
    }

    /// The status its Avro symbol names.
    pub fn parse(symbol: &str) -> Option<Self> {
        [
            IncidentStatus::Open,
            IncidentStatus::Investigating,
            IncidentStatus::Resolved,
            IncidentStatus::Dismissed,
        ]
        .into_iter()
        .find(|s| s.as_str() == symbol)
    }

    /// Whether the workflow lets `action` act on an incident in this status.
    pub fn allows(self, action: CommandAction) -> bool {
        match action {
            CommandAction::Ack => self == IncidentStatus::Open,
            CommandAction::Resolve | CommandAction::Dismiss | CommandAction::Assign => {
                !self.is_closed()
            }
            CommandAction::Note => true,
        }
    }
}

/// Why a call is linked to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LinkReason {
    /// The call that set the rule off.
    Trigger,
    /// A call that counted towards it.
    Related,
    /// Background.
    Context,
}

impl LinkReason {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkReason::Trigger => "TRIGGER",
            LinkReason::Related => "RELATED",
            LinkReason::Context => "CONTEXT",
        }
    }
}

/// A call linked to an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentLink {
    /// The call.
    pub call_id: String,
    /// The event or verdict's event, when known.
    pub event_id: Option<String>,
    /// Why it is linked.
    pub reason: LinkReason,
    /// The call's time.
    pub occurred_at_ms: i64,
}

/// One change to an incident, carrying the incident's whole state after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentEvent {
    /// Derived from `incident_id` and `seq`.
    pub event_id: String,
    /// Derived from the dedupe key and the input that opened it.
    pub incident_id: String,
    /// 1 for OPENED, then one more per event.
    pub seq: i64,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: IncidentEventType,
    /// Kafka key of the incident's events and inputs: `tenant/user` or `tenant`.
    pub partition_key: String,
    /// Tenant.
    pub tenant_id: String,
    /// User, for per-user incidents.
    pub user_id: Option<String>,
    /// The rule that opened it.
    pub rule: String,
    /// What occurrences are grouped by.
    pub dedupe_key: String,
    /// Severity.
    pub severity: IncidentSeverity,
    /// Category.
    pub category: IncidentCategory,
    /// Status after this event.
    pub status: IncidentStatus,
    /// Status before, on STATUS_CHANGED.
    pub previous_status: Option<IncidentStatus>,
    /// One line.
    pub title: String,
    /// A few lines: what, who, how often.
    pub description: String,
    /// First occurrence (event time).
    pub first_seen_ms: i64,
    /// Latest occurrence (event time).
    pub last_seen_ms: i64,
    /// Occurrences so far.
    pub occurrences: i64,
    /// Calls this event links.
    pub links: Vec<IncidentLink>,
    /// Who is on it.
    pub assignee: Option<String>,
    /// Who made this change (`sightline` for rules).
    pub actor: String,
    /// A note, on NOTE_ADDED.
    pub note: Option<String>,
    /// The command carried out.
    pub command_id: Option<String>,
    /// When it happened.
    pub at_ms: i64,
    /// When it was resolved or dismissed.
    pub closed_at_ms: Option<i64>,
    /// The input topic this came from.
    pub source_topic: String,
    /// Its partition.
    pub source_partition: i32,
    /// Its offset.
    pub source_offset: i64,
    /// The highest offset of each input topic taken into this incident and the earlier
    /// incidents of its dedupe key.
    pub sources: Vec<IncidentSource>,
}

/// How far an incident has taken in one input topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentSource {
    /// The topic.
    pub topic: String,
    /// The highest offset taken in.
    pub offset: i64,
}

impl IncidentEvent {
    /// The deterministic id of an incident's `seq`th event.
    pub fn id_for(incident_id: &str, seq: i64) -> String {
        crate::derived_id(&["incident-event", incident_id, &seq.to_string()])
    }
}

/// What a person asks of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommandAction {
    /// OPEN → INVESTIGATING.
    Ack,
    /// OPEN or INVESTIGATING → RESOLVED.
    Resolve,
    /// OPEN or INVESTIGATING → DISMISSED.
    Dismiss,
    /// Sets the assignee of an incident that is not closed.
    Assign,
    /// Adds a note to any incident.
    Note,
}

impl CommandAction {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandAction::Ack => "ACK",
            CommandAction::Resolve => "RESOLVE",
            CommandAction::Dismiss => "DISMISS",
            CommandAction::Assign => "ASSIGN",
            CommandAction::Note => "NOTE",
        }
    }
}

/// A person's change to an incident, keyed by the incident's `partition_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentCommand {
    /// Unique per command.
    pub command_id: String,
    /// The incident.
    pub incident_id: String,
    /// The incident's partition key (also the record's Kafka key).
    pub partition_key: String,
    /// What to do.
    pub action: CommandAction,
    /// Who asks.
    pub actor: String,
    /// For ASSIGN.
    pub assignee: Option<String>,
    /// For NOTE.
    pub note: Option<String>,
    /// When it was issued.
    pub issued_at_ms: i64,
}

/// What the tenant-wide and cost rules need of one finished call, keyed by tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSignal {
    /// Derived from `event_id`.
    pub signal_id: String,
    /// The RESPONSE event.
    pub event_id: String,
    /// Its call.
    pub call_id: String,
    /// Tenant (the Kafka key).
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// Model.
    pub model: Option<String>,
    /// Event time.
    pub occurred_at_ms: i64,
    /// Total latency.
    pub latency_ms: Option<i64>,
    /// Upstream error or a call the shim could not finish.
    pub failed: bool,
    /// Cost (0 when unknown).
    pub cost_usd_micros: i64,
}

impl IncidentSignal {
    /// The signal id for a RESPONSE event.
    pub fn id_for(event_id: &str) -> String {
        crate::derived_id(&["incident-signal", event_id])
    }
}
