//! What a person can change from the dashboard: an incident's workflow (sent as incident
//! commands, so the incidents processor carries them out and the alert processor
//! acknowledges and resolves PagerDuty), and false-positive marks on findings.

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use sightline_events::{Codec, CommandAction, IncidentCommand, IncidentStatus};
use sightline_kafka::{Producer, Topic, TopicNames};

use crate::auth::{Principal, Role};
use crate::scope::Scope;
use crate::store::Store;
use crate::{DashboardConfig, Error, Result};

/// An incident action as a form or JSON body sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct Act {
    /// ack, resolve, dismiss, assign, note.
    pub action: String,
    /// For assign.
    #[serde(default)]
    pub assignee: Option<String>,
    /// For note.
    #[serde(default)]
    pub note: Option<String>,
}

/// Sends incident commands.
pub struct Commands {
    producer: Producer,
    codec: Codec,
    topic: String,
}

impl Commands {
    /// A sender for `config`'s broker and topics.
    pub fn new(config: &DashboardConfig) -> anyhow::Result<Self> {
        Ok(Self {
            producer: Producer::new(&config.kafka)?,
            codec: config.schema_registry.codec()?,
            topic: TopicNames::from(&config.topics).name(Topic::IncidentCommands),
        })
    }

    /// Checks `act` against the incident's workflow and sends it; returns the command id.
    /// Leads act on their team's incidents, admins on their tenant's.
    pub async fn send(
        &self,
        store: &Store,
        who: &Principal,
        incident_id: &str,
        act: &Act,
        now_ms: i64,
    ) -> Result<String> {
        who.at_least(Role::Lead)?;
        let page = store.incident(&Scope::of(who), incident_id).await?;
        let action = match act.action.as_str() {
            "ack" => CommandAction::Ack,
            "resolve" => CommandAction::Resolve,
            "dismiss" => CommandAction::Dismiss,
            "assign" => CommandAction::Assign,
            "note" => CommandAction::Note,
            _ => {
                return Err(Error::BadRequest(
                    "action must be ack, resolve, dismiss, assign or note".into(),
                ))
            }
        };
        let status = IncidentStatus::parse(&page.incident.status)
            .ok_or_else(|| Error::BadRequest("the incident's status is unknown".into()))?;
        // The incidents processor checks again, and decides.
        if !status.allows(action) {
            return Err(Error::Conflict(format!(
                "cannot {} an incident that is {}; the workflow is OPEN → INVESTIGATING → RESOLVED | DISMISSED",
                action.as_str(),
                status.as_str()
            )));
        }
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let (assignee, note) = (text(&act.assignee), text(&act.note));
        match action {
            CommandAction::Assign if assignee.as_ref().is_none_or(|a| a.len() > 200) => {
                return Err(Error::BadRequest(
                    "assign needs an assignee of 1 to 200 characters".into(),
                ))
            }
            CommandAction::Note if note.as_ref().is_none_or(|n| n.chars().count() > 2000) => {
                return Err(Error::BadRequest(
                    "a note needs 1 to 2,000 characters".into(),
                ))
            }
            _ => {}
        }
        let partition_key = page
            .events
            .iter()
            .rev()
            .map(|e| e.partition_key.as_str())
            .find(|k| !k.is_empty())
            .ok_or_else(|| {
                Error::BadRequest(
                    "this incident was stored without its key; work it with `sightline incident`"
                        .into(),
                )
            })?
            .to_string();
        let command = IncidentCommand {
            command_id: uuid::Uuid::new_v4().to_string(),
            incident_id: page.incident.incident_id.clone(),
            partition_key,
            action,
            actor: who.user.clone(),
            assignee: (action == CommandAction::Assign)
                .then_some(assignee)
                .flatten(),
            note: (action == CommandAction::Note).then_some(note).flatten(),
            issued_at_ms: now_ms,
        };
        let bytes = self
            .codec
            .encode(&self.topic, &command)
            .await
            .map_err(|e| Error::Send(e.to_string()))?;
        self.producer
            .send(&self.topic, command.partition_key.as_bytes(), &bytes, None)
            .await
            .map_err(|e| Error::Send(e.to_string()))?;
        Ok(command.command_id)
    }
}

/// A false-positive mark as a form or JSON body sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct Mark {
    /// The finding's verdict.
    pub verdict_id: String,
    /// Its position in the verdict.
    pub position: u32,
    /// `true`: a false positive; `false`: a correct finding.
    pub false_positive: bool,
    /// Where a form goes back to (a dashboard path only).
    #[serde(default)]
    pub back: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Row)]
struct FeedbackRow {
    tenant_id: String,
    verdict_id: String,
    position: u32,
    rule_id: String,
    team_id: String,
    user_id: String,
    false_positive: u8,
    marked_by: String,
    ts_ms: u64,
}

/// Stores `mark` on a finding the caller can see (the latest mark per finding counts).
pub async fn mark(store: &Store, who: &Principal, mark: &Mark, now_ms: i64) -> Result<()> {
    let (tenant_id, rule_id, team_id, user_id) = store
        .finding(&Scope::of(who), &mark.verdict_id, mark.position)
        .await?;
    let row = FeedbackRow {
        tenant_id,
        verdict_id: mark.verdict_id.clone(),
        position: mark.position,
        rule_id,
        team_id,
        user_id,
        false_positive: u8::from(mark.false_positive),
        marked_by: who.user.clone(),
        ts_ms: now_ms.max(0) as u64,
    };
    let mut insert = store
        .client()
        .insert::<FeedbackRow>("finding_feedback")
        .await?;
    insert.write(&row).await?;
    insert.end().await?;
    Ok(())
}
