//! Freshness of the analytics: at a steady rate of events published as the shim publishes
//! them (a REQUEST and a RESPONSE per call on `sightline.events.v1`), the lag from
//! publishing a call's RESPONSE to its row being visible in `llm_calls` and in the per-user
//! rollup (`user_daily`), through dedupe and the sink with their shipped defaults (the
//! sink inserts at least every 500 ms). Also the rows inserted per second, and, in the same
//! run, the broker's raw consume rate for the same events (one plain consumer reading the
//! topic from the start).
//!
//! Needs the local broker and ClickHouse (`cargo xtask services up`); run with
//! `cargo bench -p sightline-e2e --bench freshness`. `SIGHTLINE_BENCH_RATE` sets the events
//! per second (default 5,000), `SIGHTLINE_BENCH_SECONDS` the steady part (default 30).
//! Every 100th call is a probe with a user of its own, so its rollup row shows when it lands.
//! Target: lag p99 at most 2 s.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sightline_events::{CallStatus, EventKind, LlmEvent, Message, Provider, TokenUsage};
use sightline_kafka::{Producer, Topic};
use sightline_runtime::Shutdown;
use sightline_stage::StageSection;
use sightline_testkit::{unique, TestEnv};

const KEY_ENV: &str = "SIGHTLINE_BENCH_FINGERPRINT_KEY";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn stage(group: &str) -> StageSection {
    StageSection {
        group_id: Some(group.into()),
        metrics_listen: String::new(),
        ..StageSection::default()
    }
}

/// The two events of call `n`, as the shim publishes them now.
fn call(n: u64, probe: bool) -> (LlmEvent, LlmEvent) {
    let user = if probe {
        format!("probe-{n}")
    } else {
        format!("user-{}", n % 50)
    };
    let mut req = LlmEvent::request("acme", &user, Provider::Anthropic, "POST /v1/messages");
    req.team_id = Some(format!("team-{}", n % 5));
    req.conversation_id = Some(format!("conv-{}", n % 500));
    req.capability = Some("chat".into());
    req.model = Some("claude-sonnet-4".into());
    req.content_hash = Some(format!("h{n}"));
    req.messages = vec![Message {
        role: "user".into(),
        text: format!("question number {n}"),
    }];
    let mut resp = req.clone();
    resp.event_id = LlmEvent::new_id();
    resp.kind = EventKind::Response;
    resp.status = CallStatus::Ok;
    resp.latency_ms = Some(300);
    resp.usage = Some(TokenUsage {
        input_tokens: 25,
        output_tokens: 11,
        cache_read_tokens: None,
        cache_write_tokens: None,
    });
    resp.messages = vec![Message {
        role: "assistant".into(),
        text: "an answer".into(),
    }];
    (req, resp)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Dedupe and the sink hash with the shim's fingerprint key.
    std::env::set_var(KEY_ENV, "freshness-bench-fingerprint-key");
    let rate = env_or("SIGHTLINE_BENCH_RATE", 5_000);
    let seconds = env_or("SIGHTLINE_BENCH_SECONDS", 30);
    let env = TestEnv::new(2)
        .await
        .expect("local broker and ClickHouse (cargo xtask services up)");
    let shutdown = Shutdown::new();

    let mut dedupe = sightline_dedupe::DedupeConfig {
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        stage: stage(&unique("dedupe")),
        ..Default::default()
    };
    dedupe.policy.fingerprint_key_env = KEY_ENV.into();
    let dedupe_task = tokio::spawn(sightline_dedupe::run(dedupe, shutdown.clone()));
    let mut sink = sightline_sink::SinkConfig {
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        clickhouse: env.clickhouse.clone(),
        stage: stage(&unique("sink")),
        ..Default::default()
    };
    sink.policy.fingerprint_key_env = KEY_ENV.into();
    sink.sink.inputs = vec!["grouped".into()];
    let sink_task = tokio::spawn(sightline_sink::run(sink, shutdown.clone()));

    // Publish at a steady rate, in ticks of 10 ms.
    let producer = Producer::new(&env.kafka).expect("producer");
    let topic = env.topic(Topic::Events);
    let codec = sightline_events::Codec::pinned().expect("codec");
    let calls_per_tick = (rate / 2).div_ceil(100).max(1);
    let ticks = seconds * 100;
    let probes: std::sync::Arc<std::sync::Mutex<HashMap<String, (String, Instant)>>> =
        Default::default();
    let publisher = {
        let probes = probes.clone();
        async move {
            let started = Instant::now();
            let mut n = 0u64;
            let mut acks = Vec::new();
            for tick in 0..ticks {
                let due = started + Duration::from_millis(tick * 10);
                tokio::time::sleep_until(due.into()).await;
                for _ in 0..calls_per_tick {
                    let probe = n.is_multiple_of(100);
                    let (req, resp) = call(n, probe);
                    for e in [&req, &resp] {
                        let payload = codec.encode(&topic, e).await.expect("encode");
                        loop {
                            match producer.enqueue(&topic, e.kafka_key().as_bytes(), &payload) {
                                Ok(ack) => break acks.push(ack),
                                Err(e) if Producer::is_queue_full(&e) => {
                                    tokio::time::sleep(Duration::from_millis(1)).await;
                                }
                                Err(e) => panic!("produce: {e}"),
                            }
                        }
                    }
                    if probe {
                        probes
                            .lock()
                            .expect("probes")
                            .insert(resp.call_id.clone(), (resp.user_id.clone(), Instant::now()));
                    }
                    n += 1;
                }
                if acks.len() > 20_000 {
                    for a in acks.drain(..) {
                        a.await.expect("ack");
                    }
                }
            }
            for a in acks {
                a.await.expect("ack");
            }
            (n, started.elapsed())
        }
    };

    // Watch for the probes, every 50 ms.
    let client = env.clickhouse.client();
    let watcher = {
        let probes = probes.clone();
        async move {
            let (mut in_calls, mut in_rollup) = (vec![], vec![]);
            let mut waiting_rollup: HashMap<String, Instant> = HashMap::new();
            let deadline = Instant::now() + Duration::from_secs(seconds + 60);
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let pending: Vec<(String, String, Instant)> = probes
                    .lock()
                    .expect("probes")
                    .iter()
                    .map(|(c, (u, t))| (c.clone(), u.clone(), *t))
                    .collect();
                if !pending.is_empty() {
                    let ids: Vec<&str> = pending.iter().map(|(c, _, _)| c.as_str()).collect();
                    let seen: Vec<String> = client
                        .query("SELECT call_id FROM llm_calls WHERE tenant_id = 'acme' AND has(?, call_id)")
                        .bind(ids)
                        .fetch_all()
                        .await
                        .unwrap_or_else(|e| {
                            eprintln!("polling llm_calls: {e}");
                            vec![]
                        });
                    let now = Instant::now();
                    let mut p = probes.lock().expect("probes");
                    for c in seen {
                        if let Some((user, at)) = p.remove(&c) {
                            in_calls.push(now - at);
                            waiting_rollup.insert(user, at);
                        }
                    }
                }
                if !waiting_rollup.is_empty() {
                    let users: Vec<&str> = waiting_rollup.keys().map(String::as_str).collect();
                    let seen: Vec<String> = client
                        .query("SELECT user_id FROM user_daily WHERE tenant_id = 'acme' AND has(?, user_id) GROUP BY user_id")
                        .bind(users)
                        .fetch_all()
                        .await
                        .unwrap_or_else(|e| {
                            eprintln!("polling user_daily: {e}");
                            vec![]
                        });
                    let now = Instant::now();
                    for u in seen {
                        if let Some(at) = waiting_rollup.remove(&u) {
                            in_rollup.push(now - at);
                        }
                    }
                }
                let done = probes.lock().expect("probes").is_empty() && waiting_rollup.is_empty();
                if (done && in_calls.len() as u64 >= ticks * calls_per_tick / 100)
                    || Instant::now() > deadline
                {
                    return (in_calls, in_rollup);
                }
            }
        }
    };
    let ((published, took), (in_calls, in_rollup)) = tokio::join!(publisher, watcher);
    let rows: u64 = env
        .clickhouse
        .client()
        .query("SELECT (SELECT count() FROM llm_calls) + (SELECT count() FROM llm_messages)")
        .fetch_one()
        .await
        .expect("rows");
    shutdown.trigger();
    if let Ok(Err(e)) = dedupe_task.await {
        eprintln!("dedupe stopped: {e}");
    }
    if let Ok(Err(e)) = sink_task.await {
        eprintln!("sink stopped: {e}");
    }

    // The reference: one plain consumer reading every event of the run from the start.
    let (k, t) = (env.kafka.clone(), env.topic(Topic::Events));
    let (records, read_took) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let n = sightline_kafka::read_topic(&k, &t).expect("read").len();
        (n, started.elapsed())
    })
    .await
    .expect("reader");

    let events = published * 2;
    println!(
        "\nfreshness: {events} events ({published} calls) published in {:.1} s = {:.0} events/s (target rate {rate})",
        took.as_secs_f64(),
        events as f64 / took.as_secs_f64()
    );
    let p99_calls = sightline_e2e::report_latencies("lag to llm_calls", in_calls);
    let p99_rollup =
        sightline_e2e::report_latencies("lag to the per-user rollup (user_daily)", in_rollup);
    println!(
        "  rows inserted (llm_calls + llm_messages)  {rows} = {:.0} rows/s over the publishing time",
        rows as f64 / took.as_secs_f64()
    );
    println!(
        "  reference: broker raw consume rate        {records} records in {:.1} s = {:.0} records/s (one consumer, from the start)",
        read_took.as_secs_f64(),
        records as f64 / read_took.as_secs_f64()
    );
    println!(
        "  target lag p99 at most 2 s: llm_calls {}, rollup {}",
        if p99_calls <= Duration::from_secs(2) {
            "met"
        } else {
            "NOT met"
        },
        if p99_rollup <= Duration::from_secs(2) {
            "met"
        } else {
            "NOT met"
        },
    );
}
