//! Inline policy: detect, redact and decide on a request before it is forwarded. Pure.

use sightline_detect::{redact, Finding, FingerprintKey};
use sightline_events::{InlineFinding, Message};
use sightline_policy::{Context, Policy, Verdict};

/// What the policy made of one request.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Findings in the raw body (spans are byte offsets into it); values never included.
    pub findings: Vec<InlineFinding>,
    /// The decision.
    pub verdict: Verdict,
    /// The body to forward when the policy redacts and the body could be redacted in place.
    pub redacted_body: Option<String>,
    /// Rule ids that matched, in order of first appearance.
    pub rules: Vec<String>,
}

impl Inspection {
    /// Nothing found, nothing to do (for bodies that were not scanned).
    pub fn clean() -> Self {
        Self {
            findings: vec![],
            verdict: Verdict {
                tier: None,
                actions: vec![],
                matched_rules: vec![],
                finding_tiers: vec![],
            },
            redacted_body: None,
            rules: vec![],
        }
    }
}

/// The event form of a finding.
pub fn to_event(f: &Finding) -> InlineFinding {
    InlineFinding {
        rule_id: f.rule_id.to_string(),
        category: f.category.as_str().into(),
        start: i64::try_from(f.start).unwrap_or(i64::MAX),
        end: i64::try_from(f.end).unwrap_or(i64::MAX),
        confidence: f.confidence,
        fingerprint: f.fingerprint.clone(),
    }
}

/// Scans the raw body, and the decoded text of its documents, with `tenant`'s policy: what
/// decides whether and how the call goes upstream.
pub fn inspect(
    policy: &Policy,
    key: &FingerprintKey,
    ctx: &Context<'_>,
    body: &[u8],
    documents: &[String],
) -> Inspection {
    let (text, exact) = match std::str::from_utf8(body) {
        Ok(t) => (std::borrow::Cow::Borrowed(t), true),
        Err(_) => (String::from_utf8_lossy(body), false),
    };
    let findings = policy.scan_keyed(&text, ctx.tenant, key);
    // Text documents arrive base64-encoded: scan their decoded text too (spans are then
    // offsets into the document).
    let in_documents: Vec<Finding> = documents
        .iter()
        .flat_map(|d| policy.scan_keyed(d, ctx.tenant, key))
        .collect();
    let all: Vec<Finding> = findings.iter().chain(&in_documents).cloned().collect();
    let verdict = policy.evaluate(&all, ctx);
    let redacted_body = (exact && !findings.is_empty() && verdict.redacts() && !verdict.blocks())
        .then(|| redact(&text, &findings));
    let mut rules: Vec<String> = vec![];
    for f in &all {
        if !rules.iter().any(|r| **r == *f.rule_id) {
            rules.push(f.rule_id.to_string());
        }
    }
    Inspection {
        findings: all.iter().map(to_event).collect(),
        verdict,
        redacted_body,
        rules,
    }
}

/// `text` as published: scanned on its own and redacted where something was found, with the
/// findings (spans are offsets into `text`).
pub fn scan_and_redact(
    policy: &Policy,
    key: &FingerprintKey,
    tenant: &str,
    text: String,
) -> (String, Vec<Finding>) {
    let found = policy.scan_keyed(&text, tenant, key);
    let published = if found.is_empty() {
        text
    } else {
        redact(&text, &found)
    };
    (published, found)
}

/// The text turns as published: each scanned on its own (the body's spans are offsets into
/// the JSON, not into the unescaped text) and redacted where something was found.
pub fn redact_messages(
    policy: &Policy,
    key: &FingerprintKey,
    tenant: &str,
    messages: &[Message],
) -> Vec<Message> {
    messages
        .iter()
        .map(|m| Message {
            role: m.role.clone(),
            text: scan_and_redact(policy, key, tenant, m.text.clone()).0,
        })
        .collect()
}

/// The text a blocked client sees: what was found (rule descriptions, never values) and what
/// to do.
pub fn block_reason(policy: &Policy, tenant: &str, rules: &[String], call_id: &str) -> String {
    let engine = policy.engine(tenant);
    let described: Vec<String> = rules
        .iter()
        .map(|id| {
            engine
                .rules()
                .find(|r| r.id == *id)
                .map_or_else(|| id.clone(), |r| r.description.clone())
        })
        .collect();
    format!(
        "Sightline blocked this request before it reached the model: it contains {}. \
         Remove the sensitive data and send it again; secrets that were pasted should be rotated. \
         If you think this is a mistake, contact your platform team with reference {call_id}.",
        described.join("; ")
    )
}
