//! `alert.toml`: the usual sections, `[alert]`, `[policy]` and the destinations under
//! `[destinations.<name>]`. Which alerts reach which destinations is the policy's to say: a
//! verdict's tier actions (`alert:<name>`, per tenant) and `[severities.<SEVERITY>]` for
//! incidents. Secrets (webhook URLs, routing keys, signing secrets) are best set as
//! `SIGHTLINE__DESTINATIONS__<NAME>__URL` and so on; they are never printed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sightline_events::{DestinationKind, RegistryConfig};
use sightline_kafka::{KafkaConfig, TopicsConfig};
use sightline_policy::PolicySection;
use sightline_runtime::{Problem, Validate};
use sightline_stage::StageSection;

use crate::alert::Label;

/// The alert processor's config file, overridable by `SIGHTLINE__…` env vars.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
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
    /// `[alert]`
    #[serde(default)]
    pub alert: AlertSection,
    /// `[policy]`: its `[severities]` route incidents (verdicts carry their tier's actions);
    /// every destination it names must be configured here.
    #[serde(default)]
    pub policy: PolicySection,
    /// `[destinations.<name>]`
    #[serde(default)]
    pub destinations: BTreeMap<String, Destination>,
}

/// `[alert]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSection {
    /// The dashboard's base URL: messages link to `<base>/users/<user>`,
    /// `<base>/conversations/<id>` and `<base>/incidents/<id>`.
    #[serde(default = "default_dashboard_url")]
    pub dashboard_url: String,
    /// PagerDuty's `payload.source`.
    #[serde(default = "default_source")]
    pub source: String,
}

fn default_dashboard_url() -> String {
    "http://localhost:8000/dashboard".into()
}

fn default_source() -> String {
    "sightline".into()
}

impl Default for AlertSection {
    fn default() -> Self {
        Self {
            dashboard_url: default_dashboard_url(),
            source: default_source(),
        }
    }
}

/// A value that is never printed: a webhook URL carries its token, a routing key pages.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// The destination kinds as written in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Slack incoming webhook.
    Slack,
    /// PagerDuty Events API v2.
    Pagerduty,
    /// A generic endpoint, HMAC-signed.
    Webhook,
}

impl Kind {
    /// The Avro kind.
    pub fn avro(self) -> DestinationKind {
        match self {
            Kind::Slack => DestinationKind::Slack,
            Kind::Pagerduty => DestinationKind::Pagerduty,
            Kind::Webhook => DestinationKind::Webhook,
        }
    }
}

/// `[destinations.<name>]`: where messages go, how alerts are grouped for it, its rate
/// limit, retries and templates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// `slack`, `pagerduty` or `webhook`.
    pub kind: Kind,
    /// The webhook URL (Slack's carries its token), or PagerDuty's events endpoint.
    #[serde(default)]
    pub url: Secret,
    /// PagerDuty: the integration's routing key.
    #[serde(default)]
    pub routing_key: Secret,
    /// Webhook: the HMAC-SHA256 signing secret (at least 32 characters).
    #[serde(default)]
    pub secret: Secret,
    /// Labels alerts are grouped by: `tenant`, `user`, `team`, `rule`, `category`,
    /// `conversation`, `level`.
    #[serde(default = "default_group_by")]
    pub group_by: Vec<Label>,
    /// How long a new group collects alerts before its first message.
    #[serde(default = "default_group_wait", with = "humantime_serde")]
    pub group_wait: Duration,
    /// `group_wait` for a group holding a CRITICAL alert.
    #[serde(default, with = "humantime_serde")]
    pub critical_group_wait: Duration,
    /// How long after a message a group's next message waits, collecting what arrives.
    #[serde(default = "default_group_interval", with = "humantime_serde")]
    pub group_interval: Duration,
    /// How often an incident that is still open and unacknowledged is notified again.
    #[serde(default = "default_repeat_interval", with = "humantime_serde")]
    pub repeat_interval: Duration,
    /// Messages (PagerDuty: events) per minute; 60 for Slack, 120 for PagerDuty, 600 for
    /// webhooks by default.
    #[serde(default)]
    pub per_minute: Option<u32>,
    /// How many may go at once within the rate; 3 for Slack, 10 for PagerDuty, 20 for
    /// webhooks by default.
    #[serde(default)]
    pub burst: Option<u32>,
    /// Attempts per message before it is dead-lettered.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Timeout of one attempt.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Longest wait between attempts; a longer `Retry-After` is cut to it.
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Message templates per level (minijinja); the defaults carry what on-call needs.
    #[serde(default)]
    pub templates: Templates,
}

/// `[destinations.<name>.templates]`: one template per level; each renders one group's text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    /// CRITICAL verdicts and incidents.
    pub critical: Option<String>,
    /// WARNING verdicts, HIGH and MEDIUM incidents.
    pub warning: Option<String>,
    /// INFO verdicts, LOW and INFO incidents.
    pub info: Option<String>,
}

fn default_group_by() -> Vec<Label> {
    vec![Label::Tenant, Label::Rule, Label::User]
}

fn default_group_wait() -> Duration {
    Duration::from_secs(30)
}

fn default_group_interval() -> Duration {
    Duration::from_secs(300)
}

fn default_repeat_interval() -> Duration {
    Duration::from_secs(4 * 3600)
}

fn default_attempts() -> u32 {
    5
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}

/// The longest a message may take to give up, and the longest one batch's messages may take
/// together (past it, what still fails is dead-lettered): the stage waits for them, and Kafka
/// evicts a consumer that does not poll for five minutes.
pub const MAX_DELIVERY_TIME: Duration = Duration::from_secs(240);

impl Destination {
    /// Messages per minute.
    pub fn per_minute(&self) -> u32 {
        self.per_minute.unwrap_or(match self.kind {
            Kind::Slack => 60,
            Kind::Pagerduty => 120,
            Kind::Webhook => 600,
        })
    }

    /// Burst within the rate.
    pub fn burst(&self) -> u32 {
        self.burst.unwrap_or(match self.kind {
            Kind::Slack => 3,
            Kind::Pagerduty => 10,
            Kind::Webhook => 20,
        })
    }
}

impl Validate for AlertConfig {
    fn validate(&self) -> Vec<Problem> {
        let mut p = self.kafka.validate("kafka");
        p.extend(self.topics.validate("topics"));
        p.extend(self.schema_registry.validate("schema_registry"));
        p.extend(self.stage.validate("stage"));
        if !self.alert.dashboard_url.starts_with("http://")
            && !self.alert.dashboard_url.starts_with("https://")
        {
            p.push(Problem::new(
                "alert.dashboard_url",
                "must be an http:// or https:// URL, e.g. \"https://sightline.example.com/dashboard\"",
            ));
        }
        if self.destinations.is_empty() {
            p.push(Problem::new(
                "destinations",
                "no destination is configured; add [destinations.<name>] with kind = \"slack\", \"pagerduty\" or \"webhook\"",
            ));
        }
        for (name, d) in &self.destinations {
            p.extend(validate_destination(&format!("destinations.{name}"), d));
        }
        p.extend(self.policy.validate("policy", false));
        p.extend(crate::render::Renderer::check(self));
        p
    }
}

impl AlertConfig {
    /// Problems with `policy`: every destination it alerts must be configured here.
    pub fn check_policy(&self, policy: &sightline_policy::Policy) -> Vec<Problem> {
        policy
            .alert_destinations()
            .into_iter()
            .filter(|(name, _)| !self.destinations.contains_key(name))
            .map(|(name, key)| {
                Problem::new(
                    format!("destinations.{name}"),
                    format!(
                        "the policy's {key} alerts '{name}', which is not configured; add [destinations.{name}] or remove alert:{name} from the policy"
                    ),
                )
            })
            .collect()
    }
}

fn validate_destination(key: &str, d: &Destination) -> Vec<Problem> {
    let mut p = vec![];
    let url = d.url.0.as_str();
    match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "https" && u.host().is_some() => {}
        // Plain HTTP only to this machine: a Slack URL carries its token.
        Ok(u) if u.scheme() == "http"
            && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => {}
        _ => p.push(Problem::new(
            format!("{key}.url"),
            "must be an https:// URL (http:// only to 127.0.0.1 or localhost); set it in the file or as SIGHTLINE__DESTINATIONS__<NAME>__URL; the value is not shown",
        )),
    }
    match d.kind {
        Kind::Pagerduty if d.routing_key.0.trim().is_empty() => p.push(Problem::new(
            format!("{key}.routing_key"),
            "is required for PagerDuty: the integration key of the service to page",
        )),
        Kind::Webhook if d.secret.0.len() < 32 => p.push(Problem::new(
            format!("{key}.secret"),
            "must be at least 32 characters: receivers verify each message's HMAC-SHA256 signature with it",
        )),
        _ => {}
    }
    if d.group_by.is_empty() {
        p.push(Problem::new(
            format!("{key}.group_by"),
            "is empty; group by at least one label, e.g. [\"tenant\", \"rule\", \"user\"]",
        ));
    }
    if d.group_interval.is_zero() {
        p.push(Problem::new(
            format!("{key}.group_interval"),
            "must be longer than 0 (e.g. \"5m\")",
        ));
    }
    if d.repeat_interval < d.group_interval {
        p.push(Problem::new(
            format!("{key}.repeat_interval"),
            "must be at least group_interval",
        ));
    }
    if d.per_minute() == 0 {
        p.push(Problem::new(
            format!("{key}.per_minute"),
            "must be at least 1",
        ));
    }
    if d.burst() == 0 {
        p.push(Problem::new(format!("{key}.burst"), "must be at least 1"));
    }
    if d.kind == Kind::Pagerduty && d.burst() < 3 {
        p.push(Problem::new(
            format!("{key}.burst"),
            "must be at least 3 for PagerDuty: an incident's trigger, acknowledge and resolve may go together",
        ));
    }
    let worst = d
        .timeout
        .checked_add(d.max_backoff)
        .and_then(|each| each.checked_mul(d.attempts.max(1)))
        .unwrap_or(Duration::MAX);
    if worst > MAX_DELIVERY_TIME {
        p.push(Problem::new(
            format!("{key}.attempts"),
            format!(
                "attempts × (timeout + max_backoff) is {}s; keep it under {}s (the stage waits for a message, and Kafka evicts a consumer that does not poll for five minutes): lower attempts, timeout or max_backoff",
                worst.as_secs().min(u64::from(u32::MAX)),
                MAX_DELIVERY_TIME.as_secs()
            ),
        ));
    }
    if d.attempts == 0 {
        p.push(Problem::new(
            format!("{key}.attempts"),
            "must be at least 1",
        ));
    }
    if d.timeout.is_zero() {
        p.push(Problem::new(
            format!("{key}.timeout"),
            "must be longer than 0 (e.g. \"10s\")",
        ));
    }
    p
}

/// Command-line arguments of `sightline-alert`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "sightline-alert",
    about = "Sends alerts (sightline.verdicts.v1, sightline.incidents.v1 → Slack, PagerDuty, webhooks; outcomes → sightline.notifications.v1)"
)]
pub struct Args {
    /// TOML config file; every key can also be set as SIGHTLINE__SECTION__KEY.
    #[arg(long, env = "SIGHTLINE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use figment::providers::{Format, Toml};

    pub(crate) fn parse(text: &str) -> AlertConfig {
        figment::Figment::from(Toml::string(text))
            .extract()
            .expect("parses")
    }

    const GOOD: &str = r#"
[destinations.oncall]
kind = "slack"
url = "https://hooks.slack.test/services/T0/B0/secret-token"
critical_group_wait = "0s"

[destinations.pager]
kind = "pagerduty"
url = "https://events.pagerduty.test/v2/enqueue"
routing_key = "R0UTINGKEY"
"#;

    #[test]
    fn a_good_config_has_no_problems_and_never_prints_its_secrets() {
        let c = parse(GOOD);
        assert_eq!(c.validate(), vec![]);
        let printed = format!("{c:?}");
        assert!(!printed.contains("secret-token"), "{printed}");
        assert!(!printed.contains("R0UTINGKEY"), "{printed}");
        assert_eq!(c.destinations["oncall"].per_minute(), 60);
        assert_eq!(c.destinations["pager"].per_minute(), 120);
    }

    #[test]
    fn every_problem_names_its_key() {
        let c = parse(
            r#"
[alert]
dashboard_url = "ftp://x"

[destinations.pager]
kind = "pagerduty"
url = "not a url"
per_minute = 0
burst = 2
attempts = 10
group_interval = "0s"

[destinations.hook]
kind = "webhook"
url = "http://receiver.test/hook"
secret = "short"

[destinations.hook.templates]
critical = "{{ usr }}"
warning = "{% if %}"
"#,
        );
        let keys: Vec<String> = c.validate().into_iter().map(|p| p.key).collect();
        for key in [
            "alert.dashboard_url",
            "destinations.pager.url",
            "destinations.pager.routing_key",
            "destinations.pager.per_minute",
            "destinations.pager.burst",
            "destinations.pager.attempts",
            "destinations.pager.group_interval",
            "destinations.hook.url",
            "destinations.hook.secret",
            "destinations.hook.templates.critical",
            "destinations.hook.templates.warning",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
        }
    }

    #[test]
    fn the_documented_config_is_valid_and_configures_what_the_documented_policy_alerts() {
        let c = parse(include_str!("../../../docs/config/alert.toml"));
        assert_eq!(c.validate(), vec![]);
        let policy = sightline_policy::Policy::parse(
            include_str!("../../../docs/config/policy.toml"),
            "policy.toml",
        )
        .expect("the documented policy");
        assert_eq!(c.check_policy(&policy), vec![]);
        // A policy that alerts a destination nobody configured is refused, naming both.
        let mut c = parse(GOOD);
        c.destinations.remove("oncall");
        let problems = c.check_policy(&policy);
        assert!(
            problems.iter().any(|p| p.key == "destinations.oncall_slack"
                && p.message.contains("tiers.CRITICAL.actions")),
            "{problems:?}"
        );
    }
}
