//! Production-access markers come from policy, not code: hosts, kube contexts, database DSNs
//! and cloud account ids are turned into rules here.

use serde::{Deserialize, Serialize};

use crate::allow::glob_to_regex;
use crate::{Category, Result, RuleSpec};

/// `[production]` in the policy file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductionConfig {
    /// Host globs, e.g. `*.prod.internal`, `db-prod-*.acme.com`.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Kubernetes context globs, e.g. `prod-*`, matched after `--context`, `use-context` or
    /// `context:`.
    #[serde(default)]
    pub kube_contexts: Vec<String>,
    /// AWS account ids (12 digits).
    #[serde(default)]
    pub aws_account_ids: Vec<String>,
    /// Any other marker.
    #[serde(default)]
    pub patterns: Vec<CustomPattern>,
}

/// A policy-defined production marker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    /// Rule id (`production-` is prefixed when missing).
    pub id: String,
    /// What it means.
    #[serde(default)]
    pub description: String,
    /// Regex.
    pub pattern: String,
    /// Literals that must occur; empty runs the pattern over the whole text.
    #[serde(default)]
    pub keywords: Vec<String>,
}

fn longest_literal(glob: &str) -> String {
    glob.split(['*', '?'])
        .max_by_key(|s| s.len())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn spec(id: &str, description: &str, keywords: Vec<String>, pattern: String) -> RuleSpec {
    RuleSpec {
        id: id.into(),
        description: description.into(),
        category: Category::Production,
        keywords,
        pattern,
        before: 0,
        after: 512,
        validators: vec![],
        min_entropy: None,
        confidence: 0.8,
        examples: vec![],
        tp: vec![],
        fp: vec![],
        r#gen: None,
    }
}

impl ProductionConfig {
    /// Whether nothing is configured.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
            && self.kube_contexts.is_empty()
            && self.aws_account_ids.is_empty()
            && self.patterns.is_empty()
    }

    /// The rules this config defines.
    pub fn rules(&self) -> Result<Vec<RuleSpec>> {
        let mut out = vec![];
        let host_star = "[A-Za-z0-9.-]*";
        if !self.hosts.is_empty() {
            let alts: Vec<String> = self
                .hosts
                .iter()
                .map(|h| glob_to_regex(h, host_star))
                .collect();
            let hosts = alts.join("|");
            let mut keywords: Vec<String> = self
                .hosts
                .iter()
                .map(|h| longest_literal(h))
                .filter(|k| !k.is_empty())
                .collect();
            keywords.dedup();
            let mut host = spec(
                "production-host",
                "Production host named in the text",
                keywords.clone(),
                format!(r"(?i)(?-u:\b)(?P<secret>{hosts})(?-u:\b)"),
            );
            host.before = 256;
            out.push(host);
            let mut dsn = spec(
                "production-dsn",
                "Database or broker DSN pointing at a production host",
                vec!["://".into()],
                format!(
                    r"(?i)(?P<secret>\b[a-z][a-z0-9+.-]*://(?:[^\s/@]+@)?(?:{hosts})(?::\d+)?(?:/[^\s]*)?)"
                ),
            );
            dsn.before = 32;
            dsn.after = 1024;
            out.push(dsn);
        }
        if !self.kube_contexts.is_empty() {
            let alts: Vec<String> = self
                .kube_contexts
                .iter()
                .map(|c| glob_to_regex(c, "[A-Za-z0-9._:/-]*"))
                .collect();
            let mut kube = spec(
                "production-kube-context",
                "Kubernetes production context",
                vec!["context".into()],
                format!(
                    r#"(?i)(?:--context[= ]|use-context\s+|context:\s*)["']?(?P<secret>(?:{}))(?-u:\b)"#,
                    alts.join("|")
                ),
            );
            // The keyword `context` sits inside `--context` / `use-context`.
            kube.before = 16;
            out.push(kube);
        }
        if !self.aws_account_ids.is_empty() {
            let ids: Vec<String> = self
                .aws_account_ids
                .iter()
                .map(|i| regex::escape(i.trim()))
                .collect();
            out.push(spec(
                "production-aws-account",
                "Production AWS account id",
                self.aws_account_ids
                    .iter()
                    .map(|i| i.trim().to_string())
                    .collect(),
                format!(r"(?-u:\b)(?P<secret>{})(?-u:\b)", ids.join("|")),
            ));
        }
        for p in &self.patterns {
            let id = if p.id.starts_with("production-") {
                p.id.clone()
            } else {
                format!("production-{}", p.id)
            };
            out.push(spec(
                &id,
                &p.description,
                p.keywords.clone(),
                p.pattern.clone(),
            ));
        }
        Ok(out)
    }
}
