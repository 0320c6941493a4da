use serde::{Deserialize, Serialize};

/// Whether an event marks the arrival or the completion of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    /// The call arrived at the shim.
    Request,
    /// The call completed, failed or was blocked.
    Response,
}

impl EventKind {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Request => "REQUEST",
            EventKind::Response => "RESPONSE",
        }
    }
}

/// Which upstream API a call targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Provider {
    /// Anthropic Messages API.
    Anthropic,
    /// OpenAI Chat Completions API.
    Openai,
    /// Anything else passed through.
    Other,
}

impl Provider {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Anthropic => "ANTHROPIC",
            Provider::Openai => "OPENAI",
            Provider::Other => "OTHER",
        }
    }
}

/// The outcome of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallStatus {
    /// Not finished yet (REQUEST events).
    Pending,
    /// Upstream answered with 2xx and the response was relayed in full.
    Ok,
    /// Upstream answered with a non-2xx status.
    UpstreamError,
    /// The shim could not complete the call: upstream unreachable, timeout, client gone.
    Failed,
    /// The policy blocked the call before it reached upstream.
    Blocked,
}

impl CallStatus {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Pending => "PENDING",
            CallStatus::Ok => "OK",
            CallStatus::UpstreamError => "UPSTREAM_ERROR",
            CallStatus::Failed => "FAILED",
            CallStatus::Blocked => "BLOCKED",
        }
    }
}

/// One conversation turn, text only and already redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant`, `tool`…
    pub role: String,
    /// The turn's text parts joined by newlines.
    pub text: String,
}

/// Metadata of an image, document or file. Never the bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// `image`, `document` or `file`.
    pub kind: String,
    /// Declared media type, if any.
    pub media_type: Option<String>,
    /// `base64`, `url` or `file_id`.
    pub source: String,
    /// Decoded size, when the bytes were inline.
    pub size_bytes: Option<i64>,
    /// Hex HMAC-SHA256 of the decoded bytes under the tenant's fingerprint key, when inline
    /// (keyed, so a short document cannot be confirmed offline; the field keeps its name).
    pub sha256: Option<String>,
    /// Pixel width read from the image header.
    pub width: Option<i32>,
    /// Pixel height read from the image header.
    pub height: Option<i32>,
}

/// Tokens reported by the upstream API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Prompt tokens.
    pub input_tokens: i64,
    /// Completion tokens.
    pub output_tokens: i64,
    /// Tokens read from a prompt cache.
    pub cache_read_tokens: Option<i64>,
    /// Tokens written to a prompt cache.
    pub cache_write_tokens: Option<i64>,
}

/// A finding of the inline detection engine. Carries a keyed fingerprint, never the value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InlineFinding {
    /// Rule that matched.
    pub rule_id: String,
    /// `secret`, `pii` or `production`.
    pub category: String,
    /// Byte offset of the match in the original text.
    pub start: i64,
    /// Byte offset one past the match.
    pub end: i64,
    /// 0.0–1.0.
    pub confidence: f32,
    /// Hex HMAC of the value under the tenant's key.
    pub fingerprint: String,
    /// Where it was found: a JSON pointer into the request body (`/messages/2/content/0/text`,
    /// `/system`, `/tools/0/description`), or `response/<choice>`.
    #[serde(default)]
    pub location: Option<String>,
    /// The value is a documented example.
    #[serde(default)]
    pub example: bool,
    /// Its tier under the tenant's policy.
    #[serde(default)]
    pub tier: Option<String>,
}

/// The sampling parameters a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Sampling {
    /// `temperature`.
    pub temperature: Option<f64>,
    /// `top_p`.
    pub top_p: Option<f64>,
    /// `n` (OpenAI's number of choices).
    pub n: Option<i64>,
    /// `max_tokens`, `max_completion_tokens` or `max_output_tokens`.
    pub max_tokens: Option<i64>,
    /// `seed`.
    pub seed: Option<i64>,
}

/// One fact about one LLM call: see `schemas/llm_event.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmEvent {
    /// UUIDv7 of this event; the idempotency key downstream.
    pub event_id: String,
    /// UUIDv7 shared by the REQUEST and RESPONSE of one call.
    pub call_id: String,
    /// REQUEST or RESPONSE.
    pub kind: EventKind,
    /// Epoch milliseconds.
    pub occurred_at_ms: i64,
    /// Tenant (organisation).
    pub tenant_id: String,
    /// User the call is attributed to.
    pub user_id: String,
    /// Team, when known.
    pub team_id: Option<String>,
    /// Conversation, when known.
    pub conversation_id: Option<String>,
    /// Upstream API.
    pub provider: Provider,
    /// Model named in the request or response.
    pub model: Option<String>,
    /// `POST /v1/messages` and the like.
    pub endpoint: String,
    /// Whether the client asked for a stream.
    pub streaming: bool,
    /// Redacted text turns.
    pub messages: Vec<Message>,
    /// Attachment metadata.
    pub attachments: Vec<Attachment>,
    /// Tokens, on RESPONSE events.
    pub usage: Option<TokenUsage>,
    /// Cost in millionths of a dollar.
    pub cost_usd_micros: Option<i64>,
    /// Total latency.
    pub latency_ms: Option<i64>,
    /// Time to first upstream byte.
    pub ttft_ms: Option<i64>,
    /// Outcome.
    pub status: CallStatus,
    /// Upstream or shim HTTP status.
    pub http_status: Option<i32>,
    /// Failure reason; never request text.
    pub error: Option<String>,
    /// Inline findings.
    pub findings: Vec<InlineFinding>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Keyed hash of the canonical request content: resamples of one prompt share it.
    #[serde(default)]
    pub content_hash: Option<String>,
    /// What kind of use (header, API key entry, or client family). Descriptive only.
    #[serde(default)]
    pub capability: Option<String>,
    /// Workspace (header or API key entry). Descriptive only.
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// Short keyed id of the caller's credential.
    #[serde(default)]
    pub api_key_id: Option<String>,
    /// Sampling parameters of the request.
    #[serde(default)]
    pub sampling: Option<Sampling>,
    /// Why the model stopped.
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// Size of the request body.
    #[serde(default)]
    pub request_bytes: Option<i64>,
    /// Size of the response body.
    #[serde(default)]
    pub response_bytes: Option<i64>,
    /// The logical request this event belongs to (set by the dedupe processor): the call id of
    /// the first request of its resampling window.
    #[serde(default)]
    pub logical_id: Option<String>,
    /// PRIMARY or RESAMPLE (set by the dedupe processor on requests).
    #[serde(default)]
    pub resample_role: Option<ResampleRole>,
    /// 0 for the primary, then 1, 2… in arrival order.
    #[serde(default)]
    pub resample_index: Option<i32>,
}

/// A request's place in its resampling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResampleRole {
    /// The first request of its window: the policy and any judge run on it.
    Primary,
    /// An identical request within the window: it gets the primary's verdict.
    Resample,
}

impl ResampleRole {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            ResampleRole::Primary => "PRIMARY",
            ResampleRole::Resample => "RESAMPLE",
        }
    }
}

impl LlmEvent {
    /// The Kafka key: `tenant/user`, so one user's events stay on one partition, in order.
    pub fn kafka_key(&self) -> String {
        format!("{}/{}", self.tenant_id, self.user_id)
    }

    /// A REQUEST event for a new call, observed now, with everything not given left empty.
    pub fn request(tenant_id: &str, user_id: &str, provider: Provider, endpoint: &str) -> Self {
        Self {
            event_id: Self::new_id(),
            call_id: Self::new_id(),
            kind: EventKind::Request,
            occurred_at_ms: crate::now_ms(),
            tenant_id: tenant_id.into(),
            user_id: user_id.into(),
            team_id: None,
            conversation_id: None,
            provider,
            model: None,
            endpoint: endpoint.into(),
            streaming: false,
            messages: vec![],
            attachments: vec![],
            usage: None,
            cost_usd_micros: None,
            latency_ms: None,
            ttft_ms: None,
            status: CallStatus::Pending,
            http_status: None,
            error: None,
            findings: vec![],
            user_agent: None,
            content_hash: None,
            capability: None,
            workspace_id: None,
            api_key_id: None,
            sampling: None,
            stop_reason: None,
            request_bytes: None,
            response_bytes: None,
            logical_id: None,
            resample_role: None,
            resample_index: None,
        }
    }

    /// A new UUIDv7 string, for event and call ids.
    pub fn new_id() -> String {
        uuid::Uuid::now_v7().to_string()
    }
}
