//! `incidents.toml`: the usual sections, the rules' defaults under `[rules]`, and per-tenant
//! and per-user overrides under `[tenants.<tenant>.rules]` and
//! `[tenants.<tenant>.users.<user>.rules]`. Overrides are merged key by key over the level
//! above, so a tenant sets only what differs.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use figment::providers::Serialized;
use figment::value::Dict;
use figment::Figment;
use serde::{Deserialize, Serialize};
use sightline_events::{IncidentSeverity, RegistryConfig};
use sightline_kafka::{KafkaConfig, TopicsConfig};
use sightline_policy::PolicySection;
use sightline_runtime::{Problem, Validate};
use sightline_stage::StageSection;

/// The incidents processor's config file, overridable by `SIGHTLINE__…` env vars.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentsConfig {
    /// `[kafka]`
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// `[topics]`
    #[serde(default)]
    pub topics: TopicsConfig,
    /// `[schema_registry]`
    #[serde(default)]
    pub schema_registry: RegistryConfig,
    /// `[stage]`
    #[serde(default)]
    pub stage: StageSection,
    /// `[policy]`: commands' notes are scanned and redacted with it, with the deployment's
    /// fingerprint key (required: a redaction shows a fingerprint prefix).
    #[serde(default)]
    pub policy: PolicySection,
    /// `[incidents]`
    #[serde(default)]
    pub incidents: IncidentsSection,
    /// `[rules]`: every tenant's rules unless overridden.
    #[serde(default)]
    pub rules: Rules,
    /// `[tenants.<tenant>]`: overrides.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantSection>,
}

/// `[incidents]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentsSection {
    /// How often the config file is checked for changed rules (SIGHUP reloads at once).
    #[serde(default = "default_poll", with = "humantime_serde")]
    pub config_poll: Duration,
    /// How far behind the newest event of a partition an event may arrive and still be
    /// counted in its windows; each kind of window state is kept this much longer than it is
    /// needed.
    #[serde(default = "default_lateness", with = "humantime_serde")]
    pub allowed_lateness: Duration,
}

fn default_poll() -> Duration {
    Duration::from_secs(2)
}

fn default_lateness() -> Duration {
    Duration::from_secs(600)
}

impl Default for IncidentsSection {
    fn default() -> Self {
        Self {
            config_poll: default_poll(),
            allowed_lateness: default_lateness(),
        }
    }
}

/// `[tenants.<tenant>]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSection {
    /// Rule keys that differ from `[rules]`.
    #[serde(default)]
    pub rules: Dict,
    /// `[tenants.<tenant>.users.<user>]`
    #[serde(default)]
    pub users: BTreeMap<String, UserSection>,
}

/// `[tenants.<tenant>.users.<user>]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSection {
    /// Keys of the per-user rules that differ from the tenant's.
    #[serde(default)]
    pub rules: Dict,
}

/// Every rule's settings. See the README's incidents section for what each one does.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// A CRITICAL verdict opens an incident per finding fingerprint.
    #[serde(default)]
    pub critical_verdict: CriticalVerdict,
    /// Repeated WARNING verdicts from one user.
    #[serde(default)]
    pub repeated_warnings: RepeatedWarnings,
    /// A tenant's failure rate.
    #[serde(default)]
    pub failure_rate: FailureRate,
    /// Consecutive slow calls of a tenant.
    #[serde(default)]
    pub slow_calls: SlowCalls,
    /// A tenant's daily budget.
    #[serde(default)]
    pub tenant_budget: TenantBudget,
    /// A user's cost over a rolling window.
    #[serde(default)]
    pub user_cost: UserCost,
    /// Personal data in a model's response.
    #[serde(default)]
    pub pii_in_response: PiiInResponse,
}

/// `[rules.critical_verdict]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriticalVerdict {
    /// On by default.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Severity for secrets (credentials, keys, tokens).
    #[serde(default = "critical")]
    pub secret_severity: IncidentSeverity,
    /// Severity for every other category (production access…).
    #[serde(default = "high")]
    pub severity: IncidentSeverity,
}

impl Default for CriticalVerdict {
    fn default() -> Self {
        Self {
            enabled: true,
            secret_severity: IncidentSeverity::Critical,
            severity: IncidentSeverity::High,
        }
    }
}

/// `[rules.repeated_warnings]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatedWarnings {
    /// On by default.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// WARNING verdicts that open the incident.
    #[serde(default = "three")]
    pub count: u32,
    /// Within this much event time.
    #[serde(default = "hour", with = "humantime_serde")]
    pub window: Duration,
    /// MEDIUM by default.
    #[serde(default = "medium")]
    pub severity: IncidentSeverity,
}

impl Default for RepeatedWarnings {
    fn default() -> Self {
        Self {
            enabled: true,
            count: 3,
            window: hour(),
            severity: IncidentSeverity::Medium,
        }
    }
}

/// `[rules.failure_rate]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureRate {
    /// On by default.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Opens when failed calls exceed this share of the window's calls.
    #[serde(default = "five")]
    pub above_percent: f64,
    /// Sliding event-time window.
    #[serde(default = "five_minutes", with = "humantime_serde")]
    pub window: Duration,
    /// Fewer calls than this in the window never open it (one failure of two is not an outage).
    #[serde(default = "twenty")]
    pub min_calls: u32,
    /// HIGH by default.
    #[serde(default = "high")]
    pub severity: IncidentSeverity,
}

impl Default for FailureRate {
    fn default() -> Self {
        Self {
            enabled: true,
            above_percent: 5.0,
            window: five_minutes(),
            min_calls: 20,
            severity: IncidentSeverity::High,
        }
    }
}

/// `[rules.slow_calls]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowCalls {
    /// On by default.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Opens when more than this many calls in a row (per tenant and model) are slow.
    #[serde(default = "ten")]
    pub more_than: u32,
    /// A call is slow when its total latency exceeds this.
    #[serde(default = "ten_seconds", with = "humantime_serde")]
    pub slower_than: Duration,
    /// MEDIUM by default.
    #[serde(default = "medium")]
    pub severity: IncidentSeverity,
}

impl Default for SlowCalls {
    fn default() -> Self {
        Self {
            enabled: true,
            more_than: 10,
            slower_than: ten_seconds(),
            severity: IncidentSeverity::Medium,
        }
    }
}

/// `[rules.tenant_budget]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantBudget {
    /// The tenant's budget per UTC day in USD; 0 means none (the rule is off).
    #[serde(default)]
    pub daily_usd: f64,
    /// Above this share of the budget: a HIGH COST incident.
    #[serde(default = "one_fifty")]
    pub high_percent: f64,
    /// Above this share: the incident becomes CRITICAL.
    #[serde(default = "two_hundred")]
    pub critical_percent: f64,
}

impl Default for TenantBudget {
    fn default() -> Self {
        Self {
            daily_usd: 0.0,
            high_percent: 150.0,
            critical_percent: 200.0,
        }
    }
}

/// `[rules.user_cost]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserCost {
    /// A user's limit in USD over `window`; 0 means none (the rule is off).
    #[serde(default)]
    pub limit_usd: f64,
    /// Rolling event-time window.
    #[serde(default = "day", with = "humantime_serde")]
    pub window: Duration,
    /// HIGH by default.
    #[serde(default = "high")]
    pub severity: IncidentSeverity,
}

impl Default for UserCost {
    fn default() -> Self {
        Self {
            limit_usd: 0.0,
            window: day(),
            severity: IncidentSeverity::High,
        }
    }
}

/// `[rules.pii_in_response]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiInResponse {
    /// On by default.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// CRITICAL by default.
    #[serde(default = "critical")]
    pub severity: IncidentSeverity,
}

impl Default for PiiInResponse {
    fn default() -> Self {
        Self {
            enabled: true,
            severity: IncidentSeverity::Critical,
        }
    }
}

fn yes() -> bool {
    true
}
fn three() -> u32 {
    3
}
fn ten() -> u32 {
    10
}
fn twenty() -> u32 {
    20
}
fn five() -> f64 {
    5.0
}
fn one_fifty() -> f64 {
    150.0
}
fn two_hundred() -> f64 {
    200.0
}
fn hour() -> Duration {
    Duration::from_secs(3600)
}
fn day() -> Duration {
    Duration::from_secs(86_400)
}
fn five_minutes() -> Duration {
    Duration::from_secs(300)
}
fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}
fn medium() -> IncidentSeverity {
    IncidentSeverity::Medium
}
fn high() -> IncidentSeverity {
    IncidentSeverity::High
}
fn critical() -> IncidentSeverity {
    IncidentSeverity::Critical
}

/// The longest window a rule may use: window state is held in memory.
const MAX_WINDOW: Duration = Duration::from_secs(7 * 86_400);

/// Rules that apply to a whole tenant, so a user's table may not set them.
const TENANT_WIDE: [&str; 3] = ["failure_rate", "slow_calls", "tenant_budget"];

impl Rules {
    /// Problems with these rules, keys prefixed by `prefix` (`rules`, `tenants.acme.rules`).
    pub fn validate(&self, prefix: &str) -> Vec<Problem> {
        let mut p = Vec::new();
        let mut window = |key: &str, d: Duration| {
            if d.is_zero() || d > MAX_WINDOW {
                p.push(Problem::new(
                    format!("{prefix}.{key}"),
                    "must be longer than 0 and at most 7 days (e.g. \"1h\")",
                ));
            }
        };
        window("repeated_warnings.window", self.repeated_warnings.window);
        window("failure_rate.window", self.failure_rate.window);
        window("user_cost.window", self.user_cost.window);
        if self.slow_calls.slower_than.is_zero() {
            p.push(Problem::new(
                format!("{prefix}.slow_calls.slower_than"),
                "must be longer than 0 (e.g. \"10s\")",
            ));
        }
        for (key, n) in [
            ("repeated_warnings.count", self.repeated_warnings.count),
            ("slow_calls.more_than", self.slow_calls.more_than),
            ("failure_rate.min_calls", self.failure_rate.min_calls),
        ] {
            if n == 0 || n > 100_000 {
                p.push(Problem::new(
                    format!("{prefix}.{key}"),
                    "must be between 1 and 100000",
                ));
            }
        }
        let f = &self.failure_rate;
        if !(f.above_percent > 0.0 && f.above_percent < 100.0) {
            p.push(Problem::new(
                format!("{prefix}.failure_rate.above_percent"),
                "must be between 0 and 100 (e.g. 5.0)",
            ));
        }
        let b = &self.tenant_budget;
        for (key, v) in [
            ("tenant_budget.daily_usd", b.daily_usd),
            ("user_cost.limit_usd", self.user_cost.limit_usd),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                p.push(Problem::new(
                    format!("{prefix}.{key}"),
                    "must be 0 (no limit) or a positive amount in USD",
                ));
            }
        }
        if !(b.high_percent.is_finite() && b.high_percent > 0.0) {
            p.push(Problem::new(
                format!("{prefix}.tenant_budget.high_percent"),
                "must be a positive percentage (e.g. 150)",
            ));
        }
        if !(b.critical_percent.is_finite() && b.critical_percent > b.high_percent) {
            p.push(Problem::new(
                format!("{prefix}.tenant_budget.critical_percent"),
                "must be above tenant_budget.high_percent (e.g. 200)",
            ));
        }
        p
    }

    /// How far back each window's state is needed: the window (the budget's is a day); twice
    /// it for the failure rate and user cost, whose last decision stands for a window; none for
    /// a rule that is off.
    fn windows(&self) -> Horizons {
        let on = |enabled: bool, d: i64| if enabled { d } else { 0 };
        Horizons {
            warnings: on(
                self.repeated_warnings.enabled,
                ms(self.repeated_warnings.window),
            ),
            calls: on(
                self.failure_rate.enabled,
                ms(self.failure_rate.window).saturating_mul(2),
            ),
            tenant_costs: on(self.tenant_budget.daily_usd > 0.0, ms(day())),
            user_costs: on(
                self.user_cost.limit_usd > 0.0,
                ms(self.user_cost.window).saturating_mul(2),
            ),
            slow_runs: on(self.slow_calls.enabled, ms(SLOW_RUN_BREAK)),
        }
    }
}

/// A run of slow calls is broken by this long without a slow call.
pub const SLOW_RUN_BREAK: Duration = Duration::from_secs(3600);

/// How long, behind the newest event time of a partition, each kind of window state is kept:
/// the longest window of its rule across tenants and users (twice it for the failure rate and
/// user cost; none for a rule that is off), plus the allowed lateness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Horizons {
    /// WARNING verdicts per user.
    pub warnings: i64,
    /// Calls per tenant (failure rate).
    pub calls: i64,
    /// Costs per tenant (daily budget).
    pub tenant_costs: i64,
    /// Costs per user.
    pub user_costs: i64,
    /// Runs of slow calls.
    pub slow_runs: i64,
}

impl Horizons {
    fn max(self, o: Horizons) -> Horizons {
        Horizons {
            warnings: self.warnings.max(o.warnings),
            calls: self.calls.max(o.calls),
            tenant_costs: self.tenant_costs.max(o.tenant_costs),
            user_costs: self.user_costs.max(o.user_costs),
            slow_runs: self.slow_runs.max(o.slow_runs),
        }
    }

    fn plus(self, lateness: i64) -> Horizons {
        Horizons {
            warnings: self.warnings.saturating_add(lateness),
            calls: self.calls.saturating_add(lateness),
            tenant_costs: self.tenant_costs.saturating_add(lateness),
            user_costs: self.user_costs.saturating_add(lateness),
            slow_runs: self.slow_runs.saturating_add(lateness),
        }
    }

    /// The longest: signal ids seen and closed incidents are kept this long, so a copy that
    /// arrives while any window still holds its original is recognised.
    pub fn longest(self) -> i64 {
        [
            self.warnings,
            self.calls,
            self.tenant_costs,
            self.user_costs,
            self.slow_runs,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }
}

/// Rules resolved for every tenant and user the config names.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleBook {
    defaults: Rules,
    tenants: HashMap<String, TenantRules>,
    /// How long each kind of window state is kept behind the newest event of a partition.
    pub horizons: Horizons,
}

#[derive(Debug, Clone, PartialEq)]
struct TenantRules {
    rules: Rules,
    users: HashMap<String, Rules>,
}

fn merged(base: &Rules, overrides: &Dict, prefix: &str) -> Result<Rules, Vec<Problem>> {
    let rules: Rules = Figment::from(Serialized::defaults(base))
        .merge(Serialized::defaults(overrides))
        .extract()
        .map_err(|errors| {
            errors
                .into_iter()
                .map(|e| {
                    let key = if e.path.is_empty() {
                        prefix.to_string()
                    } else {
                        format!("{prefix}.{}", e.path.join("."))
                    };
                    Problem::new(key, e.kind.to_string())
                })
                .collect::<Vec<_>>()
        })?;
    let problems = rules.validate(prefix);
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems)
    }
}

impl RuleBook {
    /// Resolves `[rules]` and `[tenants]`, or lists every problem, each naming its key.
    pub fn build(
        defaults: &Rules,
        tenants: &BTreeMap<String, TenantSection>,
        lateness: Duration,
    ) -> Result<Self, Vec<Problem>> {
        let mut problems = defaults.validate("rules");
        let mut resolved = HashMap::new();
        let mut longest = defaults.windows();
        for (tenant, section) in tenants {
            let prefix = format!("tenants.{tenant}.rules");
            let rules = match merged(defaults, &section.rules, &prefix) {
                Ok(r) => r,
                Err(p) => {
                    problems.extend(p);
                    continue;
                }
            };
            longest = longest.max(rules.windows());
            let mut users = HashMap::new();
            for (user, u) in &section.users {
                let prefix = format!("tenants.{tenant}.users.{user}.rules");
                for key in TENANT_WIDE {
                    if u.rules.contains_key(key) {
                        problems.push(Problem::new(
                            format!("{prefix}.{key}"),
                            format!("applies to the whole tenant; set it under tenants.{tenant}.rules.{key}"),
                        ));
                    }
                }
                match merged(&rules, &u.rules, &prefix) {
                    Ok(r) => {
                        longest = longest.max(r.windows());
                        users.insert(user.clone(), r);
                    }
                    Err(p) => problems.extend(p),
                }
            }
            resolved.insert(tenant.clone(), TenantRules { rules, users });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            defaults: defaults.clone(),
            tenants: resolved,
            horizons: longest.plus(ms(lateness)),
        })
    }

    /// The rules of `tenant`'s tenant-wide checks.
    pub fn tenant(&self, tenant: &str) -> &Rules {
        self.tenants
            .get(tenant)
            .map_or(&self.defaults, |t| &t.rules)
    }

    /// The rules of `user` of `tenant`.
    pub fn user(&self, tenant: &str, user: &str) -> &Rules {
        match self.tenants.get(tenant) {
            Some(t) => t.users.get(user).unwrap_or(&t.rules),
            None => &self.defaults,
        }
    }
}

/// Milliseconds of `d`, saturating.
pub fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl IncidentsConfig {
    /// The rule book of this config (valid once [`Validate::validate`] found no problem).
    pub fn rule_book(&self) -> Result<RuleBook, Vec<Problem>> {
        RuleBook::build(&self.rules, &self.tenants, self.incidents.allowed_lateness)
    }
}

impl Validate for IncidentsConfig {
    fn validate(&self) -> Vec<Problem> {
        let mut p = self.kafka.validate("kafka");
        p.extend(self.topics.validate("topics"));
        p.extend(self.schema_registry.validate("schema_registry"));
        p.extend(self.stage.validate("stage"));
        p.extend(self.policy.validate("policy", true));
        if self.incidents.config_poll.is_zero() {
            p.push(Problem::new(
                "incidents.config_poll",
                "must be longer than 0 (e.g. \"2s\")",
            ));
        }
        if let Err(problems) = self.rule_book() {
            p.extend(problems);
        }
        p
    }
}

/// Command-line arguments of `sightline-incidents`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "sightline-incidents",
    about = "Opens and tracks incidents (sightline.verdicts.v1, sightline.grouped.v1, sightline.incident-commands.v1 → sightline.incidents.v1; calls re-keyed by tenant through sightline.incident-signals.v1)"
)]
pub struct Args {
    /// TOML config file; every key can also be set as SIGHTLINE__SECTION__KEY. Rules and
    /// tenants are reloaded when it changes or on SIGHUP.
    #[arg(long, env = "SIGHTLINE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<IncidentsConfig, Vec<Problem>> {
        std::env::set_var("SIGHTLINE_FINGERPRINT_KEY", "example-key");
        let config: IncidentsConfig =
            Figment::from(<figment::providers::Toml as figment::providers::Format>::string(text))
                .extract()
                .map_err(|e| vec![Problem::new("parse", e.to_string())])?;
        let p = config.validate();
        if p.is_empty() {
            Ok(config)
        } else {
            Err(p)
        }
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let book = load("").expect("valid").rule_book().expect("book");
        let r = book.user("any", "one");
        assert_eq!(r.repeated_warnings.count, 3);
        assert_eq!(r.repeated_warnings.window, Duration::from_secs(3600));
        assert!((r.failure_rate.above_percent - 5.0).abs() < f64::EPSILON);
        assert_eq!(r.failure_rate.window, Duration::from_secs(300));
        assert_eq!(r.slow_calls.more_than, 10);
        assert_eq!(r.slow_calls.slower_than, Duration::from_secs(10));
        assert!((r.tenant_budget.high_percent - 150.0).abs() < f64::EPSILON);
        assert!((r.tenant_budget.critical_percent - 200.0).abs() < f64::EPSILON);
        assert_eq!(r.pii_in_response.severity, IncidentSeverity::Critical);
        assert_eq!(book.horizons.warnings, 3_600_000 + 600_000);
        assert_eq!(book.horizons.calls, 2 * 300_000 + 600_000);
        // No budget and no user limit by default: nothing is kept for a day.
        assert_eq!(book.horizons.longest(), 3_600_000 + 600_000);
        let mut with_budget = Rules::default();
        with_budget.tenant_budget.daily_usd = 10.0;
        let book = RuleBook::build(&with_budget, &BTreeMap::new(), Duration::from_secs(600))
            .expect("book");
        assert_eq!(book.horizons.longest(), 86_400_000 + 600_000);
    }

    #[test]
    fn the_example_config_is_valid_and_says_the_defaults() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/config/incidents.toml"
        );
        // The example names the usual key variable; no other test here reads it.
        std::env::set_var("SIGHTLINE_FINGERPRINT_KEY", "example-key");
        let config: IncidentsConfig =
            sightline_runtime::load(Some(std::path::Path::new(path))).expect("valid");
        assert_eq!(
            config.rules,
            Rules::default(),
            "the example lists the defaults"
        );
    }

    #[test]
    fn tenants_and_users_override_key_by_key() {
        let config = load(
            r#"
[rules.tenant_budget]
daily_usd = 100.0
[tenants.acme.rules.tenant_budget]
daily_usd = 500.0
[tenants.acme.rules.repeated_warnings]
count = 5
[tenants.acme.users.dana.rules.user_cost]
limit_usd = 20.0
window = "2h"
"#,
        )
        .expect("valid");
        let book = config.rule_book().expect("book");
        assert!((book.tenant("other").tenant_budget.daily_usd - 100.0).abs() < 1e-9);
        let acme = book.tenant("acme");
        assert!((acme.tenant_budget.daily_usd - 500.0).abs() < 1e-9);
        // Untouched keys of an overridden section keep the default.
        assert!((acme.tenant_budget.high_percent - 150.0).abs() < 1e-9);
        assert_eq!(acme.repeated_warnings.count, 5);
        assert_eq!(acme.repeated_warnings.window, Duration::from_secs(3600));
        let dana = book.user("acme", "dana");
        assert!((dana.user_cost.limit_usd - 20.0).abs() < 1e-9);
        assert_eq!(dana.user_cost.window, Duration::from_secs(7200));
        assert_eq!(
            dana.repeated_warnings.count, 5,
            "a user inherits the tenant's rules"
        );
        assert!(book.user("acme", "erin").user_cost.limit_usd.abs() < 1e-9);
    }

    #[test]
    fn every_problem_names_its_key() {
        let problems = load(
            r#"
[rules.failure_rate]
above_percent = 140.0
[tenants.acme.rules.tenant_budget]
critical_percent = 120.0
[tenants.acme.rules.slow_calls]
slower_then = "5s"
[tenants.acme.users.dana.rules.failure_rate]
above_percent = 2.0
[tenants.beta.rules.repeated_warnings]
window = "30d"
"#,
        )
        .expect_err("invalid");
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(
            keys.contains(&"rules.failure_rate.above_percent"),
            "{keys:?}"
        );
        assert!(
            keys.iter()
                .any(|k| k.starts_with("tenants.acme.rules.slow_calls")),
            "{problems:?}"
        );
        assert!(
            keys.contains(&"tenants.beta.rules.repeated_warnings.window"),
            "{keys:?}"
        );
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|t| t.contains("slower_then")),
            "the unknown key is named: {text:?}"
        );
        // acme's own problem hides its user's; fixing acme reveals the tenant-wide key.
        let problems = load("[tenants.acme.users.dana.rules.failure_rate]\nabove_percent = 2.0\n")
            .expect_err("invalid");
        assert_eq!(
            problems[0].key, "tenants.acme.users.dana.rules.failure_rate",
            "{problems:?}"
        );
    }
}
