//! Pure mapping from an `LlmEvent` to an `llm_calls` row.

use serde::{Deserialize, Serialize};
use sightline_events::LlmEvent;

/// One row of `llm_calls`. Field order matches the insert column list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct LlmCallRow {
    pub event_id: String,
    pub call_id: String,
    pub kind: String,
    pub ts_ms: u64,
    pub tenant_id: String,
    pub user_id: String,
    pub team_id: Option<String>,
    pub conversation_id: Option<String>,
    pub provider: String,
    pub model: Option<String>,
    pub endpoint: String,
    pub streaming: u8,
    pub message_roles: Vec<String>,
    pub message_texts: Vec<String>,
    pub attachment_kinds: Vec<String>,
    pub attachment_media_types: Vec<String>,
    pub attachment_sizes: Vec<i64>,
    pub attachment_sha256: Vec<String>,
    pub attachment_widths: Vec<i32>,
    pub attachment_heights: Vec<i32>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub cost_usd_micros: Option<i64>,
    pub latency_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    pub status: String,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    pub finding_rules: Vec<String>,
    pub finding_categories: Vec<String>,
    pub finding_fingerprints: Vec<String>,
    pub user_agent: Option<String>,
    pub _topic: String,
    pub _partition: i32,
    pub _offset: i64,
}

impl LlmCallRow {
    /// The row for `event`, read from `topic`/`partition`/`offset`.
    pub fn from_event(event: LlmEvent, topic: &str, partition: i32, offset: i64) -> Self {
        let usage = event.usage.unwrap_or_default();
        let has_usage = event.usage.is_some();
        let (roles, texts) = event.messages.into_iter().map(|m| (m.role, m.text)).unzip();
        Self {
            event_id: event.event_id,
            call_id: event.call_id,
            kind: event.kind.as_str().into(),
            ts_ms: u64::try_from(event.occurred_at_ms).unwrap_or(0),
            tenant_id: event.tenant_id,
            user_id: event.user_id,
            team_id: event.team_id,
            conversation_id: event.conversation_id,
            provider: event.provider.as_str().into(),
            model: event.model,
            endpoint: event.endpoint,
            streaming: u8::from(event.streaming),
            message_roles: roles,
            message_texts: texts,
            attachment_kinds: event.attachments.iter().map(|a| a.kind.clone()).collect(),
            attachment_media_types: event
                .attachments
                .iter()
                .map(|a| a.media_type.clone().unwrap_or_default())
                .collect(),
            attachment_sizes: event
                .attachments
                .iter()
                .map(|a| a.size_bytes.unwrap_or(-1))
                .collect(),
            attachment_sha256: event
                .attachments
                .iter()
                .map(|a| a.sha256.clone().unwrap_or_default())
                .collect(),
            attachment_widths: event
                .attachments
                .iter()
                .map(|a| a.width.unwrap_or(-1))
                .collect(),
            attachment_heights: event
                .attachments
                .iter()
                .map(|a| a.height.unwrap_or(-1))
                .collect(),
            input_tokens: has_usage.then_some(usage.input_tokens),
            output_tokens: has_usage.then_some(usage.output_tokens),
            cache_read_tokens: usage.cache_read_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            cost_usd_micros: event.cost_usd_micros,
            latency_ms: event.latency_ms,
            ttft_ms: event.ttft_ms,
            status: event.status.as_str().into(),
            http_status: event.http_status,
            error: event.error,
            finding_rules: event.findings.iter().map(|f| f.rule_id.clone()).collect(),
            finding_categories: event.findings.iter().map(|f| f.category.clone()).collect(),
            finding_fingerprints: event
                .findings
                .iter()
                .map(|f| f.fingerprint.clone())
                .collect(),
            user_agent: event.user_agent,
            _topic: topic.into(),
            _partition: partition,
            _offset: offset,
        }
    }

    /// Rough encoded size, for the byte limit of a batch.
    pub fn approx_bytes(&self) -> usize {
        let strings: usize = self.message_texts.iter().map(String::len).sum::<usize>()
            + self.message_roles.iter().map(String::len).sum::<usize>();
        256 + strings + self.attachment_sha256.len() * 80 + self.finding_rules.len() * 100
    }
}
