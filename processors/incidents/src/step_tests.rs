//! The rules on synthetic timelines, and the exactness of the state rebuilt after a crash.

use std::collections::HashMap;

use prometheus_client::metrics::counter::Counter;
use proptest::prelude::*;
use sightline_events::{
    CommandAction, Decision, IncidentCategory, IncidentCommand, IncidentEvent, IncidentEventType,
    IncidentSeverity, IncidentSignal, IncidentStatus, Verdict, VerdictFinding, VerdictTier,
};
use sightline_runtime::reload::Live;
use sightline_stage::{At, Fault, Step};

use crate::config::{RuleBook, Rules};
use crate::step::{Incidents, Input, Out, Prepared, COMMANDS, INCIDENTS, SIGNALS, VERDICTS};

const T0: i64 = 1_780_000_000_000;
const MIN: i64 = 60_000;
/// The processor's clock in these timelines.
const NOW: i64 = T0 + 120 * MIN;

fn topics() -> Vec<String> {
    ["inc", "ver", "grp", "sig", "cmd"]
        .map(String::from)
        .to_vec()
}

fn book(edit: impl FnOnce(&mut Rules)) -> RuleBook {
    let mut rules = Rules::default();
    edit(&mut rules);
    RuleBook::build(
        &rules,
        &Default::default(),
        std::time::Duration::from_secs(600),
    )
    .expect("valid rules")
}

fn finding(category: &str, tier: &str, fingerprint: &str) -> VerdictFinding {
    VerdictFinding {
        rule_id: format!("{category}-rule"),
        category: category.into(),
        tier: tier.into(),
        location: Some("/messages/0/content".into()),
        start: 0,
        end: 20,
        confidence: 0.9,
        fingerprint: fingerprint.into(),
        example: false,
    }
}

fn verdict(
    n: u32,
    user: &str,
    at: i64,
    tier: VerdictTier,
    findings: Vec<VerdictFinding>,
) -> Verdict {
    Verdict {
        verdict_id: format!("v{n}"),
        event_id: format!("e{n}"),
        call_id: format!("c{n}"),
        logical_id: None,
        kind: "REQUEST".into(),
        resample_role: Some("PRIMARY".into()),
        tenant_id: "acme".into(),
        user_id: user.into(),
        team_id: None,
        conversation_id: None,
        occurred_at_ms: at,
        tier,
        rules: vec![],
        findings,
        actions: vec![],
        judge: None,
        decision: Decision::Evaluated,
        inherited_from: None,
        policy_version: "p1".into(),
    }
}

fn signal(
    n: u32,
    user: &str,
    at: i64,
    failed: bool,
    latency_ms: i64,
    cost_usd_micros: i64,
) -> IncidentSignal {
    IncidentSignal {
        signal_id: format!("s{n}"),
        event_id: format!("e{n}"),
        call_id: format!("c{n}"),
        tenant_id: "acme".into(),
        user_id: user.into(),
        model: Some("m1".into()),
        occurred_at_ms: at,
        latency_ms: Some(latency_ms),
        failed,
        cost_usd_micros,
    }
}

/// A step on one partition, fed inputs with consecutive offsets per topic.
struct Run {
    step: Incidents,
    next: HashMap<usize, i64>,
}

impl Run {
    fn new(book: RuleBook) -> Self {
        Self {
            step: Incidents::new(topics(), Live::new(book), Counter::default()),
            next: HashMap::new(),
        }
    }

    fn feed(&mut self, topic: usize, input: Input) -> Result<Vec<IncidentEvent>, Fault> {
        let offset = self.next.entry(topic).or_insert(0);
        let at = At {
            topic,
            partition: 0,
            offset: *offset,
        };
        *offset += 1;
        self.apply(input, at, false)
    }

    fn apply(
        &mut self,
        input: Input,
        at: At,
        rebuilding: bool,
    ) -> Result<Vec<IncidentEvent>, Fault> {
        // Verdicts and signals are written to their topics as they happen; commands now.
        let written = match &input {
            Input::Verdict(v) => v.occurred_at_ms.max(NOW),
            Input::Signal(s) => s.occurred_at_ms.max(NOW),
            _ => NOW,
        };
        let mut out = Vec::new();
        self.step
            .apply(Prepared { input, rebuilding }, at, written, &mut out)?;
        Ok(out
            .into_iter()
            .filter_map(|o| match o {
                Out::Incident(e) => Some(*e),
                Out::Signal(_) => None,
            })
            .collect())
    }

    fn verdict(&mut self, v: Verdict) -> Vec<IncidentEvent> {
        self.feed(VERDICTS, Input::Verdict(Box::new(v)))
            .expect("verdict")
    }

    fn signal(&mut self, s: IncidentSignal) -> Vec<IncidentEvent> {
        self.feed(SIGNALS, Input::Signal(s)).expect("signal")
    }

    fn command(
        &mut self,
        incident: &IncidentEvent,
        action: CommandAction,
    ) -> Result<Vec<IncidentEvent>, Fault> {
        let command = IncidentCommand {
            command_id: format!("cmd-{}-{action:?}", incident.incident_id),
            incident_id: incident.incident_id.clone(),
            partition_key: incident.partition_key.clone(),
            action,
            actor: "sam@acme.test".into(),
            assignee: Some("alex".into()),
            note: Some("looked at it".into()),
            issued_at_ms: incident.last_seen_ms + 1,
        };
        self.feed(COMMANDS, Input::Command(command))
    }
}

fn aws(n: u32, user: &str, at: i64, fingerprint: &str) -> Verdict {
    verdict(
        n,
        user,
        at,
        VerdictTier::Critical,
        vec![finding("secret", "CRITICAL", fingerprint)],
    )
}

#[test]
fn the_same_key_pasted_ten_times_is_one_incident_with_ten_occurrences() {
    let mut run = Run::new(book(|_| {}));
    let mut events = Vec::new();
    for n in 0..10 {
        events.extend(run.verdict(aws(n, "dana", T0 + i64::from(n) * MIN, "fp-aws")));
    }
    assert_eq!(events.len(), 10);
    assert_eq!(events[0].event_type, IncidentEventType::Opened);
    assert!(events[1..]
        .iter()
        .all(|e| e.event_type == IncidentEventType::Occurred));
    let last = events.last().expect("events");
    assert_eq!(last.occurrences, 10);
    assert_eq!(last.seq, 10);
    assert_eq!(last.severity, IncidentSeverity::Critical);
    assert_eq!(last.category, IncidentCategory::Safety);
    assert_eq!(last.title, "Credentials detected in AI prompt - User: dana");
    assert_eq!((last.first_seen_ms, last.last_seen_ms), (T0, T0 + 9 * MIN));
    assert!(events.iter().all(|e| e.incident_id == last.incident_id));
    assert!(
        !last.description.contains("fp-aws-"),
        "only a short fingerprint prefix"
    );
    // A different key, or another user, is another incident.
    let other = run.verdict(aws(20, "dana", T0, "fp-other"));
    assert_ne!(other[0].incident_id, last.incident_id);
    assert_eq!(other[0].event_type, IncidentEventType::Opened);
    let erin = run.verdict(aws(21, "erin", T0, "fp-aws"));
    assert_eq!(erin[0].event_type, IncidentEventType::Opened);
    // Resolved, the next paste opens a new incident.
    let resolved = run.command(last, CommandAction::Resolve).expect("resolve");
    assert_eq!(resolved[0].status, IncidentStatus::Resolved);
    let again = run.verdict(aws(30, "dana", T0 + 20 * MIN, "fp-aws"));
    assert_eq!(again[0].event_type, IncidentEventType::Opened);
    assert_ne!(again[0].incident_id, last.incident_id);
    assert_eq!(again[0].occurrences, 1);
}

#[test]
fn resamples_and_quiet_verdicts_open_nothing() {
    let mut run = Run::new(book(|_| {}));
    let mut inherited = aws(1, "dana", T0, "fp");
    inherited.decision = Decision::Inherited;
    assert!(run.verdict(inherited).is_empty());
    assert!(run
        .verdict(verdict(2, "dana", T0, VerdictTier::Info, vec![]))
        .is_empty());
    let mut run = Run::new(book(|r| r.critical_verdict.enabled = false));
    assert!(
        run.verdict(aws(3, "dana", T0, "fp")).is_empty(),
        "rule disabled"
    );
}

#[test]
fn a_key_pasted_with_its_secret_is_one_incident_and_the_same_pair_again_joins_it() {
    let mut run = Run::new(book(|_| {}));
    let pair = |n: u32, fps: [&str; 2]| {
        verdict(
            n,
            "dana",
            T0 + i64::from(n) * 1_000,
            VerdictTier::Critical,
            vec![
                finding("secret", "CRITICAL", fps[0]),
                finding("secret", "CRITICAL", fps[1]),
            ],
        )
    };
    let opened = run.verdict(pair(1, ["fp-key-id", "fp-secret"]));
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0].event_type, IncidentEventType::Opened);
    // The same pair in the other order: the same incident.
    let again = run.verdict(pair(2, ["fp-secret", "fp-key-id"]));
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].incident_id.as_str(), again[0].occurrences),
        (opened[0].incident_id.as_str(), 2)
    );
    // Another credential: another incident.
    let other = run.verdict(pair(3, ["fp-other", "fp-secret-2"]));
    assert_eq!(other[0].event_type, IncidentEventType::Opened);
    assert_ne!(other[0].incident_id, opened[0].incident_id);
}

#[test]
fn production_access_is_high_and_a_judged_critical_without_findings_groups_by_rules() {
    let mut run = Run::new(book(|_| {}));
    let prod = run.verdict(verdict(
        1,
        "dana",
        T0,
        VerdictTier::Critical,
        vec![finding("production", "CRITICAL", "fp-db")],
    ));
    assert_eq!(prod[0].severity, IncidentSeverity::High);
    assert!(prod[0].title.starts_with("Production access detected"));
    let mut judged = verdict(
        2,
        "dana",
        T0,
        VerdictTier::Critical,
        vec![finding("pii", "WARNING", "fp-mail")],
    );
    judged.rules = vec!["judge-escalation".into()];
    let e = run.verdict(judged);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].category, IncidentCategory::Compliance);
    assert!(e[0].dedupe_key.ends_with("rules:judge-escalation"));
}

#[test]
fn pii_in_a_response_is_critical_privacy() {
    let mut run = Run::new(book(|_| {}));
    let mut v = verdict(
        1,
        "dana",
        T0,
        VerdictTier::Warning,
        vec![finding("pii", "WARNING", "fp-ssn")],
    );
    v.kind = "RESPONSE".into();
    let e = run.verdict(v.clone());
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].rule, "pii_in_response");
    assert_eq!(
        (e[0].severity, e[0].category),
        (IncidentSeverity::Critical, IncidentCategory::Privacy)
    );
    // A CRITICAL response with that PII is still one incident, not two.
    v.verdict_id = "v2".into();
    v.tier = VerdictTier::Critical;
    v.findings[0].tier = "CRITICAL".into();
    let e = run.verdict(v);
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].event_type, e[0].occurrences),
        (IncidentEventType::Occurred, 2)
    );
    // In a prompt, PII is not this rule's business.
    let prompt = verdict(
        3,
        "erin",
        T0,
        VerdictTier::Warning,
        vec![finding("pii", "WARNING", "fp-x")],
    );
    assert!(run.verdict(prompt).is_empty());
}

#[test]
fn three_warnings_within_an_hour_open_a_medium_safety_incident() {
    let mut run = Run::new(book(|_| {}));
    let warn = |n: u32, at: i64| verdict(n, "dana", at, VerdictTier::Warning, vec![]);
    // Spread over more than an hour: nothing.
    assert!(run.verdict(warn(1, T0)).is_empty());
    assert!(run.verdict(warn(2, T0 + 40 * MIN)).is_empty());
    assert!(
        run.verdict(warn(3, T0 + 61 * MIN)).is_empty(),
        "the first fell out of the hour"
    );
    let e = run.verdict(warn(4, T0 + 70 * MIN));
    assert_eq!(e.len(), 1);
    let opened = &e[0];
    assert_eq!(
        (opened.severity, opened.category),
        (IncidentSeverity::Medium, IncidentCategory::Safety)
    );
    assert_eq!(opened.occurrences, 3);
    assert_eq!(opened.links.len(), 3);
    assert_eq!(opened.links[0].call_id, "c4", "the trigger first");
    assert_eq!(opened.first_seen_ms, T0 + 40 * MIN);
    let next = run.verdict(warn(5, T0 + 71 * MIN));
    assert_eq!(
        (next[0].event_type, next[0].occurrences),
        (IncidentEventType::Occurred, 4)
    );
    // Dismissed, old warnings do not reopen it; three new ones do.
    run.command(&next[0], CommandAction::Dismiss)
        .expect("dismiss");
    let later = T0 + 72 * MIN;
    assert!(run.verdict(warn(6, later)).is_empty());
    assert!(run.verdict(warn(7, later + 1)).is_empty());
    let e = run.verdict(warn(8, later + 2));
    assert_eq!(
        (e[0].event_type, e[0].occurrences),
        (IncidentEventType::Opened, 3)
    );
}

#[test]
fn a_failure_rate_above_five_percent_over_five_minutes_is_high_performance() {
    let mut run = Run::new(book(|_| {}));
    let mut out = Vec::new();
    // 20 calls a second apart, one failed: 5%, not above.
    for n in 0..20 {
        out.extend(run.signal(signal(n, "dana", T0 + i64::from(n) * 1000, n == 3, 100, 0)));
    }
    assert!(out.is_empty(), "{out:?}");
    // A second failure: 2/21 = 9.5%.
    let e = run.signal(signal(20, "dana", T0 + 20_000, true, 100, 0));
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].severity, e[0].category),
        (IncidentSeverity::High, IncidentCategory::Performance)
    );
    assert_eq!(e[0].user_id, None);
    assert_eq!(e[0].partition_key, "acme");
    assert!(
        e[0].title.starts_with("Failure rate 9.5% over 5m"),
        "{}",
        e[0].title
    );
    // Still above: nothing more.
    assert!(run
        .signal(signal(21, "erin", T0 + 21_000, true, 100, 0))
        .is_empty());
    // Five minutes later the window holds only healthy calls; a new burst is an occurrence.
    let later = T0 + 10 * MIN;
    for n in 0..20 {
        assert!(run
            .signal(signal(100 + n, "dana", later + i64::from(n), false, 100, 0))
            .is_empty());
    }
    let mut e = Vec::new();
    for n in 0..3 {
        e.extend(run.signal(signal(
            200 + n,
            "dana",
            later + 100 + i64::from(n),
            true,
            100,
            0,
        )));
    }
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].event_type, e[0].occurrences),
        (IncidentEventType::Occurred, 2)
    );
    // Fewer calls than min_calls never open it.
    let mut run = Run::new(book(|_| {}));
    for n in 0..5 {
        assert!(run
            .signal(signal(n, "dana", T0 + i64::from(n), true, 100, 0))
            .is_empty());
    }
}

#[test]
fn more_than_ten_consecutive_slow_calls_are_medium_performance() {
    let mut run = Run::new(book(|_| {}));
    let slow = |n: u32| signal(n, "dana", T0 + i64::from(n) * 1000, false, 12_000, 0);
    for n in 0..10 {
        assert!(run.signal(slow(n)).is_empty());
    }
    // A fast call breaks the run.
    assert!(run
        .signal(signal(10, "dana", T0 + 10_500, false, 900, 0))
        .is_empty());
    for n in 11..21 {
        assert!(run.signal(slow(n)).is_empty(), "call {n}");
    }
    let e = run.signal(slow(21));
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].severity, e[0].category),
        (IncidentSeverity::Medium, IncidentCategory::Performance)
    );
    assert_eq!(e[0].occurrences, 11);
    assert_eq!(e[0].links.len(), 11);
    assert!(run.signal(slow(22)).is_empty(), "once per run");
}

#[test]
fn a_tenant_over_its_daily_budget_is_high_then_critical_and_a_new_day_starts_afresh() {
    let mut run = Run::new(book(|r| r.tenant_budget.daily_usd = 10.0));
    let usd = |d: f64| (d * 1_000_000.0) as i64;
    let day = T0 - T0.rem_euclid(86_400_000);
    assert!(
        run.signal(signal(1, "dana", day + 1000, false, 100, usd(15.0)))
            .is_empty(),
        "150% is not above"
    );
    let high = run.signal(signal(2, "erin", day + 2000, false, 100, usd(0.5)));
    assert_eq!(high.len(), 1);
    assert_eq!(
        (high[0].severity, high[0].category),
        (IncidentSeverity::High, IncidentCategory::Cost)
    );
    assert!(
        high[0].title.contains("above 150% of budget"),
        "{}",
        high[0].title
    );
    assert!(run
        .signal(signal(3, "dana", day + 3000, false, 100, usd(1.0)))
        .is_empty());
    let critical = run.signal(signal(4, "dana", day + 4000, false, 100, usd(4.0)));
    assert_eq!(critical.len(), 1);
    assert_eq!(
        critical[0].incident_id, high[0].incident_id,
        "the same incident, escalated"
    );
    assert_eq!(critical[0].severity, IncidentSeverity::Critical);
    assert!(critical[0].title.contains("above 200%"));
    // A late call of that day changes nothing; the next UTC day has its own budget.
    let next = day + 86_400_000;
    assert!(run
        .signal(signal(7, "dana", next + 1, false, 100, 1))
        .is_empty());
    assert!(
        run.signal(signal(8, "dana", day + 5000, false, 100, 1))
            .is_empty(),
        "late"
    );
    assert!(run
        .signal(signal(5, "dana", next + 1, false, 100, usd(14.0)))
        .is_empty());
    let e = run.signal(signal(6, "dana", next + 3, false, 100, usd(2.0)));
    assert_eq!(e[0].event_type, IncidentEventType::Opened);
    assert_ne!(e[0].incident_id, high[0].incident_id);
}

#[test]
fn a_user_over_their_cost_limit_opens_a_cost_incident_for_that_user() {
    let mut run = Run::new(book(|r| {
        r.user_cost.limit_usd = 5.0;
        r.user_cost.window = std::time::Duration::from_secs(3600);
    }));
    assert!(run
        .signal(signal(1, "dana", T0, false, 100, 3_000_000))
        .is_empty());
    assert!(
        run.signal(signal(2, "erin", T0, false, 100, 4_000_000))
            .is_empty(),
        "per user"
    );
    let e = run.signal(signal(3, "dana", T0 + MIN, false, 100, 2_500_000));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].user_id.as_deref(), Some("dana"));
    assert_eq!(e[0].category, IncidentCategory::Cost);
    assert!(e[0].title.contains("$5.50"), "{}", e[0].title);
    // Out of the window, the first call no longer counts.
    assert!(run
        .signal(signal(4, "dana", T0 + 61 * MIN, false, 100, 1))
        .is_empty());
}

#[test]
fn a_copy_of_a_signal_is_counted_once() {
    let mut run = Run::new(book(|r| r.user_cost.limit_usd = 5.0));
    assert!(run
        .signal(signal(1, "dana", T0, false, 100, 3_000_000))
        .is_empty());
    assert!(
        run.signal(signal(1, "dana", T0, false, 100, 3_000_000))
            .is_empty(),
        "a replayed copy"
    );
    assert_eq!(
        run.signal(signal(2, "dana", T0, false, 100, 3_000_000))
            .len(),
        1
    );
}

#[test]
fn illegal_commands_are_bad_input_with_a_reason() {
    let mut run = Run::new(book(|_| {}));
    let opened = run.verdict(aws(1, "dana", T0, "fp")).remove(0);
    let resolved = run
        .command(&opened, CommandAction::Resolve)
        .expect("resolve")
        .remove(0);
    let Err(Fault::BadInput(reason)) = run.command(&resolved, CommandAction::Ack) else {
        panic!("acking a resolved incident must be refused");
    };
    assert!(
        reason.contains("RESOLVE") || reason.contains("Resolved"),
        "{reason}"
    );
    let mut unknown = resolved.clone();
    unknown.incident_id = "nope".into();
    let Err(Fault::BadInput(reason)) = run.command(&unknown, CommandAction::Note) else {
        panic!("an unknown incident must be refused");
    };
    assert!(reason.contains("partition_key"), "{reason}");
    let mut elsewhere = resolved.clone();
    elsewhere.partition_key = "acme/erin".into();
    assert!(run.command(&elsewhere, CommandAction::Note).is_err());
}

#[test]
fn a_reload_changes_the_rules_and_keeps_the_windows() {
    let live = Live::new(book(|_| {}));
    let mut step = Incidents::new(topics(), live.clone(), Counter::default());
    let warn = |n: u32| verdict(n, "dana", T0 + i64::from(n), VerdictTier::Warning, vec![]);
    let mut out = Vec::new();
    for n in 0..2 {
        let at = At {
            topic: VERDICTS,
            partition: 0,
            offset: i64::from(n),
        };
        step.apply(
            Prepared {
                input: Input::Verdict(Box::new(warn(n))),
                rebuilding: false,
            },
            at,
            NOW,
            &mut out,
        )
        .expect("apply");
    }
    assert!(out.is_empty());
    live.replace(book(|r| r.repeated_warnings.count = 2));
    let at = At {
        topic: VERDICTS,
        partition: 0,
        offset: 2,
    };
    step.apply(
        Prepared {
            input: Input::Verdict(Box::new(warn(2))),
            rebuilding: false,
        },
        at,
        NOW,
        &mut out,
    )
    .expect("apply");
    let Some(Out::Incident(e)) = out.first() else {
        panic!("the new count applies to the warnings already held: {out:?}");
    };
    assert_eq!(e.occurrences, 3);
}

/// An input of a generated timeline; commands name the open incident of a dedupe key.
#[derive(Debug, Clone)]
enum Gen {
    Verdict {
        user: u8,
        tier: u8,
        fingerprint: u8,
        minute: u8,
    },
    Signal {
        user: u8,
        failed: bool,
        slow: bool,
        cents: u16,
        minute: u8,
    },
    Command {
        fingerprint: u8,
        action: u8,
    },
}

fn gen() -> impl Strategy<Value = Gen> {
    prop_oneof![
        (0..2u8, 0..3u8, 0..2u8, 0..90u8).prop_map(|(user, tier, fingerprint, minute)| {
            Gen::Verdict {
                user,
                tier,
                fingerprint,
                minute,
            }
        }),
        (0..2u8, any::<bool>(), any::<bool>(), 0..300u16, 0..90u8).prop_map(
            |(user, failed, slow, cents, minute)| Gen::Signal {
                user,
                failed,
                slow,
                cents,
                minute
            }
        ),
        (0..2u8, 0..4u8).prop_map(|(fingerprint, action)| Gen::Command {
            fingerprint,
            action
        }),
    ]
}

fn users() -> [&'static str; 2] {
    ["dana", "erin"]
}

/// Turns a generated timeline into inputs, naming commands' incidents from a reference run.
fn reference(timeline: &[Gen], rules: &RuleBook) -> (Vec<(usize, Input)>, Vec<Vec<IncidentEvent>>) {
    let mut run = Run::new(rules.clone());
    let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
    for (n, g) in timeline.iter().enumerate() {
        let n = u32::try_from(n).expect("small");
        let (topic, input) = match g {
            Gen::Verdict {
                user,
                tier,
                fingerprint,
                minute,
            } => {
                let at = T0 + i64::from(*minute) * MIN;
                let user = users()[usize::from(*user)];
                let v = match tier {
                    0 => verdict(n, user, at, VerdictTier::Warning, vec![]),
                    1 => aws(n, user, at, &format!("fp{fingerprint}")),
                    _ => verdict(n, user, at, VerdictTier::None, vec![]),
                };
                (VERDICTS, Input::Verdict(Box::new(v)))
            }
            Gen::Signal {
                user,
                failed,
                slow,
                cents,
                minute,
            } => {
                let at = T0 + i64::from(*minute) * MIN;
                let latency = if *slow { 11_000 } else { 500 };
                let s = signal(
                    n,
                    users()[usize::from(*user)],
                    at,
                    *failed,
                    latency,
                    i64::from(*cents) * 10_000,
                );
                (SIGNALS, Input::Signal(s))
            }
            Gen::Command {
                fingerprint,
                action,
            } => {
                let key = format!("critical_verdict/acme/dana/fp{fingerprint}");
                let Some(target) = run.step.open_incident(0, &key).cloned() else {
                    continue;
                };
                let action = [
                    CommandAction::Ack,
                    CommandAction::Resolve,
                    CommandAction::Assign,
                    CommandAction::Note,
                ][usize::from(*action)];
                let command = IncidentCommand {
                    command_id: format!("cmd{n}"),
                    incident_id: target.incident_id.clone(),
                    partition_key: target.partition_key.clone(),
                    action,
                    actor: "sam".into(),
                    assignee: Some("alex".into()),
                    note: Some("n".into()),
                    issued_at_ms: T0 + i64::from(n),
                };
                (COMMANDS, Input::Command(command))
            }
        };
        let out = run.feed(topic, input.clone()).unwrap_or_default();
        inputs.push((topic, input));
        outputs.push(out);
    }
    (inputs, outputs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A crash after the input at `committed` was committed and the outputs of every input
    /// before `written` were acknowledged. The restarted step rebuilds the registry from the
    /// incidents written and the windows from its inputs' rebuild points, then handles
    /// everything after the commit again. Its outputs, with those written before the crash,
    /// are exactly those of a run that never stopped: nothing twice, nothing missing.
    #[test]
    fn a_restart_writes_exactly_what_a_run_that_never_stopped_writes(
        timeline in prop::collection::vec(gen(), 1..80),
        committed_pct in 0..=100usize,
        extra_pct in 0..=100usize,
    ) {
        let rules = book(|r| {
            r.tenant_budget.daily_usd = 5.0;
            r.user_cost.limit_usd = 3.0;
            r.failure_rate.min_calls = 4;
            r.slow_calls.more_than = 2;
        });
        let (inputs, outputs) = reference(&timeline, &rules);
        let committed = inputs.len() * committed_pct / 100;
        let written = committed + (inputs.len() - committed) * extra_pct / 100;

        // The first run, up to the commit: where its state says a rebuild starts.
        let mut first = Run::new(rules.clone());
        let mut at_of = Vec::new();
        for (topic, input) in &inputs[..committed] {
            let offset = *first.next.get(topic).unwrap_or(&0);
            at_of.push(At { topic: *topic, partition: 0, offset });
            first.feed(*topic, input.clone()).unwrap_or_default();
        }
        let rebuild_from: HashMap<usize, Option<i64>> = [VERDICTS, SIGNALS]
            .into_iter()
            .map(|t| (t, first.step.retained_from(t, 0)))
            .collect();

        // The restart: incidents written (read to the end), then inputs from their rebuild points.
        let mut second = Run::new(rules.clone());
        let changelog: Vec<IncidentEvent> = outputs[..written].iter().flatten().cloned().collect();
        for (offset, e) in changelog.iter().enumerate() {
            let at = At { topic: INCIDENTS, partition: 0, offset: i64::try_from(offset).unwrap_or(0) };
            second.apply(Input::Incident(Box::new(e.clone())), at, true).expect("read back");
        }
        for topic in [VERDICTS, SIGNALS] {
            let Some(from) = rebuild_from[&topic] else { continue };
            for ((t, input), at) in inputs[..committed].iter().zip(&at_of) {
                if *t == topic && at.offset >= from {
                    second.apply(input.clone(), *at, true).expect("rebuild");
                }
            }
        }
        second.next = first.next.clone();
        let mut again = Vec::new();
        for (topic, input) in &inputs[committed..] {
            again.extend(second.feed(*topic, input.clone()).unwrap_or_default());
        }

        let expected: Vec<IncidentEvent> = outputs[written..].iter().flatten().cloned().collect();
        prop_assert_eq!(again, expected);
    }
}

#[test]
fn a_response_becomes_a_signal_and_a_request_does_not() {
    use sightline_events::{CallStatus, EventKind, LlmEvent, Provider};
    let mut e = LlmEvent::request(
        "acme",
        "dana",
        Provider::Openai,
        "POST /v1/chat/completions",
    );
    assert!(crate::step::signal_of(&e).is_none());
    e.kind = EventKind::Response;
    e.latency_ms = Some(1_200);
    for (status, failed) in [
        (CallStatus::Ok, false),
        (CallStatus::Blocked, false),
        (CallStatus::UpstreamError, true),
        (CallStatus::Failed, true),
    ] {
        e.status = status;
        let s = crate::step::signal_of(&e).expect("signal");
        assert_eq!(s.failed, failed, "{status:?}");
        assert_eq!(s.cost_usd_micros, 0, "unknown cost counts as 0");
        assert_eq!(s.signal_id, IncidentSignal::id_for(&e.event_id));
    }
    e.cost_usd_micros = Some(-5);
    assert_eq!(
        crate::step::signal_of(&e).expect("signal").cost_usd_micros,
        0
    );
}

#[test]
fn a_grouped_response_is_re_keyed_as_a_signal_only_when_live() {
    use sightline_events::{EventKind, LlmEvent, Provider};
    let mut step = Incidents::new(topics(), Live::new(book(|_| {})), Counter::default());
    let mut e = LlmEvent::request("acme", "dana", Provider::Anthropic, "POST /v1/messages");
    e.kind = EventKind::Response;
    let at = At {
        topic: crate::step::GROUPED,
        partition: 0,
        offset: 0,
    };
    let mut out = Vec::new();
    step.apply(
        Prepared {
            input: Input::Grouped(Box::new(e.clone())),
            rebuilding: true,
        },
        at,
        NOW,
        &mut out,
    )
    .expect("apply");
    assert!(out.is_empty(), "nothing is written while rebuilding");
    let mut future = e.clone();
    future.occurred_at_ms = NOW + 2 * 86_400_000;
    let signal = crate::step::signal_of(&future).expect("signal");
    let at_signal = At {
        topic: SIGNALS,
        partition: 0,
        offset: 0,
    };
    let refused = step.apply(
        Prepared {
            input: Input::Signal(signal),
            rebuilding: false,
        },
        at_signal,
        NOW,
        &mut out,
    );
    assert!(
        matches!(refused, Err(Fault::BadInput(r)) if r.contains("ahead")),
        "a time two days ahead is refused"
    );
    step.apply(
        Prepared {
            input: Input::Grouped(Box::new(e)),
            rebuilding: false,
        },
        at,
        NOW,
        &mut out,
    )
    .expect("apply");
    assert!(matches!(out.as_slice(), [Out::Signal(s)] if s.tenant_id == "acme"));
}

#[test]
fn a_late_call_does_not_flip_the_failure_rate_back_and_forth() {
    let mut run = Run::new(book(|r| r.failure_rate.min_calls = 4));
    let mut opened = Vec::new();
    for n in 0..4 {
        opened.extend(run.signal(signal(n, "dana", T0 + i64::from(n) * 1000, n == 3, 100, 0)));
    }
    assert_eq!(opened.len(), 1, "1 of 4 failed: above 5%");
    // A late, healthy call from long before: its window has too few calls; nothing changes.
    assert!(run
        .signal(signal(10, "dana", T0 - 60 * MIN, false, 100, 0))
        .is_empty());
    assert!(
        run.signal(signal(11, "dana", T0 + 5_000, true, 100, 0))
            .is_empty(),
        "still failing: no second occurrence"
    );
}

#[test]
fn a_command_sent_twice_in_a_row_is_carried_out_once_and_its_time_must_be_near_the_clock() {
    let mut run = Run::new(book(|_| {}));
    let opened = run.verdict(aws(1, "dana", T0, "fp")).remove(0);
    assert_eq!(
        run.command(&opened, CommandAction::Note)
            .expect("note")
            .len(),
        1
    );
    assert!(
        run.command(&opened, CommandAction::Note)
            .expect("again")
            .is_empty(),
        "same command id"
    );
    let far = IncidentCommand {
        command_id: "far".into(),
        incident_id: opened.incident_id.clone(),
        partition_key: opened.partition_key.clone(),
        action: CommandAction::Ack,
        actor: "sam".into(),
        assignee: None,
        note: None,
        issued_at_ms: i64::MAX,
    };
    let refused = run.feed(COMMANDS, Input::Command(far));
    assert!(matches!(refused, Err(Fault::BadInput(r)) if r.contains("written")));
}

#[test]
fn ids_holding_a_slash_cannot_share_a_dedupe_key() {
    use crate::rules::dedupe_key;
    assert_ne!(
        dedupe_key(&["r", "a/b", "c"]),
        dedupe_key(&["r", "a", "b/c"])
    );
    assert_eq!(dedupe_key(&["r", "acme", "dana"]), "r/acme/dana");
}

#[test]
fn an_hour_without_a_slow_call_breaks_a_run_and_example_pii_opens_nothing() {
    let mut run = Run::new(book(|r| r.slow_calls.more_than = 2));
    assert!(run
        .signal(signal(1, "dana", T0, false, 12_000, 0))
        .is_empty());
    assert!(run
        .signal(signal(2, "dana", T0 + 1000, false, 12_000, 0))
        .is_empty());
    assert!(
        run.signal(signal(3, "dana", T0 + 61 * MIN, false, 12_000, 0))
            .is_empty(),
        "run broken"
    );
    assert!(run
        .signal(signal(4, "dana", T0 + 62 * MIN, false, 12_000, 0))
        .is_empty());
    assert_eq!(
        run.signal(signal(5, "dana", T0 + 63 * MIN, false, 12_000, 0))
            .len(),
        1
    );
    let mut v = verdict(
        6,
        "dana",
        T0,
        VerdictTier::Warning,
        vec![finding("pii", "WARNING", "fp-doc")],
    );
    v.kind = "RESPONSE".into();
    v.findings[0].example = true;
    assert!(run.verdict(v).is_empty(), "a documented example value");
}

#[test]
fn a_failing_tenant_that_goes_quiet_for_a_window_can_fail_again() {
    let mut run = Run::new(book(|r| r.failure_rate.min_calls = 4));
    let mut out = Vec::new();
    for n in 0..4 {
        out.extend(run.signal(signal(n, "dana", T0 + i64::from(n), true, 100, 0)));
    }
    assert_eq!(out.len(), 1);
    // Too few calls to decide, within the window: still failing, nothing new.
    assert!(run
        .signal(signal(10, "dana", T0 + 4 * MIN, true, 100, 0))
        .is_empty());
    // Quiet for longer than the window: the decision lapsed; a new burst is an occurrence.
    let later = T0 + 20 * MIN;
    let mut again = Vec::new();
    for n in 0..4 {
        again.extend(run.signal(signal(20 + n, "dana", later + i64::from(n), true, 100, 0)));
    }
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].event_type, again[0].occurrences),
        (IncidentEventType::Occurred, 2)
    );
}
