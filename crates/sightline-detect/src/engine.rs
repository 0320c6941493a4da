use std::collections::HashMap;
use std::sync::Arc;

use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;
use regex_automata::{meta, Anchored, Input};
use serde::Serialize;

use crate::keywords::{Hit, Keywords};
use crate::redact::PLACEHOLDER_OPEN;
use crate::rule::Rule;
use crate::validate;
use crate::{
    Allowlist, Category, Error, FingerprintKey, ProductionConfig, Result, RuleSpec, Validator,
};

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
    keywords: Option<Keywords>,
    /// For each keyword: its length, and the rules it triggers.
    keyword_rules: Vec<(usize, Vec<usize>)>,
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
                return Err(Error::Rule {
                    rule: spec.id,
                    message: "duplicate rule id".into(),
                });
            }
            rules.push(Rule::compile(spec)?);
        }

        let mut by_keyword: HashMap<String, Vec<usize>> = HashMap::new();
        let mut keywordless_rules = vec![];
        for (i, rule) in rules.iter().enumerate() {
            if rule.spec.keywords.is_empty() {
                keywordless_rules.push(i);
            }
            for k in &rule.spec.keywords {
                let entry = by_keyword.entry(k.to_ascii_lowercase()).or_default();
                if !entry.contains(&i) {
                    entry.push(i);
                }
            }
        }
        let mut by_keyword: Vec<(String, Vec<usize>)> = by_keyword.into_iter().collect();
        by_keyword.sort();
        let patterns: Vec<String> = by_keyword.iter().map(|(k, _)| k.clone()).collect();
        let keyword_rules = by_keyword
            .into_iter()
            .map(|(k, rules)| (k.len(), rules))
            .collect();
        let keywords = if patterns.is_empty() {
            None
        } else {
            Some(Keywords::new(&patterns)?)
        };
        let keywordless = if keywordless_rules.is_empty() {
            None
        } else {
            let pats: Vec<&str> = keywordless_rules
                .iter()
                .map(|i| rules[*i].spec.pattern.as_str())
                .collect();
            Some(
                meta::Builder::new()
                    .syntax(syntax::Config::new().unicode(false).utf8(false))
                    .build_many(&pats)
                    .map_err(|e| Error::Rule {
                        rule: "<keyword-less set>".into(),
                        message: e.to_string(),
                    })?,
            )
        };
        Ok(Self {
            rules,
            keywords,
            keyword_rules,
            keywordless,
            keywordless_rules,
        })
    }

    /// The rules, in order.
    pub fn rules(&self) -> impl Iterator<Item = &RuleSpec> {
        self.rules.iter().map(|r| &r.spec)
    }

    /// Every finding in `text`, ordered by position. `key` fingerprints values; `allow` drops
    /// accepted ones.
    pub fn scan(&self, text: &str, key: &FingerprintKey, allow: &Allowlist) -> Vec<Finding> {
        let mut candidates: Vec<(usize, usize, usize)> = vec![];
        let mut scratch = Scratch::default();
        if let Some(keywords) = &self.keywords {
            let mut hits: Vec<Hit> = vec![];
            keywords.find_all(text.as_bytes(), &mut hits);
            for hit in hits {
                let (len, rules) = &self.keyword_rules[hit.keyword];
                let at = hit.start;
                for &r in rules {
                    let rule = &self.rules[r];
                    let state = scratch.of(r, rule);
                    let we = ceil_boundary(text, (at + rule.spec.after.max(*len)).min(text.len()));
                    if rule.anchored {
                        let caps = &mut state.caps;
                        collect(rule, r, text, at, we, Anchored::Yes, caps, &mut candidates);
                        continue;
                    }
                    let ws = floor_boundary(text, at.saturating_sub(rule.spec.before));
                    if state.window.is_some_and(|(ls, le)| ws >= ls && we <= le) {
                        continue;
                    }
                    state.window = Some((ws, we));
                    let caps = &mut state.caps;
                    collect(rule, r, text, ws, we, Anchored::No, caps, &mut candidates);
                }
            }
        }
        if let Some(dfa) = &self.keywordless {
            for (ws, we) in digit_windows(text) {
                let mut input = Input::new(text).range(ws..we);
                while let Some(m) = dfa.search(&input) {
                    let vs = floor_boundary(text, m.start().saturating_sub(2).max(ws));
                    let ve = ceil_boundary(text, (m.end() + 2).min(we));
                    for &r in &self.keywordless_rules {
                        let rule = &self.rules[r];
                        let caps = &mut scratch.of(r, rule).caps;
                        collect(rule, r, text, vs, ve, Anchored::No, caps, &mut candidates);
                    }
                    if m.end() >= we {
                        break;
                    }
                    input.set_start(m.end().max(m.start() + 1));
                }
            }
        }
        if candidates.is_empty() {
            return vec![];
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
            let example =
                value.contains("EXAMPLE") || rule.spec.examples.iter().any(|x| x == value);
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

/// Per-scan state of the rules that have run: usually a handful, so found by a linear search.
#[derive(Default)]
struct Scratch {
    rules: Vec<RuleScratch>,
}

struct RuleScratch {
    rule: usize,
    caps: Captures,
    /// The last window searched unanchored; a window inside it is skipped.
    window: Option<(usize, usize)>,
}

impl Scratch {
    fn of(&mut self, r: usize, rule: &Rule) -> &mut RuleScratch {
        let i = self
            .rules
            .iter()
            .position(|s| s.rule == r)
            .unwrap_or_else(|| {
                self.rules.push(RuleScratch {
                    rule: r,
                    caps: rule.regex.create_captures(),
                    window: None,
                });
                self.rules.len() - 1
            });
        &mut self.rules[i]
    }
}

/// Runs `rule` over `text[ws..we]` (or once, anchored at `ws`), keeping values that pass its
/// validators. A match whose value fails is retried from just after its start, so a near miss
/// cannot hide a real value that overlaps it (`credential=db_password = "…"`).
#[allow(clippy::too_many_arguments)]
fn collect(
    rule: &Rule,
    r: usize,
    text: &str,
    ws: usize,
    we: usize,
    anchored: Anchored,
    caps: &mut Captures,
    out: &mut Vec<(usize, usize, usize)>,
) {
    let mut input = Input::new(text).range(ws..we).anchored(anchored);
    loop {
        rule.regex.search_captures(&input, caps);
        let Some(whole) = caps.get_match() else { break };
        let value = rule
            .secret_group
            .and_then(|g| caps.get_group(g))
            .unwrap_or(whole.span());
        if value.start < value.end && passes(rule, text, value.start, value.end) {
            out.push((value.start, value.end, r));
            if anchored == Anchored::Yes {
                break;
            }
            input.set_start(whole.end().max(whole.start() + 1));
        } else {
            if anchored == Anchored::Yes {
                break;
            }
            input.set_start(ceil_boundary(text, whole.start().max(value.start) + 1));
        }
        if input.start() >= we {
            break;
        }
    }
}

/// Position of the first ASCII digit at or after `from`, skipping eight bytes at a time.
fn next_digit(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while i + 8 <= b.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&b[i..i + 8]);
        // Digits become 0..=9 after xor with '0'; flag bytes below 10 (may over-report).
        let t = u64::from_le_bytes(word) ^ (ONES * u64::from(b'0'));
        if t.wrapping_sub(ONES * 10) & !t & HIGHS != 0 {
            if let Some(p) = b[i..i + 8].iter().position(u8::is_ascii_digit) {
                return Some(i + p);
            }
        }
        i += 8;
    }
    b[i..].iter().position(u8::is_ascii_digit).map(|p| i + p)
}

/// Windows around clusters of ASCII digits. Every keyword-less rule (cards, phones, SSNs,
/// IBANs, IP addresses) is mostly digits: clusters with fewer than 4 digits, or with more
/// letters than half their digits (base64, hex ids, words), are skipped, so prose and blobs
/// cost one byte scan. Windows start and end at token boundaries.
fn digit_windows(text: &str) -> Vec<(usize, usize)> {
    const BEFORE: usize = 40;
    const AFTER: usize = 12;
    const GAP: usize = 8;
    let b = text.as_bytes();
    let is_alnum = |i: usize| b[i].is_ascii_alphanumeric();
    let mut out: Vec<(usize, usize)> = vec![];
    let mut i = 0;
    while let Some(first) = next_digit(b, i) {
        let (mut last, mut digits, mut letters) = (first, 1usize, 0usize);
        let mut j = first + 1;
        while j < b.len() && j - last <= GAP {
            if b[j].is_ascii_digit() {
                last = j;
                digits += 1;
            } else if b[j].is_ascii_alphabetic() {
                letters += 1;
            }
            j += 1;
        }
        i = last + 1;
        // Letters counted after the last digit belong to the next token.
        letters -= b[last + 1..j]
            .iter()
            .filter(|c| c.is_ascii_alphabetic())
            .count();
        if digits < 4 || letters * 2 > digits {
            if i >= b.len() {
                break;
            }
            continue;
        }
        let mut ws = first.saturating_sub(BEFORE);
        while ws > 0 && is_alnum(ws - 1) && first - ws < BEFORE + 64 {
            ws -= 1;
        }
        let mut we = (last + AFTER).min(b.len());
        while we < b.len() && is_alnum(we) && we - last < AFTER + 64 {
            we += 1;
        }
        // Include the separator on each side: patterns match their left and right context,
        // and `^`/`$` only match at the ends of the whole text.
        let (ws, we) = (
            floor_boundary(text, ws.saturating_sub(1)),
            ceil_boundary(text, (we + 1).min(b.len())),
        );
        match out.last_mut() {
            Some(prev) if ws <= prev.1 => prev.1 = prev.1.max(we),
            _ => out.push((ws, we)),
        }
        if i >= b.len() {
            break;
        }
    }
    out
}

/// Whether the value at `text[start..end]` passes `rule`'s checks.
fn passes(rule: &Rule, text: &str, start: usize, end: usize) -> bool {
    let value = &text[start..end];
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
        Validator::LiteralValue => validate::literal_value(text, start, end),
    })
}

/// Spans of `[REDACTED:…]` placeholders already in the text.
fn placeholder_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = vec![];
    let mut from = 0;
    while let Some(i) = text[from..].find(PLACEHOLDER_OPEN) {
        let start = from + i;
        let end = text[start..]
            .find(']')
            .map_or(text.len(), |j| start + j + 1);
        spans.push((start, end));
        from = end;
    }
    spans
}

/// The char boundary at or before byte `i` of `text`.
pub fn floor_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The char boundary at or after byte `i` of `text`.
pub fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}
