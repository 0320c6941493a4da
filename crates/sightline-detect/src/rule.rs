//! Rule definitions. Built-in rules live in `rules/*.toml`, compiled into the crate.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What kind of thing a rule finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Credentials and keys.
    Secret,
    /// Personal data.
    Pii,
    /// Production hosts, contexts, DSNs, accounts.
    Production,
}

impl Category {
    /// `secret`, `pii` or `production`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Secret => "secret",
            Category::Pii => "pii",
            Category::Production => "production",
        }
    }
}

/// A check that the matched value must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Validator {
    /// Luhn checksum (payment cards).
    Luhn,
    /// ISO 13616 mod-97 (IBAN).
    Iban,
    /// GitHub token CRC32.
    GithubCrc32,
    /// JWT structure.
    Jwt,
    /// US SSN valid ranges.
    Ssn,
    /// Not a template or placeholder (`${X}`, `<token>`, `changeme`…).
    NotPlaceholder,
    /// A literal (quoted, or a bare token), not code: a call, a field access, a variable, an
    /// environment reference or a URL without a password.
    LiteralValue,
}

/// One rule as written in a rule file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable id, e.g. `aws-access-key-id`.
    pub id: String,
    /// What it finds.
    pub description: String,
    /// Category.
    #[serde(default = "default_category")]
    pub category: Category,
    /// Literals (ASCII, case-insensitive) that must occur for the rule to run; empty means the
    /// rule runs in the keyword-less pass over the whole text.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Regular expression; a group named `secret` marks the value, else the whole match.
    pub pattern: String,
    /// Bytes before a keyword hit where a match may start.
    #[serde(default)]
    pub before: usize,
    /// Bytes after a keyword hit where a match may end.
    #[serde(default = "default_after")]
    pub after: usize,
    /// Validators the value must pass.
    #[serde(default)]
    pub validators: Vec<Validator>,
    /// Minimum Shannon entropy (bits/char) of the value.
    #[serde(default)]
    pub min_entropy: Option<f64>,
    /// Confidence of a validated match, 0–1.
    #[serde(default = "default_confidence")]
    pub confidence: f32,
    /// Documented example values: reported as examples, with low confidence.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Texts the rule must find (tested).
    #[serde(default)]
    pub tp: Vec<String>,
    /// Texts the rule must not find (tested).
    #[serde(default)]
    pub fp: Vec<String>,
    /// Template for generated true positives in the quality corpus.
    #[serde(default)]
    pub r#gen: Option<String>,
}

fn default_category() -> Category {
    Category::Secret
}

fn default_after() -> usize {
    256
}

fn default_confidence() -> f32 {
    0.9
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rule: Vec<RuleSpec>,
}

const BUILTIN: &[(&str, &str)] = &[
    ("rules/secrets.toml", include_str!("../rules/secrets.toml")),
    ("rules/pii.toml", include_str!("../rules/pii.toml")),
];

/// Parses a rule file.
pub fn parse_rules(file: &str, text: &str) -> Result<Vec<RuleSpec>> {
    let parsed: RuleFile = toml::from_str(text).map_err(|e| Error::RuleFile {
        file: file.into(),
        message: e.to_string(),
    })?;
    Ok(parsed.rule)
}

/// Every built-in rule (secrets and PII).
pub fn builtin_rules() -> Result<Vec<RuleSpec>> {
    let mut all = vec![];
    for (file, text) in BUILTIN {
        all.extend(parse_rules(file, text)?);
    }
    Ok(all)
}

/// A rule ready to run.
#[derive(Debug)]
pub(crate) struct Rule {
    pub spec: RuleSpec,
    pub id: std::sync::Arc<str>,
    pub regex: regex_automata::meta::Regex,
    pub secret_group: Option<usize>,
    /// The match starts at the keyword: search anchored at each hit instead of a window.
    pub anchored: bool,
}

impl Rule {
    pub fn compile(spec: RuleSpec) -> Result<Self> {
        let err = |message: String| Error::Rule {
            rule: spec.id.clone(),
            message,
        };
        if spec.id.is_empty()
            || !spec
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(err("id must be lowercase ascii, digits and '-'".into()));
        }
        if spec.keywords.iter().any(|k| k.is_empty() || !k.is_ascii()) {
            return Err(err("keywords must be non-empty ASCII".into()));
        }
        if !(0.0..=1.0).contains(&spec.confidence) {
            return Err(err("confidence must be within 0..=1".into()));
        }
        let regex = regex_automata::meta::Builder::new()
            .configure(regex_automata::meta::Config::new().nfa_size_limit(Some(8 << 20)))
            .build(&spec.pattern)
            .map_err(|e| err(format!("invalid pattern: {e}")))?;
        let secret_group = regex
            .group_info()
            .to_index(regex_automata::PatternID::ZERO, "secret");
        let anchored = spec.before == 0 && !spec.keywords.is_empty();
        Ok(Self {
            id: spec.id.as_str().into(),
            spec,
            regex,
            secret_group,
            anchored,
        })
    }
}
