//! The incidents processor as its own process on the real broker: a burst of verdicts with a
//! SIGKILL in the middle, the workflow driven from the CLI, tenant-wide rules fed by calls,
//! and a rules reload that keeps window state.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use sightline_cli::incident::{read_incidents, Act, IncidentAction};
use sightline_cli::CliConfig;
use sightline_events::Codec;
use sightline_events::{
    CallStatus, CommandAction, Decision, DlqRecord, EventKind, IncidentCategory, IncidentCommand,
    IncidentEvent, IncidentEventType, IncidentSeverity, IncidentStatus, LlmEvent, Verdict,
    VerdictFinding, VerdictTier,
};
use sightline_incidents::step::{Incidents, Input, Out, Prepared, VERDICTS};
use sightline_kafka::{Producer, Topic, TopicNames};
use sightline_runtime::reload::Live;
use sightline_stage::{At, Step};
use sightline_testkit::{eventually, unique, TestEnv};

use super::processors::{all_records, read_until, with_coordinates, Proc};
use super::WAIT;

pub(super) const T0: i64 = 1_780_000_000_000;
/// After dana's second paste (T0 + 1h): windows keep what lies within their length plus the
/// allowed lateness of a partition's newest event time.
const LATER: i64 = T0 + 3_660_000;

pub(super) fn verdict(
    n: usize,
    user: &str,
    at: i64,
    tier: VerdictTier,
    fingerprint: Option<&str>,
) -> Verdict {
    let findings = fingerprint
        .map(|fp| {
            vec![VerdictFinding {
                rule_id: "aws-access-key-id".into(),
                category: "secret".into(),
                tier: "CRITICAL".into(),
                location: Some("/messages/0/content".into()),
                start: 0,
                end: 20,
                confidence: 0.95,
                fingerprint: fp.into(),
                example: false,
            }]
        })
        .unwrap_or_default();
    Verdict {
        verdict_id: format!("verdict-{n}"),
        event_id: format!("event-{n}"),
        call_id: format!("call-{n}"),
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
        policy_version: "test".into(),
    }
}

/// A burst: eight users, each pasting their own key again and again, with WARNINGs between.
fn burst(n: usize) -> Vec<Verdict> {
    (0..n)
        .map(|i| {
            let user = format!("u{}", i % 8);
            let at = T0 + i as i64 * 1_000;
            if i % 5 == 4 {
                verdict(i, &user, at, VerdictTier::Warning, None)
            } else {
                let fingerprint = format!("fp-{user}-{}", (i / 8) % 2);
                verdict(i, &user, at, VerdictTier::Critical, Some(&fingerprint))
            }
        })
        .collect()
}

pub(super) async fn send_verdicts(env: &TestEnv, verdicts: &[Verdict]) {
    let producer = Producer::new(&env.kafka).expect("producer");
    let codec = Codec::pinned().expect("codec");
    let topic = env.topic(Topic::Verdicts);
    for v in verdicts {
        let bytes = codec.encode(&topic, v).await.expect("encode");
        producer
            .send(&topic, v.kafka_key().as_bytes(), &bytes, None)
            .await
            .expect("send");
    }
}

pub(super) fn incidents_config(rules: &str) -> String {
    format!(
        "[policy]\nfingerprint_key_env = \"SIGHTLINE_TEST_KEY\"\n[incidents]\nconfig_poll = \"200ms\"\n{rules}"
    )
}

fn cli_config(env: &TestEnv) -> CliConfig {
    CliConfig {
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        ..CliConfig::default()
    }
}

/// Each incident's latest event: the incident.
fn latest(events: &[IncidentEvent]) -> BTreeMap<String, IncidentEvent> {
    let mut m: BTreeMap<String, IncidentEvent> = BTreeMap::new();
    for e in events {
        if m.get(&e.incident_id).is_none_or(|l| e.seq > l.seq) {
            m.insert(e.incident_id.clone(), e.clone());
        }
    }
    m
}

fn distinct(events: &[IncidentEvent]) -> HashMap<String, IncidentEvent> {
    events
        .iter()
        .map(|e| (e.event_id.clone(), e.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_state_is_exact_across_a_sigkill_in_the_middle_of_a_burst() {
    let env = TestEnv::new(2).await.expect("env");
    let verdicts = burst(480);
    let (first, rest) = verdicts.split_at(160);
    let (second, third) = rest.split_at(160);
    let group = unique("incidents");
    let sections = incidents_config("");
    send_verdicts(&env, first).await;
    let mut proc = Proc::start_with(
        "incidents",
        &env,
        &group,
        &sections,
        "commit_every = \"1500ms\"\n",
    );
    let codec = Codec::pinned().expect("codec");
    // 16 incidents (8 users × 2 keys) open within the first part.
    read_until(&env, Topic::Incidents, &codec, |e: &[IncidentEvent]| {
        e.iter()
            .filter(|e| e.event_type == IncidentEventType::Opened)
            .count()
            >= 16
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    send_verdicts(&env, second).await;
    read_until(&env, Topic::Incidents, &codec, |e: &[IncidentEvent]| {
        distinct(e).len() >= 200
    })
    .await;
    // In the middle of the burst, between commits: no flush, no commit.
    proc.kill().await;
    send_verdicts(&env, third).await;
    // tansu 0.6 hands a dead member's partitions over only after its session expired.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let mut proc = Proc::start_with("incidents", &env, &group, &sections, "");

    // What a run that never stopped writes for the same partitions: the pure step, in order.
    let names = TopicNames::from(&env.topics);
    let book = sightline_incidents::config::IncidentsConfig::default()
        .rule_book()
        .expect("rules");
    let mut reference = Incidents::new(
        sightline_incidents::inputs(&names),
        Live::new(book),
        Counter::default(),
    );
    let mut expected: Vec<IncidentEvent> = vec![];
    for (partition, offset, v) in
        with_coordinates::<Verdict>(&env, Topic::Verdicts, verdicts.len()).await
    {
        let mut out = vec![];
        let at = At {
            topic: VERDICTS,
            partition,
            offset,
        };
        let input = Prepared {
            input: Input::Verdict(Box::new(v)),
            rebuilding: false,
        };
        reference
            .apply(input, at, sightline_events::now_ms(), &mut out)
            .expect("reference");
        expected.extend(out.into_iter().filter_map(|o| match o {
            Out::Incident(e) => Some(*e),
            Out::Signal(_) => None,
        }));
    }
    let expected_ids = distinct(&expected);
    eventually("every expected incident event", WAIT, || async {
        (distinct(&all_records::<IncidentEvent>(&env, Topic::Incidents).await).len()
            >= expected_ids.len())
        .then_some(())
    })
    .await;
    // Give a late duplicate, if any, time to arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let written = all_records::<IncidentEvent>(&env, Topic::Incidents).await;
    assert_eq!(
        distinct(&written).len(),
        expected_ids.len(),
        "every incident event, once\n{}",
        proc.tail()
    );
    for e in &written {
        assert_eq!(
            Some(e),
            expected_ids.get(&e.event_id),
            "{} ({:?} #{} of {}) differs from a run that never stopped\n{}",
            e.event_id,
            e.event_type,
            e.seq,
            e.incident_id,
            proc.tail()
        );
    }
    // No incident opened twice; every occurrence counted once.
    let latest = latest(&written);
    let opened = written
        .iter()
        .filter(|e| e.event_type == IncidentEventType::Opened);
    assert_eq!(
        distinct(&opened.cloned().collect::<Vec<_>>()).len(),
        latest.len()
    );
    let criticals = verdicts
        .iter()
        .filter(|v| v.tier == VerdictTier::Critical)
        .count() as i64;
    let counted: i64 = latest
        .values()
        .filter(|e| e.rule == "critical_verdict")
        .map(|e| e.occurrences)
        .sum();
    assert_eq!(counted, criticals, "occurrences of pasted keys");
    assert_eq!(
        latest
            .values()
            .filter(|e| e.rule == "critical_verdict")
            .count(),
        16
    );
    let rebuilt = proc
        .metric("sightline_stage_rebuilt_total")
        .await
        .unwrap_or(0.0);
    assert!(
        rebuilt > 0.0,
        "the restarted instance rebuilt its state\n{}",
        proc.tail()
    );
    println!(
        "incidents kill/restart: {} verdicts, {} incident events expected, {} records written ({} written twice), {} records re-read to rebuild",
        verdicts.len(),
        expected_ids.len(),
        written.len(),
        written.len() - expected_ids.len(),
        rebuilt
    );
    assert!(
        proc.terminate(Duration::from_secs(15)).await,
        "SIGTERM: clean exit\n{}",
        proc.tail()
    );
}

pub(super) async fn incident(
    env: &TestEnv,
    what: &str,
    pred: impl Fn(&IncidentEvent) -> bool,
) -> IncidentEvent {
    let config = cli_config(env);
    eventually(what, WAIT, || async {
        let (incidents, _) = read_incidents(&config).await.ok()?;
        incidents
            .values()
            .map(|f| f.current().clone())
            .find(|e| pred(e))
    })
    .await
}

pub(super) fn act(id: &str) -> Act {
    Act {
        id: id.to_string(),
        actor: Some("sam@acme.test".into()),
        wait: Duration::from_secs(30),
    }
}

pub(super) async fn cli(env: &TestEnv, action: IncidentAction) -> anyhow::Result<String> {
    let mut out = Vec::new();
    sightline_cli::incident::run(&cli_config(env), &action, &mut out).await?;
    Ok(String::from_utf8(out).expect("utf-8"))
}

fn response(n: usize, user: &str, at: i64, failed: bool) -> LlmEvent {
    LlmEvent {
        kind: EventKind::Response,
        event_id: format!("resp-{n}"),
        call_id: format!("call-r{n}"),
        occurred_at_ms: at,
        latency_ms: Some(800),
        cost_usd_micros: Some(1_000),
        status: if failed {
            CallStatus::UpstreamError
        } else {
            CallStatus::Ok
        },
        model: Some("m".into()),
        ..LlmEvent::request(
            "acme",
            user,
            sightline_events::Provider::Anthropic,
            "POST /v1/messages",
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_are_worked_from_the_cli_and_rules_reload_without_losing_windows() {
    let env = TestEnv::new(2).await.expect("env");
    let sections = incidents_config("[rules.repeated_warnings]\ncount = 5\n");
    let proc = Proc::start_with("incidents", &env, &unique("incidents"), &sections, "");
    // Dana pastes the same key three times: one incident, three occurrences.
    let pasted: Vec<Verdict> = (0..3)
        .map(|i| {
            verdict(
                i,
                "dana",
                T0 + i as i64 * 60_000,
                VerdictTier::Critical,
                Some("fp-dana-aws"),
            )
        })
        .collect();
    send_verdicts(&env, &pasted).await;
    let opened = incident(&env, "dana's incident with 3 occurrences", |e| {
        e.user_id.as_deref() == Some("dana") && e.occurrences == 3
    })
    .await;
    assert_eq!(
        (opened.severity, opened.category),
        (IncidentSeverity::Critical, IncidentCategory::Safety)
    );
    assert_eq!(
        opened.title,
        "Credentials detected in AI prompt - User: dana"
    );
    let id = opened.incident_id.clone();

    // The workflow from the CLI; each command waits for its event.
    let said = cli(&env, IncidentAction::Ack(act(&id[..8])))
        .await
        .expect("ack");
    assert!(said.contains("OPEN → INVESTIGATING"), "{said}");
    cli(
        &env,
        IncidentAction::Assign {
            act: act(&id),
            assignee: "alex@acme.test".into(),
        },
    )
    .await
    .expect("assign");
    cli(
        &env,
        IncidentAction::Note {
            act: act(&id),
            text: "key rotated in IAM".into(),
        },
    )
    .await
    .expect("note");
    let refused = cli(
        &env,
        IncidentAction::Note {
            act: act(&id),
            text: format!("the key was {}", super::AWS_KEY_ID),
        },
    )
    .await
    .expect_err("a note holding a key is refused");
    // Checked before anything is printed: a failure message must not carry the key.
    assert!(
        !refused.to_string().contains(super::AWS_KEY_ID),
        "the refusal repeats the key"
    );
    assert!(refused.to_string().contains("secret"), "{refused}");
    let said = cli(&env, IncidentAction::Resolve(act(&id)))
        .await
        .expect("resolve");
    assert!(said.contains("INVESTIGATING → RESOLVED"), "{said}");
    let again = cli(&env, IncidentAction::Ack(act(&id)))
        .await
        .expect_err("ack after resolve");
    assert!(again.to_string().contains("cannot ACK"), "{again}");
    let shown = cli(
        &env,
        IncidentAction::Show {
            id: id.clone(),
            json: false,
        },
    )
    .await
    .expect("show");
    for expected in [
        "OPENED",
        "OCCURRED",
        "STATUS_CHANGED",
        "ASSIGNED",
        "NOTE_ADDED",
        "key rotated in IAM",
        "assigned to alex@acme.test",
        "sam@acme.test",
        "call-0",
    ] {
        assert!(shown.contains(expected), "show lacks {expected}:\n{shown}");
    }
    let listed = cli(
        &env,
        IncidentAction::List(sightline_cli::incident::ListArgs {
            status: "resolved".into(),
            tenant: None,
            user: Some("dana".into()),
            json: false,
        }),
    )
    .await
    .expect("list");
    assert!(
        listed.contains(&id) && listed.contains("RESOLVED"),
        "{listed}"
    );

    // A command that breaks the workflow, sent past the CLI, goes to the DLQ with its reason.
    let codec = Codec::pinned().expect("codec");
    let topic = env.topic(Topic::IncidentCommands);
    let illegal = IncidentCommand {
        command_id: "cmd-illegal".into(),
        incident_id: id.clone(),
        partition_key: opened.partition_key.clone(),
        action: CommandAction::Dismiss,
        actor: "mallory".into(),
        assignee: None,
        // Refused, it goes to the DLQ: without the key.
        note: Some(format!("aws_access_key_id = {}", super::AWS_KEY_ID)),
        issued_at_ms: sightline_events::now_ms(),
    };
    let bytes = codec.encode(&topic, &illegal).await.expect("encode");
    let producer = Producer::new(&env.kafka).expect("producer");
    producer
        .send(&topic, illegal.partition_key.as_bytes(), &bytes, None)
        .await
        .expect("send");
    let dlq: Vec<DlqRecord> =
        read_until(&env, Topic::Dlq, &codec, |d: &[DlqRecord]| !d.is_empty()).await;
    assert_eq!(dlq[0].source_topic, topic);
    assert!(
        dlq[0].error.contains("cannot DISMISS") && dlq[0].error.contains("RESOLVED"),
        "{}",
        dlq[0].error
    );
    let kept = dlq[0].payload.clone().unwrap_or_default();
    assert!(!kept.is_empty(), "the refused command is kept");
    let key = super::AWS_KEY_ID.as_bytes();
    assert!(
        !kept.windows(key.len()).any(|w| w == key),
        "the DLQ copy holds no key"
    );

    // A note sent past the CLI with a key in it: the key never reaches the incidents topic.
    let pasted_note = IncidentCommand {
        command_id: "cmd-note-with-key".into(),
        action: CommandAction::Note,
        actor: "mallory".into(),
        note: Some(format!("aws_access_key_id = {}", super::AWS_KEY_ID)),
        ..illegal.clone()
    };
    let bytes = codec.encode(&topic, &pasted_note).await.expect("encode");
    producer
        .send(&topic, pasted_note.partition_key.as_bytes(), &bytes, None)
        .await
        .expect("send");
    let noted = incident(&env, "the note sent past the CLI", |e| {
        e.command_id.as_deref() == Some("cmd-note-with-key")
    })
    .await;
    let note = noted.note.expect("note");
    assert!(!note.contains(super::AWS_KEY_ID), "the note holds the key");
    assert!(!note.is_empty(), "the redacted note is kept");

    // Resolved, the same key pasted again opens a new incident.
    send_verdicts(
        &env,
        &[verdict(
            10,
            "dana",
            T0 + 3_600_000,
            VerdictTier::Critical,
            Some("fp-dana-aws"),
        )],
    )
    .await;
    let reopened = incident(&env, "a new incident for the same key", |e| {
        e.user_id.as_deref() == Some("dana") && e.status == IncidentStatus::Open
    })
    .await;
    assert_ne!(reopened.incident_id, id);
    assert_eq!(reopened.occurrences, 1);

    // Calls re-keyed by tenant: 3 of 30 failing within 5 minutes is above 5%.
    let producer = Producer::new(&env.kafka).expect("producer");
    let grouped = env.topic(Topic::Grouped);
    for n in 0..30 {
        let user = format!("u{}", n % 4);
        let e = response(n, &user, LATER + n as i64 * 1_000, n % 10 == 9);
        let bytes = codec.encode(&grouped, &e).await.expect("encode");
        producer
            .send(&grouped, e.kafka_key().as_bytes(), &bytes, None)
            .await
            .expect("send");
    }
    let rate = incident(&env, "a failure-rate incident for the tenant", |e| {
        e.rule == "failure_rate"
    })
    .await;
    assert_eq!(
        (rate.severity, rate.category),
        (IncidentSeverity::High, IncidentCategory::Performance)
    );
    assert_eq!(
        (rate.partition_key.as_str(), rate.user_id.as_deref()),
        ("acme", None)
    );

    // Four warnings from erin: under the configured five, nothing.
    let warnings: Vec<Verdict> = (20..24)
        .map(|i| {
            verdict(
                i,
                "erin",
                LATER + i as i64 * 1_000,
                VerdictTier::Warning,
                None,
            )
        })
        .collect();
    send_verdicts(&env, &warnings).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (all, _) = read_incidents(&cli_config(&env)).await.expect("read");
    assert!(
        all.values()
            .all(|f| f.current().rule != "repeated_warnings"),
        "four warnings are under the configured count\n{}",
        proc.tail()
    );
    // The rules change on disk; the next warning counts the four held before the reload.
    let text = std::fs::read_to_string(&proc.config).expect("config");
    std::fs::write(&proc.config, text.replace("count = 5", "count = 3")).expect("rewrite");
    tokio::time::sleep(Duration::from_secs(2)).await;
    send_verdicts(
        &env,
        &[verdict(
            24,
            "erin",
            LATER + 24_000,
            VerdictTier::Warning,
            None,
        )],
    )
    .await;
    let warned = incident(&env, "erin's repeated warnings", |e| {
        e.rule == "repeated_warnings"
    })
    .await;
    assert_eq!(warned.occurrences, 5, "the windows survived the reload");
    assert_eq!(
        (warned.severity, warned.category),
        (IncidentSeverity::Medium, IncidentCategory::Safety)
    );
    let reloads = proc
        .metric("sightline_stage_incidents_rule_reloads_total")
        .await;
    assert_eq!(reloads, Some(1.0), "{}", proc.tail());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_with_different_partition_counts_are_refused_at_start() {
    let kafka = sightline_kafka::KafkaConfig {
        brokers: sightline_testkit::kafka_brokers(),
        ..Default::default()
    };
    let mut topics = sightline_kafka::TopicsConfig {
        prefix: unique("t"),
        partitions: 2,
        ..Default::default()
    };
    topics
        .partitions_by_topic
        .insert("incident-signals".into(), 1);
    sightline_kafka::topics::apply(&kafka, &topics)
        .await
        .expect("topics");
    let config = sightline_incidents::IncidentsConfig {
        kafka,
        topics: topics.clone(),
        ..Default::default()
    };
    let err = sightline_incidents::run(config, None, sightline_runtime::Shutdown::new())
        .await
        .expect_err("co-partitioning is required");
    let text = err.to_string();
    assert!(
        text.contains("same number of partitions")
            && text.contains(&format!("{}.incident-signals.v1: 1", topics.prefix)),
        "{text}"
    );
}

/// Sends a NOTE for `incident` straight to the commands topic.
async fn note(env: &TestEnv, incident: &IncidentEvent, text: &str) {
    let codec = Codec::pinned().expect("codec");
    let topic = env.topic(Topic::IncidentCommands);
    let command = IncidentCommand {
        command_id: unique("cmd"),
        incident_id: incident.incident_id.clone(),
        partition_key: incident.partition_key.clone(),
        action: CommandAction::Note,
        actor: "sam@acme.test".into(),
        assignee: None,
        note: Some(text.into()),
        issued_at_ms: sightline_events::now_ms(),
    };
    let bytes = codec.encode(&topic, &command).await.expect("encode");
    Producer::new(&env.kafka)
        .expect("producer")
        .send(&topic, command.partition_key.as_bytes(), &bytes, None)
        .await
        .expect("send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_joining_takes_partitions_without_any_incident_opened_twice() {
    let env = TestEnv::new(2).await.expect("env");
    let group = unique("incidents");
    let sections = incidents_config("");
    let users: Vec<String> = (0..8).map(|u| format!("u{u}")).collect();
    let paste = |round: usize| -> Vec<Verdict> {
        users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let n = round * 100 + i;
                verdict(
                    n,
                    u,
                    T0 + n as i64 * 1_000,
                    VerdictTier::Critical,
                    Some(&format!("fp-{u}")),
                )
            })
            .collect()
    };
    // One instance opens eight incidents (both partitions) and takes a note on each, so
    // every input partition, the commands' included, has a commit.
    let mut first = Proc::start_with(
        "incidents",
        &env,
        &group,
        &sections,
        "commit_every = \"500ms\"\n",
    );
    send_verdicts(&env, &paste(0)).await;
    let opened = eventually("eight incidents", WAIT, || async {
        let l = latest(&all_records::<IncidentEvent>(&env, Topic::Incidents).await);
        (l.len() == 8).then_some(l)
    })
    .await;
    for incident in opened.values() {
        note(&env, incident, "looking").await;
    }
    eventually("eight notes", WAIT, || async {
        let l = latest(&all_records::<IncidentEvent>(&env, Topic::Incidents).await);
        l.values()
            .all(|e| e.event_type == IncidentEventType::NoteAdded)
            .then_some(())
    })
    .await;
    assert!(
        first.terminate(Duration::from_secs(15)).await,
        "{}",
        first.tail()
    );

    // Its replacement takes every partition and handles verdicts only: the commands
    // partitions stay idle at the commit they were assigned with.
    let second = Proc::start_with(
        "incidents",
        &env,
        &group,
        &sections,
        "commit_every = \"500ms\"\n",
    );
    send_verdicts(&env, &paste(1)).await;
    eventually("a second occurrence of each", WAIT, || async {
        let l = latest(&all_records::<IncidentEvent>(&env, Topic::Incidents).await);
        (l.len() == 8 && l.values().all(|e| e.occurrences == 2)).then_some(())
    })
    .await;

    // Another instance joins: the partitions move, one each.
    let joined = Proc::start_with("incidents", &env, &group, &sections, "");
    eventually("the new instance rebuilt a partition", WAIT, || async {
        joined
            .metric("sightline_stage_rebuilt_total")
            .await
            .filter(|n| *n > 0.0)
    })
    .await;
    send_verdicts(&env, &paste(2)).await;
    // 8 opened, 8 notes, 8 + 8 occurrences.
    let events = eventually("an event for each paste", WAIT, || async {
        let events = all_records::<IncidentEvent>(&env, Topic::Incidents).await;
        (distinct(&events).len() >= 32).then_some(events)
    })
    .await;
    let l = latest(&events);
    assert_eq!(
        l.len(),
        8,
        "no incident opened twice\nkept:\n{}\njoined:\n{}",
        second.tail(),
        joined.tail()
    );
    assert!(l
        .values()
        .all(|e| e.occurrences == 3 && e.status == IncidentStatus::Open));
}
