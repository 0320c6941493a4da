//! Pure evaluation: `(findings, context) -> Verdict`.

use serde::Serialize;
use sightline_detect::Finding;

use crate::{Action, Policy, Tier};

/// Who and where a call came from.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// Tenant; selects tenant overrides.
    pub tenant: &'a str,
    /// User.
    pub user: &'a str,
    /// Team, when known.
    pub team: Option<&'a str>,
}

/// The decision for one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Highest tier of any finding; `None` when nothing was found.
    pub tier: Option<Tier>,
    /// The actions of that tier.
    pub actions: Vec<Action>,
    /// Policy rules that matched at least one finding, in policy order.
    pub matched_rules: Vec<String>,
    /// The tier of each finding, in input order.
    pub finding_tiers: Vec<Tier>,
}

impl Verdict {
    /// Whether the call must not reach upstream.
    pub fn blocks(&self) -> bool {
        self.actions.contains(&Action::Block)
    }

    /// Whether findings must be redacted before the text goes anywhere.
    pub fn redacts(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::Redact | Action::Block))
    }
}

impl Policy {
    /// The tier of one finding for `tenant` and the name of the policy rule that set it.
    pub fn tier_of(&self, finding: &Finding, tenant: &str) -> (Tier, Option<&str>) {
        if finding.example {
            return (self.examples_tier, None);
        }
        let scope = self.scope(tenant);
        for rule in &scope.rules {
            let category_ok = rule.category.is_none_or(|c| c == finding.category);
            let rule_ok = rule
                .rule
                .as_ref()
                .is_none_or(|re| re.is_match(&finding.rule_id));
            if category_ok && rule_ok && finding.confidence >= rule.min_confidence {
                return (rule.tier, Some(&rule.name));
            }
        }
        (self.default_tier, None)
    }

    /// Evaluates findings for a call.
    pub fn evaluate(&self, findings: &[Finding], ctx: &Context<'_>) -> Verdict {
        let mut tier: Option<Tier> = None;
        let mut matched_rules: Vec<String> = vec![];
        let mut finding_tiers = Vec::with_capacity(findings.len());
        for f in findings {
            let (t, rule) = self.tier_of(f, ctx.tenant);
            finding_tiers.push(t);
            tier = tier.max(Some(t));
            if let Some(name) = rule {
                if !matched_rules.iter().any(|m| m == name) {
                    matched_rules.push(name.to_string());
                }
            }
        }
        let actions = tier
            .and_then(|t| self.scope(ctx.tenant).tiers.get(&t))
            .map(|spec| spec.actions.clone())
            .unwrap_or_default();
        Verdict {
            tier,
            actions,
            matched_rules,
            finding_tiers,
        }
    }
}
