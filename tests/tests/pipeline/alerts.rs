//! The alert processor as its own process on the real broker, with recording servers standing
//! in for Slack, PagerDuty and a webhook receiver: a storm of 10,000 CRITICAL verdicts, a
//! SIGKILL in the middle of a burst, retries and dead letters, and the pasted-key story end to
//! end through the shim and every processor.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sightline_cli::incident::IncidentAction;
use sightline_events::{
    Codec, DlqRecord, IncidentCategory, IncidentEvent, IncidentEventType, IncidentLink,
    IncidentSeverity, IncidentStatus, LinkReason, Notification, NotificationOutcome, Verdict,
    VerdictTier,
};
use sightline_kafka::{Producer, Topic};
use sightline_testkit::recorder::{Received, Recorder, Reply};
use sightline_testkit::{eventually, unique, TestEnv};

use super::incidents::{act, cli, incident, incidents_config, verdict, T0};
use super::processors::{all_records, Proc};
use super::{client, shim_with, sink_config, start_sink, AWS_KEY_ID, AWS_SECRET, WAIT};

const SIGNING_SECRET: &str = "a-webhook-signing-secret-of-at-least-32-characters";
pub(super) const ROUTING_KEY: &str = "R0UTINGKEYFORTESTS00000000000000";
const SLACK_TOKEN: &str = "xoxb-slack-token-in-the-url";

/// Recording servers for the three destinations.
pub(super) struct Receivers {
    pub(super) slack: Recorder,
    pub(super) pager: Recorder,
    pub(super) hook: Recorder,
}

impl Receivers {
    pub(super) async fn start() -> Self {
        Self {
            slack: Recorder::start().await.expect("slack"),
            pager: Recorder::start().await.expect("pager"),
            hook: Recorder::start().await.expect("hook"),
        }
    }

    /// The alert processor's sections: `policy`, and the three destinations with `slack`,
    /// `pager` and `hook` lines added to each.
    pub(super) fn sections(&self, policy: &Path, slack: &str, pager: &str, hook: &str) -> String {
        format!(
            r#"
[policy]
file = {policy:?}

[alert]
dashboard_url = "https://sightline.test/dashboard"

[destinations.slack]
kind = "slack"
url = "{slack_url}/services/T0/B0/{SLACK_TOKEN}"
max_backoff = "2s"
{slack}

[destinations.pager]
kind = "pagerduty"
url = "{pager_url}/v2/enqueue"
routing_key = "{ROUTING_KEY}"
max_backoff = "2s"
{pager}

[destinations.hook]
kind = "webhook"
url = "{hook_url}/hook"
secret = "{SIGNING_SECRET}"
max_backoff = "2s"
{hook}
"#,
            slack_url = self.slack.url,
            pager_url = self.pager.url,
            hook_url = self.hook.url,
        )
    }
}

/// A policy file: secrets are CRITICAL and blocked, CRITICAL verdicts alert `verdicts`,
/// and incidents of HIGH or CRITICAL severity alert `incidents`.
pub(super) fn policy(verdicts: &[&str], incidents: &[&str]) -> PathBuf {
    let alerts = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("\"alert:{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        "version = 1\n\
         [[rules]]\nname = \"credentials\"\nmatch = {{ category = \"secret\", min_confidence = 0.5 }}\ntier = \"CRITICAL\"\n\
         [tiers.CRITICAL]\nactions = [\"block\", \"redact\", \"incident:high/credentials\"{sep}{verdicts}]\n\
         [severities.HIGH]\nactions = [{incidents}]\n\
         [severities.CRITICAL]\nactions = [{incidents}]\n",
        sep = if verdicts.is_empty() { "" } else { ", " },
        verdicts = alerts(verdicts),
        incidents = alerts(incidents),
    );
    let dir = std::env::temp_dir().join(unique("alert-policy"));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).expect("policy");
    path
}

/// The actions classify would put on a CRITICAL verdict under [`policy`].
fn alerting(mut v: Verdict, destinations: &[&str]) -> Verdict {
    v.actions = destinations.iter().map(|d| format!("alert:{d}")).collect();
    v
}

pub(super) const TICK: &str = "tick_every = \"100ms\"\n";

/// `n` CRITICAL verdicts over `users` users and `rules` rules, ids `storm-<i>`.
fn storm(n: usize, users: usize, rules: usize, destinations: &[&str]) -> Vec<Verdict> {
    (0..n)
        .map(|i| {
            let user = format!("user-{}", i % users);
            let mut v = verdict(i, &user, T0 + i as i64, VerdictTier::Critical, Some("fp"));
            v.verdict_id = format!("storm-{i}");
            v.findings[0].rule_id = format!("rule-{}", (i / users) % rules);
            alerting(v, destinations)
        })
        .collect()
}

/// Produces `verdicts` and waits for every acknowledgement; returns their coordinates.
async fn produce(env: &TestEnv, verdicts: &[Verdict]) -> Vec<(i32, i64)> {
    let producer = Producer::new(&env.kafka).expect("producer");
    let codec = Codec::pinned().expect("codec");
    let topic = env.topic(Topic::Verdicts);
    let mut acks = vec![];
    for v in verdicts {
        let bytes = codec.encode(&topic, v).await.expect("encode");
        acks.push(
            producer
                .enqueue(&topic, v.kafka_key().as_bytes(), &bytes)
                .expect("enqueue"),
        );
    }
    futures::future::join_all(acks)
        .await
        .into_iter()
        .map(|a| a.expect("acknowledged"))
        .collect()
}

/// Produces `verdicts` evenly over `over`.
async fn produce_paced(env: &TestEnv, verdicts: &[Verdict], over: Duration) {
    let slices = 60usize;
    let per = verdicts.len().div_ceil(slices);
    let started = Instant::now();
    for (i, chunk) in verdicts.chunks(per).enumerate() {
        produce(env, chunk).await;
        let next = over.mul_f64((i + 1) as f64 / slices as f64);
        if let Some(wait) = next.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Alerts a Slack message counts: its context line, "Sightline · N alerts in M groups".
fn slack_count(r: &Received) -> usize {
    let v = r.json();
    let blocks = v["blocks"].as_array().cloned().unwrap_or_default();
    blocks
        .last()
        .and_then(|b| b["elements"][0]["text"].as_str())
        .and_then(|t| t.strip_prefix("Sightline · "))
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn pager_count(r: &Received) -> usize {
    r.json()["payload"]["custom_details"]["alerts"]
        .as_u64()
        .unwrap_or(0) as usize
}

/// The verdict ids a webhook delivery lists, after checking its signature as a receiver
/// would.
fn hook_ids(r: &Received) -> Vec<String> {
    let sig = r.header("sightline-signature").expect("signed");
    let (t, v1) = sig
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .expect("t=…,v1=…");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).expect("key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(&r.body);
    mac.verify_slice(&hex::decode(v1).expect("hex"))
        .expect("the signature verifies");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let t: u64 = t.parse().expect("timestamp");
    assert!(now.abs_diff(t) < 300, "fresh timestamp");
    r.json()["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .flat_map(|g| g["alerts"].as_array().cloned().unwrap_or_default())
        .inspect(|a| assert!(a["seq"].is_i64(), "each alert carries its number"))
        .filter_map(|a| a["source_id"].as_str().map(str::to_string))
        .collect()
}

/// Runs the README's Python verification snippet on a delivery: it must accept it as sent and
/// refuse it with the body changed or the wrong secret.
async fn readme_snippet_verifies(r: &Received) {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("```python\n  import hmac")
        .expect("the README shows how to verify a webhook in Python");
    let code: String = readme[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("```"))
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect();
    let driver = "import sys, json\nsecret, header, body = sys.argv[1].encode(), sys.argv[2], open(sys.argv[3], 'rb').read()\nprint(json.dumps([verify(secret, header, body), verify(secret, header, body + b' '), verify(b'wrong', header, body)]))\n";
    let dir = std::env::temp_dir().join(unique("verify"));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("verify.py"), format!("{code}{driver}")).expect("script");
    std::fs::write(dir.join("body"), &r.body).expect("body");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = tokio::process::Command::new(python)
        .arg(dir.join("verify.py"))
        .arg(SIGNING_SECRET)
        .arg(r.header("sightline-signature").expect("signed"))
        .arg(dir.join("body"))
        .output()
        .await
        .expect("python");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "[true, false, false]",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Per destination and group, the alert ranges its SENT records cover: each group's must
/// tile 1..=last exactly once.
fn assert_tiled(records: &[Notification], destination: &str) {
    let mut grouped: BTreeMap<&str, i64> = BTreeMap::new();
    let mut ranges: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
    for n in records.iter().filter(|n| n.destination == destination) {
        match n.outcome {
            NotificationOutcome::Grouped => {
                let last = grouped.entry(&n.group_id).or_insert(0);
                *last = (*last).max(n.seq);
            }
            NotificationOutcome::Sent if n.alerts > 0 => {
                ranges
                    .entry(&n.group_id)
                    .or_default()
                    .push((n.seq_from, n.seq));
            }
            _ => {}
        }
    }
    for (group, last) in grouped {
        let mut r = ranges.remove(group).unwrap_or_default();
        r.sort_unstable();
        r.dedup();
        let mut next = 1;
        for (from, to) in &r {
            assert_eq!(*from, next, "{destination} {group}: {r:?}");
            next = to + 1;
        }
        assert_eq!(
            next,
            last + 1,
            "{destination} {group}: every alert sent: {r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_critical_verdicts_in_a_minute_are_few_messages_counting_each_once() {
    let env = TestEnv::new(2).await.expect("env");
    let r = Receivers::start().await;
    let all_three = ["slack", "pager", "hook"];
    let sections = r.sections(
        &policy(&all_three, &[]),
        "group_interval = \"20s\"",
        "group_interval = \"30s\"",
        "group_interval = \"20s\"",
    );
    let proc = Proc::start_with("alert", &env, &unique("alert"), &sections, TICK);
    let verdicts = storm(10_000, 6, 3, &all_three);
    produce_paced(&env, &verdicts, Duration::from_secs(60)).await;

    let all = |count: fn(&Received) -> usize| {
        move |reqs: &[Received]| reqs.iter().map(count).sum::<usize>() >= 10_000
    };
    let hook = r
        .hook
        .wait_until(Duration::from_secs(120), |reqs| {
            reqs.iter()
                .map(|q| {
                    q.json()["groups"].as_array().map_or(0, |g| {
                        g.iter()
                            .map(|g| g["count"].as_u64().unwrap_or(0) as usize)
                            .sum()
                    })
                })
                .sum::<usize>()
                >= 10_000
        })
        .await;
    let slack = r
        .slack
        .wait_until(Duration::from_secs(60), all(slack_count))
        .await;
    let pager = r
        .pager
        .wait_until(Duration::from_secs(60), all(pager_count))
        .await;

    // Slack: at most 60 messages, counting 10,000 alerts between them.
    let counted: usize = slack.iter().map(slack_count).sum();
    assert_eq!(counted, 10_000, "{} messages\n{}", slack.len(), proc.tail());
    assert!(slack.len() <= 60, "{} Slack messages", slack.len());
    for m in &slack {
        let v = m.json();
        assert!(v["blocks"].as_array().is_some_and(|b| b.len() <= 50));
        assert!(v["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Credentials detected in AI prompt - User: user-")));
    }
    // PagerDuty: at most 120 events, Events API v2, counting 10,000.
    assert!(pager.len() <= 120, "{} PagerDuty events", pager.len());
    assert_eq!(pager.iter().map(pager_count).sum::<usize>(), 10_000);
    for e in &pager {
        let v = e.json();
        assert_eq!(v["routing_key"], ROUTING_KEY);
        assert_eq!(v["event_action"], "trigger");
        assert_eq!(v["payload"]["severity"], "critical");
        assert!(v["dedup_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("sightline:") && k.len() <= 255));
        assert!(v["payload"]["summary"]
            .as_str()
            .is_some_and(|s| !s.is_empty() && s.chars().count() <= 1024));
        assert_eq!(e.path, "/v2/enqueue");
    }
    // The webhook lists every verdict, each in exactly one signed delivery.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for d in &hook {
        for id in hook_ids(d) {
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), 10_000);
    assert!(
        seen.values().all(|n| *n == 1),
        "a verdict in two deliveries"
    );
    // The notifications topic agrees: every group's alerts are covered once per destination.
    let records = all_records::<Notification>(&env, Topic::Notifications).await;
    for dest in ["slack", "pager", "hook"] {
        let grouped = records
            .iter()
            .filter(|n| n.destination == dest && n.outcome == NotificationOutcome::Grouped)
            .count();
        assert_eq!(grouped, 10_000, "{dest}");
        assert_tiled(&records, dest);
    }
    assert!(
        records
            .iter()
            .any(|n| n.outcome == NotificationOutcome::Deferred),
        "the limits deferred groups"
    );
    println!(
        "storm: 10,000 CRITICAL verdicts in 60 s -> {} Slack messages, {} PagerDuty events, {} webhook deliveries",
        slack.len(),
        pager.len(),
        hook.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_alert_processor_rebuilds_its_groups_and_pages_no_group_twice() {
    let env = TestEnv::new(2).await.expect("env");
    let r = Receivers::start().await;
    // A pager that groups for ten minutes: each group pages once in this test, unless a
    // restart forgot that it did.
    let sections = r.sections(
        &policy(&["pager"], &[]),
        "",
        "group_interval = \"10m\"\nper_minute = 6000\nburst = 100",
        "",
    );
    let group = unique("alert");
    let verdicts = storm(1_800, 6, 3, &["pager"]);
    let mut first = Proc::start_with("alert", &env, &group, &sections, TICK);
    produce(&env, &verdicts[..600]).await;
    let pages = r.pager.wait_until(WAIT, |p| p.len() >= 18).await;
    assert_eq!(pages.len(), 18, "one page per group\n{}", first.tail());
    // Killed in the middle of the next burst.
    let env2 = TestEnv {
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        clickhouse: env.clickhouse.clone(),
    };
    let middle = verdicts[600..1_200].to_vec();
    let burst = tokio::spawn(async move {
        for chunk in middle.chunks(50) {
            produce(&env2, chunk).await;
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    first.kill().await;
    burst.await.expect("burst");
    let second = Proc::start_with("alert", &env, &group, &sections, TICK);
    produce(&env, &verdicts[1_200..]).await;
    // Every verdict grouped exactly once, across the kill.
    let grouped = eventually("every verdict grouped", Duration::from_secs(90), || async {
        let records = all_records::<Notification>(&env, Topic::Notifications).await;
        let grouped: Vec<(i32, i64)> = records
            .iter()
            .filter(|n| n.outcome == NotificationOutcome::Grouped)
            .filter_map(|n| {
                n.alert
                    .as_ref()
                    .map(|a| (a.source_partition, a.source_offset))
            })
            .collect();
        (grouped.len() >= 1_800).then_some(grouped)
    })
    .await;
    let distinct: BTreeSet<_> = grouped.iter().collect();
    assert_eq!(
        grouped.len(),
        1_800,
        "no verdict grouped twice\n{}",
        second.tail()
    );
    assert_eq!(distinct.len(), 1_800);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pages = r.pager.requests();
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for p in &pages {
        *per_key
            .entry(
                p.json()["dedup_key"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
            .or_insert(0) += 1;
    }
    assert_eq!(per_key.len(), 18);
    // Only a page in flight at the kill (sent, its outcome not yet recorded) may go twice.
    let twice = per_key.values().filter(|n| **n > 1).count();
    assert!(
        twice <= 1 && per_key.values().all(|n| *n <= 2),
        "pages per group after a restart: {per_key:?}\n{}",
        second.tail()
    );
    println!(
        "kill mid-burst: 1,800 verdicts, 18 groups, {} pages ({} groups paged twice), {} GROUPED records",
        pages.len(),
        twice,
        grouped.len()
    );
}

fn incident_opened(id: &str) -> IncidentEvent {
    IncidentEvent {
        event_id: IncidentEvent::id_for(id, 1),
        incident_id: id.into(),
        seq: 1,
        event_type: IncidentEventType::Opened,
        partition_key: "acme/dana".into(),
        tenant_id: "acme".into(),
        user_id: Some("dana".into()),
        rule: "failure_rate".into(),
        dedupe_key: "failure_rate/acme".into(),
        severity: IncidentSeverity::High,
        category: IncidentCategory::Performance,
        status: IncidentStatus::Open,
        previous_status: None,
        title: "Failure rate above 5% for acme".into(),
        description: "12 of 40 calls failed in 5 minutes".into(),
        first_seen_ms: T0,
        last_seen_ms: T0,
        occurrences: 1,
        links: vec![IncidentLink {
            call_id: "call-1".into(),
            event_id: None,
            reason: LinkReason::Trigger,
            occurred_at_ms: T0,
        }],
        assignee: None,
        actor: "sightline".into(),
        note: None,
        command_id: None,
        at_ms: T0,
        closed_at_ms: None,
        source_topic: "verdicts".into(),
        source_partition: 0,
        source_offset: 0,
        sources: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_retry_honour_retry_after_stop_on_refusals_and_dead_letter() {
    let env = TestEnv::new(1).await.expect("env");
    let r = Receivers::start().await;
    r.slack.script([Reply::retry_after(429, "2")]);
    r.pager
        .script([Reply::status(503, ""), Reply::status(500, "")]);
    r.hook
        .script([Reply::status(400, "unknown field 'groups'")]);
    let sections = r.sections(
        &policy(&["slack", "hook"], &["pager"]),
        "",
        "attempts = 4",
        "attempts = 4",
    );
    let proc = Proc::start_with("alert", &env, &unique("alert"), &sections, TICK);
    let v = verdict(1, "dana", T0, VerdictTier::Critical, Some("fp"));
    produce(&env, &[alerting(v, &["slack", "hook"])]).await;
    let codec = Codec::pinned().expect("codec");
    let topic = env.topic(Topic::Incidents);
    let opened = incident_opened("inc-42");
    Producer::new(&env.kafka)
        .expect("producer")
        .send(
            &topic,
            b"acme/dana",
            &codec.encode(&topic, &opened).await.expect("encode"),
            None,
        )
        .await
        .expect("send");

    let slack = r.slack.wait_until(WAIT, |q| q.len() >= 2).await;
    let pager = r.pager.wait_until(WAIT, |q| q.len() >= 3).await;
    assert_eq!(slack.len(), 2, "{}", proc.tail());
    let waited = slack[1].at.duration_since(slack[0].at).expect("in order");
    assert!(
        waited >= Duration::from_secs(2),
        "Retry-After honoured: {waited:?}"
    );
    assert_eq!(slack[1].body, slack[0].body, "the same message again");
    assert_eq!(pager.len(), 3);
    for p in &pager {
        let v = p.json();
        assert_eq!(v["routing_key"], ROUTING_KEY);
        assert_eq!(v["event_action"], "trigger");
        assert_eq!(v["dedup_key"], "sightline:inc-42");
        assert_eq!(v["payload"]["severity"], "error");
    }
    let records = eventually("outcomes recorded", WAIT, || async {
        let n = all_records::<Notification>(&env, Topic::Notifications).await;
        (n.iter()
            .filter(|n| {
                n.outcome != NotificationOutcome::Grouped
                    && n.outcome != NotificationOutcome::Failed
            })
            .count()
            >= 3)
            .then_some(n)
    })
    .await;
    let of = |dest: &str, outcome: NotificationOutcome| -> Vec<&Notification> {
        records
            .iter()
            .filter(|n| n.destination == dest && n.outcome == outcome)
            .collect()
    };
    let failed: Vec<Option<i32>> = of("slack", NotificationOutcome::Failed)
        .iter()
        .map(|n| n.http_status)
        .collect();
    assert_eq!(failed, [Some(429)]);
    let sent = of("slack", NotificationOutcome::Sent);
    assert_eq!(
        (sent.len(), sent[0].attempts, sent[0].http_status),
        (1, 2, Some(200))
    );
    let failed: Vec<Option<i32>> = of("pager", NotificationOutcome::Failed)
        .iter()
        .map(|n| n.http_status)
        .collect();
    assert_eq!(failed, [Some(503), Some(500)]);
    assert_eq!(of("pager", NotificationOutcome::Sent)[0].attempts, 3);
    // A 400 is final: one attempt, dead-lettered, with the message in the DLQ.
    assert_eq!(r.hook.requests().len(), 1);
    readme_snippet_verifies(&r.hook.requests()[0]).await;
    let dead = of("hook", NotificationOutcome::DeadLettered);
    assert_eq!(
        (dead.len(), dead[0].attempts, dead[0].http_status),
        (1, 1, Some(400))
    );
    assert!(
        dead[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("HTTP 400")),
        "{:?}",
        dead[0].error
    );
    let dlq = eventually("dead letter", WAIT, || async {
        let d = all_records::<DlqRecord>(&env, Topic::Dlq).await;
        (!d.is_empty()).then_some(d)
    })
    .await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].processor, "alert");
    assert!(
        dlq[0].error.contains("hook") && dlq[0].error.contains("HTTP 400"),
        "{}",
        dlq[0].error
    );
    let kept = String::from_utf8_lossy(dlq[0].payload.as_deref().unwrap_or_default()).to_string();
    assert!(kept.contains("verdict-1"), "the DLQ keeps the message");
    // Never a URL, token, routing key or signing secret in what is recorded or logged.
    let mut recorded = raw_text(&env, &[Topic::Notifications, Topic::Dlq]).await;
    recorded.push_str(&proc.log());
    for secret in [
        SLACK_TOKEN,
        ROUTING_KEY,
        SIGNING_SECRET,
        r.slack.url.as_str(),
        r.hook.url.as_str(),
    ] {
        assert!(
            !recorded.contains(secret),
            "a destination secret was recorded"
        );
    }
}

/// Every record of `topics`, as text (lossy UTF-8 of the raw bytes, to grep).
async fn raw_text(env: &TestEnv, topics: &[Topic]) -> String {
    let mut text = String::new();
    for t in topics {
        let (kafka, name) = (env.kafka.clone(), env.topic(*t));
        let records =
            tokio::task::spawn_blocking(move || sightline_kafka::read_topic(&kafka, &name))
                .await
                .expect("join")
                .expect("read");
        for (_, r) in records {
            text.push_str(&String::from_utf8_lossy(
                r.payload.as_deref().unwrap_or_default(),
            ));
        }
    }
    text
}

/// Every table of the test's ClickHouse database, as text.
async fn clickhouse_text(env: &TestEnv) -> String {
    let http = client();
    let query = |q: String| {
        let http = http.clone();
        let url = env.clickhouse.url.clone();
        async move {
            http.post(&url)
                .body(q)
                .send()
                .await
                .expect("clickhouse")
                .text()
                .await
                .expect("text")
        }
    };
    let db = &env.clickhouse.database;
    let tables = query(format!(
        "SELECT name FROM system.tables WHERE database = '{db}' AND engine NOT LIKE '%View%' FORMAT TSV"
    ))
    .await;
    let mut text = String::new();
    for t in tables.lines() {
        text.push_str(&query(format!("SELECT * FROM {db}.`{t}` FORMAT TSV")).await);
    }
    text
}

/// The story's whole pipeline: the shim under a policy that blocks a pasted key, alerts Slack
/// and pages on its incident; dedupe, classify, incidents and alert as processes; the sink on
/// every topic; and servers recording Slack, PagerDuty and the webhook.
pub(super) struct Story {
    pub(super) env: TestEnv,
    pub(super) shim: String,
    pub(super) shim_task: super::Running<sightline_shim::Result<()>>,
    pub(super) sink: super::Running<sightline_sink::Result<sightline_sink::sink::Stats>>,
    pub(super) r: Receivers,
    /// dedupe, classify, incidents, alert.
    pub(super) procs: [Proc; 4],
    _upstream: sightline_testkit::fake_upstream::FakeUpstream,
}

pub(super) async fn story() -> Story {
    let policy = policy(&["slack"], &["pager"]);
    let file = policy.clone();
    let (env, upstream, shim, shim_task) = shim_with(2, |c| c.policy.file = Some(file)).await;
    let mut sink = sink_config(&env, &unique("sink"));
    sink.sink = sightline_sink::config::SinkSection::default();
    let sink = start_sink(sink);
    let r = Receivers::start().await;
    let group = unique("g");
    let procs = [
        Proc::start(
            "dedupe",
            &env,
            &format!("{group}-dedupe"),
            Some(&policy),
            "",
        ),
        Proc::start(
            "classify",
            &env,
            &format!("{group}-classify"),
            Some(&policy),
            "",
        ),
        Proc::start_with(
            "incidents",
            &env,
            &format!("{group}-incidents"),
            &incidents_config(""),
            "",
        ),
        Proc::start_with(
            "alert",
            &env,
            &format!("{group}-alert"),
            &r.sections(&policy, "", "", ""),
            TICK,
        ),
    ];
    Story {
        env,
        shim,
        shim_task,
        sink,
        r,
        procs,
        _upstream: upstream,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_aws_key_is_blocked_alerted_paged_once_resolved_and_stored_nowhere() {
    let Story {
        env,
        shim,
        shim_task,
        sink,
        r,
        procs,
        _upstream,
    } = story().await;
    let prompt = format!(
        "Deploy is failing with these creds:\naws_access_key_id = {AWS_KEY_ID}\naws_secret_access_key = {AWS_SECRET}\nwhy?"
    );
    let resp = client()
        .post(format!("{shim}/v1/messages"))
        .header("x-sightline-user", "dana")
        .json(&serde_json::json!({"model": "claude-sonnet-4", "max_tokens": 64, "messages": [{"role": "user", "content": prompt}]}))
        .send()
        .await
        .expect("call");
    assert_eq!(resp.headers()["x-sightline-blocked"], "true");
    let reply: serde_json::Value = resp.json().await.expect("json");
    assert!(reply["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("Sightline blocked this request")));

    let slack = r.slack.wait_until(WAIT, |q| !q.is_empty()).await;
    assert_eq!(slack.len(), 1, "{}", procs[3].tail());
    assert_eq!(
        slack[0].json()["text"],
        "Credentials detected in AI prompt - User: dana"
    );
    let pages = r.pager.wait_until(WAIT, |q| !q.is_empty()).await;
    assert_eq!(pages.len(), 1, "{}", procs[3].tail());
    let trigger = pages[0].json();
    assert_eq!(trigger["event_action"], "trigger");
    let dedup_key = trigger["dedup_key"]
        .as_str()
        .expect("dedup_key")
        .to_string();

    // Resolved from the CLI: PagerDuty hears resolve with the same key, once.
    let opened = incident(&env, "the incident", |e| {
        e.user_id.as_deref() == Some("dana")
    })
    .await;
    assert_eq!(dedup_key, format!("sightline:{}", opened.incident_id));
    cli(&env, IncidentAction::Resolve(act(&opened.incident_id)))
        .await
        .expect("resolve");
    let pages = r.pager.wait_until(WAIT, |q| q.len() >= 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pages_after = r.pager.requests();
    let actions: Vec<String> = pages_after
        .iter()
        .map(|p| format!("{} {}", p.json()["event_action"], p.json()["dedup_key"]))
        .collect();
    assert_eq!(
        pages_after.len(),
        2,
        "one trigger, one resolve: {actions:?}"
    );
    assert_eq!(
        pages[1].json(),
        serde_json::json!({"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": dedup_key})
    );
    assert_eq!(r.slack.requests().len(), 1, "Slack heard once");

    // The key is nowhere: not on any topic, in any ClickHouse table, any log, or any message.
    let mut haystack = raw_text(&env, &Topic::ALL).await;
    let tables = clickhouse_text(&env).await;
    assert!(tables.contains("dana"), "the tables were read");
    haystack.push_str(&tables);
    for p in &procs {
        haystack.push_str(&p.log());
    }
    for q in r.slack.requests().iter().chain(&r.pager.requests()) {
        haystack.push_str(&String::from_utf8_lossy(&q.body));
    }
    assert!(haystack.len() > 10_000, "read {} bytes", haystack.len());
    assert!(
        haystack.contains("[REDACTED:aws-access-key-id:"),
        "the redacted prompt was among what was read"
    );
    let found = haystack.contains(AWS_KEY_ID) || haystack.contains(AWS_SECRET);
    assert!(!found, "the pasted key was found in plaintext");
    shim_task.stop().await.expect("shim");
    sink.stop().await.expect("sink");
}
