//! The ClickHouse analytics schema on ClickHouse 18.16: every documented query, the row
//! types against their tables, retention, and exact counts when facts arrive twice and the
//! sink is killed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sightline_events::{CallStatus, Codec, EventKind, LlmEvent, TokenUsage, Verdict, VerdictTier};
use sightline_kafka::{Producer, Topic};
use sightline_sink::rows::Table;
use sightline_testkit::{eventually, unique, TestEnv};

use super::incidents::verdict;
use super::processors::Proc;
use super::WAIT;

/// Runs each `;`-terminated statement of `text` (the migration runner's splitting).
async fn run_sql(env: &TestEnv, name: &str, text: &str) {
    let client = env.clickhouse.client();
    let parsed = sightline_clickhouse::migrate::parse(name, text).expect("statements");
    for stmt in parsed.statements {
        client.query(&stmt).execute().await.expect(&stmt);
    }
}

/// Rows `table` holds (0 while ClickHouse does not answer, as when it restarts).
pub(super) async fn rows_in(client: &clickhouse::Client, table: &str) -> u64 {
    client
        .query(&format!("SELECT count() FROM {table}"))
        .fetch_one::<u64>()
        .await
        .unwrap_or(0)
}

/// Lets anything still in flight land, then stops the sink process cleanly.
pub(super) async fn settle_and_stop(sink: &mut Proc) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        sink.terminate(Duration::from_secs(30)).await,
        "{}",
        sink.tail()
    );
}

fn documented_queries() -> Vec<String> {
    let readme = include_str!("../../../sql/README.md");
    readme
        .split("```sql\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .map(|q| q.trim().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_query_runs_on_clickhouse_18() {
    let env = TestEnv::new(1).await.expect("env");
    run_sql(
        &env,
        "0000_fixture.sql",
        include_str!("../../sql/fixture.sql"),
    )
    .await;
    let client = env.clickhouse.client();
    let queries = documented_queries();
    assert!(queries.len() >= 9, "found {} queries", queries.len());
    for q in &queries {
        // As TSV: whatever the columns, one line per row.
        let mut cursor = client.query(q).fetch_bytes("TSV").expect(q);
        let body = cursor.collect().await.expect(q);
        assert!(!body.is_empty(), "no rows from the documented query:\n{q}");
    }
    // The fixture: dana's call and its resample (blocked), one CRITICAL verdict and one
    // inherited, counted once.
    let daily: (u64, u64, u64, u64, u64) = client
        .query(
            "SELECT calls, logical_requests, blocked, critical, input_tokens FROM v_daily_ai_call_stats \
             WHERE tenant_id = 'acme' AND user_id = 'dana'",
        )
        .fetch_one()
        .await
        .expect("daily");
    assert_eq!(daily, (2, 1, 1, 1, 25));
    let open: (u64, i64) = client
        .query("SELECT open_incidents, occurrences FROM v_open_incidents_summary WHERE tenant_id = 'acme'")
        .fetch_one()
        .await
        .expect("open incidents");
    assert_eq!(open, (1, 2), "the incident's latest state, once");
    let triggers: u64 = client
        .query("SELECT toUInt64(sum(triggers)) FROM rule_daily WHERE tenant_id = 'acme'")
        .fetch_one()
        .await
        .expect("rules");
    assert_eq!(
        triggers, 1,
        "a resample's inherited finding is not a second trigger"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_older_than_the_raw_retention_are_not_written() {
    let env = TestEnv::new(1).await.expect("env");
    let codec = Codec::pinned().expect("codec");
    let producer = Producer::new(&env.kafka).expect("producer");
    let topic = env.topic(Topic::Events);
    let now = sightline_events::now_ms();
    let mut records = vec![];
    for (id, ts) in [("old", now - 200 * 86_400_000), ("new", now)] {
        let mut e = LlmEvent::request(
            "acme",
            "dana",
            sightline_events::Provider::Anthropic,
            "POST /v1/messages",
        );
        e.event_id = format!("{id}-request");
        e.occurred_at_ms = ts;
        e.messages = vec![sightline_events::Message {
            role: "user".into(),
            text: id.into(),
        }];
        let payload = codec.encode(&topic, &e).await.expect("encode");
        records.push((topic.clone(), e.kafka_key(), payload));
    }
    produce_all(&producer, records).await;
    let sink = super::start_sink(super::sink_config(&env, &unique("sink")));
    let client = env.clickhouse.client();
    eventually("the recent record", WAIT, || async {
        (rows_in(&client, "llm_messages").await >= 1).then_some(())
    })
    .await;
    let stats = sink.stop().await.expect("sink");
    let texts: Vec<String> = client
        .query("SELECT text FROM llm_messages")
        .fetch_all()
        .await
        .expect("texts");
    assert_eq!(
        texts,
        ["new"],
        "the 200-day-old record's day is past the 90-day retention"
    );
    assert_eq!((stats.expired, stats.inserted), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_types_match_their_tables() {
    let env = TestEnv::new(1).await.expect("env");
    let client = env.clickhouse.client();
    for table in Table::ALL {
        let columns: Vec<(String, String)> = client
            .query("SELECT name, default_kind FROM system.columns WHERE database = ? AND table = ?")
            .bind(&env.clickhouse.database)
            .bind(table.name())
            .fetch_all()
            .await
            .expect("columns");
        let required: Vec<&str> = columns
            .iter()
            .filter(|(_, default)| default.is_empty())
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(
            table.columns(),
            required.as_slice(),
            "{}: the row type's fields must be the table's columns without defaults, in order",
            table.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_old_raw_days_keeps_rollups_and_is_safe_twice() {
    let env = TestEnv::new(1).await.expect("env");
    let client = env.clickhouse.client();
    // Calls 200 days ago, 100 days ago and today.
    client
        .query(
            "INSERT INTO llm_calls (call_id, event_id, logical_id, resample_role, resample_index, tenant_id, user_id, \
             team_id, conversation_id, workspace_id, capability, api_key_id, provider, model, endpoint, streaming, \
             started_ms, ts_ms, status, http_status, error, input_tokens, output_tokens, cache_read_tokens, \
             cache_write_tokens, cost_usd_micros, latency_ms, ttft_ms, stop_reason, request_bytes, response_bytes, \
             attachment_count, user_agent, _topic, _partition, _offset) \
             SELECT concat('c', toString(number)), concat('e', toString(number)), concat('c', toString(number)), \
             'PRIMARY', 0, 'acme', 'dana', 'platform', '', '', 'chat', '', 'ANTHROPIC', 'm', 'POST /v1/messages', 0, \
             toUInt64(toUnixTimestamp(toDateTime(today() - [200, 100, 0][number + 1]))) * 1000, \
             toUInt64(toUnixTimestamp(toDateTime(today() - [200, 100, 0][number + 1]))) * 1000, \
             'OK', 200, '', 1, 1, 0, 0, 10, 5, NULL, '', NULL, NULL, 0, '', 't', 0, toInt64(number) \
             FROM system.numbers LIMIT 3",
        )
        .execute()
        .await
        .expect("back-dated calls");
    let mut out = Vec::new();
    sightline_cli::retention::run(&env.clickhouse, None, false, &mut out)
        .await
        .expect("retention");
    let first = String::from_utf8(out).expect("utf8");
    assert_eq!(
        first
            .lines()
            .filter(|l| l.starts_with("dropped llm_calls"))
            .count(),
        2,
        "the days older than 90 days: {first}"
    );
    assert!(first.contains("dropped 2 partition(s), 2 rows"), "{first}");
    let raw: u64 = client
        .query("SELECT count() FROM llm_calls")
        .fetch_one()
        .await
        .expect("count");
    assert_eq!(raw, 1, "today's call stays");
    let rolled: u64 = client
        .query("SELECT sum(calls) FROM v_daily_ai_call_stats")
        .fetch_one()
        .await
        .expect("rollup");
    assert_eq!(rolled, 3, "rollups keep every day");

    let mut again = Vec::new();
    sightline_cli::retention::run(&env.clickhouse, None, false, &mut again)
        .await
        .expect("retention again");
    let again = String::from_utf8(again).expect("utf8");
    assert!(again.contains("dropped 0 partition(s), 0 rows"), "{again}");
}

/// What the chaos test writes: calls (REQUEST and RESPONSE on the grouped topic) and
/// verdicts, some published twice, with what every table and rollup must then hold.
struct Traffic {
    events: Vec<LlmEvent>,
    verdicts: Vec<Verdict>,
}

impl Traffic {
    fn new(calls: usize) -> Self {
        // Recent: older records than the raw retention are not written.
        let t0 = sightline_events::now_ms() - 3_600_000;
        let mut events = Vec::with_capacity(calls * 2);
        let mut verdicts = Vec::with_capacity(calls);
        for i in 0..calls {
            let user = format!("u{}", i % 7);
            let at = t0 + i as i64 * 20;
            let mut req = LlmEvent::request(
                "acme",
                &user,
                sightline_events::Provider::Anthropic,
                "POST /v1/messages",
            );
            req.event_id = format!("req-{i}");
            req.call_id = format!("call-{i}");
            req.occurred_at_ms = at;
            req.team_id = Some(format!("team-{}", i % 3));
            req.conversation_id = Some(format!("conv-{}", i % 50));
            req.capability = Some(["chat", "code"][i % 2].into());
            req.messages = vec![sightline_events::Message {
                role: "user".into(),
                text: format!("question {i}"),
            }];
            let mut resp = req.clone();
            resp.event_id = format!("resp-{i}");
            resp.kind = EventKind::Response;
            resp.occurred_at_ms = at + 5;
            resp.latency_ms = Some(5);
            resp.status = if i % 11 == 0 {
                CallStatus::Blocked
            } else {
                CallStatus::Ok
            };
            resp.usage = Some(TokenUsage {
                input_tokens: (i % 13) as i64,
                output_tokens: 2,
                cache_read_tokens: None,
                cache_write_tokens: None,
            });
            resp.messages[0].role = "assistant".into();
            events.push(req);
            events.push(resp);
            let tier = if i % 11 == 0 {
                VerdictTier::Critical
            } else {
                VerdictTier::None
            };
            let mut v = verdict(i, &user, at, tier, None);
            v.team_id = Some(format!("team-{}", i % 3));
            verdicts.push(v);
        }
        Self { events, verdicts }
    }

    /// The records to produce: every event on the grouped topic and every verdict on the
    /// verdicts topic, each tenth event (and, with `verdicts_twice`, each tenth verdict)
    /// twice in a row.
    async fn records(&self, env: &TestEnv, verdicts_twice: bool) -> Vec<(String, String, Vec<u8>)> {
        let codec = Codec::pinned().expect("codec");
        let (grouped, verdicts) = (env.topic(Topic::Grouped), env.topic(Topic::Verdicts));
        let mut records = Vec::new();
        for (i, e) in self.events.iter().enumerate() {
            let payload = codec.encode(&grouped, e).await.expect("encode");
            records.push((grouped.clone(), e.kafka_key(), payload.clone()));
            if i % 10 == 3 {
                records.push((grouped.clone(), e.kafka_key(), payload));
            }
        }
        for (i, v) in self.verdicts.iter().enumerate() {
            let payload = codec.encode(&verdicts, v).await.expect("encode");
            records.push((verdicts.clone(), v.kafka_key(), payload.clone()));
            if verdicts_twice && i % 10 == 7 {
                records.push((verdicts.clone(), v.kafka_key(), payload));
            }
        }
        records
    }
}

/// Produces `records` (topic, key, payload) without waiting for each ack.
async fn produce_all(producer: &Producer, records: Vec<(String, String, Vec<u8>)>) {
    let mut acks = Vec::with_capacity(records.len());
    for (topic, key, payload) in &records {
        loop {
            match producer.enqueue(topic, key.as_bytes(), payload) {
                Ok(ack) => break acks.push(ack),
                Err(e) if Producer::is_queue_full(&e) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(e) => panic!("produce: {e}"),
            }
        }
        if acks.len() >= 5_000 {
            for a in acks.drain(..) {
                a.await.expect("ack");
            }
        }
    }
    for a in acks {
        a.await.expect("ack");
    }
}

/// Over 100,000 records: 31,000 calls as REQUEST and RESPONSE on the grouped topic plus their
/// 31,000 verdicts, with every tenth event and verdict published twice (a spool re-send, a
/// processor replaying its outputs), while the sink is killed with SIGKILL three times. Every
/// raw table and rollup then equals the totals computed here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_stay_exact_when_facts_arrive_twice_and_the_sink_is_killed() {
    let env = TestEnv::new(2).await.expect("env");
    let traffic = Traffic::new(31_000);
    let producer = Producer::new(&env.kafka).expect("producer");
    let records = traffic.records(&env, true).await;
    let total_records = records.len();
    assert!(total_records >= 100_000, "{total_records} records");

    let group = unique("sink");
    let sections = format!(
        "[clickhouse]\nurl = \"{}\"\ndatabase = \"{}\"\n[batch]\nmax_rows = 5000\nmax_age = \"300ms\"\n[policy]\nfingerprint_key_env = \"SIGHTLINE_TEST_KEY\"\n",
        env.clickhouse.url, env.clickhouse.database
    );
    let start = || Proc::start_with("sink", &env, &group, &sections, "");
    let mut sink = start();
    // Produce in four slices, killing the sink in the middle of the flow three times.
    let slice = total_records.div_ceil(4);
    let mut rest = records;
    let client = env.clickhouse.client();
    let held = |table: &'static str| rows_in(&client, table);
    for round in 0..4 {
        let tail = rest.split_off(slice.min(rest.len()));
        produce_all(&producer, std::mem::replace(&mut rest, tail)).await;
        if round < 3 {
            // Kill once some of this slice has landed, before all of it has.
            let before = held("llm_messages").await;
            eventually("the sink inserting", WAIT, || async {
                (held("llm_messages").await > before).then_some(())
            })
            .await;
            sink.kill().await;
            sink = start();
        }
    }

    // Independently: distinct facts.
    let calls = traffic
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Response)
        .count() as u64;
    let messages = traffic.events.len() as u64;
    let blocked = traffic
        .events
        .iter()
        .filter(|e| e.status == CallStatus::Blocked)
        .count() as u64;
    let input_tokens: u64 = traffic
        .events
        .iter()
        .filter_map(|e| e.usage.map(|u| u.input_tokens as u64))
        .sum();
    let critical = traffic
        .verdicts
        .iter()
        .filter(|v| v.tier == VerdictTier::Critical)
        .count() as u64;
    let conversations: HashSet<(String, String)> = traffic
        .events
        .iter()
        .map(|e| {
            (
                e.user_id.clone(),
                e.conversation_id.clone().unwrap_or_default(),
            )
        })
        .collect();

    eventually(
        "every call in llm_calls",
        Duration::from_secs(180),
        || async {
            (held("llm_calls").await >= calls
                && held("verdicts").await >= traffic.verdicts.len() as u64)
                .then_some(())
        },
    )
    .await;
    settle_and_stop(&mut sink).await;

    assert_eq!(held("llm_calls").await, calls, "llm_calls");
    assert_eq!(held("llm_messages").await, messages, "llm_messages");
    assert_eq!(
        held("verdicts").await,
        traffic.verdicts.len() as u64,
        "verdicts"
    );
    let daily: (u64, u64, u64, u64, u64) = client
        .query("SELECT sum(calls), sum(blocked), sum(input_tokens), sum(critical), sum(verdicts) FROM v_daily_ai_call_stats")
        .fetch_one()
        .await
        .expect("daily");
    assert_eq!(
        daily,
        (
            calls,
            blocked,
            input_tokens,
            critical,
            traffic.verdicts.len() as u64
        ),
        "per-user rollup: calls, blocked, input tokens, critical, verdicts"
    );
    let team: u64 = client
        .query("SELECT sum(c) FROM (SELECT countMerge(calls) AS c FROM team_daily GROUP BY tenant_id, team_id, day)")
        .fetch_one()
        .await
        .expect("team");
    assert_eq!(team, calls, "per-team rollup");
    let per_capability: HashMap<String, u64> = client
        .query("SELECT capability, sum(interactions) FROM ai_audit_daily GROUP BY capability")
        .fetch_all::<(String, u64)>()
        .await
        .expect("capabilities")
        .into_iter()
        .collect();
    assert_eq!(
        per_capability,
        HashMap::from([
            ("chat".to_string(), calls / 2),
            ("code".to_string(), calls / 2)
        ])
    );
    let by_model: u64 = client
        .query("SELECT sum(calls) FROM tenant_model_daily")
        .fetch_one()
        .await
        .expect("model");
    assert_eq!(by_model, calls, "per-model rollup");
    let distinct_conversations: u64 = client
        .query("SELECT count() FROM (SELECT conversation_id FROM conversation_stats GROUP BY tenant_id, conversation_id)")
        .fetch_one()
        .await
        .expect("conversations");
    assert_eq!(
        distinct_conversations,
        conversations
            .iter()
            .map(|(_, c)| c)
            .collect::<HashSet<_>>()
            .len() as u64
    );
}

/// Replays into a database the sink never wrote: a first range, then one that overlaps it,
/// then everything again by time. Every count stays exact; progress is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_rebuilds_tables_and_overlapping_ranges_stay_exact() {
    use sightline_sink::replay::{replay, Bound};
    let env = TestEnv::new(2).await.expect("env");
    let started_ms = sightline_events::now_ms() - 60_000;
    let traffic = Traffic::new(300);
    let producer = Producer::new(&env.kafka).expect("producer");
    let records = traffic.records(&env, false).await;
    produce_all(&producer, records).await;

    let mut config = sightline_sink::SinkConfig {
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        clickhouse: env.clickhouse.clone(),
        ..Default::default()
    };
    config.policy.fingerprint_key_env = "SIGHTLINE_TEST_KEY_UNSET".into();
    // A window too short to remember anything: what ClickHouse holds must be asked.
    config.sink.duplicate_window = Duration::from_millis(1);
    let shutdown = sightline_runtime::Shutdown::new();
    let mut seen = vec![];
    let first = replay(
        &config,
        Bound::Offset(0),
        Some(Bound::Offset(199)),
        &[],
        &shutdown,
        |p| seen.push(p.read),
    )
    .await
    .expect("first range");
    assert!(first.inserted > 0 && first.read > 0, "{first:?}");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]) && !seen.is_empty(),
        "progress: {seen:?}"
    );
    let client = env.clickhouse.client();
    let count = |table: &'static str| rows_in(&client, table);
    let partial = count("llm_messages").await;
    assert!(
        partial > 0 && partial < 600,
        "a part of the range: {partial}"
    );

    let overlapping = replay(&config, Bound::Offset(100), None, &[], &shutdown, |_| {})
        .await
        .expect("overlapping range");
    assert!(
        overlapping.held_rows > 0,
        "the overlap was already written: {overlapping:?}"
    );
    let mut out = Vec::new();
    sightline_cli::replay::run(
        &config,
        &sightline_cli::replay::ReplayArgs {
            from: Bound::Time(started_ms),
            to: None,
            tables: vec![],
        },
        &mut out,
    )
    .await
    .expect("everything again, by time");
    let printed = String::from_utf8(out).expect("utf8");
    assert!(
        printed.contains(" 0 rows inserted"),
        "nothing new the third time: {printed}"
    );

    assert_eq!(count("llm_calls").await, 300);
    assert_eq!(count("llm_messages").await, 600);
    assert_eq!(count("verdicts").await, 300);
    let calls: u64 = client
        .query("SELECT sum(calls) FROM v_daily_ai_call_stats")
        .fetch_one()
        .await
        .expect("rollup");
    assert_eq!(calls, 300, "the rollup counts each call once");
}
