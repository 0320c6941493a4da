//! The decision for one event: findings, tier, rules, actions and the judge's part. Pure.

use sightline_detect::{Finding, FingerprintKey};
use sightline_events::{
    Decision, EventKind, JudgeOutcome, JudgeStatus, LlmEvent, Verdict, VerdictFinding, VerdictTier,
};
use sightline_policy::{finding_of_record, Action, Context, Policy, Tier};

/// What the policy made of an event's findings.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Highest tier.
    pub tier: VerdictTier,
    /// Policy rules that matched.
    pub rules: Vec<String>,
    /// Findings with their tiers; never values.
    pub findings: Vec<VerdictFinding>,
    /// Actions of the tier.
    pub actions: Vec<String>,
    /// The tier asks the judge (requests only).
    pub asks_judge: bool,
}

fn tier_of(t: Option<Tier>) -> VerdictTier {
    match t {
        None => VerdictTier::None,
        Some(Tier::Info) => VerdictTier::Info,
        Some(Tier::Warning) => VerdictTier::Warning,
        Some(Tier::Critical) => VerdictTier::Critical,
    }
}

fn policy_tier(t: VerdictTier) -> Option<Tier> {
    match t {
        VerdictTier::None => None,
        VerdictTier::Info => Some(Tier::Info),
        VerdictTier::Warning => Some(Tier::Warning),
        VerdictTier::Critical => Some(Tier::Critical),
    }
}

/// Evaluates `event` under `policy`: the findings it carries (from the shim, or from dedupe
/// for direct producers) and, with `key`, a fresh scan of its (already redacted) text, so a
/// changed policy or new production markers still apply.
pub fn evaluate(policy: &Policy, event: &LlmEvent, key: Option<&FingerprintKey>) -> Evaluation {
    let mut found: Vec<(Finding, Option<String>)> = event
        .findings
        .iter()
        .filter_map(|r| finding_of_record(r).map(|f| (f, r.location.clone())))
        .collect();
    if let Some(key) = key {
        let prefix = match event.kind {
            EventKind::Request => "/messages",
            EventKind::Response => "response",
        };
        for (i, m) in event.messages.iter().enumerate() {
            for f in policy.scan_keyed(&m.text, &event.tenant_id, key) {
                let seen = found
                    .iter()
                    .any(|(g, _)| g.fingerprint == f.fingerprint && g.rule_id == f.rule_id);
                if !seen {
                    found.push((f, Some(format!("{prefix}/{i}"))));
                }
            }
        }
    }
    let findings: Vec<Finding> = found.iter().map(|(f, _)| f.clone()).collect();
    let ctx = Context {
        tenant: &event.tenant_id,
        user: &event.user_id,
        team: event.team_id.as_deref(),
    };
    let v = policy.evaluate(&findings, &ctx);
    Evaluation {
        tier: tier_of(v.tier),
        rules: v.matched_rules.clone(),
        findings: found
            .into_iter()
            .zip(&v.finding_tiers)
            .map(|((f, location), t)| VerdictFinding {
                rule_id: f.rule_id.to_string(),
                category: f.category.as_str().into(),
                tier: t.as_str().into(),
                location,
                start: i64::try_from(f.start).unwrap_or(i64::MAX),
                end: i64::try_from(f.end).unwrap_or(i64::MAX),
                confidence: f.confidence,
                fingerprint: f.fingerprint,
                example: f.example,
            })
            .collect(),
        actions: v.actions.iter().map(ToString::to_string).collect(),
        asks_judge: event.kind == EventKind::Request && v.actions.contains(&Action::Judge),
    }
}

/// The judge's outcome when it could not be asked or did not answer: the policy's fallback
/// tier, or the tier the policy decided.
pub fn fallback(
    policy: &Policy,
    eval: &Evaluation,
    status: JudgeStatus,
    reason: &str,
) -> JudgeOutcome {
    let tier = policy
        .judge()
        .and_then(|j| j.fallback_tier)
        .map_or(eval.tier, |t| tier_of(Some(t)));
    JudgeOutcome {
        status,
        tier: tier.as_str().into(),
        reason: Some(reason.into()),
    }
}

/// `eval` after the judge: its tier, and that tier's actions (without `judge` again).
pub fn settle(
    policy: &Policy,
    tenant: &str,
    mut eval: Evaluation,
    outcome: &JudgeOutcome,
) -> Evaluation {
    let tier = VerdictTier::parse(&outcome.tier).unwrap_or(eval.tier);
    eval.actions = policy_tier(tier)
        .map(|t| policy.actions_for(t, tenant))
        .unwrap_or_default()
        .iter()
        .filter(|a| **a != Action::Judge)
        .map(ToString::to_string)
        .collect();
    eval.tier = tier;
    eval
}

/// The verdict record for `event`.
pub fn verdict(
    event: &LlmEvent,
    eval: &Evaluation,
    judge: Option<JudgeOutcome>,
    decision: Decision,
    inherited_from: Option<String>,
    policy_version: &str,
) -> Verdict {
    Verdict {
        verdict_id: Verdict::id_for(&event.event_id, policy_version),
        event_id: event.event_id.clone(),
        call_id: event.call_id.clone(),
        logical_id: event.logical_id.clone(),
        kind: event.kind.as_str().into(),
        resample_role: event.resample_role.map(|r| r.as_str().to_string()),
        tenant_id: event.tenant_id.clone(),
        user_id: event.user_id.clone(),
        team_id: event.team_id.clone(),
        conversation_id: event.conversation_id.clone(),
        occurred_at_ms: event.occurred_at_ms,
        tier: eval.tier,
        rules: eval.rules.clone(),
        findings: eval.findings.clone(),
        actions: eval.actions.clone(),
        judge,
        decision,
        inherited_from,
        policy_version: policy_version.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_events::{Message, Provider};

    fn pasted_key_event() -> LlmEvent {
        let mut e = LlmEvent::request("acme", "dana", Provider::Anthropic, "POST /v1/messages");
        e.messages.push(Message {
            role: "user".into(),
            text: ["deploy with ", "AKIA", "Z7Q3MVW2XN4RP6TL", " please"].concat(),
        });
        e
    }

    #[test]
    fn a_fresh_scan_finds_what_a_direct_producer_left_and_never_keeps_the_value() {
        let policy = Policy::builtin_default();
        let key = FingerprintKey::new(b"k");
        let eval = evaluate(&policy, &pasted_key_event(), Some(&key));
        assert_eq!(eval.tier, VerdictTier::Critical);
        assert_eq!(eval.findings.len(), 1);
        assert_eq!(eval.findings[0].location.as_deref(), Some("/messages/0"));
        assert!(
            eval.actions.iter().any(|a| a == "block"),
            "{:?}",
            eval.actions
        );
        let v = verdict(
            &pasted_key_event(),
            &eval,
            None,
            Decision::Evaluated,
            None,
            policy.version(),
        );
        let json = serde_json::to_string(&v).expect("json");
        assert!(
            !json.contains("Z7Q3MVW2XN4RP6TL"),
            "no value in the verdict"
        );
        assert!(!eval.asks_judge);
    }

    #[test]
    fn the_judge_settles_the_tier_and_its_actions() {
        let policy = Policy::parse(
            r#"version = 1
[[rules]]
name = "credentials"
match = { category = "secret" }
tier = "CRITICAL"
[tiers.CRITICAL]
actions = ["judge", "block"]
[tiers.WARNING]
actions = []
[judge]
url = "http://127.0.0.1:9/judge"
fallback_tier = "WARNING"
"#,
            "<test>",
        )
        .expect("policy");
        let eval = evaluate(
            &policy,
            &pasted_key_event(),
            Some(&FingerprintKey::new(b"k")),
        );
        assert!(eval.asks_judge);
        let down = fallback(&policy, &eval, JudgeStatus::TimedOut, "no answer in 2s");
        assert_eq!(down.tier, "WARNING");
        let settled = settle(&policy, "acme", eval.clone(), &down);
        assert_eq!(
            (settled.tier, settled.actions.len()),
            (VerdictTier::Warning, 0)
        );
        let confirmed = JudgeOutcome {
            status: JudgeStatus::Answered,
            tier: "CRITICAL".into(),
            reason: None,
        };
        let settled = settle(&policy, "acme", eval, &confirmed);
        assert_eq!(
            settled.actions,
            vec!["block".to_string()],
            "judge is not asked twice"
        );
    }

    #[test]
    fn verdict_ids_follow_the_event_and_the_policy_version() {
        let e = pasted_key_event();
        let eval = evaluate(&Policy::builtin_default(), &e, None);
        let a = verdict(&e, &eval, None, Decision::Evaluated, None, "v1");
        assert_eq!(
            a.verdict_id,
            verdict(&e, &eval, None, Decision::Evaluated, None, "v1").verdict_id
        );
        assert_ne!(
            a.verdict_id,
            verdict(&e, &eval, None, Decision::Evaluated, None, "v2").verdict_id
        );
    }
}
