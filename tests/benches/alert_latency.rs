//! Latency from a secret pasted into a prompt at the shim to the Slack request arriving at a
//! recording server, through the whole pipeline on the local broker: shim → events → dedupe →
//! grouped → classify → verdicts → alert → Slack. Side by side, in the same run, the
//! broker's own produce-to-consume latency for one hop, with the stages' consumer settings
//! (the pipeline makes three).
//!
//! Needs the local broker (`cargo xtask services up`); run with
//! `cargo bench -p sightline-e2e --bench alert_latency` (`SIGHTLINE_BENCH_PASTES` sets the
//! number of pastes, default 200). Each paste is a different user's (a group of its own), sent
//! one after another once the previous one's message arrived. CRITICAL alerts go out with
//! `critical_group_wait = 0`; the Slack rate limit is raised for the run, so what is measured
//! is the pipeline, not the limiter (a real webhook allows about one message a second).
//! Target: p99 at most 1 s.

use std::time::{Duration, Instant, SystemTime};

use rdkafka::consumer::{Consumer, StreamConsumer};
use sightline_kafka::{Producer, Topic, FETCH_WAIT_MAX_MS};
use sightline_runtime::Shutdown;
use sightline_stage::StageSection;
use sightline_testkit::fake_upstream::FakeUpstream;
use sightline_testkit::recorder::Recorder;
use sightline_testkit::{unique, TestEnv};

const KEY_ENV: &str = "SIGHTLINE_BENCH_FINGERPRINT_KEY";

fn stage(group: &str) -> StageSection {
    StageSection {
        group_id: Some(group.into()),
        tick_every: Duration::from_millis(100),
        ..StageSection::default()
    }
}

/// One broker hop: produce a record, time until a consumer of the topic receives it.
async fn broker_hop(env: &TestEnv, n: usize) -> Vec<Duration> {
    use rdkafka::Message as _;
    // A topic of the run's that nothing else uses here.
    let topic = env.topic(Topic::IncidentSignals);
    let producer = Producer::new(&env.kafka).expect("producer");
    let consumer: StreamConsumer = env
        .kafka
        .client_config(&[("fetch.wait.max.ms", FETCH_WAIT_MAX_MS)])
        .set("group.id", unique("reference"))
        .set("auto.offset.reset", "latest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    while consumer.assignment().map(|a| a.count()).unwrap_or(0) == 0 {
        let _ = tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await;
    }
    let mut out = vec![];
    for i in 0..n + 5 {
        let body = format!("ref-{i}");
        let started = Instant::now();
        producer
            .send(&topic, b"k", body.as_bytes(), None)
            .await
            .expect("send");
        loop {
            let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
                .await
                .expect("the reference record arrives")
                .expect("recv");
            if m.payload() == Some(body.as_bytes()) {
                break;
            }
        }
        if i >= 5 {
            out.push(started.elapsed());
        }
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("SIGHTLINE_BENCH_PASTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let env = TestEnv::new(2)
        .await
        .expect("the local broker and ClickHouse: `cargo xtask services up`");
    std::env::set_var(KEY_ENV, "bench-fingerprint-key");
    let upstream = FakeUpstream::start().await.expect("upstream");
    let slack = Recorder::start().await.expect("slack");
    let shutdown = Shutdown::new();

    let shim = sightline_e2e::shim_config(&env, &upstream.url);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let shim_url = format!("http://{}", listener.local_addr().expect("addr"));
    let mut tasks = vec![];
    tasks.push(tokio::spawn({
        let s = shutdown.clone();
        async move {
            let _ = sightline_shim::serve(shim, listener, s).await;
        }
    }));
    let mut dedupe = sightline_dedupe::DedupeConfig {
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        stage: stage(&unique("dedupe")),
        ..Default::default()
    };
    dedupe.policy.fingerprint_key_env = KEY_ENV.into();
    let mut classify = sightline_classify::ClassifyConfig {
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        stage: stage(&unique("classify")),
        ..Default::default()
    };
    classify.policy.fingerprint_key_env = KEY_ENV.into();
    // Classify puts the CRITICAL tier's actions on the verdict: the policy says Slack fires.
    let policy = std::env::temp_dir().join(unique("bench-policy"));
    std::fs::write(
        &policy,
        "version = 1\n[[rules]]\nname = \"credentials\"\nmatch = { category = \"secret\", min_confidence = 0.5 }\ntier = \"CRITICAL\"\n[tiers.CRITICAL]\nactions = [\"block\", \"redact\", \"alert:slack\"]\n",
    )
    .expect("policy");
    classify.policy.file = Some(policy);
    let mut alert: sightline_alert::AlertConfig = toml::from_str(&format!(
        r#"
[destinations.slack]
kind = "slack"
url = "{}/services/bench"
critical_group_wait = "0s"
per_minute = 60000
burst = 1000
"#,
        slack.url
    ))
    .expect("alert config");
    alert.kafka = env.kafka.clone();
    alert.topics = env.topics.clone();
    alert.stage = stage(&unique("alert"));
    let s = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        sightline_dedupe::run(dedupe, s).await.expect("dedupe");
    }));
    let s = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        sightline_classify::run(classify, s)
            .await
            .expect("classify");
    }));
    let s = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        sightline_alert::run(alert, s).await.expect("alert");
    }));

    let http = reqwest::Client::new();
    let paste = |user: String| {
        let http = http.clone();
        let url = format!("{shim_url}/v1/messages");
        async move {
            let prompt = "Deploy fails with aws_access_key_id = AKIAQYLPMN5HHHFPZAM2 and aws_secret_access_key = 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, why?";
            let resp = http
                .post(url)
                .header("x-sightline-user", user)
                .json(&serde_json::json!({"model": "claude-sonnet-4", "max_tokens": 64, "messages": [{"role": "user", "content": prompt}]}))
                .send()
                .await
                .expect("paste");
            assert_eq!(
                resp.headers()["x-sightline-blocked"],
                "true",
                "the paste is blocked"
            );
        }
    };
    let arrived = |user: String| {
        let slack = slack.clone();
        async move {
            let text = format!("Credentials detected in AI prompt - User: {user}");
            slack
                .wait_until(Duration::from_secs(60), |r| {
                    r.iter().any(|q| q.json()["text"] == text.as_str())
                })
                .await
                .into_iter()
                .find(|q| q.json()["text"] == text.as_str())
                .map(|q| q.at)
                .expect("the Slack message arrives")
        }
    };
    println!("alert latency: {n} pastes, shim → events → dedupe → grouped → classify → verdicts → alert → Slack, 2 partitions");
    // Warm-up: the processors join their groups.
    for i in 0..5 {
        let user = format!("warm-{i}");
        paste(user.clone()).await;
        arrived(user).await;
    }
    let mut samples = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let user = format!("bench-{i}");
        let sent = SystemTime::now();
        paste(user.clone()).await;
        let at = arrived(user).await;
        samples.push(at.duration_since(sent).unwrap_or_default());
        if (i + 1) % 50 == 0 {
            println!("  … {} of {n} pastes ({:.0?})", i + 1, started.elapsed());
        }
    }
    let p99 = sightline_e2e::report_latencies("paste at the shim → Slack request", samples);
    let reference = broker_hop(&env, n).await;
    sightline_e2e::report_latencies("reference: one broker hop (produce → consume)", reference);
    println!(
        "  target: p99 ≤ 1000 ms: {}",
        if p99 <= Duration::from_secs(1) {
            "met"
        } else {
            "NOT met"
        }
    );
    shutdown.trigger();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
}
