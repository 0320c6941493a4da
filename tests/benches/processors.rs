//! Throughput of the stream processors on the local broker, side by side with a raw
//! consume-and-produce baseline on the same topics, in one run.
//!
//! Needs the local broker (`cargo xtask services up`); run with
//! `cargo bench -p sightline-e2e --bench processors` (`SIGHTLINE_BENCH_EVENTS` sets N,
//! default 30000). N events (realistic prompt sizes, a third of them resamples, half of the
//! requests answered) are written to the events topic first. Then, one after another, each
//! reads its input from the start in a new consumer group and writes its output:
//! - baseline: events → a scratch topic, the bytes as they are (consume, produce, wait for
//!   the acks per batch, store offsets): what the broker and client cost here;
//! - dedupe: events → grouped;
//! - classify: grouped → verdicts (the detection engine on every primary and response);
//! - incidents: verdicts + grouped → incidents (every rule's windows; responses re-keyed by
//!   tenant and read back), counted in inputs handled (2N), shown without a target;
//! - baseline again, so a noisy neighbour shows.
//!
//! Each rate is measured from the first output the broker acknowledged to the N-th (the
//! stages' `sightline_stage_produced_total`, the baseline's own count; for incidents, which
//! write little, from the first input handled to the 2N-th, `sightline_stage_consumed_total`),
//! so joining the group is not counted. (tansu's reported high watermarks lag behind what a topic holds, so they
//! cannot be used.) Target: each stage at least 50% of
//! the baseline.

use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::FutureExt;
use rdkafka::Message as _;
use sightline_events::{Codec, EventKind, LlmEvent, Message, Provider};
use sightline_kafka::{AtLeastOnceConsumer, Producer, Topic};
use sightline_runtime::Shutdown;
use sightline_stage::StageSection;
use sightline_testkit::{unique, TestEnv};

const KEY_ENV: &str = "SIGHTLINE_BENCH_FINGERPRINT_KEY";

fn events(n: usize) -> Vec<LlmEvent> {
    let prose = "We are migrating the billing service from the monolith to its own deployment. \
                 The plan has three phases: extract the schema, dual-write, and cut over. ";
    let code = "fn settle(invoice: &Invoice, ledger: &mut Ledger) -> Result<(), Error> {\n    \
                let total = invoice.lines.iter().map(|l| l.amount).sum::<i64>();\n    \
                ledger.post(invoice.account, total)?;\n    Ok(())\n}\n";
    let mut out = Vec::with_capacity(n);
    let mut i = 0usize;
    while out.len() < n {
        let burst = i / 3;
        let mut e = LlmEvent::request(
            "acme",
            &format!("user{}", burst % 97),
            Provider::Anthropic,
            "POST /v1/messages",
        );
        e.model = Some("claude-sonnet-4-5".into());
        e.occurred_at_ms = 1_700_000_000_000 + i as i64 * 10;
        e.content_hash = Some(format!("hash-{burst}"));
        e.messages = vec![
            Message {
                role: "system".into(),
                text: "You are a careful senior engineer.".into(),
            },
            Message {
                role: "user".into(),
                text: format!(
                    "{}{}\nBurst {burst}: review this.\n{}",
                    prose.repeat(3),
                    code,
                    prose
                ),
            },
        ];
        out.push(e.clone());
        if i.is_multiple_of(2) && out.len() < n {
            let mut r = e;
            r.kind = EventKind::Response;
            r.event_id = LlmEvent::new_id();
            r.occurred_at_ms += 900;
            r.messages = vec![Message {
                role: "assistant".into(),
                text: prose.repeat(4),
            }];
            out.push(r);
        }
        i += 1;
    }
    out
}

/// Waits until `count` reaches `n`; returns records per second from the first to the n-th.
async fn rate<F, Fut>(what: &str, n: u64, mut count: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut first: Option<(Instant, u64)> = None;
    let mut shown = Instant::now();
    loop {
        let done = count().await;
        if first.is_none() && done > 0 {
            first = Some((Instant::now(), done));
        }
        if done >= n {
            let (t0, d0) = first.unwrap_or((Instant::now(), 0));
            return (n - d0) as f64 / t0.elapsed().as_secs_f64().max(1e-3);
        }
        if shown.elapsed() > Duration::from_secs(5) {
            eprintln!("  {what}: {done} of {n}");
            shown = Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {done} of {n} after 15 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `sightline_stage_produced_total` of a stage's `/metrics` (outputs the broker acknowledged).
async fn produced(metrics: &str) -> u64 {
    let Ok(resp) = reqwest::get(metrics).await else {
        return 0;
    };
    let body = resp.text().await.unwrap_or_default();
    body.lines()
        .find(|l| l.starts_with("sightline_stage_produced_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// `sightline_stage_consumed_total` of a stage's `/metrics` for the topics named `…<short>.v1`.
async fn consumed(metrics: &str, shorts: &[&str]) -> u64 {
    let Ok(resp) = reqwest::get(metrics).await else {
        return 0;
    };
    let body = resp.text().await.unwrap_or_default();
    body.lines()
        .filter(|l| l.starts_with("sightline_stage_consumed_total"))
        .filter(|l| shorts.iter().any(|s| l.contains(&format!(".{s}.v1\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The raw baseline: consume, produce the same bytes, wait for the acks per batch of up to
/// 500, store offsets. What the stage runtime does, minus decoding, the step and encoding.
async fn baseline(env: &TestEnv, from: &str, to: &str, acked: Arc<AtomicU64>, shutdown: Shutdown) {
    let consumer =
        AtLeastOnceConsumer::subscribe(&env.kafka, &unique("baseline"), &[from]).expect("consumer");
    let producer = Producer::new(&env.kafka).expect("producer");
    while !shutdown.is_triggered() {
        let first = tokio::select! {
            m = consumer.recv() => m.expect("recv"),
            () = shutdown.wait() => break,
        };
        let mut batch = vec![(
            first.partition(),
            first.offset(),
            first.key().map(<[u8]>::to_vec),
            first.payload().map(<[u8]>::to_vec),
        )];
        drop(first);
        while batch.len() < 500 {
            match consumer.recv().now_or_never() {
                Some(Ok(m)) => batch.push((
                    m.partition(),
                    m.offset(),
                    m.key().map(<[u8]>::to_vec),
                    m.payload().map(<[u8]>::to_vec),
                )),
                _ => break,
            }
        }
        let mut acks = Vec::with_capacity(batch.len());
        for (_, _, key, payload) in &batch {
            loop {
                match producer.enqueue(
                    to,
                    key.as_deref().unwrap_or_default(),
                    payload.as_deref().unwrap_or_default(),
                ) {
                    Ok(ack) => {
                        acks.push(ack);
                        break;
                    }
                    Err(e) if Producer::is_queue_full(&e) => {
                        tokio::time::sleep(Duration::from_millis(5)).await
                    }
                    Err(e) => panic!("produce: {e}"),
                }
            }
        }
        for ack in futures::future::join_all(acks).await {
            ack.expect("ack");
        }
        acked.fetch_add(batch.len() as u64, Ordering::Relaxed);
        for (p, o, _, _) in &batch {
            consumer.store(from, *p, *o, None).expect("store");
        }
    }
}

/// A stage section in a new group, serving /metrics on a free port (returned).
fn stage(group: &str) -> (StageSection, String) {
    let port = free_port();
    let section = StageSection {
        group_id: Some(group.into()),
        metrics_listen: format!("127.0.0.1:{port}"),
        ..StageSection::default()
    };
    (section, format!("http://127.0.0.1:{port}/metrics"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("SIGHTLINE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000);
    let partitions = 2;
    let env = TestEnv::new(partitions)
        .await
        .expect("the local broker and ClickHouse: `cargo xtask services up`");
    let codec = Codec::pinned().expect("codec");
    let all = events(n);
    let bytes: usize = all
        .iter()
        .map(|e| e.messages.iter().map(|m| m.text.len()).sum::<usize>())
        .sum();
    println!("processors throughput: {n} events ({:.1} KB of text per event on average), {partitions} partitions", bytes as f64 / n as f64 / 1000.0);
    let producer = Producer::new(&env.kafka).expect("producer");
    let source = env.topic(Topic::Events);
    let mut acks = vec![];
    for e in &all {
        let payload = codec.encode(&source, e).await.expect("encode");
        acks.push(
            producer
                .enqueue(&source, e.kafka_key().as_bytes(), &payload)
                .expect("enqueue"),
        );
        if acks.len() >= 5_000 {
            for a in futures::future::join_all(std::mem::take(&mut acks)).await {
                a.expect("ack");
            }
        }
    }
    for a in futures::future::join_all(acks).await {
        a.expect("ack");
    }
    let n = n as u64;
    let scratch = env.topic(Topic::Notifications);
    let mut results = vec![];

    let run_baseline = |label: &'static str| {
        let env = env.clone();
        let (source, scratch) = (source.clone(), scratch.clone());
        async move {
            let shutdown = Shutdown::new();
            let acked = Arc::new(AtomicU64::new(0));
            let task = tokio::spawn({
                let (env, shutdown, acked) = (env.clone(), shutdown.clone(), acked.clone());
                async move { baseline(&env, &source, &scratch, acked, shutdown).await }
            });
            let r = rate(label, n, || {
                let acked = acked.clone();
                async move { acked.load(Ordering::Relaxed) }
            })
            .await;
            shutdown.trigger();
            let _ = task.await;
            (label, r)
        }
    };

    results.push(run_baseline("baseline: consume + produce").await);

    std::env::set_var(KEY_ENV, "bench-fingerprint-key");
    let (section, metrics) = stage(&unique("dedupe"));
    let mut dedupe = sightline_dedupe::DedupeConfig {
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        stage: section,
        ..Default::default()
    };
    dedupe.policy.fingerprint_key_env = KEY_ENV.into();
    let shutdown = Shutdown::new();
    let task = tokio::spawn(sightline_dedupe::run(dedupe, shutdown.clone()));
    let label = "dedupe: events → grouped";
    results.push((label, rate(label, n, || produced(&metrics)).await));
    shutdown.trigger();
    task.await.expect("dedupe task").expect("dedupe");

    let (section, metrics) = stage(&unique("classify"));
    let mut classify = sightline_classify::ClassifyConfig {
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        stage: section,
        ..Default::default()
    };
    classify.policy.fingerprint_key_env = KEY_ENV.into();
    let shutdown = Shutdown::new();
    let task = tokio::spawn(sightline_classify::run(classify, shutdown.clone()));
    let label = "classify: grouped → verdicts";
    results.push((label, rate(label, n, || produced(&metrics)).await));
    shutdown.trigger();
    task.await.expect("classify task").expect("classify");

    let (section, metrics) = stage(&unique("incidents"));
    let mut incidents = sightline_incidents::IncidentsConfig {
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        stage: section,
        ..Default::default()
    };
    incidents.policy.fingerprint_key_env = KEY_ENV.into();
    let shutdown = Shutdown::new();
    let task = tokio::spawn(sightline_incidents::run(incidents, None, shutdown.clone()));
    let label = "incidents: verdicts + grouped";
    results.push((
        label,
        rate(label, 2 * n, || {
            consumed(&metrics, &["verdicts", "grouped"])
        })
        .await,
    ));
    shutdown.trigger();
    task.await.expect("incidents task").expect("incidents");

    results.push(run_baseline("baseline again").await);

    let reference = (results[0].1 + results[4].1) / 2.0;
    println!("{:<32} {:>12} {:>14}", "", "events/s", "of baseline");
    for (label, r) in &results {
        println!("{label:<32} {r:>12.0} {:>13.0}%", r / reference * 100.0);
    }
    // Incidents writes little; its inputs/s are shown beside the baseline, with no target.
    for (label, r) in &results[1..3] {
        let share = r / reference;
        println!(
            "target {label}: >= 50% of the baseline: {}",
            if share >= 0.5 { "met" } else { "NOT met" }
        );
    }
}
