//! Another Avro implementation (Python `fastavro`) decodes what this crate encodes.
//! `cargo xtask test` installs fastavro; run `pip install fastavro` to run this alone.

use std::process::Command;

use sightline_events::{
    Attachment, CallStatus, Codec, EventKind, InlineFinding, LlmEvent, Message, Provider,
    TokenUsage,
};

#[tokio::test]
async fn fastavro_reads_rust_encoded_events() {
    let event = LlmEvent {
        event_id: LlmEvent::new_id(),
        call_id: LlmEvent::new_id(),
        kind: EventKind::Response,
        occurred_at_ms: 1_763_000_000_999,
        tenant_id: "acme".into(),
        user_id: "grace".into(),
        team_id: Some("infra".into()),
        conversation_id: None,
        provider: Provider::Anthropic,
        model: Some("claude".into()),
        endpoint: "POST /v1/messages".into(),
        streaming: true,
        messages: vec![Message {
            role: "assistant".into(),
            text: "naïve ☃".into(),
        }],
        attachments: vec![Attachment {
            kind: "image".into(),
            media_type: Some("image/png".into()),
            source: "base64".into(),
            size_bytes: Some(10),
            sha256: None,
            width: Some(1),
            height: None,
        }],
        usage: Some(TokenUsage {
            input_tokens: 7,
            output_tokens: 9,
            cache_read_tokens: None,
            cache_write_tokens: None,
        }),
        cost_usd_micros: None,
        latency_ms: Some(123),
        ttft_ms: Some(4),
        status: CallStatus::Ok,
        http_status: Some(200),
        error: None,
        findings: vec![InlineFinding {
            rule_id: "r".into(),
            category: "secret".into(),
            start: 0,
            end: 4,
            confidence: 0.5,
            fingerprint: "ab".into(),
        }],
        user_agent: None,
    };
    let bytes = Codec::pinned()
        .expect("codec")
        .encode("t", &event)
        .await
        .expect("encode");
    let dir = std::env::temp_dir().join(format!("sightline-fastavro-{}", LlmEvent::new_id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let record = dir.join("record.bin");
    std::fs::write(&record, &bytes).expect("write");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/decode_with_fastavro.py");
    let schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schemas/llm_event.v1.avsc"
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args([script, schema])
        .arg(&record)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        out.status.success(),
        "fastavro failed (is it installed? `pip install fastavro`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoded: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json from python");
    assert_eq!(decoded["schema_id"], 1);
    let r = &decoded["record"];
    assert_eq!(r["event_id"], event.event_id);
    assert_eq!(r["kind"], "RESPONSE");
    assert_eq!(r["provider"], "ANTHROPIC");
    assert_eq!(r["status"], "OK");
    assert_eq!(r["team_id"], "infra");
    assert_eq!(r["conversation_id"], serde_json::Value::Null);
    assert_eq!(r["messages"][0]["text"], "naïve ☃");
    assert_eq!(r["attachments"][0]["width"], 1);
    assert_eq!(r["usage"]["output_tokens"], 9);
    assert_eq!(r["latency_ms"], 123);
    assert_eq!(r["occurred_at_ms"], 1_763_000_000_999i64);
    assert_eq!(r["findings"][0]["end"], 4);
}
