//! The policy file format and its compiled form.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sightline_detect::allow::glob_to_regex;
use sightline_detect::{Allowlist, Category, Engine, FingerprintKey, ProductionConfig};
use toml::Spanned;

use crate::{Error, Result};

/// Escalation tier, ordered INFO < WARNING < CRITICAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Tier {
    /// Logged.
    Info,
    /// Logged and shown on the dashboard.
    Warning,
    /// Alerts at once.
    Critical,
}

impl Tier {
    /// `INFO`, `WARNING`, `CRITICAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Info => "INFO",
            Tier::Warning => "WARNING",
            Tier::Critical => "CRITICAL",
        }
    }

    /// Parses `INFO`, `WARNING` or `CRITICAL`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "INFO" => Some(Tier::Info),
            "WARNING" => Some(Tier::Warning),
            "CRITICAL" => Some(Tier::Critical),
            _ => None,
        }
    }
}

/// Incident severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

/// What happens to a call at a tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// The request never reaches upstream; the client gets an explanation.
    Block,
    /// Findings are replaced by placeholders before the request goes on.
    Redact,
    /// Notify a destination.
    Alert {
        /// Destination name.
        destination: String,
    },
    /// Open an incident.
    Incident {
        /// Severity.
        severity: Severity,
        /// Category, e.g. `credentials`.
        category: String,
    },
    /// Ask an LLM judge for a second opinion.
    Judge,
}

impl std::fmt::Display for Action {
    /// The policy file's spelling: `block`, `redact`, `judge`, `alert:<destination>`,
    /// `incident:<severity>/<category>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Block => f.write_str("block"),
            Action::Redact => f.write_str("redact"),
            Action::Judge => f.write_str("judge"),
            Action::Alert { destination } => write!(f, "alert:{destination}"),
            Action::Incident { severity, category } => {
                let severity = match severity {
                    Severity::Low => "low",
                    Severity::Medium => "medium",
                    Severity::High => "high",
                    Severity::Critical => "critical",
                };
                write!(f, "incident:{severity}/{category}")
            }
        }
    }
}

impl Action {
    fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "block" => return Ok(Action::Block),
            "redact" => return Ok(Action::Redact),
            "judge" => return Ok(Action::Judge),
            _ => {}
        }
        if let Some(dest) = s.strip_prefix("alert:") {
            return if is_name(dest) {
                Ok(Action::Alert {
                    destination: dest.into(),
                })
            } else {
                Err(format!(
                    "'{s}': a destination name is non-empty [A-Za-z0-9_-], as configured under [destinations.<name>] of the alert processor"
                ))
            };
        }
        if let Some(rest) = s.strip_prefix("incident:") {
            let (sev, category) = rest.split_once('/').ok_or_else(|| {
                format!(
                    "'{s}': write incident:<severity>/<category>, e.g. incident:high/credentials"
                )
            })?;
            let severity = match sev {
                "low" => Severity::Low,
                "medium" => Severity::Medium,
                "high" => Severity::High,
                "critical" => Severity::Critical,
                other => {
                    return Err(format!(
                        "incident severity '{other}' must be low, medium, high or critical"
                    ))
                }
            };
            if category.is_empty()
                || !category
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "incident category '{category}' must be non-empty [a-z0-9_-]"
                ));
            }
            return Ok(Action::Incident {
                severity,
                category: category.into(),
            });
        }
        Err(format!("unknown action '{s}'; use block, redact, judge, alert:<destination> or incident:<severity>/<category>"))
    }
}

/// Whether `s` is a name: non-empty `[A-Za-z0-9_-]`.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Incident severities, as incidents name them.
pub const SEVERITIES: &[&str] = &["INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"];

// ---------- raw file format ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Spanned<u32>,
    #[serde(default)]
    default_tier: Option<Spanned<String>>,
    #[serde(default)]
    examples_tier: Option<Spanned<String>>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    tiers: RawTiers,
    #[serde(default)]
    severities: BTreeMap<String, Spanned<RawSeverity>>,
    #[serde(default)]
    allowlist: RawAllowlist,
    #[serde(default)]
    production: ProductionConfig,
    #[serde(default)]
    tenants: BTreeMap<String, RawTenant>,
    #[serde(default)]
    judge: Option<Spanned<RawJudge>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJudge {
    url: String,
    #[serde(default = "default_judge_timeout_ms")]
    timeout_ms: u64,
    #[serde(default)]
    fallback_tier: Option<String>,
}

fn default_judge_timeout_ms() -> u64 {
    2_000
}

/// `[judge]`: the external judge a tier with the `judge` action asks for a second opinion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgeConfig {
    /// Endpoint that receives `POST` with the redacted text and the findings.
    pub url: String,
    /// How long to wait for its answer.
    pub timeout: std::time::Duration,
    /// The tier when it fails or times out; `None` keeps the tier the policy decided.
    pub fallback_tier: Option<Tier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    #[serde(rename = "match")]
    matcher: RawMatch,
    tier: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    #[serde(default)]
    category: Option<Spanned<String>>,
    #[serde(default)]
    rule: Option<Spanned<String>>,
    #[serde(default)]
    min_confidence: Option<Spanned<f32>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTiers {
    #[serde(rename = "INFO", default)]
    info: Option<RawTier>,
    #[serde(rename = "WARNING", default)]
    warning: Option<RawTier>,
    #[serde(rename = "CRITICAL", default)]
    critical: Option<RawTier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    #[serde(default)]
    actions: Vec<Spanned<String>>,
}

/// `[severities.<SEVERITY>]`: what an incident of that severity does (only `alert:` actions).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeverity {
    #[serde(default)]
    actions: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAllowlist {
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    fingerprints: Vec<String>,
    #[serde(default)]
    values: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    tiers: RawTiers,
    #[serde(default)]
    severities: BTreeMap<String, Spanned<RawSeverity>>,
    #[serde(default)]
    allowlist: RawAllowlist,
    #[serde(default)]
    production: ProductionConfig,
}

// ---------- compiled ----------

/// One mapping from findings to a tier.
#[derive(Debug, Clone)]
pub(crate) struct MatchRule {
    pub name: String,
    pub category: Option<Category>,
    pub rule: Option<regex::Regex>,
    pub min_confidence: f32,
    pub tier: Tier,
}

/// Actions of one tier.
#[derive(Debug, Clone, Default)]
pub(crate) struct TierSpec {
    pub actions: Vec<Action>,
}

/// The policy as it applies to one tenant (global merged with the tenant's overrides).
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub rules: Vec<MatchRule>,
    pub tiers: HashMap<Tier, TierSpec>,
    /// Destinations alerted per incident severity.
    pub severities: HashMap<String, Vec<String>>,
    pub allowlist: Allowlist,
    pub engine: Arc<Engine>,
}

/// A loaded, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) default_tier: Tier,
    pub(crate) examples_tier: Tier,
    pub(crate) global: Scope,
    pub(crate) tenants: HashMap<String, Scope>,
    pub(crate) judge: Option<JudgeConfig>,
    pub(crate) version: String,
}

struct Problems<'a> {
    text: &'a str,
    list: Vec<String>,
}

impl Problems<'_> {
    fn at(&mut self, span: std::ops::Range<usize>, key: &str, message: impl std::fmt::Display) {
        let line = self.text[..span.start.min(self.text.len())]
            .matches('\n')
            .count()
            + 1;
        self.list.push(format!("line {line}: {key}: {message}"));
    }
}

impl Policy {
    /// Reads and validates a policy file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The built-in default: secrets CRITICAL (block, redact), production WARNING, PII INFO.
    pub fn builtin_default() -> Self {
        #[allow(clippy::expect_used)]
        Self::parse(DEFAULT_POLICY, "<built-in default policy>")
            .expect("the built-in policy is valid")
    }

    /// Parses and validates policy text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let invalid = |problems: Vec<String>| Error::Invalid {
            path: origin.into(),
            problems,
        };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let msg = e.message().to_string();
            invalid(vec![match line {
                Some(l) => format!("line {l}: {msg}"),
                None => msg,
            }])
        })?;
        let mut p = Problems { text, list: vec![] };
        if *raw.version.get_ref() != 1 {
            p.at(
                raw.version.span(),
                "version",
                "only version = 1 is supported",
            );
        }
        let tier_of =
            |p: &mut Problems<'_>, s: &Option<Spanned<String>>, key: &str, default: Tier| match s {
                None => default,
                Some(s) => Tier::parse(s.get_ref()).unwrap_or_else(|| {
                    p.at(
                        s.span(),
                        key,
                        format!(
                            "'{}' is not a tier; use INFO, WARNING or CRITICAL",
                            s.get_ref()
                        ),
                    );
                    default
                }),
            };
        let default_tier = tier_of(&mut p, &raw.default_tier, "default_tier", Tier::Info);
        let examples_tier = tier_of(&mut p, &raw.examples_tier, "examples_tier", Tier::Info);

        let judge = raw.judge.as_ref().and_then(|j| {
            let raw_judge = j.get_ref();
            let parsed = url_ok(&raw_judge.url);
            if !parsed {
                p.at(j.span(), "judge.url", format!("'{}' is not an http(s) URL", raw_judge.url));
            }
            if raw_judge.timeout_ms == 0 || raw_judge.timeout_ms > 60_000 {
                p.at(j.span(), "judge.timeout_ms", "must be between 1 and 60000");
            }
            let fallback_tier = match &raw_judge.fallback_tier {
                None => None,
                Some(t) => match Tier::parse(t) {
                    Some(t) => Some(t),
                    None => {
                        p.at(j.span(), "judge.fallback_tier", format!("'{t}' is not a tier; use INFO, WARNING or CRITICAL, or leave it out to keep the policy's tier"));
                        None
                    }
                },
            };
            parsed.then(|| JudgeConfig {
                url: raw_judge.url.clone(),
                timeout: std::time::Duration::from_millis(raw_judge.timeout_ms),
                fallback_tier,
            })
        });

        let production = raw.production.clone();
        let global_rules = compile_rules(&mut p, &raw.rules, "rules");
        let global_tiers = compile_tiers(&mut p, &raw.tiers, "tiers");
        let global_severities = compile_severities(&mut p, &raw.severities, "severities");
        let global_allow = compile_allowlist(&mut p, &raw.allowlist, "allowlist");
        let engine = build_engine(&mut p, &production, "production");

        let mut tenants = HashMap::new();
        for (tenant, t) in &raw.tenants {
            let prefix = format!("tenants.{tenant}");
            let mut rules = compile_rules(&mut p, &t.rules, &format!("{prefix}.rules"));
            rules.extend(global_rules.iter().cloned());
            let mut tiers = global_tiers.clone();
            for (tier, spec) in compile_tiers(&mut p, &t.tiers, &format!("{prefix}.tiers")) {
                tiers.insert(tier, spec);
            }
            let mut severities = global_severities.clone();
            severities.extend(compile_severities(
                &mut p,
                &t.severities,
                &format!("{prefix}.severities"),
            ));
            let mut allowlist = global_allow.clone();
            allowlist.extend(&compile_allowlist(
                &mut p,
                &t.allowlist,
                &format!("{prefix}.allowlist"),
            ));
            let engine = if t.production.is_empty() {
                engine.clone()
            } else {
                let mut merged = production.clone();
                merged.hosts.extend(t.production.hosts.iter().cloned());
                merged
                    .kube_contexts
                    .extend(t.production.kube_contexts.iter().cloned());
                merged
                    .aws_account_ids
                    .extend(t.production.aws_account_ids.iter().cloned());
                merged
                    .patterns
                    .extend(t.production.patterns.iter().cloned());
                build_engine(&mut p, &merged, &format!("{prefix}.production"))
            };
            tenants.insert(
                tenant.clone(),
                Scope {
                    rules,
                    tiers,
                    severities,
                    allowlist,
                    engine,
                },
            );
        }
        let asks_judge = std::iter::once(&global_tiers)
            .chain(tenants.values().map(|s: &Scope| &s.tiers))
            .flat_map(|t| t.values())
            .any(|spec| spec.actions.contains(&Action::Judge));
        if asks_judge && raw.judge.is_none() {
            p.list.push("judge: a tier has the `judge` action but there is no [judge] section; add [judge] url = \"http://...\"".into());
        }
        if !p.list.is_empty() {
            return Err(invalid(p.list));
        }
        let version = {
            use sha2::{Digest, Sha256};
            hex::encode(&Sha256::digest(text.as_bytes())[..6])
        };
        Ok(Self {
            judge,
            version,
            default_tier,
            examples_tier,
            global: Scope {
                rules: global_rules,
                tiers: global_tiers,
                severities: global_severities,
                allowlist: global_allow,
                engine,
            },
            tenants,
        })
    }

    /// The detection engine for `tenant` (built-in rules plus its production markers).
    pub fn engine(&self, tenant: &str) -> &Engine {
        &self.scope(tenant).engine
    }

    /// The allowlist for `tenant`.
    pub fn allowlist(&self, tenant: &str) -> &Allowlist {
        &self.scope(tenant).allowlist
    }

    /// The judge, when the policy configures one.
    pub fn judge(&self) -> Option<&JudgeConfig> {
        self.judge.as_ref()
    }

    /// The actions of `tier` for `tenant`.
    pub fn actions_for(&self, tier: Tier, tenant: &str) -> Vec<Action> {
        self.scope(tenant)
            .tiers
            .get(&tier)
            .map(|spec| spec.actions.clone())
            .unwrap_or_default()
    }

    /// The policy's version: the first 12 hex digits of the sha256 of its text. Verdicts name
    /// it, so a replay under another policy is told apart.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The destinations alerted for an incident of `severity` (`INFO` … `CRITICAL`) of
    /// `tenant`.
    pub fn severity_alerts(&self, severity: &str, tenant: &str) -> &[String] {
        self.scope(tenant)
            .severities
            .get(severity)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Every destination the policy alerts, with the key that names it first
    /// (`tiers.CRITICAL.actions`, `tenants.acme.severities.HIGH.actions`…), so the alert
    /// processor can check at start that each is configured.
    pub fn alert_destinations(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut tenants: Vec<_> = self.tenants.iter().collect();
        tenants.sort_by_key(|(t, _)| *t);
        let scopes = std::iter::once(("".to_string(), &self.global)).chain(
            tenants
                .into_iter()
                .map(|(t, s)| (format!("tenants.{t}."), s)),
        );
        for (prefix, scope) in scopes {
            let mut tiers: Vec<_> = scope.tiers.iter().collect();
            tiers.sort_by_key(|(tier, _)| std::cmp::Reverse(**tier));
            for (tier, spec) in tiers {
                for a in &spec.actions {
                    if let Action::Alert { destination } = a {
                        out.entry(destination.clone())
                            .or_insert_with(|| format!("{prefix}tiers.{}.actions", tier.as_str()));
                    }
                }
            }
            let mut severities: Vec<_> = scope.severities.iter().collect();
            severities.sort();
            for (severity, dests) in severities {
                for d in dests {
                    out.entry(d.clone())
                        .or_insert_with(|| format!("{prefix}severities.{severity}.actions"));
                }
            }
        }
        out
    }

    /// Scans `text` for `tenant` with its engine, allowlist and a key derived from `master_key`.
    pub fn scan(
        &self,
        text: &str,
        tenant: &str,
        master_key: &[u8],
    ) -> Vec<sightline_detect::Finding> {
        self.scan_keyed(
            text,
            tenant,
            &FingerprintKey::for_tenant(master_key, tenant),
        )
    }

    /// [`scan`](Self::scan) with the tenant's key already derived, for callers that scan
    /// several texts of one call.
    pub fn scan_keyed(
        &self,
        text: &str,
        tenant: &str,
        key: &FingerprintKey,
    ) -> Vec<sightline_detect::Finding> {
        let scope = self.scope(tenant);
        scope.engine.scan(text, key, &scope.allowlist)
    }

    pub(crate) fn scope(&self, tenant: &str) -> &Scope {
        self.tenants.get(tenant).unwrap_or(&self.global)
    }
}

fn url_ok(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

fn compile_rules(p: &mut Problems<'_>, raw: &[RawRule], key: &str) -> Vec<MatchRule> {
    let mut out = vec![];
    for (i, r) in raw.iter().enumerate() {
        let k = format!("{key}[{i}] ({})", r.name.get_ref());
        let tier = match Tier::parse(r.tier.get_ref()) {
            Some(t) => t,
            None => {
                p.at(
                    r.tier.span(),
                    &format!("{k}.tier"),
                    format!(
                        "'{}' is not a tier; use INFO, WARNING or CRITICAL",
                        r.tier.get_ref()
                    ),
                );
                continue;
            }
        };
        let category = match &r.matcher.category {
            None => None,
            Some(c) => match c.get_ref().as_str() {
                "secret" => Some(Category::Secret),
                "pii" => Some(Category::Pii),
                "production" => Some(Category::Production),
                other => {
                    p.at(
                        c.span(),
                        &format!("{k}.match.category"),
                        format!("'{other}' is not a category; use secret, pii or production"),
                    );
                    continue;
                }
            },
        };
        let rule = match &r.matcher.rule {
            None => None,
            Some(g) => {
                match regex::Regex::new(&format!("^{}$", glob_to_regex(g.get_ref(), ".*"))) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        p.at(g.span(), &format!("{k}.match.rule"), e);
                        continue;
                    }
                }
            }
        };
        let min_confidence = match &r.matcher.min_confidence {
            Some(c) if !(0.0..=1.0).contains(c.get_ref()) => {
                p.at(
                    c.span(),
                    &format!("{k}.match.min_confidence"),
                    "must be within 0.0..=1.0",
                );
                continue;
            }
            Some(c) => *c.get_ref(),
            None => 0.0,
        };
        if category.is_none() && rule.is_none() {
            p.at(
                r.name.span(),
                &format!("{k}.match"),
                "matches everything; set category and/or rule",
            );
        }
        out.push(MatchRule {
            name: r.name.get_ref().clone(),
            category,
            rule,
            min_confidence,
            tier,
        });
    }
    out
}

fn compile_tiers(p: &mut Problems<'_>, raw: &RawTiers, key: &str) -> HashMap<Tier, TierSpec> {
    let mut out = HashMap::new();
    for (tier, spec) in [
        (Tier::Info, &raw.info),
        (Tier::Warning, &raw.warning),
        (Tier::Critical, &raw.critical),
    ] {
        let Some(spec) = spec else { continue };
        let k = format!("{key}.{}", tier.as_str());
        let mut actions = vec![];
        for a in &spec.actions {
            match Action::parse(a.get_ref()) {
                Ok(action) => actions.push(action),
                Err(message) => p.at(a.span(), &format!("{k}.actions"), message),
            }
        }
        out.insert(tier, TierSpec { actions });
    }
    out
}

fn compile_severities(
    p: &mut Problems<'_>,
    raw: &BTreeMap<String, Spanned<RawSeverity>>,
    key: &str,
) -> HashMap<String, Vec<String>> {
    let mut out = HashMap::new();
    for (severity, spec) in raw {
        let k = format!("{key}.{severity}");
        if !SEVERITIES.contains(&severity.as_str()) {
            p.at(
                spec.span(),
                &k,
                format!(
                    "'{severity}' is not an incident severity; use {}",
                    SEVERITIES.join(", ")
                ),
            );
            continue;
        }
        let mut dests = vec![];
        for a in &spec.get_ref().actions {
            match Action::parse(a) {
                Ok(Action::Alert { destination }) => dests.push(destination),
                Ok(_) => p.at(
                    spec.span(),
                    &format!("{k}.actions"),
                    format!("'{a}': an incident severity only takes alert:<destination> actions"),
                ),
                Err(message) => p.at(spec.span(), &format!("{k}.actions"), message),
            }
        }
        out.insert(severity.clone(), dests);
    }
    out
}

fn compile_allowlist(p: &mut Problems<'_>, raw: &RawAllowlist, key: &str) -> Allowlist {
    for v in &raw.values {
        if let Err(e) = regex::Regex::new(v.get_ref()) {
            p.at(v.span(), &format!("{key}.values"), e);
        }
    }
    let values: Vec<String> = raw.values.iter().map(|v| v.get_ref().clone()).collect();
    Allowlist::new(&raw.rules, &raw.fingerprints, &values).unwrap_or_else(|e| {
        p.list.push(format!("{key}: {e}"));
        Allowlist::default()
    })
}

fn build_engine(p: &mut Problems<'_>, production: &ProductionConfig, key: &str) -> Arc<Engine> {
    match Engine::with_production(production) {
        Ok(e) => Arc::new(e),
        Err(e) => {
            p.list.push(format!("{key}: {e}"));
            Arc::new(
                Engine::new(vec![])
                    .unwrap_or_else(|_| unreachable!("an empty engine always builds")),
            )
        }
    }
}

/// Used when no policy file is given.
pub const DEFAULT_POLICY: &str = r#"
version = 1
default_tier = "INFO"
examples_tier = "INFO"

[[rules]]
name = "credentials"
match = { category = "secret", min_confidence = 0.5 }
tier = "CRITICAL"

[[rules]]
name = "low-confidence-secrets"
match = { category = "secret" }
tier = "WARNING"

[[rules]]
name = "production-access"
match = { category = "production" }
tier = "WARNING"

[[rules]]
name = "personal-data"
match = { category = "pii" }
tier = "INFO"

[tiers.CRITICAL]
actions = ["block", "redact", "incident:high/credentials"]

[tiers.WARNING]
actions = ["redact"]

[tiers.INFO]
actions = []
"#;
