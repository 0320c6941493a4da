//! Allowlists: findings that are known and accepted are dropped before anyone sees them.

use std::collections::HashSet;

use crate::{Error, Result};

/// Turns a glob (`*` any run of characters, `?` one character) into an anchored-free regex body.
pub fn glob_to_regex(glob: &str, star: &str) -> String {
    let mut out = String::with_capacity(glob.len() * 2);
    for c in glob.chars() {
        match c {
            '*' => out.push_str(star),
            '?' => out.push('.'),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out
}

/// Findings to drop: by rule id (globs), by value fingerprint, or by value regex.
#[derive(Debug, Default, Clone)]
pub struct Allowlist {
    rules: Option<regex::RegexSet>,
    fingerprints: HashSet<String>,
    values: Option<regex::RegexSet>,
}

impl Allowlist {
    /// An allowlist. `rules` are rule-id globs, `values` regexes matched against the whole
    /// value (not logged anywhere).
    pub fn new(rules: &[String], fingerprints: &[String], values: &[String]) -> Result<Self> {
        let rule_res: Vec<String> = rules
            .iter()
            .map(|g| format!("^{}$", glob_to_regex(g, ".*")))
            .collect();
        let rules = if rule_res.is_empty() {
            None
        } else {
            Some(regex::RegexSet::new(&rule_res).map_err(|e| Error::Rule {
                rule: "allowlist.rules".into(),
                message: e.to_string(),
            })?)
        };
        let values = if values.is_empty() {
            None
        } else {
            let anchored: Vec<String> = values.iter().map(|v| format!("^(?:{v})$")).collect();
            Some(regex::RegexSet::new(&anchored).map_err(|e| Error::Rule {
                rule: "allowlist.values".into(),
                message: e.to_string(),
            })?)
        };
        Ok(Self {
            rules,
            fingerprints: fingerprints
                .iter()
                .map(|f| f.to_ascii_lowercase())
                .collect(),
            values,
        })
    }

    /// Merges `other` into `self` (tenant overrides add to the global list).
    pub fn extend(&mut self, other: &Allowlist) {
        self.fingerprints.extend(other.fingerprints.iter().cloned());
        let merge = |a: &Option<regex::RegexSet>, b: &Option<regex::RegexSet>| match (a, b) {
            (Some(a), Some(b)) => {
                regex::RegexSet::new(a.patterns().iter().chain(b.patterns())).ok()
            }
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        self.rules = merge(&self.rules, &other.rules);
        self.values = merge(&self.values, &other.values);
    }

    /// Whether findings of `rule_id` are dropped.
    pub fn allows_rule(&self, rule_id: &str) -> bool {
        self.rules.as_ref().is_some_and(|s| s.is_match(rule_id))
    }

    /// Whether `value` is allowlisted by regex.
    pub fn allows_value(&self, value: &str) -> bool {
        self.values.as_ref().is_some_and(|s| s.is_match(value))
    }

    /// Whether a value with this fingerprint is allowlisted.
    pub fn allows_fingerprint(&self, fingerprint: &str) -> bool {
        !self.fingerprints.is_empty() && self.fingerprints.contains(fingerprint)
    }
}
