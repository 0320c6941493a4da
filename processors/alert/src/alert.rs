//! Alerts: what of a verdict or an incident event a message needs (never a value), its
//! level, and the labels it is grouped by. Pure.

use serde::Deserialize;
use sightline_events::{
    key_part, AlertRecord, AlertSource, Decision, IncidentAction, IncidentEvent, IncidentEventType,
    IncidentStatus, Verdict, VerdictTier,
};

/// How serious an alert is, on one scale for verdict tiers and incident severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// INFO.
    Info,
    /// Incident LOW.
    Low,
    /// Verdict WARNING, incident MEDIUM.
    Warning,
    /// Incident HIGH.
    High,
    /// CRITICAL.
    Critical,
}

impl Level {
    /// A verdict tier's level (`NONE` is no alert).
    pub fn of_verdict(tier: &str) -> Option<Self> {
        match tier.to_ascii_uppercase().as_str() {
            "INFO" => Some(Level::Info),
            "WARNING" => Some(Level::Warning),
            "CRITICAL" => Some(Level::Critical),
            _ => None,
        }
    }

    /// An incident severity's level.
    pub fn of_incident(severity: &str) -> Option<Self> {
        match severity.to_ascii_uppercase().as_str() {
            "INFO" => Some(Level::Info),
            "LOW" => Some(Level::Low),
            "MEDIUM" => Some(Level::Warning),
            "HIGH" => Some(Level::High),
            "CRITICAL" => Some(Level::Critical),
            _ => None,
        }
    }

    /// The level of a recorded alert.
    pub fn of(alert: &AlertRecord) -> Self {
        match alert.source {
            AlertSource::Verdict => Self::of_verdict(&alert.level),
            AlertSource::Incident => Self::of_incident(&alert.level),
        }
        .unwrap_or(Level::Info)
    }

    /// Which template renders it: `critical`, `warning` or `info`.
    pub fn template(self) -> &'static str {
        match self {
            Level::Critical => "critical",
            Level::High | Level::Warning => "warning",
            Level::Low | Level::Info => "info",
        }
    }

    /// PagerDuty's `payload.severity`.
    pub fn pagerduty(self) -> &'static str {
        match self {
            Level::Critical => "critical",
            Level::High => "error",
            Level::Warning => "warning",
            Level::Low | Level::Info => "info",
        }
    }
}

/// A label alerts are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// Tenant.
    Tenant,
    /// User.
    User,
    /// Team.
    Team,
    /// Rule ids, joined.
    Rule,
    /// Category.
    Category,
    /// Conversation.
    Conversation,
    /// Level.
    Level,
}

impl Label {
    fn name(self) -> &'static str {
        match self {
            Label::Tenant => "tenant",
            Label::User => "user",
            Label::Team => "team",
            Label::Rule => "rule",
            Label::Category => "category",
            Label::Conversation => "conversation",
            Label::Level => "level",
        }
    }
}

/// An alert and its tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Tenant.
    pub tenant: String,
    /// What a message needs.
    pub record: AlertRecord,
}

impl Alert {
    /// The alert a verdict raises: none for NONE, and none for a resample's inherited
    /// verdict (its logical request alerted once, through its primary).
    pub fn of_verdict(v: &Verdict, topic: &str, partition: i32, offset: i64) -> Option<Self> {
        if v.tier == VerdictTier::None || v.decision == Decision::Inherited {
            return None;
        }
        let mut rules: Vec<String> = v.findings.iter().map(|f| f.rule_id.clone()).collect();
        if rules.is_empty() {
            rules.clone_from(&v.rules);
        }
        rules.sort();
        rules.dedup();
        // The category of the most serious finding.
        let category = v
            .findings
            .iter()
            .max_by_key(|f| Level::of_verdict(&f.tier))
            .map_or_else(|| "policy".to_string(), |f| f.category.clone());
        Some(Alert {
            tenant: v.tenant_id.clone(),
            record: AlertRecord {
                source: AlertSource::Verdict,
                source_id: v.verdict_id.clone(),
                source_topic: topic.to_string(),
                source_partition: partition,
                source_offset: offset,
                level: v.tier.as_str().to_string(),
                user_id: Some(v.user_id.clone()),
                team_id: v.team_id.clone(),
                rules,
                category,
                conversation_id: v.conversation_id.clone(),
                call_id: Some(v.call_id.clone()),
                incident_id: None,
                incident_title: None,
                incident_action: None,
                occurrences: 0,
                occurred_at_ms: v.occurred_at_ms,
            },
        })
    }

    /// The alert an incident event raises: opened (trigger), occurred again (update),
    /// acknowledged, resolved or dismissed (resolve). Assignments and notes raise none.
    pub fn of_incident(
        e: &IncidentEvent,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Option<Self> {
        let action = match (e.event_type, e.status) {
            (IncidentEventType::Opened, _) => IncidentAction::Trigger,
            (IncidentEventType::Occurred, _) => IncidentAction::Update,
            (IncidentEventType::StatusChanged, IncidentStatus::Investigating) => {
                IncidentAction::Acknowledge
            }
            (
                IncidentEventType::StatusChanged,
                IncidentStatus::Resolved | IncidentStatus::Dismissed,
            ) => IncidentAction::Resolve,
            (IncidentEventType::StatusChanged, IncidentStatus::Open) => IncidentAction::Trigger,
            (IncidentEventType::Assigned | IncidentEventType::NoteAdded, _) => return None,
        };
        Some(Alert {
            tenant: e.tenant_id.clone(),
            record: AlertRecord {
                source: AlertSource::Incident,
                source_id: e.event_id.clone(),
                source_topic: topic.to_string(),
                source_partition: partition,
                source_offset: offset,
                level: e.severity.as_str().to_string(),
                user_id: e.user_id.clone(),
                team_id: None,
                rules: vec![e.rule.clone()],
                category: e.category.as_str().to_string(),
                conversation_id: None,
                call_id: e.links.last().map(|l| l.call_id.clone()),
                incident_id: Some(e.incident_id.clone()),
                incident_title: Some(e.title.clone()),
                incident_action: Some(action),
                occurrences: e.occurrences,
                occurred_at_ms: e.at_ms,
            },
        })
    }

    /// Its level.
    pub fn level(&self) -> Level {
        Level::of(&self.record)
    }

    /// The group key under `labels`: `tenant=acme,rule=aws-access-key-id,user=dana`. Values
    /// are escaped, so two different label sets never give one key.
    pub fn group_key(&self, labels: &[Label]) -> String {
        let r = &self.record;
        let mut parts = Vec::with_capacity(labels.len());
        for l in labels {
            let value = match l {
                Label::Tenant => self.tenant.clone(),
                Label::User => r.user_id.clone().unwrap_or_default(),
                Label::Team => r.team_id.clone().unwrap_or_default(),
                Label::Rule => r.rules.join("+"),
                Label::Category => r.category.clone(),
                Label::Conversation => r.conversation_id.clone().unwrap_or_default(),
                Label::Level => r.level.clone(),
            };
            parts.push(format!("{}={}", l.name(), key_part(&value, &[',', '='])));
        }
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(user: &str, rules: &[&str]) -> Alert {
        Alert {
            tenant: "acme".into(),
            record: AlertRecord {
                source: AlertSource::Verdict,
                source_id: "v".into(),
                source_topic: "t".into(),
                source_partition: 0,
                source_offset: 0,
                level: "CRITICAL".into(),
                user_id: Some(user.into()),
                team_id: None,
                rules: rules.iter().map(|s| s.to_string()).collect(),
                category: "secret".into(),
                conversation_id: None,
                call_id: None,
                incident_id: None,
                incident_title: None,
                incident_action: None,
                occurrences: 0,
                occurred_at_ms: 0,
            },
        }
    }

    #[test]
    fn group_keys_escape_their_separators() {
        let labels = [Label::Tenant, Label::Rule, Label::User];
        assert_eq!(
            alert("dana", &["a", "b"]).group_key(&labels),
            "tenant=acme,rule=a+b,user=dana"
        );
        // A user named to look like another label set gets a key of its own.
        let sneaky = alert("x,user=dana", &["a"]).group_key(&labels);
        assert_ne!(sneaky, alert("dana", &["a"]).group_key(&labels));
        assert_eq!(sneaky, "tenant=acme,rule=a,user=x%2Cuser%3Ddana");
    }

    #[test]
    fn levels_order_verdicts_and_incidents_on_one_scale() {
        assert!(Level::of_incident("HIGH") > Level::of_verdict("WARNING"));
        assert_eq!(Level::of_incident("MEDIUM"), Level::of_verdict("WARNING"));
        assert_eq!(Level::of_verdict("NONE"), None);
        assert_eq!(
            Level::of_incident("HIGH").map(Level::pagerduty),
            Some("error")
        );
        assert_eq!(Level::Critical.template(), "critical");
    }
}
