//! Messages: each destination's templates (minijinja, strict, checked at start) render one
//! group's text; the payload builders wrap the texts in Slack's Block Kit, PagerDuty Events
//! API v2 or the signed webhook's JSON, within each service's limits. Pure.

use std::collections::BTreeSet;

use minijinja::{Environment, UndefinedBehavior};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Serialize;
use serde_json::{json, Value};
use sightline_events::{AlertRecord, AlertSource, IncidentAction};
use sightline_runtime::Problem;

use crate::alert::Level;
use crate::config::{AlertConfig, Destination, Kind};
use crate::groups::Cover;

/// Slack: most blocks in a message.
pub const SLACK_MAX_BLOCKS: usize = 50;
/// Slack: most characters in a section's text.
pub const SLACK_MAX_SECTION: usize = 3000;
/// Slack: most characters in a header.
pub const SLACK_MAX_HEADER: usize = 150;
/// PagerDuty: most characters in `payload.summary`.
pub const PAGERDUTY_MAX_SUMMARY: usize = 1024;
/// PagerDuty: most characters in a `dedup_key`.
pub const PAGERDUTY_MAX_DEDUP_KEY: usize = 255;

/// The default text of a group, for Slack (mrkdwn, a link Slack shows as a button-like link).
pub const SLACK_TEMPLATE: &str = concat!(
    include_str!("templates/headline.j2"),
    "\n*{{ level }}* · tenant {{ tenant }}{% if team %} · team {{ team }}{% endif %} · {{ count }} alert{% if count != 1 %}s{% endif %}{% if occurrences %} · {{ occurrences }} occurrences{% endif %}\n",
    "*Rules:* {{ rules | join(\", \") }}\n",
    "{% if conversation_id %}*Conversation:* {{ conversation_id }}\n{% endif %}",
    "<{{ link }}|Open in Sightline>"
);

/// The default text of a group for PagerDuty and webhooks (plain text).
pub const PLAIN_TEMPLATE: &str = concat!(
    include_str!("templates/headline.j2"),
    "\n{{ level }} · tenant {{ tenant }}{% if team %} · team {{ team }}{% endif %} · {{ count }} alert{% if count != 1 %}s{% endif %}{% if occurrences %} · {{ occurrences }} occurrences{% endif %}\n",
    "Rules: {{ rules | join(\", \") }}\n",
    "{% if conversation_id %}Conversation: {{ conversation_id }}\n{% endif %}",
    "{{ link }}"
);

/// What a template sees: one group's alerts, summarised. Every field is always present
/// (absent values are `none`), so strict templates fail only on a misspelt name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Context {
    /// `CRITICAL`, `HIGH`, `WARNING`… of the most serious alert.
    pub level: String,
    /// `verdict` or `incident`.
    pub source: &'static str,
    /// Tenant.
    pub tenant: String,
    /// The user, or the first few and how many more.
    pub user: String,
    /// Every user.
    pub users: Vec<String>,
    /// A team, if any alert names one.
    pub team: Option<String>,
    /// Rule ids.
    pub rules: Vec<String>,
    /// Category of the most serious alert: `secret`, `pii`, `production`, or the incident's.
    pub category: String,
    /// The conversation, when all alerts share one.
    pub conversation_id: Option<String>,
    /// Every conversation.
    pub conversations: Vec<String>,
    /// Alerts in the group.
    pub count: usize,
    /// Incident occurrences so far (0 for verdicts).
    pub occurrences: i64,
    /// The incident, when the group is one.
    pub incident_id: Option<String>,
    /// Its title.
    pub incident_title: Option<String>,
    /// Its latest action: `TRIGGER`, `UPDATE`, `ACKNOWLEDGE`, `RESOLVE`.
    pub action: Option<String>,
    /// The dashboard page to open.
    pub link: String,
    /// Earliest alert, RFC 3339.
    pub first_seen: String,
    /// Latest alert, RFC 3339.
    pub last_seen: String,
    /// A reminder of a group already notified whose incident is still open.
    pub repeat: bool,
    /// The grouping labels.
    pub group_key: String,
}

/// Variables a template may use.
const KNOWN: &[&str] = &[
    "level",
    "source",
    "tenant",
    "user",
    "users",
    "team",
    "rules",
    "category",
    "conversation_id",
    "conversations",
    "count",
    "occurrences",
    "incident_id",
    "incident_title",
    "action",
    "link",
    "first_seen",
    "last_seen",
    "repeat",
    "group_key",
];

/// One group's rendered text.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupText {
    /// Its first line.
    pub headline: String,
    /// All of it.
    pub body: String,
    /// What it was rendered from.
    pub context: Context,
    /// The most serious level.
    pub level: Level,
}

/// One group of a webhook message: what it covers, its text, its alerts with their numbers.
#[derive(Debug)]
pub struct WebhookGroup<'a> {
    /// The range covered.
    pub cover: &'a Cover,
    /// The rendered text.
    pub text: &'a GroupText,
    /// The alerts, each with its number in the group.
    pub alerts: Vec<(i64, &'a AlertRecord)>,
}

/// The templates of every destination, compiled once.
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
    kinds: Vec<Kind>,
    dashboard_url: String,
    source: String,
}

fn template_name(dest: usize, level: &str) -> String {
    format!("{dest}/{level}")
}

fn template_source(d: &Destination, level: &str) -> String {
    let custom = match level {
        "critical" => &d.templates.critical,
        "warning" => &d.templates.warning,
        _ => &d.templates.info,
    };
    custom.clone().unwrap_or_else(|| {
        match d.kind {
            Kind::Slack => SLACK_TEMPLATE,
            Kind::Pagerduty | Kind::Webhook => PLAIN_TEMPLATE,
        }
        .to_string()
    })
}

const LEVELS: [&str; 3] = ["critical", "warning", "info"];

impl Renderer {
    /// Compiles every destination's templates (in name order: the index a route uses) and
    /// checks each against a sample group. Every problem names its template's key.
    pub fn new(config: &AlertConfig) -> Result<Self, Vec<Problem>> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut problems = vec![];
        let mut kinds = vec![];
        for (i, (name, d)) in config.destinations.iter().enumerate() {
            kinds.push(d.kind);
            for level in LEVELS {
                let key = format!("destinations.{name}.templates.{level}");
                if let Err(e) =
                    env.add_template_owned(template_name(i, level), template_source(d, level))
                {
                    problems.push(Problem::new(key, format!("does not parse: {e:#}")));
                    continue;
                }
                let Ok(t) = env.get_template(&template_name(i, level)) else {
                    continue;
                };
                let mut unknown: Vec<String> = t
                    .undeclared_variables(false)
                    .into_iter()
                    .filter(|v| !KNOWN.contains(&v.as_str()))
                    .collect();
                unknown.sort();
                if !unknown.is_empty() {
                    problems.push(Problem::new(
                        key,
                        format!(
                            "uses unknown variable(s) {}; a template may use {}",
                            unknown.join(", "),
                            KNOWN.join(", ")
                        ),
                    ));
                } else if let Err(e) = t.render(sample()) {
                    problems.push(Problem::new(key, format!("fails on a sample group: {e:#}")));
                }
            }
        }
        if problems.is_empty() {
            Ok(Self {
                env,
                kinds,
                dashboard_url: config.alert.dashboard_url.trim_end_matches('/').to_string(),
                source: config.alert.source.clone(),
            })
        } else {
            Err(problems)
        }
    }

    /// The template problems of `config`, for its validation.
    pub fn check(config: &AlertConfig) -> Vec<Problem> {
        Self::new(config).err().unwrap_or_default()
    }

    /// Renders a group of destination `dest`. A template that fails on real data (it passed
    /// the sample) falls back to the default, so an alert is never lost to a template.
    pub fn group(
        &self,
        dest: usize,
        tenant: &str,
        group_key: &str,
        alerts: &[&AlertRecord],
        repeat: bool,
    ) -> GroupText {
        let slack = self.kinds.get(dest) == Some(&Kind::Slack);
        let (context, level) = self.context(tenant, group_key, alerts, repeat, slack);
        let name = template_name(dest, level.template());
        let rendered = self
            .env
            .get_template(&name)
            .and_then(|t| t.render(&context))
            .or_else(|e| {
                tracing::warn!(template = %name, error = %e, "template failed; using the default");
                let default = if slack {
                    SLACK_TEMPLATE
                } else {
                    PLAIN_TEMPLATE
                };
                self.env.render_str(default, &context)
            })
            .unwrap_or_else(|_| format!("{} alert(s) for {}", context.count, group_key));
        let body = rendered.trim().to_string();
        let headline = body.lines().next().unwrap_or_default().trim().to_string();
        GroupText {
            headline,
            body,
            context,
            level,
        }
    }

    fn context(
        &self,
        tenant: &str,
        group_key: &str,
        alerts: &[&AlertRecord],
        repeat: bool,
        slack: bool,
    ) -> (Context, Level) {
        // Slack reads `<…>` as links and mentions and `&` as an entity: values that came
        // from a request are escaped, so a user id cannot mention a channel or forge a link.
        let esc = |s: &str| {
            if slack {
                s.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            } else {
                s.to_string()
            }
        };
        let top = alerts
            .iter()
            .copied()
            .max_by_key(|a| Level::of(a))
            .or_else(|| alerts.first().copied());
        let level = top.map_or(Level::Info, Level::of);
        let distinct = |f: &dyn Fn(&AlertRecord) -> Option<&String>| -> Vec<String> {
            alerts
                .iter()
                .filter_map(|a| f(a).map(|s| esc(s)))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        let users = distinct(&|a| a.user_id.as_ref());
        let conversations = distinct(&|a| a.conversation_id.as_ref());
        let incidents = distinct(&|a| a.incident_id.as_ref());
        let rules: Vec<String> = alerts
            .iter()
            .flat_map(|a| a.rules.iter().map(|r| esc(r)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let user = match users.len() {
            0 => "-".to_string(),
            1..=3 => users.join(", "),
            n => format!("{} (+{} more)", users[..3].join(", "), n - 3),
        };
        let one = |v: &[String]| (v.len() == 1).then(|| v[0].clone());
        let incident_id = one(&incidents);
        let conversation_id = one(&conversations);
        let raw_incident = alerts.iter().find_map(|a| a.incident_id.clone());
        let raw_conversation = alerts.iter().find_map(|a| a.conversation_id.clone());
        let raw_user = alerts.iter().find_map(|a| a.user_id.clone());
        let link = if let (Some(_), Some(id)) = (&incident_id, raw_incident) {
            self.link(&["incidents", &id])
        } else if let (Some(_), Some(id)) = (&conversation_id, raw_conversation) {
            self.link(&["conversations", &id])
        } else if let (1, Some(u)) = (users.len(), raw_user) {
            self.link(&["users", &u])
        } else {
            self.dashboard_url.clone()
        };
        let seen = |ms: Option<i64>| {
            ms.and_then(|ms| u64::try_from(ms).ok())
                .map(|ms| {
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
                    )
                    .to_string()
                })
                .unwrap_or_default()
        };
        let latest_incident = alerts
            .iter()
            .rev()
            .find(|a| a.source == AlertSource::Incident);
        let context = Context {
            level: top.map_or_else(|| "INFO".into(), |a| a.level.clone()),
            source: match top.map(|a| a.source) {
                Some(AlertSource::Incident) => "incident",
                _ => "verdict",
            },
            tenant: esc(tenant),
            user,
            users,
            team: alerts.iter().find_map(|a| a.team_id.as_deref().map(&esc)),
            rules,
            category: top.map(|a| esc(&a.category)).unwrap_or_default(),
            conversation_id,
            conversations,
            count: alerts.len(),
            occurrences: alerts.iter().map(|a| a.occurrences).max().unwrap_or(0),
            incident_id,
            incident_title: latest_incident
                .and_then(|a| a.incident_title.as_deref())
                .map(&esc),
            action: latest_incident
                .and_then(|a| a.incident_action)
                .map(|a| a.as_str().to_string()),
            link,
            first_seen: seen(alerts.iter().map(|a| a.occurred_at_ms).min()),
            last_seen: seen(alerts.iter().map(|a| a.occurred_at_ms).max()),
            repeat,
            group_key: esc(group_key),
        };
        (context, level)
    }

    fn link(&self, parts: &[&str]) -> String {
        let mut url = self.dashboard_url.clone();
        for p in parts {
            url.push('/');
            url.extend(utf8_percent_encode(p, NON_ALPHANUMERIC));
        }
        url
    }

    /// A Slack incoming-webhook message for one or more groups: `text` (the notification
    /// line) and Block Kit blocks within Slack's limits. Groups past the block limit are
    /// summed up in one last section, so the message still counts every alert.
    pub fn slack(&self, groups: &[GroupText]) -> Value {
        let headline = groups
            .first()
            .map(|g| g.headline.clone())
            .unwrap_or_default();
        let total: usize = groups.iter().map(|g| g.context.count).sum();
        let text = if groups.len() > 1 {
            format!("{headline} (+{} more groups)", groups.len() - 1)
        } else {
            headline.clone()
        };
        let mut blocks = vec![json!({
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(&headline, SLACK_MAX_HEADER), "emoji": false}
        })];
        // Header, sections, one section for the rest, the context line.
        let room = SLACK_MAX_BLOCKS - 3;
        for g in groups.iter().take(room) {
            blocks.push(section(&g.body));
        }
        if groups.len() > room {
            let rest = &groups[room..];
            let alerts: usize = rest.iter().map(|g| g.context.count).sum();
            let keys: Vec<&str> = rest.iter().map(|g| g.context.group_key.as_str()).collect();
            blocks.push(section(&format!(
                "…and {} more groups with {alerts} alerts: {}",
                rest.len(),
                keys.join("; ")
            )));
        }
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!(
                "Sightline · {total} alert{} in {} group{}",
                if total == 1 { "" } else { "s" },
                groups.len(),
                if groups.len() == 1 { "" } else { "s" }
            )}]
        }));
        json!({"text": truncate(&text, SLACK_MAX_SECTION), "blocks": blocks})
    }

    /// The PagerDuty Events API v2 events for one group, without the routing key (the
    /// delivery adds it, so it is never recorded): a verdict group is one trigger deduplicated
    /// by the group; an incident's events trigger, acknowledge and resolve by its id.
    pub fn pagerduty(
        &self,
        group_id: &str,
        group: &GroupText,
        alerts: &[&AlertRecord],
    ) -> Vec<Value> {
        let c = &group.context;
        let incident = alerts.iter().find_map(|a| a.incident_id.clone());
        let dedup_key = truncate_plain(
            &format!("sightline:{}", incident.as_deref().unwrap_or(group_id)),
            PAGERDUTY_MAX_DEDUP_KEY,
        );
        let trigger = json!({
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {
                "summary": truncate(&group.headline, PAGERDUTY_MAX_SUMMARY),
                "source": self.source,
                "severity": group.level.pagerduty(),
                "group": c.tenant,
                "class": c.category,
                "custom_details": {
                    "tenant": c.tenant,
                    "user": c.user,
                    "team": c.team,
                    "rules": c.rules,
                    "alerts": c.count,
                    "occurrences": c.occurrences,
                    "conversation_id": c.conversation_id,
                    "incident_id": c.incident_id,
                    "group": c.group_key,
                    "first_seen": c.first_seen,
                    "last_seen": c.last_seen,
                    "details": group.body,
                },
            },
            "links": [{"href": c.link, "text": "Open in Sightline"}],
            "client": "Sightline",
            "client_url": self.dashboard_url,
        });
        if incident.is_none() || c.repeat {
            return vec![trigger];
        }
        // In the order they happened (a reopened incident triggers after its resolve), each
        // change once; the trigger carries the latest details.
        let mut actions: Vec<IncidentAction> = alerts
            .iter()
            .filter_map(|a| a.incident_action)
            .filter(|a| *a != IncidentAction::Update)
            .collect();
        actions.dedup();
        actions
            .into_iter()
            .map(|a| match a {
                IncidentAction::Acknowledge => {
                    json!({"event_action": "acknowledge", "dedup_key": dedup_key})
                }
                IncidentAction::Resolve => {
                    json!({"event_action": "resolve", "dedup_key": dedup_key})
                }
                IncidentAction::Trigger | IncidentAction::Update => trigger.clone(),
            })
            .collect()
    }

    /// The generic webhook's body: every group with its text, the range of its alerts this
    /// message covers and every alert with its number in the group, so a receiver can account
    /// for each one and deduplicate a re-sent message by group and number.
    pub fn webhook(
        &self,
        delivery_id: &str,
        destination: &str,
        groups: &[WebhookGroup<'_>],
    ) -> Value {
        let groups: Vec<Value> = groups
            .iter()
            .map(
                |WebhookGroup {
                     cover: c,
                     text: g,
                     alerts,
                 }| {
                    let alerts: Vec<Value> = alerts
                        .iter()
                        .map(|(seq, a)| {
                            let mut v = serde_json::to_value(a).unwrap_or_default();
                            v["seq"] = json!(seq);
                            v
                        })
                        .collect();
                    json!({
                        "group_id": c.group_id,
                        "seq_from": c.seq_from,
                        "seq": c.seq,
                        "group_key": g.context.group_key,
                        "tenant": g.context.tenant,
                        "level": g.context.level,
                        "headline": g.headline,
                        "text": g.body,
                        "link": g.context.link,
                        "count": g.context.count,
                        "repeat": g.context.repeat,
                        "alerts": alerts,
                    })
                },
            )
            .collect();
        json!({"delivery_id": delivery_id, "destination": destination, "groups": groups})
    }
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SLACK_MAX_SECTION)}})
}

/// At most `max` characters, ending in an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// At most `max` characters, cut without a marker (for keys).
fn truncate_plain(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// A group with every variable set, to check templates at start.
fn sample() -> Context {
    Context {
        level: "CRITICAL".into(),
        source: "verdict",
        tenant: "acme".into(),
        user: "dana".into(),
        users: vec!["dana".into()],
        team: Some("platform".into()),
        rules: vec!["aws-access-key-id".into()],
        category: "secret".into(),
        conversation_id: Some("conv-1".into()),
        conversations: vec!["conv-1".into()],
        count: 1,
        occurrences: 1,
        incident_id: Some("inc-1".into()),
        incident_title: Some("Credentials pasted".into()),
        action: Some("TRIGGER".into()),
        link: "http://localhost:8000/dashboard/users/dana".into(),
        first_seen: "2026-01-01T00:00:00Z".into(),
        last_seen: "2026-01-01T00:00:00Z".into(),
        repeat: false,
        group_key: "tenant=acme,rule=aws-access-key-id,user=dana".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::parse;

    const CONFIG: &str = r#"
[alert]
dashboard_url = "https://sightline.test/dashboard/"

[destinations.slack]
kind = "slack"
url = "https://hooks.slack.test/x"

[destinations.pager]
kind = "pagerduty"
url = "https://events.pagerduty.test/v2/enqueue"
routing_key = "k"
"#;

    fn renderer() -> Renderer {
        Renderer::new(&parse(CONFIG)).expect("templates compile")
    }

    pub(crate) fn verdict_alert(user: &str, n: usize) -> AlertRecord {
        AlertRecord {
            source: AlertSource::Verdict,
            source_id: format!("v{n}"),
            source_topic: "verdicts".into(),
            source_partition: 0,
            source_offset: n as i64,
            level: "CRITICAL".into(),
            user_id: Some(user.into()),
            team_id: None,
            rules: vec!["aws-access-key-id".into()],
            category: "secret".into(),
            conversation_id: Some("conv-9".into()),
            call_id: Some(format!("call-{n}")),
            incident_id: None,
            incident_title: None,
            incident_action: None,
            occurrences: 0,
            occurred_at_ms: 1_780_000_000_000,
        }
    }

    #[test]
    fn the_pasted_key_story_reads_exactly_as_on_call_expects() {
        let r = renderer();
        let a = verdict_alert("dana", 1);
        let g = r.group(
            1,
            "acme",
            "tenant=acme,rule=aws-access-key-id,user=dana",
            &[&a],
            false,
        );
        let msg = r.slack(std::slice::from_ref(&g));
        assert_eq!(
            msg["text"],
            "Credentials detected in AI prompt - User: dana"
        );
        let body = msg["blocks"][1]["text"]["text"].as_str().expect("section");
        for part in [
            "*CRITICAL*",
            "tenant acme",
            "aws-access-key-id",
            "conv-9",
            "1 alert",
        ] {
            assert!(body.contains(part), "{part} missing from {body}");
        }
        assert!(
            body.contains(
                "<https://sightline.test/dashboard/conversations/conv%2D9|Open in Sightline>"
            ),
            "{body}"
        );
    }

    #[test]
    fn request_values_cannot_mention_a_channel_or_forge_a_link_in_slack() {
        let r = renderer();
        let a = verdict_alert("<!channel> <https://evil.test|click>", 1);
        let g = r.group(1, "acme", "k", &[&a], false);
        let msg = r.slack(&[g]).to_string();
        assert!(!msg.contains("<!channel>"), "{msg}");
        assert!(!msg.contains("<https://evil.test"), "{msg}");
        assert!(msg.contains("&lt;!channel&gt;"), "{msg}");
    }

    #[test]
    fn slack_messages_stay_within_the_block_kit_limits_and_count_every_alert() {
        let r = renderer();
        let long_user = "u".repeat(5000);
        let alerts: Vec<AlertRecord> = (0..80)
            .map(|n| verdict_alert(&format!("{long_user}{n}"), n))
            .collect();
        let groups: Vec<GroupText> = alerts
            .iter()
            .map(|a| r.group(1, "acme", "k", &[a], false))
            .collect();
        let msg = r.slack(&groups);
        let blocks = msg["blocks"].as_array().expect("blocks");
        assert_eq!(blocks.len(), SLACK_MAX_BLOCKS);
        let header = blocks[0]["text"]["text"].as_str().expect("header");
        assert_eq!(header.chars().count(), SLACK_MAX_HEADER);
        assert!(header.ends_with('…'));
        for b in &blocks[1..blocks.len() - 1] {
            let t = b["text"]["text"].as_str().expect("section");
            assert!(t.chars().count() <= SLACK_MAX_SECTION, "{}", t.len());
        }
        let rest = blocks[blocks.len() - 2]["text"]["text"]
            .as_str()
            .expect("rest");
        assert!(
            rest.starts_with("…and 33 more groups with 33 alerts"),
            "{}",
            &rest[..60]
        );
        assert_eq!(
            blocks[blocks.len() - 1]["elements"][0]["text"],
            "Sightline · 80 alerts in 80 groups"
        );
    }

    #[test]
    fn pagerduty_events_follow_events_api_v2() {
        let r = renderer();
        let mut a = verdict_alert("dana", 1);
        a.source = AlertSource::Incident;
        a.level = "HIGH".into();
        a.incident_id = Some("inc-7".into());
        a.incident_title = Some("x".repeat(2000));
        a.incident_action = Some(IncidentAction::Trigger);
        let mut resolved = a.clone();
        resolved.incident_action = Some(IncidentAction::Resolve);
        let g = r.group(0, "acme", "k", &[&a, &resolved], false);
        let events = r.pagerduty("group-1", &g, &[&a, &resolved]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["event_action"], "trigger");
        assert_eq!(events[0]["dedup_key"], "sightline:inc-7");
        assert_eq!(events[0]["payload"]["severity"], "error");
        assert_eq!(events[0]["payload"]["source"], "sightline");
        let summary = events[0]["payload"]["summary"].as_str().expect("summary");
        assert_eq!(summary.chars().count(), PAGERDUTY_MAX_SUMMARY);
        assert_eq!(events[0]["payload"]["custom_details"]["alerts"], 2);
        assert_eq!(
            events[1],
            json!({"event_action": "resolve", "dedup_key": "sightline:inc-7"})
        );
        assert!(events.iter().all(|e| e.get("routing_key").is_none()));
        // A verdict group is deduplicated by the group, in at most 255 characters.
        let long = "g".repeat(400);
        let v = verdict_alert("dana", 2);
        let g = r.group(0, "acme", "k", &[&v], false);
        let events = r.pagerduty(&long, &g, &[&v]);
        assert_eq!(events.len(), 1);
        let key = events[0]["dedup_key"].as_str().expect("key");
        assert_eq!(key.len(), PAGERDUTY_MAX_DEDUP_KEY);
    }

    #[test]
    fn pagerduty_hears_an_incidents_changes_in_the_order_they_happened() {
        let r = renderer();
        let mut a = verdict_alert("dana", 1);
        a.source = AlertSource::Incident;
        a.incident_id = Some("inc-8".into());
        let with = |action| {
            let mut x = a.clone();
            x.incident_action = Some(action);
            x
        };
        // Resolved, then reopened while the group waited: the page must end open.
        let changes = [
            with(IncidentAction::Resolve),
            with(IncidentAction::Trigger),
            with(IncidentAction::Update),
            with(IncidentAction::Trigger),
        ];
        let refs: Vec<&AlertRecord> = changes.iter().collect();
        let g = r.group(0, "acme", "k", &refs, false);
        let actions: Vec<String> = r
            .pagerduty("g", &g, &refs)
            .iter()
            .map(|e| e["event_action"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(actions, ["resolve", "trigger"]);
    }

    #[test]
    fn templates_are_checked_at_start_naming_the_template() {
        let mut c = parse(CONFIG);
        let slack = c.destinations.get_mut("slack").expect("slack");
        slack.templates.critical = Some("{{ user }} {{ secret_value }}".into());
        slack.templates.info = Some("{% for %}".into());
        let problems = Renderer::check(&c);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].key, "destinations.slack.templates.critical");
        assert!(
            problems[0].message.contains("secret_value"),
            "{}",
            problems[0].message
        );
        assert_eq!(problems[1].key, "destinations.slack.templates.info");
        // A custom template renders with the group's values.
        let mut c = parse(CONFIG);
        c.destinations
            .get_mut("slack")
            .expect("slack")
            .templates
            .critical = Some("{{ level }} for {{ user }}: {{ count }}".into());
        let r = Renderer::new(&c).expect("compiles");
        let a = verdict_alert("dana", 1);
        let g = r.group(1, "acme", "k", &[&a, &a], false);
        assert_eq!(g.body, "CRITICAL for dana: 2");
    }
}
