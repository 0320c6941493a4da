use std::collections::HashMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex_automata::meta;
use regex_automata::util::syntax;
use serde::Serialize;

use crate::redact::PLACEHOLDER_OPEN;
use crate::rule::Rule;
use crate::validate;
use crate::{Allowlist, Category, Error, FingerprintKey, ProductionConfig, Result, RuleSpec, Validator};

/// One thing found in a text. Never contains the value itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Rule that matched.
    pub rule_id: Arc<str>,
    /// Its category.
    pub category: Category,
    /// Byte offset of the value.
    pub start: usize,
    /// Byte offset one past the value.
    pub end: usize,
    /// 0–1; documented examples get 0.1.
    pub confidence: f32,
    /// Hex HMAC-SHA256 of the value under the tenant's key.
    pub fingerprint: String,
    /// The value is a documented example (e.g. `AKIAIOSFODNN7EXAMPLE`).
    pub example: bool,
}

/// Compiled rules. Build once, share (it is `Send + Sync`), scan many texts.
#[derive(Debug)]
pub struct Engine {
    rules: Vec<Rule>,
    keywords: Option<AhoCorasick>,
    /// Rules to run for each keyword pattern.
    keyword_rules: Vec<Vec<usize>>,
    /// One DFA over every rule without keywords.
    keywordless: Option<meta::Regex>,
    keywordless_rules: Vec<usize>,
}

impl Engine {
    /// The built-in secret and PII rules.
    pub fn builtin() -> Result<Self> {
        Self::new(crate::builtin_rules()?)
    }

    /// Built-in rules plus the production markers of `production`.
    pub fn with_production(production: &ProductionConfig) -> Result<Self> {
        let mut specs = crate::builtin_rules()?;
        specs.extend(production.rules()?);
        Self::new(specs)
    }

    /// An engine over `specs`. Rule ids must be unique.
    pub fn new(specs: Vec<RuleSpec>) -> Result<Self> {
        let mut rules = Vec::with_capacity(specs.len());
        let mut seen = std::collections::HashSet::new();
        for spec in specs {
            if !seen.insert(spec.id.clone()) {
                return Err(Error::Rule { rule: spec.id, message: "duplicate rule id".into() });
            }
            rules.push(Rule::compile(spec)?);
        }

        let mut keyword_index: HashMap<String, usize> = HashMap::new();
        let mut keyword_rules: Vec<Vec<usize>> = vec![];
        let mut keywordless_rules = vec![];
        for (i, rule) in rules.iter().enumerate() {
            if rule.spec.keywords.is_empty() {
                keywordless_rules.push(i);
                continue;
            }
            for k in &rule.spec.keywords {
                let k = k.to_ascii_lowercase();
                let idx = *keyword_index.entry(k).or_insert_with(|| {
                    keyword_rules.push(vec![]);
                    keyword_rules.len() - 1
                });
                if !keyword_rules[idx].contains(&i) {
                    keyword_rules[idx].push(i);
                }
            }
        }
        let mut patterns: Vec<(usize, String)> = keyword_index.into_iter().map(|(k, i)| (i, k)).collect();
        patterns.sort();
        let keywords = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(patterns.iter().map(|(_, k)| k))
                    .map_err(|e| Error::Rule { rule: "<keywords>".into(), message: e.to_string() })?,
            )
        };
        let keywordless = if keywordless_rules.is_empty() {
            None
        } else {
            let pats: Vec<&str> = keywordless_rules.iter().map(|i| rules[*i].spec.pattern.as_str()).collect();
            Some(
                meta::Builder::new()
                    .syntax(syntax::Config::new().unicode(false).utf8(false))
                    .build_many(&pats)
                    .map_err(|e| Error::Rule { rule: "<keyword-less set>".into(), message: e.to_string() })?,
            )
        };
        Ok(Self { rules, keywords, keyword_rules, keywordless, keywordless_rules })
    }

    /// The rules, in order.
    pub fn rules(&self) -> impl Iterator<Item = &RuleSpec> {
        self.rules.iter().map(|r| &r.spec)
    }

    /// Every finding in `text`, ordered by position. `key` fingerprints values; `allow` drops
    /// accepted ones.
    pub fn scan(&self, text: &str, key: &FingerprintKey, allow: &Allowlist) -> Vec<Finding> {
        let mut candidates: Vec<(usize, usize, usize)> = vec![];
        if let Some(ac) = &self.keywords {
            let mut last_window: Vec<(usize, usize)> = vec![(usize::MAX, 0); self.rules.len()];
            for hit in ac.find_overlapping_iter(text) {
                for &r in &self.keyword_rules[hit.pattern().as_usize()] {
                    let rule = &self.rules[r];
                    let ws = floor_boundary(text, hit.start().saturating_sub(rule.spec.before));
                    let we = ceil_boundary(text, (hit.start() + rule.spec.after).max(hit.end()).min(text.len()));
                    let (ls, le) = last_window[r];
                    if ls != usize::MAX && ws >= ls && we <= le {
                        continue;
                    }
                    last_window[r] = (ws, we);
                    collect(rule, r, text, ws, we, &mut candidates);
                }
            }
        }
        if let Some(dfa) = &self.keywordless {
            for m in dfa.find_iter(text.as_bytes()) {
                let ws = floor_boundary(text, m.start().saturating_sub(2));
                let we = ceil_boundary(text, (m.end() + 2).min(text.len()));
                for &r in &self.keywordless_rules {
                    collect(&self.rules[r], r, text, ws, we, &mut candidates);
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let placeholders = placeholder_spans(text);
        let mut findings = Vec::with_capacity(candidates.len());
        for (start, end, r) in candidates {
            if placeholders.iter().any(|(s, e)| start < *e && *s < end) {
                continue;
            }
            let rule = &self.rules[r];
            let value = &text[start..end];
            if allow.allows_rule(&rule.spec.id) || allow.allows_value(value) {
                continue;
            }
            let fingerprint = key.fingerprint(value.as_bytes());
            if allow.allows_fingerprint(&fingerprint) {
                continue;
            }
            let example = value.contains("EXAMPLE") || rule.spec.examples.iter().any(|x| x == value);
            findings.push(Finding {
                rule_id: rule.id.clone(),
                category: rule.spec.category,
                start,
                end,
                confidence: if example { 0.1 } else { rule.spec.confidence },
                fingerprint,
                example,
            });
        }
        findings
    }
}

/// Runs `rule` over `text[ws..we]`, keeping values that pass its validators. A match whose
/// value fails is retried from just after its start, so a near miss cannot hide a real value
/// that overlaps it (`credential=db_password = "…"`).
fn collect(rule: &Rule, r: usize, text: &str, ws: usize, we: usize, out: &mut Vec<(usize, usize, usize)>) {
    let hay = &text[ws..we];
    let mut at = 0;
    while at <= hay.len() {
        let Some(caps) = rule.regex.captures_at(hay, at) else { break };
        let Some(whole) = caps.get(0) else { break };
        let value = rule.secret_group.and_then(|g| caps.get(g)).unwrap_or(whole);
        if value.start() < value.end() && passes(rule, value.as_str()) {
            out.push((ws + value.start(), ws + value.end(), r));
            at = whole.end().max(at + 1);
        } else {
            at = whole.start().max(value.start()) + 1;
        }
        while at < hay.len() && !hay.is_char_boundary(at) {
            at += 1;
        }
    }
}

fn passes(rule: &Rule, value: &str) -> bool {
    if let Some(min) = rule.spec.min_entropy {
        if validate::entropy(value) < min {
            return false;
        }
    }
    rule.spec.validators.iter().all(|v| match v {
        Validator::Luhn => validate::luhn(value),
        Validator::Iban => validate::iban(value),
        Validator::GithubCrc32 => validate::github_crc32(value),
        Validator::Jwt => validate::jwt(value),
        Validator::Ssn => validate::ssn(value),
        Validator::NotPlaceholder => !validate::is_placeholder(value),
    })
}

/// Spans of `[REDACTED:…]` placeholders already in the text.
fn placeholder_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = vec![];
    let mut from = 0;
    while let Some(i) = text[from..].find(PLACEHOLDER_OPEN) {
        let start = from + i;
        let end = text[start..].find(']').map_or(text.len(), |j| start + j + 1);
        spans.push((start, end));
        from = end;
    }
    spans
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}
