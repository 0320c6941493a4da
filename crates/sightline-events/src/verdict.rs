use serde::{Deserialize, Serialize};

/// The tier of a verdict: `NONE` when nothing was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerdictTier {
    /// Nothing found.
    None,
    /// Logged.
    Info,
    /// Logged and shown on the dashboard.
    Warning,
    /// Alerts at once.
    Critical,
}

impl VerdictTier {
    /// The Avro symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictTier::None => "NONE",
            VerdictTier::Info => "INFO",
            VerdictTier::Warning => "WARNING",
            VerdictTier::Critical => "CRITICAL",
        }
    }

    /// Parses `INFO`, `WARNING`, `CRITICAL` or `NONE` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "NONE" => Some(VerdictTier::None),
            "INFO" => Some(VerdictTier::Info),
            "WARNING" => Some(VerdictTier::Warning),
            "CRITICAL" => Some(VerdictTier::Critical),
            _ => None,
        }
    }
}

/// One finding of a verdict: where and what, never the value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictFinding {
    /// Detection rule.
    pub rule_id: String,
    /// `secret`, `pii` or `production`.
    pub category: String,
    /// Its tier under the policy.
    pub tier: String,
    /// JSON pointer into the request body, `/messages/<i>` or `response/<choice>`.
    pub location: Option<String>,
    /// Byte offset of the match in the text it was found in.
    pub start: i64,
    /// One past the match.
    pub end: i64,
    /// 0.0–1.0.
    pub confidence: f32,
    /// Keyed HMAC of the value, hex.
    pub fingerprint: String,
    /// A documented example value.
    pub example: bool,
}

/// How the judge ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JudgeStatus {
    /// The judge answered.
    Answered,
    /// The call failed (refused, bad answer); the fallback tier applies.
    Failed,
    /// No answer in time; the fallback tier applies.
    TimedOut,
    /// The primary was judged before a restart and the rebuilt state lacks the answer; the
    /// fallback tier applies rather than a second judge call.
    NotAskedAgain,
}

/// The judge's part of a verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeOutcome {
    /// How the call ended.
    pub status: JudgeStatus,
    /// The tier it settled on, or the fallback tier.
    pub tier: String,
    /// Its short reason.
    pub reason: Option<String>,
}

/// Whether the policy ran on the event or the verdict came from its primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    /// The policy ran on this event.
    Evaluated,
    /// A RESAMPLE given its primary's verdict.
    Inherited,
}

/// The classification of one event: see `schemas/verdict.v1.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Deterministic id from `event_id` and `policy_version`.
    pub verdict_id: String,
    /// The event classified.
    pub event_id: String,
    /// Its call.
    pub call_id: String,
    /// Its logical request.
    pub logical_id: Option<String>,
    /// `REQUEST` or `RESPONSE`.
    pub kind: String,
    /// `PRIMARY` or `RESAMPLE` for requests.
    pub resample_role: Option<String>,
    /// Tenant.
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// Team.
    pub team_id: Option<String>,
    /// Conversation.
    pub conversation_id: Option<String>,
    /// The event's time.
    pub occurred_at_ms: i64,
    /// Highest tier.
    pub tier: VerdictTier,
    /// Policy rules that matched.
    pub rules: Vec<String>,
    /// Findings, without values.
    pub findings: Vec<VerdictFinding>,
    /// Actions of the tier.
    pub actions: Vec<String>,
    /// The judge's outcome, when the policy asked for one.
    pub judge: Option<JudgeOutcome>,
    /// Evaluated here or inherited from the primary.
    pub decision: Decision,
    /// The primary's event id, for inherited verdicts.
    pub inherited_from: Option<String>,
    /// The policy version used.
    pub policy_version: String,
}

impl Verdict {
    /// The Kafka key: `tenant/user`, like the events it classifies.
    pub fn kafka_key(&self) -> String {
        format!("{}/{}", self.tenant_id, self.user_id)
    }

    /// The deterministic verdict id for `event_id` under `policy_version`: a UUID (version 8
    /// layout) from the first bytes of their sha256.
    pub fn id_for(event_id: &str, policy_version: &str) -> String {
        crate::derived_id(&["verdict", event_id, policy_version])
    }
}
