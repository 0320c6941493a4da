//! Exact counts through the whole pipeline under faults: 100,000 events (50,000 calls through
//! the shim) flow through dedupe and classify into the sink, while the sink is killed with
//! SIGKILL at random points three times and ClickHouse (a server of this test's own) is
//! restarted once. Every raw table and rollup then equals the totals computed from the
//! topics themselves.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use rand::Rng;
use sightline_events::{LlmEvent, Verdict, VerdictTier};
use sightline_kafka::{read_topic, Topic};
use sightline_testkit::clickhouse_server::ClickHouseServer;
use sightline_testkit::fake_upstream::{FakeUpstream, ANTHROPIC_USAGE};
use sightline_testkit::{eventually, unique, TestEnv};

use super::analytics::{rows_in, settle_and_stop};
use super::processors::Proc;
use super::{client, start_shim, AWS_KEY_ID};
use sightline_e2e::shim_config;

const CALLS: usize = 50_000;
const USERS: usize = 10;

/// Every `PASTE`th call pastes an AWS key id: blocked, CRITICAL.
const PASTE: usize = 97;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_events_stay_exact_across_sink_kills_and_a_clickhouse_restart() {
    let mut server = ClickHouseServer::start().await.expect("private ClickHouse");
    let env = TestEnv::with_clickhouse(2, &server.url())
        .await
        .expect("env");
    let upstream = FakeUpstream::start().await.expect("upstream");
    let (shim, shim_task) = start_shim(shim_config(&env, &upstream.url)).await;
    let mut dedupe = Proc::start("dedupe", &env, &unique("dedupe"), None, "");
    let mut classify = Proc::start("classify", &env, &unique("classify"), None, "");
    let group = unique("sink");
    let sections = format!(
        "[clickhouse]\nurl = \"{}\"\ndatabase = \"{}\"\n[batch]\nmax_age = \"300ms\"\n\
         [policy]\nfingerprint_key_env = \"SIGHTLINE_TEST_KEY\"\n[sink]\ninputs = [\"grouped\", \"verdicts\"]\n",
        env.clickhouse.url, env.clickhouse.database
    );
    let start_sink = || Proc::start_with("sink", &env, &group, &sections, "");
    let mut sink = start_sink();

    // The load: 50,000 calls from ten users, 32 at a time.
    let http = client();
    let load = tokio::spawn({
        let shim = shim.clone();
        async move {
            futures::stream::iter(0..CALLS)
                .for_each_concurrent(32, |i| {
                    let (http, shim) = (http.clone(), shim.clone());
                    async move {
                        let text = if i % PASTE == 0 {
                            format!("why does this fail: aws_access_key_id = {AWS_KEY_ID}")
                        } else {
                            format!("question number {i}")
                        };
                        let body = serde_json::json!({"model": "claude-sonnet-4", "max_tokens": 16,
                            "messages": [{"role": "user", "content": text}]});
                        let resp = http
                            .post(format!("{shim}/v1/messages"))
                            .header("x-sightline-user", format!("user-{}", i % USERS))
                            .header("x-sightline-team", format!("team-{}", i % 3))
                            .json(&body)
                            .send()
                            .await
                            .expect("call");
                        assert_eq!(resp.status(), 200, "call {i}");
                        assert_eq!(
                            resp.headers().contains_key("x-sightline-blocked"),
                            i % PASTE == 0,
                            "call {i}: only pastes are blocked"
                        );
                    }
                })
                .await;
        }
    });

    // The faults, at random points while the load runs.
    let client_ch = env.clickhouse.client();
    let messages = || rows_in(&client_ch, "llm_messages");
    // Four faults at random points of the flow (by rows landed, so each falls mid-flow
    // however fast the machine is): three SIGKILLs of the sink and one ClickHouse restart.
    let expected_messages = 2 * CALLS as u64;
    let mut points: Vec<u64> = (0..4)
        .map(|_| rand::rng().random_range(expected_messages / 10..expected_messages * 8 / 10))
        .collect();
    points.sort_unstable();
    let restart_at = rand::rng().random_range(0..4);
    for (fault, point) in points.into_iter().enumerate() {
        eventually(
            "the flow to reach the next fault",
            Duration::from_secs(300),
            || async { (messages().await >= point).then_some(()) },
        )
        .await;
        if fault == restart_at {
            server.restart().await.expect("ClickHouse restarts");
        } else {
            sink.kill().await;
            sink = start_sink();
        }
    }
    load.await.expect("load");
    shim_task.stop().await.expect("shim");

    // Independently, from the topics: each fact once, by id.
    let expect_events = 2 * CALLS;
    let grouped: HashMap<String, LlmEvent> =
        distinct(&env, Topic::Grouped, expect_events, |e: &LlmEvent| {
            e.event_id.clone()
        })
        .await;
    let verdicts: HashMap<String, Verdict> =
        distinct(&env, Topic::Verdicts, expect_events, |v: &Verdict| {
            v.verdict_id.clone()
        })
        .await;
    let responses: Vec<&LlmEvent> = grouped
        .values()
        .filter(|e| e.kind == sightline_events::EventKind::Response)
        .collect();
    let calls = responses.len() as u64;
    let blocked = responses
        .iter()
        .filter(|e| e.status == sightline_events::CallStatus::Blocked)
        .count() as u64;
    // Identical pastes by one user within the window are one logical request.
    let logical = responses
        .iter()
        .filter(|e| e.resample_role != Some(sightline_events::ResampleRole::Resample))
        .count() as u64;
    let messages_expected: u64 = grouped.values().map(|e| e.messages.len() as u64).sum();
    let findings: u64 = verdicts.values().map(|v| v.findings.len() as u64).sum();
    // A resample's inherited verdict repeats its primary's findings: stored, counted once.
    let triggers_expected: u64 = verdicts
        .values()
        .filter(|v| v.decision != sightline_events::Decision::Inherited)
        .map(|v| v.findings.len() as u64)
        .sum();
    let counted: Vec<&Verdict> = verdicts
        .values()
        .filter(|v| v.decision != sightline_events::Decision::Inherited)
        .collect();
    let critical = counted
        .iter()
        .filter(|v| v.tier == VerdictTier::Critical)
        .count() as u64;
    let pasted = CALLS.div_ceil(PASTE) as u64;
    assert_eq!(
        (calls, blocked),
        (CALLS as u64, pasted),
        "what the shim published"
    );

    let table = |name: &'static str| rows_in(&client_ch, name);
    eventually("the sink to catch up", Duration::from_secs(300), || async {
        (table("llm_calls").await >= calls
            && table("verdicts").await >= verdicts.len() as u64
            && table("llm_messages").await >= messages_expected)
            .then_some(())
    })
    .await;
    settle_and_stop(&mut sink).await;
    let _ = (
        dedupe.terminate(Duration::from_secs(10)).await,
        classify.terminate(Duration::from_secs(10)).await,
    );

    assert_eq!(table("llm_calls").await, calls, "llm_calls");
    assert_eq!(
        table("llm_messages").await,
        messages_expected,
        "llm_messages"
    );
    assert_eq!(table("verdicts").await, verdicts.len() as u64, "verdicts");
    assert_eq!(table("findings").await, findings, "findings");
    let daily: (u64, u64, u64, u64, u64) = client_ch
        .query(
            "SELECT sum(calls), sum(logical_requests), sum(blocked), sum(input_tokens), sum(critical) \
             FROM v_daily_ai_call_stats",
        )
        .fetch_one()
        .await
        .expect("daily");
    assert_eq!(
        daily,
        (
            calls,
            logical,
            blocked,
            (calls - blocked) * ANTHROPIC_USAGE.0 as u64,
            critical
        ),
        "per user: calls, logical requests, blocked, input tokens, critical"
    );
    assert!(
        critical > 0 && logical < calls,
        "pastes were CRITICAL, and some resampled"
    );
    let users: HashSet<String> = client_ch
        .query("SELECT DISTINCT user_id FROM v_daily_ai_call_stats")
        .fetch_all::<String>()
        .await
        .expect("users")
        .into_iter()
        .collect();
    assert_eq!(users.len(), USERS);
    for (name, sql) in [
        ("per team", "SELECT toUInt64(sum(c)) FROM (SELECT countMerge(calls) AS c FROM team_daily GROUP BY tenant_id, team_id, day)"),
        ("per capability", "SELECT toUInt64(sum(interactions)) FROM ai_audit_daily"),
        ("per workspace", "SELECT toUInt64(sum(interactions)) FROM ai_audit_workspace_stats"),
        ("per model", "SELECT toUInt64(sum(calls)) FROM tenant_model_daily"),
    ] {
        let n: u64 = client_ch.query(sql).fetch_one().await.expect(name);
        assert_eq!(n, calls, "{name} rollup");
    }
    let triggers: u64 = client_ch
        .query("SELECT toUInt64(sum(triggers)) FROM rule_daily")
        .fetch_one()
        .await
        .expect("rules");
    assert_eq!(triggers, triggers_expected, "per rule rollup");
    drop(server);
}

/// Every record of `topic` by its id, once the topic holds at least `expected` distinct ones.
async fn distinct<T: sightline_events::AvroRecord>(
    env: &TestEnv,
    topic: Topic,
    expected: usize,
    id: impl Fn(&T) -> String,
) -> HashMap<String, T> {
    let codec = sightline_events::Codec::pinned().expect("codec");
    let (kafka, name) = (env.kafka.clone(), env.topic(topic));
    eventually(
        &format!("{expected} distinct records on {name}"),
        Duration::from_secs(300),
        || async {
            let (k, t) = (kafka.clone(), name.clone());
            let raw = tokio::task::spawn_blocking(move || read_topic(&k, &t))
                .await
                .expect("reader")
                .expect("read the topic");
            let mut out = HashMap::new();
            for (_, r) in raw {
                let record: T = codec.decode(r.payload.as_deref()?).await.ok()?;
                out.insert(id(&record), record);
            }
            (out.len() >= expected).then_some(out)
        },
    )
    .await
}

/// ClickHouse stopped by an operator while inserts go on: each insert reaches a table and
/// all its materialized views, or none of them. (A client that keeps idle connections has
/// its inserts served by the stopping server until it cuts one between the table and its
/// views.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_while_clickhouse_stops_reach_a_table_and_its_views_alike() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    let mut server = ClickHouseServer::start().await.expect("private ClickHouse");
    let config = sightline_clickhouse::ClickHouseConfig {
        url: server.url(),
        database: "default".into(),
        ..Default::default()
    };
    let client = config.client();
    let views = 6;
    let mut ddl = vec!["CREATE TABLE raw (x UInt64, d Date DEFAULT today()) ENGINE = MergeTree PARTITION BY d ORDER BY x".to_string()];
    for i in 0..views {
        ddl.push(format!(
            "CREATE TABLE rollup_{i} (d Date, n UInt64) ENGINE = SummingMergeTree ORDER BY d"
        ));
        ddl.push(format!("CREATE MATERIALIZED VIEW rollup_{i}_mv TO rollup_{i} AS SELECT d, count() AS n FROM raw GROUP BY d"));
    }
    for sql in ddl {
        client.query(&sql).execute().await.expect("schema");
    }

    let (stopping, acked) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (client, stopping, acked) = (client.clone(), stopping.clone(), acked.clone());
            tokio::spawn(async move {
                while !stopping.load(Ordering::Relaxed) {
                    match client
                        .query("INSERT INTO raw (x) SELECT number FROM system.numbers LIMIT 500")
                        .execute()
                        .await
                    {
                        Ok(()) => _ = acked.fetch_add(1, Ordering::Relaxed),
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            })
        })
        .collect();
    eventually("inserts to flow", Duration::from_secs(60), || async {
        (acked.load(Ordering::Relaxed) >= 50).then_some(())
    })
    .await;
    server.stop().await.expect("ClickHouse stops");
    stopping.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }
    server.restart().await.expect("ClickHouse starts again");

    let raw: u64 = client
        .query("SELECT count() FROM raw")
        .fetch_one()
        .await
        .expect("raw");
    assert!(
        raw >= 50 * 500 && raw.is_multiple_of(500),
        "whole inserts only: {raw}"
    );
    for i in 0..views {
        let n: u64 = client
            .query(&format!("SELECT toUInt64(sum(n)) FROM rollup_{i}"))
            .fetch_one()
            .await
            .expect("rollup");
        assert_eq!(n, raw, "rollup_{i} counts what the table holds");
    }
}
