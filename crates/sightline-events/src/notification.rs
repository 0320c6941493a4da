//! What the alert processor did: `schemas/notification.v1.avsc`.

use serde::{Deserialize, Serialize};

/// How one step of a notification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationOutcome {
    /// Delivered: the destination answered 2xx.
    Sent,
    /// An alert joined a group.
    Grouped,
    /// A due group waits for the destination's rate limit; it is merged into the next message.
    Deferred,
    /// One attempt failed and is retried.
    Failed,
    /// Every attempt failed (or the destination refused it); the message is in the DLQ.
    DeadLettered,
}

impl NotificationOutcome {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationOutcome::Sent => "SENT",
            NotificationOutcome::Grouped => "GROUPED",
            NotificationOutcome::Deferred => "DEFERRED",
            NotificationOutcome::Failed => "FAILED",
            NotificationOutcome::DeadLettered => "DEAD_LETTERED",
        }
    }
}

/// What kind of service a destination is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DestinationKind {
    /// A Slack incoming webhook.
    Slack,
    /// PagerDuty Events API v2.
    Pagerduty,
    /// A generic HTTPS endpoint, HMAC-signed.
    Webhook,
}

impl DestinationKind {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Slack => "SLACK",
            DestinationKind::Pagerduty => "PAGERDUTY",
            DestinationKind::Webhook => "WEBHOOK",
        }
    }
}

/// Where an alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertSource {
    /// A verdict.
    Verdict,
    /// An incident event.
    Incident,
}

/// What an incident event asks of a pager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncidentAction {
    /// Opened: page.
    Trigger,
    /// Occurred again.
    Update,
    /// Someone is on it.
    Acknowledge,
    /// Resolved or dismissed.
    Resolve,
}

impl IncidentAction {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentAction::Trigger => "TRIGGER",
            IncidentAction::Update => "UPDATE",
            IncidentAction::Acknowledge => "ACKNOWLEDGE",
            IncidentAction::Resolve => "RESOLVE",
        }
    }
}

/// One alert in a group: what a message about it needs, never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Verdict or incident.
    pub source: AlertSource,
    /// The verdict id or incident event id.
    pub source_id: String,
    /// Input topic.
    pub source_topic: String,
    /// Its partition.
    pub source_partition: i32,
    /// Its offset.
    pub source_offset: i64,
    /// Verdict tier or incident severity.
    pub level: String,
    /// User.
    pub user_id: Option<String>,
    /// Team.
    pub team_id: Option<String>,
    /// Rule ids.
    pub rules: Vec<String>,
    /// Category.
    pub category: String,
    /// Conversation.
    pub conversation_id: Option<String>,
    /// Call.
    pub call_id: Option<String>,
    /// Incident.
    pub incident_id: Option<String>,
    /// Its title.
    pub incident_title: Option<String>,
    /// What the incident event asks of a pager.
    pub incident_action: Option<IncidentAction>,
    /// Incident occurrences so far.
    pub occurrences: i64,
    /// When the verdict's call or the incident event happened.
    pub occurred_at_ms: i64,
}

/// One outcome of the alert processor: see `schemas/notification.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Derived: identical on replay.
    pub notification_id: String,
    /// What happened.
    pub outcome: NotificationOutcome,
    /// Destination name.
    pub destination: String,
    /// Its kind.
    pub destination_kind: DestinationKind,
    /// The group.
    pub group_id: String,
    /// Its labels.
    pub group_key: String,
    /// Tenant.
    pub tenant_id: String,
    /// Input partition number of the group.
    pub partition: i32,
    /// First alert covered.
    pub seq_from: i64,
    /// Last alert covered.
    pub seq: i64,
    /// Alerts covered.
    pub alerts: i64,
    /// The message sent.
    pub delivery_id: Option<String>,
    /// Groups in the message.
    pub merged_groups: i32,
    /// Attempts made.
    pub attempts: i32,
    /// The destination's last HTTP status.
    pub http_status: Option<i32>,
    /// Why an attempt failed.
    pub error: Option<String>,
    /// When.
    pub at_ms: i64,
    /// The alert, on GROUPED.
    pub alert: Option<AlertRecord>,
}

impl Notification {
    /// The deterministic id of an outcome of `group_id` covering `seq_from..=seq` (in
    /// delivery `delivery_id`, for the outcomes of a message).
    pub fn id_for(
        group_id: &str,
        delivery_id: Option<&str>,
        outcome: NotificationOutcome,
        seq_from: i64,
        seq: i64,
        attempt: i32,
    ) -> String {
        crate::derived_id(&[
            "notification",
            group_id,
            delivery_id.unwrap_or_default(),
            outcome.as_str(),
            &seq_from.to_string(),
            &seq.to_string(),
            &attempt.to_string(),
        ])
    }
}
