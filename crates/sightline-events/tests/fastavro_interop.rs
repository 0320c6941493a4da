//! Another Avro implementation (Python `fastavro`) decodes what this crate encodes.
//! `cargo xtask test` installs fastavro; run `pip install fastavro` to run this alone.

use std::process::Command;

use sightline_events::{
    Attachment, CallStatus, Codec, EventKind, InlineFinding, LlmEvent, Message, Provider, Sampling,
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
            location: Some("/system".into()),
            example: true,
            tier: Some("INFO".into()),
        }],
        user_agent: None,
        content_hash: Some("c".repeat(64)),
        capability: Some("openai-sdk".into()),
        workspace_id: None,
        api_key_id: Some("key-0123456789abcdef".into()),
        sampling: Some(Sampling {
            temperature: Some(0.25),
            n: Some(2),
            ..Sampling::default()
        }),
        stop_reason: Some("stop".into()),
        request_bytes: Some(100),
        response_bytes: None,
        logical_id: None,
        resample_role: None,
        resample_index: None,
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
    assert_eq!(decoded["schema_id"], 4);
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
    assert_eq!(r["findings"][0]["location"], "/system");
    assert_eq!(r["findings"][0]["example"], true);
    assert_eq!(r["content_hash"], "c".repeat(64));
    assert_eq!(r["sampling"]["n"], 2);
    assert_eq!(r["sampling"]["temperature"], 0.25);
    assert_eq!(r["stop_reason"], "stop");
}

/// A record written before the schema grew (id 1, made with fastavro from
/// `schemas/history/llm_event.v1.id1.avsc`) decodes with this build's reader; the new fields
/// take their defaults.
#[tokio::test]
async fn records_written_with_the_first_schema_still_decode() {
    let old = include_bytes!("data/llm_event.id1.bin");
    assert_eq!(&old[..5], &[0, 0, 0, 0, 1], "written with schema id 1");
    let event: LlmEvent = Codec::pinned()
        .expect("codec")
        .decode(old)
        .await
        .expect("an old record decodes");
    assert_eq!(event.user_id, "ada");
    assert_eq!(event.messages[0].text, "written before the schema grew");
    assert_eq!(event.user_agent.as_deref(), Some("curl/8"));
    assert_eq!(event.findings[0].rule_id, "email-address");
    assert_eq!(event.findings[0].location, None);
    assert!(!event.findings[0].example);
    assert_eq!(
        (
            event.content_hash,
            event.capability,
            event.sampling,
            event.stop_reason
        ),
        (None, None, None, None)
    );
}
