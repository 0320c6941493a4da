//! The grouping engine on synthetic timelines: Alertmanager's timers, rate limits that defer
//! and merge but never drop, and exact state across a restart rebuilt from the records.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use sightline_events::{
    AlertRecord, AlertSource, IncidentAction, Notification, NotificationOutcome,
};

use crate::alert::{Alert, Level};
use crate::config::tests::parse;
use crate::config::AlertConfig;
use crate::groups::{Delivery, Engine, Out};
use crate::render::Renderer;

const T0: i64 = 1_780_000_000_000;

fn config(slack: &str, pager: &str) -> AlertConfig {
    parse(&format!(
        r#"
[destinations.pager]
kind = "pagerduty"
url = "https://events.pagerduty.test/v2/enqueue"
routing_key = "k"
{pager}

[destinations.slack]
kind = "slack"
url = "https://hooks.slack.test/x"
{slack}
"#
    ))
}

const PAGER: usize = 0;
const SLACK: usize = 1;

/// Routes as a policy would: CRITICAL verdicts to Slack, HIGH and CRITICAL incidents to the
/// pager and Slack, nothing else.
fn add(e: &mut Engine, a: &Alert, partition: i32, at: i64, out: &mut Vec<Out>) {
    let to: &[usize] = match (a.record.source, a.level()) {
        (AlertSource::Verdict, Level::Critical) => &[SLACK],
        (AlertSource::Incident, Level::High | Level::Critical) => &[PAGER, SLACK],
        _ => &[],
    };
    e.add(a, to, partition, at, out);
}

fn engine(c: &AlertConfig) -> Engine {
    Engine::new(c, Arc::new(Renderer::new(c).expect("templates")))
}

fn verdict(n: i64, user: &str, rule: &str, level: &str) -> Alert {
    Alert {
        tenant: "acme".into(),
        record: AlertRecord {
            source: AlertSource::Verdict,
            source_id: format!("verdict-{n}"),
            source_topic: "verdicts".into(),
            source_partition: partition(user),
            source_offset: n,
            level: level.into(),
            user_id: Some(user.into()),
            team_id: None,
            rules: vec![rule.into()],
            category: "secret".into(),
            conversation_id: None,
            call_id: Some(format!("call-{n}")),
            incident_id: None,
            incident_title: None,
            incident_action: None,
            occurrences: 0,
            occurred_at_ms: T0,
        },
    }
}

fn incident(n: i64, id: &str, action: IncidentAction) -> Alert {
    let mut a = verdict(n, "dana", "critical_verdict", "CRITICAL");
    a.record.source = AlertSource::Incident;
    a.record.source_topic = "incidents".into();
    a.record.source_id = format!("incident-event-{n}");
    a.record.incident_id = Some(id.into());
    a.record.incident_title = Some("Credentials pasted".into());
    a.record.incident_action = Some(action);
    a.record.category = "SAFETY".into();
    a
}

fn partition(user: &str) -> i32 {
    (user.bytes().map(u32::from).sum::<u32>() % 2) as i32
}

/// What the effect would do, instantly and successfully: records go to the changelog, and
/// each delivery is recorded SENT for every group it covers.
#[derive(Default)]
struct World {
    changelog: Vec<Notification>,
    delivered: Vec<Delivery>,
}

impl World {
    fn take(&mut self, out: &mut Vec<Out>) {
        for o in out.drain(..) {
            match o {
                Out::Record(n) => self.changelog.push(*n),
                Out::Deliver(d) => {
                    for c in &d.covers {
                        self.changelog.push(d.outcome(
                            c,
                            NotificationOutcome::Sent,
                            1,
                            Some(200),
                            None,
                            d.at_ms,
                        ));
                    }
                    self.delivered.push(*d);
                }
            }
        }
    }

    fn to(&self, dest: &str) -> Vec<&Delivery> {
        self.delivered
            .iter()
            .filter(|d| d.destination == dest)
            .collect()
    }
}

/// Alerts delivered per (group, seq), over `deliveries`.
fn coverage<'a>(deliveries: impl Iterator<Item = &'a Delivery>) -> BTreeMap<(String, i64), usize> {
    let mut seen = BTreeMap::new();
    for d in deliveries {
        for c in &d.covers {
            if c.alerts == 0 {
                continue;
            }
            for seq in c.seq_from..=c.seq {
                *seen.entry((c.group_id.clone(), seq)).or_insert(0) += 1;
            }
        }
    }
    seen
}

/// The GROUPED records per (group, seq) of a destination.
fn grouped(changelog: &[Notification], dest: &str) -> BTreeMap<(String, i64), usize> {
    let mut seen = BTreeMap::new();
    for n in changelog
        .iter()
        .filter(|n| n.outcome == NotificationOutcome::Grouped && n.destination == dest)
    {
        *seen.entry((n.group_id.clone(), n.seq)).or_insert(0) += 1;
    }
    seen
}

fn run_until(e: &mut Engine, w: &mut World, from: i64, until: i64, every: i64) {
    let mut out = vec![];
    let mut t = from;
    while t <= until {
        e.tick(t, &mut out);
        w.take(&mut out);
        t += every;
    }
}

#[test]
fn a_group_waits_sends_once_then_collects_for_its_interval() {
    let c = config(
        "group_wait = \"30s\"\ncritical_group_wait = \"30s\"\ngroup_interval = \"5m\"",
        "",
    );
    let mut e = engine(&c);
    let mut w = World::default();
    let mut out = vec![];
    // WARNING is not routed; three CRITICAL pastes in 10 s are one message after 30 s.
    add(
        &mut e,
        &verdict(0, "dana", "aws", "WARNING"),
        0,
        T0,
        &mut out,
    );
    assert!(out.is_empty());
    for i in 1..=3 {
        add(
            &mut e,
            &verdict(i, "dana", "aws", "CRITICAL"),
            0,
            T0 + i * 5_000,
            &mut out,
        );
    }
    w.take(&mut out);
    assert_eq!(w.changelog.len(), 3, "three GROUPED records");
    // The group opened with the first CRITICAL, at T0 + 5 s.
    run_until(&mut e, &mut w, T0, T0 + 34_000, 1_000);
    assert!(w.delivered.is_empty(), "held for group_wait");
    run_until(&mut e, &mut w, T0 + 35_000, T0 + 36_000, 1_000);
    assert_eq!(w.delivered.len(), 1);
    assert_eq!(w.delivered[0].covers[0].alerts, 3);
    // The next paste waits for group_interval after that message, not group_wait.
    add(
        &mut e,
        &verdict(4, "dana", "aws", "CRITICAL"),
        0,
        T0 + 60_000,
        &mut out,
    );
    w.take(&mut out);
    run_until(&mut e, &mut w, T0 + 60_000, T0 + 334_000, 1_000);
    assert_eq!(w.delivered.len(), 1);
    run_until(&mut e, &mut w, T0 + 335_000, T0 + 336_000, 1_000);
    assert_eq!(w.delivered.len(), 2);
    assert_eq!(
        (
            w.delivered[1].covers[0].seq_from,
            w.delivered[1].covers[0].seq
        ),
        (4, 4)
    );
}

#[test]
fn critical_goes_at_once_with_critical_group_wait_zero() {
    let c = config("group_wait = \"30s\"\ncritical_group_wait = \"0s\"", "");
    let mut e = engine(&c);
    let mut w = World::default();
    let mut out = vec![];
    add(
        &mut e,
        &verdict(1, "dana", "aws", "CRITICAL"),
        0,
        T0,
        &mut out,
    );
    w.take(&mut out);
    assert_eq!(w.delivered.len(), 1, "sent within the add, no tick needed");
    assert_eq!(
        w.delivered[0].requests[0]["text"],
        "Credentials detected in AI prompt - User: dana"
    );
}

#[test]
fn a_record_stamped_far_ahead_does_not_freeze_the_timers() {
    let c = config("critical_group_wait = \"30s\"", "");
    let mut e = engine(&c);
    let mut w = World::default();
    let mut out = vec![];
    e.tick(T0, &mut out);
    // A producer whose clock is a day ahead.
    add(
        &mut e,
        &verdict(1, "skewed", "aws", "CRITICAL"),
        0,
        T0 + 86_400_000,
        &mut out,
    );
    add(
        &mut e,
        &verdict(2, "dana", "aws", "CRITICAL"),
        0,
        T0 + 1_000,
        &mut out,
    );
    w.take(&mut out);
    // Counted as a minute ahead: both groups go out 30 s after that, not a day later.
    run_until(&mut e, &mut w, T0 + 1_000, T0 + 91_000, 1_000);
    let sent: usize = w.delivered.iter().map(|d| d.covers.len()).sum();
    assert_eq!(
        sent,
        2,
        "{:?}",
        w.changelog.iter().map(|n| n.at_ms - T0).collect::<Vec<_>>()
    );
}

#[test]
fn an_incident_pages_once_is_acknowledged_resolved_and_reminded_on_slack_while_open() {
    let timers = "critical_group_wait = \"0s\"\ngroup_interval = \"1m\"\nrepeat_interval = \"1h\"";
    let c = config(timers, timers);
    let mut e = engine(&c);
    let mut w = World::default();
    let mut out = vec![];
    add(
        &mut e,
        &incident(1, "inc-1", IncidentAction::Trigger),
        0,
        T0,
        &mut out,
    );
    // Occurrences do not page again.
    for n in 2..6 {
        add(
            &mut e,
            &incident(n, "inc-1", IncidentAction::Update),
            0,
            T0 + n * 1_000,
            &mut out,
        );
    }
    w.take(&mut out);
    run_until(&mut e, &mut w, T0, T0 + 3_599_000, 10_000);
    let pages = w.to("pager");
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].requests.len(), 1);
    assert_eq!(pages[0].requests[0]["event_action"], "trigger");
    assert_eq!(pages[0].requests[0]["dedup_key"], "sightline:inc-1");
    assert_eq!(
        w.to("slack").len(),
        2,
        "the trigger, then the occurrences a minute later"
    );
    // Still open after repeat_interval: a reminder on Slack (PagerDuty escalates by itself).
    run_until(&mut e, &mut w, T0 + 3_600_000, T0 + 3_670_000, 10_000);
    assert_eq!(w.to("pager").len(), 1, "no page again");
    let slack = w.to("slack");
    assert_eq!(slack.len(), 3, "one reminder");
    assert_eq!(slack[2].covers[0].alerts, 0);
    let text = slack[2].requests[0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("still open"), "{text}");
    // Acknowledged, then resolved a moment later: each at once, not after the group's
    // interval; no more reminders once acknowledged.
    add(
        &mut e,
        &incident(6, "inc-1", IncidentAction::Acknowledge),
        0,
        T0 + 3_700_000,
        &mut out,
    );
    add(
        &mut e,
        &incident(7, "inc-1", IncidentAction::Resolve),
        0,
        T0 + 3_700_500,
        &mut out,
    );
    w.take(&mut out);
    run_until(&mut e, &mut w, T0 + 3_700_000, T0 + 9 * 3_600_000, 60_000);
    assert_eq!(
        w.to("slack").len(),
        5,
        "the acknowledgement and the resolution, no more reminders"
    );
    let pages = w.to("pager");
    assert_eq!(
        pages.len(),
        3,
        "{:?}",
        pages.iter().map(|p| &p.requests).collect::<Vec<_>>()
    );
    for (page, action) in pages[1..].iter().zip(["acknowledge", "resolve"]) {
        assert_eq!(
            page.requests,
            [serde_json::json!({"event_action": action, "dedup_key": "sightline:inc-1"})]
        );
    }
}

/// CRITICAL verdicts over one minute across users and rules, to Slack at 60 a minute with a
/// burst of 3 and `group_interval` 20 s; ticks every 250 ms until a minute after.
fn storm(users: usize, rules: usize, n: i64, seed: u64) -> (Engine, World) {
    let c = config("critical_group_wait = \"0s\"\ngroup_interval = \"20s\"", "");
    let mut e = engine(&c);
    let mut w = World::default();
    let mut out = vec![];
    let mut x = seed | 1;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let user = format!("user-{}", x as usize % users);
        let rule = format!("rule-{}", (x >> 20) as usize % rules);
        let at = T0 + i * 60_000 / n;
        add(
            &mut e,
            &verdict(i, &user, &rule, "CRITICAL"),
            partition(&user),
            at,
            &mut out,
        );
        if i % 50 == 0 {
            e.tick(at, &mut out);
        }
        w.take(&mut out);
    }
    run_until(&mut e, &mut w, T0 + 60_000, T0 + 120_000, 250);
    (e, w)
}

#[test]
fn a_storm_of_ten_thousand_is_a_few_messages_counting_every_alert_once() {
    let (e, w) = storm(8, 4, 10_000, 7);
    let slack = w.to("slack");
    assert!(slack.len() <= 60, "{} messages", slack.len());
    let covered = coverage(slack.into_iter());
    assert_eq!(covered.len(), 10_000);
    assert!(covered.values().all(|n| *n == 1));
    assert_eq!(covered, grouped(&w.changelog, "slack"));
    assert_eq!(e.pending().get("slack").copied().unwrap_or(0), 0);
    // The limit deferred groups rather than drop them.
    assert!(w
        .changelog
        .iter()
        .any(|n| n.outcome == NotificationOutcome::Deferred));
}

/// Each notifications partition's rebuild point as a commit stores it: the lowest offset the
/// groups still need, else the next one to read; none before anything was read.
fn rebuild_points(e: &Engine, read: &[usize; 2]) -> [Option<i64>; 2] {
    [0usize, 1].map(|p| (read[p] > 0).then(|| e.retained_from(p as i32).unwrap_or(read[p] as i64)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the mix, every alert is in exactly one message and no minute holds more
    /// messages than the limit allows.
    #[test]
    fn the_limit_holds_and_every_alert_is_delivered_exactly_once(
        users in 1usize..12, rules in 1usize..5, n in 1i64..3_000, seed in any::<u64>()
    ) {
        let (_, w) = storm(users, rules, n, seed);
        let slack = w.to("slack");
        let covered = coverage(slack.iter().copied());
        prop_assert_eq!(covered.len() as i64, n);
        prop_assert!(covered.values().all(|c| *c == 1));
        // 60 a minute with a burst of 3: at most 63 in any 60 s.
        let times: Vec<i64> = slack.iter().map(|d| d.at_ms).collect();
        for (i, t) in times.iter().enumerate() {
            let within = times[i..].iter().take_while(|u| **u < t + 60_000).count();
            prop_assert!(within <= 63, "{} messages within a minute", within);
        }
    }

    /// A restart at any point delivers every alert once; only the message in flight at the
    /// crash (sent, its outcome not recorded) may go twice. As the runtime does it: the
    /// engine reads its records back live, the commit stores each notifications partition's
    /// rebuild point (`retained_from`), and the restarted engine rebuilds each partition from
    /// that point to its end, then handles again the inputs after the commit.
    #[test]
    fn a_restart_rebuilt_from_the_records_neither_loses_nor_repeats(
        // Often while the first groups still wait, when they hold the oldest records.
        commit in prop_oneof![0i64..150, 0i64..2_000], ahead in 0i64..300, in_flight in any::<bool>(),
        users in 1usize..5, seed in any::<u64>()
    ) {
        // Slack held to 30 a minute (so groups are deferred and merged) and reminded of open
        // incidents every 20 s; PagerDuty paged for the incidents.
        let c = config(
            "critical_group_wait = \"5s\"\ngroup_interval = \"10s\"\nrepeat_interval = \"20s\"\nper_minute = 30\nburst = 1",
            "critical_group_wait = \"5s\"\ngroup_interval = \"10s\"",
        );
        let n = 2_000i64;
        let lifecycle = [
            IncidentAction::Trigger,
            IncidentAction::Update,
            IncidentAction::Acknowledge,
            IncidentAction::Update,
            IncidentAction::Resolve,
            IncidentAction::Trigger,
        ];
        let alerts: Vec<(Alert, i64)> = {
            let mut x = seed | 1;
            (0..n).map(|i| {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                // A quiet minute every 500 alerts: groups are forgotten and opened anew.
                let at = T0 + i * 40 + (i / 500) * 60_000;
                if i % 37 == 0 {
                    // Incidents opened, occurring, acknowledged, resolved and reopened.
                    let id = format!("inc-{}", (i / 37) % 3);
                    let step = lifecycle[((i / 37 / 3) as usize) % lifecycle.len()];
                    return (incident(i, &id, step), at);
                }
                let user = format!("user-{}", x as usize % users);
                let rule = if (x >> 30) % 3 == 0 { "aws" } else { "github" };
                (verdict(i, &user, rule, "CRITICAL"), at)
            }).collect()
        };
        let end = alerts[alerts.len() - 1].1;
        let mut first = engine(&c);
        let mut w = World::default();
        let mut out = vec![];
        // Each partition of the notifications topic, and how much of it was read back.
        let mut read = [0usize; 2];
        let mut points: [Option<i64>; 2] = [None; 2];
        let mut delivered_at_commit = 0;
        let crash = (commit + ahead).min(n);
        for (i, (a, at)) in alerts[..crash as usize].iter().enumerate() {
            if i as i64 == commit {
                // The commit: each partition's rebuild point as the runtime stores it.
                points = rebuild_points(&first, &read);
                delivered_at_commit = w.delivered.len();
            }
            add(&mut first, a, a.record.source_partition, *at, &mut out);
            first.tick(*at, &mut out);
            w.take(&mut out);
            for (p, n) in read.iter_mut().enumerate() {
                let records: Vec<&Notification> =
                    w.changelog.iter().filter(|r| r.partition == p as i32).collect();
                for (offset, r) in records.iter().enumerate().skip(*n) {
                    first.restore(r, offset as i64, false);
                }
                *n = records.len();
            }
        }
        if crash <= commit {
            delivered_at_commit = w.delivered.len();
            points = rebuild_points(&first, &read);
        }
        // The last message, sent after the commit, whose outcome never reached the topic.
        let mut doubled = BTreeMap::new();
        if in_flight && w.delivered.len() > delivered_at_commit {
            if let Some(last) = w.delivered.last() {
                let id = last.id.clone();
                doubled = coverage(std::iter::once(last));
                w.changelog.retain(|r| r.delivery_id.as_deref() != Some(id.as_str()));
            }
        }
        drop(first);
        let mut second = engine(&c);
        for (p, from) in points.iter().enumerate() {
            let from = from.unwrap_or(0);
            let records: Vec<Notification> =
                w.changelog.iter().filter(|r| r.partition == p as i32).cloned().collect();
            for (offset, r) in records.iter().enumerate().skip(usize::try_from(from).unwrap_or(0)) {
                second.restore(r, offset as i64, true);
            }
        }
        let commit = commit.min(crash);
        for (a, at) in &alerts[commit as usize..] {
            add(&mut second, a, a.record.source_partition, *at, &mut out);
            second.tick(*at, &mut out);
            w.take(&mut out);
        }
        run_until(&mut second, &mut w, end, end + 30_000, 500);
        let covered = coverage(w.delivered.iter());
        let mut expected = grouped(&w.changelog, "slack");
        expected.extend(grouped(&w.changelog, "pager"));
        prop_assert_eq!(
            covered.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "every alert grouped is delivered"
        );
        // Slack takes every alert once; PagerDuty every incident change but occurrences.
        let paged = alerts
            .iter()
            .filter(|(a, _)| {
                a.record.incident_action.is_some_and(|x| x != IncidentAction::Update)
            })
            .count();
        prop_assert_eq!(grouped(&w.changelog, "slack").len() as i64, n);
        prop_assert_eq!(grouped(&w.changelog, "pager").len(), paged);
        for (k, times) in &covered {
            let allowed = 1 + doubled.get(k).copied().unwrap_or(0);
            prop_assert!(*times <= allowed, "{:?} delivered {} times", k, times);
            prop_assert!(*times >= 1);
        }
    }
}
