//! Pure mapping from each topic's records to the rows of the raw tables (`sql/0003_*`).
//!
//! One record becomes a [`Fact`]: where it was read, the id that makes it unique, and its
//! rows. Strings that are absent are stored as `''`, numbers as `NULL` (see `sql/README.md`).

use serde::{Deserialize, Serialize};
use sightline_events::{EventKind, IncidentEvent, LlmEvent, Notification, ResampleRole, Verdict};

/// Where a record was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coords {
    /// Topic name.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// One record, ready for ClickHouse.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// Where it was read.
    pub at: Coords,
    /// The record's own id (`event_id`, `verdict_id`, `notification_id`): a second record
    /// with the same id is the same fact published twice.
    pub id: String,
    /// Event time, epoch millis: what the duplicate window is measured in.
    pub ts_ms: i64,
    /// Its rows, in the tables they belong to.
    pub rows: Vec<TableRow>,
}

/// A row of one of the raw tables.
#[derive(Debug, Clone, PartialEq)]
pub enum TableRow {
    /// `llm_calls`
    Call(Box<CallRow>),
    /// `llm_messages`
    Message(MessageRow),
    /// `attachments`
    Attachment(AttachmentRow),
    /// `verdicts`
    Verdict(VerdictRow),
    /// `findings`
    Finding(FindingRow),
    /// `incident_events`
    IncidentEvent(Box<IncidentEventRow>),
    /// `notifications`
    Notification(Box<NotificationRow>),
}

/// The raw tables the sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// One row per call.
    LlmCalls,
    /// One row per message.
    LlmMessages,
    /// One row per attachment.
    Attachments,
    /// One row per verdict.
    Verdicts,
    /// One row per finding.
    Findings,
    /// One row per incident change.
    IncidentEvents,
    /// One row per delivery outcome.
    Notifications,
}

impl Table {
    /// Every raw table.
    pub const ALL: [Table; 7] = [
        Table::LlmCalls,
        Table::LlmMessages,
        Table::Attachments,
        Table::Verdicts,
        Table::Findings,
        Table::IncidentEvents,
        Table::Notifications,
    ];

    /// Its name in ClickHouse.
    pub fn name(self) -> &'static str {
        match self {
            Table::LlmCalls => "llm_calls",
            Table::LlmMessages => "llm_messages",
            Table::Attachments => "attachments",
            Table::Verdicts => "verdicts",
            Table::Findings => "findings",
            Table::IncidentEvents => "incident_events",
            Table::Notifications => "notifications",
        }
    }

    /// The table called `name`.
    pub fn named(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The column holding the id of the record a row came from (see [`Fact::id`]).
    pub fn id_column(self) -> &'static str {
        match self {
            Table::LlmCalls | Table::LlmMessages | Table::Attachments => "event_id",
            Table::Verdicts | Table::Findings => "verdict_id",
            Table::IncidentEvents => "event_id",
            Table::Notifications => "notification_id",
        }
    }

    /// The column names of its row type, in insert order.
    pub fn columns(self) -> &'static [&'static str] {
        use clickhouse::Row;
        match self {
            Table::LlmCalls => CallRow::COLUMN_NAMES,
            Table::LlmMessages => MessageRow::COLUMN_NAMES,
            Table::Attachments => AttachmentRow::COLUMN_NAMES,
            Table::Verdicts => VerdictRow::COLUMN_NAMES,
            Table::Findings => FindingRow::COLUMN_NAMES,
            Table::IncidentEvents => IncidentEventRow::COLUMN_NAMES,
            Table::Notifications => NotificationRow::COLUMN_NAMES,
        }
    }
}

/// Where a row's record was read, its id and its event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowSource<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The record's id ([`Fact::id`]).
    pub id: &'a str,
    /// Event time, epoch millis.
    pub ts_ms: u64,
}

impl TableRow {
    /// Where its record was read, its id and event time.
    pub fn source(&self) -> RowSource<'_> {
        macro_rules! of {
            ($r:expr, $id:ident) => {
                RowSource {
                    topic: &$r._topic,
                    partition: $r._partition,
                    offset: $r._offset,
                    id: &$r.$id,
                    ts_ms: $r.ts_ms,
                }
            };
        }
        match self {
            TableRow::Call(c) => of!(c, event_id),
            TableRow::Message(m) => of!(m, event_id),
            TableRow::Attachment(a) => of!(a, event_id),
            TableRow::Verdict(v) => of!(v, verdict_id),
            TableRow::Finding(f) => of!(f, verdict_id),
            TableRow::IncidentEvent(e) => of!(e, event_id),
            TableRow::Notification(n) => of!(n, notification_id),
        }
    }

    /// The table it belongs to.
    pub fn table(&self) -> Table {
        match self {
            TableRow::Call(_) => Table::LlmCalls,
            TableRow::Message(_) => Table::LlmMessages,
            TableRow::Attachment(_) => Table::Attachments,
            TableRow::Verdict(_) => Table::Verdicts,
            TableRow::Finding(_) => Table::Findings,
            TableRow::IncidentEvent(_) => Table::IncidentEvents,
            TableRow::Notification(_) => Table::Notifications,
        }
    }

    /// Rough encoded size, for the byte limit of a batch.
    pub fn approx_bytes(&self) -> usize {
        128 + match self {
            TableRow::Call(c) => 256 + c.error.len() + c.user_agent.len(),
            TableRow::Message(m) => m.text.len(),
            TableRow::Attachment(_) => 128,
            TableRow::Verdict(v) => 32 * (v.rules.len() + v.actions.len()),
            TableRow::Finding(_) => 160,
            TableRow::IncidentEvent(e) => e.title.len() + e.note.len() + 64 * e.link_call_ids.len(),
            TableRow::Notification(n) => n.error.len() + 128,
        }
    }
}

macro_rules! row {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row)]
        #[allow(missing_docs)]
        pub struct $name {
            $(pub $field: $ty,)*
            pub _topic: String,
            pub _partition: i32,
            pub _offset: i64,
        }
    };
}

row!(
    /// `llm_calls`: one row per call, from its RESPONSE event.
    CallRow {
        call_id: String,
        event_id: String,
        logical_id: String,
        resample_role: String,
        resample_index: i32,
        tenant_id: String,
        user_id: String,
        team_id: String,
        conversation_id: String,
        workspace_id: String,
        capability: String,
        api_key_id: String,
        provider: String,
        model: String,
        endpoint: String,
        streaming: u8,
        started_ms: u64,
        ts_ms: u64,
        status: String,
        http_status: Option<i32>,
        error: String,
        input_tokens: u64,
        output_tokens: u64,
        cache_read_tokens: u64,
        cache_write_tokens: u64,
        cost_usd_micros: i64,
        latency_ms: u64,
        ttft_ms: Option<i64>,
        stop_reason: String,
        request_bytes: Option<i64>,
        response_bytes: Option<i64>,
        attachment_count: u32,
        user_agent: String,
    }
);

row!(
    /// `llm_messages`: one row per message of an event.
    MessageRow {
        event_id: String,
        call_id: String,
        kind: String,
        position: u32,
        role: String,
        text: String,
        tenant_id: String,
        user_id: String,
        conversation_id: String,
        ts_ms: u64,
    }
);

row!(
    /// `attachments`: one row per attachment of a REQUEST.
    AttachmentRow {
        event_id: String,
        call_id: String,
        position: u32,
        kind: String,
        media_type: String,
        source: String,
        size_bytes: Option<i64>,
        digest: String,
        width: Option<i32>,
        height: Option<i32>,
        tenant_id: String,
        user_id: String,
        conversation_id: String,
        ts_ms: u64,
    }
);

row!(
    /// `verdicts`: one row per verdict.
    VerdictRow {
        verdict_id: String,
        event_id: String,
        call_id: String,
        logical_id: String,
        kind: String,
        resample_role: String,
        decision: String,
        tenant_id: String,
        user_id: String,
        team_id: String,
        conversation_id: String,
        ts_ms: u64,
        tier: String,
        rules: Vec<String>,
        actions: Vec<String>,
        judge_status: String,
        policy_version: String,
    }
);

row!(
    /// `findings`: one row per finding of a verdict; never its value.
    FindingRow {
        verdict_id: String,
        call_id: String,
        kind: String,
        decision: String,
        position: u32,
        rule_id: String,
        category: String,
        tier: String,
        location: String,
        span_start: i64,
        span_end: i64,
        confidence: f32,
        fingerprint: String,
        example: u8,
        tenant_id: String,
        user_id: String,
        team_id: String,
        conversation_id: String,
        ts_ms: u64,
    }
);

row!(
    /// `incident_events`: one row per change of an incident.
    IncidentEventRow {
        event_id: String,
        incident_id: String,
        seq: i64,
        event_type: String,
        tenant_id: String,
        user_id: String,
        rule: String,
        dedupe_key: String,
        severity: String,
        category: String,
        status: String,
        previous_status: String,
        title: String,
        first_seen_ms: i64,
        last_seen_ms: i64,
        occurrences: i64,
        assignee: String,
        actor: String,
        note: String,
        closed_at_ms: Option<i64>,
        ts_ms: u64,
        link_call_ids: Vec<String>,
        link_event_ids: Vec<String>,
        link_reasons: Vec<String>,
        link_at_ms: Vec<i64>,
        partition_key: String,
    }
);

row!(
    /// `notifications`: one row per delivery outcome.
    NotificationRow {
        notification_id: String,
        outcome: String,
        destination: String,
        destination_kind: String,
        group_id: String,
        group_key: String,
        tenant_id: String,
        seq_from: i64,
        seq: i64,
        alerts: i64,
        delivery_id: String,
        merged_groups: i32,
        attempts: i32,
        http_status: Option<i32>,
        error: String,
        alert_source: String,
        alert_source_id: String,
        level: String,
        user_id: String,
        incident_id: String,
        ts_ms: u64,
    }
);

fn ms(t: i64) -> u64 {
    u64::try_from(t).unwrap_or(0)
}

/// The Avro symbol of an enum (its serde name).
fn symbol<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// An event of the grouped topic: its messages; a REQUEST's attachments; a RESPONSE's call.
pub fn from_event(e: LlmEvent, at: Coords) -> Fact {
    let conversation = e.conversation_id.clone().unwrap_or_default();
    let kind = e.kind.as_str().to_string();
    let ts_ms = ms(e.occurred_at_ms);
    let mut rows = Vec::with_capacity(e.messages.len() + e.attachments.len() + 1);
    let (topic, partition, offset) = (at.topic.clone(), at.partition, at.offset);
    for (i, m) in e.messages.iter().enumerate() {
        rows.push(TableRow::Message(MessageRow {
            event_id: e.event_id.clone(),
            call_id: e.call_id.clone(),
            kind: kind.clone(),
            position: i as u32,
            role: m.role.clone(),
            text: m.text.clone(),
            tenant_id: e.tenant_id.clone(),
            user_id: e.user_id.clone(),
            conversation_id: conversation.clone(),
            ts_ms,
            _topic: topic.clone(),
            _partition: partition,
            _offset: offset,
        }));
    }
    if e.kind == EventKind::Request {
        for (i, a) in e.attachments.iter().enumerate() {
            rows.push(TableRow::Attachment(AttachmentRow {
                event_id: e.event_id.clone(),
                call_id: e.call_id.clone(),
                position: i as u32,
                kind: a.kind.clone(),
                media_type: a.media_type.clone().unwrap_or_default(),
                source: a.source.clone(),
                size_bytes: a.size_bytes,
                digest: a.sha256.clone().unwrap_or_default(),
                width: a.width,
                height: a.height,
                tenant_id: e.tenant_id.clone(),
                user_id: e.user_id.clone(),
                conversation_id: conversation.clone(),
                ts_ms,
                _topic: topic.clone(),
                _partition: partition,
                _offset: offset,
            }));
        }
    } else {
        let usage = e.usage.unwrap_or_default();
        let latency = e.latency_ms.unwrap_or(0).max(0);
        rows.push(TableRow::Call(Box::new(CallRow {
            call_id: e.call_id.clone(),
            event_id: e.event_id.clone(),
            // Without the dedupe processor in front, a call is its own logical request.
            logical_id: e.logical_id.clone().unwrap_or_else(|| e.call_id.clone()),
            resample_role: e
                .resample_role
                .unwrap_or(ResampleRole::Primary)
                .as_str()
                .into(),
            resample_index: e.resample_index.unwrap_or(0),
            tenant_id: e.tenant_id.clone(),
            user_id: e.user_id.clone(),
            team_id: e.team_id.clone().unwrap_or_default(),
            conversation_id: conversation,
            workspace_id: e.workspace_id.clone().unwrap_or_default(),
            capability: e.capability.clone().unwrap_or_default(),
            api_key_id: e.api_key_id.clone().unwrap_or_default(),
            provider: e.provider.as_str().into(),
            model: e.model.clone().unwrap_or_default(),
            endpoint: e.endpoint.clone(),
            streaming: u8::from(e.streaming),
            started_ms: ts_ms.saturating_sub(latency as u64),
            ts_ms,
            status: e.status.as_str().into(),
            http_status: e.http_status,
            error: e.error.clone().unwrap_or_default(),
            input_tokens: ms(usage.input_tokens),
            output_tokens: ms(usage.output_tokens),
            cache_read_tokens: ms(usage.cache_read_tokens.unwrap_or(0)),
            cache_write_tokens: ms(usage.cache_write_tokens.unwrap_or(0)),
            cost_usd_micros: e.cost_usd_micros.unwrap_or(0),
            latency_ms: latency as u64,
            ttft_ms: e.ttft_ms,
            stop_reason: e.stop_reason.clone().unwrap_or_default(),
            request_bytes: e.request_bytes,
            response_bytes: e.response_bytes,
            attachment_count: e.attachments.len() as u32,
            user_agent: e.user_agent.clone().unwrap_or_default(),
            _topic: topic,
            _partition: partition,
            _offset: offset,
        })));
    }
    Fact {
        at,
        id: e.event_id,
        ts_ms: e.occurred_at_ms,
        rows,
    }
}

/// A verdict and its findings.
pub fn from_verdict(v: Verdict, at: Coords) -> Fact {
    let ts_ms = ms(v.occurred_at_ms);
    let (topic, partition, offset) = (at.topic.clone(), at.partition, at.offset);
    let team = v.team_id.clone().unwrap_or_default();
    let conversation = v.conversation_id.clone().unwrap_or_default();
    let decision = symbol(&v.decision);
    let mut rows = Vec::with_capacity(v.findings.len() + 1);
    for (i, f) in v.findings.iter().enumerate() {
        rows.push(TableRow::Finding(FindingRow {
            verdict_id: v.verdict_id.clone(),
            call_id: v.call_id.clone(),
            kind: v.kind.clone(),
            decision: decision.clone(),
            position: i as u32,
            rule_id: f.rule_id.clone(),
            category: f.category.clone(),
            tier: f.tier.clone(),
            location: f.location.clone().unwrap_or_default(),
            span_start: f.start,
            span_end: f.end,
            confidence: f.confidence,
            fingerprint: f.fingerprint.clone(),
            example: u8::from(f.example),
            tenant_id: v.tenant_id.clone(),
            user_id: v.user_id.clone(),
            team_id: team.clone(),
            conversation_id: conversation.clone(),
            ts_ms,
            _topic: topic.clone(),
            _partition: partition,
            _offset: offset,
        }));
    }
    rows.push(TableRow::Verdict(VerdictRow {
        verdict_id: v.verdict_id.clone(),
        event_id: v.event_id,
        call_id: v.call_id,
        logical_id: v.logical_id.unwrap_or_default(),
        kind: v.kind,
        resample_role: v.resample_role.unwrap_or_default(),
        decision,
        tenant_id: v.tenant_id,
        user_id: v.user_id,
        team_id: team,
        conversation_id: conversation,
        ts_ms,
        tier: v.tier.as_str().into(),
        rules: v.rules,
        actions: v.actions,
        judge_status: v.judge.map(|j| symbol(&j.status)).unwrap_or_default(),
        policy_version: v.policy_version,
        _topic: topic,
        _partition: partition,
        _offset: offset,
    }));
    Fact {
        at,
        id: v.verdict_id,
        ts_ms: v.occurred_at_ms,
        rows,
    }
}

/// A change of an incident, with the calls it links.
pub fn from_incident(e: IncidentEvent, at: Coords) -> Fact {
    let row = IncidentEventRow {
        event_id: e.event_id.clone(),
        incident_id: e.incident_id,
        seq: e.seq,
        event_type: e.event_type.as_str().into(),
        tenant_id: e.tenant_id,
        user_id: e.user_id.unwrap_or_default(),
        rule: e.rule,
        dedupe_key: e.dedupe_key,
        severity: e.severity.as_str().into(),
        category: e.category.as_str().into(),
        status: e.status.as_str().into(),
        previous_status: e
            .previous_status
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        title: e.title,
        first_seen_ms: e.first_seen_ms,
        last_seen_ms: e.last_seen_ms,
        occurrences: e.occurrences,
        assignee: e.assignee.unwrap_or_default(),
        actor: e.actor,
        note: e.note.unwrap_or_default(),
        closed_at_ms: e.closed_at_ms,
        ts_ms: ms(e.at_ms),
        link_call_ids: e.links.iter().map(|l| l.call_id.clone()).collect(),
        link_event_ids: e
            .links
            .iter()
            .map(|l| l.event_id.clone().unwrap_or_default())
            .collect(),
        link_reasons: e.links.iter().map(|l| l.reason.as_str().into()).collect(),
        link_at_ms: e.links.iter().map(|l| l.occurred_at_ms).collect(),
        partition_key: e.partition_key,
        _topic: at.topic.clone(),
        _partition: at.partition,
        _offset: at.offset,
    };
    Fact {
        at,
        id: e.event_id,
        ts_ms: e.at_ms,
        rows: vec![TableRow::IncidentEvent(Box::new(row))],
    }
}

/// A delivery outcome.
pub fn from_notification(n: Notification, at: Coords) -> Fact {
    let alert = n.alert.as_ref();
    let row = NotificationRow {
        notification_id: n.notification_id.clone(),
        outcome: n.outcome.as_str().into(),
        destination: n.destination,
        destination_kind: n.destination_kind.as_str().into(),
        group_id: n.group_id,
        group_key: n.group_key,
        tenant_id: n.tenant_id,
        seq_from: n.seq_from,
        seq: n.seq,
        alerts: n.alerts,
        delivery_id: n.delivery_id.unwrap_or_default(),
        merged_groups: n.merged_groups,
        attempts: n.attempts,
        http_status: n.http_status,
        error: n.error.unwrap_or_default(),
        alert_source: alert.map(|a| symbol(&a.source)).unwrap_or_default(),
        alert_source_id: alert.map(|a| a.source_id.clone()).unwrap_or_default(),
        level: alert.map(|a| a.level.clone()).unwrap_or_default(),
        user_id: alert.and_then(|a| a.user_id.clone()).unwrap_or_default(),
        incident_id: alert
            .and_then(|a| a.incident_id.clone())
            .unwrap_or_default(),
        ts_ms: ms(n.at_ms),
        _topic: at.topic.clone(),
        _partition: at.partition,
        _offset: at.offset,
    };
    Fact {
        at,
        id: n.notification_id,
        ts_ms: n.at_ms,
        rows: vec![TableRow::Notification(Box::new(row))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_events::{Attachment, CallStatus, Message, Provider, TokenUsage};

    fn coords(offset: i64) -> Coords {
        Coords {
            topic: "g".into(),
            partition: 2,
            offset,
        }
    }

    fn request() -> LlmEvent {
        let mut e = LlmEvent::request("acme", "dana", Provider::Anthropic, "POST /v1/messages");
        e.call_id = "c1".into();
        e.occurred_at_ms = 1_763_000_000_000;
        e.event_id = "q1".into();
        e.messages = vec![
            Message {
                role: "system".into(),
                text: "be brief".into(),
            },
            Message {
                role: "user".into(),
                text: "hi".into(),
            },
        ];
        e.attachments = vec![Attachment {
            kind: "image".into(),
            media_type: Some("image/png".into()),
            source: "base64".into(),
            size_bytes: Some(10),
            sha256: Some("d".into()),
            width: Some(2),
            height: None,
        }];
        e
    }

    #[test]
    fn a_request_is_its_messages_and_attachments_and_no_call() {
        let f = from_event(request(), coords(7));
        assert_eq!(f.id, "q1");
        let tables: Vec<_> = f.rows.iter().map(TableRow::table).collect();
        assert_eq!(
            tables,
            [Table::LlmMessages, Table::LlmMessages, Table::Attachments]
        );
        let TableRow::Message(m) = &f.rows[1] else {
            panic!("message")
        };
        assert_eq!((m.position, m.text.as_str(), m._offset), (1, "hi", 7));
    }

    #[test]
    fn a_response_is_the_call_with_request_facts_and_its_own() {
        let mut e = request();
        e.event_id = "r1".into();
        e.kind = EventKind::Response;
        e.occurred_at_ms += 400;
        e.latency_ms = Some(400);
        e.status = CallStatus::Ok;
        e.usage = Some(TokenUsage {
            input_tokens: 25,
            output_tokens: 11,
            cache_read_tokens: None,
            cache_write_tokens: Some(3),
        });
        e.capability = Some("chat".into());
        e.messages.truncate(1);
        let f = from_event(e, coords(8));
        let tables: Vec<_> = f.rows.iter().map(TableRow::table).collect();
        assert_eq!(tables, [Table::LlmMessages, Table::LlmCalls]);
        let TableRow::Call(c) = &f.rows[1] else {
            panic!("call")
        };
        assert_eq!(c.logical_id, "c1", "a call is its own logical request");
        assert_eq!(c.resample_role, "PRIMARY");
        assert_eq!(c.started_ms, 1_763_000_000_000);
        assert_eq!(
            (c.input_tokens, c.output_tokens, c.cache_write_tokens),
            (25, 11, 3)
        );
        assert_eq!((c.capability.as_str(), c.attachment_count), ("chat", 1));
        assert_eq!(c.team_id, "", "absent strings are empty");
    }
}
