//! The foundation end to end, against the real broker (tansu) and ClickHouse:
//! HTTP client → shim → fake upstream, shim → Kafka → sink → ClickHouse.

use std::time::Duration;

use clickhouse::Row;
use serde::Deserialize;
use sightline_events::{Codec, DlqRecord, LlmEvent, Message, Provider};
use sightline_kafka::{Producer, Topic};
use sightline_runtime::Shutdown;
use sightline_shim::config::ShimConfig;
use sightline_sink::config::SinkConfig;
use sightline_stage::StageSection;
use sightline_testkit::fake_upstream::{
    choice_answer, FakeUpstream, ANSWER, ANTHROPIC_USAGE, OPENAI_USAGE,
};
use sightline_testkit::{eventually, unique, TestEnv};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(60);

#[path = "pipeline/alerts.rs"]
mod alerts;
#[path = "pipeline/analytics.rs"]
mod analytics;
#[path = "pipeline/anomalies.rs"]
mod anomalies;
#[path = "pipeline/broker.rs"]
mod broker;
#[path = "pipeline/chaos.rs"]
mod chaos;
#[path = "pipeline/dashboard.rs"]
mod dashboard;
#[path = "pipeline/endpoints.rs"]
mod endpoints;
#[path = "pipeline/grafana.rs"]
mod grafana;
#[path = "pipeline/incidents.rs"]
mod incidents;
#[path = "pipeline/processors.rs"]
mod processors;
#[path = "pipeline/registry.rs"]
mod registry;
#[path = "pipeline/trust.rs"]
mod trust;

/// One event as the sink stored it (see [`rows`]).
#[derive(Debug, Clone)]
struct CallRow {
    event_id: String,
    call_id: String,
    kind: String,
    tenant_id: String,
    user_id: String,
    team_id: Option<String>,
    provider: String,
    model: Option<String>,
    endpoint: String,
    streaming: u8,
    message_roles: Vec<String>,
    message_texts: Vec<String>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    latency_ms: Option<i64>,
    ttft_ms: Option<i64>,
    status: String,
    http_status: Option<i32>,
    error: Option<String>,
    /// Rules whose findings were redacted in the text (`[REDACTED:<rule>:…]`), in order.
    finding_rules: Vec<String>,
    conversation_id: Option<String>,
    attachment_kinds: Vec<String>,
    attachment_sizes: Vec<i64>,
    attachment_sha256: Vec<String>,
    attachment_widths: Vec<i32>,
    attachment_heights: Vec<i32>,
    cost_usd_micros: Option<i64>,
    _partition: i32,
    _offset: i64,
}

/// Rows the sink's event tables hold.
async fn stored_rows(env: &TestEnv) -> u64 {
    env.clickhouse
        .client()
        .query(
            "SELECT (SELECT count() FROM llm_messages) + (SELECT count() FROM attachments) \
             + (SELECT count() FROM llm_calls)",
        )
        .fetch_one::<u64>()
        .await
        .expect("count rows")
}

/// Every event the sink wrote, one per REQUEST and RESPONSE, put together from
/// `llm_messages`, `attachments` and `llm_calls` (a RESPONSE's call facts).
async fn rows(env: &TestEnv) -> Vec<CallRow> {
    #[derive(Debug, Row, Deserialize)]
    struct Msg {
        event_id: String,
        call_id: String,
        kind: String,
        role: String,
        text: String,
        tenant_id: String,
        user_id: String,
        conversation_id: String,
        _partition: i32,
        _offset: i64,
    }
    #[derive(Debug, Row, Deserialize)]
    struct Att {
        event_id: String,
        call_id: String,
        kind: String,
        size_bytes: Option<i64>,
        digest: String,
        width: Option<i32>,
        height: Option<i32>,
        tenant_id: String,
        user_id: String,
        conversation_id: String,
        _partition: i32,
        _offset: i64,
    }
    #[derive(Debug, Row, Deserialize)]
    struct Call {
        event_id: String,
        call_id: String,
        tenant_id: String,
        user_id: String,
        team_id: String,
        conversation_id: String,
        provider: String,
        model: String,
        endpoint: String,
        streaming: u8,
        input_tokens: u64,
        output_tokens: u64,
        latency_ms: u64,
        ttft_ms: Option<i64>,
        status: String,
        http_status: Option<i32>,
        error: String,
        cost_usd_micros: i64,
        _partition: i32,
        _offset: i64,
    }
    let ch = env.clickhouse.client();
    let msgs: Vec<Msg> = ch
        .query(
            "SELECT event_id, call_id, kind, role, text, tenant_id, user_id, conversation_id, _partition, _offset \
             FROM llm_messages ORDER BY _partition, _offset, position",
        )
        .fetch_all()
        .await
        .expect("query llm_messages");
    let atts: Vec<Att> = ch
        .query(
            "SELECT event_id, call_id, kind, size_bytes, digest, width, height, tenant_id, user_id, \
             conversation_id, _partition, _offset FROM attachments ORDER BY _partition, _offset, position",
        )
        .fetch_all()
        .await
        .expect("query attachments");
    let calls: Vec<Call> = ch
        .query(
            "SELECT event_id, call_id, tenant_id, user_id, team_id, conversation_id, provider, model, \
             endpoint, streaming, input_tokens, output_tokens, latency_ms, ttft_ms, status, http_status, \
             error, cost_usd_micros, _partition, _offset FROM llm_calls",
        )
        .fetch_all()
        .await
        .expect("query llm_calls");
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let mut events: std::collections::HashMap<String, CallRow> = Default::default();
    let blank = |event_id: &str,
                 call_id: &str,
                 kind: &str,
                 tenant: &str,
                 user: &str,
                 conv: &str,
                 p: i32,
                 o: i64| CallRow {
        event_id: event_id.into(),
        call_id: call_id.into(),
        kind: kind.into(),
        tenant_id: tenant.into(),
        user_id: user.into(),
        team_id: None,
        provider: String::new(),
        model: None,
        endpoint: String::new(),
        streaming: 0,
        message_roles: vec![],
        message_texts: vec![],
        input_tokens: None,
        output_tokens: None,
        latency_ms: None,
        ttft_ms: None,
        status: "PENDING".into(),
        http_status: None,
        error: None,
        finding_rules: vec![],
        conversation_id: (!conv.is_empty()).then(|| conv.to_string()),
        attachment_kinds: vec![],
        attachment_sizes: vec![],
        attachment_sha256: vec![],
        attachment_widths: vec![],
        attachment_heights: vec![],
        cost_usd_micros: None,
        _partition: p,
        _offset: o,
    };
    for m in msgs {
        let e = events.entry(m.event_id.clone()).or_insert_with(|| {
            blank(
                &m.event_id,
                &m.call_id,
                &m.kind,
                &m.tenant_id,
                &m.user_id,
                &m.conversation_id,
                m._partition,
                m._offset,
            )
        });
        e.message_roles.push(m.role);
        e.message_texts.push(m.text);
    }
    for a in atts {
        let e = events.entry(a.event_id.clone()).or_insert_with(|| {
            blank(
                &a.event_id,
                &a.call_id,
                "REQUEST",
                &a.tenant_id,
                &a.user_id,
                &a.conversation_id,
                a._partition,
                a._offset,
            )
        });
        e.attachment_kinds.push(a.kind);
        e.attachment_sizes.push(a.size_bytes.unwrap_or(-1));
        e.attachment_sha256.push(a.digest);
        e.attachment_widths.push(a.width.unwrap_or(-1));
        e.attachment_heights.push(a.height.unwrap_or(-1));
    }
    for c in &calls {
        let e = events.entry(c.event_id.clone()).or_insert_with(|| {
            blank(
                &c.event_id,
                &c.call_id,
                "RESPONSE",
                &c.tenant_id,
                &c.user_id,
                &c.conversation_id,
                c._partition,
                c._offset,
            )
        });
        e.status = c.status.clone();
        e.http_status = c.http_status;
        e.error = some(&c.error);
        e.input_tokens = Some(c.input_tokens as i64);
        e.output_tokens = Some(c.output_tokens as i64);
        e.latency_ms = Some(c.latency_ms as i64);
        e.ttft_ms = c.ttft_ms;
        e.cost_usd_micros = Some(c.cost_usd_micros);
    }
    // A call's facts on its REQUEST too, as the shim published them on both events.
    for e in events.values_mut() {
        e.finding_rules = e
            .message_texts
            .iter()
            .flat_map(|t| t.split("[REDACTED:").skip(1))
            .filter_map(|rest| rest.split(':').next())
            .map(String::from)
            .collect();
        if let Some(c) = calls.iter().find(|c| c.call_id == e.call_id) {
            e.team_id = some(&c.team_id);
            e.provider = c.provider.clone();
            e.model = some(&c.model);
            e.endpoint = c.endpoint.clone();
            e.streaming = c.streaming;
        }
    }
    let mut events: Vec<CallRow> = events.into_values().collect();
    events.sort_by_key(|e| (e._partition, e._offset));
    events
}

/// The events once at least `n` are stored. A batch is inserted table by table, so the rows
/// are read again a moment later, when every table of the batch holds its part.
async fn rows_when(env: &TestEnv, n: usize) -> Vec<CallRow> {
    eventually(&format!("{n} events stored"), WAIT, || async {
        (rows(env).await.len() >= n).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    rows(env).await
}

use sightline_e2e::shim_config;

fn sink_config(env: &TestEnv, group: &str) -> SinkConfig {
    let mut c = SinkConfig {
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        clickhouse: env.clickhouse.clone(),
        stage: StageSection {
            group_id: Some(group.into()),
            ..StageSection::default()
        },
        ..SinkConfig::default()
    };
    c.batch.max_age = Duration::from_millis(200);
    // Only the shim runs in these tests: the sink reads its events directly.
    c.sink.inputs = vec!["events".into()];
    c
}

struct Running<T> {
    shutdown: Shutdown,
    task: JoinHandle<T>,
}

impl<T> Running<T> {
    async fn stop(self) -> T {
        self.shutdown.trigger();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("stops within grace")
            .expect("task")
    }
}

/// A test's topics and database, a fake upstream, and a shim in front of it whose config
/// `customise` may change.
async fn shim_with(
    partitions: i32,
    customise: impl FnOnce(&mut ShimConfig),
) -> (
    TestEnv,
    FakeUpstream,
    String,
    Running<sightline_shim::Result<()>>,
) {
    let env = TestEnv::new(partitions).await.expect("env");
    let upstream = FakeUpstream::start().await.expect("upstream");
    let mut config = shim_config(&env, &upstream.url);
    customise(&mut config);
    let (shim, shim_task) = start_shim(config).await;
    (env, upstream, shim, shim_task)
}

async fn start_shim(config: ShimConfig) -> (String, Running<sightline_shim::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = Shutdown::new();
    let task = tokio::spawn(sightline_shim::serve(config, listener, shutdown.clone()));
    (url, Running { shutdown, task })
}

fn start_sink(config: SinkConfig) -> Running<sightline_sink::Result<sightline_sink::sink::Stats>> {
    let shutdown = Shutdown::new();
    let task = tokio::spawn(sightline_sink::run(config, shutdown.clone()));
    Running { shutdown, task }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(WAIT)
        .build()
        .expect("client")
}

/// Reads a streamed response, checking the first chunk arrives while upstream still holds the
/// rest: proof the shim relays rather than buffers.
async fn read_held_stream(
    resp: reqwest::Response,
    gate: &tokio::sync::Semaphore,
    first: &str,
) -> String {
    let mut resp = resp;
    let chunk = tokio::time::timeout(WAIT, resp.chunk())
        .await
        .expect("first SSE chunk arrives before upstream finishes (no buffering)")
        .expect("chunk")
        .expect("non-empty");
    let mut text = String::from_utf8(chunk.to_vec()).expect("utf8");
    assert!(text.contains(first), "first chunk: {text}");
    gate.add_permits(1);
    while let Some(c) = resp.chunk().await.expect("chunk") {
        text.push_str(std::str::from_utf8(&c).expect("utf8"));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_through_the_shim_land_in_clickhouse_as_exact_rows() {
    let (env, upstream, shim, shim_task) = shim_with(3, |_| {}).await;
    upstream.set_delay(Duration::from_millis(50));
    let sink = start_sink(sink_config(&env, &unique("sink")));
    let http = client();
    let who = |r: reqwest::RequestBuilder| {
        r.header("x-sightline-user", "ada")
            .header("x-sightline-team", "platform")
            .header("x-api-key", "sk-upstream-key")
    };

    // 1. Anthropic, whole response.
    let resp = who(http.post(format!("{shim}/v1/messages")))
        .json(
            &serde_json::json!({"model": "claude-sonnet-4", "max_tokens": 64,
            "messages": [{"role": "user", "content": "first question"}]}),
        )
        .send()
        .await
        .expect("anthropic call");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["content"][0]["text"], ANSWER);
    assert_eq!(body["usage"]["input_tokens"], ANTHROPIC_USAGE.0);

    // 2. Anthropic, streamed and held by upstream after the first event.
    let gate = upstream.hold_streams();
    let resp = who(http.post(format!("{shim}/v1/messages")))
        .json(
            &serde_json::json!({"model": "claude-sonnet-4", "max_tokens": 64, "stream": true,
            "messages": [{"role": "user", "content": "second question"}]}),
        )
        .send()
        .await
        .expect("anthropic stream");
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let sse = read_held_stream(resp, &gate, "event: message_start").await;
    assert!(
        sse.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
        "{sse}"
    );

    // 3. OpenAI, whole response.
    let resp = who(http.post(format!("{shim}/v1/chat/completions")))
        .json(&serde_json::json!({"model": "gpt-4o", "messages": [
            {"role": "system", "content": "be brief"}, {"role": "user", "content": "third question"}]}))
        .send()
        .await
        .expect("openai call");
    assert_eq!(resp.status(), 200);

    // 4. OpenAI, streamed with a usage chunk, held after the first chunk.
    let resp = who(http.post(format!("{shim}/v1/chat/completions")))
        .json(&serde_json::json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "fourth question"}]}))
        .send()
        .await
        .expect("openai stream");
    let sse = read_held_stream(resp, &gate, "chat.completion.chunk").await;
    assert!(sse.ends_with("data: [DONE]\n\n"));

    // Upstream saw the caller's auth, and none of the shim's identity headers.
    let seen = upstream.requests();
    assert_eq!(seen.len(), 4);
    assert!(seen
        .iter()
        .all(|r| r.headers["x-api-key"] == "sk-upstream-key"));
    assert!(seen
        .iter()
        .all(|r| !r.headers.contains_key("x-sightline-user")));

    let rows = rows_when(&env, 8).await;
    assert_eq!(rows.len(), 8, "{rows:#?}");
    let calls = [
        (
            "ANTHROPIC",
            false,
            "first question",
            ANTHROPIC_USAGE,
            "claude-sonnet-4",
        ),
        (
            "ANTHROPIC",
            true,
            "second question",
            ANTHROPIC_USAGE,
            "claude-sonnet-4",
        ),
        ("OPENAI", false, "third question", OPENAI_USAGE, "gpt-4o"),
        ("OPENAI", true, "fourth question", OPENAI_USAGE, "gpt-4o"),
    ];
    for (provider, streaming, question, (input, output), model) in calls {
        let req = rows
            .iter()
            .find(|r| {
                r.kind == "REQUEST" && r.message_texts.last().map(String::as_str) == Some(question)
            })
            .unwrap_or_else(|| panic!("REQUEST row for {question}: {rows:#?}"));
        let resp = rows
            .iter()
            .find(|r| r.kind == "RESPONSE" && r.call_id == req.call_id)
            .unwrap_or_else(|| panic!("RESPONSE row for {question}"));
        for r in [req, resp] {
            assert_eq!((r.tenant_id.as_str(), r.user_id.as_str()), ("acme", "ada"));
            assert_eq!(r.team_id.as_deref(), Some("platform"));
            assert_eq!(r.provider, provider);
            assert_eq!(r.model.as_deref(), Some(model));
            assert_eq!(r.streaming, u8::from(streaming), "{question}");
        }
        let endpoint = if provider == "ANTHROPIC" {
            "POST /v1/messages"
        } else {
            "POST /v1/chat/completions"
        };
        assert_eq!(req.endpoint, endpoint);
        assert_eq!(req.status, "PENDING");
        assert_eq!(
            (req.input_tokens, req.output_tokens, req.latency_ms),
            (None, None, None)
        );
        assert_eq!(req.message_roles.last().map(String::as_str), Some("user"));

        assert_eq!(resp.status, "OK", "{question}");
        assert_eq!(resp.http_status, Some(200));
        assert_eq!(
            (resp.input_tokens, resp.output_tokens),
            (Some(input), Some(output)),
            "{question}"
        );
        assert_eq!(resp.message_roles, ["assistant"]);
        assert_eq!(resp.message_texts, [ANSWER]);
        assert_eq!(resp.error, None);
        let (latency, ttft) = (
            resp.latency_ms.expect("latency"),
            resp.ttft_ms.expect("ttft"),
        );
        assert!(
            ttft >= 50,
            "upstream waits 50 ms before answering: ttft {ttft}"
        );
        assert!(latency >= ttft, "latency {latency} >= ttft {ttft}");
        // Keyed by tenant/user: both events on one partition, REQUEST first.
        assert_eq!(req._partition, resp._partition);
        assert!(req._offset < resp._offset);
        assert_ne!(req.event_id, resp.event_id);
    }
    let openai_req = rows
        .iter()
        .find(|r| r.message_texts.last().map(String::as_str) == Some("third question"))
        .expect("row");
    assert_eq!(openai_req.message_roles, ["system", "user"]);

    shim_task.stop().await.expect("shim stops cleanly");
    let stats = sink.stop().await.expect("sink stops cleanly");
    assert_eq!(
        stats.inserted,
        stored_rows(&env).await,
        "every row inserted once"
    );
    assert_eq!(stats.dead_lettered, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_errors_and_outages_are_relayed_and_recorded() {
    let (env, _upstream, shim, shim_task) = shim_with(1, |_| {}).await;
    let http = client();

    let resp = http
        .post(format!("{shim}/v1/messages"))
        .header("x-fake-status", "429")
        .json(&serde_json::json!({"model": "m", "messages": []}))
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), 429);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(
        body["error"]["type"], "rate_limit_error",
        "upstream's error body is returned as is"
    );
    shim_task.stop().await.expect("shim stops");

    // Nothing listens on port 9: the shim answers 502 in the provider's error shape.
    let (shim, shim_task) = start_shim(shim_config(&env, "http://127.0.0.1:9")).await;
    let resp = http
        .post(format!("{shim}/v1/chat/completions"))
        .json(&serde_json::json!({"model": "m", "messages": []}))
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), 502);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["type"], "upstream_unreachable");
    shim_task.stop().await.expect("shim stops");

    let sink = start_sink(sink_config(&env, &unique("sink")));
    // The requests had no messages: each call is its row in llm_calls.
    let rows = rows_when(&env, 2).await;
    let statuses: Vec<(&str, &str, Option<i32>)> = rows
        .iter()
        .map(|r| (r.kind.as_str(), r.status.as_str(), r.http_status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("RESPONSE", "UPSTREAM_ERROR", Some(429)),
            ("RESPONSE", "FAILED", Some(502)),
        ]
    );
    assert!(
        rows[1]
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("upstream unreachable")),
        "{:?}",
        rows[1].error
    );
    sink.stop().await.expect("sink stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_answered_while_the_broker_is_unreachable() {
    let (_env, _upstream, shim, shim_task) = shim_with(1, |config| {
        config.kafka.brokers = "127.0.0.1:9".into();
        config.kafka.delivery_timeout = Duration::from_secs(2);
        config.shim.shutdown_grace = Duration::from_secs(3);
    })
    .await;
    let http = client();
    for i in 0..5 {
        let resp = http
            .post(format!("{shim}/v1/messages"))
            .json(&serde_json::json!({"model": "m", "messages": [{"role": "user", "content": format!("q{i}")}]}))
            .send()
            .await
            .expect("call");
        assert_eq!(resp.status(), 200, "answered although Kafka is down");
    }
    // Shutdown is bounded by the grace period even though nothing can be delivered.
    let _ = shim_task.stop().await;
}

fn event(user: &str, text: &str) -> LlmEvent {
    LlmEvent {
        model: Some("m".into()),
        messages: vec![Message {
            role: "user".into(),
            text: text.into(),
        }],
        ..LlmEvent::request("acme", user, Provider::Anthropic, "POST /v1/messages")
    }
}

async fn produce(env: &TestEnv, producer: &Producer, codec: &Codec, e: &LlmEvent) -> (i32, i64) {
    let topic = env.topic(Topic::Events);
    let payload = codec.encode(&topic, e).await.expect("encode");
    producer
        .send(&topic, e.kafka_key().as_bytes(), &payload, None)
        .await
        .expect("send")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_record_goes_to_the_dlq_and_the_sink_keeps_going() {
    let env = TestEnv::new(1).await.expect("env");
    let producer = Producer::new(&env.kafka).expect("producer");
    let codec = Codec::pinned().expect("codec");
    let sink = start_sink(sink_config(&env, &unique("sink")));

    produce(&env, &producer, &codec, &event("eve", "before")).await;
    let garbage = b"{\"not\": \"avro\"}".to_vec();
    let (_, bad_offset) = producer
        .send(&env.topic(Topic::Events), b"acme/eve", &garbage, None)
        .await
        .expect("send garbage");
    produce(&env, &producer, &codec, &event("eve", "after")).await;

    let rows = rows_when(&env, 2).await;
    let texts: Vec<&str> = rows.iter().map(|r| r.message_texts[0].as_str()).collect();
    assert_eq!(texts, ["before", "after"]);

    let dlq = read_one_dlq(&env).await;
    assert_eq!(dlq.source_topic, env.topic(Topic::Events));
    assert_eq!(dlq.source_offset, bad_offset);
    assert_eq!(dlq.processor, "sink");
    assert_eq!(
        dlq.payload.as_deref(),
        Some(&garbage[..]),
        "original bytes kept"
    );
    assert_eq!(dlq.key.as_deref(), Some(&b"acme/eve"[..]));
    assert!(dlq.error.contains("magic byte"), "{}", dlq.error);

    let stats = sink.stop().await.expect("sink");
    assert_eq!((stats.inserted, stats.dead_lettered), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_from_a_producer_that_bypassed_the_shim_never_reaches_clickhouse() {
    let env = TestEnv::new(1).await.expect("env");
    let producer = Producer::new(&env.kafka).expect("producer");
    let codec = Codec::pinned().expect("codec");
    let sink = start_sink(sink_config(&env, &unique("sink")));
    let text = format!("deploy with aws_access_key_id = {AWS_KEY_ID} today");
    let mut e = event("mallory", &text);
    // A RESPONSE, whose error is stored with its call.
    e.kind = sightline_events::EventKind::Response;
    e.status = sightline_events::CallStatus::UpstreamError;
    e.error = Some(format!("upstream said: bad key {AWS_KEY_ID}"));
    e.endpoint = format!("POST /v1/messages?key={AWS_KEY_ID}");
    produce(&env, &producer, &codec, &e).await;
    let rows = rows_when(&env, 1).await;
    assert!(
        rows[0]
            .error
            .as_deref()
            .is_some_and(|e| !e.contains(AWS_KEY_ID)),
        "free-text fields are redacted too"
    );
    assert!(
        !rows[0].endpoint.contains(AWS_KEY_ID)
            && rows[0].endpoint.starts_with("POST /v1/messages?key="),
        "so is the endpoint: {}",
        rows[0].endpoint
    );
    assert!(
        !rows[0].message_texts[0].contains(AWS_KEY_ID),
        "the value was redacted before the insert"
    );
    assert!(
        rows[0].message_texts[0].starts_with("deploy with"),
        "the rest is kept"
    );
    assert!(
        rows[0].message_texts[0].contains("[REDACTED:aws-access-key-id:"),
        "the finding is named in its place: {}",
        rows[0].message_texts[0]
    );
    let stats = sink.stop().await.expect("sink");
    assert_eq!(stats.inserted, 2, "its message and its call");
}

async fn read_one_dlq(env: &TestEnv) -> DlqRecord {
    let raw = read_records(env, Topic::Dlq, 1).await;
    let codec = Codec::pinned().expect("codec");
    codec.decode(&raw[0]).await.expect("DlqRecord")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_topic_does_not_double_count() {
    let env = TestEnv::new(1).await.expect("env");
    let producer = Producer::new(&env.kafka).expect("producer");
    let codec = Codec::pinned().expect("codec");
    for i in 0..20 {
        produce(&env, &producer, &codec, &event("bob", &format!("m{i}"))).await;
    }
    let first = start_sink(sink_config(&env, &unique("sink-a")));
    rows_when(&env, 20).await;
    first.stop().await.expect("first sink");

    // A new consumer group starts from the earliest offset: a full replay, as after a crash
    // that lost every commit. ClickHouse's progress table makes it skip what it already holds.
    for i in 20..25 {
        produce(&env, &producer, &codec, &event("bob", &format!("m{i}"))).await;
    }
    let marker = event("bob", "marker");
    produce(&env, &producer, &codec, &marker).await;
    let second = start_sink(sink_config(&env, &unique("sink-b")));
    eventually("marker row", WAIT, || async {
        rows(&env)
            .await
            .iter()
            .any(|r| r.event_id == marker.event_id)
            .then_some(())
    })
    .await;
    let stats = second.stop().await.expect("second sink");
    let rows = rows(&env).await;
    assert_eq!(rows.len(), 26, "each event exactly once");
    let mut ids: Vec<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 26);
    assert_eq!((stats.skipped, stats.inserted), (20, 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_and_topics_are_idempotent() {
    let env = TestEnv::new(2).await.expect("env");
    let migrations = sightline_clickhouse::migrate::embedded().expect("embedded");
    let report = sightline_clickhouse::migrate::apply(&env.clickhouse, &migrations)
        .await
        .expect("again");
    assert!(report.applied.is_empty());
    assert_eq!(report.skipped.len(), migrations.len());
    let count: u64 = env
        .clickhouse
        .client()
        .query("SELECT count() FROM schema_migrations")
        .fetch_one()
        .await
        .expect("count");
    assert_eq!(count, migrations.len() as u64);

    // An applied migration that was edited is refused, naming the file.
    let mut edited = migrations.clone();
    edited[0].checksum = "0".repeat(64);
    let err = sightline_clickhouse::migrate::apply(&env.clickhouse, &edited)
        .await
        .expect_err("edited");
    assert!(err.to_string().contains(&migrations[0].name), "{err}");

    let applied = sightline_kafka::topics::apply(&env.kafka, &env.topics)
        .await
        .expect("topics again");
    assert_eq!(applied.len(), Topic::ALL.len());
    assert!(
        applied
            .iter()
            .all(|(_, a)| *a == sightline_kafka::topics::Applied::AlreadyExists),
        "{applied:?}"
    );
}

const AWS_KEY_ID: &str = "AKIAQYLPMN5HHHFPZAM2";
const AWS_SECRET: &str = "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";

/// Every record on the events topic, raw.
async fn raw_events(env: &TestEnv, expected: usize) -> Vec<Vec<u8>> {
    read_records(env, Topic::Events, expected).await
}

/// A consumer of one of the test's topics from its start, in a group of its own.
fn reader(env: &TestEnv, topic: Topic) -> rdkafka::consumer::StreamConsumer {
    use rdkafka::consumer::Consumer;
    let consumer: rdkafka::consumer::StreamConsumer = env
        .kafka
        .client_config(&[])
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&env.topic(topic)]).expect("subscribe");
    consumer
}

/// The first `expected` record payloads of one of the test's topics, read by a new group.
async fn read_records(env: &TestEnv, topic: Topic, expected: usize) -> Vec<Vec<u8>> {
    use rdkafka::Message as _;
    let consumer = reader(env, topic);
    let mut out = vec![];
    while out.len() < expected {
        let msg = tokio::time::timeout(WAIT, consumer.recv())
            .await
            .expect("records")
            .expect("recv");
        out.push(msg.payload().unwrap_or_default().to_vec());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pasted_aws_credentials_are_blocked_and_never_stored() {
    let (env, upstream, shim, shim_task) = shim_with(1, |_| {}).await;
    let sink = start_sink(sink_config(&env, &unique("sink")));
    let http = client();
    let prompt = format!("Deploy is failing with these creds:\naws_access_key_id = {AWS_KEY_ID}\naws_secret_access_key = {AWS_SECRET}\nwhy?");

    // Anthropic, whole and streamed; OpenAI, whole and streamed.
    let cases = [
        (
            "/v1/messages",
            false,
            serde_json::json!({"model": "claude-sonnet-4", "max_tokens": 64, "messages": [{"role": "user", "content": prompt}]}),
        ),
        (
            "/v1/messages",
            true,
            serde_json::json!({"model": "claude-sonnet-4", "max_tokens": 64, "stream": true, "messages": [{"role": "user", "content": prompt}]}),
        ),
        (
            "/v1/chat/completions",
            false,
            serde_json::json!({"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}]}),
        ),
        (
            "/v1/chat/completions",
            true,
            serde_json::json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": prompt}]}),
        ),
    ];
    for (path, stream, body) in &cases {
        let resp = http
            .post(format!("{shim}{path}"))
            .header("x-sightline-user", "mallory")
            .json(body)
            .send()
            .await
            .expect("call");
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["x-sightline-blocked"], "true");
        let text = resp.text().await.expect("body");
        assert!(
            !text.contains(AWS_KEY_ID) && !text.contains(AWS_SECRET),
            "the block message never echoes the secret"
        );
        if *stream {
            assert!(
                text.starts_with(if path.contains("messages") {
                    "event: message_start"
                } else {
                    "data: {"
                }),
                "{text}"
            );
            assert!(text.contains("Sightline blocked this request"), "{text}");
        } else {
            let v: serde_json::Value = serde_json::from_str(&text).expect("json");
            let reply = if path.contains("messages") {
                &v["content"][0]["text"]
            } else {
                &v["choices"][0]["message"]["content"]
            };
            let reply = reply.as_str().expect("text");
            assert!(
                reply.starts_with("Sightline blocked this request"),
                "{reply}"
            );
            assert!(
                reply.contains("AWS access key ID"),
                "names what was found: {reply}"
            );
        }
    }
    assert!(
        upstream.requests().is_empty(),
        "blocked requests never reach upstream"
    );

    let rows = rows_when(&env, 8).await;
    for r in &rows {
        assert!(
            r.message_texts
                .iter()
                .all(|t| !t.contains(AWS_KEY_ID) && !t.contains(AWS_SECRET)),
            "{r:?}"
        );
    }
    let requests: Vec<&CallRow> = rows.iter().filter(|r| r.kind == "REQUEST").collect();
    assert_eq!(requests.len(), 4);
    for r in &requests {
        assert!(
            r.message_texts[0].contains("[REDACTED:aws-access-key-id:"),
            "{:?}",
            r.message_texts
        );
        assert!(
            r.finding_rules.contains(&"aws-access-key-id".to_string()),
            "{:?}",
            r.finding_rules
        );
        assert!(
            r.finding_rules
                .contains(&"aws-secret-access-key".to_string()),
            "{:?}",
            r.finding_rules
        );
    }
    let responses: Vec<&CallRow> = rows.iter().filter(|r| r.kind == "RESPONSE").collect();
    assert!(
        responses
            .iter()
            .all(|r| r.status == "BLOCKED" && r.user_id == "mallory"),
        "{responses:?}"
    );

    // Nor anywhere on the topic, in any encoding of the record.
    for record in raw_events(&env, 8).await {
        let haystack = String::from_utf8_lossy(&record);
        assert!(!haystack.contains(AWS_KEY_ID) && !haystack.contains(AWS_SECRET));
    }
    shim_task.stop().await.expect("shim");
    sink.stop().await.expect("sink");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redact_tier_forwards_a_redacted_request_and_responses_are_redacted_when_published() {
    let dir = std::env::temp_dir().join(unique("policy"));
    std::fs::create_dir_all(&dir).expect("dir");
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        "version = 1\n[[rules]]\nname = \"mail\"\nmatch = { rule = \"email-address\" }\ntier = \"WARNING\"\n[tiers.WARNING]\nactions = [\"redact\"]\n",
    )
    .expect("write policy");
    let (env, upstream, shim, shim_task) =
        shim_with(1, |config| config.policy.file = Some(policy)).await;
    let sink = start_sink(sink_config(&env, &unique("sink")));

    let resp = client()
        .post(format!("{shim}/v1/messages"))
        .header("x-fake-reply", "Sure, write to ceo@globex.example about it.")
        .json(&serde_json::json!({"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "email ada@acme.example the report"}]}))
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(
        body["content"][0]["text"], "Sure, write to ceo@globex.example about it.",
        "responses reach the client untouched"
    );

    let seen = upstream.requests();
    let forwarded = String::from_utf8_lossy(&seen[0].body);
    assert!(!forwarded.contains("ada@acme.example"), "{forwarded}");
    assert!(
        forwarded.contains("[REDACTED:email-address:"),
        "{forwarded}"
    );
    serde_json::from_str::<serde_json::Value>(&forwarded).expect("the redacted body is still JSON");

    let rows = rows_when(&env, 2).await;
    let response = rows
        .iter()
        .find(|r| r.kind == "RESPONSE")
        .expect("response row");
    assert_eq!(response.status, "OK");
    assert!(
        response.message_texts[0].contains("[REDACTED:email-address:"),
        "{:?}",
        response.message_texts
    );
    assert!(!response.message_texts[0].contains("ceo@globex.example"));
    assert_eq!(response.finding_rules, ["email-address"]);
    shim_task.stop().await.expect("shim");
    sink.stop().await.expect("sink");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_attachments_and_cost_are_recorded() {
    use base64::Engine as _;
    let (env, upstream, shim, shim_task) = shim_with(1, |config| {
        config.prices.insert(
            "claude-sonnet-4*".into(),
            sightline_shim::pricing::Price {
                input_per_mtok: 3.0,
                output_per_mtok: 15.0,
                cache_read_per_mtok: None,
                cache_write_per_mtok: None,
            },
        );
    })
    .await;
    let sink = start_sink(sink_config(&env, &unique("sink")));
    let http = client();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let png = [
        &b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..],
        &1280u32.to_be_bytes(),
        &720u32.to_be_bytes(),
        &[8, 6, 0, 0, 0],
    ]
    .concat();

    // 1. A screenshot, from Claude Code (session in metadata.user_id).
    let screenshot = serde_json::json!({"model": "claude-sonnet-4", "max_tokens": 64,
        "metadata": {"user_id": "user_9f8e_account_1a2b_session_5f0c8e52-1f5a-4c2e-9a53-0d1c2b3a4f5e"},
        "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64(&png)}},
            {"type": "text", "text": "what is on this screen?"}]}]});
    let resp = http
        .post(format!("{shim}/v1/messages"))
        .header("x-sightline-user", "ada")
        .json(&screenshot)
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), 200);
    let forwarded: serde_json::Value =
        serde_json::from_slice(&upstream.requests()[0].body).expect("json");
    assert_eq!(
        forwarded["messages"][0]["content"][0]["source"]["data"],
        b64(&png),
        "image bytes reach the model untouched"
    );

    // 2 and 3. No session: the same first user turn gives the same conversation.
    for follow_up in ["first", "second"] {
        let body = serde_json::json!({"model": "claude-sonnet-4", "max_tokens": 64, "messages": [
            {"role": "user", "content": "plan the migration"}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": follow_up}]});
        let resp = http
            .post(format!("{shim}/v1/messages"))
            .header("x-sightline-user", "ada")
            .json(&body)
            .send()
            .await
            .expect("call");
        assert_eq!(resp.status(), 200);
    }

    // 4. A text document carrying a secret is blocked like a prompt.
    let doc = serde_json::json!({"model": "claude-sonnet-4", "max_tokens": 64, "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "base64", "media_type": "text/plain", "data": b64(format!("creds: {AWS_KEY_ID}").as_bytes())}},
        {"type": "text", "text": "summarise the attached file"}]}]});
    let resp = http
        .post(format!("{shim}/v1/messages"))
        .header("x-sightline-user", "ada")
        .json(&doc)
        .send()
        .await
        .expect("call");
    assert_eq!(resp.headers()["x-sightline-blocked"], "true");
    assert_eq!(
        upstream.requests().len(),
        3,
        "the blocked document never reached upstream"
    );

    let rows = rows_when(&env, 8).await;
    let requests: Vec<&CallRow> = rows.iter().filter(|r| r.kind == "REQUEST").collect();
    assert_eq!(
        requests[0].conversation_id.as_deref(),
        Some("session-5f0c8e52-1f5a-4c2e-9a53-0d1c2b3a4f5e")
    );
    assert_eq!(requests[0].attachment_kinds, ["image"]);
    assert_eq!(requests[0].attachment_sizes, [png.len() as i64]);
    assert_eq!(
        (
            requests[0].attachment_widths.clone(),
            requests[0].attachment_heights.clone()
        ),
        (vec![1280], vec![720])
    );
    assert_eq!(requests[0].attachment_sha256[0].len(), 64);
    let derived = requests[1]
        .conversation_id
        .clone()
        .expect("derived conversation");
    assert!(derived.starts_with("conv-"), "{derived}");
    assert_eq!(
        requests[2].conversation_id.as_deref(),
        Some(derived.as_str()),
        "stable across turns"
    );
    assert_ne!(requests[0].conversation_id, requests[1].conversation_id);
    // The key was in the attached document: its finding is on the published event (the
    // tables keep the document's metadata, never its text).
    let codec = Codec::pinned().expect("codec");
    let mut published = vec![];
    for raw in raw_events(&env, rows.len()).await {
        published.push(codec.decode::<LlmEvent>(&raw).await.expect("event"));
    }
    let event = published
        .iter()
        .find(|e| e.event_id == requests[3].event_id)
        .expect("the request was published");
    assert!(
        event
            .findings
            .iter()
            .any(|f| f.rule_id == "aws-access-key-id"),
        "{:?}",
        event.findings
    );

    let responses: Vec<&CallRow> = rows.iter().filter(|r| r.kind == "RESPONSE").collect();
    // 25 input tokens at $3/Mtok + 11 output tokens at $15/Mtok = 75 + 165 micro-dollars.
    assert_eq!(responses[0].cost_usd_micros, Some(240));
    assert_eq!(responses[0].conversation_id, requests[0].conversation_id);
    assert_eq!(responses[3].status, "BLOCKED");
    shim_task.stop().await.expect("shim");
    sink.stop().await.expect("sink");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_are_identified_by_api_key_and_unknown_callers_rejected() {
    use sightline_shim::identity::{key_hash, KeyOwner, Unknown};
    let (env, upstream, shim, shim_task) = shim_with(1, |config| {
        config.identity.unknown = Unknown::Reject;
        config.identity.api_keys.insert(
            key_hash("sk-ant-api03-ada-team-key"),
            KeyOwner {
                user: "ada".into(),
                team: Some("platform".into()),
                tenant: Some("acme".into()),
                ..KeyOwner::default()
            },
        );
    })
    .await;
    let sink = start_sink(sink_config(&env, &unique("sink")));
    let body = serde_json::json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});

    let ok = client()
        .post(format!("{shim}/v1/messages"))
        .header("x-api-key", "sk-ant-api03-ada-team-key")
        .json(&body)
        .send()
        .await
        .expect("call");
    assert_eq!(ok.status(), 200);
    assert_eq!(
        upstream.requests()[0].headers["x-api-key"],
        "sk-ant-api03-ada-team-key",
        "the caller's key is passed through"
    );

    let rejected = client()
        .post(format!("{shim}/v1/messages"))
        .header("x-api-key", "sk-unknown")
        .json(&body)
        .send()
        .await
        .expect("call");
    assert_eq!(rejected.status(), 401);
    let err: serde_json::Value = rejected.json().await.expect("json");
    assert_eq!(err["error"]["type"], "authentication_error");
    assert_eq!(
        upstream.requests().len(),
        1,
        "rejected calls never reach upstream"
    );

    let rows = rows_when(&env, 2).await;
    assert!(
        rows.iter().all(|r| r.user_id == "ada"
            && r.team_id.as_deref() == Some("platform")
            && r.tenant_id == "acme"),
        "{rows:?}"
    );

    let metrics = client()
        .get(format!("{shim}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("sightline_shim_calls_total{provider=\"ANTHROPIC\",status=\"OK\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sightline_shim_rejected_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sightline_shim_upstream_latency_seconds_count 1"),
        "{metrics}"
    );
    let ready = client()
        .get(format!("{shim}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    shim_task.stop().await.expect("shim");
    sink.stop().await.expect("sink");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_endpoints_pass_through_and_upstream_auth_can_be_replaced() {
    std::env::set_var("SIGHTLINE_TEST_CENTRAL_ANTHROPIC_KEY", "sk-ant-central");
    let (_env, upstream, shim, shim_task) = shim_with(1, |config| {
        config.upstream.anthropic_api_key_env = Some("SIGHTLINE_TEST_CENTRAL_ANTHROPIC_KEY".into());
    })
    .await;

    let models = client()
        .get(format!("{shim}/v1/models?limit=2"))
        .header("anthropic-version", "2023-06-01")
        .header("x-api-key", "sk-ant-personal")
        .send()
        .await
        .expect("models");
    assert_eq!(models.status(), 200);
    let list: serde_json::Value = models.json().await.expect("json");
    assert_eq!(list["data"][0]["id"], "claude-sonnet-4");

    let counted = client()
        .post(format!("{shim}/v1/messages/count_tokens"))
        .header("x-api-key", "sk-ant-personal")
        .json(&serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "count me"}]}))
        .send()
        .await
        .expect("count");
    assert_eq!(
        counted.json::<serde_json::Value>().await.expect("json")["input_tokens"],
        42
    );

    let blocked = client()
        .post(format!("{shim}/v1/messages/count_tokens"))
        .json(&serde_json::json!({"model": "m", "messages": [{"role": "user", "content": format!("key {AWS_KEY_ID}")}]}))
        .send()
        .await
        .expect("count");
    assert_eq!(
        blocked.status(),
        400,
        "a secret is not even counted upstream"
    );

    let seen = upstream.requests();
    assert_eq!(
        seen.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        ["/v1/models", "/v1/messages/count_tokens"]
    );
    assert!(
        seen.iter()
            .all(|r| r.headers["x-api-key"] == "sk-ant-central"),
        "the configured key replaces the caller's"
    );
    shim_task.stop().await.expect("shim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdks_work_through_the_shim() {
    use sightline_shim::identity::{key_hash, KeyOwner, Unknown};
    // The SDKs authenticate with their own API keys (x-api-key, Authorization: Bearer), as
    // in a deployment; anyone else is refused.
    let (_env, _upstream, shim, shim_task) = shim_with(1, |config| {
        config.identity.unknown = Unknown::Reject;
        for key in ["sk-ant-sdk-test", "sk-openai-sdk-test"] {
            config.identity.api_keys.insert(
                key_hash(key),
                KeyOwner {
                    user: "sdk-user".into(),
                    team: None,
                    tenant: None,
                    ..KeyOwner::default()
                },
            );
        }
    })
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/official_sdks.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = tokio::process::Command::new(&python)
        .arg(script)
        .arg(&shim)
        .output()
        .await
        .expect("run python");
    assert!(
        out.status.success(),
        "SDK script failed (pip install anthropic openai): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["anthropic"]["text"], ANSWER);
    assert_eq!(
        (
            r["anthropic"]["input"].as_i64(),
            r["anthropic"]["output"].as_i64()
        ),
        (Some(ANTHROPIC_USAGE.0), Some(ANTHROPIC_USAGE.1))
    );
    assert_eq!(r["anthropic_stream"]["text"], ANSWER);
    assert_eq!(
        r["anthropic_stream"]["output"].as_i64(),
        Some(ANTHROPIC_USAGE.1)
    );
    assert_eq!(r["anthropic_stream"]["stop"], "end_turn");
    assert_eq!(r["openai"]["text"], ANSWER);
    assert_eq!(r["openai"]["output"].as_i64(), Some(OPENAI_USAGE.1));
    assert_eq!(r["openai_stream"]["text"], ANSWER);
    assert_eq!(r["openai_stream"]["output"].as_i64(), Some(OPENAI_USAGE.1));
    // `n` = 2, whole and streamed (where the two choices' chunks interleave).
    let two = serde_json::json!([choice_answer(ANSWER, 0), choice_answer(ANSWER, 1)]);
    assert_eq!(r["openai_n2"]["texts"], two);
    assert_eq!(r["openai_n2_stream"]["texts"], two);
    assert_eq!(r["openai_models"]["ids"][1], "gpt-4o");
    assert_eq!(r["responses"]["text"], ANSWER);
    assert_eq!(
        (
            r["responses"]["input"].as_i64(),
            r["responses"]["output"].as_i64()
        ),
        (Some(OPENAI_USAGE.0), Some(OPENAI_USAGE.1))
    );
    assert_eq!(r["responses_stream"]["text"], ANSWER);
    assert_eq!(r["responses_stream"]["final"], ANSWER);
    assert_eq!(
        r["responses_stream"]["output"].as_i64(),
        Some(OPENAI_USAGE.1)
    );
    for blocked in ["responses_blocked", "responses_blocked_stream"] {
        let text = r[blocked]["text"].as_str().unwrap_or_default();
        // Failure messages never print the reply: it might hold the key.
        assert!(
            !text.contains("AKIAQYLPMN5HHHFPZAM2"),
            "{blocked}: the reply echoes the key"
        );
        assert!(
            text.starts_with("Sightline blocked this request"),
            "{blocked}: no explanation"
        );
    }
    for key in [
        "anthropic_blocked",
        "anthropic_blocked_stream",
        "openai_blocked",
    ] {
        let text = r[key]["text"].as_str().expect("text");
        assert!(
            text.starts_with("Sightline blocked this request"),
            "{key}: {text}"
        );
        assert!(!text.contains(AWS_KEY_ID));
    }
    assert_eq!(r["anthropic_429"]["error"], "RateLimitError");
    assert_eq!(r["anthropic_models"]["ids"][0], "claude-sonnet-4");
    shim_task.stop().await.expect("shim");
}

/// A private tansu broker (in-memory storage), which a test may kill and restart.
struct OwnBroker {
    dir: std::path::PathBuf,
    port: u16,
    child: Option<std::process::Child>,
}

impl OwnBroker {
    fn start(dir: std::path::PathBuf, port: u16) -> Self {
        let mut b = Self {
            dir,
            port,
            child: None,
        };
        b.spawn();
        b
    }

    fn spawn(&mut self) {
        let tansu = [
            "tansu".to_string(),
            format!(
                "{}/.cargo/bin/tansu",
                std::env::var("HOME").unwrap_or_default()
            ),
        ]
        .into_iter()
        .find(|t| {
            std::process::Command::new(t)
                .arg("--version")
                .output()
                .is_ok()
        })
        .expect("tansu is installed (cargo xtask services up installs it)");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        std::fs::create_dir_all(&self.dir).expect("dir");
        let log = std::fs::File::create(self.dir.join("tansu.log")).expect("log");
        let child = std::process::Command::new(tansu)
            .args([
                "broker",
                "--storage-engine",
                "memory://tansu/",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .current_dir(&self.dir)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "own tansu did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn metric(shim: &str, name: &str) -> u64 {
    let text = client()
        .get(format!("{shim}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_spool_is_replayed_in_order_exactly_once() {
    use sightline_shim::spool::{Kind, Record, Spool};
    const SPOOLED: usize = 3000;
    let env = TestEnv::new(1).await.expect("env");
    let upstream = FakeUpstream::start().await.expect("upstream");
    let config = shim_config(&env, &upstream.url);
    let topic = env.topic(Topic::Events);
    let codec = Codec::pinned().expect("codec");
    // What a shim stopped during an outage leaves behind: events already encoded, and events
    // spilled as JSON from a full queue.
    {
        let spool = Spool::open(
            &config.shim.spool_dir,
            config.shim.spool_max_bytes,
            Default::default(),
        )
        .expect("spool");
        for i in 0..SPOOLED {
            let mut event =
                LlmEvent::request("acme", "ada", Provider::Anthropic, "POST /v1/messages");
            event.model = Some(format!("m-{i}"));
            let (kind, data) = if i % 2 == 0 {
                (
                    Kind::Wire,
                    codec.encode(&topic, &event).await.expect("encode"),
                )
            } else {
                (Kind::Json, serde_json::to_vec(&event).expect("json"))
            };
            let key = event.kafka_key().into_bytes();
            spool.append(&Record { kind, key, data }).expect("append");
        }
    }
    let started = std::time::Instant::now();
    let (shim, shim_task) = start_shim(config).await;
    // Not a throughput floor: the rate is printed below. A starved machine gets three minutes.
    eventually("the spool replayed", 3 * WAIT, || async {
        (metric(&shim, "sightline_shim_spool_bytes").await == 0
            && metric(&shim, "sightline_shim_events_delivered_total").await >= SPOOLED as u64)
            .then_some(())
    })
    .await;
    let elapsed = started.elapsed();
    eprintln!(
        "replayed {SPOOLED} spooled events in {elapsed:.2?} ({:.0} a second)",
        SPOOLED as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(metric(&shim, "sightline_shim_events_lost_total").await, 0);

    let mut models = vec![];
    for raw in raw_events(&env, SPOOLED).await {
        let event: LlmEvent = codec.decode(&raw).await.expect("event");
        models.push(event.model.unwrap_or_default());
    }
    let expected: Vec<String> = (0..SPOOLED).map(|i| format!("m-{i}")).collect();
    assert!(models == expected, "replayed out of order or with gaps");
    let total = count_records(&env, Topic::Events, SPOOLED, Duration::from_secs(3)).await;
    assert_eq!(total, SPOOLED, "exactly once: no record sent twice");
    shim_task.stop().await.expect("shim");
}

/// How many records one of the test's topics holds: read by a new group, waiting up to
/// [`WAIT`] for each of the first `expected` (joining a group takes a while on a busy machine),
/// then until none has come for `quiet`, to catch any extra. A slow machine can only make an
/// extra record arrive late, never make the count fall short.
async fn count_records(env: &TestEnv, topic: Topic, expected: usize, quiet: Duration) -> usize {
    let consumer = reader(env, topic);
    let mut n = 0;
    loop {
        let wait = if n < expected { WAIT } else { quiet };
        match tokio::time::timeout(wait, consumer.recv()).await {
            Ok(msg) => {
                msg.expect("recv");
                n += 1;
            }
            Err(_) => return n,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_broker_outage_through_the_spool_exactly_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut broker = OwnBroker::start(std::env::temp_dir().join(unique("tansu")), port);
    let mut env = TestEnv::new(1).await.expect("env");
    env.kafka.brokers = format!("127.0.0.1:{port}");
    sightline_kafka::topics::apply(&env.kafka, &env.topics)
        .await
        .expect("topics on the private broker");
    let upstream = FakeUpstream::start().await.expect("upstream");
    let mut config = shim_config(&env, &upstream.url);
    // Long enough that a produce request slowed by a busy machine is not given up on (and
    // spooled, then sent again) after the broker stored it.
    config.kafka.delivery_timeout = Duration::from_secs(15);
    let (shim, shim_task) = start_shim(config).await;
    let call = |i: usize| {
        let shim = shim.clone();
        async move {
            let body = serde_json::json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": format!("question {i}")}]});
            let resp = client()
                .post(format!("{shim}/v1/messages"))
                .json(&body)
                .send()
                .await
                .expect("call");
            assert_eq!(
                resp.status(),
                200,
                "calls are served throughout (fail-open)"
            );
        }
    };
    for i in 0..5 {
        call(i).await;
    }
    eventually("10 events delivered", WAIT, || async {
        (metric(&shim, "sightline_shim_events_delivered_total").await >= 10).then_some(())
    })
    .await;
    // What reached the broker before the outage (in-memory storage: read it before the kill).
    let codec = Codec::pinned().expect("codec");
    let mut ids = std::collections::BTreeMap::new();
    let mut calls = std::collections::BTreeMap::new();
    for raw in raw_events(&env, 10).await {
        let event: LlmEvent = codec.decode(&raw).await.expect("event");
        *ids.entry(event.event_id).or_insert(0) += 1;
        *calls.entry(event.call_id).or_insert(0) += 1;
    }

    broker.kill();
    for i in 5..10 {
        call(i).await;
    }
    eventually("events spooled while the broker is down", WAIT, || async {
        (metric(&shim, "sightline_shim_spool_bytes").await > 0).then_some(())
    })
    .await;

    broker.spawn();
    sightline_kafka::topics::apply(&env.kafka, &env.topics)
        .await
        .expect("topics on the restarted broker");
    eventually("the spool replayed", Duration::from_secs(90), || async {
        (metric(&shim, "sightline_shim_spool_bytes").await == 0
            && metric(&shim, "sightline_shim_events_delivered_total").await >= 20)
            .then_some(())
    })
    .await;
    assert_eq!(metric(&shim, "sightline_shim_events_lost_total").await, 0);

    for raw in raw_events(&env, 10).await {
        let event: LlmEvent = codec.decode(&raw).await.expect("event");
        *ids.entry(event.event_id).or_insert(0) += 1;
        *calls.entry(event.call_id).or_insert(0) += 1;
    }
    assert_eq!(
        ids.len(),
        20,
        "every event arrived, before the outage or through the spool"
    );
    assert!(ids.values().all(|n| *n == 1), "exactly once: {ids:?}");
    assert_eq!(calls.len(), 10);
    assert!(
        calls.values().all(|n| *n == 2),
        "REQUEST and RESPONSE of every call"
    );
    shim_task.stop().await.expect("shim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstreams_time_out_and_client_disconnects_cancel_upstream() {
    // A shim with a short upstream timeout for the first case only; a busy machine can only
    // make its timer fire later, and upstream takes far longer than that to answer.
    let (env, upstream, hasty, hasty_task) = shim_with(1, |config| {
        config.shim.upstream_timeout = Duration::from_millis(300);
    })
    .await;
    let sink = start_sink(sink_config(&env, &unique("sink")));

    // No response headers within shim.upstream_timeout: 504 with a clear body.
    upstream.set_delay(Duration::from_secs(5));
    let resp = client()
        .post(format!("{hasty}/v1/chat/completions"))
        .json(&serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "slow"}]}))
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), 504);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["type"], "upstream_timeout");
    assert!(body["error"]["message"]
        .as_str()
        .expect("message")
        .contains("shim.upstream_timeout"));
    upstream.set_delay(Duration::ZERO);
    hasty_task.stop().await.expect("shim");

    // The rest on a shim with the default timeout, on the same topics.
    let (shim, shim_task) = start_shim(shim_config(&env, &upstream.url)).await;

    // The client reads the first event of a stream and hangs up: upstream's stream is dropped.
    let gate = upstream.hold_streams();
    let mut resp = client()
        .post(format!("{shim}/v1/messages"))
        .json(&serde_json::json!({"model": "m", "max_tokens": 8, "stream": true, "messages": [{"role": "user", "content": "go"}]}))
        .send()
        .await
        .expect("stream");
    let first = resp.chunk().await.expect("chunk").expect("first event");
    assert!(String::from_utf8_lossy(&first).contains("message_start"));
    drop(resp);
    eventually("upstream stream cancelled", WAIT, || async {
        (upstream.cancelled_streams() == 1).then_some(())
    })
    .await;
    gate.add_permits(10);

    // The client gives up once upstream has the call and before it answers: the call is
    // recorded as failed. Giving up follows an event (upstream has the request), not a timer.
    upstream.set_delay(Duration::from_secs(10));
    let send = client()
        .post(format!("{shim}/v1/messages"))
        .json(&serde_json::json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "never mind"}]}))
        .send();
    let waiting = tokio::spawn(send);
    eventually("upstream has the call", WAIT, || async {
        (upstream.requests().len() == 3).then_some(())
    })
    .await;
    waiting.abort();
    assert!(waiting.await.is_err(), "the client should have given up");
    upstream.set_delay(Duration::ZERO);

    let rows = rows_when(&env, 6).await;
    let failed: Vec<(&str, Option<&str>)> = rows
        .iter()
        .filter(|r| r.kind == "RESPONSE")
        .map(|r| (r.status.as_str(), r.error.as_deref()))
        .collect();
    assert_eq!(failed[0].0, "FAILED");
    assert!(failed[0]
        .1
        .is_some_and(|e| e.contains("shim.upstream_timeout")));
    assert_eq!(
        failed[1],
        (
            "FAILED",
            Some("client disconnected before the response ended")
        )
    );
    assert_eq!(
        failed[2],
        (
            "FAILED",
            Some("client disconnected before upstream answered")
        )
    );
    shim_task.stop().await.expect("shim");
    sink.stop().await.expect("sink");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_streams_and_publishes_them() {
    let (env, upstream, shim, shim_task) = shim_with(1, |_| {}).await;
    let gate = upstream.hold_streams();
    let mut resp = client()
        .post(format!("{shim}/v1/messages"))
        .json(&serde_json::json!({"model": "m", "max_tokens": 8, "stream": true, "messages": [{"role": "user", "content": "long answer"}]}))
        .send()
        .await
        .expect("stream");
    let mut text = String::from_utf8(resp.chunk().await.expect("chunk").expect("first").to_vec())
        .expect("utf8");

    // SIGTERM arrives mid-stream; the stream still finishes, then the shim stops.
    shim_task.shutdown.trigger();
    gate.add_permits(1);
    while let Some(c) = resp.chunk().await.expect("chunk") {
        text.push_str(std::str::from_utf8(&c).expect("utf8"));
    }
    assert!(
        text.ends_with("data: {\"type\":\"message_stop\"}\n\n"),
        "{text}"
    );
    tokio::time::timeout(WAIT, shim_task.task)
        .await
        .expect("stops")
        .expect("join")
        .expect("clean");

    let sink = start_sink(sink_config(&env, &unique("sink")));
    let rows = rows_when(&env, 2).await;
    assert_eq!(
        rows[1].status, "OK",
        "the drained call was published before exit"
    );
    sink.stop().await.expect("sink");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_malformed_bodies_and_fail_closed() {
    let (env, upstream, shim, shim_task) = shim_with(1, |config| {
        config.shim.max_body_bytes = 1024;
    })
    .await;

    let big = client()
        .post(format!("{shim}/v1/messages"))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"model\":\"m\",\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}",
            "x".repeat(4096)
        ))
        .send()
        .await
        .expect("call");
    assert_eq!(big.status(), 413);
    let err: serde_json::Value = big.json().await.expect("json");
    assert!(err["error"]["message"]
        .as_str()
        .expect("message")
        .contains("shim.max_body_bytes"));

    // What the policy cannot read never reaches the model: a body that is not JSON, or that
    // hides text behind an escape the parser refuses, is refused with the reason.
    for raw in [
        "{this is not json",
        r#"{"model":"m","messages":[{"role":"user","content":"\ud800 AKIA\u0051YLPMN5HHHFPZAM2"}]}"#,
        "[1, 2]",
    ] {
        let resp = client()
            .post(format!("{shim}/v1/messages"))
            .body(raw)
            .send()
            .await
            .expect("call");
        assert_eq!(resp.status(), 400, "{raw}");
        let err: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(err["error"]["type"], "invalid_request_error");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("request body")),
            "{err}"
        );
    }
    assert!(upstream.requests().is_empty());
    shim_task.stop().await.expect("shim");

    // Fail closed: once events cannot reach Kafka, calls are refused.
    let mut config = shim_config(&env, &upstream.url);
    config.kafka.brokers = "127.0.0.1:9".into();
    config.kafka.delivery_timeout = Duration::from_secs(1);
    config.shim.fail_closed = true;
    config.shim.shutdown_grace = Duration::from_secs(3);
    let (shim, shim_task) = start_shim(config).await;
    let body = serde_json::json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    let first = client()
        .post(format!("{shim}/v1/messages"))
        .json(&body)
        .send()
        .await
        .expect("call");
    assert_eq!(first.status(), 200, "not degraded yet");
    let refused = eventually("fail-closed refusal", WAIT, || async {
        let r = client()
            .post(format!("{shim}/v1/messages"))
            .json(&body)
            .send()
            .await
            .expect("call");
        (r.status() == 503).then_some(r)
    })
    .await;
    let err: serde_json::Value = refused.json().await.expect("json");
    assert!(err["error"]["message"]
        .as_str()
        .expect("message")
        .contains("fails closed"));
    let _ = shim_task.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_topic_is_not_mistaken_for_a_replay() {
    let env = TestEnv::new(1).await.expect("env");
    // ClickHouse holds offsets 0..=10 of an earlier incarnation of the topic.
    env.clickhouse
        .client()
        .query(&format!(
            "INSERT INTO llm_messages (event_id, call_id, kind, position, role, text, tenant_id, user_id, \
             conversation_id, ts_ms, _topic, _partition, _offset) \
             SELECT concat('old-', toString(number)), 'c', 'REQUEST', 0, 'user', 'old', 'acme', 'old', '', \
             1700000000000, '{}', 0, toInt64(number) FROM system.numbers LIMIT 11",
            env.topic(Topic::Events)
        ))
        .execute()
        .await
        .expect("old rows");
    let producer = Producer::new(&env.kafka).expect("producer");
    let codec = Codec::pinned().expect("codec");
    let fresh: Vec<LlmEvent> = (0..3).map(|i| event("new", &format!("n{i}"))).collect();
    for e in &fresh {
        produce(&env, &producer, &codec, e).await;
    }
    let sink = start_sink(sink_config(&env, &unique("sink")));
    let rows = rows_when(&env, 14).await;
    for e in &fresh {
        assert!(
            rows.iter().any(|r| r.event_id == e.event_id),
            "{} was skipped as if already written",
            e.event_id
        );
    }
    let stats = sink.stop().await.expect("sink");
    assert_eq!((stats.inserted, stats.skipped), (3, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_sink_resumes_its_group_on_every_partition() {
    let env = TestEnv::new(4).await.expect("env");
    let producer = Producer::new(&env.kafka).expect("producer");
    let codec = Codec::pinned().expect("codec");
    let group = unique("sink");
    let mut partitions = std::collections::BTreeSet::new();
    for i in 0..12 {
        let (p, _) = produce(&env, &producer, &codec, &event(&format!("u{i}"), "first")).await;
        partitions.insert(p);
    }
    assert!(
        partitions.len() > 1,
        "keys spread over partitions: {partitions:?}"
    );
    let first = start_sink(sink_config(&env, &group));
    rows_when(&env, 12).await;
    first.stop().await.expect("first sink");

    // The same group again, as after a deploy: it resumes from its committed offsets on
    // every partition. (It once committed one past the next record and lost the first new
    // record of every partition.)
    for i in 0..12 {
        produce(&env, &producer, &codec, &event(&format!("u{i}"), "second")).await;
    }
    let second = start_sink(sink_config(&env, &group));
    let rows = rows_when(&env, 24).await;
    let stats = second.stop().await.expect("second sink");
    assert_eq!(rows.len(), 24, "each event exactly once");
    assert_eq!(stats.inserted, 12, "only the new records: {stats:?}");
}
