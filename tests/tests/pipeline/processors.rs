//! The stream processors as their own processes: dedupe and classify on the real broker,
//! behind the shim, killed and restarted, two of each.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::Message as _;
use sightline_events::{
    Codec, Decision, EventKind, JudgeStatus, LlmEvent, ResampleRole, Verdict, VerdictTier,
};
use sightline_kafka::{Producer, Topic};
use sightline_testkit::{unique, TestEnv};

use super::{client, reader, shim_with, AWS_KEY_ID, AWS_SECRET, WAIT};

/// The fingerprint key every process of a test shares.
const KEY: &str = "processors-test-fingerprint-key";

/// A processor running as its own process; killed when dropped.
pub struct Proc {
    child: tokio::process::Child,
    log: PathBuf,
    pub metrics: String,
    /// Its config file.
    pub config: PathBuf,
}

impl Proc {
    /// Starts `kind` (dedupe or classify) against `env` in consumer group `group`, with
    /// `policy` as its policy file and `stage` lines added to its `[stage]` section.
    pub fn start(
        kind: &str,
        env: &TestEnv,
        group: &str,
        policy: Option<&std::path::Path>,
        stage: &str,
    ) -> Self {
        let policy = format!(
            "[policy]\nfingerprint_key_env = \"SIGHTLINE_TEST_KEY\"\n{}",
            policy
                .map(|p| format!("file = {:?}\n", p.display().to_string()))
                .unwrap_or_default()
        );
        Self::start_with(kind, env, group, &policy, stage)
    }

    /// Starts `kind` with `sections` (TOML) after the common ones.
    pub fn start_with(kind: &str, env: &TestEnv, group: &str, sections: &str, stage: &str) -> Self {
        let dir = std::env::temp_dir().join(unique(kind));
        std::fs::create_dir_all(&dir).expect("dir");
        let port = free_port();
        let config = format!(
            "[kafka]\nbrokers = \"{brokers}\"\nclient_id = \"{kind}\"\n[kafka.librdkafka]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n\
             [topics]\nprefix = \"{prefix}\"\npartitions = {partitions}\n\
             [stage]\ngroup_id = \"{group}\"\nmetrics_listen = \"127.0.0.1:{port}\"\nshutdown_grace = \"10s\"\nmax_backoff = \"2s\"\n{stage}\
             {sections}",
            brokers = env.kafka.brokers,
            prefix = env.topics.prefix,
            partitions = env.topics.partitions,
        );
        let path = dir.join(format!("{kind}.toml"));
        std::fs::write(&path, config).expect("config");
        let log = dir.join(format!("{kind}.log"));
        let out = std::fs::File::create(&log).expect("log");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sightline-test-processor"))
            .arg(kind)
            .arg("--config")
            .arg(&path)
            .env("SIGHTLINE_TEST_KEY", KEY)
            .env("SIGHTLINE_LOG_FORMAT", "text")
            .env("RUST_LOG", "info,librdkafka=warn,rdkafka=warn")
            .stdout(Stdio::null())
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn processor");
        Self {
            child,
            log,
            metrics: format!("http://127.0.0.1:{port}/metrics"),
            config: path,
        }
    }

    /// SIGKILL: no flush, no commit.
    pub async fn kill(&mut self) {
        self.child.start_kill().expect("kill");
        let _ = self.child.wait().await;
    }

    /// SIGTERM; returns whether it exited cleanly within `grace`.
    pub async fn terminate(&mut self, grace: Duration) -> bool {
        let pid = self.child.id().expect("running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(sent.success());
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => status.success(),
            _ => false,
        }
    }

    /// Its whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of its log, for failure messages (processors never log values).
    pub fn tail(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The value of the sample whose line starts with `prefix` on its `/metrics`.
    pub async fn metric(&self, prefix: &str) -> Option<f64> {
        let body = reqwest::get(&self.metrics).await.ok()?.text().await.ok()?;
        body.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Reads records of `topic` with a fresh group until `done` says the set is complete (or
/// `WAIT` passes without progress), decoding each with `codec`.
pub async fn read_until<T: sightline_events::AvroRecord>(
    env: &TestEnv,
    topic: Topic,
    codec: &Codec,
    mut done: impl FnMut(&[T]) -> bool,
) -> Vec<T> {
    let consumer = reader(env, topic);
    let mut out: Vec<T> = vec![];
    while !done(&out) {
        let msg = match tokio::time::timeout(WAIT, consumer.recv()).await {
            Ok(m) => m.expect("recv"),
            Err(_) => break,
        };
        out.push(
            codec
                .decode(msg.payload().unwrap_or_default())
                .await
                .expect("decode"),
        );
    }
    out
}

fn distinct_events(events: &[LlmEvent]) -> usize {
    events
        .iter()
        .map(|e| &e.event_id)
        .collect::<HashSet<_>>()
        .len()
}

fn distinct_verdicts(verdicts: &[Verdict]) -> usize {
    verdicts
        .iter()
        .map(|v| &v.event_id)
        .collect::<HashSet<_>>()
        .len()
}

/// A judge that counts its calls and confirms every finding.
async fn counting_judge() -> (String, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let counter = calls.clone();
    let app = axum::Router::new().route(
        "/judge",
        axum::routing::post(move |body: axum::body::Bytes| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let asked: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                // It is sent redacted text only.
                assert!(!String::from_utf8_lossy(&body).contains(AWS_KEY_ID));
                let tier = asked["tier"].as_str().unwrap_or("NONE").to_string();
                axum::Json(
                    serde_json::json!({"tier": tier, "reason": "confirmed by the test judge"}),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/judge", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls)
}

fn judge_policy(judge_url: &str) -> PathBuf {
    let path = std::env::temp_dir()
        .join(unique("policy"))
        .with_extension("toml");
    std::fs::write(
        &path,
        format!(
            r#"version = 1
[[rules]]
name = "credentials"
match = {{ category = "secret", min_confidence = 0.5 }}
tier = "CRITICAL"
[tiers.CRITICAL]
actions = ["judge", "block", "redact", "incident:high/credentials"]
[tiers.WARNING]
actions = ["redact"]
[tiers.INFO]
actions = []
[judge]
url = "{judge_url}"
timeout_ms = 5000
fallback_tier = "CRITICAL"
"#
        ),
    )
    .expect("policy");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_parallel_identical_prompts_are_one_logical_request_judged_once() {
    let (env, _upstream, shim, shim_task) = shim_with(2, |_| {}).await;
    let (judge_url, judge_calls) = counting_judge().await;
    let policy = judge_policy(&judge_url);
    let group = unique("g");
    let dedupe = Proc::start("dedupe", &env, &format!("{group}-dedupe"), None, "");
    let mut classify = Proc::start(
        "classify",
        &env,
        &format!("{group}-classify"),
        Some(&policy),
        "",
    );

    let http = client();
    let send = |user: &'static str, text: String| {
        let http = http.clone();
        let shim = shim.clone();
        async move {
            http.post(format!("{shim}/v1/messages"))
                .header("x-sightline-user", user)
                .header("x-api-key", "sk-ant-test")
                .header("anthropic-version", "2023-06-01")
                .json(&serde_json::json!({
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 64,
                    "temperature": 1.0,
                    "messages": [{"role": "user", "content": text}],
                }))
                .send()
                .await
                .expect("call")
                .status()
                .as_u16()
        }
    };
    // Three identical prompts in parallel, twice: a harmless one and one with a pasted key.
    let plain = "Summarise the Q3 planning notes in three bullets.".to_string();
    let pasted = format!("why does this fail? aws_access_key_id = {AWS_KEY_ID}\naws_secret_access_key = {AWS_SECRET}");
    let statuses = futures::future::join_all((0..3).map(|_| send("ada", plain.clone()))).await;
    assert_eq!(statuses, [200, 200, 200]);
    let statuses = futures::future::join_all((0..3).map(|_| send("dana", pasted.clone()))).await;
    assert_eq!(
        statuses,
        [200, 200, 200],
        "blocked with an API-shaped answer"
    );

    let codec = Codec::pinned().expect("codec");
    let grouped: Vec<LlmEvent> = read_until(&env, Topic::Grouped, &codec, |g: &[LlmEvent]| {
        distinct_events(g) >= 12
    })
    .await;
    assert_eq!(
        distinct_events(&grouped),
        12,
        "every event goes on\n{}",
        dedupe.tail()
    );
    for user in ["ada", "dana"] {
        let requests: Vec<&LlmEvent> = grouped
            .iter()
            .filter(|e| e.user_id == user && e.kind == EventKind::Request)
            .collect();
        let logical: HashSet<&str> = requests
            .iter()
            .filter_map(|e| e.logical_id.as_deref())
            .collect();
        assert_eq!(logical.len(), 1, "{user}: one logical request");
        let mut roles: Vec<(Option<ResampleRole>, Option<i32>)> = requests
            .iter()
            .map(|e| (e.resample_role, e.resample_index))
            .collect();
        roles.sort_by_key(|r| r.1);
        roles.dedup();
        assert_eq!(
            roles,
            [
                (Some(ResampleRole::Primary), Some(0)),
                (Some(ResampleRole::Resample), Some(1)),
                (Some(ResampleRole::Resample), Some(2))
            ],
            "{user}"
        );
        let primary_call = requests
            .iter()
            .find(|e| e.resample_role == Some(ResampleRole::Primary))
            .map(|e| e.call_id.clone());
        assert_eq!(logical.iter().next().map(|s| s.to_string()), primary_call);
        for response in grouped
            .iter()
            .filter(|e| e.user_id == user && e.kind == EventKind::Response)
        {
            let blocked = response.status == sightline_events::CallStatus::Blocked;
            assert_eq!(
                blocked,
                user == "dana",
                "{user}: the pasted key is blocked inline"
            );
            assert_eq!(
                logical.iter().next().copied(),
                response.logical_id.as_deref(),
                "{user}: responses inherit"
            );
        }
    }

    let verdicts: Vec<Verdict> = read_until(&env, Topic::Verdicts, &codec, |v: &[Verdict]| {
        distinct_verdicts(v) >= 12
    })
    .await;
    assert_eq!(
        distinct_verdicts(&verdicts),
        12,
        "one verdict per event\n{}",
        classify.tail()
    );
    assert_eq!(
        judge_calls.load(Ordering::SeqCst),
        1,
        "the judge is asked once for three parallel prompts"
    );
    let dana: Vec<&Verdict> = verdicts
        .iter()
        .filter(|v| v.user_id == "dana" && v.kind == "REQUEST")
        .collect();
    let primary = dana
        .iter()
        .find(|v| v.decision == Decision::Evaluated)
        .expect("primary verdict");
    assert_eq!(primary.tier, VerdictTier::Critical);
    assert_eq!(
        primary.judge.as_ref().map(|j| j.status),
        Some(JudgeStatus::Answered)
    );
    assert!(
        primary.actions.iter().any(|a| a == "block")
            && !primary.actions.iter().any(|a| a == "judge")
    );
    for v in dana.iter().filter(|v| v.decision == Decision::Inherited) {
        assert_eq!(v.inherited_from.as_deref(), Some(primary.event_id.as_str()));
        assert_eq!(
            (v.tier, &v.findings, &v.judge),
            (primary.tier, &primary.findings, &primary.judge)
        );
    }
    assert_eq!(
        dana.iter()
            .filter(|v| v.decision == Decision::Inherited)
            .count(),
        2
    );
    let ada: Vec<&Verdict> = verdicts.iter().filter(|v| v.user_id == "ada").collect();
    assert!(ada
        .iter()
        .all(|v| v.tier == VerdictTier::None && v.judge.is_none()));
    // Verdicts name the policy version and never hold a value.
    let version = sightline_policy::Policy::load(&policy)
        .expect("policy")
        .version()
        .to_string();
    for v in &verdicts {
        assert_eq!(v.policy_version, version);
        assert_eq!(v.verdict_id, Verdict::id_for(&v.event_id, &version));
        let json = format!("{v:?}");
        assert!(
            !json.contains(AWS_KEY_ID) && !json.contains(AWS_SECRET),
            "a verdict holds a value"
        );
    }
    // Every processor reports its work on /metrics.
    let label = format!(
        "processor=\"classify\",topic=\"{}\"",
        env.topic(Topic::Grouped)
    );
    let consumed = classify
        .metric(&format!("sightline_stage_consumed_total{{{label}}}"))
        .await;
    assert_eq!(consumed, Some(12.0), "{}", classify.tail());
    assert_eq!(classify.metric("sightline_stage_classify_judge_calls_total{processor=\"classify\",outcome=\"answered\"}").await, Some(1.0));
    assert_eq!(
        dedupe.metric("sightline_stage_produced_total").await,
        Some(12.0)
    );
    assert_eq!(
        dedupe.metric("sightline_stage_step_seconds_count").await,
        Some(12.0)
    );
    assert!(
        dedupe
            .metric("sightline_stage_state_size")
            .await
            .is_some_and(|n| n > 0.0),
        "windows held"
    );
    // Lag comes from librdkafka's statistics, every 5 s.
    sightline_testkit::eventually("lag on /metrics", WAIT, || async {
        classify
            .metric("sightline_stage_lag{")
            .await
            .filter(|lag| *lag == 0.0)
    })
    .await;
    assert!(
        classify.terminate(Duration::from_secs(15)).await,
        "SIGTERM: clean exit within the grace\n{}",
        classify.tail()
    );
    let _ = shim_task.stop().await;
}

/// A synthetic timeline: requests from `users` users, every three in a row identical (a
/// resampling burst), event times 200 ms apart with out-of-order jitter, and a response for
/// every other request. Requests whose text holds a key come without a content hash, as a
/// producer that did not pass the shim would send them.
fn timeline(n: usize, users: usize, start_ms: i64) -> Vec<LlmEvent> {
    let mut out = vec![];
    for i in 0..n {
        let user = format!("u{}", (i / 3) % users);
        let burst = i / 3;
        let jitter = ((i as i64 * 379) % 900) - 450;
        let text = if burst % 10 == 7 {
            format!("burst {burst}: aws_access_key_id = {AWS_KEY_ID}")
        } else {
            format!("burst {burst}: summarise the notes")
        };
        let mut e = super::event(&user, &text);
        e.occurred_at_ms = start_ms + i as i64 * 200 + jitter;
        e.content_hash = (burst % 10 != 7).then(|| format!("hash-{burst}"));
        out.push(e.clone());
        if i.is_multiple_of(2) {
            let mut r = e;
            r.kind = EventKind::Response;
            r.event_id = LlmEvent::new_id();
            r.occurred_at_ms += 1_500;
            r.messages.clear();
            r.status = sightline_events::CallStatus::Ok;
            out.push(r);
        }
    }
    out
}

async fn produce_all(env: &TestEnv, events: &[LlmEvent]) {
    let producer = Producer::new(&env.kafka).expect("producer");
    let codec = Codec::pinned().expect("codec");
    for e in events {
        super::produce(env, &producer, &codec, e).await;
    }
}

/// Every record of `topic`, to the end of each partition, decoded (panics on one that does
/// not decode).
pub async fn all_records<T: sightline_events::AvroRecord>(env: &TestEnv, topic: Topic) -> Vec<T> {
    let (kafka, topic) = (env.kafka.clone(), env.topic(topic));
    let records = tokio::task::spawn_blocking(move || sightline_kafka::read_topic(&kafka, &topic))
        .await
        .expect("join")
        .expect("read the topic");
    let codec = Codec::pinned().expect("codec");
    let mut out = vec![];
    for (_, r) in records {
        out.push(
            codec
                .decode(r.payload.as_deref().unwrap_or_default())
                .await
                .expect("decode"),
        );
    }
    out
}

/// The decodable records among the first `n` of `topic`, with their partition and offset, in
/// offset order.
pub async fn with_coordinates<T: sightline_events::AvroRecord>(
    env: &TestEnv,
    topic: Topic,
    n: usize,
) -> Vec<(i32, i64, T)> {
    let consumer = reader(env, topic);
    let codec = Codec::pinned().expect("codec");
    let mut out = vec![];
    for _ in 0..n {
        let msg = tokio::time::timeout(WAIT, consumer.recv())
            .await
            .expect("records")
            .expect("recv");
        if let Ok(e) = codec.decode::<T>(msg.payload().unwrap_or_default()).await {
            out.push((msg.partition(), msg.offset(), e));
        }
    }
    out.sort_by_key(|(p, o, _)| (*p, *o));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedupe_killed_mid_window_and_restarted_changes_nothing() {
    let env = TestEnv::new(2).await.expect("env");
    let events = timeline(240, 4, 1_700_000_000_000);
    // Three parts: the first is processed and committed; the second is being processed when
    // the process is killed; the third arrives while it is down.
    let (first, rest) = events.split_at(events.len() / 2);
    let (second, third) = rest.split_at(60);
    let group = unique("dedupe");
    // Two bad records: bytes that are not an event, and an event without a user.
    let producer = Producer::new(&env.kafka).expect("producer");
    let garbage = b"not avro at all".to_vec();
    let (garbage_partition, garbage_offset) = producer
        .send(&env.topic(Topic::Events), b"acme/u0", &garbage, None)
        .await
        .expect("send");
    let mut anonymous = super::event("", "no user");
    anonymous.occurred_at_ms = 1_600_000_000_000;
    super::produce(
        &env,
        &producer,
        &Codec::pinned().expect("codec"),
        &anonymous,
    )
    .await;
    produce_all(&env, first).await;
    // Commits (and rebuild points) every 1.5 s.
    let mut dedupe = Proc::start("dedupe", &env, &group, None, "commit_every = \"1500ms\"\n");
    let codec = Codec::pinned().expect("codec");
    read_until(&env, Topic::Grouped, &codec, |g: &[LlmEvent]| {
        distinct_events(g) >= first.len()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    produce_all(&env, second).await;
    read_until(&env, Topic::Grouped, &codec, |g: &[LlmEvent]| {
        distinct_events(g) >= first.len() + second.len() / 2
    })
    .await;
    // Mid-window, between commits: bursts are open on both partitions. No flush, no commit.
    dedupe.kill().await;
    produce_all(&env, third).await;
    // tansu 0.6 gives a member that joins before the dead one has expired none of the dead
    // one's partitions, even after it expires (Apache Kafka would): wait out its session.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let mut dedupe = Proc::start("dedupe", &env, &group, None, "");
    let grouped: Vec<LlmEvent> = read_until(&env, Topic::Grouped, &codec, |g: &[LlmEvent]| {
        distinct_events(g) >= events.len()
    })
    .await;
    assert_eq!(
        distinct_events(&grouped),
        events.len(),
        "every event goes on\n{}",
        dedupe.tail()
    );

    // What a run that never stopped makes of the same partitions.
    let defaults = sightline_dedupe::config::DedupeSection::default();
    let mut windows = sightline_dedupe::window::Windows::new(sightline_dedupe::window::Settings {
        window_ms: defaults.window.as_millis() as i64,
        tenant_windows: HashMap::new(),
        response_horizon_ms: defaults.response_horizon.as_millis() as i64,
        max_entries_per_partition: defaults.max_entries_per_partition,
    });
    let key = sightline_detect::FingerprintKey::for_tenant(KEY.as_bytes(), "acme");
    let mut expected = HashMap::new();
    for (partition, offset, e) in
        with_coordinates::<LlmEvent>(&env, Topic::Events, events.len() + 2).await
    {
        if e.user_id.is_empty() {
            continue;
        }
        let hash = e
            .content_hash
            .clone()
            .or_else(|| sightline_dedupe::direct::content_hash(&e, &key));
        let g = windows.group((0, partition), offset, &e, hash.as_deref());
        expected.insert(e.event_id.clone(), (Some(g.logical_id), g.role, g.index));
    }
    let mut resamples = 0;
    for e in &grouped {
        let got = (e.logical_id.clone(), e.resample_role, e.resample_index);
        assert_eq!(
            Some(&got),
            expected.get(&e.event_id),
            "{} differs from an uninterrupted run",
            e.event_id
        );
        resamples += usize::from(e.resample_role == Some(ResampleRole::Resample));
        // Scrubbed before it went on.
        assert!(
            e.messages.iter().all(|m| !m.text.contains(AWS_KEY_ID)),
            "a key reached the grouped topic"
        );
    }
    assert!(
        resamples > 50,
        "the timeline has resampling bursts ({resamples})"
    );
    // The bad records went to the DLQ with their reason, coordinates and bytes.
    let dlq: Vec<sightline_events::DlqRecord> = read_until(
        &env,
        Topic::Dlq,
        &codec,
        |d: &[sightline_events::DlqRecord]| d.len() >= 2,
    )
    .await;
    let not_avro = dlq
        .iter()
        .find(|d| d.payload.as_deref() == Some(&garbage[..]))
        .expect("garbage dead-lettered");
    assert_eq!(
        (
            not_avro.processor.as_str(),
            not_avro.source_topic.clone(),
            not_avro.source_partition,
            not_avro.source_offset
        ),
        (
            "dedupe",
            env.topic(Topic::Events),
            garbage_partition,
            garbage_offset
        )
    );
    let no_user = dlq
        .iter()
        .find(|d| d.payload.as_deref() != Some(&garbage[..]))
        .expect("event without a user dead-lettered");
    assert!(
        no_user
            .error
            .contains("empty tenant_id, user_id or call_id"),
        "{}",
        no_user.error
    );
    assert!(
        no_user.payload.as_ref().is_some_and(|p| !p.is_empty()),
        "the original bytes are kept"
    );
    let rebuilt = dedupe
        .metric("sightline_stage_rebuilt_total")
        .await
        .unwrap_or(0.0);
    assert!(
        rebuilt > 0.0,
        "the restarted instance rebuilt its windows\n{}",
        dedupe.tail()
    );
    println!(
        "dedupe kill/restart: {} events, {} records written ({} replayed twice), {} records re-read to rebuild",
        events.len(),
        grouped.len(),
        grouped.len() - events.len(),
        rebuilt
    );
    assert!(
        dedupe.terminate(Duration::from_secs(15)).await,
        "SIGTERM: clean exit\n{}",
        dedupe.tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_each_processor_one_killed_every_event_still_gets_one_verdict() {
    let env = TestEnv::new(4).await.expect("env");
    let events = timeline(600, 40, 1_700_000_000_000);
    let (first, second) = events.split_at(events.len() / 2);
    let group = unique("g");
    let mut dedupe =
        [0, 1].map(|_| Proc::start("dedupe", &env, &format!("{group}-dedupe"), None, ""));
    let mut classify =
        [0, 1].map(|_| Proc::start("classify", &env, &format!("{group}-classify"), None, ""));
    produce_all(&env, first).await;
    let codec = Codec::pinned().expect("codec");
    let third = events.len() / 3;
    read_until(&env, Topic::Verdicts, &codec, |v: &[Verdict]| {
        distinct_verdicts(v) >= third
    })
    .await;
    dedupe[0].kill().await;
    classify[0].kill().await;
    // tansu 0.6 expires the dead member after the session timeout (6 s here) but hands the
    // survivor only its old partitions until another member joins (Apache Kafka reassigns
    // them to the survivor at once). So, as an orchestrator would, start a replacement once
    // the dead member has expired.
    tokio::time::sleep(Duration::from_secs(10)).await;
    dedupe[0] = Proc::start("dedupe", &env, &format!("{group}-dedupe"), None, "");
    classify[0] = Proc::start("classify", &env, &format!("{group}-classify"), None, "");
    produce_all(&env, second).await;
    let verdicts: Vec<Verdict> = read_until(&env, Topic::Verdicts, &codec, |v: &[Verdict]| {
        distinct_verdicts(v) >= events.len()
    })
    .await;
    assert_eq!(
        distinct_verdicts(&verdicts),
        events.len(),
        "every event gets a verdict\n{}",
        dedupe
            .iter()
            .chain(classify.iter())
            .map(Proc::tail)
            .collect::<Vec<_>>()
            .join("\n----\n")
    );
    let produced: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    let mut by_id: BTreeMap<&str, Vec<&Verdict>> = BTreeMap::new();
    for v in &verdicts {
        assert!(produced.contains(v.event_id.as_str()));
        by_id.entry(v.verdict_id.as_str()).or_default().push(v);
    }
    assert_eq!(
        by_id.len(),
        events.len(),
        "after deduplication by verdict id, one per event"
    );
    for copies in by_id.values() {
        assert!(
            copies.iter().all(|c| *c == copies[0]),
            "a replayed verdict is identical"
        );
    }
    let critical = by_id
        .values()
        .filter(|c| c[0].tier == VerdictTier::Critical)
        .count();
    assert_eq!(
        critical,
        events
            .iter()
            .filter(|e| e.kind == EventKind::Request && e.content_hash.is_none())
            .count()
    );
    println!(
        "scale-out: {} events, {} verdict records, {} duplicates from the kill",
        events.len(),
        verdicts.len(),
        verdicts.len() - events.len()
    );
    for p in dedupe.iter_mut().chain(classify.iter_mut()) {
        assert!(
            p.terminate(Duration::from_secs(15)).await,
            "SIGTERM: clean exit\n{}",
            p.tail()
        );
    }
}
