//! Inline policy: detect, redact and decide on a request before it is forwarded. Pure.

use sightline_detect::{Finding, FingerprintKey};
use sightline_events::InlineFinding;
use sightline_policy::{finding_record, Context, Policy, Verdict};

use crate::content::{self, Content};

/// What the policy made of one request.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Findings in each part of the request's content (spans are byte offsets into the
    /// part's decoded text); values never included.
    pub findings: Vec<Vec<Finding>>,
    /// The decision.
    pub verdict: Verdict,
    /// The body to forward when the policy redacts (and does not block).
    pub redacted_body: Option<String>,
    /// Ids of the detection rules whose findings decided the verdict (those at its tier), in
    /// order of first appearance.
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

    /// The findings in event form, in content order, each with where it was found in the body
    /// (`content`'s part) and its tier.
    pub fn events(&self, content: &Content) -> Vec<InlineFinding> {
        let mut tiers = self.verdict.finding_tiers.iter();
        let mut out = vec![];
        for (part, found) in content.parts.iter().zip(&self.findings) {
            for f in found {
                let piece = part
                    .pieces
                    .iter()
                    .find(|p| f.start < p.range.end)
                    .or(part.pieces.last());
                let location = piece.map(|p| p.pointer.clone());
                out.push(finding_record(f, location, tiers.next().copied()));
            }
        }
        out
    }
}

/// Scans what the model would read of a request (`content`: decoded strings, documents,
/// text blocks joined) with the tenant's policy: what decides whether and how the call goes
/// upstream.
pub fn inspect(
    policy: &Policy,
    key: &FingerprintKey,
    ctx: &Context<'_>,
    content: &Content,
) -> Inspection {
    let findings = content::scan(content, |text| policy.scan_keyed(text, ctx.tenant, key));
    let all: Vec<Finding> = findings.iter().flatten().cloned().collect();
    let verdict = policy.evaluate(&all, ctx);
    let redacted_body = (!all.is_empty() && verdict.redacts() && !verdict.blocks())
        .then(|| content.redacted_body(&findings));
    // The rules that decided the verdict: those of findings at its tier. An INFO finding in a
    // system prompt is no reason for a block.
    let mut rules: Vec<String> = vec![];
    for (f, tier) in all.iter().zip(&verdict.finding_tiers) {
        if Some(*tier) == verdict.tier && !rules.iter().any(|r| **r == *f.rule_id) {
            rules.push(f.rule_id.to_string());
        }
    }
    Inspection {
        findings,
        verdict,
        redacted_body,
        rules,
    }
}

/// A value the caller chose that events carry (model name, user agent, conversation id,
/// client session): at most `max_chars` characters, control characters removed, and scanned
/// and redacted like a prompt.
pub fn caller_chosen(
    policy: &Policy,
    key: &FingerprintKey,
    tenant: &str,
    value: &str,
    max_chars: usize,
) -> String {
    let clean: String = value
        .chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect();
    policy.scan_and_redact(clean, tenant, key).0
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

#[cfg(test)]
mod tests {
    use sightline_testkit::evasions::{evasions, AWS_KEY_ID};

    use super::*;
    use crate::extract::parse_request;

    /// CRITICAL findings are redacted in the forwarded body instead of blocked.
    const REDACTING: &str = r#"
version = 1
[[rules]]
name = "secrets"
match = { category = "secret" }
tier = "CRITICAL"
[tiers.CRITICAL]
actions = ["redact"]
"#;

    fn inspect_with(policy: &Policy, body: &str) -> (Inspection, Content) {
        let key = FingerprintKey::new(b"test key");
        let info = parse_request(body.as_bytes(), &key).expect("parsed");
        let ctx = Context {
            tenant: "acme",
            user: "ada",
            team: None,
        };
        let inspection = inspect(policy, &key, &ctx, &info.content);
        (inspection, info.content)
    }

    #[test]
    fn every_evasion_is_blocked_by_the_default_policy() {
        let policy = Policy::builtin_default();
        for e in evasions() {
            let (inspection, _) = inspect_with(&policy, &e.body);
            assert!(
                inspection.verdict.blocks(),
                "{}: not blocked (rules {:?})",
                e.name,
                inspection.rules
            );
        }
    }

    #[test]
    fn every_evasion_is_redacted_into_valid_json_and_never_published() {
        let policy = Policy::parse(REDACTING, "test").expect("policy");
        for e in evasions() {
            let (inspection, content) = inspect_with(&policy, &e.body);
            let body = inspection
                .redacted_body
                .unwrap_or_else(|| panic!("{}: nothing redacted", e.name));
            let forwarded: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|err| panic!("{}: redacted body is not JSON: {err}", e.name));
            // Decode every string, base64 documents included, as the model would.
            let seen = parse_request(body.as_bytes(), &FingerprintKey::new(b"k")).expect("JSON");
            let decoded: String = seen.content.parts.iter().map(|p| p.text.as_str()).collect();
            let published = content.published_turns(&inspection.findings);
            for value in &e.values {
                assert!(
                    !forwarded.to_string().contains(value.as_str())
                        && !decoded.contains(value.as_str()),
                    "{}: a piece of the value reaches the model",
                    e.name
                );
                assert!(
                    published.iter().all(|(_, t)| !t.contains(value.as_str())),
                    "{}: a piece of the value is published",
                    e.name
                );
            }
            assert!(decoded.contains("[REDACTED:"), "{}", e.name);
        }
    }

    #[test]
    fn a_value_split_across_blocks_has_the_whole_value_s_fingerprint() {
        let key = FingerprintKey::new(b"test key");
        let policy = Policy::builtin_default();
        let split = evasions()
            .into_iter()
            .find(|e| e.name.starts_with("split across two"))
            .expect("fixture");
        let (inspection, content) = inspect_with(&policy, &split.body);
        let found: Vec<&Finding> = inspection.findings.iter().flatten().collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].fingerprint, key.fingerprint(AWS_KEY_ID.as_bytes()));
        // The span runs from the first block into the second, across the joining newline.
        let part = &content.parts[0];
        assert_eq!(part.pieces.len(), 2);
        assert!(found[0].start < part.pieces[0].range.end);
        assert!(found[0].end > part.pieces[1].range.start);
    }

    #[test]
    fn text_blocks_that_merely_meet_are_not_glued_into_a_finding() {
        // Each block is clean, and so is what they say together with a newline between.
        let body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "the value of password"},
            {"type": "text", "text": "is in the vault"}]}]})
        .to_string();
        let (inspection, _) = inspect_with(&Policy::builtin_default(), &body);
        assert!(inspection.rules.is_empty(), "{:?}", inspection.rules);
    }

    #[test]
    fn a_block_is_explained_by_the_findings_that_caused_it() {
        let body = serde_json::json!({"model": "m",
            "system": "You help ops@acme.example; escalate to +1 415 555 0100.",
            "messages": [{"role": "user", "content": format!("deploy with {AWS_KEY_ID}")}]})
        .to_string();
        let (inspection, _) = inspect_with(&Policy::builtin_default(), &body);
        assert!(inspection.verdict.blocks());
        let all: Vec<&str> = inspection
            .findings
            .iter()
            .flatten()
            .map(|f| &*f.rule_id)
            .collect();
        assert!(
            all.len() > 1,
            "the system prompt holds INFO findings: {all:?}"
        );
        assert_eq!(inspection.rules, ["aws-access-key-id"]);
    }

    #[test]
    fn values_the_caller_chose_are_capped_cleaned_and_redacted() {
        let policy = Policy::builtin_default();
        let key = FingerprintKey::new(b"test key");
        let agent = format!("curl/8.0\r\nX-Injected: 1 {AWS_KEY_ID}");
        let clean = caller_chosen(&policy, &key, "acme", &agent, 256);
        assert!(!clean.contains(AWS_KEY_ID) && clean.contains("[REDACTED:aws-access-key-id:"));
        assert!(!clean.chars().any(char::is_control), "{clean:?}");
        let long = "m".repeat(10_000);
        assert_eq!(caller_chosen(&policy, &key, "acme", &long, 128).len(), 128);
    }
}
